package emulator

import (
	"errors"
	"fmt"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
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
	tokenExpiry  time.Time // the "se" of the SAS token it connected with

	// inbound holds the client's PUBLISH packets, processed one at a time
	// in order, as edgeHub's protocol gateway does; done closes with the
	// connection.
	inbound chan packets.Packet
	done    chan struct{}

	// out serialises server-to-client publications, so that packet ids are
	// written in the order they are queued in unacked.
	out sync.Mutex
	// The fields below are guarded by Emulator.mu.
	nextPacketID    uint16
	unacked         []uint16  // QoS 1 packet ids sent and not acknowledged, oldest first
	outOfOrderAcks  int64     // PUBACKs that were not for the oldest unacknowledged publication
	methodsActiveAt time.Time // when the $iothub/methods/POST/ subscription takes effect; zero: none
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
	// TokenExpiry is the expiry of the SAS token the connection was
	// authenticated with.
	TokenExpiry time.Time `json:"tokenExpiry"`
	// UnackedPublishes counts QoS 1 publications to the module not yet
	// acknowledged in order (edgeHub's pending-acknowledgement queue).
	UnackedPublishes int `json:"unackedPublishes"`
	// OutOfOrderPubacks counts PUBACKs that did not acknowledge the oldest
	// pending publication: edgeHub logs and ignores them.
	OutOfOrderPubacks int64 `json:"outOfOrderPubacks"`
	// MethodsActiveAt is when the direct-method subscription takes effect
	// (absent: no such subscription).
	MethodsActiveAt *time.Time `json:"methodsActiveAt,omitempty"`
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
			TokenExpiry:  c.tokenExpiry,

			UnackedPublishes:  len(c.unacked),
			OutOfOrderPubacks: c.outOfOrderAcks,
		})
		if !c.methodsActiveAt.IsZero() {
			at := c.methodsActiveAt
			out[len(out)-1].MethodsActiveAt = &at
		}
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
// matching topic (e.g. "$iothub/methods/POST/x/?$rid=1") that takes effect:
// a direct-method subscription counts only MethodSubscriptionDelay after its
// SUBSCRIBE, as on edgeHub.
func (e *Emulator) IsSubscribed(moduleID, topic string) bool {
	e.mu.Lock()
	c, ok := e.conns[moduleID]
	e.mu.Unlock()
	return ok && e.deliverable(c, topic)
}

func isMethodTopic(topic string) bool { return strings.HasPrefix(topic, "$iothub/methods/POST/") }

// deliverable reports whether a publication on topic would reach c.
func (e *Emulator) deliverable(c *connection, topic string) bool {
	if c.client.Closed() {
		return false
	}
	if _, ok := subscriptionQoS(c.client, topic); !ok {
		return false
	}
	if isMethodTopic(topic) {
		e.mu.Lock()
		at := c.methodsActiveAt
		e.mu.Unlock()
		return !at.IsZero() && !e.now().Before(at)
	}
	return true
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

// subscriptionQoS returns the highest QoS of cl's subscriptions matching
// topic, and whether there is one.
func subscriptionQoS(cl *mqtt.Client, topic string) (byte, bool) {
	var qos byte
	found := false
	for f, sub := range cl.State.Subscriptions.GetAll() {
		if matchTopic(f, topic) {
			found = true
			qos = max(qos, sub.Qos)
		}
	}
	return qos, found
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
		mqtt.OnDisconnect, mqtt.OnPublish, mqtt.OnSubscribed, mqtt.OnPacketRead:
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
	// edgeHub allows MaxClockSkew after the expiry: verify as of that much
	// earlier.
	asOf := e.now().Add(-orZero(e.cfg.EdgeHub.TokenClockSkew))
	if err := VerifyModuleSASToken(string(pk.Connect.Password), id.Key, hosts, deviceID, moduleID, asOf); err != nil {
		return fmt.Errorf("SAS token: %w", err)
	}
	return nil
}

func (h *mqttHook) OnSessionEstablished(cl *mqtt.Client, pk packets.Packet) {
	e := h.e
	deviceID, moduleID := splitClientID(cl.ID)
	u, _ := parseUsername(string(pk.Connect.Username))
	tok, _ := ParseSASToken(string(pk.Connect.Password)) // verified by OnConnectAuthenticate
	now := e.now()
	c := &connection{
		client: cl, deviceID: deviceID, moduleID: moduleID,
		connectedAt: now, lastActivity: now,
		apiVersion: u.query.Get("api-version"), clientType: u.query.Get("DeviceClientType"),
		tokenExpiry: time.Unix(tok.Se, 0).UTC(),
		inbound:     make(chan packets.Packet, 256),
		done:        make(chan struct{}),
	}
	e.mu.Lock()
	e.conns[moduleID] = c
	e.edge.byClient[cl] = c
	e.stats.connectSuccess[cl.ID]++
	e.mu.Unlock()
	go e.processInbound(c)
	e.log.Info("mqtt client connected", "clientId", cl.ID, "remote", cl.Net.Remote, "cleanSession", cl.Properties.Clean,
		"apiVersion", c.apiVersion, "tokenExpiry", c.tokenExpiry)
}

func (h *mqttHook) OnDisconnect(cl *mqtt.Client, err error, _ bool) {
	e := h.e
	_, moduleID := splitClientID(cl.ID)
	e.mu.Lock()
	if c, ok := e.edge.byClient[cl]; ok {
		delete(e.edge.byClient, cl)
		close(c.done)
	}
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
	// Every twin topic reaches the twin handler, which closes the
	// connection on an operation edgeHub does not know, as edgeHub does.
	return strings.HasPrefix(strings.ToLower(topic), "$iothub/twin/") ||
		strings.HasPrefix(topic, "$iothub/methods/res/")
}

// subscribeAllowed grants every filter, as edgeHub's protocol gateway does
// (unknown ones are only logged by edgeHub): nothing is ever published
// through the broker's topic tree, so a wildcard receives nothing but what
// the module's own $iothub topics carry. The broker's own $SYS topics stay
// closed.
func subscribeAllowed(_, _, filter string) bool {
	return !strings.HasPrefix(filter, "$SYS")
}

// OnPublish takes every client publication out of the broker: IoT Hub
// topics are requests to the hub, never messages for other clients. Each is
// queued for the connection's sequential processor, which acknowledges it
// (PUBACK at QoS 1) only once processed, as edgeHub does: an acknowledged
// message is always visible through the service API.
func (h *mqttHook) OnPublish(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if cl.Net.Inline {
		return pk, nil
	}
	e := h.e
	e.mu.Lock()
	c := e.edge.byClient[cl]
	e.mu.Unlock()
	if c != nil {
		select {
		case c.inbound <- pk:
		case <-c.done:
		}
	}
	return pk, packets.ErrRejectPacket // no PUBACK from the broker, no delivery
}

// processInbound handles a connection's publications one at a time, in the
// order received, until the connection closes.
func (e *Emulator) processInbound(c *connection) {
	for {
		select {
		case <-c.done:
			return
		case pk := <-c.inbound:
			e.processPublish(c, pk)
		}
	}
}

func (e *Emulator) processPublish(c *connection, pk packets.Packet) {
	e.mu.Lock()
	c.lastActivity = e.now()
	e.mu.Unlock()
	topic := pk.TopicName
	switch {
	case strings.HasPrefix(topic, telemetryPrefix(c.deviceID, c.moduleID)):
		rest := strings.TrimPrefix(topic, telemetryPrefix(c.deviceID, c.moduleID))
		e.handleTelemetry(c.deviceID, c.moduleID, rest, pk.Payload, pk.FixedHeader.Dup, pk.FixedHeader.Retain)
	case strings.HasPrefix(strings.ToLower(topic), "$iothub/twin/"):
		if !e.handleTwinRequest(c, topic, pk.Payload) {
			return // the connection is closed: no acknowledgement
		}
	case strings.HasPrefix(topic, "$iothub/methods/res/"):
		e.handleMethodResponse(c.moduleID, topic, pk.Payload)
	}
	if pk.FixedHeader.Qos > 0 {
		err := c.client.WritePacket(packets.Packet{FixedHeader: packets.FixedHeader{Type: packets.Puback}, PacketID: pk.PacketID})
		if err != nil {
			e.log.Debug("puback not sent", "clientId", c.client.ID, "packetId", pk.PacketID, "reason", err.Error())
		}
	}
}

func (e *Emulator) handleTelemetry(deviceID, moduleID, rest string, payload []byte, dup, retain bool) {
	m, err := newMessage(deviceID, moduleID, strings.TrimPrefix(rest, "/"), payload, e.now())
	if err == nil {
		// edgeHub's protocol gateway turns the DUP and RETAIN flags into
		// application properties (DupPropertyName, RetainPropertyName).
		if dup {
			m.setProperty("mqtt-dup", "true")
		}
		if retain {
			m.setProperty("mqtt-retain", "true")
		}
	}
	id := deviceID + "/" + moduleID
	if n := routingSize(m); err == nil && n > MaxMessageSize {
		err = fmt.Errorf("message size %d bytes exceeds the %d-byte limit", n, MaxMessageSize)
	}
	if err != nil {
		e.mu.Lock()
		e.stats.dropped[[2]string{id, m.OutputName}]++
		e.mu.Unlock()
		e.log.Warn("message refused", "moduleId", moduleID, "outputName", m.OutputName, "size", len(payload), "reason", err.Error())
		return
	}
	e.mu.Lock()
	e.stats.received[[2]string{id, m.OutputName}]++
	e.stats.messageBytes[id] += int64(m.Size)
	e.mu.Unlock()
	if e.queueIfOffline(m) {
		e.log.Info("message stored until IoT Hub is reachable", "moduleId", moduleID, "outputName", m.OutputName, "size", m.Size)
		return
	}
	e.deliverMessage(m)
}

// deliverMessage hands a message to the hub side: recorded and billed.
func (e *Emulator) deliverMessage(m Message) {
	m.EnqueuedTime = e.now().UTC()
	m = e.recordMessage(m)
	e.meter.bill(m.ModuleID, BillD2C, billedMessageSize(m))
	e.log.Info("message received", "index", m.Index, "moduleId", m.ModuleID, "outputName", m.OutputName, "size", m.Size)
}

// splitTopicQuery splits "path/?a=b" into the path without trailing "/"
// and the parsed query.
func splitTopicQuery(topic string) (string, url.Values) {
	p, q, _ := strings.Cut(topic, "?")
	vals, _ := url.ParseQuery(q)
	return strings.TrimSuffix(p, "/"), vals
}

// handleTwinRequest answers $iothub/twin/GET and
// $iothub/twin/PATCH/properties/reported as edgeHub does. It returns false
// when the request was malformed and the connection closed (edgeHub's
// topic parser throws then).
func (e *Emulator) handleTwinRequest(c *connection, topic string, body []byte) bool {
	cl := c.client
	path, q := splitTopicQuery(topic)
	rid := q.Get("$rid")
	op := strings.ToLower(path)
	respond := func(status int, payload []byte) {
		t := "$iothub/twin/res/" + strconv.Itoa(status) + "/?$rid=" + url.QueryEscape(rid)
		if err := e.deliverTo(c, t, payload); err != nil {
			e.log.Warn("twin response not delivered", "clientId", cl.ID, "topic", t, "reason", err.Error())
		}
	}
	switch {
	case op == "$iothub/twin/get" && rid != "":
		doc, err := e.twinForModule(c)
		if err != nil {
			e.log.Warn("twin request failed", "clientId", cl.ID, "topic", topic, "status", 500, "reason", err.Error())
			respond(500, nil)
			return true
		}
		e.mu.Lock()
		e.stats.getTwin[cl.ID]++
		e.mu.Unlock()
		respond(200, doc)
	case op == "$iothub/twin/patch/properties/reported":
		// $rid is optional: without it the patch is applied and not
		// answered.
		if err := e.acceptReported(c.moduleID, body); err != nil {
			var te *twinErr
			if !errors.As(err, &te) {
				te = &twinErr{500, 500001, err.Error()}
			}
			e.log.Warn("reported properties refused", "clientId", cl.ID, "topic", topic, "status", te.status, "reason", te.msg)
			if rid != "" {
				respond(te.status, nil) // edgeHub's error answers have no body
			}
			return true
		}
		e.mu.Lock()
		e.stats.reported[cl.ID]++
		e.mu.Unlock()
		if rid != "" {
			respond(204, nil) // no $version: edgeHub answers before syncing upstream
		}
	default:
		e.log.Warn("malformed twin request: connection closed", "clientId", cl.ID, "topic", topic)
		cl.Stop(fmt.Errorf("malformed twin request %q", topic))
		return false
	}
	return true
}
