// Package hub connects the module to edgeHub over MQTT as its IoT Edge module
// identity: twin, reported properties, output messages and direct methods.
// It knows nothing about checks.
package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/amenzhinsky/iothub/iotdevice"
	"github.com/amenzhinsky/iothub/iotdevice/transport/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/edgeenv"
)

// MethodHandler answers a direct method: a status code and a JSON-able payload.
type MethodHandler func(payload map[string]any) (int, map[string]any)

// DefaultCallTimeout bounds every call to edgeHub: a twin read or patch, a
// message, a subscription, a method response. A response lost in a
// reconnection must not stall module mode for good.
const DefaultCallTimeout = 30 * time.Second

// methodTopic is where edgeHub delivers direct method calls.
const methodTopic = "$iothub/methods/POST/#"

// Client is a connected module client.
type Client struct {
	mc          *iotdevice.ModuleClient
	log         zerolog.Logger
	reconnected chan struct{}
	desired     chan struct{}
	once        sync.Once
	timeout     time.Duration

	mu         sync.Mutex
	connectedN int
	paho       paho.Client              // the connection, for the method subscription
	methods    map[string]MethodHandler // by method name
}

// TLSConfig is the only TLS configuration used to reach edgeHub: the
// workload API's trust bundle, the gateway's name, never skipped verification.
func TLSConfig(roots *x509.CertPool, gateway string) *tls.Config {
	return &tls.Config{RootCAs: roots, ServerName: gateway, MinVersion: tls.VersionTLS12}
}

// Dial connects to edgeHub. roots must be the workload API's trust bundle:
// the library would turn verification off when it cannot fetch the bundle
// itself, so the TLS configuration is always replaced by TLSConfig(roots).
func Dial(ctx context.Context, env edgeenv.Env, roots *x509.CertPool, log zerolog.Logger) (*Client, error) {
	if roots == nil {
		return nil, errors.New("connecting to edgeHub: no trust bundle")
	}
	c := &Client{log: log, reconnected: make(chan struct{}, 1), desired: make(chan struct{}, 1), timeout: DefaultCallTimeout,
		methods: map[string]MethodHandler{}}
	tlsCfg := TLSConfig(roots, env.GatewayHostname)
	tr := mqtt.NewModuleTransport(
		mqtt.WithLogger(libLogger{log}),
		mqtt.WithClientOptionsConfig(func(o *paho.ClientOptions) {
			o.SetTLSConfig(tlsCfg.Clone())
			o.SetAutoReconnect(true)
			// Handlers run concurrently: a direct method waiting for a cycle
			// must not hold up the twin responses that cycle waits for.
			o.SetOrderMatters(false)
			libOnConnect := o.OnConnect
			o.SetOnConnectHandler(func(pc paho.Client) {
				if libOnConnect != nil {
					libOnConnect(pc) // re-subscribes twin and method topics
				}
				c.mu.Lock()
				c.connectedN++
				n := c.connectedN
				c.paho = pc
				subscribe := len(c.methods) > 0
				c.mu.Unlock()
				if subscribe { // again after every reconnection: a clean session forgets it
					if err := c.subscribeMethods(pc); err != nil {
						log.Warn().Err(err).Msg("direct methods unavailable until the next reconnection")
					}
				}
				if n > 1 {
					log.Info().Msg("reconnected to edgeHub")
					select {
					case c.reconnected <- struct{}{}:
					default:
					}
				}
			})
			o.SetConnectionLostHandler(func(_ paho.Client, err error) {
				log.Warn().Err(err).Msg("connection to edgeHub lost; reconnecting")
			})
		}),
	)
	creds := &iotdevice.ModuleSharedAccessKeyCredentials{
		ModuleID: env.ModuleID, Gateway: env.GatewayHostname, GenerationID: env.GenerationID,
		WorkloadURI: env.WorkloadURI, EdgeGateway: true,
	}
	creds.DeviceID = env.DeviceID
	creds.HostName = env.IoTHubHostname
	mc, err := iotdevice.NewModule(tr, creds, iotdevice.WithLogger(libLogger{log}))
	if err != nil {
		return nil, fmt.Errorf("creating the module client: %w", err)
	}
	cctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if err := mc.Connect(cctx); err != nil {
		_ = mc.Close()
		return nil, fmt.Errorf("connecting to edgeHub at %s:8883: %w", env.GatewayHostname, err)
	}
	c.mc = mc
	sub, err := mc.SubscribeTwinUpdates(cctx)
	if err != nil {
		_ = mc.Close()
		return nil, fmt.Errorf("subscribing to desired properties: %w", err)
	}
	go func() {
		for range sub.C() {
			select {
			case c.desired <- struct{}{}:
			default:
			}
		}
	}()
	return c, nil
}

// Reconnected signals each time the connection came back after a loss.
func (c *Client) Reconnected() <-chan struct{} { return c.reconnected }

// DesiredChanged signals desired-property patches; read the whole twin then.
func (c *Client) DesiredChanged() <-chan struct{} { return c.desired }

// Twin reads the module twin, within the call timeout.
func (c *Client) Twin(ctx context.Context) (desired, reported map[string]any, err error) {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	d, r, err := c.mc.RetrieveTwinState(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the module twin: %w", err)
	}
	return map[string]any(d), map[string]any(r), nil
}

// PatchReported sends a reported-properties patch, within the call timeout.
func (c *Client) PatchReported(ctx context.Context, patch map[string]any) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if _, err := c.mc.UpdateTwinState(ctx, iotdevice.TwinState(patch)); err != nil {
		return fmt.Errorf("updating reported properties: %w", err)
	}
	return nil
}

// Send sends a message on the module output with the given application
// properties, within the call timeout. contentEncoding is the body's
// encoding: "utf-8", or "gzip" for a compressed JSON body. Property names
// and values are made safe first (see SafeProperty).
func (c *Client) Send(ctx context.Context, output string, body []byte, props map[string]string, contentEncoding string) error {
	ctx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	if contentEncoding == "" {
		contentEncoding = "utf-8"
	}
	opts := []iotdevice.SendOption{
		iotdevice.WithSendProperty("$.on", output),
		iotdevice.WithSendProperty("$.ct", "application/json"),
		iotdevice.WithSendProperty("$.ce", contentEncoding),
		iotdevice.WithSendQoS(1),
	}
	for k, v := range props {
		opts = append(opts, iotdevice.WithSendProperty(SafeProperty(k), SafeProperty(v)))
	}
	if err := c.mc.SendEvent(ctx, body, opts...); err != nil {
		return fmt.Errorf("sending to output %s: %w", output, err)
	}
	return nil
}

// SafeProperty makes an application-property name or value safe for
// edgeHub: the client library encodes a space as '+', an MQTT wildcard,
// and edgeHub then closes the connection, which the library resends on every
// reconnection, in a loop. Whitespace becomes '_'; '#' (the other wildcard)
// becomes '_' too.
func SafeProperty(s string) string {
	if !strings.ContainsFunc(s, unsafeRune) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if unsafeRune(r) {
			return '_'
		}
		return r
	}, s)
}

func unsafeRune(r rune) bool { return unicode.IsSpace(r) || r == '#' || r == '+' }

// RegisterMethod answers the named direct method with h. The module
// subscribes to direct methods itself (not through the client library):
// each call is answered on its own goroutine, so that a slow handler (a
// cycle run on demand) never holds up the connection's other traffic nor
// its acknowledgements, and an unknown method gets a 404 at once instead of
// the caller's timeout.
func (c *Client) RegisterMethod(ctx context.Context, name string, h MethodHandler) error {
	c.mu.Lock()
	first := len(c.methods) == 0
	c.methods[name] = h
	pc := c.paho
	c.mu.Unlock()
	// The library runs the first OnConnect handler, which hands over the
	// connection, on its own goroutine: wait for it, within the call timeout.
	for deadline := time.Now().Add(c.timeout); pc == nil && time.Now().Before(deadline); {
		select {
		case <-ctx.Done():
			return fmt.Errorf("registering method %s: %w", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
		c.mu.Lock()
		pc = c.paho
		c.mu.Unlock()
	}
	if pc == nil {
		return fmt.Errorf("registering method %s: not connected", name)
	}
	if first {
		if err := c.subscribeMethods(pc); err != nil {
			return fmt.Errorf("registering method %s: %w", name, err)
		}
	}
	return nil
}

// subscribeMethods subscribes to direct method calls at QoS 0, as
// Microsoft's device SDKs do: a call is answered or times out, never redelivered.
func (c *Client) subscribeMethods(pc paho.Client) error {
	t := pc.Subscribe(methodTopic, 0, func(_ paho.Client, m paho.Message) {
		go c.answerMethod(pc, m.Topic(), m.Payload())
	})
	if !t.WaitTimeout(c.timeout) {
		return fmt.Errorf("subscribing to %s: no answer within %s", methodTopic, c.timeout)
	}
	return t.Error()
}

// answerMethod runs the handler of a method call and publishes its answer,
// waiting at most the call timeout for the publication.
func (c *Client) answerMethod(pc paho.Client, topic string, payload []byte) {
	name, rid, err := parseMethodTopic(topic)
	if err != nil {
		c.log.Warn().Err(err).Msg("direct method call ignored")
		return
	}
	c.mu.Lock()
	h := c.methods[name]
	c.mu.Unlock()
	code, reply := 404, map[string]any{"error": "unknown method " + name}
	if h != nil {
		var req map[string]any
		_ = json.Unmarshal(payload, &req) // a payload that is not an object reaches the handler as nil
		code, reply = h(req)
	}
	body, err := json.Marshal(reply)
	if err != nil {
		code, body = 500, []byte(`{"error":"the answer could not be encoded"}`)
	}
	t := pc.Publish(fmt.Sprintf("$iothub/methods/res/%d/?$rid=%s", code, url.QueryEscape(rid)), 1, false, body)
	if !t.WaitTimeout(c.timeout) {
		c.log.Warn().Str("method", name).Dur("timeout", c.timeout).Msg("direct method answer not acknowledged in time")
		return
	}
	if err := t.Error(); err != nil {
		c.log.Warn().Err(err).Str("method", name).Msg("direct method answer not sent")
	}
}

// parseMethodTopic reads $iothub/methods/POST/{name}/?$rid={rid}.
func parseMethodTopic(topic string) (name, rid string, err error) {
	const prefix = "$iothub/methods/POST/"
	rest, ok := strings.CutPrefix(topic, prefix)
	if !ok {
		return "", "", fmt.Errorf("malformed direct method topic %q", topic)
	}
	path, query, _ := strings.Cut(rest, "?")
	name = strings.TrimSuffix(path, "/")
	q, err := url.ParseQuery(query)
	if err != nil || name == "" || q.Get("$rid") == "" {
		return "", "", fmt.Errorf("malformed direct method topic %q", topic)
	}
	return name, q.Get("$rid"), nil
}

// Close disconnects.
func (c *Client) Close() error {
	var err error
	c.once.Do(func() { err = c.mc.Close() })
	return err
}

// libLogger routes the library's logs into zerolog.
type libLogger struct{ l zerolog.Logger }

func (l libLogger) Errorf(f string, v ...interface{}) {
	l.l.Error().Str("component", "iothub").Msgf(f, v...)
}
func (l libLogger) Warnf(f string, v ...interface{}) {
	l.l.Warn().Str("component", "iothub").Msgf(f, v...)
}
func (l libLogger) Infof(f string, v ...interface{}) {
	l.l.Debug().Str("component", "iothub").Msgf(f, v...)
}

// Debugf is the library's packet tracing (whole payloads): trace level only.
func (l libLogger) Debugf(f string, v ...interface{}) {
	l.l.Trace().Str("component", "iothub").Msgf(f, v...)
}
