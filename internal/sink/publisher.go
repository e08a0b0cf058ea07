package sink

import (
	"context"
	"errors"
	"fmt"

	"github.com/edge-readiness/edge-readiness/internal/redact"
)

// Publisher hands each event to its sinks, in order, after scrubbing it once:
// the report, the changes and the policy acknowledgement reach a sink with
// every known secret and secret-looking text masked.
type Publisher struct {
	scrub *redact.Scrubber
	sinks []Sink
}

// NewPublisher returns a Publisher for sinks. A nil scrubber still masks what
// its patterns catch (SAS tokens, keys, connection strings, URL credentials).
func NewPublisher(scrub *redact.Scrubber, sinks ...Sink) *Publisher {
	if scrub == nil {
		scrub = redact.NewScrubber()
	}
	return &Publisher{scrub: scrub, sinks: sinks}
}

// Publish scrubs ev and publishes it to every sink, even after one fails. The
// error names each sink that failed.
func (p *Publisher) Publish(ctx context.Context, ev Event) error {
	ev = p.scrubbed(ev)
	var errs []error
	for _, s := range p.sinks {
		if err := s.Publish(ctx, ev); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", s.Name(), err))
		}
	}
	return errors.Join(errs...)
}

// scrubbed returns ev with its report, changes and acknowledgement scrubbed.
// Reported is what the upstream already holds and Rules the catalog's own
// text (a check that describes secrets, "sig=...", must stay readable):
// both are left as they are.
func (p *Publisher) scrubbed(ev Event) Event {
	reported, rules := ev.Reported, ev.Rules
	ev.Reported, ev.Rules = nil, nil
	ev = Scrub(p.scrub, ev)
	ev.Reported, ev.Rules = reported, rules
	return ev
}
