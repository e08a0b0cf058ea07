package emulator

import (
	"strings"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/packets"
)

// Server-to-client publications, as edgeHub's protocol gateway sends them:
// at QoS min(subscription QoS, 1) (DefaultPublishToClientQoS is
// AtLeastOnce), to the module's own connection only and only when it holds a
// matching subscription. QoS 1 publications wait for their PUBACK in a queue
// that expects acknowledgements in order (RequestAckPairProcessor): a PUBACK
// for any other packet id than the oldest is logged and ignored, so the
// oldest stays pending. Nothing is retransmitted (DeviceReceiveAckTimeout is
// zero).

// deliver publishes to the module's current connection.
func (e *Emulator) deliver(moduleID, topic string, payload []byte) error {
	e.mu.Lock()
	c, ok := e.conns[moduleID]
	e.mu.Unlock()
	if !ok {
		return errNotConnected
	}
	return e.deliverTo(c, topic, payload)
}

// deliverTo publishes to c, never through the broker's topic tree, so that
// no other client (wildcard subscriptions included) can receive it.
func (e *Emulator) deliverTo(c *connection, topic string, payload []byte) error {
	cl := c.client
	if cl.Closed() {
		return errNotConnected
	}
	qos, ok := subscriptionQoS(cl, topic)
	if !ok {
		return errNotSubscribed
	}
	qos = min(qos, 1)
	pk := packets.Packet{
		FixedHeader: packets.FixedHeader{Type: packets.Publish, Qos: qos},
		TopicName:   topic,
		Payload:     payload,
	}
	c.out.Lock()
	defer c.out.Unlock()
	if qos == 1 {
		e.mu.Lock()
		pk.PacketID = c.allocPacketID()
		c.unacked = append(c.unacked, pk.PacketID)
		e.mu.Unlock()
	}
	return cl.WritePacket(pk)
}

// allocPacketID returns the next packet id not waiting for a PUBACK (1 to
// 65535, wrapping). e.mu must be held.
func (c *connection) allocPacketID() uint16 {
	for range 1 << 16 {
		c.nextPacketID++
		if c.nextPacketID == 0 {
			c.nextPacketID = 1
		}
		pending := false
		for _, id := range c.unacked {
			if id == c.nextPacketID {
				pending = true
				break
			}
		}
		if !pending {
			break
		}
	}
	return c.nextPacketID
}

// OnPacketRead sees every packet a client sends; PUBACKs for the emulator's
// own QoS 1 publications are matched here (the broker does not know them).
func (h *mqttHook) OnPacketRead(cl *mqtt.Client, pk packets.Packet) (packets.Packet, error) {
	if pk.FixedHeader.Type == packets.Puback {
		h.e.onPuback(cl, pk.PacketID)
	}
	return pk, nil
}

func (e *Emulator) onPuback(cl *mqtt.Client, id uint16) {
	e.mu.Lock()
	c, ok := e.edge.byClient[cl]
	if !ok {
		e.mu.Unlock()
		return
	}
	if len(c.unacked) == 0 {
		e.mu.Unlock()
		e.log.Warn("PUBACK received while none was expected", "clientId", cl.ID, "packetId", id)
		return
	}
	head := c.unacked[0]
	if head != id {
		c.outOfOrderAcks++
		pending := len(c.unacked)
		e.mu.Unlock()
		e.log.Warn("PUBACK received out of order: ignored", "clientId", cl.ID, "packetId", id, "expected", head, "pending", pending)
		return
	}
	c.unacked = c.unacked[1:]
	e.mu.Unlock()
}

// OnSubscribed starts the delay after which a direct-method subscription
// takes effect.
func (h *mqttHook) OnSubscribed(cl *mqtt.Client, pk packets.Packet, reasonCodes []byte) {
	e := h.e
	for i, f := range pk.Filters {
		if i >= len(reasonCodes) || reasonCodes[i] >= 0x80 || !strings.HasPrefix(f.Filter, "$iothub/methods/POST/") {
			continue
		}
		at := e.now().Add(orZero(e.cfg.EdgeHub.MethodSubscriptionDelay))
		e.mu.Lock()
		if c, ok := e.edge.byClient[cl]; ok && c.methodsActiveAt.IsZero() {
			c.methodsActiveAt = at
		}
		e.mu.Unlock()
		e.log.Info("direct method subscription", "clientId", cl.ID, "filter", f.Filter, "activeAt", at)
	}
}
