package testenv

import (
	"bytes"
	"encoding/json"
	"fmt"
	"html"
	"reflect"
	"regexp"
	"sort"
	"strings"
	"time"
)

// Fill sets every field of *v, at any depth, to a value no other field
// has: strings to markers ("v0001z"), integers to 70001 and up, floats
// likewise, booleans to true, times a second apart, pointers to a filled
// value, slices to two filled elements, maps to two filled keys ("k0001z");
// a map of any (a finding's evidence) gets a string, a number and a list.
// A page that must show every field of a document is tested with it: a
// field added to the type later gets a value of its own that the page must
// show, or the test fails.
func Fill(v any) {
	n := 0
	fill(reflect.ValueOf(v).Elem(), &n)
}

var timeType = reflect.TypeOf(time.Time{})

func fill(v reflect.Value, n *int) {
	next := func() int { *n++; return *n }
	switch {
	case v.Type() == timeType:
		v.Set(reflect.ValueOf(time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC).Add(time.Duration(next()) * time.Second)))
		return
	case !v.CanSet():
		return
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(fmt.Sprintf("v%04dz", next()))
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		if v.Type().PkgPath() == "time" || strings.HasSuffix(v.Type().Name(), "Duration") {
			v.SetInt(int64(time.Duration(1000+next()) * time.Minute)) // a duration as Go writes it, from 16h41m0s: none is part of another
			return
		}
		v.SetInt(int64(70000 + next()))
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		v.SetUint(uint64(70000 + next()))
	case reflect.Float32, reflect.Float64:
		v.SetFloat(float64(70000 + next()))
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Pointer:
		p := reflect.New(v.Type().Elem())
		fill(p.Elem(), n)
		v.Set(p)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			fill(v.Field(i), n)
		}
	case reflect.Slice:
		s := reflect.MakeSlice(v.Type(), 2, 2)
		for i := 0; i < 2; i++ {
			fill(s.Index(i), n)
		}
		v.Set(s)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		if v.Type().Elem().Kind() == reflect.Interface {
			m.SetMapIndex(reflect.ValueOf(fmt.Sprintf("k%04dz", next())), reflect.ValueOf(fmt.Sprintf("v%04dz", next())))
			m.SetMapIndex(reflect.ValueOf(fmt.Sprintf("k%04dz", next())), reflect.ValueOf(float64(70000+next())))
			m.SetMapIndex(reflect.ValueOf(fmt.Sprintf("k%04dz", next())), reflect.ValueOf([]any{fmt.Sprintf("v%04dz", next())}))
		} else {
			for i := 0; i < 2; i++ {
				k := reflect.New(v.Type().Key()).Elem()
				if k.Kind() == reflect.String {
					k.SetString(fmt.Sprintf("k%04dz", next()))
				} else {
					fill(k, n)
				}
				e := reflect.New(v.Type().Elem()).Elem()
				fill(e, n)
				m.SetMapIndex(k, e)
			}
		}
		v.Set(m)
	case reflect.Interface:
		v.Set(reflect.ValueOf(fmt.Sprintf("v%04dz", next())))
	}
}

var marker = regexp.MustCompile(`^k\d{4}z$`)

// PageMissing walks a JSON document generically and returns the path of
// every value the page does not show: each string (a time as the pages
// write it, RFC 3339 to the second), each number, each map key Fill made
// (k0001z). The page is read as text, its character references decoded.
// Booleans are not looked for (a page shows them as words of its own):
// PageFlips tests them.
func PageMissing(doc []byte, page string) ([]string, error) {
	dec := json.NewDecoder(bytes.NewReader(doc))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, fmt.Errorf("decoding the document: %w", err)
	}
	text := html.UnescapeString(page)
	var missing []string
	var walk func(path string, v any)
	walk = func(path string, v any) {
		switch x := v.(type) {
		case map[string]any:
			keys := make([]string, 0, len(x))
			for k := range x {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for _, k := range keys {
				if marker.MatchString(k) && !strings.Contains(text, k) {
					missing = append(missing, path+"."+k+" (the key)")
				}
				walk(path+"."+k, x[k])
			}
		case []any:
			for i, e := range x {
				walk(fmt.Sprintf("%s[%d]", path, i), e)
			}
		case string:
			want := x
			if t, err := time.Parse(time.RFC3339Nano, x); err == nil {
				want = t.UTC().Format(time.RFC3339)
			}
			if want != "" && !strings.Contains(text, want) {
				missing = append(missing, fmt.Sprintf("%s = %q", path, x))
			}
		case json.Number:
			if !strings.Contains(text, x.String()) {
				missing = append(missing, fmt.Sprintf("%s = %s", path, x))
			}
		}
	}
	walk("", v)
	return missing, nil
}

// BoolPaths lists the paths of the booleans of a JSON document that are
// true, as SetPath takes them.
func BoolPaths(doc []byte) ([][]any, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	var out [][]any
	var walk func(path []any, v any)
	walk = func(path []any, v any) {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				walk(append(append([]any(nil), path...), k), e)
			}
		case []any:
			for i, e := range x {
				walk(append(append([]any(nil), path...), i), e)
			}
		case bool:
			if x {
				out = append(out, path)
			}
		}
	}
	walk(nil, v)
	return out, nil
}

// SetPath returns doc with the value at path (object keys and array
// indexes) replaced by val.
func SetPath(doc []byte, path []any, val any) ([]byte, error) {
	var v any
	if err := json.Unmarshal(doc, &v); err != nil {
		return nil, err
	}
	cur := v
	for i, p := range path {
		last := i == len(path)-1
		switch k := p.(type) {
		case string:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, fmt.Errorf("path %v: no object at %d", path, i)
			}
			if last {
				m[k] = val
			}
			cur = m[k]
		case int:
			a, ok := cur.([]any)
			if !ok || k >= len(a) {
				return nil, fmt.Errorf("path %v: no array element at %d", path, i)
			}
			if last {
				a[k] = val
			}
			cur = a[k]
		}
	}
	return json.Marshal(v)
}
