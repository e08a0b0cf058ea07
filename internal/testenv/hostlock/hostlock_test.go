package hostlock

import (
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

func TestEdgeHubHostsAreDistinctAndListenable(t *testing.T) {
	seen := map[string]bool{}
	for i := 0; i < 3; i++ {
		host := EdgeHubHost(t)
		if seen[host] {
			t.Fatalf("%s reserved twice", host)
		}
		seen[host] = true
		if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() || host == "127.0.0.1" {
			t.Fatalf("%s: want a loopback address other than 127.0.0.1", host)
		}
		l, err := net.Listen("tcp", net.JoinHostPort(host, EdgeHubPort))
		if err != nil {
			t.Fatalf("listening on the reserved %s: %v", host, err)
		}
		l.Close()
	}
}

func TestReleasedHostIsReservedAgain(t *testing.T) {
	host, release, err := reserve(42)
	if err != nil {
		t.Fatal(err)
	}
	other, release2, err := reserve(42)
	if err != nil {
		t.Fatal(err)
	}
	if other == host {
		t.Fatalf("%s handed out while held", host)
	}
	release2()
	release()
	again, release3, err := reserve(42)
	if err != nil {
		t.Fatal(err)
	}
	defer release3()
	if again != host {
		t.Errorf("after release, reserve(42) = %s, want %s again", again, host)
	}
}

func TestModulesTakeTurns(t *testing.T) {
	var holders, most atomic.Int32
	done := make(chan struct{})
	for i := 0; i < 3; i++ {
		go func() {
			defer func() { done <- struct{}{} }()
			t.Run("", func(t *testing.T) {
				Modules(t)
				n := holders.Add(1)
				if n > most.Load() {
					most.Store(n)
				}
				time.Sleep(20 * time.Millisecond)
				holders.Add(-1)
			})
		}()
	}
	for i := 0; i < 3; i++ {
		<-done
	}
	if most.Load() != 1 {
		t.Errorf("%d tests held the engine's module names at once, want 1", most.Load())
	}
}

func TestModulesLockPerEngine(t *testing.T) {
	for _, c := range []struct{ a, b string }{
		{"", DefaultDockerHost},
		{"unix:///run/edge-readiness-engine2/docker.sock", "unix:///run/edge-readiness-engine2/docker.sock"},
	} {
		if modulesLockName(c.a) != modulesLockName(c.b) {
			t.Errorf("%q and %q are the same engine but have locks %q and %q", c.a, c.b, modulesLockName(c.a), modulesLockName(c.b))
		}
	}
	names := map[string]string{}
	for _, host := range []string{DefaultDockerHost, "unix:///run/edge-readiness-engine2/docker.sock", "tcp://127.0.0.1:2375"} {
		name := modulesLockName(host)
		if other, dup := names[name]; dup {
			t.Errorf("%q and %q share the lock %q", host, other, name)
		}
		names[name] = host
		if strings.ContainsAny(name, "/:") {
			t.Errorf("lock name %q of %q is not a plain file name", name, host)
		}
	}
}

// TestModulesOfTwoEnginesAtOnce holds the module names of one engine and
// takes another's without waiting, while a second taker of the first
// engine's waits until they are released.
func TestModulesOfTwoEnginesAtOnce(t *testing.T) {
	one, two := "unix:///nonexistent/hostlock-test-one.sock", "unix:///nonexistent/hostlock-test-two.sock"
	// took takes and releases an engine's names in a subtest, and closes
	// the channel once that subtest has returned.
	took := func(engine string) <-chan struct{} {
		ch := make(chan struct{})
		go func() {
			defer close(ch)
			t.Run("", func(t *testing.T) { modules(t, engine) })
		}()
		return ch
	}
	var sameEngine <-chan struct{}
	t.Run("holder", func(t *testing.T) {
		modules(t, one)
		select {
		case <-took(two):
		case <-time.After(10 * time.Second):
			t.Fatalf("taking the names of %s waited while %s's were held", two, one)
		}
		sameEngine = took(one)
		select {
		case <-sameEngine:
			t.Fatalf("the names of %s were taken twice at once", one)
		case <-time.After(200 * time.Millisecond):
		}
	})
	select {
	case <-sameEngine:
	case <-time.After(10 * time.Second):
		t.Fatalf("the names of %s were not taken once released", one)
	}
}
