package emulator

import (
	"encoding/json"
	"fmt"
	"time"
)

// FleetDeviceID is the id SeedFleet gives the i-th device (0-based):
// fleet-0001, fleet-0002, ...
func FleetDeviceID(i int) string { return fmt.Sprintf("fleet-%04d", i+1) }

// SeedFleet registers n more devices in the emulated hub, fleet-0001 to
// fleet-<n>, each with a module twin for moduleID whose reported properties
// are reported(i) (nil: the module never reported). They are visible to
// POST /devices/query only: they have no MQTT identity, twin routes or
// workload socket, and they are kept in memory (the -fleet flag seeds them
// again on every start). Seeding again replaces twins of the same ids.
func (e *Emulator) SeedFleet(moduleID string, n int, reported func(i int) map[string]any) error {
	return e.SeedFleetTwins(moduleID, n, func(i int) FleetTwin { return FleetTwin{Reported: reported(i)} })
}

// FleetTwin is what SeedFleetTwins sets in a seeded module twin: its
// desired and reported properties (nil: none).
type FleetTwin struct {
	Desired, Reported map[string]any
}

// SeedFleetTwins is SeedFleet with the desired properties too, as a
// deployment sets them: twin(i) gives the i-th device's.
func (e *Emulator) SeedFleetTwins(moduleID string, n int, twin func(i int) FleetTwin) error {
	if err := validateModuleName(moduleID); err != nil {
		return err
	}
	if n < 0 {
		return fmt.Errorf("fleet size %d is negative", n)
	}
	now := e.now()
	ts := now.UTC().Format(time.RFC3339Nano)
	twins := make(map[string]*twinRecord, n)
	for i := range n {
		id := FleetDeviceID(i)
		t := newTwinRecord(id, moduleID, now)
		ft := twin(i)
		if ft.Desired != nil {
			des, err := throughJSON(ft.Desired)
			if err != nil {
				return fmt.Errorf("%s: desired properties: %w", id, err)
			}
			t.Desired.Properties = des
			t.Desired.Version++
			t.Version++
			stampMetadata(t.Desired.Metadata, des, ts, t.Desired.Version)
		}
		if ft.Reported != nil {
			// Through JSON, as if the module had sent it.
			rep, err := throughJSON(ft.Reported)
			if err != nil {
				return fmt.Errorf("%s: reported properties: %w", id, err)
			}
			stripReserved(rep)
			if err := validateReportedPatch(rep); err != nil {
				return fmt.Errorf("%s: reported properties: %w", id, err)
			}
			t.Reported.Properties = rep
			t.Reported.Version++
			t.Version++
			t.Reported.LastUpdated = now.UTC()
			stampMetadata(t.Reported.Metadata, rep, ts, 0)
		}
		twins[id+"/"+moduleID] = t
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	fleet := e.hubLocked().fleet
	for k, t := range twins {
		fleet[k] = t
	}
	return nil
}

func throughJSON(v map[string]any) (map[string]any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return decodeObject(b)
}

// fleetTwinView renders a seeded twin as the service API shows twins; a
// seeded device is never connected.
func fleetTwinView(t *twinRecord) ModuleTwin {
	return ModuleTwin{
		DeviceID:           t.DeviceID,
		ModuleID:           t.ModuleID,
		Etag:               t.etag(),
		DeviceEtag:         "AAAAAAAAAAE=",
		Status:             "enabled",
		StatusUpdateTime:   "0001-01-01T00:00:00Z",
		ConnectionState:    "Disconnected",
		LastActivityTime:   "0001-01-01T00:00:00Z",
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
