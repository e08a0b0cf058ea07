package emulator

import (
	"bytes"
	"compress/gzip"
	"encoding/base64"
	"fmt"
	"io"
	"net/url"
	"strings"
	"time"
	"unicode/utf8"
)

// MaxMessageSize is edgeHub's limit for a device-to-cloud message as it
// routes it (RoutingEdgeHub.ValidateMessageSize): see routingSize. A larger
// message is acknowledged and dropped.
const MaxMessageSize = 256 * 1024

// internalPropertyNames are edgeHub's names of the system properties a
// module sends (SystemProperties.cs); a message's routed size counts these.
var internalPropertyNames = map[string]string{
	"$.exp": "absolute-expiry-time", "$.cid": "correlationId", "$.mid": "messageId", "$.to": "to", "$.uid": "userId",
	"ack": "ack", "$.on": "outputName", "$.ct": "contentType", "$.ce": "contentEncoding", "$.schema": "messageSchema",
	"iothub-operation": "operation", "$.ctime": "creationTime",
}

// routingSize approximates the size edgeHub checks against MaxMessageSize
// (Routing.Core Message.Size): the body, the names and values of the
// properties with system properties under edgeHub's internal names, plus the
// ones edgeHub adds (connectionDeviceId, connectionModuleId, edgeMessageId,
// a GUID, and edgeHubOriginInterface). It is a little over the on-the-wire
// size, so a packet just under edgeHub's packet limit can still be refused.
func routingSize(m Message) int {
	n := len(m.Payload())
	for _, props := range []map[string]string{m.SystemProperties, m.Properties} {
		for k, v := range props {
			if internal, ok := internalPropertyNames[k]; ok {
				k = internal
			}
			n += len(k) + len(v)
		}
	}
	n += len("connectionDeviceId") + len(m.DeviceID) + len("connectionModuleId") + len(m.ModuleID)
	n += len("edgeMessageId") + 36 + len("edgeHubOriginInterface") + len("Internal")
	return n
}

// Message is a device-to-cloud message the emulator received.
type Message struct {
	Index            int64             `json:"index"`
	DeviceID         string            `json:"deviceId"`
	ModuleID         string            `json:"moduleId"`
	OutputName       string            `json:"outputName,omitempty"`
	ContentType      string            `json:"contentType,omitempty"`
	ContentEncoding  string            `json:"contentEncoding,omitempty"`
	MessageID        string            `json:"messageId,omitempty"`
	CorrelationID    string            `json:"correlationId,omitempty"`
	Properties       map[string]string `json:"properties"`
	SystemProperties map[string]string `json:"systemProperties"`
	Body             string            `json:"body"`
	// BodyEncoding is "utf-8" when Body is the payload as text, "base64"
	// when the payload was not valid UTF-8.
	BodyEncoding string    `json:"bodyEncoding"`
	Size         int       `json:"size"`
	EnqueuedTime time.Time `json:"enqueuedTime"`
}

// Payload returns the message body as bytes.
func (m Message) Payload() []byte {
	if m.BodyEncoding == "base64" {
		b, _ := base64.StdEncoding.DecodeString(m.Body)
		return b
	}
	return []byte(m.Body)
}

// Decoded returns the body as a consumer reads it: gunzipped when the
// message's contentEncoding is gzip (as the readiness module's report
// messages are), else the payload itself.
func (m Message) Decoded() ([]byte, error) {
	p := m.Payload()
	if !strings.EqualFold(m.ContentEncoding, "gzip") {
		return p, nil
	}
	zr, err := gzip.NewReader(bytes.NewReader(p))
	if err != nil {
		return nil, fmt.Errorf("message %d: gzip body: %w", m.Index, err)
	}
	b, err := io.ReadAll(io.LimitReader(zr, 16<<20))
	if err != nil {
		return nil, fmt.Errorf("message %d: gzip body: %w", m.Index, err)
	}
	return b, nil
}

// MessageFilter selects messages; empty fields match everything.
type MessageFilter struct {
	ModuleID   string
	OutputName string
	Since      int64 // only messages whose Index is greater
}

type messageLog struct {
	NextIndex int64     `json:"nextIndex"`
	Messages  []Message `json:"messages"`
	// Queued are messages edgeHub acknowledged while IoT Hub was
	// unreachable, delivered when it is reachable again.
	Queued []Message `json:"queued,omitempty"`
}

// setProperty adds an application property.
func (m *Message) setProperty(name, value string) {
	if old, ok := m.Properties[name]; ok {
		m.Size -= len(name) + len(old)
	}
	m.Properties[name] = value
	m.Size += len(name) + len(value)
}

// parsePropertyBag parses the URL-encoded "k=v&k2=v2" suffix of a telemetry
// topic into application and system ("$."-prefixed) properties.
func parsePropertyBag(bag string) (app, sys map[string]string, err error) {
	app, sys = map[string]string{}, map[string]string{}
	bag = strings.TrimSuffix(bag, "/")
	if bag == "" {
		return app, sys, nil
	}
	for _, kv := range strings.Split(bag, "&") {
		if kv == "" {
			continue
		}
		k, v, _ := strings.Cut(kv, "=")
		if k, err = url.QueryUnescape(k); err != nil {
			return nil, nil, fmt.Errorf("property name %q: %w", kv, err)
		}
		if v, err = url.QueryUnescape(v); err != nil {
			return nil, nil, fmt.Errorf("property value %q: %w", kv, err)
		}
		if strings.HasPrefix(k, "$.") {
			sys[k] = v
		} else {
			app[k] = v
		}
	}
	return app, sys, nil
}

// newMessage builds the record of a telemetry message.
func newMessage(deviceID, moduleID, bag string, payload []byte, now time.Time) (Message, error) {
	app, sys, err := parsePropertyBag(bag)
	if err != nil {
		return Message{}, err
	}
	m := Message{
		DeviceID:         deviceID,
		ModuleID:         moduleID,
		OutputName:       sys["$.on"],
		ContentType:      sys["$.ct"],
		ContentEncoding:  sys["$.ce"],
		MessageID:        sys["$.mid"],
		CorrelationID:    sys["$.cid"],
		Properties:       app,
		SystemProperties: sys,
		EnqueuedTime:     now.UTC(),
		Size:             len(payload),
	}
	for k, v := range app {
		m.Size += len(k) + len(v)
	}
	for k, v := range sys {
		m.Size += len(k) + len(v)
	}
	if utf8.Valid(payload) {
		m.Body, m.BodyEncoding = string(payload), "utf-8"
	} else {
		m.Body, m.BodyEncoding = base64.StdEncoding.EncodeToString(payload), "base64"
	}
	return m, nil
}

// recordMessage appends a message to the log and persists it.
func (e *Emulator) recordMessage(m Message) Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.msgs.NextIndex++
	m.Index = e.msgs.NextIndex
	e.msgs.Messages = append(e.msgs.Messages, m)
	if max := e.cfg.MaxMessages; max > 0 && len(e.msgs.Messages) > max {
		e.msgs.Messages = append([]Message(nil), e.msgs.Messages[len(e.msgs.Messages)-max:]...)
	}
	if err := e.writeJSON(messagesFile, e.msgs, 0o644); err != nil {
		e.log.Error("persist messages", "err", err)
	}
	return m
}

// Messages returns the recorded device-to-cloud messages matching f, oldest
// first.
func (e *Emulator) Messages(f MessageFilter) []Message {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := []Message{}
	for _, m := range e.msgs.Messages {
		if m.Index <= f.Since || (f.ModuleID != "" && m.ModuleID != f.ModuleID) || (f.OutputName != "" && m.OutputName != f.OutputName) {
			continue
		}
		out = append(out, m)
	}
	return out
}

// ClearMessages forgets the recorded messages; indexes keep increasing.
func (e *Emulator) ClearMessages() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.msgs.Messages = nil
	return e.writeJSON(messagesFile, e.msgs, 0o644)
}
