package emulator

import (
	"context"
	"encoding/json"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestBillingBlocks(t *testing.T) {
	t.Parallel()
	m := newBillingMeter(DefaultBillingBlockSize, time.Now())
	for _, tc := range []struct {
		size int
		want int64
	}{
		{0, 1}, // an empty payload is still one message
		{1, 1},
		{100, 1},
		{4096, 1},
		{4097, 2},
		{6 * 1024, 2},
		{8192, 2},
		{8193, 3},
		{100 * 1024, 25}, // the pricing page's 100 KB message
	} {
		if got := m.blocks(tc.size); got != tc.want {
			t.Errorf("blocks(%d) = %d, want %d", tc.size, got, tc.want)
		}
	}
	free := newBillingMeter(512, time.Now())
	if got := free.blocks(6 * 1024); got != 12 { // the free tier's 6 KB twin read
		t.Errorf("free tier blocks(6 KB) = %d, want 12", got)
	}
}

func TestBillingMethodRule(t *testing.T) {
	t.Parallel()
	// The pricing page's examples: a 4 KB request with an empty response is
	// 2 messages; a 6 KB request with a 1 KB response is 3; a call to a
	// disconnected device is the request plus 1.
	for _, tc := range []struct {
		name          string
		req, resp     int
		outcome       methodOutcome
		want          int64
		wantOperation int64
	}{
		{"4 KB request, empty response", 4096, 0, methodAnswered, 2, 1},
		{"6 KB request, 1 KB response", 6 * 1024, 1024, methodAnswered, 3, 1},
		{"empty request and response", 0, 0, methodAnswered, 2, 1},
		{"module not online", 6 * 1024, 0, methodNotOnline, 3, 1},
		{"timed out", 100, 0, methodTimedOut, 1, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := newBillingMeter(DefaultBillingBlockSize, time.Now())
			m.billMethod("m", tc.req, tc.resp, tc.outcome)
			b := m.snapshot()
			if b.Total != tc.want || b.ByKind[BillMethod] != tc.want || b.Operations[BillMethod] != tc.wantOperation ||
				b.ByModule["m"].Total != tc.want {
				t.Fatalf("billing %+v, want %d", b, tc.want)
			}
		})
	}
}

func TestBilledMessageSize(t *testing.T) {
	t.Parallel()
	body := strings.Repeat("x", 4000)
	// System properties count their values only; application properties
	// their names and values; "$.x" names that are not edgeHub system
	// properties are application properties.
	m, err := newMessage("device1", testModule, "%24.on=out&%24.ct=application%2Fjson&kind=report&%24.custom=v", []byte(body), time.Now())
	if err != nil {
		t.Fatal(err)
	}
	want := 4000 + len("out") + len("application/json") + len("kind") + len("report") + len("$.custom") + len("v")
	if got := billedMessageSize(m); got != want {
		t.Fatalf("billed size %d, want %d", got, want)
	}
	// Exactly 4096 bytes is one message, one more byte is two.
	m1, _ := newMessage("device1", testModule, "", []byte(strings.Repeat("x", 4096)), time.Now())
	m2, _ := newMessage("device1", testModule, "", []byte(strings.Repeat("x", 4097)), time.Now())
	meter := newBillingMeter(DefaultBillingBlockSize, time.Now())
	if a, b := meter.blocks(billedMessageSize(m1)), meter.blocks(billedMessageSize(m2)); a != 1 || b != 2 {
		t.Fatalf("4096-byte message = %d units, 4097 = %d; want 1 and 2", a, b)
	}
	// A property pushes a 4096-byte body over the block.
	m3, _ := newMessage("device1", testModule, "k=v", []byte(strings.Repeat("x", 4096)), time.Now())
	if got := meter.blocks(billedMessageSize(m3)); got != 2 {
		t.Fatalf("4096-byte body with a property = %d units, want 2", got)
	}
}

// TestBillingEachKind drives every metered operation through MQTT and the
// service API and reads the meter in process and over HTTP.
func TestBillingEachKind(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Modules["other"] = ModuleIdentity{}
	e := startEmulator(t, cfg)
	c, err := pahoConnect(t, e, testModule, "", nil)
	if err != nil {
		t.Fatal(err)
	}
	in := newInbox()
	for _, f := range []string{"$iothub/twin/res/#", "$iothub/twin/PATCH/properties/desired/#", "$iothub/methods/POST/#"} {
		subscribe(t, c, f, in.handler)
	}
	want := map[string]int64{}
	check := func(step string) {
		t.Helper()
		b := e.Billing()
		var total int64
		for _, k := range BillingKinds {
			if b.ByKind[k] != want[k] {
				t.Errorf("%s: %s = %d, want %d", step, k, b.ByKind[k], want[k])
			}
			total += want[k]
		}
		if b.Total != total || b.ByModule[testModule].Total != total {
			t.Errorf("%s: total %d, module %d, want %d", step, b.Total, b.ByModule[testModule].Total, total)
		}
	}

	// D2C: a 4096-byte body is 1, a 4097-byte body 2, 4096 bytes plus a
	// property 2.
	events := "devices/device1/modules/" + testModule + "/messages/events/"
	for _, p := range []struct {
		bag  string
		size int
	}{{"", 4096}, {"", 4097}, {"k=v", 4096}} {
		if err := publish(t, c, events+p.bag, 1, strings.Repeat("x", p.size)); err != nil {
			t.Fatal(err)
		}
	}
	want[BillD2C] = 5
	check("d2c")

	// Twin read: the returned document in blocks.
	if err := publish(t, c, "$iothub/twin/GET/?$rid=1", 0, ""); err != nil {
		t.Fatal(err)
	}
	in.next(t, "twin")
	want[BillTwinRead] = 1
	check("twin read")

	// Reported patch: the patch in blocks (4097 bytes of JSON: 2).
	patch := `{"a":"` + strings.Repeat("y", 4097-len(`{"a":""}`)) + `"}`
	if err := publish(t, c, "$iothub/twin/PATCH/properties/reported/?$rid=2", 0, patch); err != nil {
		t.Fatal(err)
	}
	in.next(t, "patch response")
	waitFor(t, 10*time.Second, "the patch to reach the hub", func() bool { return e.Billing().ByKind[BillReportedPatch] == 2 })
	want[BillReportedPatch] = 2
	check("reported patch")

	// Desired notification: the pushed patch in blocks.
	if _, err := e.UpdateDesired(testModule, map[string]any{"interval": "1m"}, false, ""); err != nil {
		t.Fatal(err)
	}
	in.next(t, "desired patch")
	want[BillDesiredNotification] = 1
	check("desired notification")

	// Direct method: request plus response.
	go func() {
		select {
		case m := <-in.ch:
			rid := strings.TrimPrefix(m.Topic(), "$iothub/methods/POST/ping/?$rid=")
			c.Publish("$iothub/methods/res/200/?$rid="+url.QueryEscape(rid), 1, false, strings.Repeat("z", 5000))
		case <-time.After(10 * time.Second):
		}
	}()
	ten := 10
	res, err := e.InvokeMethod(context.Background(), testModule, MethodRequest{MethodName: "ping", Payload: json.RawMessage(`{}`), ConnectTimeoutInSeconds: &ten})
	if err != nil || res.Status != 200 {
		t.Fatalf("method: %+v %v", res, err)
	}
	want[BillMethod] = 1 + 2
	check("method")

	// A call to a module that is not connected: request + 1, for that module.
	if _, err := e.InvokeMethod(context.Background(), "other", MethodRequest{MethodName: "ping"}); err == nil {
		t.Fatal("method on a disconnected module succeeded")
	}
	if b := e.Billing(); b.ByModule["other"].ByKind[BillMethod] != 2 || b.Total != 12+2 {
		t.Fatalf("disconnected call: %+v", b)
	}

	// Over HTTP, then reset.
	var got Billing
	if status, raw := doJSON(t, nil, "GET", e.ServiceURL()+"/emulator/billing", nil, &got); status != 200 ||
		got.Total != 14 || got.ByKind[BillD2C] != 5 || got.Operations[BillD2C] != 3 || got.BlockSize != 4096 ||
		got.ByModule[testModule].ByKind[BillMethod] != 3 || got.ByModule["other"].Total != 2 {
		t.Fatalf("GET /emulator/billing: %d %s", status, raw)
	}
	if status, _ := doJSON(t, nil, "DELETE", e.ServiceURL()+"/emulator/billing", nil, nil); status != 204 {
		t.Fatalf("DELETE /emulator/billing: %d", status)
	}
	if b := e.Billing(); b.Total != 0 || len(b.ByModule) != 0 || b.ByKind[BillD2C] != 0 {
		t.Fatalf("after reset: %+v", b)
	}
}
