package emulator

import (
	"encoding/base64"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestVerifyModuleSASToken(t *testing.T) {
	t.Parallel()
	const hub, gw, device, module = "hub.azure-devices.net", "mygateway", "device1", "readiness"
	key := newModuleKey()
	otherKey := newModuleKey()
	now := time.Unix(1_700_000_000, 0)
	hosts := []string{hub, gw}
	mk := func(key, host, dev, mod string, exp time.Time) string {
		t.Helper()
		tok, err := NewModuleSASToken(key, host, dev, mod, exp)
		if err != nil {
			t.Fatal(err)
		}
		return tok
	}
	// reorder puts the fields of a token in another order (sig, se, sr).
	reorder := func(tok string) string {
		p, _ := ParseSASToken(tok)
		return "SharedAccessSignature sig=" + p.Sig + "&se=" + strconv.FormatInt(p.Se, 10) + "&sr=" + p.Sr
	}
	tests := []struct {
		name    string
		token   string
		wantErr string
	}{
		{"good token", mk(key, hub, device, module, now.Add(time.Hour)), ""},
		{"good token fields reordered", reorder(mk(key, hub, device, module, now.Add(time.Hour))), ""},
		{"gateway host in sr", mk(key, gw, device, module, now.Add(time.Hour)), ""},
		{"host compared case-insensitively", mk(key, strings.ToUpper(hub), device, module, now.Add(time.Hour)), ""},
		{"wrong key", mk(otherKey, hub, device, module, now.Add(time.Hour)), "signature does not match"},
		{"expired", mk(key, hub, device, module, now.Add(-time.Second)), "expired"},
		{"expires now", mk(key, hub, device, module, now), "expired"},
		{"wrong module in sr", mk(key, hub, device, "other", now.Add(time.Hour)), "is not module"},
		{"wrong device in sr", mk(key, hub, "device2", module, now.Add(time.Hour)), "is not module"},
		{"unknown host in sr", mk(key, "evil.azure-devices.net", device, module, now.Add(time.Hour)), "is not module"},
		{"device-scope sr", func() string {
			sr := url.QueryEscape(hub + "/devices/" + device)
			k, _ := decodeKey(key)
			return "SharedAccessSignature sr=" + sr + "&sig=" + url.QueryEscape(SignSAS(k, sr, now.Add(time.Hour).Unix())) + "&se=" + strconv.FormatInt(now.Add(time.Hour).Unix(), 10)
		}(), "is not module"},
		{"policy token", mk(key, hub, device, module, now.Add(time.Hour)) + "&skn=iothubowner", "skn"},
		{"not a SAS token", "Bearer abc", "not a SharedAccessSignature"},
		{"missing sig", "SharedAccessSignature sr=a&se=1", "lacks"},
		{"tampered expiry", strings.Replace(mk(key, hub, device, module, now.Add(time.Hour)), "&se=", "&se=9", 1), "signature does not match"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			err := VerifyModuleSASToken(tc.token, key, hosts, device, module, now)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("want success, got %v", err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("want error containing %q, got %v", tc.wantErr, err)
			}
		})
	}
}

// TestVerifyNodeSDKStyleToken checks a token built like azure-iot-common
// (encodeURIComponent of the resource, "+" and "/" of the signature escaped,
// fields sr, sig, se) and like amenzhinsky/iothub's edge path (module id
// escaped inside the resource).
func TestVerifyNodeSDKStyleToken(t *testing.T) {
	t.Parallel()
	key := newModuleKey()
	k, _ := decodeKey(key)
	now := time.Unix(1_700_000_000, 0)
	se := now.Add(time.Hour).Unix()
	for _, resource := range []string{
		"hub.azure-devices.net/devices/device1/modules/$edgeAgent",
		"hub.azure-devices.net/devices/device1/modules/" + url.QueryEscape("$edgeAgent"),
	} {
		sr := url.PathEscape(resource)
		sr = strings.ReplaceAll(sr, "/", "%2F")
		sr = strings.ReplaceAll(sr, "$", "%24")
		tok := "SharedAccessSignature sr=" + sr + "&sig=" + url.QueryEscape(SignSAS(k, sr, se)) + "&se=" + strconv.FormatInt(se, 10)
		if err := VerifyModuleSASToken(tok, key, []string{"hub.azure-devices.net"}, "device1", "$edgeAgent", now); err != nil {
			t.Errorf("resource %s: %v", resource, err)
		}
	}
}

func decodeKey(k string) ([]byte, error) { return base64.StdEncoding.DecodeString(k) }
