//go:build linux

package procmem

import (
	"errors"
	"os"
	"reflect"
	"strings"
	"testing"
)

func TestParseSmaps(t *testing.T) {
	f, err := os.Open("testdata/smaps")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for _, c := range []struct {
		exe  string
		want []mapping
	}{
		// The code and the read-only data; not the written data, the heap or another file.
		{"/usr/local/bin/edge-readiness", []mapping{
			{start: 0x400000, end: 0xc5e000, rss: 4120 << 10},
			{start: 0xc5e000, end: 0x1524000, rss: 5016 << 10},
		}},
		// A path with a space, and a mapping with a private page (kept whole by ReleaseStartupPages).
		{"/usr/local/bin/with space", []mapping{{start: 0x7f1a2c000000, end: 0x7f1a2c021000, rss: 16 << 10, anon: 4 << 10}}},
		{"/nowhere", nil},
	} {
		if _, err := f.Seek(0, 0); err != nil {
			t.Fatal(err)
		}
		got, err := parseSmaps(f, c.exe)
		if err != nil {
			t.Fatalf("%s: %v", c.exe, err)
		}
		if !reflect.DeepEqual(got, c.want) {
			t.Errorf("%s: got %+v, want %+v", c.exe, got, c.want)
		}
	}
}

func TestParseSmapsRefusesGarbage(t *testing.T) {
	for _, in := range []string{
		"not a mapping line\n",
		"00c5e000-00400000 r--p 0085e000 fd:01 1048593 /bin/x\n",
		"zz-01 r--p 0 fd:01 1 /bin/x\n",
	} {
		if _, err := parseSmaps(strings.NewReader(in), "/bin/x"); err == nil {
			t.Errorf("%q: no error", in)
		}
	}
}

// TestReleaseStartupPages pages out this test binary's start-up pages, as
// the module does after its first cycle, and sees its resident code and
// read-only data shrink.
func TestReleaseStartupPages(t *testing.T) {
	r, err := ReleaseStartupPages()
	if errors.Is(err, ErrUnsupported) {
		t.Skip(err)
	}
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d mappings: %d KiB resident before, %d KiB after", r.Mappings, r.ResidentBefore>>10, r.ResidentAfter>>10)
	if r.Mappings == 0 {
		t.Fatalf("no read-only mapping of the executable was paged out: %+v", r)
	}
	if r.ResidentAfter >= r.ResidentBefore {
		t.Errorf("resident size of the executable's read-only mappings went from %d to %d bytes, want lower", r.ResidentBefore, r.ResidentAfter)
	}
}
