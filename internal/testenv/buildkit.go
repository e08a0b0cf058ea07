package testenv

import (
	"fmt"
	"strings"

	"google.golang.org/protobuf/encoding/protowire"
)

// traceLog turns the engine's BuildKit progress (the aux of each
// "moby.buildkit.trace" message: a protobuf StatusResponse of
// github.com/moby/buildkit api/services/control/control.proto) into the
// lines `docker build --progress=plain` would print: each step's name once,
// its output, and its error. Only the few fields it needs are decoded, with
// protowire, so that the tests need no BuildKit module.
type traceLog struct {
	out   *strings.Builder
	steps map[string]int    // vertex digest -> step number
	names map[string]string // vertex digest -> name
	done  map[string]bool   // vertex digests whose end was written
}

func newTraceLog(out *strings.Builder) *traceLog {
	return &traceLog{out: out, steps: map[string]int{}, names: map[string]string{}, done: map[string]bool{}}
}

// StatusResponse, Vertex and VertexLog field numbers.
const (
	statusVertexes = 1
	statusLogs     = 3
	vertexDigest   = 1
	vertexName     = 3
	vertexCached   = 4
	vertexDone     = 6
	vertexError    = 7
	logVertex      = 1
	logMsg         = 4
)

// add writes what one StatusResponse adds; a message it cannot decode is
// skipped: the log only explains a failure, the engine's answer decides it.
func (l *traceLog) add(msg []byte) {
	for _, f := range fields(msg) {
		switch f.num {
		case statusVertexes:
			l.vertex(fields(f.bytes))
		case statusLogs:
			var digest string
			var text []byte
			for _, g := range fields(f.bytes) {
				switch g.num {
				case logVertex:
					digest = string(g.bytes)
				case logMsg:
					text = g.bytes
				}
			}
			for _, line := range strings.SplitAfter(string(text), "\n") {
				if line != "" {
					fmt.Fprintf(l.out, "#%d %s", l.step(digest), line)
				}
			}
			if len(text) > 0 && text[len(text)-1] != '\n' {
				l.out.WriteString("\n")
			}
		}
	}
}

func (l *traceLog) vertex(fs []field) {
	var digest, name, errMsg string
	var cached, completed bool
	for _, f := range fs {
		switch f.num {
		case vertexDigest:
			digest = string(f.bytes)
		case vertexName:
			name = string(f.bytes)
		case vertexCached:
			cached = f.varint != 0
		case vertexDone:
			completed = true
		case vertexError:
			errMsg = string(f.bytes)
		}
	}
	if digest == "" {
		return
	}
	if _, seen := l.names[digest]; !seen && name != "" {
		l.names[digest] = name
		fmt.Fprintf(l.out, "#%d %s\n", l.step(digest), name)
	}
	if !completed || l.done[digest] {
		return
	}
	l.done[digest] = true
	switch {
	case errMsg != "":
		fmt.Fprintf(l.out, "#%d ERROR: %s\n", l.step(digest), errMsg)
	case cached:
		fmt.Fprintf(l.out, "#%d CACHED\n", l.step(digest))
	}
}

func (l *traceLog) step(digest string) int {
	n, ok := l.steps[digest]
	if !ok {
		n = len(l.steps) + 1
		l.steps[digest] = n
	}
	return n
}

// field is one decoded protobuf field: bytes for length-delimited ones,
// varint for varints; other wire types are skipped.
type field struct {
	num    protowire.Number
	bytes  []byte
	varint uint64
}

// fields decodes the top level of a protobuf message, stopping at the first
// malformed field.
func fields(b []byte) []field {
	var out []field
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return out
		}
		b = b[n:]
		f := field{num: num}
		switch typ {
		case protowire.BytesType:
			f.bytes, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			f.varint, n = protowire.ConsumeVarint(b)
		default:
			n = protowire.ConsumeFieldValue(num, typ, b)
		}
		if n < 0 {
			return out
		}
		b = b[n:]
		out = append(out, f)
	}
	return out
}
