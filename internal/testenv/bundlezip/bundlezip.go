// Package bundlezip writes zip archives laid out as `iotedge support-bundle`
// writes them (IoT Edge 1.4 to 1.6, zip crate 0.6): every entry Deflate
// compressed, its sizes and CRC in its local header (no data descriptor),
// stamped 1980-01-01 00:00, no directory entries, in the bundle's order. Tests
// use it to build bundles from a directory tree in testdata or from a
// simulated device.
package bundlezip

import (
	"archive/zip"
	"bytes"
	"compress/flate"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// File is one entry: its slash-separated name in the archive and its content.
type File struct {
	Name string
	Data []byte
}

// Write writes files to w as one archive, in the order given.
func Write(w io.Writer, files []File) error {
	zw := zip.NewWriter(w)
	var comp bytes.Buffer
	fw, err := flate.NewWriter(&comp, flate.DefaultCompression)
	if err != nil {
		return err
	}
	for _, f := range files {
		comp.Reset()
		fw.Reset(&comp)
		if _, err := fw.Write(f.Data); err != nil {
			return err
		}
		if err := fw.Close(); err != nil {
			return err
		}
		h := &zip.FileHeader{Name: f.Name, Method: zip.Deflate, CRC32: crc32.ChecksumIEEE(f.Data),
			CompressedSize64: uint64(comp.Len()), UncompressedSize64: uint64(len(f.Data))}
		h.ReaderVersion = 20 // 2.0: Deflate
		// MS-DOS 1980-01-01 00:00 and no extended timestamp, as the zip
		// crate writes; CreateRaw writes these fields as they are.
		h.ModifiedDate, h.ModifiedTime = 0x21, 0 //nolint:staticcheck // Modified would add an extra field the crate never writes
		h.SetMode(0o644)
		ew, err := zw.CreateRaw(h)
		if err != nil {
			return err
		}
		if _, err := ew.Write(comp.Bytes()); err != nil {
			return err
		}
	}
	return zw.Close()
}

// Bytes is Write into memory.
func Bytes(files []File) ([]byte, error) {
	var b bytes.Buffer
	err := Write(&b, files)
	return b.Bytes(), err
}

// Tree reads the files under dir as bundle entries, ordered as iotedge
// writes them: check.json; then each module's logs/<m>_log.txt and
// inspect/<m>*; then network/; then the service logs; anything else last.
// A file named ORDER in dir, when present, lists the modules in the order
// of the engine's container list (one a line); without it they are sorted
// by name.
func Tree(dir string) ([]File, error) {
	var files []File
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "ORDER" {
			return nil
		}
		data, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		files = append(files, File{Name: filepath.ToSlash(rel), Data: data})
		return nil
	})
	if err != nil {
		return nil, err
	}
	modules := map[string]int{}
	if b, err := os.ReadFile(filepath.Join(dir, "ORDER")); err == nil {
		for i, m := range strings.Fields(string(b)) {
			modules[m] = i
		}
	}
	sort.SliceStable(files, func(i, j int) bool {
		ri, mi, si := rank(files[i].Name, modules)
		rj, mj, sj := rank(files[j].Name, modules)
		if ri != rj {
			return ri < rj
		}
		if mi != mj {
			return mi < mj
		}
		return si < sj
	})
	return files, nil
}

// rank places an entry: its section, its module's position (or name) and
// its place among the module's entries.
func rank(name string, modules map[string]int) (int, string, string) {
	dir, file, _ := strings.Cut(name, "/")
	module := func(stem string) string {
		if i, ok := modules[stem]; ok {
			return fmt.Sprintf("%06d", i)
		}
		return "~" + stem
	}
	switch {
	case name == "check.json":
		return 0, "", ""
	case dir == "logs" && strings.HasSuffix(file, "_log.txt"):
		return 1, module(strings.TrimSuffix(file, "_log.txt")), "0"
	case dir == "inspect":
		stem := strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(file, ".json"), "_err_docker.txt"), "_err")
		return 1, module(stem), "1" + file
	case dir == "network":
		return 2, "", file
	case dir == "logs":
		return 3, serviceOrder(file), file
	}
	return 4, "", name
}

// serviceOrder is the order of the service logs: keyd, certd, identityd,
// edged, docker-proxy (snap), docker.
func serviceOrder(file string) string {
	for i, s := range []string{"aziot-keyd", "aziot-certd", "aziot-identityd", "aziot-edged", "docker-proxy", "docker"} {
		if strings.HasPrefix(file, s+".") || strings.HasPrefix(file, s+"_") {
			return string(rune('0' + i))
		}
	}
	return "9"
}
