// Package createoptions reads a module's createOptions as the IoT Edge
// runtime uses them: edgeAgent decodes the text into the Docker Engine API's
// container-create body (Docker.DotNet's CreateContainerParameters, with
// Newtonsoft.Json: keys match case-insensitively, a number written as a
// string is read as the number, a key the API does not know is dropped
// without a word) and the engine creates the container from it.
//
// Parse does the same with the Docker Engine API's Go types, and reports
// what the runtime would drop or refuse: keys the API does not know at
// their level, and values of a type the field cannot take.
package createoptions

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/docker/docker/api/types/container"
)

// Problem is something in createOptions that the runtime does not use as written.
type Problem struct {
	// Path names the key: "HostConfir", "HostConfig.LogConfig.Typ",
	// "HostConfig.Memory".
	Path string
	// Unknown is true for a key the Docker Engine API does not know at that
	// level (the runtime drops it); false for a value of the wrong type (the
	// runtime refuses the createOptions).
	Unknown bool
	// Detail says what is wrong, without the value (createOptions may hold
	// secrets in Env): "not a key of HostConfig; did you mean HostConfig?",
	// "a string that is not a number".
	Detail string
}

func (p Problem) String() string { return p.Path + ": " + p.Detail }

// ErrNotObject is returned for createOptions that are JSON but not an object.
var ErrNotObject = errors.New("createOptions is not a JSON object")

// Parse reads createOptions text. Empty text, only spaces, or null mean no
// options (an empty request), as edgeAgent reads them. The error says why
// the text is not a JSON object; problems list what the runtime drops or
// refuses; the request holds what it keeps, with scalars coerced as
// Newtonsoft coerces them.
func Parse(text string) (*container.CreateRequest, []Problem, error) {
	req := &container.CreateRequest{Config: &container.Config{}}
	t := strings.TrimSpace(text)
	if t == "" || strings.EqualFold(t, "null") {
		return req, nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(t))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, nil, fmt.Errorf("createOptions is not valid JSON: %w", jsonError(t, err))
	}
	if rest := strings.TrimSpace(t[dec.InputOffset():]); rest != "" {
		line, col := Position([]byte(t), int(dec.InputOffset()))
		return nil, nil, fmt.Errorf("createOptions is not valid JSON: text after the value (line %d, column %d)", line, col)
	}
	obj, ok := v.(map[string]any)
	if !ok {
		return nil, nil, fmt.Errorf("%w (it is %s)", ErrNotObject, jsonType(v))
	}
	w := walker{}
	kept := w.object(obj, createType, "")
	b, err := json.Marshal(kept)
	if err != nil {
		return nil, w.problems, fmt.Errorf("createOptions: %w", err)
	}
	if err := json.Unmarshal(b, req); err != nil {
		// The walker keeps only values that fit their field: this is a bug.
		return nil, w.problems, fmt.Errorf("createOptions does not decode: %w", err)
	}
	if req.Config == nil {
		req.Config = &container.Config{}
	}
	sort.SliceStable(w.problems, func(i, j int) bool { return w.problems[i].Path < w.problems[j].Path })
	return req, w.problems, nil
}

// jsonError adds the line and column of a syntax error.
func jsonError(text string, err error) error {
	var se *json.SyntaxError
	if errors.As(err, &se) {
		line, col := Position([]byte(text), int(se.Offset)-1) // Offset counts the bad byte
		return fmt.Errorf("%w (line %d, column %d)", err, line, col)
	}
	if errors.Is(err, io.ErrUnexpectedEOF) {
		return errors.New("the text ends before the JSON value does")
	}
	return err
}

// Position turns a byte offset into a 1-based line and column.
func Position(data []byte, offset int) (line, col int) {
	if offset > len(data) {
		offset = len(data)
	}
	if offset < 0 {
		offset = 0
	}
	line = 1 + bytes.Count(data[:offset], []byte{'\n'})
	col = offset - bytes.LastIndexByte(data[:offset], '\n')
	return line, col
}

func jsonType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "a boolean"
	case json.Number:
		return "a number"
	case string:
		return "a string"
	case []any:
		return "an array"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("%T", v)
}

// createType is the container-create body.
var createType = reflect.TypeOf(container.CreateRequest{})

var unmarshaler = reflect.TypeOf((*json.Unmarshaler)(nil)).Elem()

// field is one JSON key of a struct type.
type field struct {
	name string // as the API spells it
	typ  reflect.Type
}

var (
	fieldsMu sync.Mutex
	fieldsOf = map[reflect.Type]map[string]field{}
)

// fields maps the lower-cased JSON keys of struct type t, embedded structs'
// promoted, to the key as spelled and its type.
func fields(t reflect.Type) map[string]field {
	fieldsMu.Lock()
	defer fieldsMu.Unlock()
	if m, ok := fieldsOf[t]; ok {
		return m
	}
	m := map[string]field{}
	collectFields(t, m)
	fieldsOf[t] = m
	return m
}

func collectFields(t reflect.Type, m map[string]field) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		tag := f.Tag.Get("json")
		name, _, _ := strings.Cut(tag, ",")
		if name == "-" {
			continue
		}
		ft := f.Type
		if f.Anonymous && name == "" {
			et := ft
			if et.Kind() == reflect.Pointer {
				et = et.Elem()
			}
			if et.Kind() == reflect.Struct {
				collectFields(et, m)
				continue
			}
		}
		if !f.IsExported() {
			continue
		}
		if name == "" {
			name = f.Name
		}
		if _, dup := m[strings.ToLower(name)]; !dup {
			m[strings.ToLower(name)] = field{name: name, typ: ft}
		}
	}
}

// walker keeps what fits the API's types and collects problems.
type walker struct{ problems []Problem }

func (w *walker) add(path string, unknown bool, format string, args ...any) {
	w.problems = append(w.problems, Problem{Path: path, Unknown: unknown, Detail: fmt.Sprintf(format, args...)})
}

// object keeps the keys of obj that struct type t knows, under their API
// spelling, each value walked against its field's type.
func (w *walker) object(obj map[string]any, t reflect.Type, path string) map[string]any {
	fs := fields(t)
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make(map[string]any, len(obj))
	for _, k := range keys {
		p := join(path, k)
		f, ok := fs[strings.ToLower(k)]
		if !ok {
			w.add(p, true, "%s", unknownDetail(k, t, path))
			continue
		}
		if v, keep := w.value(obj[k], f.typ, p); keep {
			out[f.name] = v
		}
	}
	return out
}

// value walks v against type t and tells whether to keep it.
func (w *walker) value(v any, t reflect.Type, path string) (any, bool) {
	if v == nil {
		return nil, false
	}
	if reflect.PointerTo(t).Implements(unmarshaler) || t.Implements(unmarshaler) {
		// A type that reads itself (a command as a string or a list): check
		// that Go's decoder takes it.
		b, _ := json.Marshal(v)
		if err := json.Unmarshal(b, reflect.New(t).Interface()); err != nil {
			w.add(path, false, "is %s, which the field cannot take", jsonType(v))
			return nil, false
		}
		return v, true
	}
	switch t.Kind() {
	case reflect.Pointer:
		return w.value(v, t.Elem(), path)
	case reflect.Struct:
		obj, ok := v.(map[string]any)
		if !ok {
			w.add(path, false, "is %s, not an object", jsonType(v))
			return nil, false
		}
		return w.object(obj, t, path), true
	case reflect.Map:
		obj, ok := v.(map[string]any)
		if !ok {
			w.add(path, false, "is %s, not an object", jsonType(v))
			return nil, false
		}
		out := make(map[string]any, len(obj))
		for k, e := range obj {
			if ev, keep := w.value(e, t.Elem(), path+"."+k); keep {
				out[k] = ev
			} else if e == nil && t.Elem().Kind() == reflect.Struct {
				out[k] = map[string]any{} // {"/data": null} in Volumes means the empty struct
			}
		}
		return out, true
	case reflect.Slice, reflect.Array:
		arr, ok := v.([]any)
		if !ok {
			w.add(path, false, "is %s, not an array", jsonType(v))
			return nil, false
		}
		out := make([]any, 0, len(arr))
		for i, e := range arr {
			if ev, keep := w.value(e, t.Elem(), fmt.Sprintf("%s[%d]", path, i)); keep {
				out = append(out, ev)
			}
		}
		return out, true
	case reflect.String:
		switch x := v.(type) {
		case string:
			return x, true
		case json.Number:
			return x.String(), true
		case bool:
			if x { // as Newtonsoft writes a boolean into a string
				return "True", true
			}
			return "False", true
		}
		w.add(path, false, "is %s, not a string", jsonType(v))
		return nil, false
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		n, ok := number(v)
		if !ok {
			w.add(path, false, "is %s, not a number", describe(v))
			return nil, false
		}
		n = integral(n)
		if _, err := strconv.ParseInt(n, 10, t.Bits()); err != nil {
			w.add(path, false, "is not a whole number that fits the field (%d bits)", t.Bits())
			return nil, false
		}
		return json.Number(n), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		n, ok := number(v)
		if !ok {
			w.add(path, false, "is %s, not a number", describe(v))
			return nil, false
		}
		n = integral(n)
		if _, err := strconv.ParseUint(n, 10, t.Bits()); err != nil {
			w.add(path, false, "is not a whole, non-negative number that fits the field (%d bits)", t.Bits())
			return nil, false
		}
		return json.Number(n), true
	case reflect.Float32, reflect.Float64:
		n, ok := number(v)
		if !ok {
			w.add(path, false, "is %s, not a number", describe(v))
			return nil, false
		}
		if _, err := strconv.ParseFloat(n, 64); err != nil {
			w.add(path, false, "is not a number")
			return nil, false
		}
		return json.Number(n), true
	case reflect.Bool:
		switch x := v.(type) {
		case bool:
			return x, true
		case string:
			if b, err := strconv.ParseBool(strings.ToLower(strings.TrimSpace(x))); err == nil && !isDigits(x) {
				return b, true
			}
		}
		w.add(path, false, "is %s, not true or false", describe(v))
		return nil, false
	case reflect.Interface:
		return v, true
	}
	return v, true
}

// number returns v as a JSON number: a number, or a string holding one
// (Newtonsoft reads "268435456" into a long).
func number(v any) (string, bool) {
	switch x := v.(type) {
	case json.Number:
		return x.String(), true
	case string:
		s := strings.TrimSpace(x)
		if _, err := strconv.ParseFloat(s, 64); err == nil && s != "" && !strings.ContainsAny(s, "xXpPnN_") {
			return s, true
		}
	}
	return "", false
}

// integral writes a whole number given with an exponent or a fraction of
// zero (5e8, 1.0) as an integer, as Newtonsoft converts it.
func integral(n string) string {
	if !strings.ContainsAny(n, ".eE") {
		return n
	}
	f, err := strconv.ParseFloat(n, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return n
	}
	return strconv.FormatFloat(f, 'f', 0, 64)
}

func describe(v any) string {
	if _, ok := v.(string); ok {
		return "a string that is not a number or a boolean"
	}
	return jsonType(v)
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

// unknownDetail says why key is unknown where it is, and what was likely meant.
func unknownDetail(key string, t reflect.Type, path string) string {
	where := "the container-create body"
	if path != "" {
		where = path
	}
	msg := fmt.Sprintf("not a key of %s in the Docker Engine API: the runtime drops it", where)
	// A HostConfig key written at the top level (Memory, Binds, PortBindings).
	if t == createType {
		if f, ok := fields(reflect.TypeOf(container.HostConfig{}))[strings.ToLower(key)]; ok {
			return msg + "; " + f.name + " belongs inside HostConfig"
		}
	}
	if s := closest(key, fields(t)); s != "" {
		return msg + "; did you mean " + s + "?"
	}
	return msg
}

// closest returns the known key nearest to key (at most two edits), or "".
func closest(key string, fs map[string]field) string {
	best, bestD := "", 3
	lk := strings.ToLower(key)
	names := make([]string, 0, len(fs))
	for k := range fs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		if d := distance(lk, k, bestD); d < bestD {
			best, bestD = fs[k].name, d
		}
	}
	return best
}

// distance is the Levenshtein distance of a and b, or limit when it is at least limit.
func distance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			c := 1
			if a[i-1] == b[j-1] {
				c = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+c)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return min(prev[len(b)], limit)
}
