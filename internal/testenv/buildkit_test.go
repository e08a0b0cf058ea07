package testenv

import (
	"strings"
	"testing"

	"google.golang.org/protobuf/encoding/protowire"
)

// TestTraceLog decodes StatusResponse messages built field by field as
// BuildKit sends them: a step's name once, its output with the step
// number, CACHED and ERROR at its end.
func TestTraceLog(t *testing.T) {
	bytesField := func(b []byte, num protowire.Number, v []byte) []byte {
		b = protowire.AppendTag(b, num, protowire.BytesType)
		return protowire.AppendBytes(b, v)
	}
	vertex := func(digest, name string, cached, done bool, errMsg string) []byte {
		v := bytesField(nil, vertexDigest, []byte(digest))
		v = bytesField(v, vertexName, []byte(name))
		if cached {
			v = protowire.AppendTag(v, vertexCached, protowire.VarintType)
			v = protowire.AppendVarint(v, 1)
		}
		v = bytesField(v, 5, []byte{0x08, 0x01}) // started: a Timestamp
		if done {
			v = bytesField(v, vertexDone, []byte{0x08, 0x02})
		}
		if errMsg != "" {
			v = bytesField(v, vertexError, []byte(errMsg))
		}
		return bytesField(nil, statusVertexes, v)
	}
	vlog := func(digest, msg string) []byte {
		l := bytesField(nil, logVertex, []byte(digest))
		l = protowire.AppendTag(l, 3, protowire.VarintType) // stream
		l = protowire.AppendVarint(l, 2)
		l = bytesField(l, logMsg, []byte(msg))
		return bytesField(nil, statusLogs, l)
	}
	var out strings.Builder
	l := newTraceLog(&out)
	l.add(vertex("sha256:a", "[build 1/2] FROM go", false, false, ""))
	l.add(vertex("sha256:a", "[build 1/2] FROM go", true, true, ""))
	l.add(append(vertex("sha256:b", "[build 2/2] RUN go build", false, false, ""), vlog("sha256:b", "compiling\nmain.go:1: oops")...))
	l.add(vertex("sha256:b", "[build 2/2] RUN go build", false, true, "exit code: 1"))
	l.add([]byte{0xff, 0xff}) // malformed: skipped
	want := "#1 [build 1/2] FROM go\n#1 CACHED\n#2 [build 2/2] RUN go build\n#2 compiling\n#2 main.go:1: oops\n#2 ERROR: exit code: 1\n"
	if out.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", out.String(), want)
	}
}
