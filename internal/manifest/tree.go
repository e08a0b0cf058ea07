package manifest

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
)

// kind is a JSON value's type.
type kind uint8

const (
	kNull kind = iota
	kBool
	kNumber
	kString
	kObject
	kArray
)

func (k kind) String() string {
	return [...]string{"null", "a boolean", "a number", "a string", "an object", "an array"}[k]
}

// node is a JSON value with the line it starts on; an object keeps its keys
// in file order with the line of each key.
type node struct {
	kind kind
	str  string // a string's value, a number's literal
	b    bool
	keys []string
	kl   []int // line of each key
	vals []*node
	line int
}

// maxDepth bounds nesting: a deployment manifest is a few levels deep.
const maxDepth = 200

// syntaxError is a JSON error at a place of the file.
type syntaxError struct {
	line, col int
	msg       string
}

func (e *syntaxError) Error() string {
	return fmt.Sprintf("line %d, column %d: %s", e.line, e.col, e.msg)
}

// lineIndex maps byte offsets to 1-based lines and columns.
type lineIndex []int // offsets of line starts

func newLineIndex(data []byte) lineIndex {
	idx := lineIndex{0}
	for i, c := range data {
		if c == '\n' {
			idx = append(idx, i+1)
		}
	}
	return idx
}

func (li lineIndex) pos(off int) (line, col int) {
	i := sort.Search(len(li), func(i int) bool { return li[i] > off }) - 1
	if i < 0 {
		i = 0
	}
	return i + 1, off - li[i] + 1
}

// parseTree reads one JSON value and nothing after it.
func parseTree(data []byte) (*node, error) {
	li := newLineIndex(data)
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	p := &treeParser{dec: dec, li: li}
	n, err := p.value(0)
	if err != nil {
		return nil, p.wrap(err)
	}
	off := int(dec.InputOffset())
	if _, err := dec.Token(); err != io.EOF {
		for off < len(data) && strings.ContainsRune(" \t\r\n", rune(data[off])) {
			off++
		}
		line, col := li.pos(off)
		return nil, &syntaxError{line, col, "text after the JSON document"}
	}
	return n, nil
}

type treeParser struct {
	dec *json.Decoder
	li  lineIndex
}

// wrap gives a decoder error the line and column it happened at.
func (p *treeParser) wrap(err error) error {
	var se *json.SyntaxError
	var te *syntaxError
	switch {
	case errors.As(err, &te):
		return err
	case errors.As(err, &se):
		line, col := p.li.pos(int(se.Offset))
		return &syntaxError{line, col, se.Error()}
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		line, col := p.li.pos(int(p.dec.InputOffset()))
		return &syntaxError{line, col, "the file ends inside a JSON value"}
	}
	line, col := p.li.pos(int(p.dec.InputOffset()))
	return &syntaxError{line, col, err.Error()}
}

// lineHere is the line of the token just read.
func (p *treeParser) lineHere() int {
	off := int(p.dec.InputOffset()) - 1
	if off < 0 {
		off = 0
	}
	line, _ := p.li.pos(off)
	return line
}

func (p *treeParser) value(depth int) (*node, error) {
	tok, err := p.dec.Token()
	if err != nil {
		return nil, err
	}
	return p.fromToken(tok, depth)
}

func (p *treeParser) fromToken(tok json.Token, depth int) (*node, error) {
	n := &node{line: p.lineHere()}
	switch t := tok.(type) {
	case nil:
		n.kind = kNull
	case bool:
		n.kind, n.b = kBool, t
	case json.Number:
		n.kind, n.str = kNumber, t.String()
	case string:
		n.kind, n.str = kString, t
	case json.Delim:
		if depth >= maxDepth {
			line, col := p.li.pos(int(p.dec.InputOffset()))
			return nil, &syntaxError{line, col, fmt.Sprintf("nested deeper than %d levels", maxDepth)}
		}
		switch t {
		case '{':
			n.kind = kObject
			for p.dec.More() {
				kt, err := p.dec.Token()
				if err != nil {
					return nil, err
				}
				key, _ := kt.(string)
				kl := p.lineHere()
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.keys = append(n.keys, key)
				n.kl = append(n.kl, kl)
				n.vals = append(n.vals, v)
			}
		case '[':
			n.kind = kArray
			for p.dec.More() {
				v, err := p.value(depth + 1)
				if err != nil {
					return nil, err
				}
				n.vals = append(n.vals, v)
			}
		}
		if _, err := p.dec.Token(); err != nil { // the closing delimiter
			return nil, err
		}
	}
	return n, nil
}

// get returns the value of key and the line of the key; the last of
// duplicate keys wins, as Newtonsoft's JObject keeps it.
func (n *node) get(key string) (*node, int) {
	if n == nil || n.kind != kObject {
		return nil, 0
	}
	for i := len(n.keys) - 1; i >= 0; i-- {
		if n.keys[i] == key {
			return n.vals[i], n.kl[i]
		}
	}
	return nil, 0
}

// getFold is get with the key matched case-insensitively when no key
// matches exactly, as edgeAgent reads a module's settings.
func (n *node) getFold(key string) (*node, int, string) {
	if v, l := n.get(key); v != nil {
		return v, l, key
	}
	if n == nil || n.kind != kObject {
		return nil, 0, ""
	}
	for i := len(n.keys) - 1; i >= 0; i-- {
		if strings.EqualFold(n.keys[i], key) {
			return n.vals[i], n.kl[i], n.keys[i]
		}
	}
	return nil, 0, ""
}

// scalar is the text of a string, number or boolean; "" for null.
func (n *node) scalar() (string, bool) {
	switch n.kind {
	case kString, kNumber:
		return n.str, true
	case kBool:
		if n.b {
			return "true", true
		}
		return "false", true
	case kNull:
		return "", true
	}
	return "", false
}

// compact writes n as minified JSON, strings passed through f.
func (n *node) compact(b *strings.Builder, f func(string) string) {
	switch n.kind {
	case kNull:
		b.WriteString("null")
	case kBool:
		if n.b {
			b.WriteString("true")
		} else {
			b.WriteString("false")
		}
	case kNumber:
		b.WriteString(n.str)
	case kString:
		writeString(b, f(n.str))
	case kArray:
		b.WriteByte('[')
		for i, v := range n.vals {
			if i > 0 {
				b.WriteByte(',')
			}
			v.compact(b, f)
		}
		b.WriteByte(']')
	case kObject:
		b.WriteByte('{')
		for i, k := range n.keys {
			if i > 0 {
				b.WriteByte(',')
			}
			writeString(b, f(k))
			b.WriteByte(':')
			n.vals[i].compact(b, f)
		}
		b.WriteByte('}')
	}
}

func writeString(b *strings.Builder, s string) {
	// The tooling's JSON does not escape <, > and & as Marshal does.
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(s) // a string always encodes
	b.Write(bytes.TrimSuffix(buf.Bytes(), []byte{'\n'}))
}
