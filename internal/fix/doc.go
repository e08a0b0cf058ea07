package fix

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strings"

	"github.com/tidwall/gjson"
)

// doc is a JSON document edited in place: every change splices the bytes of
// the value it touches and leaves the rest of the file as its owner wrote it
// (key order, indentation, spacing, line endings, escapes). gjson finds the
// values and their byte offsets; a new member is written in the style of
// its siblings.
type doc struct {
	b  string // a string, so that gjson reads it without a copy
	nl string // the document's line ending
	// spaced writes ": " after keys in an empty object (the style of the
	// file a createOptions object is in).
	spaced bool
	// unit is the file's indentation step, for a container written anew.
	unit string
}

// sub is a document of its own for the text of a part of d (a module's
// object, a createOptions object), written in d's style.
func (d *doc) sub(text string) *doc {
	return &doc{b: text, nl: d.nl, spaced: d.spaced || strings.Contains(d.b, `": `), unit: d.unit}
}

func newDoc(b []byte) *doc {
	d := &doc{b: string(b), nl: "\n"}
	if bytes.Contains(b, []byte("\r\n")) {
		d.nl = "\r\n"
	}
	d.unit = d.indentUnit()
	return d
}

// gpath is a gjson path of literal keys.
func gpath(keys []string) string {
	esc := make([]string, len(keys))
	for i, k := range keys {
		esc[i] = gjson.Escape(k)
	}
	return strings.Join(esc, ".")
}

// get returns the value at the path of literal keys.
func (d *doc) get(keys []string) gjson.Result {
	if len(keys) == 0 {
		return gjson.Parse(d.b)
	}
	return gjson.Get(d.b, gpath(keys))
}

// resolve turns keys matched case-insensitively (as the Docker Engine API
// and edgeAgent read createOptions and settings) into the keys as written,
// the last of duplicates winning as in Newtonsoft; it stops at the first
// key not present and returns the keys resolved so far.
func (d *doc) resolve(keys []string) []string {
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		parent := d.get(out)
		if !parent.IsObject() {
			return out
		}
		found, exact := "", false
		parent.ForEach(func(key, _ gjson.Result) bool {
			switch {
			case key.Str == k:
				found, exact = key.Str, true
			case !exact && strings.EqualFold(key.Str, k):
				found = key.Str
			}
			return true
		})
		if found == "" {
			return out
		}
		out = append(out, found)
	}
	return out
}

// splice replaces n bytes at off.
func (d *doc) splice(off, n int, text string) {
	d.b = d.b[:off] + text + d.b[off+n:]
}

// replace sets the existing value at keys to v.
func (d *doc) replace(keys []string, v any) error {
	raw, err := marshalCompact(v)
	if err != nil {
		return err
	}
	return d.replaceRaw(keys, raw)
}

// replaceRaw sets the existing value at keys to the JSON text raw.
func (d *doc) replaceRaw(keys []string, raw string) error {
	r := d.get(keys)
	if !r.Exists() || r.Index <= 0 && len(keys) > 0 {
		return fmt.Errorf("no value at %s", strings.Join(keys, "."))
	}
	d.splice(r.Index, len(r.Raw), raw)
	return nil
}

// set sets the value at keys (matched case-insensitively), adding the
// members missing on the way in the style of the object they go into.
func (d *doc) set(keys []string, v any) error {
	have := d.resolve(keys)
	if len(have) == len(keys) {
		return d.replace(have, v)
	}
	parent := d.get(have)
	if !parent.IsObject() {
		return fmt.Errorf("%s is not an object", strings.Join(have, "."))
	}
	// Build what is missing below the deepest existing object.
	val := v
	for i := len(keys) - 1; i > len(have); i-- {
		val = object{{keys[i], val}}
	}
	return d.addMember(have, keys[len(have)], val)
}

// addMember appends key: v to the object at keys.
func (d *doc) addMember(keys []string, key string, v any) error {
	obj := d.get(keys)
	if !obj.IsObject() {
		return fmt.Errorf("%s is not an object", strings.Join(keys, "."))
	}
	st := d.styleOf(obj)
	raw, err := st.marshal(v)
	if err != nil {
		return err
	}
	k, _ := marshalCompact(key)
	member := k + st.colon + raw
	if st.lastEnd < 0 { // an empty object: write it anew
		text := "{" + member + "}"
		if st.multiline {
			text = "{" + d.nl + st.indent + member + d.nl + st.closeIndent + "}"
		}
		d.splice(obj.Index, len(obj.Raw), text)
		return nil
	}
	d.splice(st.lastEnd, 0, ","+st.sep+member)
	return nil
}

// appendElem appends v to the array at keys.
func (d *doc) appendElem(keys []string, v any) error {
	arr := d.get(keys)
	if !arr.IsArray() {
		return fmt.Errorf("%s is not an array", strings.Join(keys, "."))
	}
	st := d.styleOf(arr)
	raw, err := st.marshal(v)
	if err != nil {
		return err
	}
	if st.lastEnd < 0 {
		text := "[" + raw + "]"
		if st.multiline {
			text = "[" + d.nl + st.indent + raw + d.nl + st.closeIndent + "]"
		}
		d.splice(arr.Index, len(arr.Raw), text)
		return nil
	}
	d.splice(st.lastEnd, 0, ","+st.sep+raw)
	return nil
}

// deleteMember removes the member key of the object at keys, with its comma.
func (d *doc) deleteMember(keys []string, key string) error {
	obj := d.get(keys)
	type span struct{ start, end int } // from the key to the end of the value
	var members []span
	at := -1
	obj.ForEach(func(k, v gjson.Result) bool {
		if k.Str == key {
			at = len(members)
		}
		members = append(members, span{k.Index, v.Index + len(v.Raw)})
		return true
	})
	if at < 0 {
		return fmt.Errorf("no member %s", key)
	}
	m := members[at]
	switch {
	case at > 0: // from the end of the previous member: its comma goes
		d.splice(members[at-1].end, m.end-members[at-1].end, "")
	case len(members) > 1: // the first of several: up to the next key
		d.splice(m.start, members[1].start-m.start, "")
	default:
		d.splice(m.start, m.end-m.start, "")
	}
	return nil
}

// style is how a container's members are written.
type style struct {
	multiline   bool
	indent      string // before each member
	closeIndent string // before the closing bracket
	unit        string // one level of indentation
	colon       string // between key and value
	sep         string // after a comma, before the next member
	nl          string
	lastEnd     int // offset after the last member's value; -1 when empty
}

// styleOf reads how the object or array at r is written.
func (d *doc) styleOf(r gjson.Result) style {
	st := style{colon: ":", nl: d.nl, lastEnd: -1}
	st.multiline = strings.Contains(r.Raw, "\n")
	if empty := len(strings.TrimSpace(r.Raw[1:len(r.Raw)-1])) == 0; empty {
		// An empty container is written over lines in a document that is.
		st.multiline = strings.Contains(d.b, "\n")
		if d.spaced || strings.Contains(d.b, `": `) {
			st.colon = ": "
		}
	}
	st.closeIndent = lineIndent(d.b, r.Index)
	end := r.Index + len(r.Raw) - 1 // the closing bracket
	if st.multiline {
		st.closeIndent = lineIndent(d.b, end)
	}
	first := -1
	prevEnd, second := -1, -1
	n := 0
	r.ForEach(func(k, v gjson.Result) bool {
		start := v.Index
		if r.IsObject() {
			start = k.Index
			if n == 0 {
				st.colon = d.b[k.Index+len(k.Raw) : v.Index]
			}
		}
		if n == 0 {
			first = start
		}
		if n == 1 {
			second = start
		}
		prevEnd = v.Index + len(v.Raw)
		if n == 0 {
			st.sep = ""
		}
		n++
		return true
	})
	st.lastEnd = prevEnd
	if first >= 0 && second >= 0 {
		// Between the first comma and the second member.
		gap := d.b[first:second]
		if i := strings.LastIndexByte(gap, ','); i >= 0 {
			st.sep = gap[i+1:]
		}
	}
	if st.multiline {
		st.unit = "  "
		if first >= 0 {
			st.indent = lineIndent(d.b, first)
		} else {
			st.indent = st.closeIndent + d.unit
		}
		if u := strings.TrimPrefix(st.indent, st.closeIndent); u != st.indent && u != "" {
			st.unit = u
		}
		if second < 0 {
			st.sep = d.nl + st.indent
		}
	} else if second < 0 && strings.HasSuffix(st.colon, " ") {
		st.sep = " "
	}
	return st
}

// indentUnit guesses the document's indentation step: the indentation of
// the first indented line.
func (d *doc) indentUnit() string {
	for _, line := range strings.SplitN(d.b, "\n", 50)[1:] {
		if ws := line[:len(line)-len(strings.TrimLeft(line, " \t"))]; ws != "" {
			return ws
		}
	}
	return "  "
}

// lineIndent is the whitespace that starts the line holding off.
func lineIndent(b string, off int) string {
	start := strings.LastIndexByte(b[:off], '\n') + 1
	i := start
	for i < len(b) && (b[i] == ' ' || b[i] == '\t') {
		i++
	}
	return b[start:i]
}

// marshal writes v for a member in this style: over several lines at the
// member's indentation in a multi-line container, compact otherwise.
func (st style) marshal(v any) (string, error) {
	if !st.multiline {
		raw, err := marshalCompact(v)
		if err != nil || !strings.HasSuffix(st.colon, " ") {
			return raw, err
		}
		return spaced(raw), nil
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent(st.indent, st.unit)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("writing a value: %w", err)
	}
	out := strings.TrimSuffix(buf.String(), "\n")
	if st.nl != "\n" {
		out = strings.ReplaceAll(out, "\n", st.nl)
	}
	return out, nil
}

// spaced writes compact JSON with a space after each colon and comma, as
// a one-line object written by hand ({"a": 1, "b": 2}).
func spaced(compact string) string {
	var b strings.Builder
	in, esc := false, false
	for _, c := range compact {
		b.WriteRune(c)
		switch {
		case esc:
			esc = false
		case in && c == '\\':
			esc = true
		case c == '"':
			in = !in
		case !in && (c == ':' || c == ','):
			b.WriteByte(' ')
		}
	}
	return b.String()
}

func marshalCompact(v any) (string, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("writing a value: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// object is a JSON object written with its keys in order.
type object []member

type member struct {
	Key   string
	Value any
}

// MarshalJSON writes the members in order.
func (o object) MarshalJSON() ([]byte, error) {
	var b bytes.Buffer
	b.WriteByte('{')
	for i, m := range o {
		if i > 0 {
			b.WriteByte(',')
		}
		k, err := marshalCompact(m.Key)
		if err != nil {
			return nil, err
		}
		v, err := marshalCompact(m.Value)
		if err != nil {
			return nil, err
		}
		b.WriteString(k + ":" + v)
	}
	b.WriteByte('}')
	return b.Bytes(), nil
}
