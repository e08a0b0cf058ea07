package emulator

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

var (
	errNotConnected  = errors.New("module is not connected")
	errNotSubscribed = errors.New("module has not subscribed to the topic")
)

// connection is an authenticated MQTT client, one per module identity.
type connection struct {
	client       *mqtt.Client
	deviceID     string
	moduleID     string
	connectedAt  time.Time
	lastActivity time.Time
	apiVersion   string
	clientType   string
}

// Connection describes a connected module client.
type Connection struct {
	ClientID      string    `json:"clientId"`
	DeviceID      string    `json:"deviceId"`
	ModuleID      string    `json:"moduleId"`
	RemoteAddr    string    `json:"remoteAddr"`
	ConnectedAt   time.Time `json:"connectedAt"`
	LastActivity  time.Time `json:"lastActivity"`
	APIVersion    string    `json:"apiVersion"`
	ClientType    string    `json:"clientType,omitempty"`
	CleanSession  bool      `json:"cleanSession"`
	Subscriptions []string  `json:"subscriptions"`
}

// Connections lists the connected module clients, sorted by module.
func (e *Emulator) Connections() []Connection {
	e.mu.Lock()
	out := make([]Connection, 0, len(e.conns))
	for _, c := range e.conns {
		out = append(out, Connection{
			ClientID:     c.client.ID,
			DeviceID:     c.deviceID,
			ModuleID:     c.moduleID,
			RemoteAddr:   c.client.Net.Remote,
			ConnectedAt:  c.connectedAt,
			LastActivity: c.lastActivity,
			APIVersion:   c.apiVersion,
			ClientType:   c.clientType,
			CleanSession: c.client.Properties.Clean,
		})
	}
	clients := make(map[string]*mqtt.Client, len(e.conns))
	for m, c := range e.conns {
		clients[m] = c.client
	}
	e.mu.Unlock()
	for i := range out {
		subs := []string{}
		for f := range clients[out[i].ModuleID].State.Subscriptions.GetAll() {
			subs = append(subs, f)
		}
		sort.Strings(subs)
		out[i].Subscriptions = subs
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ModuleID < out[j].ModuleID })
	return out
}

// IsSubscribed reports whether the module is connected with a subscription
// matching topic (e.g. "$iothub/methods/POST/x/?$rid=1").
func (e *Emulator) IsSubscribed(moduleID, topic string) bool {
	e.mu.Lock()
	c, ok := e.conns[moduleID]
	e.mu.Unlock()
	return ok && !c.client.Closed() && subscribed(c.client, topic)
}

// matchTopic reports whether an MQTT topic filter matches a topic name;
// wildcards in the first level never match "$" topics [MQTT-4.7.2-1].
func matchTopic(filter, topic string) bool {
	fs, ts := strings.Split(filter, "/"), strings.Split(topic, "/")
	if strings.HasPrefix(topic, "$") && (fs[0] == "+" || fs[0] == "#") {
		return false
	}
	for i, f := range fs {
		if f == "#" {
			return true
		}
		if i >= len(ts) {
			return false
		}
		if f != "+" && f != ts[i] {
			return false
		}
	}
	return len(fs) == len(ts)
}

func subscribed(cl *mqtt.Client, topic string) bool {
	for f := range cl.State.Subscriptions.GetAll() {
		if matchTopic(f, topic) {
			return true
		}
	}
	return false
}

// deliver publishes to the module's own connection only, as IoT Hub does for
// $iothub topics: never through the broker's topic tree, so that no other
// client (wildcard subscriptions included) can receive it.
func (e *Emulator) deliver(moduleID, topic string, payload []byte) error {
	e.mu.Lock()
	c, ok := e.conns[moduleID]
	e.mu.Unlock()
	if !ok {
		return errNotConnected
	}
	return deliverTo(c.client, topic, payload)
}

func deliverTo(cl *mqtt.Client, topic string, payload []byte) error {
	if cl.Closed() {
		return errNotConnected
	}
	if !subscribed(cl, topic) {
		return errNotSubscribed
	}
	return cl.WritePacket(packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: 0},
		TopicName:   topic,
		Payload:     payload,
	})
}

// usernameInfo is the parsed MQTT username
// "{host}/{device}/{module}/?api-version=...&DeviceClientType=...".
type usernameInfo struct {
	host, deviceID, moduleID string
	query                    url.Values
}

func parseUsername(u string) (usernameInfo, error) {
	var info usernameInfo
	parts := strings.SplitN(u, "/", 4)
	if len(parts) < 3 {
		return info, fmt.Errorf("username %q is not of the form {host}/{device}/{module}/?api-version={version}", u)
	}
	info.host, info.deviceID = parts[0], parts[1]
	var rest string
	if len(parts) == 4 {
		info.moduleID, rest = parts[2], parts[3]
	} else {
		info.moduleID, rest, _ = strings.Cut(parts[2], "?")
	}
	rest = strings.TrimPrefix(rest, "?")
	q, err := url.ParseQuery(rest)
	if err != nil {
		return info, fmt.Errorf("username query: %w", err)
	}
	if q.Get("api-version") == "" {
		return info, fmt.Errorf("username %q has no api-version", u)
	}
	info.query = q
	return info, nil
}

// mqttHook implements the broker callbacks: authentication, ACL and the
// IoT Hub topics.
type mqttHook struct {
	mqtt.HookBase
	e *Emulator
}

func (h *mqttHook) ID() string { return "edgehub-emulator" }

func (h *mqttHook) Provides(b byte) bool {
	switch b {
	case mqtt.OnConnectAuthenticate, mqtt.OnACLCheck, mqtt.OnSessionEstablished,
		mqtt.OnDisconnect, mqtt.OnPublish, mqtt.OnPublished:
		return true
	}
	return false
}

func splitClientID(id string) (device, module string) {
	device, module, _ = strings.Cut(id, "/")
	return device, module
}

// OnConnectAuthenticate verifies client id, username and SAS token; a
// refusal is answered with CONNACK return code 5 (not authorized).
func (h *mqttHook) OnConnectAuthenticate(cl *mqtt.Client, pk packets.Packet) bool {
	e := h.e
	clientID := pk.Connect.ClientIdentifier
	err := e.authenticate(pk)
	if err != nil {
		e.log.Warn("mqtt connection refused", "clientId", clientID, "remote", cl.Net.Remote, "reason", err.Error())
		e.mu.Lock()
		e.stats.connectFailed[clientID]++
		e.mu.Unlock()
		return false
	}
	return true
}

func (e *Emulator) authenticate(pk packets.Packet) error {
	if pk.ProtocolVersion != 4 {
		return fmt.Errorf("MQTT protocol level %d is not supported (IoT Hub speaks MQTT 3.1.1)", pk.ProtocolVersion)
	}
	deviceID, moduleID := splitClientID(pk.Connect.ClientIdentifier)
	if deviceID != e.cfg.DeviceID || moduleID == "" {
		return fmt.Errorf("client id %q is not {%s}/{module}", pk.Connect.ClientIdentifier, e.cfg.DeviceID)
	}
	e.mu.Lock()
	id, ok := e.modules[moduleID]
	e.mu.Unlock()
	if !ok {
		return fmt.Errorf("module %q is not registered", moduleID)
	}
	u, err := parseUsername(string(pk.Connect.Username))
	if err != nil {
		return err
	}
	if !strings.EqualFold(u.host, e.cfg.IoTHubHostname) && !strings.EqualFold(u.host, e.cfg.GatewayHostname) {
		return fmt.Errorf("username host %q is neither %s nor %s", u.host, e.cfg.IoTHubHostname, e.cfg.GatewayHostname)
	}
	if u.deviceID != deviceID || u.moduleID != moduleID {
		return fmt.Errorf("username names %s/%s, client id %s", u.deviceID, u.moduleID, pk.Connect.ClientIdentifier)
	}
	if len(pk.Connect.Password) == 0 {
		return errors.New("no SAS token in the password")
	}
	hosts := []string{e.cfg.IoTHubHostname, e.cfg.GatewayHostname}
	if err := VerifyModuleSASToken(string(pk.Connect.Password), id.Key, hosts, deviceID, moduleID, e.now()); err != nil {
		return fmt.Errorf("SAS token: %w", err)
	}
	return nil
}

func (h *mqttHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	e := h.e
	deviceID, moduleID := splitClientID(cl.ID)
	u, _ := parseUsername(string(pk.Connect.Username))
	now := e.now()
	c := &connection{
		client: cl, deviceID: deviceID, moduleID: moduleID,
		connectedAt: now, lastActivity: now,
		apiVersion: u.query.Get("api-version"), clientType: u.query.Get("DeviceClientType"),
	}
	e.mu.Lock()
	e.conns[moduleID] = c
	e.stats.connectSuccess[cl.ID]++
	e.mu.Unlock()
	e.log.Info("mqtt client connected", "clientId", cl.ID, "remote", cl.Net.Remote, "cleanSession", cl.Properties.Clean, "apiVersion", c.apiVersion)
}

func (h *mqttHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	e := h.e
	_, moduleID := splitClientID(cl.ID)
	e.mu.Lock()
	if c, ok := e.conns[moduleID]; ok && c.client == cl {
		delete(e.conns, moduleID)
		e.lastSeen[moduleID] = e.now()
		e.stats.disconnects[cl.ID]++
	}
	e.mu.Unlock()
	reason := ""
	if err != nil {
		reason = err.Error()
	}
	e.log.Info("mqtt client disconnected", "clientId", cl.ID, "reason", reason)
}

// OnACLCheck lets a module publish and subscribe only to its own topics.
func (h *mqttHook) OnACLCheck(cl *mqtt.Client, topic string, write bool) bool {
	if cl.Net.Inline {
		return true
	}
	deviceID, moduleID := splitClientID(cl.ID)
	var ok bool
	if write {
		ok = publishAllowed(deviceID, moduleID, topic)
	} else {
		ok = subscribeAllowed(deviceID, moduleID, topic)
	}
	if !ok {
		verb := "subscribe to"
		if write {
			verb = "publish to"
		}
		h.e.log.Warn("mqtt topic refused", "clientId", cl.ID, "action", verb, "topic", topic)
	}
	return ok
}

func telemetryPrefix(deviceID, moduleID string) string {
	return "devices/" + deviceID + "/modules/" + moduleID + "/messages/events"
}

func publishAllowed(deviceID, moduleID, topic string) bool {
	if rest, ok := strings.CutPrefix(topic, telemetryPrefix(deviceID, moduleID)); ok {
		return rest == "" || strings.HasPrefix(rest, "/")
	}
	lower := strings.ToLower(topic)
	return strings.HasPrefix(lower, "$iothub/twin/get/") ||
		strings.HasPrefix(lower, "$iothub/twin/patch/properties/reported/") ||
		strings.HasPrefix(topic, "$iothub/methods/res/")
}

func subscribeAllowed(deviceID, moduleID, filter string) bool {
	for _, p := range []string{
		"$iothub/twin/res/",
		"$iothub/twin/PATCH/properties/desired/",
		"$iothub/methods/POST/",
		"devices/" + deviceID + "/modules/" + moduleID + "/",
	} {
		if strings.HasPrefix(filter, p) {
			return true
		}
	}
	return false
}

// OnPublish consumes every client publication: IoT Hub topics are requests
// to the hub, never messages for other clients. Telemetry is recorded here,
// before the broker sends PUBACK, so that an acknowledged message is always
// visible through the service API.
func (h *mqttHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	deviceID, moduleID := splitClientID(cl.ID)
	if rest, ok := strings.CutPrefix(pk.TopicName, telemetryPrefix(deviceID, moduleID)); ok {
		h.e.handleTelemetry(deviceID, moduleID, rest, pk.Payload)
	}
	return pk, packets.CodeSuccessIgnore
}

// OnPublished runs after the broker acknowledged the publication.
func (h *mqttHook) OnPublished(cl *mqtt.Client, pk packets.Packet) {
	if cl.Net.Inline {
		return
	}
	e := h.e
	_, moduleID := splitClientID(cl.ID)
	e.mu.Lock()
	if c, ok := e.conns[moduleID]; ok && c.client == cl {
		c.lastActivity = e.now()
	}
	e.mu.Unlock()
	topic := pk.TopicName
	switch {
	case strings.HasPrefix(strings.ToLower(topic), "$iothub/twin/"):
		e.handleTwinRequest(cl, moduleID, topic, pk.Payload)
	case strings.HasPrefix(topic, "$iothub/methods/res/"):
		e.handleMethodResponse(moduleID, topic, pk.Payload)
	}
}

func (e *Emulator) handleTelemetry(deviceID, moduleID, rest string, payload []byte) {
	m, err := newMessage(deviceID, moduleID, strings.TrimPrefix(rest, "/"), payload, e.now())
	id := deviceID + "/" + moduleID
	if err == nil && m.Size > MaxMessageSize {
		err = fmt.Errorf("message size %d bytes exceeds the %d-byte limit", m.Size, MaxMessageSize)
	}
	if err != nil {
		e.mu.Lock()
		e.stats.dropped[[2]string{id, m.OutputName}]++
		e.mu.Unlock()
		e.log.Warn("message refused", "moduleId", moduleID, "outputName", m.OutputName, "size", len(payload), "reason", err.Error())
		return
	}
	m = e.recordMessage(m)
	e.meter.bill(moduleID, BillD2C, billedMessageSize(m))
	e.mu.Lock()
	e.stats.received[[2]string{id, m.OutputName}]++
	e.stats.messageBytes[id] += int64(m.Size)
	e.mu.Unlock()
	e.log.Info("message received", "index", m.Index, "moduleId", moduleID, "outputName", m.OutputName, "size", m.Size)
}

// splitTopicQuery splits "path/?a=b" into the path without trailing "/"
// and the parsed query.
func splitTopicQuery(topic string) (string, url.Values) {
	p, q, _ := strings.Cut(topic, "?")
	vals, _ := url.ParseQuery(q)
	return strings.TrimSuffix(p, "/"), vals
}

func (e *Emulator) handleTwinRequest(cl *mqtt.Client, moduleID, topic string, body []byte) {
	path, q := splitTopicQuery(topic)
	rid := q.Get("$rid")
	if rid == "" {
		e.log.Warn("twin request without $rid ignored", "clientId", cl.ID, "topic", topic)
		return
	}
	respond := func(status int, extra string, payload []byte) {
		t := "$iothub/twin/res/" + strconv.Itoa(status) + "/?$rid=" + url.QueryEscape(rid) + extra
		if err := deliverTo(cl, t, payload); err != nil {
			e.log.Warn("twin response not delivered", "clientId", cl.ID, "topic", t, "reason", err.Error())
		}
	}
	fail := func(err error) {
		var te *twinErr
		if !errors.As(err, &te) {
			te = &twinErr{500, 500001, err.Error()}
		}
		e.log.Warn("twin request failed", "clientId", cl.ID, "topic", topic, "status", te.status, "reason", te.msg)
		respond(te.status, "", iotHubErrorBody(te.code, te.msg, e.now()))
	}
	switch strings.ToLower(path) {
	case "$iothub/twin/get":
		doc, err := e.deviceTwinDoc(moduleID)
		if err != nil {
			fail(&twinErr{404, 404001, err.Error()})
			return
		}
		e.mu.Lock()
		e.stats.getTwin[cl.ID]++
		e.mu.Unlock()
		e.meter.bill(moduleID, BillTwinRead, len(doc))
		respond(200, "", doc)
	case "$iothub/twin/patch/properties/reported":
		v, err := e.patchReported(moduleID, body)
		if err != nil {
			fail(err)
			return
		}
		e.mu.Lock()
		e.stats.reported[cl.ID]++
		e.mu.Unlock()
		e.meter.bill(moduleID, BillReportedPatch, len(body))
		e.log.Info("reported properties updated", "moduleId", moduleID, "version", v)
		respond(204, "&$version="+strconv.FormatInt(v, 10), nil)
	default:
		fail(&twinErr{400, 400004, "unsupported twin operation " + path})
	}
}
