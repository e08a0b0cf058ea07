package emulator

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	paho "github.com/eclipse/paho.mqtt.golang"
)

// Each test here asserts one of edgeHub's behaviours the emulator
// reproduces (README.md, "edgeHub behaviour").

// lostRecorder records the connection-lost error of a paho client.
type lostRecorder struct {
	mu  sync.Mutex
	err error
}

func (l *lostRecorder) set(err error) { l.mu.Lock(); l.err = err; l.mu.Unlock() }
func (l *lostRecorder) get() error    { l.mu.Lock(); defer l.mu.Unlock(); return l.err }

func moduleToken(t *testing.T, e *Emulator, module string, expiry time.Time) string {
	t.Helper()
	id, _ := e.ModuleIdentity(module)
	tok, err := NewModuleSASToken(id.Key, e.cfg.IoTHubHostname, e.cfg.DeviceID, module, expiry)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

// A7: live connections are re-authenticated periodically and closed when
// their token has expired (expiry plus the clock skew); a long-lived token
// stays connected.
func TestReauthenticationDropsExpiredConnections(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Modules["other"] = ModuleIdentity{}
	cfg.EdgeHub.ReauthPeriod = 100 * time.Millisecond
	cfg.EdgeHub.TokenClockSkew = time.Second
	e := startEmulator(t, cfg)

	var short, long lostRecorder
	expiry := time.Unix(time.Now().Add(2*time.Second).Unix(), 0) // tokens carry whole seconds
	if _, err := pahoConnect(t, e, testModule, moduleToken(t, e, testModule, expiry), short.set); err != nil {
		t.Fatal(err)
	}
	if _, err := pahoConnect(t, e, "other", "", long.set); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "the expired connection to be closed", func() bool { return short.get() != nil })
	// Not before the expiry plus the skew.
	if since := time.Since(expiry); since < time.Second {
		t.Fatalf("closed %s after the expiry, before the 1 s skew", since)
	}
	conns := e.Connections()
	if len(conns) != 1 || conns[0].ModuleID != "other" || long.get() != nil {
		t.Fatalf("connections after re-authentication: %+v (other lost: %v)", conns, long.get())
	}
}

// TokenMaxAge makes every token expire soon after its connection: a client
// that reconnects with a fresh one-hour token each time sees many expiries
// in a short test.
func TestTokenMaxAgeRepeatsExpiries(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EdgeHub.ReauthPeriod = 50 * time.Millisecond
	cfg.EdgeHub.TokenMaxAge = 300 * time.Millisecond
	e := startEmulator(t, cfg)
	for i := 0; i < 3; i++ {
		var lost lostRecorder
		start := time.Now()
		if _, err := pahoConnect(t, e, testModule, "", lost.set); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
		waitFor(t, 10*time.Second, "the token to expire", func() bool { return lost.get() != nil })
		if d := time.Since(start); d < 300*time.Millisecond {
			t.Fatalf("connection %d closed after %s, before TokenMaxAge", i, d)
		}
	}
	waitFor(t, 5*time.Second, "the disconnections", func() bool {
		return strings.Contains(e.MetricsText(), `edgehub_client_disconnect_total{iothub="emulated-hub.azure-devices.net",edge_device="device1",instance_number="`+e.instanceID+`",id="device1/readiness",ms_telemetry="False"} 3`)
	})
}

// F: server-to-client publications go at min(subscription QoS, 1); PUBACKs
// are expected in order: an out-of-order one is logged and ignored, and the
// publication it skipped stays pending.
func TestServerToClientQoS1AndPubackOrder(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	c := rawDial(t, e, testModule)
	if rc := c.subscribe(1, "$iothub/twin/res/#", 1); rc != 1 {
		t.Fatalf("SUBACK %d, want granted QoS 1", rc)
	}
	if rc := c.subscribe(2, "$iothub/twin/PATCH/properties/desired/#", 0); rc != 0 {
		t.Fatalf("SUBACK %d", rc)
	}
	c.publish("$iothub/twin/GET/?$rid=1", 0, 0, false, nil)
	c.publish("$iothub/twin/GET/?$rid=2", 0, 0, false, nil)
	r1, r2 := c.readPublish(), c.readPublish()
	if r1.qos != 1 || r2.qos != 1 || r1.packetID == 0 || r1.packetID == r2.packetID || r1.topic != "$iothub/twin/res/200/?$rid=1" {
		t.Fatalf("twin responses %+v %+v: want QoS 1 with distinct packet ids", r1, r2)
	}
	pending := func() (int, int64) {
		cs := e.Connections()
		if len(cs) != 1 {
			t.Fatalf("connections %+v", cs)
		}
		return cs[0].UnackedPublishes, cs[0].OutOfOrderPubacks
	}
	if n, _ := pending(); n != 2 {
		t.Fatalf("%d publications pending, want 2", n)
	}
	// PUBACK the second first: ignored, both stay pending.
	c.puback(r2.packetID)
	waitFor(t, 5*time.Second, "the out-of-order PUBACK", func() bool { _, o := pending(); return o == 1 })
	if n, _ := pending(); n != 2 {
		t.Fatalf("%d pending after an out-of-order PUBACK, want 2", n)
	}
	// Then the first: acknowledged; the second stays pending for good.
	c.puback(r1.packetID)
	waitFor(t, 5*time.Second, "the in-order PUBACK", func() bool { n, _ := pending(); return n == 1 })

	// A QoS 0 subscription gets QoS 0.
	if _, err := e.UpdateDesired(testModule, map[string]any{"x": 1}, false, ""); err != nil {
		t.Fatal(err)
	}
	if d := c.readPublish(); d.qos != 0 || !strings.HasPrefix(d.topic, "$iothub/twin/PATCH/properties/desired/") {
		t.Fatalf("desired push %+v: want QoS 0", d)
	}
}

// D2: an accepted reported patch is answered 204 at once and reaches the
// hub later; a twin read shows the hub's twin, which lags behind; a patch
// without $rid is applied and not answered.
func TestReportedPatchSyncedAsynchronously(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EdgeHub.ReportedSyncInterval = time.Hour // after the first sync, nothing more for the test's life
	e := startEmulator(t, cfg)
	c, err := pahoConnect(t, e, testModule, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	subscribe(t, c, "$iothub/twin/res/#", in.handler)
	if err := publish(t, c, "$iothub/twin/PATCH/properties/reported/?$rid=1", 1, `{"first":1}`); err != nil {
		t.Fatal(err)
	}
	if m := in.next(t, "first patch answer"); m.Topic() != "$iothub/twin/res/204/?$rid=1" {
		t.Fatalf("answer %q", m.Topic())
	}
	waitFor(t, 5*time.Second, "the first sync", func() bool { return e.PendingReported(testModule) == nil })
	if err := publish(t, c, "$iothub/twin/PATCH/properties/reported/?$rid=2", 1, `{"second":2}`); err != nil {
		t.Fatal(err)
	}
	if m := in.next(t, "second patch answer"); m.Topic() != "$iothub/twin/res/204/?$rid=2" {
		t.Fatalf("answer %q", m.Topic())
	}
	// Without $rid: applied, no answer.
	if err := publish(t, c, "$iothub/twin/PATCH/properties/reported/", 1, `{"third":3}`); err != nil {
		t.Fatal(err)
	}
	if err := publish(t, c, "$iothub/twin/GET/?$rid=3", 1, ""); err != nil {
		t.Fatal(err)
	}
	m := in.next(t, "twin")
	var doc struct{ Reported map[string]any }
	if m.Topic() != "$iothub/twin/res/200/?$rid=3" || json.Unmarshal(m.Payload(), &doc) != nil {
		t.Fatalf("twin %q %s", m.Topic(), m.Payload())
	}
	if doc.Reported["first"] != float64(1) || doc.Reported["second"] != nil || doc.Reported["third"] != nil {
		t.Fatalf("twin read shows %v: want the hub's twin, without the patches not yet synced", doc.Reported)
	}
	if p := e.PendingReported(testModule); jsonString(t, p) != `{"second":2,"third":3}` {
		t.Fatalf("pending %s", jsonString(t, p))
	}
	e.syncReported() // the next sync pushes both as one update
	tw, _ := e.GetTwin(testModule)
	if jsonString(t, tw.Properties.Reported["second"]) != "2" || jsonString(t, tw.Properties.Reported["third"]) != "3" {
		t.Fatalf("after the sync: %s", jsonString(t, tw.Properties.Reported))
	}
	if b := e.Billing(); b.Operations[BillReportedPatch] != 2 {
		t.Fatalf("%d reported updates billed, want 2 (one per sync)", b.Operations[BillReportedPatch])
	}
}

// D2: when the hub rejects the merged patch (the reported section over its
// 32 KB), edgeHub still answered 204; the patch stays pending and every later
// patch is merged into it and stuck with it.
func TestReportedSyncFailureSticks(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EdgeHub.ReportedSyncInterval = 20 * time.Millisecond
	e := startEmulator(t, cfg)
	c, err := pahoConnect(t, e, testModule, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	subscribe(t, c, "$iothub/twin/res/#", in.handler)
	big := func(key string) string { return fmt.Sprintf(`{"%s":{%s}}`, key, bigObject(3)) } // 12 KB each
	for i, body := range []string{big("a"), big("b"), big("c"), `{"small":1}`} {
		rid := fmt.Sprint(i + 1)
		if err := publish(t, c, "$iothub/twin/PATCH/properties/reported/?$rid="+rid, 1, body); err != nil {
			t.Fatal(err)
		}
		if m := in.next(t, "patch answer"); m.Topic() != "$iothub/twin/res/204/?$rid="+rid {
			t.Fatalf("patch %d answered %q: edgeHub answers 204 before the hub sees it", i, m.Topic())
		}
		time.Sleep(100 * time.Millisecond) // a few sync rounds
	}
	tw, _ := e.GetTwin(testModule)
	if tw.Properties.Reported["a"] == nil || tw.Properties.Reported["b"] == nil || tw.Properties.Reported["c"] != nil || tw.Properties.Reported["small"] != nil {
		t.Fatalf("hub's reported keys: %v", keys(tw.Properties.Reported))
	}
	p := e.PendingReported(testModule)
	if p["c"] == nil || p["small"] == nil {
		t.Fatalf("pending keys %v: want c and small stuck together", keys(p))
	}
}

func keys(m map[string]any) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

// B3: a direct-method subscription takes effect only after the delay; a
// call before it gets 404 (no connect timeout) or waits (connect timeout).
func TestMethodSubscriptionDelay(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EdgeHub.MethodSubscriptionDelay = time.Second
	e := startEmulator(t, cfg)
	c, err := pahoConnect(t, e, testModule, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	// Taken before the SUBSCRIBE is sent: the emulator starts the delay when
	// it reads the packet, which is no earlier than this.
	subscribedAt := time.Now()
	c.Subscribe("$iothub/methods/POST/#", 0, func(pc paho.Client, m paho.Message) {
		rid := strings.TrimPrefix(m.Topic(), "$iothub/methods/POST/ping/?$rid=")
		pc.Publish("$iothub/methods/res/200/?$rid="+rid, 0, false, `{"pong":true}`)
	}).Wait()
	if e.IsSubscribed(testModule, "$iothub/methods/POST/ping/?$rid=1") {
		t.Fatal("method subscription effective at once")
	}
	if _, err := e.InvokeMethod(context.Background(), testModule, MethodRequest{MethodName: "ping"}); !errors.Is(err, ErrModuleNotOnline) {
		t.Fatalf("call right after SUBSCRIBE without connect timeout: %v, want %v", err, ErrModuleNotOnline)
	}
	five := 5
	res, err := e.InvokeMethod(context.Background(), testModule, MethodRequest{MethodName: "ping", ConnectTimeoutInSeconds: &five})
	if err != nil || res.Status != 200 {
		t.Fatalf("call with a connect timeout: %+v %v", res, err)
	}
	if d := time.Since(subscribedAt); d < time.Second {
		t.Fatalf("answered %s after SUBSCRIBE, before the 1 s delay", d)
	}
	if cs := e.Connections(); len(cs) != 1 || cs[0].MethodsActiveAt == nil {
		t.Fatalf("connections %+v", cs)
	}
}

// D1, C7, D3: offline, a twin read is slow and served from edgeHub's store,
// telemetry is acknowledged and stored, reported patches stay pending,
// desired changes and methods do not reach the module; back online, all of
// it flows.
func TestOfflineMode(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EdgeHub.OfflineTwinDelay = 300 * time.Millisecond
	cfg.EdgeHub.MinTwinSyncPeriod = -1 // re-read the twin on reconnection however recent
	e := startEmulator(t, cfg)
	if _, err := e.UpdateDesired(testModule, map[string]any{"interval": "1m"}, false, ""); err != nil {
		t.Fatal(err)
	}
	c, err := pahoConnect(t, e, testModule, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	in, desired := newInbox(), newInbox()
	subscribe(t, c, "$iothub/twin/res/#", in.handler)
	subscribe(t, c, "$iothub/twin/PATCH/properties/desired/#", desired.handler)
	getTwin := func(rid string) (map[string]map[string]any, time.Duration) {
		t.Helper()
		start := time.Now()
		if err := publish(t, c, "$iothub/twin/GET/?$rid="+rid, 1, ""); err != nil {
			t.Fatal(err)
		}
		m := in.next(t, "twin")
		var doc map[string]map[string]any
		if err := json.Unmarshal(m.Payload(), &doc); err != nil {
			t.Fatal(err)
		}
		return doc, time.Since(start)
	}
	getTwin("1") // online: from the hub, and stored by edgeHub

	if status, raw := doJSON(t, nil, "PUT", e.ServiceURL()+"/emulator/offline", map[string]bool{"offline": true}, nil); status != 200 {
		t.Fatalf("PUT /emulator/offline: %d %s", status, raw)
	}
	events := "devices/device1/modules/" + testModule + "/messages/events/"
	if err := publish(t, c, events, 1, "while offline"); err != nil {
		t.Fatalf("telemetry not acknowledged offline: %v", err)
	}
	if n := len(e.Messages(MessageFilter{})); n != 0 {
		t.Fatalf("%d messages reached the hub while offline", n)
	}
	doc, took := getTwin("2")
	if took < 300*time.Millisecond || doc["desired"]["interval"] != "1m" || doc["desired"]["$version"] != float64(2) {
		t.Fatalf("offline twin read after %s: %v", took, doc)
	}
	if err := publish(t, c, "$iothub/twin/PATCH/properties/reported/?$rid=3", 1, `{"status":"offline"}`); err != nil {
		t.Fatal(err)
	}
	if m := in.next(t, "patch answer"); m.Topic() != "$iothub/twin/res/204/?$rid=3" {
		t.Fatalf("patch answer %q", m.Topic())
	}
	if doc, _ := getTwin("4"); doc["reported"]["status"] != "offline" {
		t.Fatalf("edgeHub's store lacks the accepted patch: %v", doc)
	}
	if _, err := e.UpdateDesired(testModule, map[string]any{"interval": "5m"}, false, ""); err != nil {
		t.Fatal(err)
	}
	if tw, _ := e.GetTwin(testModule); tw.ConnectionState != "Disconnected" || tw.Properties.Reported["status"] != nil {
		t.Fatalf("the hub sees the module %s with reported %v", tw.ConnectionState, tw.Properties.Reported)
	}
	if _, err := e.InvokeMethod(context.Background(), testModule, MethodRequest{MethodName: "ping"}); !errors.Is(err, ErrModuleNotOnline) {
		t.Fatalf("method while offline: %v", err)
	}
	time.Sleep(200 * time.Millisecond)
	if desired.count() != 0 {
		t.Fatal("a desired change reached the module while offline")
	}

	e.SetOffline(false)
	msgs := e.Messages(MessageFilter{})
	if len(msgs) != 1 || msgs[0].Body != "while offline" {
		t.Fatalf("stored messages after reconnection: %+v", msgs)
	}
	patch := desired.next(t, "the desired diff after reconnection")
	var p map[string]any
	if err := json.Unmarshal(patch.Payload(), &p); err != nil || p["interval"] != "5m" || p["$version"] != float64(3) {
		t.Fatalf("desired diff %s", patch.Payload())
	}
	waitFor(t, 10*time.Second, "the pending patch to reach the hub", func() bool {
		tw, _ := e.GetTwin(testModule)
		return tw.Properties.Reported["status"] == "offline"
	})
}

// D1: offline, a module whose twin edgeHub never stored reads
// {"desired":{},"reported":{}}, without $version.
func TestOfflineTwinNeverSynced(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.EdgeHub.Offline = true
	cfg.EdgeHub.OfflineTwinDelay = -1
	e := startEmulator(t, cfg)
	if _, err := e.UpdateDesired(testModule, map[string]any{"interval": "1m"}, false, ""); err != nil {
		t.Fatal(err)
	}
	c := rawDial(t, e, testModule)
	c.subscribe(1, "$iothub/twin/res/#", 0)
	c.publish("$iothub/twin/GET/?$rid=1", 0, 0, false, nil)
	if r := c.readPublish(); r.topic != "$iothub/twin/res/200/?$rid=1" || string(r.payload) != `{"desired":{},"reported":{}}` {
		t.Fatalf("twin %q %s", r.topic, r.payload)
	}
	if b := e.Billing(); b.Total != 0 {
		t.Fatalf("billed %d while offline", b.Total)
	}
}

// D3 with edgeHub's MinTwinSyncPeriod: a twin read less than 2 minutes
// before the hub comes back is not re-read, so a desired change made while
// offline does not reach the module then.
func TestOfflineRecentTwinNotResynced(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	c := rawDial(t, e, testModule)
	c.subscribe(1, "$iothub/twin/res/#", 0)
	c.subscribe(2, "$iothub/twin/PATCH/properties/desired/#", 0)
	c.publish("$iothub/twin/GET/?$rid=1", 0, 0, false, nil)
	c.readPublish()
	e.SetOffline(true)
	if _, err := e.UpdateDesired(testModule, map[string]any{"interval": "5m"}, false, ""); err != nil {
		t.Fatal(err)
	}
	e.SetOffline(false)
	if p, err := c.next(500 * time.Millisecond); err == nil {
		t.Fatalf("packet %+v after reconnection: want none (twin read recently)", p)
	}
}

// C6: a packet over 262,144 bytes closes the connection; one of exactly
// 262,144 bytes is processed.
func TestPacketSizeLimit(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	c := rawDial(t, e, testModule)
	topic := "devices/device1/modules/" + testModule + "/messages/events/"
	c.publish(topic, 1, 7, false, []byte(strings.Repeat("x", MaxInboundPacketSize-packetOverhead(topic, 1))))
	if id := c.readPuback(); id != 7 {
		t.Fatalf("PUBACK %d", id)
	}
	// (Acknowledged, then dropped by edgeHub's routed-size check, which
	// counts the properties edgeHub adds; the connection stays.)
	c.publish(topic, 1, 8, false, []byte("small"))
	if id := c.readPuback(); id != 8 {
		t.Fatalf("PUBACK %d", id)
	}
	if msgs := e.Messages(MessageFilter{}); len(msgs) != 1 || msgs[0].Body != "small" {
		t.Fatalf("%d messages", len(msgs))
	}
	// The emulator closes as soon as it reads the length: the write itself
	// may fail.
	body := append(binary.BigEndian.AppendUint16(mqttString(topic), 9), strings.Repeat("x", MaxInboundPacketSize-packetOverhead(topic, 1)+1)...)
	_, _ = c.conn.Write(encodePacket(0x32, body))
	if !c.closed(5 * time.Second) {
		t.Fatal("a 262,145-byte packet did not close the connection")
	}
}

// C4: a PUBLISH resent with the DUP flag reaches the hub with the
// application property mqtt-dup=true.
func TestDupFlagBecomesProperty(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	c := rawDial(t, e, testModule)
	topic := "devices/device1/modules/" + testModule + "/messages/events/k=v"
	c.publish(topic, 1, 1, false, []byte("first"))
	c.readPuback()
	c.publish(topic, 1, 2, true, []byte("resent"))
	c.readPuback()
	msgs := e.Messages(MessageFilter{})
	if len(msgs) != 2 || msgs[0].Properties["mqtt-dup"] != "" || msgs[1].Properties["mqtt-dup"] != "true" || msgs[1].Properties["k"] != "v" {
		t.Fatalf("messages %+v", msgs)
	}
}

// D1: a twin GET without $rid, or an unknown twin operation, closes the
// connection (edgeHub's topic parser throws).
func TestMalformedTwinRequestClosesConnection(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	for _, topic := range []string{"$iothub/twin/GET/", "$iothub/twin/DELETE/?$rid=1"} {
		for _, qos := range []byte{0, 1} {
			c := rawDial(t, e, testModule)
			c.publish(topic, qos, 1, false, nil)
			if !c.closed(5 * time.Second) {
				t.Fatalf("%s at QoS %d did not close the connection", topic, qos)
			}
		}
	}
}
