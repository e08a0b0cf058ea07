package facts

import (
	"math"
	"testing"
)

// TestBytesIEC pins the text of byte counts that checks' messages (int64
// sizes of the snapshot) and the support-bundle reader's errors (uint64
// sizes of zip entries, untyped limits) write.
func TestBytesIEC(t *testing.T) {
	tests := []struct{ in, got, want string }{
		{"int64 MinInt64", BytesIEC(int64(math.MinInt64)), "-9223372036854775808 B"},
		{"int64 -1", BytesIEC(int64(-1)), "-1 B"},
		{"int64 0", BytesIEC(int64(0)), "0 B"},
		{"int64 1023", BytesIEC(int64(1023)), "1023 B"},
		{"int64 1024", BytesIEC(int64(1024)), "1.0 KiB"},
		{"int64 1536", BytesIEC(int64(1536)), "1.5 KiB"},
		{"int64 1 MiB - 1", BytesIEC(int64(1<<20 - 1)), "1024.0 KiB"},
		{"int64 4 MiB", BytesIEC(int64(4 << 20)), "4.0 MiB"},
		{"int64 1 GiB", BytesIEC(int64(1 << 30)), "1.0 GiB"},
		{"int64 1.5 TiB", BytesIEC(int64(1<<40 + 1<<39)), "1.5 TiB"},
		{"int64 1 PiB", BytesIEC(int64(1 << 50)), "1.0 PiB"},
		{"int64 1 EiB", BytesIEC(int64(1 << 60)), "1.0 EiB"},
		{"int64 MaxInt64", BytesIEC(int64(math.MaxInt64)), "8.0 EiB"},
		{"uint64 0", BytesIEC(uint64(0)), "0 B"},
		{"uint64 1023", BytesIEC(uint64(1023)), "1023 B"},
		{"uint64 4 MiB", BytesIEC(uint64(4 << 20)), "4.0 MiB"},
		{"uint64 1<<63", BytesIEC(uint64(1 << 63)), "8.0 EiB"},
		{"uint64 MaxUint64", BytesIEC(uint64(math.MaxUint64)), "16.0 EiB"},
		{"untyped 64 MiB", BytesIEC(64 << 20), "64.0 MiB"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("BytesIEC(%s) = %q, want %q", tt.in, tt.got, tt.want)
		}
	}
}
