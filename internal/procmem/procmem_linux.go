//go:build linux

package procmem

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// maxSmaps bounds how much of /proc/self/smaps is read: a Go process has a
// few hundred mappings of about 1 KiB of text each.
const maxSmaps = 4 << 20

// mapping is one read-only mapping of the executable, as smaps lists it.
type mapping struct {
	start, end uintptr
	rss, anon  int64 // bytes
}

// ReleaseStartupPages pages out the clean pages of the running
// executable's read-only mappings (its code and read-only data): those
// with no private, anonymous page, so that nothing but file-backed copies
// is dropped. Call it once, when the process has done its start-up and a
// first round of its steady work.
func ReleaseStartupPages() (Release, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return Release{}, fmt.Errorf("procmem: the executable's path: %w", err)
	}
	maps, err := readOnlyMappings(exe)
	if err != nil {
		return Release{}, err
	}
	var r Release
	for _, m := range maps {
		r.ResidentBefore += m.rss
		if m.anon != 0 {
			continue // a page was written (relocated): keep the mapping whole
		}
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, m.start, m.end-m.start, unix.MADV_PAGEOUT); errno != 0 {
			if errno == unix.EINVAL {
				return Release{}, ErrUnsupported
			}
			return Release{}, fmt.Errorf("procmem: paging out %#x-%#x: %w", m.start, m.end, errno)
		}
		r.Mappings++
	}
	after, err := readOnlyMappings(exe)
	if err != nil {
		return Release{}, err
	}
	for _, m := range after {
		r.ResidentAfter += m.rss
	}
	return r, nil
}

// readOnlyMappings lists the mappings of exe without write permission, with
// their resident and anonymous sizes.
func readOnlyMappings(exe string) ([]mapping, error) {
	f, err := os.Open("/proc/self/smaps")
	if err != nil {
		return nil, fmt.Errorf("procmem: %w", err)
	}
	defer f.Close()
	maps, err := parseSmaps(io.LimitReader(f, maxSmaps), exe)
	if err != nil {
		return nil, fmt.Errorf("procmem: /proc/self/smaps: %w", err)
	}
	return maps, nil
}

// parseSmaps reads smaps (proc(5)): a header line per mapping
// ("start-end perms offset dev inode path") followed by "Field: N kB"
// lines, and keeps the mappings of exe whose permissions lack 'w'.
func parseSmaps(r io.Reader, exe string) ([]mapping, error) {
	var out []mapping
	var cur *mapping
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		line := sc.Text()
		fields := strings.Fields(line)
		if len(fields) == 0 {
			continue
		}
		if name, ok := strings.CutSuffix(fields[0], ":"); ok {
			if cur == nil || len(fields) < 2 {
				continue
			}
			n, err := strconv.ParseInt(fields[1], 10, 64)
			if err != nil {
				continue // a field that is not a size (VmFlags)
			}
			switch name {
			case "Rss":
				cur.rss = n << 10
			case "Anonymous":
				cur.anon = n << 10
			}
			continue
		}
		cur = nil
		start, end, ok := strings.Cut(fields[0], "-")
		if !ok || len(fields) < 5 || len(fields[1]) < 2 {
			return nil, fmt.Errorf("unexpected line %q", line)
		}
		if len(fields) < 6 || fields[1][1] == 'w' || strings.Join(fields[5:], " ") != exe {
			continue
		}
		s, err1 := strconv.ParseUint(start, 16, 64)
		e, err2 := strconv.ParseUint(end, 16, 64)
		if err := errors.Join(err1, err2); err != nil || e <= s {
			return nil, fmt.Errorf("unexpected range in %q", line)
		}
		out = append(out, mapping{start: uintptr(s), end: uintptr(e)})
		cur = &out[len(out)-1]
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
