package emulator

import (
	"encoding/json"
	"io"
	"net/http"
)

// registerEmulatorRoutes adds the emulator-only control endpoints that are
// not part of IoT Hub's service API: the billing meter, IoT Hub
// reachability and an immediate re-authentication.
func (e *Emulator) registerEmulatorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /emulator/billing", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, http.StatusOK, e.Billing())
	})
	mux.HandleFunc("DELETE /emulator/billing", func(w http.ResponseWriter, _ *http.Request) {
		e.ResetBilling()
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /emulator/offline", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, http.StatusOK, map[string]bool{"offline": e.Offline()})
	})
	mux.HandleFunc("PUT /emulator/offline", func(w http.ResponseWriter, r *http.Request) {
		var req struct {
			Offline *bool `json:"offline"`
		}
		body, err := io.ReadAll(io.LimitReader(r.Body, 1<<16))
		if err == nil {
			err = json.Unmarshal(body, &req)
		}
		if err != nil || req.Offline == nil {
			hubError(w, http.StatusBadRequest, "ArgumentInvalid", `body must be {"offline": true|false}`)
			return
		}
		e.SetOffline(*req.Offline)
		writeJSONResponse(w, http.StatusOK, map[string]bool{"offline": e.Offline()})
	})
	mux.HandleFunc("POST /emulator/reauthenticate", func(w http.ResponseWriter, _ *http.Request) {
		dropped := e.Reauthenticate()
		if dropped == nil {
			dropped = []string{}
		}
		writeJSONResponse(w, http.StatusOK, map[string]any{"disconnected": dropped})
	})
}
