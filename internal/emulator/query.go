package emulator

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// maxQueryLength is IoT Hub's limit on a query expression.
const maxQueryLength = 8192

// moduleQuery is the one query shape the emulator answers:
// SELECT * FROM devices.modules WHERE moduleId = '<id>' (keywords in any
// case, any spacing).
var moduleQuery = regexp.MustCompile(`(?is)^\s*SELECT\s+\*\s+FROM\s+devices\.modules\s+WHERE\s+moduleId\s*=\s*'([^']*)'\s*$`)

// svcQuery answers POST /devices/query: body {"query": "..."} (the SDKs
// also send "Query"), page size from x-ms-max-item-count (1..100, default
// Config.QueryPageSize), the next page from x-ms-continuation. The answer is
// a JSON array of module twins, with x-ms-item-type: Twin and, when more
// remain, x-ms-continuation. Twins come in (deviceId, moduleId) order; the
// token is opaque to clients (the last key served).
func (e *Emulator) svcQuery(w http.ResponseWriter, r *http.Request) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 64<<10))
	if err != nil {
		hubError(w, http.StatusBadRequest, "ArgumentInvalid", err.Error())
		return
	}
	var req struct {
		Query string `json:"query"` // encoding/json matches "Query" too
	}
	if err := json.Unmarshal(body, &req); err != nil || strings.TrimSpace(req.Query) == "" {
		hubError(w, http.StatusBadRequest, "ArgumentNull", "the request body must be {\"query\": \"<query>\"}")
		return
	}
	if len(req.Query) > maxQueryLength {
		hubError(w, http.StatusBadRequest, "BadRequest", fmt.Sprintf("the query is %d characters long, more than %d", len(req.Query), maxQueryLength))
		return
	}
	m := moduleQuery.FindStringSubmatch(req.Query)
	if m == nil {
		hubError(w, http.StatusBadRequest, "BadRequest",
			"The server didn't understand your query. Check your query syntax and try again. "+
				"(the emulator answers only SELECT * FROM devices.modules WHERE moduleId = '<id>')")
		return
	}
	module := m[1]
	e.mu.Lock()
	size := e.cfg.QueryPageSize
	e.mu.Unlock()
	if s := r.Header.Get("x-ms-max-item-count"); s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			hubError(w, http.StatusBadRequest, "ArgumentInvalid", "x-ms-max-item-count must be a positive integer")
			return
		}
		size = min(n, maxQueryPageSize)
	}
	after := ""
	if tok := r.Header.Get("x-ms-continuation"); tok != "" {
		b, err := base64.RawURLEncoding.DecodeString(tok)
		if err != nil || !strings.Contains(string(b), "/") {
			hubError(w, http.StatusBadRequest, "ArgumentInvalid", "invalid continuation token")
			return
		}
		after = string(b)
	}

	e.mu.Lock()
	type row struct {
		key   string
		twin  *twinRecord
		fleet bool
	}
	var rows []row
	for k, t := range e.twins {
		if t.ModuleID == module {
			rows = append(rows, row{k, t, false})
		}
	}
	for k, t := range e.hubLocked().fleet {
		if t.ModuleID == module {
			rows = append(rows, row{k, t, true})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].key < rows[j].key })
	start := sort.Search(len(rows), func(i int) bool { return rows[i].key > after })
	end := min(start+size, len(rows))
	page := make([]ModuleTwin, 0, end-start)
	for _, rw := range rows[start:end] {
		if rw.fleet {
			page = append(page, fleetTwinView(rw.twin))
		} else {
			page = append(page, e.moduleTwinLocked(rw.twin))
		}
	}
	e.hubLocked().queryPages++
	e.mu.Unlock()

	w.Header().Set("x-ms-item-type", "Twin")
	if end < len(rows) {
		w.Header().Set("x-ms-continuation", base64.RawURLEncoding.EncodeToString([]byte(rows[end-1].key)))
	}
	writeJSONResponse(w, http.StatusOK, page)
}
