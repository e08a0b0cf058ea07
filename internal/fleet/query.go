package fleet

import (
	"context"
	"fmt"
	"strings"

	"github.com/amenzhinsky/iothub/iotservice"

	"github.com/edge-readiness/edge-readiness/internal/sink"
)

// Querier is what Query needs of the IoT Hub service client: a query whose
// rows are handed to fn one by one, pages followed with the continuation
// token.
type Querier interface {
	QueryDevices(ctx context.Context, query string, fn func(map[string]any) error) error
}

var _ Querier = (*iotservice.Client)(nil)

// ModuleQuery is the twin query for a module id: every device's twin of
// that module. The id is checked against IoT Hub's module id alphabet less
// the quote, which would end the literal.
func ModuleQuery(module string) (string, error) {
	if module == "" || len(module) > 128 {
		return "", fmt.Errorf("module id must be 1 to 128 characters")
	}
	for _, r := range module {
		ok := r < 128 && (r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-:.+%_#*?!(),=@;$", r))
		if !ok {
			return "", fmt.Errorf("module id %q holds %q: IoT Hub module ids are letters, digits and -:.+%%_#*?!(),=@;$", module, r)
		}
	}
	return "SELECT " + projection + " FROM devices.modules WHERE moduleId = '" + module + "'", nil
}

// projection is what the fleet view reads of a module twin: its ids, the
// connection state, the reported readiness document and the desired
// reporting section (the heartbeat interval). A query is billed by its
// result size, and a whole twin carries the desired policy and the
// metadata of every property: SELECT * reads several times more. The
// heartbeat interval is then decoded from the reporting section alone: a
// policy the module rejects for another section still counts its interval.
const projection = "deviceId, moduleId, connectionState, " +
	"properties.reported." + sink.KeyReadiness + " AS " + sink.KeyReadiness + ", properties.desired.reporting AS reporting"

// twinFromRow reads a row of the projection as TwinFromDoc reads a whole
// twin: the same document less what the fleet view does not read.
func twinFromRow(row map[string]any) (Twin, error) {
	props := map[string]any{"reported": map[string]any{}, "desired": map[string]any{}}
	if v, ok := row[sink.KeyReadiness]; ok {
		props["reported"] = map[string]any{sink.KeyReadiness: v}
	}
	if v, ok := row["reporting"]; ok {
		props["desired"] = map[string]any{"reporting": v}
	}
	return TwinFromDoc(map[string]any{"deviceId": row["deviceId"], "moduleId": row["moduleId"],
		"connectionState": row["connectionState"], "properties": props})
}

// PartialError is a query that failed after some pages were read: the
// twins returned with it are those of the pages read.
type PartialError struct {
	Devices int // devices read before the failure
	Err     error
}

func (e *PartialError) Error() string {
	return fmt.Sprintf("the query failed after %d devices: %v", e.Devices, e.Err)
}

func (e *PartialError) Unwrap() error { return e.Err }

// Query reads every device's twin of module, all pages. When a page fails
// after others were read, it returns the twins read with a *PartialError;
// when the first page fails, no twin and the error.
func Query(ctx context.Context, q Querier, module string) ([]Twin, error) {
	query, err := ModuleQuery(module)
	if err != nil {
		return nil, err
	}
	var twins []Twin
	seen := map[string]bool{}
	err = q.QueryDevices(ctx, query, func(doc map[string]any) error {
		// amenzhinsky/iothub decodes each page into the maps of the previous
		// one, and a JSON object decoded into a map keeps the keys it does
		// not set: a device that never reported (no readiness in its row)
		// would get the summary of the row before it. twinFromRow copies
		// what it keeps; the map is emptied for the next page.
		t, err := twinFromRow(doc)
		clear(doc)
		if err != nil {
			return err
		}
		if key := t.DeviceID + "/" + t.ModuleID; !seen[key] {
			seen[key] = true
			twins = append(twins, t)
		}
		return nil
	})
	switch {
	case err != nil && len(twins) > 0:
		return twins, &PartialError{Devices: len(twins), Err: err}
	case err != nil:
		return nil, err
	}
	return twins, nil
}
