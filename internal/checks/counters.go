package checks

import (
	"fmt"
	"math"
	"sort"
	"strings"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// counterDelta is how much the counters named name (matching match) grew
// between the previous scrape and this one. A series whose process restarted
// (its instance_number label changed, or its value went down) counts from
// zero: a counter reset is never a negative rate. baseline is false when
// there is no previous scrape to compare with.
func counterDelta(prev, cur *facts.Scrape, name string, match map[string]string) (delta float64, baseline bool, resets int) {
	if !prev.OK() || !cur.OK() {
		return 0, false, 0
	}
	type series struct {
		instance string
		value    float64
	}
	before := map[string]series{}
	for _, s := range prev.Find(name, match) {
		before[seriesKey(s.Labels)] = series{s.Labels["instance_number"], s.Value}
	}
	for _, s := range cur.Find(name, match) {
		if math.IsNaN(s.Value) {
			continue
		}
		p, ok := before[seriesKey(s.Labels)]
		switch {
		case !ok:
			// A series that appeared since: it counted from zero.
			delta += s.Value
		case p.instance != s.Labels["instance_number"] || s.Value < p.value:
			resets++
			delta += s.Value
		default:
			delta += s.Value - p.value
		}
	}
	return delta, true, resets
}

// seriesKey identifies a series across process restarts: its labels less instance_number.
func seriesKey(labels map[string]string) string {
	keys := make([]string, 0, len(labels))
	for k := range labels {
		if k != "instance_number" {
			keys = append(keys, k)
		}
	}
	sort.Strings(keys)
	var b strings.Builder
	for _, k := range keys {
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(labels[k])
		b.WriteByte(',')
	}
	return b.String()
}

// gaugeSum sums the gauges named name matching match (NaN skipped).
func gaugeSum(s *facts.Scrape, name string, match map[string]string) (float64, bool) {
	var sum float64
	found := false
	for _, smp := range s.Find(name, match) {
		if !math.IsNaN(smp.Value) {
			sum += smp.Value
			found = true
		}
	}
	return sum, found
}

func prevScrape(in *Input, name string) *facts.Scrape {
	if in.Prev == nil {
		return nil
	}
	return in.Prev.Metrics[name]
}

const noBaseline = "first cycle: no baseline yet to compare counters with; the next cycle will tell"

// counterCheck builds a check that fails when counters grew since the last cycle.
func counterCheck(meta Meta, source string, counters []counterSpec) *Check {
	meta.History = max(meta.History, 1) // the previous cycle's counters
	return &Check{Meta: meta, Eval: func(in *Input) []Result {
		cur := in.Snap.Metrics[source]
		prev := prevScrape(in, source)
		var grew []string
		ev := map[string]any{}
		totalResets := 0
		for _, c := range counters {
			d, baseline, resets := counterDelta(prev, cur, c.name, c.match)
			if !baseline {
				msg := noBaseline
				if in.Prev != nil {
					msg = "the previous cycle has no usable " + source + " metrics: nothing to compare counters with yet"
				}
				return []Result{pass("", "%s", msg).with("baseline", false)}
			}
			if c.exclude != nil {
				dx, _, _ := counterDelta(prev, cur, c.name, c.exclude)
				d -= dx
			}
			totalResets += resets
			ev[c.label] = d
			if d > 0 {
				grew = append(grew, fmt.Sprintf("%.0f %s", d, c.label))
				if d == 1 {
					grew[len(grew)-1] = "1 " + c.one
				}
			}
		}
		r := Result{Evidence: ev}.with("since", in.Prev.Time).with("counterResets", totalResets)
		if len(grew) > 0 {
			r.Status, r.Message = Fail, fmt.Sprintf("since the last cycle: %s", strings.Join(grew, ", "))
		} else {
			r.Status, r.Message = Pass, "no growth since the last cycle"
			if totalResets > 0 {
				r.Message += " (the process restarted: counters reset)"
			}
		}
		return []Result{r}
	}}
}

type counterSpec struct {
	name    string
	match   map[string]string
	exclude map[string]string // a subset of match to subtract
	label   string            // plural: "messages dropped"
	one     string            // singular: "message dropped"
}
