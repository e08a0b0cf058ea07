// Package emulator plays the parts of Azure IoT Edge and IoT Hub that a
// custom module talks to, faithfully enough for Microsoft's device SDKs to
// work against it unchanged: edgeHub's module-facing MQTT endpoint (TLS,
// SAS authentication, twins, direct methods, telemetry), the workload API
// of aziot-edged (one unix socket per module, trust bundle and signing) and
// a subset of IoT Hub's service REST API to drive and observe the modules.
//
// It is test and local-development infrastructure: Go tests start it
// in-process (New, Start, Close) and cmd/edgehub-emulator runs it as the
// edgeHub container of a simulated device.
//
// With a StateDir the emulator persists the Edge CA, module identities,
// twins and received messages, so that restarting it behaves like
// restarting edgeHub while IoT Hub keeps its state.
package emulator

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
	"github.com/mochi-mqtt/server/v2/listeners"
)

// Defaults used when a Config field is empty.
const (
	DefaultDeviceID        = "device1"
	DefaultIoTHubHostname  = "emulated-hub.azure-devices.net"
	DefaultGatewayHostname = "localhost"
	DefaultMQTTAddr        = ":8883"
	DefaultServiceAddr     = "127.0.0.1:8080"
	DefaultMetricsAddr     = ":9600"
	DefaultMaxMessages     = 10000
)

// ModuleIdentity is a module's SAS identity in IoT Hub.
type ModuleIdentity struct {
	// Key is the module's primary key: base64 of 32 random bytes. Empty in
	// Config means "use the persisted key, or generate one".
	Key string `json:"key"`
	// GenerationID changes when IoT Hub re-creates the identity. Empty in
	// Config means "use the persisted one, or generate one".
	GenerationID string `json:"generationId"`
}

// Config configures an Emulator. The flags of cmd/edgehub-emulator mirror
// it.
type Config struct {
	// DeviceID is the IoT Edge device id (default "device1").
	DeviceID string
	// IoTHubHostname is the hub modules authenticate against (default
	// "emulated-hub.azure-devices.net").
	IoTHubHostname string
	// GatewayHostname is the device hostname edgeHub's server certificate is
	// issued for (default "localhost"); the certificate also names edgeHub,
	// localhost, 127.0.0.1 and ::1.
	GatewayHostname string
	// Modules are the module identities; more are loaded from StateDir.
	Modules map[string]ModuleIdentity
	// StateDir persists the Edge CA, module identities, twins and messages.
	// Empty: nothing is persisted (the CA is new on every start).
	StateDir string
	// MQTTAddr is edgeHub's MQTT-over-TLS listener (default ":8883").
	MQTTAddr string
	// ServiceAddr is the HTTP listener of the IoT Hub service API and the
	// /emulator endpoints (default "127.0.0.1:8080"); it ignores
	// Authorization.
	ServiceAddr string
	// ServiceTLSAddr, when set, serves the same routes over HTTPS (server
	// certificate from the Edge CA) and authenticates every request with
	// the service policy, like IoT Hub: see ServiceConnectionString.
	ServiceTLSAddr string
	// ServicePolicyName and ServicePolicyKey are the shared access policy
	// the TLS listener accepts (default "iothubowner"; the key, base64, is
	// taken from StateDir or generated and persisted there).
	ServicePolicyName string
	ServicePolicyKey  string
	// QueryPageSize is the largest page of POST /devices/query, and its
	// size when the request sets no x-ms-max-item-count (default and
	// largest 100, as IoT Hub documents the header).
	QueryPageSize int
	// MetricsAddr serves /metrics; empty disables it (the program's flag
	// defaults to ":9600").
	MetricsAddr string
	// WorkloadDir holds one workload API socket per module,
	// <WorkloadDir>/<module>.sock. Empty: <StateDir>/workload, or a
	// temporary directory removed by Close when there is no StateDir.
	WorkloadDir string
	// MetricsFile, when set, is served verbatim at /metrics (re-read on
	// every scrape) instead of the generated exposition.
	MetricsFile string
	// MaxMessages caps the recorded device-to-cloud messages (oldest are
	// forgotten first; default 10000).
	MaxMessages int
	// BillingBlockSize is the block the billing meter counts in (default
	// 4096, IoT Hub's basic and standard tiers; the free tier meters 512).
	BillingBlockSize int
	// EdgeHub sets edgeHub's timing and connectivity behaviour
	// (re-authentication, method-subscription delay, reported-property sync,
	// offline mode); zero values are edgeHub's defaults.
	EdgeHub EdgeHubConfig
	// Logger receives the emulator's structured logs (default: discarded).
	Logger *slog.Logger
	// Now is the clock (default time.Now); tests may fake it.
	Now func() time.Time
}

func (c *Config) setDefaults() {
	if c.DeviceID == "" {
		c.DeviceID = DefaultDeviceID
	}
	if c.IoTHubHostname == "" {
		c.IoTHubHostname = DefaultIoTHubHostname
	}
	if c.GatewayHostname == "" {
		c.GatewayHostname = DefaultGatewayHostname
	}
	if c.MQTTAddr == "" {
		c.MQTTAddr = DefaultMQTTAddr
	}
	if c.ServiceAddr == "" {
		c.ServiceAddr = DefaultServiceAddr
	}
	if c.MaxMessages == 0 {
		c.MaxMessages = DefaultMaxMessages
	}
	if c.BillingBlockSize <= 0 {
		c.BillingBlockSize = DefaultBillingBlockSize
	}
	c.EdgeHub.setDefaults()
	if c.QueryPageSize <= 0 || c.QueryPageSize > maxQueryPageSize {
		c.QueryPageSize = DefaultQueryPageSize
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.NewJSONHandler(io.Discard, nil))
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Emulator is an emulated edgeHub + workload API + IoT Hub service API.
type Emulator struct {
	cfg        Config
	log        *slog.Logger
	ca         *authority
	serverCert *issuedCert
	instanceID string

	mu       sync.Mutex
	modules  map[string]ModuleIdentity
	twins    map[string]*twinRecord
	msgs     messageLog
	conns    map[string]*connection
	lastSeen map[string]time.Time
	pending  map[methodKey]chan methodAnswer
	ridSeq   uint64
	stats    stats
	meter    *billingMeter
	edge     *edgeState
	hub      *hubState // service policy, TLS listener, seeded fleet

	started     bool
	closed      bool
	startedAt   time.Time
	broker      *mqtt.Server
	mqttConns   *trackedListener
	servers     []*http.Server
	socketPaths []string
	tmpDir      string
	mqttAddr    string
	serviceURL  string
	metricsURL  string
	workloadDir string
	stop        chan struct{}
	closeOnce   sync.Once
	closeErr    error
}

// New validates cfg, loads or creates the persisted state (Edge CA, module
// identities, twins, messages) and issues edgeHub's server certificate. It
// opens no listener: call Start.
func New(cfg Config) (*Emulator, error) {
	cfg.setDefaults()
	if strings.ContainsAny(cfg.DeviceID, "/ ") {
		return nil, fmt.Errorf("invalid device id %q", cfg.DeviceID)
	}
	e := &Emulator{
		cfg:      cfg,
		log:      cfg.Logger,
		modules:  map[string]ModuleIdentity{},
		twins:    map[string]*twinRecord{},
		conns:    map[string]*connection{},
		lastSeen: map[string]time.Time{},
		pending:  map[methodKey]chan methodAnswer{},
		stats:    newStats(),
		meter:    newBillingMeter(cfg.BillingBlockSize, cfg.Now()),
		edge:     newEdgeState(cfg.EdgeHub),
		stop:     make(chan struct{}),
	}
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id := hex.EncodeToString(b)
	e.instanceID = id[0:8] + "-" + id[8:12] + "-" + id[12:16] + "-" + id[16:20] + "-" + id[20:]

	if cfg.StateDir != "" {
		if err := os.MkdirAll(cfg.StateDir, 0o755); err != nil {
			return nil, fmt.Errorf("state dir: %w", err)
		}
	}
	ca, created, err := loadOrCreateCA(cfg.StateDir, cfg.DeviceID, e.now())
	if err != nil {
		return nil, fmt.Errorf("edge CA: %w", err)
	}
	if cfg.MetricsFile != "" {
		if _, err := os.Stat(cfg.MetricsFile); err != nil {
			return nil, fmt.Errorf("metrics file: %w", err)
		}
	}
	e.ca = ca
	if created {
		e.log.Info("edge CA created", "subject", ca.cert.Subject.CommonName, "notAfter", ca.cert.NotAfter.UTC())
	}
	sans := []string{"edgeHub", "localhost", "127.0.0.1", "::1"}
	if e.serverCert, err = ca.issueServerCert(cfg.GatewayHostname, sans, e.now()); err != nil {
		return nil, err
	}
	if err := e.loadState(); err != nil {
		return nil, err
	}
	return e, nil
}

func (e *Emulator) now() time.Time { return e.cfg.Now() }

// loadState reads modules, twins and messages and merges cfg.Modules in.
func (e *Emulator) loadState() error {
	dir := e.cfg.StateDir
	if err := readJSON(dir, modulesFile, &e.modules); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if e.modules == nil {
		e.modules = map[string]ModuleIdentity{}
	}
	if err := readJSON(dir, twinsFile, &e.twins); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	if e.twins == nil {
		e.twins = map[string]*twinRecord{}
	}
	for _, t := range e.twins {
		t.Desired.normalize()
		t.Reported.normalize()
	}
	if err := readJSON(dir, messagesFile, &e.msgs); err != nil {
		return fmt.Errorf("state: %w", err)
	}
	now := e.now()
	for name, id := range e.cfg.Modules {
		if err := validateModuleName(name); err != nil {
			return err
		}
		prev := e.modules[name]
		if id.Key == "" {
			id.Key = prev.Key
		}
		if id.GenerationID == "" {
			id.GenerationID = prev.GenerationID
		}
		e.modules[name] = id
	}
	for name, id := range e.modules {
		if id.Key == "" {
			id.Key = newModuleKey()
		}
		if id.GenerationID == "" {
			id.GenerationID = newGenerationID(now)
		}
		if err := validateModuleKey(id.Key); err != nil {
			return fmt.Errorf("module %s: %w", name, err)
		}
		e.modules[name] = id
		if _, err := e.twinLocked(name); err != nil {
			return err
		}
	}
	if err := e.writeJSON(modulesFile, e.modules, 0o600); err != nil {
		return err
	}
	return e.persistTwinsLocked()
}

func validateModuleName(name string) error {
	if name == "" || strings.ContainsAny(name, "/\\ ?#&%") || name == "." || name == ".." || len(name) > 128 {
		return fmt.Errorf("invalid module id %q", name)
	}
	return nil
}

// Start opens the MQTT, service, metrics and workload listeners and serves
// them in the background. It returns once everything listens; cancelling
// ctx afterwards closes the emulator like Close.
func (e *Emulator) Start(ctx context.Context) (err error) {
	e.mu.Lock()
	if e.started || e.closed {
		e.mu.Unlock()
		return errors.New("emulator already started")
	}
	e.started = true
	e.startedAt = e.now().UTC()
	e.mu.Unlock()
	defer func() {
		if err != nil {
			_ = e.Close()
		}
	}()

	// MQTT over TLS.
	tlsCfg := &tls.Config{
		Certificates: []tls.Certificate{e.serverCert.tls},
		MinVersion:   tls.VersionTLS12,
	}
	ln, err := tls.Listen("tcp", e.cfg.MQTTAddr, tlsCfg)
	if err != nil {
		return fmt.Errorf("mqtt listener %s: %w", e.cfg.MQTTAddr, err)
	}
	caps := mqtt.NewDefaultServerCapabilities()
	caps.MaximumQos = 1      // IoT Hub supports QoS 0 and 1
	caps.RetainAvailable = 0 // and ignores retain
	// edgeHub closes the connection on a packet over 262,144 bytes, fixed
	// header included; the broker counts the remaining length + 1, and such
	// packets have 3 bytes of length.
	caps.MaximumPacketSize = MaxInboundPacketSize - 3
	caps.MaximumSessionExpiryInterval = 3600
	broker := mqtt.New(&mqtt.Options{
		Capabilities:           caps,
		Logger:                 slog.New(minLevelHandler{e.log.Handler(), slog.LevelError}).With("component", "mqtt"),
		SysTopicResendInterval: 3600,
		InlineClient:           false,
	})
	if err := broker.AddHook(&mqttHook{e: e}, nil); err != nil {
		_ = ln.Close()
		return err
	}
	conns := &trackedListener{Listener: ln, conns: map[*trackedConn]struct{}{}}
	if err := broker.AddListener(listeners.NewNet("mqtts", conns)); err != nil {
		_ = ln.Close()
		return err
	}
	e.mu.Lock()
	e.broker = broker
	e.mqttConns = conns
	e.mqttAddr = ln.Addr().String()
	e.mu.Unlock()
	if err := broker.Serve(); err != nil {
		return fmt.Errorf("mqtt broker: %w", err)
	}

	// Service API.
	svcURL, err := e.serveHTTP("service", "tcp", e.cfg.ServiceAddr, e.serviceHandler())
	if err != nil {
		return err
	}
	e.mu.Lock()
	e.serviceURL = svcURL
	e.mu.Unlock()
	if e.cfg.ServiceTLSAddr != "" {
		if err := e.startServiceTLS(); err != nil {
			return err
		}
	}

	// Metrics.
	if e.cfg.MetricsAddr != "" {
		u, err := e.serveHTTP("metrics", "tcp", e.cfg.MetricsAddr, e.metricsHandler())
		if err != nil {
			return err
		}
		e.mu.Lock()
		e.metricsURL = u + "/metrics"
		e.mu.Unlock()
	}

	// Workload API sockets.
	dir := e.cfg.WorkloadDir
	if dir == "" && e.cfg.StateDir != "" {
		dir = filepath.Join(e.cfg.StateDir, "workload")
	}
	if dir == "" {
		if dir, err = os.MkdirTemp("", "edgehub-emulator-workload-"); err != nil {
			return err
		}
		e.tmpDir = dir
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("workload dir: %w", err)
	}
	e.mu.Lock()
	e.workloadDir = dir
	names := e.moduleNamesLocked()
	e.mu.Unlock()
	for _, m := range names {
		path := filepath.Join(dir, m+".sock")
		_ = os.Remove(path)
		if _, err := e.serveHTTP("workload:"+m, "unix", path, e.workloadHandler(m)); err != nil {
			return err
		}
		_ = os.Chmod(path, 0o666)
		e.mu.Lock()
		e.socketPaths = append(e.socketPaths, path)
		e.mu.Unlock()
	}

	e.startEdgeHubLoops()
	e.log.Info("edgehub emulator started",
		"deviceId", e.cfg.DeviceID, "iotHubHostname", e.cfg.IoTHubHostname, "gatewayHostname", e.cfg.GatewayHostname,
		"mqtt", e.mqttAddr, "service", e.serviceURL, "serviceTLS", e.ServiceTLSURL(), "metrics", e.metricsURL, "workloadDir", dir, "modules", names)

	go func() {
		select {
		case <-ctx.Done():
			_ = e.Close()
		case <-e.stop:
		}
	}()
	return nil
}

// serveHTTP listens and serves h in the background; it returns the base
// URL ("http://host:port", or "unix://path").
func (e *Emulator) serveHTTP(name, network, addr string, h http.Handler) (string, error) {
	ln, err := net.Listen(network, addr)
	if err != nil {
		return "", fmt.Errorf("%s listener %s: %w", name, addr, err)
	}
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
	}
	e.mu.Lock()
	e.servers = append(e.servers, srv)
	e.mu.Unlock()
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("http server stopped", "server", name, "err", err)
		}
	}()
	if network == "unix" {
		return "unix://" + addr, nil
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return "http://" + net.JoinHostPort(host, port), nil
}

// Close stops the listeners, disconnects the clients and removes the
// workload sockets. State is already persisted after every change.
// Concurrent and repeated calls wait for the first one to finish.
func (e *Emulator) Close() error {
	e.closeOnce.Do(func() { e.closeErr = e.close() })
	return e.closeErr
}

func (e *Emulator) close() error {
	e.mu.Lock()
	e.closed = true
	close(e.stop)
	broker, conns, servers, sockets, tmp := e.broker, e.mqttConns, e.servers, e.socketPaths, e.tmpDir
	e.mu.Unlock()

	var errs []error
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, s := range servers {
		if err := s.Shutdown(ctx); err != nil {
			_ = s.Close()
		}
	}
	if broker != nil {
		closed := make(chan error, 1)
		go func() { closed <- broker.Close() }()
		var err error
		select {
		case err = <-closed:
		case <-time.After(time.Second):
			// The broker reads a new connection's CONNECT with no deadline,
			// and its Close waits for that read: a client that connected as
			// edgeHub stopped (seen under load, a module reconnecting) would
			// hold Close forever. Its connection ends here, as edgeHub's
			// would when its process stops.
			conns.closeAll()
			select {
			case err = <-closed:
			case <-ctx.Done():
				err = fmt.Errorf("mqtt broker: %w", ctx.Err())
			}
		}
		if err != nil {
			errs = append(errs, err)
		}
		// Wait for the client goroutines (and their disconnect hooks).
		waited := make(chan struct{})
		go func() { broker.Listeners.ClientsWg.Wait(); close(waited) }()
		select {
		case <-waited:
		case <-ctx.Done():
		}
	}
	for _, p := range sockets {
		_ = os.Remove(p)
	}
	if tmp != "" {
		_ = os.RemoveAll(tmp)
	}
	e.log.Info("edgehub emulator stopped")
	return errors.Join(errs...)
}

// trackedListener is the MQTT listener, keeping the connections it accepted
// until they are closed, so that Close can end the ones the broker holds.
type trackedListener struct {
	net.Listener
	mu    sync.Mutex
	conns map[*trackedConn]struct{}
}

func (l *trackedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	tc := &trackedConn{Conn: c, l: l}
	l.mu.Lock()
	l.conns[tc] = struct{}{}
	l.mu.Unlock()
	return tc, nil
}

// closeAll closes every connection still open.
func (l *trackedListener) closeAll() {
	l.mu.Lock()
	open := make([]*trackedConn, 0, len(l.conns))
	for c := range l.conns {
		open = append(open, c)
	}
	l.mu.Unlock()
	for _, c := range open {
		_ = c.Close()
	}
}

// trackedConn leaves its listener's list when closed.
type trackedConn struct {
	net.Conn
	l *trackedListener
}

func (c *trackedConn) Close() error {
	c.l.mu.Lock()
	delete(c.l.conns, c)
	c.l.mu.Unlock()
	return c.Conn.Close()
}

func (e *Emulator) moduleNamesLocked() []string {
	names := make([]string, 0, len(e.modules))
	for m := range e.modules {
		names = append(names, m)
	}
	sort.Strings(names)
	return names
}

// Modules lists the registered module ids.
func (e *Emulator) Modules() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.moduleNamesLocked()
}

// ModuleIdentity returns a module's identity (key included: keep it out of
// logs).
func (e *Emulator) ModuleIdentity(moduleID string) (ModuleIdentity, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	id, ok := e.modules[moduleID]
	return id, ok
}

// Config returns the effective configuration (defaults applied).
func (e *Emulator) Config() Config { return e.cfg }

// MQTTAddr is the address the MQTT listener is bound to (after Start).
func (e *Emulator) MQTTAddr() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.mqttAddr
}

// ServiceURL is the base URL of the service API, e.g. http://127.0.0.1:8080.
func (e *Emulator) ServiceURL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.serviceURL
}

// MetricsURL is the metrics endpoint URL, empty when disabled.
func (e *Emulator) MetricsURL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.metricsURL
}

// WorkloadSocket is the path of a module's workload API socket.
func (e *Emulator) WorkloadSocket(moduleID string) string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return filepath.Join(e.workloadDir, moduleID+".sock")
}

// TrustBundlePEM is the Edge CA certificate, as /trust-bundle serves it.
func (e *Emulator) TrustBundlePEM() []byte { return append([]byte(nil), e.ca.certPEM...) }

// CertPool holds the Edge CA, for clients of the MQTT endpoint.
func (e *Emulator) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(e.ca.cert)
	return p
}

// ServerCertificate is edgeHub's current server certificate.
func (e *Emulator) ServerCertificate() *x509.Certificate { return e.serverCert.tls.Leaf }

// ModuleEnv returns the IOTEDGE_* environment edgeAgent gives a custom
// module ("NAME=value" entries), pointing at this emulator.
func (e *Emulator) ModuleEnv(moduleID string) ([]string, error) {
	id, ok := e.ModuleIdentity(moduleID)
	if !ok {
		return nil, fmt.Errorf("%w: %s", errModuleNotFound, moduleID)
	}
	return []string{
		"IOTEDGE_WORKLOADURI=unix://" + e.WorkloadSocket(moduleID),
		"IOTEDGE_DEVICEID=" + e.cfg.DeviceID,
		"IOTEDGE_MODULEID=" + moduleID,
		"IOTEDGE_MODULEGENERATIONID=" + id.GenerationID,
		"IOTEDGE_IOTHUBHOSTNAME=" + e.cfg.IoTHubHostname,
		"IOTEDGE_GATEWAYHOSTNAME=" + e.cfg.GatewayHostname,
		"IOTEDGE_APIVERSION=2022-08-03",
		"IOTEDGE_AUTHSCHEME=sasToken",
	}, nil
}

// minLevelHandler drops records under a minimum level (the broker logs every
// refused or closed connection as a warning; the emulator logs those itself).
type minLevelHandler struct {
	slog.Handler
	min slog.Level
}

func (h minLevelHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

func (h minLevelHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return minLevelHandler{h.Handler.WithAttrs(attrs), h.min}
}

func (h minLevelHandler) WithGroup(name string) slog.Handler {
	return minLevelHandler{h.Handler.WithGroup(name), h.min}
}
