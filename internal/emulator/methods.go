package emulator

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// MethodRequest is the body of the service API's direct method invocation.
type MethodRequest struct {
	MethodName               string          `json:"methodName"`
	Payload                  json.RawMessage `json:"payload,omitempty"`
	ResponseTimeoutInSeconds *int            `json:"responseTimeoutInSeconds,omitempty"`
	ConnectTimeoutInSeconds  *int            `json:"connectTimeoutInSeconds,omitempty"`
}

// MethodResult is the module's answer to a direct method.
type MethodResult struct {
	Status  int             `json:"status"`
	Payload json.RawMessage `json:"payload"`
}

// Direct method errors, mapped by the service API to IoT Hub's answers.
var (
	// ErrModuleNotOnline: the module is not connected (or has not subscribed
	// to $iothub/methods/POST/#) within the connect timeout: 404, 404103.
	ErrModuleNotOnline = errors.New("timed out waiting for device to connect")
	// ErrMethodTimeout: no response within the response timeout: 504, 504101.
	ErrMethodTimeout = errors.New("timed out waiting for the response from device")
	// ErrModuleNotFound: no such module identity: 404.
	ErrModuleNotFound = errModuleNotFound
)

const (
	defaultMethodResponseTimeout = 30
	maxMethodTimeout             = 300
)

// badRequestError is a request the service API refuses with 400.
type badRequestError struct{ msg string }

func (e *badRequestError) Error() string { return e.msg }

var errEmulatorClosed = errors.New("emulator closed")

type methodKey struct{ moduleID, rid string }

// methodAnswer is a module's response and the size of its body as sent.
type methodAnswer struct {
	MethodResult
	size int
}

// InvokeMethod calls a direct method on a module the way IoT Hub does: it
// waits up to ConnectTimeoutInSeconds (default 0) for the module to be
// connected and subscribed, publishes $iothub/methods/POST/{name}/?$rid={rid}
// and waits up to ResponseTimeoutInSeconds (default 30) for the answer.
func (e *Emulator) InvokeMethod(ctx context.Context, moduleID string, req MethodRequest) (*MethodResult, error) {
	if req.MethodName == "" || strings.ContainsAny(req.MethodName, "/?#+") {
		return nil, &badRequestError{fmt.Sprintf("invalid method name %q", req.MethodName)}
	}
	respTimeout, connTimeout := defaultMethodResponseTimeout, 0
	if req.ResponseTimeoutInSeconds != nil {
		respTimeout = *req.ResponseTimeoutInSeconds
	}
	if req.ConnectTimeoutInSeconds != nil {
		connTimeout = *req.ConnectTimeoutInSeconds
	}
	if respTimeout < 1 || respTimeout > maxMethodTimeout || connTimeout < 0 || connTimeout > maxMethodTimeout {
		return nil, &badRequestError{fmt.Sprintf("timeouts must be between 1 (0 for connect) and %d seconds", maxMethodTimeout)}
	}
	payload := []byte(req.Payload)
	if len(payload) == 0 {
		payload = []byte("null")
	} else if !json.Valid(payload) {
		return nil, &badRequestError{"payload is not valid JSON"}
	}
	e.mu.Lock()
	_, known := e.modules[moduleID]
	e.ridSeq++
	rid := strconv.FormatUint(e.ridSeq, 16)
	e.mu.Unlock()
	if !known {
		return nil, ErrModuleNotFound
	}
	topic := "$iothub/methods/POST/" + req.MethodName + "/?$rid=" + rid

	// Wait for the module to be connected and subscribed (and for edgeHub
	// to reach the hub).
	connDeadline := time.Now().Add(time.Duration(connTimeout) * time.Second)
	for e.Offline() || !e.IsSubscribed(moduleID, topic) {
		if !time.Now().Before(connDeadline) {
			e.meter.billMethod(moduleID, len(payload), 0, methodNotOnline)
			return nil, ErrModuleNotOnline
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-e.stop:
			return nil, errEmulatorClosed
		case <-time.After(50 * time.Millisecond):
		}
	}

	ch := make(chan methodAnswer, 1)
	key := methodKey{moduleID, rid}
	e.mu.Lock()
	e.pending[key] = ch
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		delete(e.pending, key)
		e.mu.Unlock()
	}()
	if err := e.deliver(moduleID, topic, payload); err != nil {
		e.meter.billMethod(moduleID, len(payload), 0, methodNotOnline)
		return nil, ErrModuleNotOnline
	}
	e.log.Info("direct method invoked", "moduleId", moduleID, "method", req.MethodName, "rid", rid)
	timer := time.NewTimer(time.Duration(respTimeout) * time.Second)
	defer timer.Stop()
	select {
	case r := <-ch:
		e.mu.Lock()
		e.stats.methods[moduleID]++
		e.mu.Unlock()
		e.meter.billMethod(moduleID, len(payload), r.size, methodAnswered)
		return &r.MethodResult, nil
	case <-timer.C:
		e.meter.billMethod(moduleID, len(payload), 0, methodTimedOut)
		e.log.Warn("direct method timed out", "moduleId", moduleID, "method", req.MethodName, "rid", rid, "timeoutSeconds", respTimeout)
		return nil, ErrMethodTimeout
	case <-ctx.Done():
		return nil, ctx.Err()
	case <-e.stop:
		return nil, errEmulatorClosed
	}
}

// handleMethodResponse routes $iothub/methods/res/{status}/?$rid={rid} to the
// pending invocation of the same module.
func (e *Emulator) handleMethodResponse(moduleID, topic string, body []byte) {
	path, q := splitTopicQuery(topic)
	status, err := strconv.Atoi(strings.TrimPrefix(path, "$iothub/methods/res/"))
	rid := q.Get("$rid")
	if err != nil || rid == "" {
		e.log.Warn("malformed direct method response ignored", "moduleId", moduleID, "topic", topic)
		return
	}
	var payload json.RawMessage
	switch {
	case len(body) == 0:
		payload = json.RawMessage("null")
	case json.Valid(body):
		payload = append(json.RawMessage(nil), body...)
	default:
		payload, _ = json.Marshal(string(body))
	}
	e.mu.Lock()
	ch, ok := e.pending[methodKey{moduleID, rid}]
	e.mu.Unlock()
	if !ok {
		e.log.Warn("direct method response for no pending request", "moduleId", moduleID, "rid", rid)
		return
	}
	select {
	case ch <- methodAnswer{MethodResult{Status: status, Payload: payload}, len(body)}:
	default:
	}
	e.log.Info("direct method answered", "moduleId", moduleID, "rid", rid, "status", status)
}

func newTrackingID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}
