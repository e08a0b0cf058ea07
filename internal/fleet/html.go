package fleet

import (
	"bytes"
	_ "embed" // the page's template
	"fmt"
	"html/template"
	"io"
	"sync"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

//go:embed html.tmpl
var htmlTemplate string

// fleetTmpl is parsed on first use: the other commands, module mode
// above all, never render the fleet's page and need not hold it.
var fleetTmpl = sync.OnceValue(func() *template.Template {
	return template.Must(template.New("fleet").Funcs(sink.PageFuncs).Funcs(template.FuncMap{
		"dur": func(d Duration) string { return time.Duration(d).String() },
	}).Parse(htmlTemplate))
})

// fleetPage is what the template shows of a view.
type fleetPage struct {
	V       View
	Stale   []deviceRow
	Devices []deviceRow
	CSS     template.CSS
	CSP     string
}

// WriteHTML writes the view as one self-contained HTML page, with the
// device page's style and policy (internal/sink): counts by status, the
// checks failing on most devices, stale and never-reported devices, and
// each device's line.
func WriteHTML(w io.Writer, v View) error {
	var buf bytes.Buffer
	if err := fleetTmpl().Execute(&buf, fleetPage{V: v, Stale: rows(v, v.Stale), Devices: rows(v, v.Devices), CSS: sink.PageStyle(), CSP: sink.PageCSP}); err != nil {
		return fmt.Errorf("rendering the HTML page: %w", err)
	}
	_, err := w.Write(buf.Bytes())
	return err
}

// deviceRow is a device's line; Other tells that its module id is not the
// view's (the page names it then).
type deviceRow struct {
	Device
	Other bool
}

func rows(v View, ds []Device) []deviceRow {
	out := make([]deviceRow, len(ds))
	for i, d := range ds {
		out[i] = deviceRow{Device: d, Other: d.ModuleID != v.Module}
	}
	return out
}
