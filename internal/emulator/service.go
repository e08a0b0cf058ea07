package emulator

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// serviceHandler serves the IoT Hub service API subset and the
// emulator-only endpoints. api-version is accepted and ignored; so is
// Authorization, except on the TLS listener (servicetls.go).
func (e *Emulator) serviceHandler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /twins/{device}/modules/{module}", e.svcGetTwin)
	mux.HandleFunc("PATCH /twins/{device}/modules/{module}", func(w http.ResponseWriter, r *http.Request) { e.svcUpdateTwin(w, r, false) })
	mux.HandleFunc("PUT /twins/{device}/modules/{module}", func(w http.ResponseWriter, r *http.Request) { e.svcUpdateTwin(w, r, true) })
	mux.HandleFunc("POST /twins/{device}/modules/{module}/methods", e.svcInvokeMethod)
	mux.HandleFunc("POST /devices/query", e.svcQuery)
	mux.HandleFunc("GET /emulator/messages", e.svcListMessages)
	mux.HandleFunc("DELETE /emulator/messages", func(w http.ResponseWriter, _ *http.Request) {
		if err := e.ClearMessages(); err != nil {
			writeJSONResponse(w, http.StatusInternalServerError, map[string]string{"message": err.Error()})
			return
		}
		w.WriteHeader(http.StatusNoContent)
	})
	mux.HandleFunc("GET /emulator/connections", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, http.StatusOK, map[string]any{"connections": e.Connections()})
	})
	mux.HandleFunc("GET /emulator/health", func(w http.ResponseWriter, _ *http.Request) {
		writeJSONResponse(w, http.StatusOK, e.Health())
	})
	mux.HandleFunc("GET /emulator/trust-bundle", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		_, _ = w.Write(e.TrustBundlePEM())
	})
	e.registerEmulatorRoutes(mux)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		hubError(w, http.StatusNotFound, "NotFound", fmt.Sprintf("no route for %s %s", r.Method, r.URL.Path))
	})
	return mux
}

// Health is the emulator's status document.
type Health struct {
	Status          string    `json:"status"`
	DeviceID        string    `json:"deviceId"`
	IoTHubHostname  string    `json:"iotHubHostname"`
	GatewayHostname string    `json:"gatewayHostname"`
	MQTTAddr        string    `json:"mqttAddr"`
	ServiceURL      string    `json:"serviceUrl"`
	MetricsURL      string    `json:"metricsUrl,omitempty"`
	Modules         []string  `json:"modules"`
	Connections     int       `json:"connections"`
	StartedAt       time.Time `json:"startedAt"`
}

// Health reports the emulator's addresses and counts.
func (e *Emulator) Health() Health {
	e.mu.Lock()
	defer e.mu.Unlock()
	return Health{
		Status:          "ok",
		DeviceID:        e.cfg.DeviceID,
		IoTHubHostname:  e.cfg.IoTHubHostname,
		GatewayHostname: e.cfg.GatewayHostname,
		MQTTAddr:        e.mqttAddr,
		ServiceURL:      e.serviceURL,
		MetricsURL:      e.metricsURL,
		Modules:         e.moduleNamesLocked(),
		Connections:     len(e.conns),
		StartedAt:       e.startedAt,
	}
}

// hubError writes IoT Hub's service error document
// {"Message":"ErrorCode:<name>;<text>","ExceptionMessage":"Tracking ID:..."}
// with the iothub-errorcode header.
func hubError(w http.ResponseWriter, status int, name, msg string) {
	w.Header().Set("iothub-errorcode", name)
	writeJSONResponse(w, status, map[string]string{
		"Message":          "ErrorCode:" + name + ";" + msg,
		"ExceptionMessage": "Tracking ID:" + newTrackingID() + "-TimeStamp:" + time.Now().UTC().Format("01/02/2006 15:04:05"),
	})
}

// methodError writes the error document IoT Hub returns for a failed direct
// method: the JSON error serialized into "Message".
func methodError(w http.ResponseWriter, status, code int, name, msg string, timeout int) {
	inner, _ := json.Marshal(map[string]any{
		"errorCode":    code,
		"trackingId":   newTrackingID(),
		"message":      msg,
		"info":         map[string]any{"timeout": fmt.Sprintf("00:%02d:%02d", timeout/60, timeout%60)},
		"timestampUtc": time.Now().UTC().Format(time.RFC3339Nano),
	})
	w.Header().Set("iothub-errorcode", name)
	writeJSONResponse(w, status, map[string]string{"Message": string(inner), "ExceptionMessage": ""})
}

func (e *Emulator) checkDevice(w http.ResponseWriter, r *http.Request) (string, bool) {
	if d := r.PathValue("device"); d != e.cfg.DeviceID {
		hubError(w, http.StatusNotFound, "DeviceNotFound", fmt.Sprintf("Device %s not registered", d))
		return "", false
	}
	return r.PathValue("module"), true
}

func (e *Emulator) svcGetTwin(w http.ResponseWriter, r *http.Request) {
	module, ok := e.checkDevice(w, r)
	if !ok {
		return
	}
	t, err := e.GetTwin(module)
	if err != nil {
		hubError(w, http.StatusNotFound, "ModuleNotFound", fmt.Sprintf("Module %s on device %s not found", module, e.cfg.DeviceID))
		return
	}
	w.Header().Set("ETag", `"`+t.Etag+`"`)
	writeJSONResponse(w, http.StatusOK, t)
}

func (e *Emulator) svcUpdateTwin(w http.ResponseWriter, r *http.Request, replace bool) {
	module, ok := e.checkDevice(w, r)
	if !ok {
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		hubError(w, http.StatusBadRequest, "ArgumentInvalid", err.Error())
		return
	}
	doc, err := decodeObject(body)
	if err != nil {
		hubError(w, http.StatusBadRequest, "ArgumentInvalid", err.Error())
		return
	}
	var desired, tags map[string]any
	if p, present := doc["properties"]; present && p != nil {
		pm, ok := p.(map[string]any)
		if !ok {
			hubError(w, http.StatusBadRequest, "ArgumentInvalid", "properties must be an object")
			return
		}
		if d, present := pm["desired"]; present && d != nil {
			if desired, ok = d.(map[string]any); !ok {
				hubError(w, http.StatusBadRequest, "ArgumentInvalid", "properties.desired must be an object")
				return
			}
		}
	}
	if tg, present := doc["tags"]; present && tg != nil {
		var ok bool
		if tags, ok = tg.(map[string]any); !ok {
			hubError(w, http.StatusBadRequest, "ArgumentInvalid", "tags must be an object")
			return
		}
	}
	if replace && desired == nil {
		desired = map[string]any{}
	}
	t, err := e.updateTwin(module, desired, tags, replace, r.Header.Get("If-Match"))
	var te *twinErr
	switch {
	case errors.Is(err, errModuleNotFound):
		hubError(w, http.StatusNotFound, "ModuleNotFound", fmt.Sprintf("Module %s on device %s not found", module, e.cfg.DeviceID))
		return
	case errors.As(err, &te) && te.status == http.StatusPreconditionFailed:
		hubError(w, te.status, "PreconditionFailed", te.msg)
		return
	case errors.As(err, &te):
		hubError(w, te.status, "ArgumentInvalid", te.msg)
		return
	case err != nil:
		hubError(w, http.StatusInternalServerError, "ServerError", err.Error())
		return
	}
	w.Header().Set("ETag", `"`+t.Etag+`"`)
	writeJSONResponse(w, http.StatusOK, t)
}

func (e *Emulator) svcInvokeMethod(w http.ResponseWriter, r *http.Request) {
	module, ok := e.checkDevice(w, r)
	if !ok {
		return
	}
	var req MethodRequest
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err == nil {
		err = json.Unmarshal(body, &req)
	}
	if err != nil {
		hubError(w, http.StatusBadRequest, "ArgumentInvalid", "invalid method request body")
		return
	}
	res, err := e.InvokeMethod(r.Context(), module, req)
	var bad *badRequestError
	connTimeout := 0
	if req.ConnectTimeoutInSeconds != nil {
		connTimeout = *req.ConnectTimeoutInSeconds
	}
	respTimeout := defaultMethodResponseTimeout
	if req.ResponseTimeoutInSeconds != nil {
		respTimeout = *req.ResponseTimeoutInSeconds
	}
	switch {
	case err == nil:
		writeJSONResponse(w, http.StatusOK, res)
	case errors.As(err, &bad):
		hubError(w, http.StatusBadRequest, "ArgumentInvalid", bad.msg)
	case errors.Is(err, ErrModuleNotFound):
		hubError(w, http.StatusNotFound, "ModuleNotFound", fmt.Sprintf("Module %s on device %s not found", module, e.cfg.DeviceID))
	case errors.Is(err, ErrModuleNotOnline):
		methodError(w, http.StatusNotFound, 404103, "DeviceNotOnline", "Timed out waiting for device to connect.", connTimeout)
	case errors.Is(err, ErrMethodTimeout):
		methodError(w, http.StatusGatewayTimeout, 504101, "GatewayTimeout", "Timed out waiting for the response from device.", respTimeout)
	default:
		hubError(w, http.StatusInternalServerError, "ServerError", err.Error())
	}
}

// MessageList is the answer of GET /emulator/messages.
type MessageList struct {
	Messages []Message `json:"messages"`
	// LastIndex is the highest index assigned so far: pass it as since to
	// get only newer messages.
	LastIndex int64 `json:"lastIndex"`
}

func (e *Emulator) svcListMessages(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	f := MessageFilter{ModuleID: q.Get("moduleId"), OutputName: q.Get("output")}
	if s := q.Get("since"); s != "" {
		n, err := strconv.ParseInt(strings.TrimSpace(s), 10, 64)
		if err != nil {
			hubError(w, http.StatusBadRequest, "ArgumentInvalid", "since must be an integer index")
			return
		}
		f.Since = n
	}
	msgs := e.Messages(f)
	e.mu.Lock()
	last := e.msgs.NextIndex
	e.mu.Unlock()
	writeJSONResponse(w, http.StatusOK, MessageList{Messages: msgs, LastIndex: last})
}
