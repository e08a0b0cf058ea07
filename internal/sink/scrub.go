package sink

import (
	"reflect"

	"github.com/edge-readiness/edge-readiness/internal/redact"
)

// Scrub returns a deep copy of v with every string in it scrubbed: struct
// fields, slice elements, map keys and values, whatever their depth or their
// named type. It works on values, not on their encoding, so that a secret is
// caught before JSON escapes it (\u0026, \") or a table truncates it, and a
// masked number never breaks a document. Unexported fields are copied as they are.
func Scrub[T any](s *redact.Scrubber, v T) T {
	if s == nil {
		s = redact.NewScrubber() // the patterns still apply
	}
	var out T
	reflect.ValueOf(&out).Elem().Set(scrubValue(s, reflect.ValueOf(&v).Elem()))
	return out
}

func scrubValue(s *redact.Scrubber, v reflect.Value) reflect.Value {
	switch v.Kind() {
	case reflect.String:
		out := reflect.New(v.Type()).Elem()
		out.SetString(s.String(v.String()))
		return out
	case reflect.Pointer:
		if v.IsNil() {
			return v
		}
		out := reflect.New(v.Type().Elem())
		out.Elem().Set(scrubValue(s, v.Elem()))
		return out
	case reflect.Interface:
		out := reflect.New(v.Type()).Elem()
		if !v.IsNil() {
			out.Set(scrubValue(s, v.Elem()))
		}
		return out
	case reflect.Struct:
		out := reflect.New(v.Type()).Elem()
		out.Set(v)
		for i := 0; i < v.NumField(); i++ {
			if f := out.Field(i); f.CanSet() {
				f.Set(scrubValue(s, v.Field(i)))
			}
		}
		return out
	case reflect.Slice:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeSlice(v.Type(), v.Len(), v.Len())
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(scrubValue(s, v.Index(i)))
		}
		return out
	case reflect.Array:
		out := reflect.New(v.Type()).Elem()
		for i := 0; i < v.Len(); i++ {
			out.Index(i).Set(scrubValue(s, v.Index(i)))
		}
		return out
	case reflect.Map:
		if v.IsNil() {
			return v
		}
		out := reflect.MakeMapWithSize(v.Type(), v.Len())
		for it := v.MapRange(); it.Next(); {
			out.SetMapIndex(scrubValue(s, it.Key()), scrubValue(s, it.Value()))
		}
		return out
	}
	return v
}
