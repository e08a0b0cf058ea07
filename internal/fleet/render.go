package fleet

import (
	"encoding/csv"
	"encoding/json"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Formats maps a --format name to its renderer.
var Formats = map[string]func(io.Writer, View) error{
	"table": WriteTable,
	"json":  WriteJSON,
	"csv":   WriteCSV,
	"html":  WriteHTML,
}

// WriteJSON writes the view as one indented JSON document.
func WriteJSON(w io.Writer, v View) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// CSVHeader is the first record of WriteCSV.
var CSVHeader = []string{"deviceId", "moduleId", "status", "score", "heartbeat", "heartbeatAgeSeconds",
	"freshness", "connectionState", "failingChecks"}

// WriteCSV writes one record per device, for a spreadsheet: the counts by
// status, the ranking of failing checks and the stale devices are pivots
// of its status, failingChecks (space-separated check ids) and freshness
// columns.
func WriteCSV(w io.Writer, v View) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(CSVHeader); err != nil {
		return err
	}
	for _, d := range v.Devices {
		score, hb, age := "", "", ""
		if d.Score != nil {
			score = strconv.Itoa(*d.Score)
		}
		if d.Heartbeat != nil {
			hb = d.Heartbeat.Format(time.RFC3339)
			age = strconv.FormatInt(int64(time.Duration(d.Age)/time.Second), 10)
		}
		rec := []string{d.DeviceID, d.ModuleID, d.Status, score, hb, age, d.Freshness, d.ConnectionState,
			strings.Join(d.Failing, " ")}
		if err := cw.Write(rec); err != nil {
			return err
		}
	}
	cw.Flush()
	return cw.Error()
}

// MaxStaleRows caps the table's list of stale and silent devices: the
// oldest first, then a count of the rest (JSON and CSV list them all).
const MaxStaleRows = 20

// WriteTable writes the three parts of the view for a terminal: devices by
// status, failing checks ranked, stale and silent devices.
func WriteTable(w io.Writer, v View) error {
	ew := &errWriter{w: w}
	if v.Partial != nil {
		fmt.Fprintf(ew, "PARTIAL: the query failed after %d devices (%d pages): %s\n", v.Partial.DevicesRead, v.Partial.PagesRead, v.Partial.Error)
		fmt.Fprintln(ew, "The counts below leave out the devices of the pages not read.")
	}
	fmt.Fprintf(ew, "Module %q on %d devices, %s\n\n", v.Module, v.Total, v.GeneratedAt.Format(time.RFC3339))

	tw := tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "STATUS\tDEVICES")
	for _, r := range []struct {
		name string
		n    int
	}{{"ready", v.ByStatus.Ready}, {"degraded", v.ByStatus.Degraded}, {report.Incomplete, v.ByStatus.Incomplete},
		{"notReady", v.ByStatus.NotReady}, {"unknown", v.ByStatus.Unknown}} {
		if r.name == report.Incomplete && r.n == 0 {
			continue // reported only when a device's checks could not all be decided
		}
		fmt.Fprintf(tw, "%s\t%d\n", r.name, r.n)
	}
	_ = tw.Flush()
	fmt.Fprintln(ew, "(unknown: no readiness summary in the module twin)")

	fmt.Fprintln(ew)
	if len(v.Failing) == 0 {
		fmt.Fprintln(ew, "No check fails on any device.")
	} else {
		tw = tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "FAILING CHECK\tDEVICES\tERRORED\tSEVERITY")
		for _, c := range v.Failing {
			sev := c.Severity
			if sev == "" {
				sev = "-"
			}
			fmt.Fprintf(tw, "%s\t%d\t%d\t%s\n", c.ID, c.Devices, c.Errored, sev)
		}
		_ = tw.Flush()
	}
	if v.Truncated > 0 {
		fmt.Fprintf(ew, "(%d devices left failing findings out of their twin summary: these counts may be low)\n", v.Truncated)
	}

	fmt.Fprintln(ew)
	if len(v.Stale) == 0 {
		fmt.Fprintf(ew, "Every device reported within twice its heartbeat interval (default %s).\n", time.Duration(v.Heartbeat))
	} else {
		fmt.Fprintf(ew, "Stale or silent: %d devices (heartbeat older than twice the interval, default %s; or never reported)\n",
			len(v.Stale), time.Duration(v.Heartbeat))
		tw = tabwriter.NewWriter(ew, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, "DEVICE\tMODULE\tSTATUS\tLAST HEARTBEAT\tAGE\tCONNECTION")
		for _, d := range v.Stale[:min(len(v.Stale), MaxStaleRows)] {
			hb, age := "never reported", "-"
			if d.Heartbeat != nil {
				hb = d.Heartbeat.Format(time.RFC3339)
				age = time.Duration(d.Age).String()
			}
			conn := d.ConnectionState
			if conn == "" {
				conn = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", d.DeviceID, d.ModuleID, d.Status, hb, age, conn)
		}
		_ = tw.Flush()
		if more := len(v.Stale) - MaxStaleRows; more > 0 {
			fmt.Fprintf(ew, "... and %d more (never reported first, then the oldest heartbeat: --format csv or json lists every device)\n", more)
		}
	}
	return ew.err
}

// errWriter keeps the first write error, so that the table is written
// without checking each line.
type errWriter struct {
	w   io.Writer
	err error
}

func (e *errWriter) Write(p []byte) (int, error) {
	if e.err != nil {
		return 0, e.err
	}
	n, err := e.w.Write(p)
	e.err = err
	return n, err
}
