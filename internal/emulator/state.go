package emulator

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

const (
	modulesFile  = "modules.json"
	twinsFile    = "twins.json"
	messagesFile = "messages.json"
)

// writeFileAtomic writes data to path through a temporary file in the same
// directory and a rename, so that a reader (or a crash) never sees a partial
// file.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	dir := filepath.Dir(path)
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		_ = f.Close()
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(perm); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		_ = os.Remove(tmp)
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// writeJSON persists v as indented JSON in the state directory; it does
// nothing when the emulator has no state directory.
func (e *Emulator) writeJSON(name string, v any, perm os.FileMode) error {
	if e.cfg.StateDir == "" {
		return nil
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("encode %s: %w", name, err)
	}
	return writeFileAtomic(filepath.Join(e.cfg.StateDir, name), append(b, '\n'), perm)
}

// readJSON decodes a state file into v (numbers as json.Number); a missing
// file is not an error and leaves v untouched.
func readJSON(dir, name string, v any) error {
	if dir == "" {
		return nil
	}
	b, err := os.ReadFile(filepath.Join(dir, name))
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// newModuleKey returns a random 32-byte key, base64-encoded like the keys
// IoT Hub generates for SAS identities.
func newModuleKey() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err)
	}
	return base64.StdEncoding.EncodeToString(b)
}

// newGenerationID returns an 18-digit decimal string like the generation ids
// IoT Hub assigns (.NET ticks).
func newGenerationID(now time.Time) string {
	// .NET ticks: 100 ns intervals since 0001-01-01.
	const ticksAtUnixEpoch = 621355968000000000
	ticks := now.UnixNano()/100 + ticksAtUnixEpoch
	n, err := rand.Int(rand.Reader, big.NewInt(1000))
	if err != nil {
		panic(err)
	}
	return fmt.Sprintf("%d", ticks-ticks%1000+n.Int64())
}

// validateModuleKey checks that key is base64 of at least 16 bytes.
func validateModuleKey(key string) error {
	b, err := base64.StdEncoding.DecodeString(key)
	if err != nil {
		return fmt.Errorf("key is not base64: %w", err)
	}
	if len(b) < 16 {
		return fmt.Errorf("key is %d bytes, want at least 16 (IoT Hub uses 32)", len(b))
	}
	return nil
}
