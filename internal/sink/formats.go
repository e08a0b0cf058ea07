package sink

import (
	"io"
	"sort"
)

// Formats are the report writers the check command offers, by --format name.
// A new writer is a file implementing Sink and a line here.
var Formats = map[string]func(w io.Writer) Sink{
	"table": func(w io.Writer) Sink { return NewTable(w) },
	"json":  func(w io.Writer) Sink { return NewJSON(w) },
	"junit": func(w io.Writer) Sink { return NewJUnit(w) },
	"sarif": func(w io.Writer) Sink { return NewSARIF(w) },
	"html":  func(w io.Writer) Sink { return NewHTML(w) },
}

// FormatNames lists the --format names, sorted.
func FormatNames() []string {
	out := make([]string, 0, len(Formats))
	for n := range Formats {
		out = append(out, n)
	}
	sort.Strings(out)
	return out
}
