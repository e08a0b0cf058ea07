package sink

import (
	"encoding/json"
	"fmt"

	"github.com/edge-readiness/edge-readiness/internal/checks"
	"github.com/edge-readiness/edge-readiness/internal/report"
)

// MessageLimit is IoT Hub's device-to-cloud message size limit; MethodLimit
// the direct-method payload limit. Fit aims a little under them for the
// envelope.
const (
	MessageLimit = 256*1024 - 4*1024
	MethodLimit  = 128*1024 - 4*1024
)

// Fit marshals r within limit bytes, trimming in steps and saying so in
// Notes: evidence of passing and skipped findings, then passing and skipped
// findings, then all evidence, then the tail of the findings.
func Fit(r *report.Report, limit int) ([]byte, error) {
	b, err := json.Marshal(r)
	if err != nil || len(b) <= limit {
		return b, err
	}
	c := *r
	c.Findings = append([]checks.Finding(nil), r.Findings...)
	c.Notes = append([]string(nil), r.Notes...)
	steps := []func(){
		func() {
			for i := range c.Findings {
				if c.Findings[i].Status == checks.Pass || c.Findings[i].Status == checks.Skip {
					c.Findings[i].Evidence = nil
				}
			}
			c.Notes = append(c.Notes, "evidence of passing and skipped findings left out to fit the message size limit")
		},
		func() {
			kept := c.Findings[:0:0]
			n := 0
			for _, f := range c.Findings {
				if f.Status == checks.Fail || f.Status == checks.Error {
					kept = append(kept, f)
				} else {
					n++
				}
			}
			c.Findings = kept
			c.Notes = append(c.Notes, fmt.Sprintf("%d passing and skipped findings left out to fit the message size limit", n))
		},
		func() {
			for i := range c.Findings {
				c.Findings[i].Evidence = nil
				c.Findings[i].Remediation = ""
			}
			c.Notes = append(c.Notes, "all evidence and remediation text left out to fit the message size limit")
		},
	}
	for _, step := range steps {
		step()
		if b, err = json.Marshal(&c); err != nil || len(b) <= limit {
			return b, err
		}
	}
	total := len(c.Findings)
	for len(c.Findings) > 0 {
		c.Findings = c.Findings[:len(c.Findings)*3/4]
		notes := append(append([]string(nil), c.Notes...), fmt.Sprintf("only %d of %d failing findings fit the message size limit", len(c.Findings), total))
		cc := c
		cc.Notes = notes
		if b, err = json.Marshal(&cc); err != nil || len(b) <= limit {
			return b, err
		}
	}
	return b, fmt.Errorf("report does not fit in %d bytes even without findings", limit)
}
