package emulator

import (
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// twinSection is the desired or the reported half of a module twin.
type twinSection struct {
	Properties  map[string]any `json:"properties"`
	Version     int64          `json:"version"`
	Metadata    map[string]any `json:"metadata"`
	LastUpdated time.Time      `json:"lastUpdated"`
}

// twinRecord is a module twin as persisted in twins.json.
type twinRecord struct {
	DeviceID string         `json:"deviceId"`
	ModuleID string         `json:"moduleId"`
	Version  int64          `json:"version"`
	Tags     map[string]any `json:"tags,omitempty"`
	Desired  twinSection    `json:"desired"`
	Reported twinSection    `json:"reported"`
	// PendingReported is the merged reported-properties patch edgeHub
	// accepted and has not yet synced to the hub (nulls kept: they delete
	// upstream). It stays while the hub rejects it.
	PendingReported map[string]any `json:"pendingReported,omitempty"`
}

func newTwinRecord(deviceID, moduleID string, now time.Time) *twinRecord {
	ts := now.UTC().Format(time.RFC3339Nano)
	return &twinRecord{
		DeviceID: deviceID,
		ModuleID: moduleID,
		Version:  1,
		Desired: twinSection{
			Properties: map[string]any{}, Version: 1, LastUpdated: now.UTC(),
			Metadata: map[string]any{"$lastUpdated": ts, "$lastUpdatedVersion": int64(1)},
		},
		Reported: twinSection{
			Properties: map[string]any{}, Version: 1, LastUpdated: now.UTC(),
			Metadata: map[string]any{"$lastUpdated": ts},
		},
	}
}

func (s *twinSection) normalize() {
	if s.Properties == nil {
		s.Properties = map[string]any{}
	}
	if s.Metadata == nil {
		s.Metadata = map[string]any{}
	}
	if s.Version < 1 {
		s.Version = 1
	}
}

// doc renders the section as IoT Hub shows it: the properties plus
// "$version", and "$metadata" when withMeta.
func (s *twinSection) doc(withMeta bool) map[string]any {
	m := copyMap(s.Properties)
	if withMeta {
		m["$metadata"] = deepCopy(s.Metadata)
	}
	m["$version"] = s.Version
	return m
}

// etag renders the twin version the way IoT Hub does: base64 of a
// big-endian 64-bit counter (e.g. "AAAAAAAAAAE=").
func (t *twinRecord) etag() string {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], uint64(t.Version))
	return base64.StdEncoding.EncodeToString(b[:])
}

// ModuleTwin is a module twin as the service API returns it.
type ModuleTwin struct {
	DeviceID                  string            `json:"deviceId"`
	ModuleID                  string            `json:"moduleId"`
	Etag                      string            `json:"etag"`
	DeviceEtag                string            `json:"deviceEtag"`
	Status                    string            `json:"status"`
	StatusUpdateTime          string            `json:"statusUpdateTime"`
	ConnectionState           string            `json:"connectionState"`
	LastActivityTime          string            `json:"lastActivityTime"`
	CloudToDeviceMessageCount int               `json:"cloudToDeviceMessageCount"`
	AuthenticationType        string            `json:"authenticationType"`
	X509Thumbprint            map[string]any    `json:"x509Thumbprint"`
	ModelID                   string            `json:"modelId"`
	Version                   int64             `json:"version"`
	Tags                      map[string]any    `json:"tags,omitempty"`
	Properties                ModuleTwinSection `json:"properties"`
}

// ModuleTwinSection holds the desired and reported documents, each with its
// "$version" and "$metadata".
type ModuleTwinSection struct {
	Desired  map[string]any `json:"desired"`
	Reported map[string]any `json:"reported"`
}

// twinErr is a twin operation failure with the status IoT Hub answers.
type twinErr struct {
	status int
	code   int // IoT Hub error code, e.g. 400004
	msg    string
}

func (e *twinErr) Error() string { return e.msg }

var errModuleNotFound = errors.New("module not found")

// twinLocked returns the twin of moduleID, creating it for a registered
// module. e.mu must be held.
func (e *Emulator) twinLocked(moduleID string) (*twinRecord, error) {
	if _, ok := e.modules[moduleID]; !ok {
		return nil, errModuleNotFound
	}
	key := e.cfg.DeviceID + "/" + moduleID
	t, ok := e.twins[key]
	if !ok {
		t = newTwinRecord(e.cfg.DeviceID, moduleID, e.now())
		e.twins[key] = t
	}
	return t, nil
}

func (e *Emulator) persistTwinsLocked() error {
	return e.writeJSON(twinsFile, e.twins, 0o644)
}

// moduleTwinLocked renders the service view of a twin. e.mu must be held.
func (e *Emulator) moduleTwinLocked(t *twinRecord) ModuleTwin {
	state, last := "Disconnected", time.Time{}
	if c, ok := e.conns[t.ModuleID]; ok {
		if !e.edge.offline { // the hub sees the module through edgeHub's upstream connection
			state = "Connected"
		}
		last = c.lastActivity
	} else if a, ok := e.lastSeen[t.ModuleID]; ok {
		last = a
	}
	lastActivity := "0001-01-01T00:00:00Z"
	if !last.IsZero() {
		lastActivity = last.UTC().Format(time.RFC3339Nano)
	}
	return ModuleTwin{
		DeviceID:           t.DeviceID,
		ModuleID:           t.ModuleID,
		Etag:               t.etag(),
		DeviceEtag:         "AAAAAAAAAAE=",
		Status:             "enabled",
		StatusUpdateTime:   "0001-01-01T00:00:00Z",
		ConnectionState:    state,
		LastActivityTime:   lastActivity,
		AuthenticationType: "sas",
		X509Thumbprint:     map[string]any{"primaryThumbprint": nil, "secondaryThumbprint": nil},
		Version:            t.Version,
		Tags:               copyMapOrNil(t.Tags),
		Properties: ModuleTwinSection{
			Desired:  t.Desired.doc(true),
			Reported: t.Reported.doc(true),
		},
	}
}

func copyMapOrNil(m map[string]any) map[string]any {
	if len(m) == 0 {
		return nil
	}
	return copyMap(m)
}

// GetTwin returns the module twin as the service API shows it.
func (e *Emulator) GetTwin(moduleID string) (ModuleTwin, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.twinLocked(moduleID)
	if err != nil {
		return ModuleTwin{}, err
	}
	return e.moduleTwinLocked(t), nil
}

// twinDocLocked renders the document a module gets for $iothub/twin/GET
// from the hub's twin: {"desired":{…,"$version"},"reported":{…,"$version"}}.
// e.mu must be held.
func twinDocLocked(t *twinRecord) []byte {
	b, _ := json.Marshal(map[string]any{
		"desired":  t.Desired.doc(false),
		"reported": t.Reported.doc(false),
	})
	return b
}

// UpdateDesired merge-patches (replace=false) or replaces (replace=true) the
// desired properties of a module, bumps their $version and pushes the change
// to the module when it is connected and subscribed. ifMatch, when not empty
// or "*", must equal the twin's etag.
func (e *Emulator) UpdateDesired(moduleID string, desired map[string]any, replace bool, ifMatch string) (ModuleTwin, error) {
	return e.updateTwin(moduleID, desired, nil, replace, ifMatch)
}

func (e *Emulator) updateTwin(moduleID string, desired, tags map[string]any, replace bool, ifMatch string) (ModuleTwin, error) {
	if desired != nil {
		desired = copyMap(desired)
		stripReserved(desired)
	}
	e.mu.Lock()
	t, err := e.twinLocked(moduleID)
	if err != nil {
		e.mu.Unlock()
		return ModuleTwin{}, err
	}
	if ifMatch != "" && ifMatch != "*" && trimEtag(ifMatch) != t.etag() {
		e.mu.Unlock()
		return ModuleTwin{}, &twinErr{412, 412001, "the etag in the request does not match the etag of the twin"}
	}
	var push map[string]any
	now := e.now()
	ts := now.UTC().Format(time.RFC3339Nano)
	changed := false
	if desired != nil || replace {
		var next map[string]any
		if replace {
			next = map[string]any{}
			MergePatch(next, desired) // drops nulls
		} else {
			next = copyMap(t.Desired.Properties)
			MergePatch(next, desired)
		}
		if n := docSize(next); n > twinMaxDocLength {
			e.mu.Unlock()
			return ModuleTwin{}, &twinErr{400, 400004, fmt.Sprintf("twin properties size %d exceeds maximum %d", n, twinMaxDocLength)}
		}
		t.Desired.Version++
		t.Desired.Properties = next
		t.Desired.LastUpdated = now.UTC()
		if replace {
			t.Desired.Metadata = map[string]any{}
			stampMetadata(t.Desired.Metadata, next, ts, t.Desired.Version)
			push = copyMap(next)
		} else {
			stampMetadata(t.Desired.Metadata, desired, ts, t.Desired.Version)
			push = copyMap(desired)
		}
		push["$version"] = t.Desired.Version
		changed = true
	}
	if tags != nil {
		if replace {
			t.Tags = map[string]any{}
		} else if t.Tags == nil {
			t.Tags = map[string]any{}
		}
		MergePatch(t.Tags, tags)
		changed = true
	}
	if changed {
		t.Version++
		if err := e.persistTwinsLocked(); err != nil {
			e.log.Error("persist twins", "err", err)
		}
	}
	view := e.moduleTwinLocked(t)
	version := t.Desired.Version
	e.mu.Unlock()

	if push != nil {
		e.notifyDesired(moduleID, push, version)
	}
	return view, nil
}

func trimEtag(s string) string {
	if len(s) >= 2 && s[0] == '"' && s[len(s)-1] == '"' {
		return s[1 : len(s)-1]
	}
	return s
}
