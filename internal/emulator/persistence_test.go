package emulator

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPersistenceAcrossRestart restarts the emulator on the same state
// directory, like a restart of edgeHub while IoT Hub keeps its state.
func TestPersistenceAcrossRestart(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	e1, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := e1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	id1, _ := e1.ModuleIdentity(testModule)
	ca1 := e1.TrustBundlePEM()
	if _, err := e1.UpdateDesired(testModule, map[string]any{"interval": "5m", "nested": map[string]any{"a": 1}}, false, ""); err != nil {
		t.Fatal(err)
	}
	if err := e1.acceptReported(testModule, []byte(`{"status":"ready","score":{"value":97}}`)); err != nil {
		t.Fatal(err)
	}
	e1.syncReportedModule(testModule)
	m, _ := newMessage(cfg.DeviceID, testModule, "%24.on=readiness&%24.ct=application%2Fjson&kind=report", []byte(`{"ok":true}`), e1.now())
	e1.recordMessage(m)
	tw1, _ := e1.GetTwin(testModule)
	if err := e1.Close(); err != nil {
		t.Fatal(err)
	}

	// No temporary files are left behind, and keys are private.
	entries, _ := os.ReadDir(cfg.StateDir)
	for _, en := range entries {
		if strings.Contains(en.Name(), ".tmp-") {
			t.Errorf("leftover temporary file %s", en.Name())
		}
	}
	for _, f := range []string{modulesFile, caKeyFile} {
		st, err := os.Stat(filepath.Join(cfg.StateDir, f))
		if err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v mode %v, want 0600", f, err, st.Mode().Perm())
		}
	}

	// Restart without naming the module: identities persist like in IoT Hub.
	cfg2 := cfg
	cfg2.Modules = nil
	e2 := startEmulator(t, cfg2)
	id2, ok := e2.ModuleIdentity(testModule)
	if !ok || id2 != id1 {
		t.Fatalf("module identity changed across restart")
	}
	if !bytes.Equal(e2.TrustBundlePEM(), ca1) {
		t.Fatal("Edge CA changed across restart")
	}
	if e2.ServerCertificate().SerialNumber.Cmp(e1.ServerCertificate().SerialNumber) == 0 {
		t.Fatal("edgeHub server certificate was not re-issued on start")
	}
	if err := e2.ServerCertificate().CheckSignatureFrom(e1.ca.cert); err != nil {
		t.Fatalf("new server certificate not issued by the persisted CA: %v", err)
	}
	tw2, err := e2.GetTwin(testModule)
	if err != nil {
		t.Fatal(err)
	}
	if tw2.Version != tw1.Version || tw2.Etag != tw1.Etag ||
		jsonString(t, tw2.Properties) != jsonString(t, tw1.Properties) {
		t.Fatalf("twin changed across restart:\n%s\n%s", jsonString(t, tw1), jsonString(t, tw2))
	}
	if tw2.Properties.Reported["status"] != "ready" || tw2.Properties.Desired["interval"] != "5m" {
		t.Fatalf("twin content lost: %s", jsonString(t, tw2.Properties))
	}
	msgs := e2.Messages(MessageFilter{})
	if len(msgs) != 1 || msgs[0].OutputName != "readiness" || msgs[0].ContentType != "application/json" ||
		msgs[0].Properties["kind"] != "report" || msgs[0].Body != `{"ok":true}` {
		t.Fatalf("messages lost: %+v", msgs)
	}
	next := e2.recordMessage(m)
	if next.Index != 2 {
		t.Fatalf("message index restarted: %d", next.Index)
	}

	// A new desired version continues from the persisted one.
	tw3, err := e2.UpdateDesired(testModule, map[string]any{"interval": "1m"}, false, "")
	if err != nil {
		t.Fatal(err)
	}
	if v := tw3.Properties.Desired["$version"]; jsonString(t, v) != "3" {
		t.Fatalf("desired $version after restart = %v, want 3", v)
	}
}

func TestExplicitModuleKeyOverridesPersistedKey(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	if _, err := New(cfg); err != nil {
		t.Fatal(err)
	}
	key := newModuleKey()
	cfg.Modules = map[string]ModuleIdentity{testModule: {Key: key, GenerationID: "42"}}
	e, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if id, _ := e.ModuleIdentity(testModule); id.Key != key || id.GenerationID != "42" {
		t.Fatalf("explicit identity not used")
	}
	cfg.Modules = map[string]ModuleIdentity{testModule: {Key: "not base64!"}}
	if _, err := New(cfg); err == nil {
		t.Fatal("invalid key accepted")
	}
}
