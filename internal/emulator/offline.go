package emulator

import (
	"encoding/json"
	"reflect"
	"strconv"
	"time"
)

// IoT Hub reachability, as edgeHub's StoringTwinManager and store-and-forward
// see it. Online, a module's twin read goes to the hub (and is stored);
// offline (SetOffline(true), Config.EdgeHub.Offline, -offline,
// PUT /emulator/offline):
//
//   - a twin read takes OfflineTwinDelay and answers edgeHub's stored twin,
//     or {"desired":{},"reported":{}} without $version when it never had
//     one (StoringTwinManager.GetTwinAsync);
//   - device-to-cloud messages are acknowledged and stored, and reach the
//     hub side (GET /emulator/messages) when it is reachable again;
//   - reported patches are accepted and stay pending until then;
//   - desired changes made through the service API reach no module, and
//     direct methods answer 404 (device not online) after their connect
//     timeout; the service API shows the module Disconnected.
//
// When the hub is reachable again, stored messages are delivered, pending
// reported patches are synced, and each connected module whose twin edgeHub
// stores and did not read within MinTwinSyncPeriod is re-read from the hub
// and sent the desired changes it missed, as one diff patch.

// cachedTwin is edgeHub's stored twin of a module.
type cachedTwin struct {
	desired, reported               map[string]any
	desiredVersion, reportedVersion int64     // 0: never read from the hub (no $version)
	syncedAt                        time.Time // last read from the hub; zero: never
}

func (ct *cachedTwin) doc() []byte {
	section := func(props map[string]any, version int64) map[string]any {
		m := copyMap(props)
		if version > 0 {
			m["$version"] = version
		}
		return m
	}
	b, _ := json.Marshal(map[string]any{
		"desired":  section(ct.desired, ct.desiredVersion),
		"reported": section(ct.reported, ct.reportedVersion),
	})
	return b
}

// storeHubTwinLocked makes the hub's twin edgeHub's stored copy. e.mu must
// be held.
func (e *Emulator) storeHubTwinLocked(moduleID string, t *twinRecord) {
	e.edge.cache[moduleID] = &cachedTwin{
		desired: copyMap(t.Desired.Properties), desiredVersion: t.Desired.Version,
		reported: copyMap(t.Reported.Properties), reportedVersion: t.Reported.Version,
		syncedAt: e.now(),
	}
}

// cacheReportedLocked merges an accepted reported patch into the stored
// twin, creating one when there is none (TwinStore.UpdateReportedProperties).
// e.mu must be held.
func (e *Emulator) cacheReportedLocked(moduleID string, patch map[string]any) {
	ct, ok := e.edge.cache[moduleID]
	if !ok {
		ct = &cachedTwin{desired: map[string]any{}, reported: map[string]any{}}
		e.edge.cache[moduleID] = ct
	}
	MergePatch(ct.reported, patch)
}

// twinForModule answers a module's twin read: from the hub when it is
// reachable (billed, and stored), else from edgeHub's store after
// OfflineTwinDelay.
func (e *Emulator) twinForModule(c *connection) ([]byte, error) {
	e.mu.Lock()
	if !e.edge.offline {
		t, err := e.twinLocked(c.moduleID)
		if err != nil {
			e.mu.Unlock()
			return nil, err
		}
		doc := twinDocLocked(t)
		e.storeHubTwinLocked(c.moduleID, t)
		e.mu.Unlock()
		e.meter.bill(c.moduleID, BillTwinRead, len(doc))
		return doc, nil
	}
	e.mu.Unlock()
	if d := orZero(e.cfg.EdgeHub.OfflineTwinDelay); d > 0 {
		e.log.Info("twin read while IoT Hub is unreachable: answering from edgeHub's store", "moduleId", c.moduleID, "delay", d)
		timer := time.NewTimer(d)
		defer timer.Stop()
		select {
		case <-timer.C:
		case <-c.done:
			return nil, errNotConnected
		case <-e.stop:
			return nil, errEmulatorClosed
		}
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	if ct, ok := e.edge.cache[c.moduleID]; ok {
		return ct.doc(), nil
	}
	return []byte(`{"desired":{},"reported":{}}`), nil
}

// notifyDesired forwards a desired-properties change made on the hub to the
// module, as edgeHub does with the hub's notification
// (StoringTwinManager.UpdateDesiredPropertiesAsync): the patch when edgeHub's
// stored twin is at the previous version or absent, else a re-read of the
// twin and the diff against the stored copy.
func (e *Emulator) notifyDesired(moduleID string, patch map[string]any, version int64) {
	topic := "$iothub/twin/PATCH/properties/desired/?$version=" + strconv.FormatInt(version, 10)
	e.mu.Lock()
	offline := e.edge.offline
	e.mu.Unlock()
	if offline {
		e.log.Info("desired properties update not pushed: IoT Hub unreachable", "module", moduleID, "version", version)
		return
	}
	// edgeHub subscribes to the hub's notifications for a module that
	// subscribed to them; only then is one sent (and billed).
	if !e.IsSubscribed(moduleID, topic) {
		e.log.Info("desired properties update not pushed", "module", moduleID, "version", version, "reason", errNotSubscribed.Error())
		return
	}
	body, _ := marshalCompact(patch)
	e.meter.bill(moduleID, BillDesiredNotification, len(body))
	e.mu.Lock()
	if ct, ok := e.edge.cache[moduleID]; ok {
		if ct.desiredVersion+1 != version {
			e.mu.Unlock()
			e.resyncDesired(moduleID)
			return
		}
		MergePatch(ct.desired, patch)
		delete(ct.desired, "$version")
		ct.desiredVersion = version
	}
	e.mu.Unlock()
	if err := e.deliver(moduleID, topic, body); err != nil {
		e.log.Info("desired properties update not pushed", "module", moduleID, "version", version, "reason", err.Error())
		return
	}
	e.log.Info("desired properties update pushed", "module", moduleID, "version", version)
}

// resyncDesired re-reads a module's twin from the hub (billed), stores it
// and pushes the desired changes since the stored copy as one patch
// (StoringTwinManager.SyncTwinAndSendDesiredPropertyUpdates).
func (e *Emulator) resyncDesired(moduleID string) {
	e.mu.Lock()
	t, err := e.twinLocked(moduleID)
	if err != nil {
		e.mu.Unlock()
		return
	}
	var old map[string]any
	if ct, ok := e.edge.cache[moduleID]; ok {
		old = ct.desired
	}
	doc := twinDocLocked(t)
	diff := jsonDiff(old, t.Desired.Properties)
	version := t.Desired.Version
	e.storeHubTwinLocked(moduleID, t)
	e.mu.Unlock()
	e.meter.bill(moduleID, BillTwinRead, len(doc))
	if len(diff) == 0 {
		return
	}
	diff["$version"] = version
	body, _ := marshalCompact(diff)
	topic := "$iothub/twin/PATCH/properties/desired/?$version=" + strconv.FormatInt(version, 10)
	if err := e.deliver(moduleID, topic, body); err != nil {
		e.log.Info("desired properties diff not pushed", "module", moduleID, "version", version, "reason", err.Error())
		return
	}
	e.log.Info("desired properties diff pushed after a twin re-read", "module", moduleID, "version", version)
}

// jsonDiff is the merge patch that turns from into to (JsonEx.Diff): changed
// and added keys with their new values, removed keys as null, objects
// compared recursively.
func jsonDiff(from, to map[string]any) map[string]any {
	patch := map[string]any{}
	for k, fv := range from {
		tv, ok := to[k]
		if !ok {
			patch[k] = nil
			continue
		}
		fo, fok := fv.(map[string]any)
		to2, tok := tv.(map[string]any)
		if fok && tok {
			if d := jsonDiff(fo, to2); len(d) > 0 {
				patch[k] = d
			}
			continue
		}
		if !jsonEqual(fv, tv) {
			patch[k] = deepCopy(tv)
		}
	}
	for k, tv := range to {
		if _, ok := from[k]; !ok {
			patch[k] = deepCopy(tv)
		}
	}
	return patch
}

func jsonEqual(a, b any) bool {
	ja, errA := json.Marshal(a)
	jb, errB := json.Marshal(b)
	if errA != nil || errB != nil {
		return reflect.DeepEqual(a, b)
	}
	var va, vb any
	_ = json.Unmarshal(ja, &va)
	_ = json.Unmarshal(jb, &vb)
	return reflect.DeepEqual(va, vb)
}

// Offline reports whether IoT Hub is unreachable.
func (e *Emulator) Offline() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.edge.offline
}

// SetOffline makes IoT Hub unreachable (true) or reachable again (false)
// for edgeHub; module connections to edgeHub stay up.
func (e *Emulator) SetOffline(offline bool) {
	e.mu.Lock()
	was := e.edge.offline
	e.edge.offline = offline
	var connected []string
	for m := range e.conns {
		connected = append(connected, m)
	}
	e.mu.Unlock()
	if was == offline {
		return
	}
	if offline {
		e.log.Info("IoT Hub unreachable (offline mode)")
		return
	}
	e.log.Info("IoT Hub reachable again")
	e.flushQueued()
	for _, m := range connected {
		e.requestReportedSync(m)
		e.mu.Lock()
		ct, ok := e.edge.cache[m]
		recent := ok && e.cfg.EdgeHub.MinTwinSyncPeriod > 0 && !ct.syncedAt.IsZero() &&
			e.now().Sub(ct.syncedAt) <= e.cfg.EdgeHub.MinTwinSyncPeriod
		e.mu.Unlock()
		if !ok {
			continue // edgeHub stores no twin for it: nothing to sync
		}
		if recent {
			e.log.Info("twin read recently: not re-read on reconnection", "module", m)
			continue
		}
		e.resyncDesired(m)
	}
}

// queueIfOffline stores a message while the hub is unreachable.
func (e *Emulator) queueIfOffline(m Message) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.edge.offline {
		return false
	}
	e.msgs.Queued = append(e.msgs.Queued, m)
	if err := e.writeJSON(messagesFile, e.msgs, 0o644); err != nil {
		e.log.Error("persist messages", "err", err)
	}
	return true
}

// flushQueued delivers the messages stored while the hub was unreachable,
// in order.
func (e *Emulator) flushQueued() {
	e.mu.Lock()
	queued := e.msgs.Queued
	e.msgs.Queued = nil
	e.mu.Unlock()
	for _, m := range queued {
		e.deliverMessage(m)
	}
	if len(queued) > 0 {
		e.log.Info("stored messages delivered", "count", len(queued))
	}
}
