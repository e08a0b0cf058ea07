package emulator

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"
)

// WorkloadAPIVersions are the api-versions aziot-edged accepts
// (edgelet-http/src/version.rs).
var WorkloadAPIVersions = []string{
	"2018-06-28", "2019-01-30", "2019-10-22", "2019-11-05", "2020-07-07", "2021-12-07", "2022-08-03",
}

func writeJSONResponse(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

func workloadError(w http.ResponseWriter, status int, format string, args ...any) {
	writeJSONResponse(w, status, map[string]string{"message": fmt.Sprintf(format, args...)})
}

// workloadHandler serves the workload API of one module's socket. Like the
// PID check of aziot-edged, a socket signs and issues certificates only for
// the module it belongs to (owner).
func (e *Emulator) workloadHandler(owner string) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /trust-bundle", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, http.StatusOK, map[string]string{"certificate": string(e.ca.certPEM)})
	})
	mux.HandleFunc("GET /manifest-trust-bundle", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, http.StatusOK, map[string]string{"certificate": ""})
	})
	mux.HandleFunc("POST /modules/{module}/genid/{genid}/sign", func(w http.ResponseWriter, r *http.Request) {
		e.workloadSign(w, r, owner)
	})
	mux.HandleFunc("POST /modules/{module}/genid/{genid}/certificate/server", func(w http.ResponseWriter, r *http.Request) {
		e.workloadServerCert(w, r, owner)
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		workloadError(w, http.StatusNotFound, "not found: %s %s", r.Method, r.URL.Path)
	})
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		versions, ok := r.URL.Query()["api-version"]
		if !ok || len(versions) == 0 || versions[0] == "" {
			workloadError(w, http.StatusBadRequest, "api-version not specified")
			return
		}
		if !isWorkloadAPIVersion(versions[0]) {
			workloadError(w, http.StatusBadRequest, "invalid api-version %q", versions[0])
			return
		}
		mux.ServeHTTP(w, r)
	})
}

func isWorkloadAPIVersion(v string) bool {
	for _, x := range WorkloadAPIVersions {
		if v == x {
			return true
		}
	}
	return false
}

// authorizeModule applies the checks shared by the module routes: a known
// module that is the socket's own (403 otherwise, like aziot-edged's
// auth_caller, which finds no container of that module for the caller).
func (e *Emulator) authorizeModule(w http.ResponseWriter, r *http.Request, owner string) (ModuleIdentity, bool) {
	module := r.PathValue("module")
	e.mu.Lock()
	id, ok := e.modules[module]
	e.mu.Unlock()
	if !ok || module != owner {
		e.log.Warn("workload request refused", "socketModule", owner, "requestedModule", module, "path", r.URL.Path)
		workloadError(w, http.StatusForbidden, "forbidden: the caller is module %s and cannot act as module %s", owner, module)
		return id, false
	}
	return id, true
}

// readWorkloadBody reads a POST body as aziot-edged's HTTP server does
// (http-common server.rs): an empty body, or one whose Content-Type is
// neither absent nor application/json, reaches the route as no body at all;
// JSON that does not decode into v is 422. It reports whether v was filled;
// false with written set means an error was answered.
func readWorkloadBody(w http.ResponseWriter, r *http.Request, v any) (present, written bool) {
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		workloadError(w, http.StatusBadRequest, "%v", err)
		return false, true
	}
	if len(body) == 0 {
		return false, false
	}
	if ct := r.Header.Get("Content-Type"); ct != "" {
		mediaType, _, _ := strings.Cut(ct, ";")
		if strings.TrimSpace(mediaType) != "application/json" {
			return false, false
		}
	}
	if err := json.Unmarshal(body, v); err != nil {
		workloadError(w, http.StatusUnprocessableEntity, "%v", err)
		return false, true
	}
	return true, false
}

// signRequest is what aziot-edged reads of a sign request: keyId and algo
// are ignored (the module key, HMAC-SHA256).
type signRequest struct {
	Data *string `json:"data"`
}

// workloadSign signs with the module key. As aziot-edged does, the
// generation id in the path is ignored, the body is read only with
// Content-Type application/json (or none), and "data" is required.
func (e *Emulator) workloadSign(w http.ResponseWriter, r *http.Request, owner string) {
	var req signRequest
	present, written := readWorkloadBody(w, r, &req)
	if written {
		return
	}
	if present && req.Data == nil {
		workloadError(w, http.StatusUnprocessableEntity, "missing field `data`")
		return
	}
	id, ok := e.authorizeModule(w, r, owner)
	if !ok {
		return
	}
	if !present {
		workloadError(w, http.StatusBadRequest, "missing request body")
		return
	}
	data, err := base64.StdEncoding.DecodeString(*req.Data)
	if err != nil {
		workloadError(w, http.StatusBadRequest, "data must be base64")
		return
	}
	key, err := base64.StdEncoding.DecodeString(id.Key)
	if err != nil {
		workloadError(w, http.StatusInternalServerError, "module key is not base64")
		return
	}
	h := hmac.New(sha256.New, key)
	h.Write(data)
	e.mu.Lock()
	e.stats.signs[owner]++
	e.mu.Unlock()
	writeJSONResponse(w, http.StatusOK, map[string]string{"digest": base64.StdEncoding.EncodeToString(h.Sum(nil))})
}

func (e *Emulator) workloadServerCert(w http.ResponseWriter, r *http.Request, owner string) {
	var req struct {
		CommonName string `json:"commonName"`
		Expiration string `json:"expiration"`
	}
	present, written := readWorkloadBody(w, r, &req)
	if written {
		return
	}
	id, ok := e.authorizeModule(w, r, owner)
	if !ok {
		return
	}
	if r.PathValue("genid") != id.GenerationID {
		workloadError(w, http.StatusBadRequest, "invalid generation id %q for module %s", r.PathValue("genid"), owner)
		return
	}
	if !present || req.CommonName == "" {
		workloadError(w, http.StatusBadRequest, "invalid certificate request body: commonName is required")
		return
	}
	cert, err := e.ca.issueServerCert(req.CommonName, []string{strings.TrimPrefix(owner, "$")}, e.now())
	if err != nil {
		workloadError(w, http.StatusInternalServerError, "%v", err)
		return
	}
	writeJSONResponse(w, http.StatusCreated, map[string]any{
		"privateKey":  map[string]string{"type": "key", "bytes": string(cert.keyPEM)},
		"certificate": string(cert.chainPEM),
		"expiration":  cert.notAfter.UTC().Format(time.RFC3339),
	})
}
