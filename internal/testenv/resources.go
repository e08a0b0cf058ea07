package testenv

import (
	"fmt"
	"os"
	"runtime"
	"runtime/metrics"
	"testing"
)

// Resources is what a long-running process holds: the figures a leak makes
// grow. Take them with TakeResources, which collects garbage first.
type Resources struct {
	FDs        int    // open file descriptors (/proc/self/fd)
	Goroutines int    // live goroutines
	LiveHeap   uint64 // bytes of heap reachable after the last GC (/gc/heap/live:bytes)
}

func (r Resources) String() string {
	return fmt.Sprintf("%d fds, %d goroutines, %.1f KB live heap", r.FDs, r.Goroutines, float64(r.LiveHeap)/1024)
}

// TakeResources runs two garbage collections and reads the process's
// descriptors, goroutines and live heap.
func TakeResources(t testing.TB) Resources {
	t.Helper()
	runtime.GC()
	runtime.GC()
	samples := []metrics.Sample{{Name: "/gc/heap/live:bytes"}, {Name: "/sched/goroutines:goroutines"}}
	metrics.Read(samples)
	var r Resources
	for _, s := range samples {
		if s.Value.Kind() != metrics.KindUint64 {
			t.Fatalf("runtime/metrics: %s is not supported by this Go", s.Name)
		}
	}
	r.LiveHeap = samples[0].Value.Uint64()
	r.Goroutines = int(samples[1].Value.Uint64())
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatalf("counting open descriptors: %v", err)
	}
	r.FDs = len(fds) - 1 // less the one ReadDir had open
	return r
}

// Bound is how much a resource may grow between the baseline and the end of
// a run before it counts as a leak.
type Bound struct {
	FDs        int
	Goroutines int
	LiveHeap   uint64
}

// Exceeds names every figure of r that grew past base by more than b.
func (r Resources) Exceeds(base Resources, b Bound) []string {
	var out []string
	if r.FDs > base.FDs+b.FDs {
		out = append(out, fmt.Sprintf("open descriptors grew from %d to %d (bound +%d)", base.FDs, r.FDs, b.FDs))
	}
	if r.Goroutines > base.Goroutines+b.Goroutines {
		out = append(out, fmt.Sprintf("goroutines grew from %d to %d (bound +%d)", base.Goroutines, r.Goroutines, b.Goroutines))
	}
	if r.LiveHeap > base.LiveHeap+b.LiveHeap {
		out = append(out, fmt.Sprintf("live heap grew from %.1f KB to %.1f KB (bound +%.0f KB)",
			float64(base.LiveHeap)/1024, float64(r.LiveHeap)/1024, float64(b.LiveHeap)/1024))
	}
	return out
}
