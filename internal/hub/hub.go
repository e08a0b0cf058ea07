// Package hub connects the module to edgeHub over MQTT as its IoT Edge module
// identity: twin, reported properties, output messages and direct methods.
// It knows nothing about checks.
package hub

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"

	"github.com/amenzhinsky/iothub/iotdevice"
	"github.com/amenzhinsky/iothub/iotdevice/transport/mqtt"
	paho "github.com/eclipse/paho.mqtt.golang"
	"github.com/rs/zerolog"

	"github.com/edge-readiness/edge-readiness/internal/edgeenv"
)

// MethodHandler answers a direct method: a status code and a JSON-able payload.
type MethodHandler func(payload map[string]any) (int, map[string]any)

// Client is a connected module client.
type Client struct {
	mc          *iotdevice.ModuleClient
	log         zerolog.Logger
	reconnected chan struct{}
	desired     chan struct{}
	once        sync.Once
	mu          sync.Mutex
	connectedN  int
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
	c := &Client{log: log, reconnected: make(chan struct{}, 1), desired: make(chan struct{}, 1)}
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
				c.mu.Unlock()
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
	if err := mc.Connect(ctx); err != nil {
		_ = mc.Close()
		return nil, fmt.Errorf("connecting to edgeHub at %s:8883: %w", env.GatewayHostname, err)
	}
	c.mc = mc
	sub, err := mc.SubscribeTwinUpdates(ctx)
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

// Twin reads the module twin.
func (c *Client) Twin(ctx context.Context) (desired, reported map[string]any, err error) {
	d, r, err := c.mc.RetrieveTwinState(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("reading the module twin: %w", err)
	}
	return map[string]any(d), map[string]any(r), nil
}

// PatchReported sends a reported-properties patch.
func (c *Client) PatchReported(ctx context.Context, patch map[string]any) error {
	if _, err := c.mc.UpdateTwinState(ctx, iotdevice.TwinState(patch)); err != nil {
		return fmt.Errorf("updating reported properties: %w", err)
	}
	return nil
}

// Send sends a message on the module output with the given application properties.
func (c *Client) Send(ctx context.Context, output string, body []byte, props map[string]string) error {
	opts := []iotdevice.SendOption{
		iotdevice.WithSendProperty("$.on", output),
		iotdevice.WithSendProperty("$.ct", "application/json"),
		iotdevice.WithSendProperty("$.ce", "utf-8"),
		iotdevice.WithSendQoS(1),
	}
	for k, v := range props {
		opts = append(opts, iotdevice.WithSendProperty(k, v))
	}
	if err := c.mc.SendEvent(ctx, body, opts...); err != nil {
		return fmt.Errorf("sending to output %s: %w", output, err)
	}
	return nil
}

// RegisterMethod answers the named direct method with h.
func (c *Client) RegisterMethod(ctx context.Context, name string, h MethodHandler) error {
	err := c.mc.RegisterMethod(ctx, name, func(p map[string]interface{}) (int, map[string]interface{}, error) {
		code, resp := h(p)
		return code, resp, nil
	})
	if err != nil {
		return fmt.Errorf("registering method %s: %w", name, err)
	}
	return nil
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
