package hub

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/edgeenv"
	"github.com/edge-readiness/edge-readiness/internal/emulator"
	"github.com/edge-readiness/edge-readiness/internal/testenv"
)

// TestCallsHaveDeadlines: with IoT Hub unreachable, edgeHub takes a minute
// or more to answer a twin read (3 s here); the module's call gives up at
// its deadline instead of waiting, and works again once the hub is back
// (edgeHub answers a module's twin requests in order: the next read waits
// for the slow one to end, within its own deadline).
func TestCallsHaveDeadlines(t *testing.T) {
	testenv.SkipIfShort(t, "needs port 8883 for the emulator")
	emu := testenv.StartEmulator(t, emulator.Config{EdgeHub: emulator.EdgeHubConfig{OfflineTwinDelay: 3 * time.Second}})
	vars := testenv.ModuleEnv(t, emu, "readiness")
	edge, err := edgeenv.Load(func(k string) string { return vars[k] })
	if err != nil {
		t.Fatal(err)
	}
	c, err := Dial(context.Background(), edge, emu.CertPool(), zerolog.Nop())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if _, _, err := c.Twin(context.Background()); err != nil {
		t.Fatalf("online twin read: %v", err)
	}

	c.timeout = 500 * time.Millisecond
	emu.SetOffline(true)
	done := make(chan error, 1)
	go func() {
		_, _, err := c.Twin(context.Background()) // no deadline of the caller's: the client's own applies
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Errorf("offline twin read = %v, want the call's deadline", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("the twin read waited for edgeHub's answer: no deadline")
	}
	emu.SetOffline(false)
	c.timeout = DefaultCallTimeout
	if _, _, err := c.Twin(context.Background()); err != nil {
		t.Errorf("twin read after the hub came back: %v", err)
	}
}
