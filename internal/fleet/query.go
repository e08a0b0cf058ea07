package fleet

import (
	"context"
	"fmt"
	"strings"

	"github.com/amenzhinsky/iothub/iotservice"
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
	return "SELECT * FROM devices.modules WHERE moduleId = '" + module + "'", nil
}

// Query reads every device's twin of module, all pages.
func Query(ctx context.Context, q Querier, module string) ([]Twin, error) {
	query, err := ModuleQuery(module)
	if err != nil {
		return nil, err
	}
	var twins []Twin
	seen := map[string]bool{}
	err = q.QueryDevices(ctx, query, func(doc map[string]any) error {
		// TwinFromDoc copies what it keeps: amenzhinsky/iothub decodes each
		// page into the maps of the previous one.
		t, err := TwinFromDoc(doc)
		if err != nil {
			return err
		}
		if key := t.DeviceID + "/" + t.ModuleID; !seen[key] {
			seen[key] = true
			twins = append(twins, t)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return twins, nil
}
