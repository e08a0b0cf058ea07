package redact

import (
	"bytes"
	"strings"
	"testing"
)

func TestPolicyValue(t *testing.T) {
	p := NewPolicy([]string{"LOG_LEVEL"})
	tests := []struct{ name, value, want string }{
		{"UpstreamProtocol", "MqttWs", "MqttWs"},
		{"upstreamprotocol", "Amqp", "Amqp"},
		{"LOG_LEVEL", "debug", "debug"},
		{"log_level", "debug", "debug"},
		{"DB_PASSWORD", "hunter2", Mask},
		{"SOME_SETTING", "plain", Mask},
		{"https_proxy", "http://user:pa55@proxy:3128", "http://%5BREDACTED%5D@proxy:3128"},
		{"https_proxy", "http://proxy:3128", "http://proxy:3128"},
	}
	for _, tt := range tests {
		if got := p.Value(tt.name, tt.value); got != tt.want {
			t.Errorf("Value(%s, %s) = %q, want %q", tt.name, tt.value, got, tt.want)
		}
	}
}

func TestScrubber(t *testing.T) {
	s := NewScrubber()
	s.AddEnv(NewPolicy(nil), map[string]string{
		"DB_PASSWORD":      "hunter2-not-for-you",
		"API_TOKEN":        "tok3n",
		"UpstreamProtocol": "Amqp",                    // allowed: kept
		"COLOR":            "blue",                    // not secret-looking: kept
		"BLOB":             "Zx81kQpL0s9dXj2mWq7RtYb", // random-looking: scrubbed
	})
	in := `{"a":"hunter2-not-for-you","b":"tok3n","c":"Amqp","d":"blue","e":"Zx81kQpL0s9dXj2mWq7RtYb",` +
		`"f":"HostName=h.azure-devices.net;DeviceId=d;SharedAccessKey=QWxzb1NlY3JldA==",` +
		`"g":"SharedAccessSignature sr=h%2Fdevices%2Fd&sig=abc%3D&se=1700000000",` +
		`"h":"https://user:pw@registry.example.com/v2"}`
	out := s.String(in)
	for _, secret := range []string{"hunter2", "tok3n", "Zx81kQpL0s9dXj2mWq7RtYb", "QWxzb1NlY3JldA", "abc%3D", ":pw@"} {
		if strings.Contains(out, secret) {
			t.Errorf("scrubbed output still holds %q: %s", secret, out)
		}
	}
	for _, keep := range []string{`"c":"Amqp"`, `"d":"blue"`, "HostName=h.azure-devices.net", "registry.example.com"} {
		if !strings.Contains(out, keep) {
			t.Errorf("scrubbed output lost %q: %s", keep, out)
		}
	}
}

func TestScrubPrivateKey(t *testing.T) {
	s := NewScrubber()
	out := s.String("key: -----BEGIN RSA PRIVATE KEY-----\nMIIEow\n-----END RSA PRIVATE KEY----- end")
	if strings.Contains(out, "MIIEow") || !strings.HasSuffix(out, " end") {
		t.Errorf("private key not scrubbed: %q", out)
	}
}

func TestWriter(t *testing.T) {
	s := NewScrubber()
	s.AddEnv(NewPolicy(nil), map[string]string{"SECRET": "s3cr3t-value"})
	var buf bytes.Buffer
	w := s.Writer(&buf)
	n, err := w.Write([]byte(`{"level":"info","msg":"got s3cr3t-value"}` + "\n"))
	if err != nil || n != len(`{"level":"info","msg":"got s3cr3t-value"}`+"\n") {
		t.Fatalf("Write = %d, %v", n, err)
	}
	if strings.Contains(buf.String(), "s3cr3t") || !strings.Contains(buf.String(), Mask) {
		t.Errorf("writer output = %q", buf.String())
	}
}

func BenchmarkScrubReport(b *testing.B) {
	s := NewScrubber()
	env := map[string]string{}
	for i := 0; i < 50; i++ {
		env["KEY_"+strings.Repeat("X", i%5)+string(rune('A'+i%26))] = strings.Repeat("s", 10) + string(rune('a'+i%26))
	}
	s.AddEnv(NewPolicy(nil), env)
	doc := bytes.Repeat([]byte(`{"id":"modules-running","module":"m","message":"m is running (0 restarts)"},`), 400)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		_ = s.Bytes(doc)
	}
}

func TestAddEnvIsIdempotent(t *testing.T) {
	s := NewScrubber()
	env := map[string]string{"A_KEY": "value-one", "B_KEY": "value-two", "C_TOKEN": "value-333"}
	for i := 0; i < 100; i++ {
		s.AddEnv(NewPolicy(nil), env)
	}
	if len(s.secrets) != 3 {
		t.Errorf("after 100 cycles the scrubber holds %d values, want 3", len(s.secrets))
	}
}

func TestScrubRegistryLogin(t *testing.T) {
	s := NewScrubber()
	for in, want := range map[string]string{
		`image "user:pw-1@contoso.azurecr.io/sensor:1.0" is not pinned`: `image "` + Mask + `@contoso.azurecr.io/sensor:1.0" is not pinned`,
		"(robot$ci:pw:2@registry.local:5000/a/b)":                       "(" + Mask + "@registry.local:5000/a/b)",
		// Not credentials: digests, ports, plain references and URLs stay.
		"alpine:3.19@sha256:0123456789abcdef":           "alpine:3.19@sha256:0123456789abcdef",
		"contoso.azurecr.io/sensor:1.0@sha256:0123abcd": "contoso.azurecr.io/sensor:1.0@sha256:0123abcd",
		"http://edgeHub:9600/metrics":                   "http://edgeHub:9600/metrics",
		"edge-01.contoso.local:8883 answered in 40ms":   "edge-01.contoso.local:8883 answered in 40ms",
		"registry contoso.azurecr.io:443 is reachable":  "registry contoso.azurecr.io:443 is reachable",
	} {
		if got := s.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
	}
}

// scrubCorpus holds text with and without what the patterns catch, in
// several cases and with the non-ASCII letters that (?i) folds to ASCII.
var scrubCorpus = []string{
	"", "plain text", "m is running (0 restarts)", "x=y", "HostName=h;SharedAccessKey=abc==", "sig=abc%3D&se=1",
	"PASSWORD=hunter2", "pwd=x y", "SharedAccessSignature sr=h%2Fdevices&sig=abc", "Authorization: Bearer abcdefgh12345678",
	"BASIC QWxhZGRpbjpvcGVu", "baſic QWxhZGRpbjpvcGVu", "bearer short", "BeArEr abcdefghijklmnop",
	"-----BEGIN RSA PRIVATE KEY-----\nMIIE\n-----END RSA PRIVATE KEY-----", "-----BEGIN PRIVATE KEY----- no end",
	"https://user:pw@registry.example.com/v2", "amqps://a:b@c", "http://edgeHub:9600/metrics", "user:pw-1@contoso.azurecr.io/sensor:1.0",
	"alpine:3.19@sha256:0123456789abcdef", "mail me: a@b", "(robot$ci:pw:2@registry.local:5000/a/b)", "ſig=abc", "ßig=1",
	"tok3n and hunter2-not-for-you", `{"a":"b=c","d":"e@f:g"}`, "Kelvin K sign: bearer",
}

// FuzzNeedsNeverSkipAMatch: a pattern whose needs say no cannot match.
func FuzzNeedsNeverSkipAMatch(f *testing.F) {
	for _, s := range scrubCorpus {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		for i, p := range patterns {
			if p.MatchString(v) && !needs[i](v) {
				t.Errorf("pattern %d (%s) matches %q, but its needs say it cannot", i, p, v)
			}
		}
	})
}

// TestScrubAsEveryPatternRun: the scrubber's output is that of running every
// pattern on every text, the way it was done before the needs.
func TestScrubAsEveryPatternRun(t *testing.T) {
	s := NewScrubber()
	s.AddEnv(NewPolicy(nil), map[string]string{"DB_PASSWORD": "hunter2-not-for-you", "API_TOKEN": "tok3n"})
	everyPattern := func(b []byte) []byte {
		for _, sec := range s.secrets {
			b = bytes.ReplaceAll(b, []byte(sec), []byte(Mask))
		}
		for i, p := range patterns {
			switch i {
			case 4:
				b = p.ReplaceAll(b, []byte("://"+Mask+"@"))
				continue
			case 5:
				b = p.ReplaceAll(b, []byte(Mask+"@$1"))
				continue
			}
			b = p.ReplaceAllFunc(b, func(m []byte) []byte {
				if k := bytes.IndexByte(m, '='); k > 0 && i == 0 {
					return append(append([]byte{}, m[:k+1]...), Mask...)
				}
				return []byte(Mask)
			})
		}
		return b
	}
	for _, in := range scrubCorpus {
		want := string(everyPattern([]byte(in)))
		if got := s.String(in); got != want {
			t.Errorf("String(%q) = %q, want %q", in, got, want)
		}
		if got := string(s.Bytes([]byte(in))); got != want {
			t.Errorf("Bytes(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestStringWithoutSecretsAllocatesNothing: text with nothing to mask comes
// back as it is, without a copy.
func TestStringWithoutSecretsAllocatesNothing(t *testing.T) {
	s := NewScrubber()
	s.AddEnv(NewPolicy(nil), map[string]string{"DB_PASSWORD": "hunter2-not-for-you"})
	in := "module m is running (0 restarts) since 2026-11-22T10:00:00Z"
	if n := testing.AllocsPerRun(100, func() { _ = s.String(in) }); n != 0 {
		t.Errorf("String allocates %.0f times on text with no secret", n)
	}
}
