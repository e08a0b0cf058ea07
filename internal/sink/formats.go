package sink

import "io"

// Formats are the report writers the check command offers, by --format name.
// A new writer (JUnit, SARIF) is a file implementing Sink and a line here.
var Formats = map[string]func(w io.Writer) Sink{
	"table": func(w io.Writer) Sink { return NewTable(w) },
	"json":  func(w io.Writer) Sink { return NewJSON(w) },
}
