package sink

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/edge-readiness/edge-readiness/internal/report"
)

// Sender is what the D2C sink needs of the IoT Hub connection.
type Sender interface {
	// Send sends body on output; contentEncoding is "utf-8" or "gzip".
	Send(ctx context.Context, output string, body []byte, props map[string]string, contentEncoding string) error
}

// Message types (application property messageType).
const (
	TypeReport = "report"
	TypeChange = "change"
)

// D2C defaults.
const (
	DefaultOutput   = "readiness"
	DefaultMaxQueue = 200
)

// D2C sends device-to-cloud messages on an edgeHub output: a change message
// per changed finding (small, uncompressed), and the full report when it is
// due (a change, or the daily cadence; not at the heartbeat nor after a
// reconnection, when only what was queued is sent). The report's passing
// findings are folded per check, and the body is gzip-compressed unless
// the event says otherwise. Messages wait in a bounded queue while
// edgeHub is unreachable; only the latest report is kept, and when the queue
// is full the oldest change messages are dropped and counted in the notes of
// the next report sent.
type D2C struct {
	hub     Sender
	output  string
	max     int
	queue   []message
	dropped int
}

type message struct {
	kind     string
	body     []byte         // change messages
	rep      *report.Report // report messages: marshalled when sent, with the drop count of that moment
	compress bool           // report messages: gzip the body
	props    map[string]string
}

// ChangeMessage is the body of a change message.
type ChangeMessage struct {
	SchemaVersion string        `json:"schemaVersion"`
	GeneratedAt   time.Time     `json:"generatedAt"`
	Device        report.Device `json:"device"`
	Status        string        `json:"status"` // the device's status after the change
	Change        report.Change `json:"change"`
}

// NewD2C returns a D2C sink sending on output through h, queueing at most
// maxQueue messages. Zero values take the defaults.
func NewD2C(h Sender, output string, maxQueue int) *D2C {
	if output == "" {
		output = DefaultOutput
	}
	if maxQueue <= 0 {
		maxQueue = DefaultMaxQueue
	}
	return &D2C{hub: h, output: output, max: maxQueue}
}

var _ Sink = (*D2C)(nil)

// Name implements Sink.
func (*D2C) Name() string { return "d2c" }

// Pending is the number of queued messages.
func (m *D2C) Pending() int { return len(m.queue) }

// Dropped is the number of change messages dropped and not yet told in a report sent.
func (m *D2C) Dropped() int { return m.dropped }

// Publish queues ev's messages and sends the queue, oldest first; what
// cannot be sent stays queued for the next event.
func (m *D2C) Publish(ctx context.Context, ev Event) error {
	if rep := ev.Report; rep != nil {
		for _, c := range ev.Changes {
			body, err := json.Marshal(ChangeMessage{SchemaVersion: report.SchemaVersion, GeneratedAt: rep.GeneratedAt,
				Device: rep.Device, Status: rep.Summary.Status, Change: c})
			if err != nil {
				continue
			}
			m.enqueue(message{kind: TypeChange, body: body, props: map[string]string{
				"messageType": TypeChange, "status": rep.Summary.Status, "checkId": c.ID, "findingStatus": c.To}})
		}
		if ev.ReportDue {
			m.enqueueReport(rep, ev.CompressReport)
		}
	}
	return m.flush(ctx)
}

func (m *D2C) enqueueReport(rep *report.Report, compress bool) {
	// Only the latest report matters: replace a queued older one.
	kept := m.queue[:0]
	for _, q := range m.queue {
		if q.kind != TypeReport {
			kept = append(kept, q)
		}
	}
	m.queue = kept
	m.enqueue(message{kind: TypeReport, rep: rep, compress: compress,
		props: map[string]string{"messageType": TypeReport, "status": rep.Summary.Status}})
}

func (m *D2C) enqueue(msg message) {
	m.queue = append(m.queue, msg)
	for len(m.queue) > m.max {
		i := 0
		for i < len(m.queue)-1 && m.queue[i].kind != TypeChange {
			i++
		}
		m.queue = append(m.queue[:i], m.queue[i+1:]...)
		m.dropped++
	}
}

// flush sends the queue until it is empty or a send fails. A report that
// cannot fit the message size limit is dropped with the error.
func (m *D2C) flush(ctx context.Context) error {
	var errs []error
	for len(m.queue) > 0 {
		msg := m.queue[0]
		body, dropped, encoding := msg.body, 0, "utf-8"
		if msg.kind == TypeReport {
			r := Folded(msg.rep)
			if dropped = m.dropped; dropped > 0 {
				r.Notes = append(append([]string(nil), r.Notes...),
					fmt.Sprintf("%d change messages were dropped while edgeHub was unreachable", dropped))
			}
			var err error
			if body, encoding, err = reportBody(r, msg.compress); err != nil {
				errs = append(errs, fmt.Errorf("report not sent: %w", err))
				m.queue = m.queue[1:]
				continue
			}
		}
		if err := m.hub.Send(ctx, m.output, body, msg.props, encoding); err != nil {
			errs = append(errs, fmt.Errorf("%d messages not sent: %w", len(m.queue), err))
			break
		}
		m.dropped -= dropped
		m.queue = m.queue[1:]
	}
	return errors.Join(errs...)
}

// reportBody encodes a report message within IoT Hub's size limit on the
// wire: gzip-compressed JSON when compress is set, trimmed (and saying so in
// its notes) only when even that does not fit.
func reportBody(r *report.Report, compress bool) ([]byte, string, error) {
	if !compress {
		b, err := Fit(r, MessageLimit)
		return b, "utf-8", err
	}
	b, err := json.Marshal(r)
	if err != nil {
		return nil, "", err
	}
	gz, err := gzipped(b)
	if err != nil {
		return nil, "", err
	}
	if len(gz) <= MessageLimit {
		return gz, "gzip", nil
	}
	// Trim the JSON to the limit, then compress what is left.
	if b, err = Fit(r, MessageLimit); err != nil {
		return nil, "", err
	}
	gz, err = gzipped(b)
	return gz, "gzip", err
}

func gzipped(b []byte) ([]byte, error) {
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	if _, err := zw.Write(b); err != nil {
		return nil, err
	}
	if err := zw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
