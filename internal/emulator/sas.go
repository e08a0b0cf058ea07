package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// SASToken is a parsed IoT Hub shared access signature. Sr and Sig hold the
// values as they appear in the token (URL-encoded).
type SASToken struct {
	Sr  string
	Sig string
	Se  int64
	Skn string
}

const sasPrefix = "SharedAccessSignature "

// ParseSASToken parses "SharedAccessSignature sr=...&sig=...&se=...[&skn=...]"
// with its fields in any order.
func ParseSASToken(token string) (SASToken, error) {
	var t SASToken
	if !strings.HasPrefix(token, sasPrefix) {
		return t, errors.New("not a SharedAccessSignature token")
	}
	seen := map[string]bool{}
	for _, field := range strings.Split(strings.TrimSpace(token[len(sasPrefix):]), "&") {
		k, v, ok := strings.Cut(field, "=")
		if !ok || v == "" {
			return t, fmt.Errorf("malformed field %q", field)
		}
		if seen[k] {
			return t, fmt.Errorf("duplicate field %q", k)
		}
		seen[k] = true
		switch k {
		case "sr":
			t.Sr = v
		case "sig":
			t.Sig = v
		case "se":
			se, err := strconv.ParseInt(v, 10, 64)
			if err != nil {
				return t, fmt.Errorf("se %q is not a unix time", v)
			}
			t.Se = se
		case "skn":
			t.Skn = v
		default:
			return t, fmt.Errorf("unknown field %q", k)
		}
	}
	if t.Sr == "" || t.Sig == "" || !seen["se"] {
		return t, errors.New("token lacks sr, sig or se")
	}
	return t, nil
}

// SignSAS computes the signature of a token: base64(HMAC-SHA256(key,
// sr + "\n" + se)) where sr is the URL-encoded resource as it appears in the
// token.
func SignSAS(key []byte, encodedSr string, se int64) string {
	h := hmac.New(sha256.New, key)
	h.Write([]byte(encodedSr + "\n" + strconv.FormatInt(se, 10)))
	return base64.StdEncoding.EncodeToString(h.Sum(nil))
}

// NewModuleSASToken builds a module token the way the device SDKs do, for
// resource {host}/devices/{device}/modules/{module}.
func NewModuleSASToken(key, host, deviceID, moduleID string, expiry time.Time) (string, error) {
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", fmt.Errorf("key is not base64: %w", err)
	}
	sr := url.QueryEscape(host + "/devices/" + deviceID + "/modules/" + moduleID)
	se := expiry.Unix()
	return sasPrefix + "sr=" + sr + "&sig=" + url.QueryEscape(SignSAS(k, sr, se)) + "&se=" + strconv.FormatInt(se, 10), nil
}

// VerifyModuleSASToken checks a module token: the signature with the module
// key (base64), an expiry in the future and a resource naming
// {host}/devices/{device}/modules/{module} where host is one of hosts
// (resources compare case-insensitively after URL-decoding). Module tokens
// carry no skn.
func VerifyModuleSASToken(token, key string, hosts []string, deviceID, moduleID string, now time.Time) error {
	t, err := ParseSASToken(token)
	if err != nil {
		return err
	}
	if t.Skn != "" {
		return errors.New("module tokens must not name a policy (skn)")
	}
	sr, err := verifySignature(t, key, "module key", now)
	if err != nil {
		return err
	}
	if !resourceMatches(sr, hosts, deviceID, moduleID) {
		return fmt.Errorf("resource %q is not module %s/%s", sr, deviceID, moduleID)
	}
	return nil
}

// resourceMatches compares {host}/devices/{device}/modules/{module}; ids in
// the resource may themselves be URL-encoded (e.g. %24edgeAgent).
func resourceMatches(sr string, hosts []string, deviceID, moduleID string) bool {
	parts := strings.Split(strings.TrimSuffix(sr, "/"), "/")
	if len(parts) != 5 || !strings.EqualFold(parts[1], "devices") || !strings.EqualFold(parts[3], "modules") {
		return false
	}
	unesc := func(s string) string {
		if u, err := url.PathUnescape(s); err == nil {
			return u
		}
		return s
	}
	hostOK := false
	for _, h := range hosts {
		if h != "" && strings.EqualFold(parts[0], h) {
			hostOK = true
		}
	}
	return hostOK && strings.EqualFold(unesc(parts[2]), deviceID) && strings.EqualFold(unesc(parts[4]), moduleID)
}

// verifySignature checks a token's signature against a base64 key (named by
// what in errors) and its expiry, and returns its URL-decoded resource.
func verifySignature(t SASToken, key, what string, now time.Time) (string, error) {
	k, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return "", fmt.Errorf("%s is not base64: %w", what, err)
	}
	sig, err := url.PathUnescape(t.Sig)
	if err != nil {
		return "", fmt.Errorf("sig is not URL-encoded: %w", err)
	}
	got, err := base64.StdEncoding.DecodeString(sig)
	if err != nil {
		return "", fmt.Errorf("sig is not base64: %w", err)
	}
	want, _ := base64.StdEncoding.DecodeString(SignSAS(k, t.Sr, t.Se))
	if !hmac.Equal(got, want) {
		return "", errors.New("signature does not match the " + what)
	}
	if !now.Before(time.Unix(t.Se, 0)) {
		return "", fmt.Errorf("token expired at %s", time.Unix(t.Se, 0).UTC().Format(time.RFC3339))
	}
	sr, err := url.PathUnescape(t.Sr)
	if err != nil {
		return "", fmt.Errorf("sr is not URL-encoded: %w", err)
	}
	return sr, nil
}
