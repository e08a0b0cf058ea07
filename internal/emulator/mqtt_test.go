package emulator

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/amenzhinsky/iothub/iotdevice"
	iotmqtt "github.com/amenzhinsky/iothub/iotdevice/transport/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
)

// TestAmenzhinskyModuleClient drives github.com/amenzhinsky/iothub's module
// client (the library the readiness module uses) against the emulator with
// the IOTEDGE_* environment edgeAgent would give it. Only this test may use
// that library: it caches the first workload socket path for the whole
// process, so the socket lives at the same path in every run (-count=N).
func TestAmenzhinskyModuleClient(t *testing.T) {
	cfg := testConfig(t)
	cfg.WorkloadDir = filepath.Join(os.TempDir(), fmt.Sprintf("edgehub-emulator-test-%d", os.Getpid()))
	t.Cleanup(func() { _ = os.RemoveAll(cfg.WorkloadDir) })
	e := startEmulator(t, cfg)
	env, err := e.ModuleEnv(testModule)
	if err != nil {
		t.Fatal(err)
	}
	for _, kv := range env {
		k, v, _ := strings.Cut(kv, "=")
		t.Setenv(k, v)
	}
	t.Setenv("HOSTNAME", "readiness-container")
	_, port, _ := net.SplitHostPort(e.MQTTAddr())
	broker, _ := url.Parse("tls://localhost:" + port)
	tr := iotmqtt.NewModuleTransport(iotmqtt.WithClientOptionsConfig(func(o *paho.ClientOptions) {
		o.Servers = []*url.URL{broker} // the library always dials port 8883
	}))
	c, err := iotdevice.NewModuleFromEnvironment(tr, true)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := c.Connect(ctx); err != nil {
		t.Fatalf("connect: %v", err)
	}
	defer c.Close()

	// Get twin.
	if _, err := e.UpdateDesired(testModule, map[string]any{"profile": "production"}, false, ""); err != nil {
		t.Fatal(err)
	}
	desired, reported, err := c.RetrieveTwinState(ctx)
	if err != nil {
		t.Fatalf("get twin: %v", err)
	}
	if desired["profile"] != "production" || desired.Version() != 2 || reported.Version() != 1 {
		t.Fatalf("twin: desired %v reported %v", desired, reported)
	}

	// Patch reported.
	// edgeHub answers 204 without $version (the library returns 0) and
	// syncs the patch to the hub afterwards.
	ver, err := c.UpdateTwinState(ctx, iotdevice.TwinState{"status": "ready", "details": map[string]any{"score": 97}})
	if err != nil {
		t.Fatalf("patch reported: %v", err)
	}
	if ver != 0 {
		t.Fatalf("reported version %d, want 0 (edgeHub sends no $version)", ver)
	}
	waitFor(t, 10*time.Second, "the reported patch to reach the hub", func() bool {
		tw, _ := e.GetTwin(testModule)
		return jsonString(t, tw.Properties.Reported["details"]) == `{"score":97}` && tw.Properties.Reported["status"] == "ready"
	})

	// Receive a desired properties update made through the service API.
	sub, err := c.SubscribeTwinUpdates(ctx)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 10*time.Second, "desired subscription", func() bool {
		return e.IsSubscribed(testModule, "$iothub/twin/PATCH/properties/desired/?$version=3")
	})
	status, raw := doJSON(t, nil, "PATCH", e.ServiceURL()+"/twins/device1/modules/"+testModule,
		map[string]any{"properties": map[string]any{"desired": map[string]any{"interval": "1m", "profile": nil}}}, nil)
	if status != 200 {
		t.Fatalf("service patch: %d %s", status, raw)
	}
	select {
	case patch := <-sub.C():
		if patch["interval"] != "1m" || patch["profile"] != nil || patch.Version() != 3 {
			t.Fatalf("desired patch %v", patch)
		}
		if _, present := patch["profile"]; !present {
			t.Fatalf("deletion not sent as null: %v", patch)
		}
	case <-ctx.Done():
		t.Fatal("no desired update received")
	}

	// Send an event on an output, with properties.
	if err := c.SendEvent(ctx, []byte(`{"status":"ready"}`),
		iotdevice.WithSendProperty("$.on", "readiness"),
		iotdevice.WithSendProperty("$.ct", "application/json"),
		iotdevice.WithSendProperty("$.ce", "utf-8"),
		iotdevice.WithSendMessageID("msg-1"),
		// No spaces: this library's module transport encodes them as "+", a
		// wildcard MQTT forbids in topic names; edgeHub (DotNetty) and the
		// emulator close the connection then.
		iotdevice.WithSendProperty("schema", "readiness/1"),
	); err != nil {
		t.Fatalf("send event: %v", err)
	}
	msgs := e.Messages(MessageFilter{ModuleID: testModule, OutputName: "readiness"})
	if len(msgs) != 1 {
		t.Fatalf("messages: %+v", msgs)
	}
	m := msgs[0]
	if m.Body != `{"status":"ready"}` || m.ContentType != "application/json" || m.ContentEncoding != "utf-8" ||
		m.MessageID != "msg-1" || m.Properties["schema"] != "readiness/1" || m.BodyEncoding != "utf-8" || m.DeviceID != "device1" {
		t.Fatalf("message %+v", m)
	}

	// Answer a direct method invoked through the service API.
	if err := c.RegisterMethod(ctx, "echo", func(p map[string]interface{}) (int, map[string]interface{}, error) {
		return 201, map[string]interface{}{"echo": p["value"]}, nil
	}); err != nil {
		t.Fatal(err)
	}
	var res MethodResult
	status, raw = doJSON(t, nil, "POST", e.ServiceURL()+"/twins/device1/modules/"+testModule+"/methods?api-version=2021-04-12",
		map[string]any{"methodName": "echo", "payload": map[string]any{"value": 42}, "responseTimeoutInSeconds": 10, "connectTimeoutInSeconds": 5}, &res)
	if status != 200 || res.Status != 201 || string(res.Payload) != `{"echo":42}` {
		t.Fatalf("method: %d %s", status, raw)
	}

	conns := e.Connections()
	if len(conns) != 1 || conns[0].ClientID != "device1/"+testModule || conns[0].APIVersion == "" {
		t.Fatalf("connections %+v", conns)
	}
}

// pahoConnect connects a module with a token it builds itself; password ""
// means a valid token.
func pahoConnect(t *testing.T, e *Emulator, module, password string, onLost func(error)) (paho.Client, error) {
	t.Helper()
	if password == "" {
		id, ok := e.ModuleIdentity(module)
		if !ok {
			t.Fatalf("no module %s", module)
		}
		var err error
		password, err = NewModuleSASToken(id.Key, e.cfg.IoTHubHostname, e.cfg.DeviceID, module, time.Now().Add(time.Hour))
		if err != nil {
			t.Fatal(err)
		}
	}
	o := paho.NewClientOptions()
	o.AddBroker("tls://" + e.MQTTAddr())
	o.SetTLSConfig(&tls.Config{RootCAs: e.CertPool(), ServerName: "localhost"})
	o.SetClientID(e.cfg.DeviceID + "/" + module)
	o.SetUsername(e.cfg.IoTHubHostname + "/" + e.cfg.DeviceID + "/" + module + "/?api-version=2021-04-12")
	o.SetPassword(password)
	o.SetProtocolVersion(4)
	o.SetAutoReconnect(false)
	o.SetConnectRetry(false)
	o.SetConnectTimeout(10 * time.Second)
	if onLost != nil {
		o.SetConnectionLostHandler(func(_ paho.Client, err error) { onLost(err) })
	}
	c := paho.NewClient(o)
	tok := c.Connect()
	if !tok.WaitTimeout(15 * time.Second) {
		return nil, fmt.Errorf("connect timed out")
	}
	if err := tok.Error(); err != nil {
		return nil, err
	}
	t.Cleanup(func() { c.Disconnect(100) })
	return c, nil
}

// rawConnect sends an MQTT 3.1.1 CONNECT and returns the CONNACK return
// code.
func rawConnect(t *testing.T, e *Emulator, clientID, username, password string) byte {
	t.Helper()
	conn, err := tls.Dial("tcp", e.MQTTAddr(), &tls.Config{RootCAs: e.CertPool(), ServerName: "edgeHub"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	_ = conn.SetDeadline(time.Now().Add(10 * time.Second))
	str := func(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }
	var body []byte
	body = append(body, str("MQTT")...)
	body = append(body, 4, 0xC2, 0, 60) // level 4, username+password+clean session, keepalive 60
	body = append(body, str(clientID)...)
	body = append(body, str(username)...)
	body = append(body, str(password)...)
	pkt := []byte{0x10}
	for n := len(body); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	if _, err := conn.Write(append(pkt, body...)); err != nil {
		t.Fatal(err)
	}
	ack := make([]byte, 4)
	if _, err := bufio.NewReader(conn).Read(ack); err != nil {
		t.Fatalf("read CONNACK: %v", err)
	}
	if ack[0] != 0x20 || ack[1] != 2 {
		t.Fatalf("not a CONNACK: % x", ack)
	}
	return ack[3]
}

func TestMQTTRefusesBadCredentials(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Modules["other"] = ModuleIdentity{}
	e := startEmulator(t, cfg)
	id, _ := e.ModuleIdentity(testModule)
	other, _ := e.ModuleIdentity("other")
	hub := e.cfg.IoTHubHostname
	user := hub + "/device1/" + testModule + "/?api-version=2021-04-12&DeviceClientType=test"
	tok := func(key, module string, exp time.Time) string {
		s, err := NewModuleSASToken(key, hub, "device1", module, exp)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	good := tok(id.Key, testModule, time.Now().Add(time.Hour))
	tests := []struct {
		name, clientID, user, pass string
		want                       byte
	}{
		{"good token", "device1/" + testModule, user, good, 0},
		{"gateway host in username", "device1/" + testModule, "localhost/device1/" + testModule + "/?api-version=2018-06-30", good, 0},
		{"wrong key", "device1/" + testModule, user, tok(other.Key, testModule, time.Now().Add(time.Hour)), 5},
		{"expired token", "device1/" + testModule, user, tok(id.Key, testModule, time.Now().Add(-10*time.Minute)), 5},
		{"expired within edgeHub's 5-min clock skew", "device1/" + testModule, user, tok(id.Key, testModule, time.Now().Add(-time.Minute)), 0},
		{"token of another module", "device1/" + testModule, user, tok(other.Key, "other", time.Now().Add(time.Hour)), 5},
		{"unknown module", "device1/ghost", hub + "/device1/ghost/?api-version=2021-04-12", good, 5},
		{"wrong device", "device2/" + testModule, hub + "/device2/" + testModule + "/?api-version=2021-04-12", good, 5},
		{"username for another module", "device1/" + testModule, hub + "/device1/other/?api-version=2021-04-12", good, 5},
		{"username without api-version", "device1/" + testModule, hub + "/device1/" + testModule + "/", good, 5},
		{"unknown host in username", "device1/" + testModule, "evil.example/device1/" + testModule + "/?api-version=2021-04-12", good, 5},
		{"not a SAS token", "device1/" + testModule, user, "hunter2", 5},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := rawConnect(t, e, tc.clientID, tc.user, tc.pass); got != tc.want {
				t.Fatalf("CONNACK return code %d, want %d", got, tc.want)
			}
		})
	}
	// The paho client reports the refusal as "not Authorized".
	_, err := pahoConnect(t, e, testModule, tok(other.Key, testModule, time.Now().Add(time.Hour)), nil)
	if err == nil || !strings.Contains(err.Error(), "not Authorized") {
		t.Fatalf("paho with a bad token: %v", err)
	}
	waitFor(t, 5*time.Second, "failed connection metrics", func() bool {
		return strings.Contains(e.MetricsText(), `edgehub_client_connect_failed_total{iothub="emulated-hub.azure-devices.net",edge_device="device1"`)
	})
}

// subscribe subscribes and returns the SUBACK return code.
func subscribe(t *testing.T, c paho.Client, filter string, h paho.MessageHandler) byte {
	t.Helper()
	tok := c.Subscribe(filter, 0, h)
	if !tok.WaitTimeout(10*time.Second) || tok.Error() != nil {
		t.Fatalf("subscribe %s: %v", filter, tok.Error())
	}
	return tok.(*paho.SubscribeToken).Result()[filter]
}

func publish(t *testing.T, c paho.Client, topic string, qos byte, payload any) error {
	t.Helper()
	tok := c.Publish(topic, qos, false, payload)
	if !tok.WaitTimeout(10 * time.Second) {
		return fmt.Errorf("publish %s timed out", topic)
	}
	return tok.Error()
}

type inbox struct {
	mu   sync.Mutex
	msgs []paho.Message
	ch   chan paho.Message
}

func newInbox() *inbox { return &inbox{ch: make(chan paho.Message, 100)} }

func (b *inbox) handler(_ paho.Client, m paho.Message) {
	b.mu.Lock()
	b.msgs = append(b.msgs, m)
	b.mu.Unlock()
	b.ch <- m
}

func (b *inbox) next(t *testing.T, what string) paho.Message {
	t.Helper()
	select {
	case m := <-b.ch:
		return m
	case <-time.After(10 * time.Second):
		t.Fatalf("timed out waiting for %s", what)
		return nil
	}
}

func (b *inbox) count() int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return len(b.msgs)
}

func TestMQTTTopicIsolationAndLimits(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Modules["other"] = ModuleIdentity{}
	e := startEmulator(t, cfg)

	var lostMu sync.Mutex
	var otherLost error
	me, err := pahoConnect(t, e, testModule, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := pahoConnect(t, e, "other", "", func(err error) { lostMu.Lock(); otherLost = err; lostMu.Unlock() })
	if err != nil {
		t.Fatal(err)
	}
	mine, theirs, wild := newInbox(), newInbox(), newInbox()
	if rc := subscribe(t, me, "$iothub/twin/res/#", mine.handler); rc != 0 {
		t.Fatalf("twin responses subscription refused: %d", rc)
	}
	if rc := subscribe(t, other, "$iothub/twin/res/#", theirs.handler); rc != 0 {
		t.Fatalf("twin responses subscription refused: %d", rc)
	}
	// edgeHub grants every filter (unknown ones are only logged), but a
	// wildcard never receives another module's traffic.
	for _, f := range []string{"#", "$iothub/#", "devices/device1/modules/" + testModule + "/#", "+/+/#"} {
		if rc := subscribe(t, other, f, wild.handler); rc != 0 {
			t.Errorf("subscription %q: SUBACK %#x, want 0", f, rc)
		}
	}

	// A twin response goes only to the requesting client.
	if err := publish(t, me, "$iothub/twin/GET/?$rid=1", 0, ""); err != nil {
		t.Fatal(err)
	}
	res := mine.next(t, "twin response")
	if res.Topic() != "$iothub/twin/res/200/?$rid=1" {
		t.Fatalf("response topic %q", res.Topic())
	}
	var doc map[string]map[string]any
	if err := json.Unmarshal(res.Payload(), &doc); err != nil || doc["desired"]["$version"] != float64(1) || doc["reported"]["$version"] != float64(1) {
		t.Fatalf("twin document %s: %v", res.Payload(), err)
	}

	// Reported patches: success is 204 with no $version and no body;
	// edgeHub's validator refusals are 400 and anything else (invalid JSON,
	// not an object) 500, all without a body.
	if err := publish(t, me, "$iothub/twin/PATCH/properties/reported/?$rid=2", 0, `{"a":{"b":1}}`); err != nil {
		t.Fatal(err)
	}
	if m := mine.next(t, "patch response"); m.Topic() != "$iothub/twin/res/204/?$rid=2" || len(m.Payload()) != 0 {
		t.Fatalf("patch response %q %q", m.Topic(), m.Payload())
	}
	for i, tc := range []struct {
		body   string
		status int
	}{
		{`{"a":`, 500},
		{`[1,2]`, 500},
		{`{"bad.key":1}`, 400},
		{`{"big":"` + strings.Repeat("x", 4000) + `","more":{` + bigObject(8) + `}}`, 400}, // patch over 32 KiB
	} {
		rid := fmt.Sprint(10 + i)
		if err := publish(t, me, "$iothub/twin/PATCH/properties/reported/?$rid="+rid, 0, tc.body); err != nil {
			t.Fatal(err)
		}
		m := mine.next(t, "patch error response")
		if m.Topic() != fmt.Sprintf("$iothub/twin/res/%d/?$rid=%s", tc.status, rid) || len(m.Payload()) != 0 {
			t.Fatalf("body %.40s: response %q %s", tc.body, m.Topic(), m.Payload())
		}
	}
	waitFor(t, 10*time.Second, "the accepted patch to reach the hub", func() bool { return e.PendingReported(testModule) == nil })
	tw, _ := e.GetTwin(testModule)
	if v := tw.Properties.Reported["$version"]; v != int64(2) || jsonString(t, tw.Properties.Reported["a"]) != `{"b":1}` {
		t.Fatalf("reported after one good and four refused patches: %s", jsonString(t, tw.Properties.Reported))
	}

	// A message within edgeHub's packet limit but over its routed size limit
	// (edgeHub counts its own property names and the ones it adds) is
	// acknowledged and dropped, a normal one is recorded.
	topic := "devices/device1/modules/" + testModule + "/messages/events/%24.on=big&k=v"
	body := strings.Repeat("x", MaxInboundPacketSize-packetOverhead(topic, 1))
	if m, _ := newMessage("device1", testModule, "%24.on=big&k=v", []byte(body), time.Now()); routingSize(m) <= MaxMessageSize {
		t.Fatalf("routed size %d: the test needs one over %d", routingSize(m), MaxMessageSize)
	}
	if err := publish(t, me, topic, 1, body); err != nil {
		t.Fatal(err)
	}
	if err := publish(t, me, "devices/device1/modules/"+testModule+"/messages/events/", 1, "small"); err != nil {
		t.Fatal(err)
	}
	msgs := e.Messages(MessageFilter{})
	if len(msgs) != 1 || msgs[0].Body != "small" || msgs[0].OutputName != "" {
		t.Fatalf("messages %+v", msgs)
	}
	if !strings.Contains(e.MetricsText(), `edgehub_messages_dropped_total{iothub="emulated-hub.azure-devices.net",edge_device="device1",instance_number="`+e.instanceID+`",from="device1/readiness",from_route_output="big",reason="message_too_large",ms_telemetry="True"} 1`) {
		t.Fatalf("dropped message not counted:\n%s", e.MetricsText())
	}

	if theirs.count() != 0 || wild.count() != 0 {
		t.Fatalf("other module received %d twin responses and %d wildcard messages", theirs.count(), wild.count())
	}

	// Publishing to another module's topics closes the connection (QoS 1).
	_ = publish(t, other, "devices/device1/modules/"+testModule+"/messages/events/", 1, "spoofed")
	waitFor(t, 10*time.Second, "the spoofing client to be disconnected", func() bool {
		lostMu.Lock()
		defer lostMu.Unlock()
		return otherLost != nil || !other.IsConnectionOpen()
	})
	if n := len(e.Messages(MessageFilter{})); n != 1 {
		t.Fatalf("spoofed message recorded (%d messages)", n)
	}
}

// packetOverhead is the size of a PUBLISH packet on topic without its
// payload, for payloads that make it 16 KiB to 2 MiB long (3 length bytes).
func packetOverhead(topic string, qos byte) int {
	n := 1 + 3 + 2 + len(topic)
	if qos > 0 {
		n += 2
	}
	return n
}

func bigObject(n int) string {
	parts := make([]string, n)
	for i := range parts {
		parts[i] = fmt.Sprintf(`"k%d":"%s"`, i, strings.Repeat("y", 4000))
	}
	return strings.Join(parts, ",")
}

func TestMQTTDirectMethodTimeout(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	c, err := pahoConnect(t, e, testModule, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	calls := newInbox()
	subscribe(t, c, "$iothub/methods/POST/#", calls.handler)
	var got map[string]string
	start := time.Now()
	// connectTimeoutInSeconds covers edgeHub's delay before a method
	// subscription takes effect.
	status, raw := doJSON(t, nil, "POST", e.ServiceURL()+"/twins/device1/modules/"+testModule+"/methods",
		map[string]any{"methodName": "slow", "payload": "x", "responseTimeoutInSeconds": 1, "connectTimeoutInSeconds": 10}, &got)
	if status != 504 || time.Since(start) > 10*time.Second {
		t.Fatalf("got %d after %s: %s", status, time.Since(start), raw)
	}
	req := calls.next(t, "method request")
	if !strings.HasPrefix(req.Topic(), "$iothub/methods/POST/slow/?$rid=") || string(req.Payload()) != `"x"` {
		t.Fatalf("request %q %s", req.Topic(), req.Payload())
	}
	// A late answer is ignored.
	rid := strings.TrimPrefix(req.Topic(), "$iothub/methods/POST/slow/?$rid=")
	if err := publish(t, c, "$iothub/methods/res/200/?$rid="+rid, 0, "{}"); err != nil {
		t.Fatal(err)
	}
}
