package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"time"
)

// Reported properties, as edgeHub's StoringTwinManager handles them:
//
//   - the patch alone is validated (ReportedPropertiesValidator): 400 when a
//     rule is broken, 500 when it is not a JSON object; error answers have
//     no body;
//   - an accepted patch is stored, merged into the patches not yet synced
//     (nulls kept), and answered 204 at once, without $version;
//   - a sync loop pushes the merged pending patch to the hub, then waits
//     ReportedSyncInterval before the next push (ReportedPropertiesStore);
//   - when the hub rejects it (the merged reported section over IoT Hub's
//     32 KB) the failure is only logged: the patch stays pending, every later
//     patch is merged into it, and each later sync fails the same way.
//     Unreachable hub (offline): it stays pending until the hub is back.
//
// The service API and twin reads show the hub's twin, which lags behind an
// acknowledged patch until the sync.

// acceptReported validates a module's reported-properties patch and stores
// it for the upstream sync.
func (e *Emulator) acceptReported(moduleID string, body []byte) error {
	patch, err := decodeObject(body)
	if err != nil {
		return &twinErr{500, 500001, err.Error()}
	}
	if err := validateReportedPatch(patch); err != nil {
		return &twinErr{400, 400004, err.Error()}
	}
	e.mu.Lock()
	t, err := e.twinLocked(moduleID)
	if err != nil {
		e.mu.Unlock()
		return &twinErr{500, 500001, err.Error()}
	}
	if t.PendingReported == nil {
		t.PendingReported = map[string]any{}
	}
	mergeKeepNulls(t.PendingReported, patch)
	e.cacheReportedLocked(moduleID, patch)
	if err := e.persistTwinsLocked(); err != nil {
		e.log.Error("persist twins", "err", err)
	}
	e.mu.Unlock()
	e.requestReportedSync(moduleID)
	return nil
}

// requestReportedSync marks a module for the next upstream sync.
func (e *Emulator) requestReportedSync(moduleID string) {
	e.mu.Lock()
	e.edge.syncSet[moduleID] = true
	e.mu.Unlock()
	select {
	case e.edge.syncSignal <- struct{}{}:
	default:
	}
}

// reportedSyncLoop syncs the marked modules when signalled, then waits
// ReportedSyncInterval before it looks again.
func (e *Emulator) reportedSyncLoop() {
	for {
		select {
		case <-e.stop:
			return
		case <-e.edge.syncSignal:
		}
		e.syncReported()
		select {
		case <-e.stop:
			return
		case <-time.After(orZero(e.cfg.EdgeHub.ReportedSyncInterval)):
		}
	}
}

// syncReported pushes the pending patch of every marked module to the hub.
func (e *Emulator) syncReported() {
	e.mu.Lock()
	ids := make([]string, 0, len(e.edge.syncSet))
	for id := range e.edge.syncSet {
		ids = append(ids, id)
	}
	clear(e.edge.syncSet)
	e.mu.Unlock()
	for _, id := range ids {
		e.syncReportedModule(id)
	}
}

// syncReportedModule applies a module's pending patch to the hub's twin, or
// leaves it pending when the hub is unreachable or rejects it.
func (e *Emulator) syncReportedModule(moduleID string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.twinLocked(moduleID)
	if err != nil || len(t.PendingReported) == 0 {
		return
	}
	if e.edge.offline {
		e.log.Info("reported properties not synced: IoT Hub unreachable", "moduleId", moduleID)
		return
	}
	merged := copyMap(t.Reported.Properties)
	MergePatch(merged, t.PendingReported)
	if n := hubTwinSize(merged); n > twinMaxDocLength {
		// CloudSync.UpdateReportedProperties logs and returns false; the
		// patch stays in the store.
		e.log.Warn("updating reported properties failed: the hub rejected the patch; it stays pending and later patches are merged into it",
			"moduleId", moduleID, "reportedSize", n, "limit", twinMaxDocLength)
		return
	}
	patch := t.PendingReported
	body, _ := marshalCompact(patch)
	now := e.now()
	t.Reported.Properties = merged
	t.Reported.Version++
	t.Reported.LastUpdated = now.UTC()
	stampMetadata(t.Reported.Metadata, patch, now.UTC().Format(time.RFC3339Nano), 0)
	t.Version++
	t.PendingReported = nil
	if err := e.persistTwinsLocked(); err != nil {
		e.log.Error("persist twins", "err", err)
	}
	e.meter.bill(moduleID, BillReportedPatch, len(body))
	e.log.Info("reported properties synced to the hub", "moduleId", moduleID, "version", t.Reported.Version, "size", len(body))
}

// PendingReported returns the reported-properties patch edgeHub accepted
// for a module and has not synced to the hub (nil when there is none).
func (e *Emulator) PendingReported(moduleID string) map[string]any {
	e.mu.Lock()
	defer e.mu.Unlock()
	t, err := e.twinLocked(moduleID)
	if err != nil || len(t.PendingReported) == 0 {
		return nil
	}
	return copyMap(t.PendingReported)
}

// hubTwinSize is a twin section's size as IoT Hub counts it against the
// 32 KB limit: the lengths of the keys plus the values, strings in UTF-8,
// numbers 8 bytes, booleans 4 ($version and $metadata excluded).
func hubTwinSize(v any) int {
	switch t := v.(type) {
	case map[string]any:
		n := 0
		for k, x := range t {
			if k == "$version" || k == "$metadata" {
				continue
			}
			n += len(k) + hubTwinSize(x)
		}
		return n
	case []any:
		n := 0
		for _, x := range t {
			n += hubTwinSize(x)
		}
		return n
	case string:
		return len(t)
	case bool:
		return 4
	case nil:
		return 0
	default: // json.Number and Go numbers
		return 8
	}
}

// mergeKeepNulls merges patch into target like edgeHub merges pending
// reported patches (JsonEx.Merge, treatNullAsDelete false): objects merge
// recursively, anything else, null included, replaces.
func mergeKeepNulls(target, patch map[string]any) {
	for k, v := range patch {
		if pobj, ok := v.(map[string]any); ok {
			if tobj, ok := target[k].(map[string]any); ok {
				mergeKeepNulls(tobj, pobj)
				continue
			}
			target[k] = deepCopy(pobj)
			continue
		}
		target[k] = deepCopy(v)
	}
}

// marshalCompact encodes v as compact JSON without HTML escaping, as
// Json.NET does.
func marshalCompact(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n")), nil
}
