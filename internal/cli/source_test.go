package cli

import (
	"flag"
	"io"
	"testing"
)

// TestSourceFlags: one input at most replaces the device, whichever two are
// given; a snapshot is saved only from a device or a bundle.
func TestSourceFlags(t *testing.T) {
	tests := []struct {
		args []string
		want string // "" accepted
	}{
		{nil, ""},
		{[]string{"--snapshot", "s.json"}, ""},
		{[]string{"--support-bundle", "b.zip", "--save-snapshot", "s.json"}, ""},
		{[]string{"--manifest", "m.json", "--env-file", ".env", "--modules-dir", "modules"}, ""},
		{[]string{"--manifest", "m.json", "--snapshot", "s.json"}, "--manifest and --snapshot cannot be used together: each replaces the device"},
		{[]string{"--support-bundle", "b.zip", "--manifest", "m.json"}, "--manifest and --support-bundle cannot be used together: each replaces the device"},
		{[]string{"--support-bundle", "b.zip", "--snapshot", "s.json"}, "--snapshot and --support-bundle cannot be used together: each replaces the device"},
		{[]string{"--support-bundle", "b.zip", "--snapshot", "s.json", "--manifest", "m.json"}, "--manifest and --snapshot cannot be used together: each replaces the device"},
		{[]string{"--snapshot", "s.json", "--save-snapshot", "t.json"}, "--snapshot and --save-snapshot cannot be used together"},
		{[]string{"--manifest", "m.json", "--save-snapshot", "t.json"}, "--manifest and --save-snapshot cannot be used together: a manifest is no device's snapshot"},
		{[]string{"--env-file", ".env"}, "--env-file and --modules-dir go with --manifest"},
		{[]string{"--modules-dir", "modules", "--snapshot", "s.json"}, "--env-file and --modules-dir go with --manifest"},
	}
	for _, tt := range tests {
		fs := flag.NewFlagSet("check", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		src := registerSourceFlags(fs)
		if err := fs.Parse(tt.args); err != nil {
			t.Fatal(err)
		}
		got := ""
		if err := src.validate(); err != nil {
			got = err.Error()
		}
		if got != tt.want {
			t.Errorf("%q: got %q, want %q", tt.args, got, tt.want)
		}
	}
}
