package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/url"
	"strings"
	"testing"
)

func TestWorkloadAPI(t *testing.T) {
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
		status, raw := doJSON(t, c, "POST", base+signPath("ghost", "1")+"?api-version=2018-06-28", signBody, nil)
		if status != 404 || !strings.Contains(string(raw), `"message"`) {
			t.Fatalf("got %d %s", status, raw)
		}
	})
	t.Run("bad generation id", func(t *testing.T) {
		status, raw := doJSON(t, c, "POST", base+signPath(testModule, "123")+"?api-version=2018-06-28", signBody, nil)
		if status != 400 {
			t.Fatalf("got %d %s", status, raw)
		}
	})
	t.Run("bad body", func(t *testing.T) {
		for _, body := range []any{"{", map[string]string{"data": "!!"}, map[string]string{"algo": "MD5", "data": data}, map[string]string{}} {
			status, raw := doJSON(t, c, "POST", base+signPath(testModule, id.GenerationID)+"?api-version=2018-06-28", body, nil)
			if status != 400 {
				t.Fatalf("%v: got %d %s", body, status, raw)
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
