package emulator

import (
	"bufio"
	"crypto/tls"
	"encoding/binary"
	"errors"
	"io"
	"testing"
	"time"
)

// rawClient speaks MQTT 3.1.1 byte by byte, for what a library client hides:
// the QoS and packet id of what the emulator sends, the order of PUBACKs,
// the DUP flag.
type rawClient struct {
	t    *testing.T
	conn *tls.Conn
	r    *bufio.Reader
}

// rawPacket is a packet read from the emulator.
type rawPacket struct {
	typ, flags byte
	body       []byte
}

// rawPublish is a parsed PUBLISH.
type rawPublish struct {
	topic    string
	qos      byte
	packetID uint16
	payload  []byte
}

func mqttString(s string) []byte { return append([]byte{byte(len(s) >> 8), byte(len(s))}, s...) }

func encodePacket(header byte, body []byte) []byte {
	pkt := []byte{header}
	for n := len(body); ; {
		b := byte(n % 128)
		n /= 128
		if n > 0 {
			b |= 0x80
		}
		pkt = append(pkt, b)
		if n == 0 {
			break
		}
	}
	return append(pkt, body...)
}

// rawDial connects module with a valid one-hour token and checks the
// CONNACK.
func rawDial(t *testing.T, e *Emulator, module string) *rawClient {
	t.Helper()
	id, _ := e.ModuleIdentity(module)
	tok, err := NewModuleSASToken(id.Key, e.cfg.IoTHubHostname, e.cfg.DeviceID, module, time.Now().Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	conn, err := tls.Dial("tcp", e.MQTTAddr(), &tls.Config{RootCAs: e.CertPool(), ServerName: "edgeHub"})
	if err != nil {
		t.Fatal(err)
	}
	c := &rawClient{t: t, conn: conn, r: bufio.NewReaderSize(conn, 1<<20)}
	t.Cleanup(func() { _ = conn.Close() })
	var body []byte
	body = append(body, mqttString("MQTT")...)
	body = append(body, 4, 0xC2, 0, 60)
	body = append(body, mqttString(e.cfg.DeviceID+"/"+module)...)
	body = append(body, mqttString(e.cfg.IoTHubHostname+"/"+e.cfg.DeviceID+"/"+module+"/?api-version=2021-04-12")...)
	body = append(body, mqttString(tok)...)
	c.send(encodePacket(0x10, body))
	p := c.read()
	if p.typ != 2 || len(p.body) != 2 || p.body[1] != 0 {
		t.Fatalf("CONNACK %+v", p)
	}
	return c
}

func (c *rawClient) send(b []byte) {
	c.t.Helper()
	_ = c.conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	if _, err := c.conn.Write(b); err != nil {
		c.t.Fatalf("write: %v", err)
	}
}

// next reads one packet, or returns an error (timeout, closed connection).
func (c *rawClient) next(timeout time.Duration) (rawPacket, error) {
	_ = c.conn.SetReadDeadline(time.Now().Add(timeout))
	h, err := c.r.ReadByte()
	if err != nil {
		return rawPacket{}, err
	}
	n, mult := 0, 1
	for {
		b, err := c.r.ReadByte()
		if err != nil {
			return rawPacket{}, err
		}
		n += int(b&0x7f) * mult
		mult *= 128
		if b&0x80 == 0 {
			break
		}
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return rawPacket{}, err
	}
	return rawPacket{typ: h >> 4, flags: h & 0x0f, body: body}, nil
}

func (c *rawClient) read() rawPacket {
	c.t.Helper()
	p, err := c.next(10 * time.Second)
	if err != nil {
		c.t.Fatalf("read: %v", err)
	}
	return p
}

// closed reports whether the emulator closed the connection within timeout.
func (c *rawClient) closed(timeout time.Duration) bool {
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		_, err := c.next(time.Until(deadline))
		if err != nil {
			return errors.Is(err, io.EOF) || !isTimeout(err)
		}
	}
	return false
}

func isTimeout(err error) bool {
	var te interface{ Timeout() bool }
	return errors.As(err, &te) && te.Timeout()
}

func (c *rawClient) subscribe(id uint16, filter string, qos byte) byte {
	c.t.Helper()
	body := binary.BigEndian.AppendUint16(nil, id)
	body = append(body, mqttString(filter)...)
	body = append(body, qos)
	c.send(encodePacket(0x82, body))
	p := c.read()
	if p.typ != 9 || binary.BigEndian.Uint16(p.body) != id {
		c.t.Fatalf("SUBACK %+v", p)
	}
	return p.body[2]
}

func (c *rawClient) publish(topic string, qos byte, id uint16, dup bool, payload []byte) {
	c.t.Helper()
	header := byte(0x30) | qos<<1
	if dup {
		header |= 0x08
	}
	body := mqttString(topic)
	if qos > 0 {
		body = binary.BigEndian.AppendUint16(body, id)
	}
	c.send(encodePacket(header, append(body, payload...)))
}

func (c *rawClient) puback(id uint16) {
	c.t.Helper()
	c.send(encodePacket(0x40, binary.BigEndian.AppendUint16(nil, id)))
}

// readPublish reads packets until a PUBLISH and parses it.
func (c *rawClient) readPublish() rawPublish {
	c.t.Helper()
	for {
		p := c.read()
		if p.typ != 3 {
			continue
		}
		n := int(binary.BigEndian.Uint16(p.body))
		pub := rawPublish{topic: string(p.body[2 : 2+n]), qos: (p.flags >> 1) & 3}
		rest := p.body[2+n:]
		if pub.qos > 0 {
			pub.packetID = binary.BigEndian.Uint16(rest)
			rest = rest[2:]
		}
		pub.payload = rest
		return pub
	}
}

// readPuback reads packets until a PUBACK and returns its packet id.
func (c *rawClient) readPuback() uint16 {
	c.t.Helper()
	for {
		p := c.read()
		if p.typ == 4 {
			return binary.BigEndian.Uint16(p.body)
		}
	}
}

// TestCloseEndsAClientThatNeverSentConnect: a client that completed TLS but
// has not sent its CONNECT (a module reconnecting just as edgeHub stops)
// does not hold Close, which the broker alone would make wait forever.
func TestCloseEndsAClientThatNeverSentConnect(t *testing.T) {
	t.Parallel()
	e := startEmulator(t, testConfig(t))
	conn, err := tls.Dial("tcp", e.MQTTAddr(), &tls.Config{RootCAs: e.CertPool(), ServerName: "edgeHub"})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	done := make(chan error, 1)
	go func() { done <- e.Close() }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Close: %v", err)
		}
	case <-time.After(30 * time.Second):
		t.Fatal("Close has not returned after 30 s with a client that never sent CONNECT")
	}
	// The connection was ended from the emulator's side.
	_ = conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Read(make([]byte, 1)); err == nil {
		t.Error("the client's connection is still open after Close")
	}
}
