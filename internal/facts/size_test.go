package facts

import (
	"math"
	"testing"
)

// TestBytesIEC pins the text of byte counts that checks' messages (int64
// sizes of the snapshot) and the support-bundle reader's errors (uint64
// sizes of zip entries) write.
func TestBytesIEC(t *testing.T) {
	signed := []struct {
		n    int64
		want string
	}{
		{math.MinInt64, "-9223372036854775808 B"},
		{-1, "-1 B"},
		{0, "0 B"},
		{1023, "1023 B"},
		{1024, "1.0 KiB"},
		{1536, "1.5 KiB"},
		{1<<20 - 1, "1024.0 KiB"},
		{4 << 20, "4.0 MiB"},
		{1 << 30, "1.0 GiB"},
		{1<<40 + 1<<39, "1.5 TiB"},
		{1 << 50, "1.0 PiB"},
		{1 << 60, "1.0 EiB"},
		{math.MaxInt64, "8.0 EiB"},
	}
	for _, tt := range signed {
		if got := BytesIEC(tt.n); got != tt.want {
			t.Errorf("BytesIEC(int64 %d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	unsigned := []struct {
		n    uint64
		want string
	}{
		{0, "0 B"},
		{1023, "1023 B"},
		{4 << 20, "4.0 MiB"},
		{1 << 63, "8.0 EiB"},
		{math.MaxUint64, "16.0 EiB"},
	}
	for _, tt := range unsigned {
		if got := BytesIEC(tt.n); got != tt.want {
			t.Errorf("BytesIEC(uint64 %d) = %q, want %q", tt.n, got, tt.want)
		}
	}
	if got := BytesIEC(64 << 20); got != "64.0 MiB" { // an untyped constant, as the bundle's limits
		t.Errorf("BytesIEC(64 << 20) = %q, want 64.0 MiB", got)
	}
}
