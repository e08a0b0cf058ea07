package fix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Change is one module's edit: Length bytes of the input at Offset replaced
// by Text (CharOffset and CharLength count Unicode code points, as SARIF's
// regions with columnKind unicodeCodePoints). Findings are the keys of the
// findings it fixes.
type Change struct {
	Module                 string
	Offset, Length         int
	CharOffset, CharLength int
	Text                   string
	Findings               []string
}

// changes cuts the difference between input and output into one edit per
// module changed (the fixes write nothing outside a module's object), each
// as small as its common prefix and suffix allow.
func changes(input, output []byte, bom int, items []Item) ([]Change, error) {
	before, after := newDoc(input[bom:]), newDoc(output[bom:])
	lb, la := locateModules(before), locateModules(after)
	var out []Change
	for name, keys := range lb {
		if _, ok := la[name]; !ok {
			continue
		}
		a, b := before.get(keys), after.get(la[name])
		if a.Raw == b.Raw {
			continue
		}
		p := commonPrefix(a.Raw, b.Raw)
		s := commonSuffix(a.Raw[p:], b.Raw[p:])
		off := bom + a.Index + p
		c := Change{Module: name, Offset: off, Length: len(a.Raw) - p - s, Text: b.Raw[p : len(b.Raw)-s]}
		c.CharOffset = utf8.RuneCount(input[:off])
		c.CharLength = utf8.RuneCount(input[off : off+c.Length])
		for _, it := range items {
			if it.changed(name) {
				c.Findings = append(c.Findings, it.Finding.Key())
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Offset < out[j].Offset })
	if got := ApplyChanges(input, out); !bytes.Equal(got, output) {
		return nil, fmt.Errorf("the fix changed the file outside its modules (a bug)")
	}
	return out, nil
}

// ApplyChanges applies non-overlapping changes, sorted by offset, to input.
func ApplyChanges(input []byte, cs []Change) []byte {
	var b bytes.Buffer
	at := 0
	for _, c := range cs {
		b.Write(input[at:c.Offset])
		b.WriteString(c.Text)
		at = c.Offset + c.Length
	}
	b.Write(input[at:])
	return b.Bytes()
}

func commonPrefix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[n] == b[n] {
		n++
	}
	for n > 0 && n < len(a) && !utf8.RuneStart(a[n]) { // never cut a character
		n--
	}
	return n
}

func commonSuffix(a, b string) int {
	n := 0
	for n < len(a) && n < len(b) && a[len(a)-1-n] == b[len(b)-1-n] {
		n++
	}
	for n > 0 && n < len(a) && !utf8.RuneStart(a[len(a)-n]) {
		n--
	}
	return n
}

// PatchOp is one operation of an RFC 6902 JSON Patch.
type PatchOp struct {
	Op    string          `json:"op"`
	Path  string          `json:"path"`
	Value json.RawMessage `json:"value,omitempty"`
}

// patch is the RFC 6902 JSON Patch from before to after: objects compared
// key by key, an array that grew at its end by "add" of the new elements,
// any other difference by "replace".
func patch(before, after []byte) ([]PatchOp, error) {
	var a, b any
	for _, x := range []struct {
		data []byte
		v    *any
	}{{before, &a}, {after, &b}} {
		dec := json.NewDecoder(bytes.NewReader(x.data))
		dec.UseNumber()
		if err := dec.Decode(x.v); err != nil {
			return nil, fmt.Errorf("reading the manifest for the patch: %w", err)
		}
	}
	ops := []PatchOp{}
	if err := diff("", a, b, &ops); err != nil {
		return nil, err
	}
	return ops, nil
}

func diff(path string, a, b any, ops *[]PatchOp) error {
	add := func(op, p string, v any) error {
		raw, err := marshalCompact(v)
		if err != nil {
			return err
		}
		*ops = append(*ops, PatchOp{Op: op, Path: p, Value: json.RawMessage(raw)})
		return nil
	}
	switch av := a.(type) {
	case map[string]any:
		bv, ok := b.(map[string]any)
		if !ok {
			return add("replace", path, b)
		}
		keys := make([]string, 0, len(av)+len(bv))
		for k := range av {
			keys = append(keys, k)
		}
		for k := range bv {
			if _, ok := av[k]; !ok {
				keys = append(keys, k)
			}
		}
		sort.Strings(keys)
		for _, k := range keys {
			p := path + "/" + pointerToken(k)
			x, inA := av[k]
			y, inB := bv[k]
			var err error
			switch {
			case !inB:
				*ops = append(*ops, PatchOp{Op: "remove", Path: p})
			case !inA:
				err = add("add", p, y)
			default:
				err = diff(p, x, y, ops)
			}
			if err != nil {
				return err
			}
		}
		return nil
	case []any:
		bv, ok := b.([]any)
		if ok && len(bv) >= len(av) && reflect.DeepEqual(av, bv[:len(av)]) {
			for i := len(av); i < len(bv); i++ {
				if err := add("add", path+"/"+strconv.Itoa(i), bv[i]); err != nil {
					return err
				}
			}
			return nil
		}
	}
	if !reflect.DeepEqual(a, b) {
		return add("replace", path, b)
	}
	return nil
}

// pointerToken escapes a key for a JSON Pointer (RFC 6901).
func pointerToken(k string) string {
	return strings.ReplaceAll(strings.ReplaceAll(k, "~", "~0"), "/", "~1")
}
