package hub

import "testing"

func TestSafeProperty(t *testing.T) {
	tests := []struct{ in, want string }{
		{"notReady", "notReady"},
		{"module-resource-limits", "module-resource-limits"},
		{"not ready", "not_ready"}, // the library would send '+', an MQTT wildcard: edgeHub drops the connection
		{"tab\there", "tab_here"},  // any whitespace
		{"a+b", "a_b"},             // a literal '+' too
		{"#1", "_1"},               // the other wildcard
		{"2026-11-29T10:00:00Z", "2026-11-29T10:00:00Z"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := SafeProperty(tt.in); got != tt.want {
			t.Errorf("SafeProperty(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestParseMethodTopic(t *testing.T) {
	tests := []struct {
		topic, name, rid string
		ok               bool
	}{
		{"$iothub/methods/POST/runChecks/?$rid=1", "runChecks", "1", true},
		{"$iothub/methods/POST/getReport/?$rid=a1b2", "getReport", "a1b2", true},
		{"$iothub/methods/POST/runChecks/", "", "", false},
		{"$iothub/methods/POST//?$rid=1", "", "", false},
		{"$iothub/twin/res/200/?$rid=1", "", "", false},
	}
	for _, tt := range tests {
		name, rid, err := parseMethodTopic(tt.topic)
		if (err == nil) != tt.ok || name != tt.name || rid != tt.rid {
			t.Errorf("parseMethodTopic(%q) = %q, %q, %v", tt.topic, name, rid, err)
		}
	}
}
