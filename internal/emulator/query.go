package emulator

import (
	"bytes"
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

// moduleQuery is the query shape the emulator answers:
// SELECT <projection> FROM devices.modules WHERE moduleId = '<id>'
// (keywords in any case, any spacing). The projection is parsed by
// parseProjection.
var moduleQuery = regexp.MustCompile(`(?is)^\s*SELECT\s+(.*?)\s+FROM\s+devices\.modules\s+WHERE\s+moduleId\s*=\s*'([^']*)'\s*$`)

// projection is one element of a SELECT list: a property path of the twin
// document and the name it takes in the result row.
type projection struct {
	path []string
	name string
}

// identifier is an attribute name or alias of IoT Hub's query grammar; a
// name outside it is quoted [[like-this]].
var identifier = regexp.MustCompile(`^[A-Za-z_$][A-Za-z0-9_$]*$`)

// aliased is an element with its alias: "<element> AS <alias>".
var aliased = regexp.MustCompile(`(?is)^(.*?)\s+AS\s+(\S+)$`)

// parseProjection reads a SELECT list the way IoT Hub's grammar writes it
// ("SELECT [TOP n] '*' | <element> [AS alias] [, <element> [AS alias]]*",
// element = attribute_name ('.' attribute_name)*, a name quoted [[...]] when
// it holds other characters). nil is SELECT *. Aggregates, TOP and GROUP BY
// are IoT Hub's but not the emulator's: refused naming what is not
// answered. Two elements with the same result name are refused, as a row
// cannot hold both.
func parseProjection(list string) ([]projection, error) {
	list = strings.TrimSpace(list)
	if list == "*" {
		return nil, nil
	}
	if len(list) > 4 && strings.EqualFold(list[:4], "TOP ") {
		return nil, fmt.Errorf("SELECT TOP is not answered by the emulator")
	}
	var out []projection
	names := map[string]bool{}
	for _, el := range splitOutsideBrackets(list, ',') {
		el = strings.TrimSpace(el)
		if el == "" {
			return nil, fmt.Errorf("an empty element in the SELECT list")
		}
		if el == "*" {
			return nil, fmt.Errorf("* cannot be combined with other elements in the SELECT list")
		}
		expr, alias := el, ""
		if m := aliased.FindStringSubmatch(el); m != nil {
			expr, alias = strings.TrimSpace(m[1]), m[2]
			if !identifier.MatchString(alias) {
				return nil, fmt.Errorf("alias %q is not a name", alias)
			}
		}
		if strings.Contains(expr, "(") {
			return nil, fmt.Errorf("%q: functions and aggregates are not answered by the emulator", expr)
		}
		var path []string
		for _, part := range splitOutsideBrackets(expr, '.') {
			part = strings.TrimSpace(part)
			switch {
			case strings.HasPrefix(part, "[[") && strings.HasSuffix(part, "]]") && len(part) > 4:
				path = append(path, part[2:len(part)-2])
			case identifier.MatchString(part):
				path = append(path, part)
			default:
				return nil, fmt.Errorf("%q is not a property path (names, dots, [[quoted names]])", expr)
			}
		}
		name := alias
		if name == "" {
			name = path[len(path)-1]
		}
		if names[name] {
			return nil, fmt.Errorf("two elements of the SELECT list are named %q: give one an alias (AS)", name)
		}
		names[name] = true
		out = append(out, projection{path: path, name: name})
	}
	return out, nil
}

// splitOutsideBrackets splits s at sep, except inside [[...]].
func splitOutsideBrackets(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch {
		case strings.HasPrefix(s[i:], "[["):
			depth++
			i++
		case strings.HasPrefix(s[i:], "]]") && depth > 0:
			depth--
			i++
		case s[i] == sep && depth == 0:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// project builds a result row of doc: each element's value under its name;
// an element whose path is not defined in doc is left out of the row.
func project(doc map[string]any, ps []projection) map[string]any {
	row := make(map[string]any, len(ps))
	for _, p := range ps {
		if v, ok := lookup(doc, p.path); ok {
			row[p.name] = v
		}
	}
	return row
}

// lookup is the value at path in doc, and whether it is defined.
func lookup(doc map[string]any, path []string) (any, bool) {
	var v any = doc
	for _, k := range path {
		m, ok := v.(map[string]any)
		if !ok {
			return nil, false
		}
		if v, ok = m[k]; !ok {
			return nil, false
		}
	}
	return v, true
}

// svcQuery answers POST /devices/query: body {"query": "..."} (the SDKs
// also send "Query"), page size from x-ms-max-item-count (at most
// Config.QueryPageSize, its default), the next page from x-ms-continuation. The answer is
// a JSON array: module twins (x-ms-item-type: Twin) for SELECT *, rows of
// the selected properties (x-ms-item-type: Raw) for a projection; when
// more remain, x-ms-continuation. Twins come in (deviceId, moduleId) order;
// the token is opaque to clients (the last key served). Each page is billed
// by its size (BillQuery). A fault set with FailQueryPages answers instead.
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
				"(the emulator answers only SELECT <* or properties> FROM devices.modules WHERE moduleId = '<id>')")
		return
	}
	proj, err := parseProjection(m[1])
	if err != nil {
		hubError(w, http.StatusBadRequest, "BadRequest", "The server didn't understand your query: "+err.Error())
		return
	}
	module := m[2]
	e.mu.Lock()
	size := e.cfg.QueryPageSize
	e.mu.Unlock()
	if s := r.Header.Get("x-ms-max-item-count"); s != "" {
		n, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || n < 1 {
			hubError(w, http.StatusBadRequest, "ArgumentInvalid", "x-ms-max-item-count must be a positive integer")
			return
		}
		size = min(n, size) // the configured size is also the largest page, as IoT Hub's 100
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
	h := e.hubLocked()
	page := h.queryPages + 1
	if f, ok := h.queryFaults[page]; ok {
		delete(h.queryFaults, page)
		h.queryPages++
		e.mu.Unlock()
		f.answer(w)
		return
	}
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
	for k, t := range h.fleet {
		if t.ModuleID == module {
			rows = append(rows, row{k, t, true})
		}
	}
	sort.Slice(rows, func(i, j int) bool { return rows[i].key < rows[j].key })
	start := sort.Search(len(rows), func(i int) bool { return rows[i].key > after })
	end := min(start+size, len(rows))
	twins := make([]ModuleTwin, 0, end-start)
	for _, rw := range rows[start:end] {
		if rw.fleet {
			twins = append(twins, fleetTwinView(rw.twin))
		} else {
			twins = append(twins, e.moduleTwinLocked(rw.twin))
		}
	}
	h.queryPages++
	e.mu.Unlock()

	var result any = twins
	itemType := "Twin"
	if proj != nil {
		projected := make([]map[string]any, 0, len(twins))
		for _, t := range twins {
			doc, err := toDoc(t)
			if err != nil {
				hubError(w, http.StatusInternalServerError, "ServerError", err.Error())
				return
			}
			projected = append(projected, project(doc, proj))
		}
		result, itemType = projected, "Raw"
	}
	var buf bytes.Buffer
	if err := json.NewEncoder(&buf).Encode(result); err != nil {
		hubError(w, http.StatusInternalServerError, "ServerError", err.Error())
		return
	}
	e.meter.charge("", BillQuery, e.meter.blocks(buf.Len()), int64(buf.Len()))
	w.Header().Set("x-ms-item-type", itemType)
	if end < len(rows) {
		w.Header().Set("x-ms-continuation", base64.RawURLEncoding.EncodeToString([]byte(rows[end-1].key)))
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(buf.Bytes())
}

// toDoc is a twin as the generic JSON document queries read.
func toDoc(t ModuleTwin) (map[string]any, error) {
	b, err := json.Marshal(t)
	if err != nil {
		return nil, fmt.Errorf("encoding twin %s/%s: %w", t.DeviceID, t.ModuleID, err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		return nil, fmt.Errorf("decoding twin %s/%s: %w", t.DeviceID, t.ModuleID, err)
	}
	return doc, nil
}

// QueryFault is what FailQueryPages answers for a page instead of the
// page: Status 429 with RetryAfter (seconds, the Retry-After header) is IoT
// Hub's throttling; 500 or 503 a server error.
type QueryFault struct {
	Status     int
	RetryAfter int
}

func (f QueryFault) answer(w http.ResponseWriter) {
	switch f.Status {
	case http.StatusTooManyRequests:
		if f.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(f.RetryAfter))
		}
		hubError(w, f.Status, "ThrottlingException", "IotHub throttling: the query rate is over the hub's limit")
	default:
		hubError(w, f.Status, "ServerError", "the emulator was told to fail this query page")
	}
}

// FailQueryPages makes the n-th POST /devices/query answers (counting from
// 1 since the start, as QueryPages counts them) fail with fault instead of
// a page: one entry per request, so a retried page is the next number.
func (e *Emulator) FailQueryPages(fault QueryFault, n ...int64) {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.hubLocked()
	if h.queryFaults == nil {
		h.queryFaults = map[int64]QueryFault{}
	}
	for _, i := range n {
		h.queryFaults[i] = fault
	}
}
