package facts

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
)

// SnapshotKind marks a saved snapshot file.
const SnapshotKind = "edge-readiness/snapshot"

// maxSnapshotFile bounds what LoadSnapshot reads: a 50-module device saves
// about 300 KB.
const maxSnapshotFile = 64 << 20

// SavedSnapshot is the file `check --save-snapshot` writes: versioned JSON
// of the gathered facts, scrubbed of secrets.
type SavedSnapshot struct {
	Kind          string    `json:"kind"`
	SchemaVersion string    `json:"schemaVersion"`
	SavedBy       string    `json:"savedBy,omitempty"` // tool and version
	Note          string    `json:"note,omitempty"`
	Snapshot      *Snapshot `json:"snapshot"`
}

// ValueKeeper decides which environment values may be kept as they are in a
// saved snapshot (the ones checks decide on); redact.Policy is one.
type ValueKeeper interface {
	Value(name, value string) string
	Allowed(name string) bool
}

// keptLabels are the label values checks read; the others (including
// edgeAgent's create-options and env labels, which repeat the command line
// and the environment) are masked in a saved snapshot.
var keptLabels = map[string]bool{OwnerLabel: true, OriginalImageLabel: true}

// Scrub returns a copy of s fit to leave the device: every container
// environment value that keep does not allow, and every label value but the
// runtime's owner and original-image, is replaced by asterisks of the same
// length (a check estimates the deployment's size from lengths; none reads
// those values); allowed values lose URL credentials.
func Scrub(s *Snapshot, keep ValueKeeper) *Snapshot {
	cp := *s
	cp.Containers = make([]Container, len(s.Containers))
	for i, c := range s.Containers {
		if c.Labels != nil {
			labels := make(map[string]string, len(c.Labels))
			for k, v := range c.Labels {
				if keptLabels[k] {
					labels[k] = v
				} else {
					labels[k] = strings.Repeat("*", len(v))
				}
			}
			c.Labels = labels
		}
		if c.Env != nil {
			env := make(map[string]string, len(c.Env))
			for k, v := range c.Env {
				if keep.Allowed(k) {
					env[k] = keep.Value(k, v)
				} else {
					env[k] = strings.Repeat("*", len(v))
				}
			}
			c.Env = env
		}
		cp.Containers[i] = c
	}
	if s.Env != nil {
		cp.Env = make(map[string]string, len(s.Env))
		for k, v := range s.Env {
			cp.Env[k] = keep.Value(k, v)
		}
	}
	return &cp
}

// WriteSnapshot writes s, scrubbed by Scrub, as a SavedSnapshot. scrub, when
// not nil, then scrubs every string of the snapshot (secret-looking text in
// labels, image references, error messages): it works on values, so the
// JSON it writes stays valid whatever a secret holds.
func WriteSnapshot(w io.Writer, s *Snapshot, keep ValueKeeper, savedBy string, scrub func(*Snapshot) *Snapshot) error {
	clean := Scrub(s, keep)
	if scrub != nil {
		clean = scrub(clean)
	}
	doc := SavedSnapshot{Kind: SnapshotKind, SchemaVersion: SnapshotSchemaVersion, SavedBy: savedBy,
		Note:     "facts gathered on a device, secrets removed; run the checks on it with: edge-readiness check --snapshot FILE",
		Snapshot: clean}
	b, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return fmt.Errorf("encoding the snapshot: %w", err)
	}
	if _, err := w.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("writing the snapshot: %w", err)
	}
	return nil
}

// LoadSnapshot reads a saved snapshot. A file that is not one, of another
// schema version, or with fields this version does not know is refused
// with an error that names the problem.
func LoadSnapshot(path string) (*Snapshot, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("reading snapshot: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxSnapshotFile+1))
	if err != nil {
		return nil, fmt.Errorf("reading snapshot %s: %w", path, err)
	}
	if len(data) > maxSnapshotFile {
		return nil, fmt.Errorf("snapshot %s: larger than %d MB", path, maxSnapshotFile>>20)
	}
	s, err := DecodeSnapshot(data)
	if err != nil {
		return nil, fmt.Errorf("snapshot %s: %w", path, err)
	}
	return s, nil
}

// DecodeSnapshot decodes a SavedSnapshot document.
func DecodeSnapshot(data []byte) (*Snapshot, error) {
	data = bytes.TrimPrefix(data, []byte("\xef\xbb\xbf"))
	var head struct {
		Kind          string `json:"kind"`
		SchemaVersion string `json:"schemaVersion"`
	}
	if err := json.Unmarshal(data, &head); err != nil {
		return nil, fmt.Errorf("not a saved snapshot (JSON: %w)", err)
	}
	if head.Kind != SnapshotKind {
		return nil, fmt.Errorf("not a saved snapshot: kind is %q, want %q (write one with check --save-snapshot)", head.Kind, SnapshotKind)
	}
	if head.SchemaVersion != SnapshotSchemaVersion {
		return nil, fmt.Errorf("snapshot schema version %q is not supported (this version reads %q)", head.SchemaVersion, SnapshotSchemaVersion)
	}
	var doc SavedSnapshot
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, fmt.Errorf("decoding: %w", err)
	}
	if dec.More() {
		return nil, errors.New("decoding: data after the snapshot document")
	}
	if doc.Snapshot == nil {
		return nil, errors.New("the document has no snapshot")
	}
	if doc.Snapshot.Time.IsZero() {
		return nil, errors.New("snapshot.time is missing")
	}
	return doc.Snapshot, nil
}

// SnapshotFile is a fact source that replays a saved snapshot: no engine,
// metrics or network are read. It is a whole gatherer (Gather returns the
// saved facts, with their sources' outcomes as recorded on the device).
type SnapshotFile struct {
	Path string
	snap *Snapshot
}

// OpenSnapshotFile loads path; the error names what is wrong with it.
func OpenSnapshotFile(path string) (*SnapshotFile, error) {
	s, err := LoadSnapshot(path)
	if err != nil {
		return nil, err
	}
	return &SnapshotFile{Path: path, snap: s}, nil
}

// Gather returns a copy of the saved snapshot.
func (f *SnapshotFile) Gather(context.Context) *Snapshot {
	cp := *f.snap
	return &cp
}
