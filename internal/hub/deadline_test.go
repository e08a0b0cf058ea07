package hub

import (
	"context"
	"errors"
	"net"
	"strings"
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
	deadline := time.Now().Add(60 * time.Second)
	for {
		l, err := net.Listen("tcp", "127.0.0.1:8883")
		if err == nil {
			l.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("port 8883 is taken: %v", err)
		}
		time.Sleep(200 * time.Millisecond)
	}
	emu, err := emulator.New(emulator.Config{StateDir: t.TempDir(), MQTTAddr: "127.0.0.1:8883", ServiceAddr: "127.0.0.1:0",
		Modules: map[string]emulator.ModuleIdentity{"readiness": {}},
		EdgeHub: emulator.EdgeHubConfig{OfflineTwinDelay: 3 * time.Second}})
	if err != nil {
		t.Fatal(err)
	}
	if err := emu.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	defer emu.Close()
	envList, err := emu.ModuleEnv("readiness")
	if err != nil {
		t.Fatal(err)
	}
	vars := map[string]string{}
	for _, kv := range envList {
		k, v, _ := strings.Cut(kv, "=")
		vars[k] = v
	}
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
