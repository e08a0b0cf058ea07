package emulator

import "net/http"

// registerEmulatorRoutes adds the emulator-only control endpoints that are
// not part of IoT Hub's service API: the billing meter.
func (e *Emulator) registerEmulatorRoutes(mux *http.ServeMux) {
	mux.HandleFunc("GET /emulator/billing", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, http.StatusOK, e.Billing())
	})
	mux.HandleFunc("DELETE /emulator/billing", func(w http.ResponseWriter, _ *http.Request) {
		e.ResetBilling()
		w.WriteHeader(http.StatusNoContent)
	})
}
