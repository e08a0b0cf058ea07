package hostlock

import (
	"net"
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
