package bundle

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"strings"
	"unicode/utf8"

	"github.com/edge-readiness/edge-readiness/internal/facts"
)

// Limits of the support-bundle reader. A bundle is read in memory, never
// extracted: only the entries the facts come from (check.json, inspect/,
// network/) are decompressed, each into a buffer of at most maxBundleEntry
// bytes, all of them together at most maxBundleRead. The logs, which can be
// gigabytes, are never read, so the archive itself has no size limit.
const (
	// maxBundleEntries bounds the entries of the archive (a device with 50
	// modules makes about 110).
	maxBundleEntries = 10000
	// maxBundleDirectory bounds the zip's central directory, which the zip
	// reader holds in memory.
	maxBundleDirectory = 16 << 20
	// maxBundleEntry bounds one entry read (a container's inspect is 10 to
	// 30 KB; check.json about 20 KB).
	maxBundleEntry = 4 << 20
	// maxBundleRead bounds the entries read together.
	maxBundleRead = 64 << 20
	// bundlePrefixScan is how far into the file a truncated archive's first
	// entry is looked for: `iotedge support-bundle -o -` prints a status
	// line before the zip.
	bundlePrefixScan = 4096
)

// zipEntry is one entry of the archive, as its central directory or, in a
// truncated archive, its local header declares it.
type zipEntry struct {
	name string
	size uint64 // declared uncompressed size
	open func() (io.ReadCloser, error)
	// crc is checked after reading when the zip reader does not (entries
	// recovered from a truncated archive).
	crc      uint32
	checkCRC bool
}

// bundleArchive is what the reader found in the archive.
type bundleArchive struct {
	entries []zipEntry
	// truncated says why the archive has no central directory and where the
	// entries recovered from it stop ("" for a whole archive).
	truncated string
	// cut is the entry the archive is cut in, when its header survived.
	cut  string
	read int64 // bytes read so far, against maxBundleRead
}

// openBundleArchive lists the entries of the zip in ra, refusing a file
// that is not a zip, names that are not plain relative paths, duplicate
// names, and more entries or a larger directory than the limits. A zip
// without its central directory (cut short while it was written) yields the
// complete entries before the cut.
func openBundleArchive(ra io.ReaderAt, size int64) (*bundleArchive, error) {
	end, err := zipDirectoryEnd(ra, size)
	if err != nil {
		return nil, err
	}
	var a *bundleArchive
	if end == nil {
		a, err = salvageZip(ra, size)
		if err != nil {
			return nil, err
		}
	} else {
		if end.records > maxBundleEntries {
			return nil, fmt.Errorf("the archive has %d entries, more than the %d a support bundle may have", end.records, maxBundleEntries)
		}
		if end.dirSize > maxBundleDirectory {
			return nil, fmt.Errorf("the archive's directory is %s, more than the %s a support bundle may have",
				facts.BytesIEC(end.dirSize), facts.BytesIEC(maxBundleDirectory))
		}
		zr, err := zip.NewReader(ra, size)
		if err != nil && !errors.Is(err, zip.ErrInsecurePath) { // names are checked below, whatever GODEBUG says
			// Compressed data may hold the directory's signature by chance:
			// read the archive as one cut short before giving up.
			if a, serr := salvageZip(ra, size); serr == nil && len(a.entries) > 0 {
				return checkNames(a)
			}
			return nil, fmt.Errorf("not a readable zip archive: %w", err)
		}
		if len(zr.File) > maxBundleEntries {
			return nil, fmt.Errorf("the archive has %d entries, more than the %d a support bundle may have", len(zr.File), maxBundleEntries)
		}
		a = &bundleArchive{}
		for _, f := range zr.File {
			a.entries = append(a.entries, zipEntry{name: f.Name, size: f.UncompressedSize64, open: f.Open})
		}
	}
	return checkNames(a)
}

// checkNames refuses names that are not plain relative paths and names
// that appear twice (which of the two would the facts come from?).
func checkNames(a *bundleArchive) (*bundleArchive, error) {
	seen := make(map[string]bool, len(a.entries))
	for _, e := range a.entries {
		if err := checkEntryName(e.name); err != nil {
			return nil, err
		}
		if seen[e.name] {
			return nil, fmt.Errorf("entry %q appears twice in the archive: refusing it", shorten(e.name, 120))
		}
		seen[e.name] = true
	}
	return a, nil
}

// checkEntryName refuses a name that is not a plain relative path inside
// the archive: absolute, with a .. element, a backslash, a drive letter, a
// NUL or invalid UTF-8. Nothing is ever extracted, but such a name has no
// place in a support bundle and tells that the archive was made to harm.
func checkEntryName(name string) error {
	bad := func(why string) error {
		return fmt.Errorf("entry name %q %s: refusing the archive", shorten(name, 120), why)
	}
	switch {
	case name == "":
		return bad("is empty")
	case !utf8.ValidString(name) || strings.ContainsRune(name, 0):
		return bad("is not valid text")
	case strings.Contains(name, `\`):
		return bad("holds a backslash")
	case strings.HasPrefix(name, "/") || (len(name) >= 2 && name[1] == ':'):
		return bad("is an absolute path")
	}
	for _, el := range strings.Split(name, "/") {
		if el == ".." {
			return bad("climbs out of the archive (..)")
		}
	}
	if path.Clean(name) != strings.TrimSuffix(name, "/") {
		return bad("is not a clean path")
	}
	return nil
}

// readEntry decompresses e into memory within the limits.
func (a *bundleArchive) readEntry(e *zipEntry) ([]byte, error) {
	limit := min(int64(maxBundleEntry), maxBundleRead-a.read)
	if e.size > uint64(maxBundleEntry) {
		return nil, fmt.Errorf("%s declares %s uncompressed, more than the %s an entry may hold", e.name, facts.BytesIEC(e.size), facts.BytesIEC(maxBundleEntry))
	}
	if e.size > uint64(limit) {
		return nil, fmt.Errorf("%s: the entries read hold more than %s together", e.name, facts.BytesIEC(maxBundleRead))
	}
	rc, err := e.open()
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", e.name, err)
	}
	defer rc.Close()
	data, err := io.ReadAll(io.LimitReader(rc, limit+1))
	if errors.Is(err, zip.ErrFormat) { // the zip reader stops an entry at the size it declares
		return nil, fmt.Errorf("%s expands beyond the %s it declares: a zip bomb, or a corrupt entry", e.name, facts.BytesIEC(e.size))
	}
	if err != nil {
		return nil, fmt.Errorf("reading %s: %w", e.name, err)
	}
	switch {
	case int64(len(data)) > maxBundleEntry:
		return nil, fmt.Errorf("%s expands beyond %s although it declares %s: a zip bomb", e.name, facts.BytesIEC(maxBundleEntry), facts.BytesIEC(e.size))
	case int64(len(data)) > limit:
		return nil, fmt.Errorf("%s: the entries read hold more than %s together", e.name, facts.BytesIEC(maxBundleRead))
	}
	if e.checkCRC && (uint64(len(data)) != e.size || crc32.ChecksumIEEE(data) != e.crc) {
		return nil, fmt.Errorf("reading %s: %w", e.name, zip.ErrChecksum)
	}
	a.read += int64(len(data))
	return data, nil
}

// zipEnd is what the end-of-central-directory record says.
type zipEnd struct {
	records uint64
	dirSize uint64
}

const (
	sigLocalHeader = 0x04034b50
	sigDirEnd      = 0x06054b50
	sigDir64End    = 0x06064b50
	sigDir64Loc    = 0x07064b50
	dirEndLen      = 22
	dir64LocLen    = 20
	dir64EndLen    = 56
	localHeaderLen = 30
)

// zipDirectoryEnd reads the end-of-central-directory record (and its ZIP64
// form), as the zip reader will, to check the limits before the reader
// allocates anything. It returns nil, nil when the file has no such record.
func zipDirectoryEnd(ra io.ReaderAt, size int64) (*zipEnd, error) {
	n := min(size, int64(dirEndLen+0xffff))
	buf := make([]byte, n)
	if _, err := ra.ReadAt(buf, size-n); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	p := -1
	for i := len(buf) - dirEndLen; i >= 0; i-- {
		if binary.LittleEndian.Uint32(buf[i:]) == sigDirEnd {
			p = i
			break
		}
	}
	if p < 0 {
		return nil, nil
	}
	rec := buf[p:]
	end := &zipEnd{records: uint64(binary.LittleEndian.Uint16(rec[10:])), dirSize: uint64(binary.LittleEndian.Uint32(rec[12:]))}
	if end.records != 0xffff && end.dirSize != 0xffffffff && binary.LittleEndian.Uint32(rec[16:]) != 0xffffffff {
		return end, nil
	}
	// ZIP64: the locator sits just before the record and points at the
	// ZIP64 end record.
	at := size - n + int64(p) - dir64LocLen
	if at < 0 {
		return end, nil
	}
	var loc [dir64LocLen]byte
	if _, err := ra.ReadAt(loc[:], at); err != nil {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	if binary.LittleEndian.Uint32(loc[:]) != sigDir64Loc {
		return end, nil // no ZIP64 record: the 32-bit values are the true ones
	}
	off := binary.LittleEndian.Uint64(loc[8:])
	var e64 [dir64EndLen]byte
	if off > uint64(size) {
		return nil, errors.New("not a readable zip archive: its ZIP64 directory lies beyond the file")
	}
	if _, err := ra.ReadAt(e64[:], int64(off)); err != nil || binary.LittleEndian.Uint32(e64[:]) != sigDir64End {
		return nil, errors.New("not a readable zip archive: its ZIP64 directory end is missing")
	}
	return &zipEnd{records: binary.LittleEndian.Uint64(e64[32:]), dirSize: binary.LittleEndian.Uint64(e64[40:])}, nil
}

// salvageZip reads a zip that has no central directory, entry by entry from
// its local headers, as `iotedge support-bundle` leaves one when it fails
// while writing a module's logs: the entries written before the failure are
// whole, the one being written is cut. It stops at the first entry that is
// not whole and says where in the archive's truncated field.
func salvageZip(ra io.ReaderAt, size int64) (*bundleArchive, error) {
	head := make([]byte, min(size, bundlePrefixScan))
	if _, err := ra.ReadAt(head, 0); err != nil && !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("reading the archive: %w", err)
	}
	start := bytes.Index(head, []byte("PK\x03\x04"))
	if start < 0 {
		return nil, errors.New("not a zip archive")
	}
	a := &bundleArchive{}
	stop := func(why string) *bundleArchive {
		a.truncated = why
		return a
	}
	off := int64(start)
	for {
		if len(a.entries) >= maxBundleEntries {
			return nil, fmt.Errorf("the archive has more than the %d entries a support bundle may have", maxBundleEntries)
		}
		var h [localHeaderLen]byte
		if off+localHeaderLen > size {
			return stop(fmt.Sprintf("the archive ends %d bytes after its last whole entry", size-off)), nil
		}
		if _, err := ra.ReadAt(h[:], off); err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		if binary.LittleEndian.Uint32(h[:]) != sigLocalHeader {
			return stop(fmt.Sprintf("no entry follows at byte %d", off)), nil
		}
		flags := binary.LittleEndian.Uint16(h[6:])
		method := binary.LittleEndian.Uint16(h[8:])
		crc := binary.LittleEndian.Uint32(h[14:])
		csize := uint64(binary.LittleEndian.Uint32(h[18:]))
		usize := uint64(binary.LittleEndian.Uint32(h[22:]))
		nameLen := int64(binary.LittleEndian.Uint16(h[26:]))
		extraLen := int64(binary.LittleEndian.Uint16(h[28:]))
		if off+localHeaderLen+nameLen+extraLen > size {
			return stop(fmt.Sprintf("the archive ends in the header of its entry at byte %d", off)), nil
		}
		ne := make([]byte, nameLen+extraLen)
		if _, err := ra.ReadAt(ne, off+localHeaderLen); err != nil {
			return nil, fmt.Errorf("reading the archive: %w", err)
		}
		name := string(ne[:nameLen])
		if err := checkEntryName(name); err != nil {
			return nil, err
		}
		if csize == 0xffffffff || usize == 0xffffffff {
			usize, csize = zip64Sizes(ne[nameLen:], usize, csize)
		}
		dataOff := off + localHeaderLen + nameLen + extraLen
		switch {
		case flags&0x1 != 0:
			return nil, fmt.Errorf("entry %q is encrypted: a support bundle never is", name)
		case flags&0x8 != 0:
			return stop(fmt.Sprintf("entry %s was written with a data descriptor, so its end cannot be found without the directory", name)), nil
		case method != zip.Store && method != zip.Deflate:
			return stop(fmt.Sprintf("entry %s uses compression method %d", name, method)), nil
		case method == zip.Deflate && csize == 0,
			csize > uint64(size-dataOff):
			// The entry being written when the bundle failed: its header
			// still has the placeholder sizes, or its data is cut.
			a.cut = name
			return stop("the archive is cut in entry " + name), nil
		}
		a.entries = append(a.entries, salvagedEntry(ra, name, method, dataOff, csize, usize, crc))
		off = dataOff + int64(csize)
	}
}

// zip64Sizes reads the sizes of the ZIP64 extra field (id 1) of a local
// header, which holds both when either does not fit in 32 bits.
func zip64Sizes(extra []byte, usize, csize uint64) (uint64, uint64) {
	for len(extra) >= 4 {
		id := binary.LittleEndian.Uint16(extra)
		n := int(binary.LittleEndian.Uint16(extra[2:]))
		if 4+n > len(extra) {
			break
		}
		if id == 1 && n >= 16 {
			return binary.LittleEndian.Uint64(extra[4:]), binary.LittleEndian.Uint64(extra[12:])
		}
		extra = extra[4+n:]
	}
	return usize, csize
}

func salvagedEntry(ra io.ReaderAt, name string, method uint16, off int64, csize, usize uint64, crc uint32) zipEntry {
	return zipEntry{name: name, size: usize, crc: crc, checkCRC: true, open: func() (io.ReadCloser, error) {
		r := io.NewSectionReader(ra, off, int64(csize))
		if method == zip.Deflate {
			return flate.NewReader(r), nil
		}
		return io.NopCloser(r), nil
	}}
}

// shorten cuts s to at most n bytes, marking the cut.
func shorten(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
