package emulator

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
)

// postQuery sends a query to the plain service listener; it returns the
// status, the rows and the headers.
func postQuery(t *testing.T, e *Emulator, query, max string) (int, []map[string]any, http.Header) {
	t.Helper()
	b, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest("POST", e.ServiceURL()+"/devices/query?api-version=2021-04-12", strings.NewReader(string(b)))
	if max != "" {
		req.Header.Set("x-ms-max-item-count", max)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var rows []map[string]any
	if resp.StatusCode == 200 {
		if err := json.NewDecoder(resp.Body).Decode(&rows); err != nil {
			t.Fatal(err)
		}
	}
	return resp.StatusCode, rows, resp.Header
}

// TestQueryProjection: the emulator answers IoT Hub's projection grammar on
// devices.modules: property paths with or without AS, [[quoted]] names;
// each row holds the selected properties under their alias or last name,
// and leaves out a property the twin does not define (a module that never
// reported). What IoT Hub's grammar does not allow is refused with 400.
func TestQueryProjection(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	seedTwenty(t, e)
	q := "SELECT deviceId, moduleId, connectionState, properties.reported.readiness AS readiness, " +
		"properties.reported.[[readiness]].score AS s FROM devices.modules WHERE moduleId = 'readiness'"
	status, rows, h := postQuery(t, e, q, "")
	if status != 200 || h.Get("x-ms-item-type") != "Raw" || len(rows) != 21 {
		t.Fatalf("status %d, item type %q, %d rows", status, h.Get("x-ms-item-type"), len(rows))
	}
	first := rows[1] // fleet-0001 (device1's own module comes first)
	r, _ := first["readiness"].(map[string]any)
	if first["deviceId"] != "fleet-0001" || first["moduleId"] != "readiness" || first["connectionState"] != "Disconnected" ||
		r["status"] != "ready" || first["s"] != float64(90) || len(first) != 5 {
		t.Errorf("row = %v", first)
	}
	never := rows[5] // fleet-0005: never reported
	if _, ok := never["readiness"]; ok || never["deviceId"] != "fleet-0005" || len(never) != 3 {
		t.Errorf("a module that never reported: row = %v, want readiness and s left out", never)
	}
	if _, ok := rows[1]["properties"]; ok {
		t.Error("a projection answered whole twins")
	}

	for _, bad := range []string{
		"SELECT deviceId, * FROM devices.modules WHERE moduleId = 'readiness'",
		"SELECT deviceId, properties.reported.deviceId FROM devices.modules WHERE moduleId = 'readiness'", // two named deviceId
		"SELECT deviceId AS 'x' FROM devices.modules WHERE moduleId = 'readiness'",
		"SELECT deviceId, FROM devices.modules WHERE moduleId = 'readiness'",
		"SELECT properties.reported.a-b FROM devices.modules WHERE moduleId = 'readiness'",
		"SELECT MAX(properties.reported.readiness.score) AS m FROM devices.modules WHERE moduleId = 'readiness'",
		"SELECT TOP 5 deviceId FROM devices.modules WHERE moduleId = 'readiness'",
	} {
		if status, _, h := postQuery(t, e, bad, ""); status != 400 || h.Get("iothub-errorcode") != "BadRequest" {
			t.Errorf("%s: status %d, errorcode %q; want 400 BadRequest", bad, status, h.Get("iothub-errorcode"))
		}
	}
}

// TestQueryBillingAndFaults: each page served is billed by its size, with
// its bytes, in the totals only; a fault set for a request answers it
// (429 with Retry-After, or 500) and the next request is served.
func TestQueryBillingAndFaults(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	seedTwenty(t, e)
	e.ResetBilling()
	q := "SELECT * FROM devices.modules WHERE moduleId = 'readiness'"
	e.FailQueryPages(QueryFault{Status: http.StatusTooManyRequests, RetryAfter: 2}, e.QueryPages()+1)
	if status, _, h := postQuery(t, e, q, "10"); status != 429 || h.Get("Retry-After") != "2" || h.Get("iothub-errorcode") != "ThrottlingException" {
		t.Errorf("fault 429: status %d, Retry-After %q, errorcode %q", status, h.Get("Retry-After"), h.Get("iothub-errorcode"))
	}
	if b := e.Billing(); b.Operations[BillQuery] != 0 {
		t.Errorf("a throttled request was billed: %+v", b)
	}
	status, rows, _ := postQuery(t, e, q, "10")
	if status != 200 || len(rows) != 10 {
		t.Fatalf("after the fault: status %d, %d rows", status, len(rows))
	}
	raw, _ := json.Marshal(rows)
	b := e.Billing()
	if b.Operations[BillQuery] != 1 || b.Bytes[BillQuery] < int64(len(raw)) || b.Bytes[BillQuery] > int64(len(raw))+2 ||
		b.ByKind[BillQuery] != (b.Bytes[BillQuery]+4095)/4096 || b.Total != b.ByKind[BillQuery] || len(b.ByModule) != 0 {
		t.Errorf("billing after a %d-byte page: %+v", len(raw), b)
	}
	e.FailQueryPages(QueryFault{Status: http.StatusInternalServerError}, e.QueryPages()+1)
	if status, _, _ := postQuery(t, e, q, ""); status != 500 {
		t.Errorf("fault 500: status %d", status)
	}
}
