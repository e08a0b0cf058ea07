package checks

import (
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
