package emulator

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestWorkloadAPI(t *testing.T) {
	t.Parallel()
	cfg := testConfig(t)
	cfg.Modules["other"] = ModuleIdentity{}
	cfg.Modules["$edgeAgent"] = ModuleIdentity{}
	e := startEmulator(t, cfg)
	id, _ := e.ModuleIdentity(testModule)
	c := unixClient(e.WorkloadSocket(testModule))
	base := "http://workload"
	data := base64.StdEncoding.EncodeToString([]byte("hub/devices/device1/modules/readiness\n1700000000"))
	signBody := map[string]string{"keyId": "primary", "algo": "HMACSHA256", "data": data}
	signPath := func(module, genid string) string {
		return "/modules/" + url.PathEscape(module) + "/genid/" + genid + "/sign"
	}

	t.Run("api-version missing", func(t *testing.T) {
		var got map[string]string
		status, _ := doJSON(t, c, "GET", base+"/trust-bundle", nil, &got)
		if status != 400 || got["message"] != "api-version not specified" {
			t.Fatalf("got %d %v", status, got)
		}
	})
	t.Run("api-version unknown", func(t *testing.T) {
		var got map[string]string
		status, _ := doJSON(t, c, "POST", base+signPath(testModule, id.GenerationID)+"?api-version=2099-01-01", signBody, &got)
		if status != 400 || got["message"] != `invalid api-version "2099-01-01"` {
			t.Fatalf("got %d %v", status, got)
		}
	})
	t.Run("trust bundle with every api-version", func(t *testing.T) {
		for _, v := range WorkloadAPIVersions {
			var got map[string]string
			status, _ := doJSON(t, c, "GET", base+"/trust-bundle?api-version="+v, nil, &got)
			if status != 200 || got["certificate"] != string(e.TrustBundlePEM()) {
				t.Fatalf("%s: got %d %v", v, status, got)
			}
		}
		b, _ := pem.Decode(e.TrustBundlePEM())
		ca, err := x509.ParseCertificate(b.Bytes)
		if err != nil || !ca.IsCA || ca.Subject.String() != ca.Issuer.String() {
			t.Fatalf("trust bundle is not a self-signed CA: %v", err)
		}
	})
	t.Run("sign", func(t *testing.T) {
		var got map[string]string
		status, raw := doJSON(t, c, "POST", base+signPath(testModule, id.GenerationID)+"?api-version=2020-07-07", signBody, &got)
		if status != 200 {
			t.Fatalf("got %d %s", status, raw)
		}
		key, _ := base64.StdEncoding.DecodeString(id.Key)
		in, _ := base64.StdEncoding.DecodeString(data)
		h := hmac.New(sha256.New, key)
		h.Write(in)
		if want := base64.StdEncoding.EncodeToString(h.Sum(nil)); got["digest"] != want {
			t.Fatalf("digest %q, want %q", got["digest"], want)
		}
	})
	t.Run("wrong module for this socket", func(t *testing.T) {
		other, _ := e.ModuleIdentity("other")
		var got map[string]string
		status, _ := doJSON(t, c, "POST", base+signPath("other", other.GenerationID)+"?api-version=2018-06-28", signBody, &got)
		if status != 403 || got["message"] == "" {
			t.Fatalf("got %d %v", status, got)
		}
	})
	t.Run("unknown module", func(t *testing.T) {
		// aziot-edged's auth_caller finds no container of that module: 403.
		status, raw := doJSON(t, c, "POST", base+signPath("ghost", "1")+"?api-version=2018-06-28", signBody, nil)
		if status != 403 || !strings.Contains(string(raw), `"message"`) {
			t.Fatalf("got %d %s", status, raw)
		}
	})
	t.Run("generation id ignored", func(t *testing.T) {
		var got map[string]string
		status, raw := doJSON(t, c, "POST", base+signPath(testModule, "123")+"?api-version=2018-06-28", signBody, &got)
		if status != 200 || got["digest"] == "" {
			t.Fatalf("got %d %s", status, raw)
		}
	})
	t.Run("bad body", func(t *testing.T) {
		for _, tc := range []struct {
			body any
			want int
		}{
			{"{", 422},                             // not JSON
			{map[string]string{}, 422},             // no data
			{map[string]int{"data": 1}, 422},       // data not a string
			{map[string]string{"data": "!!"}, 400}, // data not base64
		} {
			status, raw := doJSON(t, c, "POST", base+signPath(testModule, id.GenerationID)+"?api-version=2018-06-28", tc.body, nil)
			if status != tc.want {
				t.Fatalf("%v: got %d %s, want %d", tc.body, status, raw, tc.want)
			}
		}
		// keyId and algo are ignored: the module key, HMAC-SHA256.
		var got map[string]string
		status, raw := doJSON(t, c, "POST", base+signPath(testModule, id.GenerationID)+"?api-version=2018-06-28",
			map[string]string{"keyId": "secondary", "algo": "MD5", "data": data}, &got)
		if status != 200 || got["digest"] == "" {
			t.Fatalf("algo MD5: got %d %s", status, raw)
		}
	})
	t.Run("content type", func(t *testing.T) {
		// aziot-edged reads the body only without Content-Type or with
		// application/json; otherwise the route sees no body (aziot-edge
		// >= 1.3 broke clients sending text/plain).
		raw, _ := json.Marshal(signBody)
		for _, tc := range []struct {
			contentType string
			body        []byte
			want        int
		}{
			{"application/json", raw, 200},
			{"application/json; charset=utf-8", raw, 200},
			{"", raw, 200},
			{"text/plain", raw, 400},
			{"application/json", nil, 400},
		} {
			req, _ := http.NewRequest("POST", base+signPath(testModule, id.GenerationID)+"?api-version=2018-06-28", bytes.NewReader(tc.body))
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			resp, err := c.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			out, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != tc.want {
				t.Errorf("Content-Type %q, %d-byte body: %d %s, want %d", tc.contentType, len(tc.body), resp.StatusCode, out, tc.want)
			}
			if tc.want == 400 && !strings.Contains(string(out), "missing request body") {
				t.Errorf("Content-Type %q: %s", tc.contentType, out)
			}
		}
	})
	t.Run("url-encoded module id", func(t *testing.T) {
		agent, _ := e.ModuleIdentity("$edgeAgent")
		ac := unixClient(e.WorkloadSocket("$edgeAgent"))
		var got map[string]string
		status, raw := doJSON(t, ac, "POST", base+"/modules/%24edgeAgent/genid/"+agent.GenerationID+"/sign?api-version=2018-06-28", signBody, &got)
		if status != 200 || got["digest"] == "" {
			t.Fatalf("got %d %s", status, raw)
		}
	})
	t.Run("server certificate", func(t *testing.T) {
		var got struct {
			PrivateKey  struct{ Type, Bytes string } `json:"privateKey"`
			Certificate string                       `json:"certificate"`
			Expiration  string                       `json:"expiration"`
		}
		status, raw := doJSON(t, c, "POST", base+"/modules/readiness/genid/"+id.GenerationID+"/certificate/server?api-version=2019-01-30",
			map[string]string{"commonName": "myhost"}, &got)
		if status != http.StatusCreated || got.PrivateKey.Type != "key" || !strings.Contains(got.PrivateKey.Bytes, "PRIVATE KEY") {
			t.Fatalf("got %d %s", status, raw)
		}
		b, rest := pem.Decode([]byte(got.Certificate))
		leaf, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			t.Fatal(err)
		}
		pool := e.CertPool()
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: pool, DNSName: "myhost"}); err != nil {
			t.Fatalf("leaf does not verify: %v", err)
		}
		if err := leaf.VerifyHostname("readiness"); err != nil {
			t.Fatalf("module id not in SANs: %v", err)
		}
		if !strings.Contains(string(rest), "BEGIN CERTIFICATE") {
			t.Fatal("chain lacks the Edge CA")
		}
	})
}
