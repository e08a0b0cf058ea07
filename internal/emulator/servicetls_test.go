package emulator

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/amenzhinsky/iothub/iotservice"
)

// tlsConfig is testConfig with the HTTPS service listener and small query
// pages.
func tlsConfig(t *testing.T) Config {
	cfg := testConfig(t)
	cfg.ServiceTLSAddr = "127.0.0.1:0"
	cfg.QueryPageSize = 7
	return cfg
}

// serviceClient is amenzhinsky/iothub's service client trusting the
// emulator's Edge CA.
func serviceClient(t *testing.T, e *Emulator, cs string) *iotservice.Client {
	t.Helper()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.CertPool(), MinVersion: tls.VersionTLS12},
	}}
	c, err := iotservice.NewFromConnectionString(cs, iotservice.WithHTTPClient(hc))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func seedTwenty(t *testing.T, e *Emulator) {
	t.Helper()
	err := e.SeedFleet(testModule, 20, func(i int) map[string]any {
		if i%5 == 4 {
			return nil // never reported
		}
		return map[string]any{"readiness": map[string]any{"status": "ready", "score": 90 + i%10, "n": i}}
	})
	if err != nil {
		t.Fatal(err)
	}
}

func TestServiceTLSQueryPages(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, tlsConfig(t))
	seedTwenty(t, e)
	cs := e.ServiceConnectionString()
	if !strings.HasPrefix(cs, "HostName=127.0.0.1:") || !strings.Contains(cs, ";SharedAccessKeyName=iothubowner;SharedAccessKey=") {
		t.Fatalf("connection string shape: HostName=%s", strings.Split(strings.TrimPrefix(cs, "HostName="), ";")[0])
	}
	c := serviceClient(t, e, cs)
	var got []string
	reported := 0
	err := c.QueryDevices(context.Background(), "select * from devices.modules where moduleId = 'readiness'", func(v map[string]any) error {
		got = append(got, fmt.Sprint(v["deviceId"], "/", v["moduleId"]))
		props, _ := v["properties"].(map[string]any)
		rep, _ := props["reported"].(map[string]any)
		if _, ok := rep["readiness"]; ok {
			reported++
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// 20 seeded twins and the emulator's own device1/readiness, in order.
	if len(got) != 21 || got[0] != "device1/readiness" || got[1] != "fleet-0001/readiness" || got[20] != "fleet-0020/readiness" {
		t.Fatalf("twins = %v", got)
	}
	if reported != 16 {
		t.Errorf("twins with a readiness summary = %d, want 16", reported)
	}
	if p := e.QueryPages(); p != 3 {
		t.Errorf("pages = %d, want 3 (21 twins, 7 a page)", p)
	}

	// Another module id: nothing, one page.
	n := 0
	if err := c.QueryDevices(context.Background(), "SELECT * FROM devices.modules WHERE moduleId = 'other'", func(map[string]any) error { n++; return nil }); err != nil || n != 0 {
		t.Errorf("other module: %d twins, %v", n, err)
	}

	// Other query shapes are refused with IoT Hub's 400 document.
	err = c.QueryDevices(context.Background(), "SELECT deviceId FROM devices", func(map[string]any) error { return nil })
	var bad *iotservice.BadRequestError
	if !errors.As(err, &bad) || !strings.HasPrefix(bad.Message, "ErrorCode:BadRequest;") || !strings.HasPrefix(bad.ExceptionMessage, "Tracking ID:") {
		t.Errorf("unsupported query: %v", err)
	}
}

func TestServiceTLSRefusesBadTokens(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, tlsConfig(t))
	cs := e.ServiceConnectionString()
	host := strings.Split(strings.TrimPrefix(cs, "HostName="), ";")[0]
	key := cs[strings.Index(cs, "SharedAccessKey=")+len("SharedAccessKey="):]

	// A wrong key: 401, as IoT Hub answers.
	wrong := strings.Replace(cs, key, base64.StdEncoding.EncodeToString(make([]byte, 32)), 1)
	_, err := serviceClient(t, e, wrong).GetModuleTwin(context.Background(), "device1", testModule)
	var re *iotservice.RequestError
	if !errors.As(err, &re) || re.Code != http.StatusUnauthorized || !strings.Contains(string(re.Body), "ErrorCode:IotHubUnauthorizedAccess;") {
		t.Fatalf("wrong key: %v", err)
	}
	// The right one works.
	if _, err := serviceClient(t, e, cs).GetModuleTwin(context.Background(), "device1", testModule); err != nil {
		t.Fatalf("right key: %v", err)
	}

	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: e.CertPool(), MinVersion: tls.VersionTLS12},
	}}
	k, _ := base64.StdEncoding.DecodeString(key)
	token := func(sr, skn string, se time.Time) string {
		esr := url.QueryEscape(sr)
		return "SharedAccessSignature sr=" + esr + "&sig=" + url.QueryEscape(SignSAS(k, esr, se.Unix())) +
			"&se=" + strconv.FormatInt(se.Unix(), 10) + "&skn=" + skn
	}
	hour := time.Now().Add(time.Hour)
	for _, c := range []struct {
		name, auth string
		want       int
	}{
		{"none", "", 401},
		{"expired", token(host, "iothubowner", time.Now().Add(-time.Minute)), 401},
		{"other policy", token(host, "registryRead", hour), 401},
		{"no policy", strings.TrimSuffix(token(host, "x", hour), "&skn=x"), 401},
		{"other hub", token("other-hub.azure-devices.net", "iothubowner", hour), 401},
		{"listener host", token(host, "iothubowner", hour), 200},
		{"hub hostname", token(DefaultIoTHubHostname, "iothubowner", hour), 200},
	} {
		req, _ := http.NewRequest("GET", "https://"+host+"/twins/device1/modules/"+testModule+"?api-version=2020-09-30", nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := hc.Do(req)
		if err != nil {
			t.Fatalf("%s: %v", c.name, err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("%s: status %d, want %d", c.name, resp.StatusCode, c.want)
		}
	}

	// The plain HTTP listener still ignores Authorization.
	if status, raw := doJSON(t, nil, "GET", e.ServiceURL()+"/twins/device1/modules/"+testModule, nil, nil); status != 200 {
		t.Errorf("plain listener: %d %s", status, raw)
	}
}

func TestServiceTLSNeedsTheCA(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, tlsConfig(t))
	c, err := iotservice.NewFromConnectionString(e.ServiceConnectionString()) // Azure's roots only
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.GetModuleTwin(context.Background(), "device1", testModule)
	var cve *tls.CertificateVerificationError
	if !errors.As(err, &cve) {
		t.Fatalf("untrusted CA: %v", err)
	}
}

func TestServicePolicyPersists(t *testing.T) {
	t.Parallel()
	cfg := tlsConfig(t)
	e := startEmulator(t, cfg)
	cs := e.ServiceConnectionString()
	_ = e.Close()
	e2 := startEmulator(t, cfg)
	key := func(s string) string { _, k, _ := strings.Cut(s, "SharedAccessKey="); return k }
	if key(e2.ServiceConnectionString()) != key(cs) {
		t.Error("the service policy key changed across a restart with the same state directory")
	}
}

func TestQueryPaging(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	seedTwenty(t, e)
	query := func(body, cont, max string) (int, []ModuleTwin, http.Header) {
		req, _ := http.NewRequest("POST", e.ServiceURL()+"/devices/query?api-version=2021-04-12", strings.NewReader(body))
		if cont != "" {
			req.Header.Set("x-ms-continuation", cont)
		}
		if max != "" {
			req.Header.Set("x-ms-max-item-count", max)
		}
		var out []ModuleTwin
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		if resp.StatusCode == 200 {
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil {
				t.Fatal(err)
			}
		}
		return resp.StatusCode, out, resp.Header
	}
	q := `{"query":"SELECT * FROM devices.modules WHERE moduleId = 'readiness'"}`
	var ids []string
	cont, pages := "", 0
	for {
		status, page, h := query(q, cont, "6")
		if status != 200 || h.Get("x-ms-item-type") != "Twin" {
			t.Fatalf("page %d: %d %v", pages, status, h)
		}
		pages++
		for _, tw := range page {
			ids = append(ids, tw.DeviceID)
		}
		if cont = h.Get("x-ms-continuation"); cont == "" {
			break
		}
	}
	if len(ids) != 21 || pages != 4 || ids[0] != "device1" || ids[20] != "fleet-0020" {
		t.Fatalf("%d pages: %v", pages, ids)
	}
	// The default page size (100) holds them all.
	if status, page, h := query(q, "", ""); status != 200 || len(page) != 21 || h.Get("x-ms-continuation") != "" {
		t.Errorf("default page: %d, %d twins, continuation %q", status, len(page), h.Get("x-ms-continuation"))
	}
	for _, c := range []struct{ name, body, cont, max string }{
		{"bad token", q, "!!", ""},
		{"bad max", q, "", "0"},
		{"no query", `{}`, "", ""},
		{"not JSON", `SELECT`, "", ""},
		{"aggregate", `{"query":"SELECT COUNT() AS n FROM devices.modules WHERE moduleId = 'readiness'"}`, "", ""},
		{"devices", `{"query":"SELECT * FROM devices WHERE moduleId = 'readiness'"}`, "", ""},
		{"other filter", `{"query":"SELECT * FROM devices.modules WHERE properties.reported.readiness.status = 'ready'"}`, "", ""},
	} {
		if status, _, h := query(c.body, c.cont, c.max); status != 400 || h.Get("iothub-errorcode") == "" {
			t.Errorf("%s: status %d, errorcode %q", c.name, status, h.Get("iothub-errorcode"))
		}
	}
}

func TestSeedFleetRefuses(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	if err := e.SeedFleet("bad module", 1, func(int) map[string]any { return nil }); err == nil {
		t.Error("a module id with a space was accepted")
	}
	err := e.SeedFleet(testModule, 1, func(int) map[string]any { return map[string]any{"a.b": 1} })
	if err == nil || !strings.Contains(err.Error(), "fleet-0001") {
		t.Errorf("invalid reported properties: %v", err)
	}
}
