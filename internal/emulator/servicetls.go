package emulator

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// The service API is served twice when Config.ServiceTLSAddr is set:
//
//   - ServiceAddr, plain HTTP, Authorization ignored: the by-hand curl steps
//     of the README, the e2e tests and the emulator's own tests drive it;
//   - ServiceTLSAddr, HTTPS with a server certificate from the Edge CA,
//     every request authenticated like IoT Hub does with a shared access
//     policy: "SharedAccessSignature sr=<host>&sig=…&se=…&skn=<policy>",
//     401 IotHubUnauthorizedAccess otherwise. Service SDKs (the fleet
//     command, amenzhinsky/iothub's iotservice) talk to this one, with
//     ServiceConnectionString and the CA of TrustBundlePEM.
//
// Both serve the same routes.

const (
	// DefaultServicePolicyName is the shared access policy the TLS service
	// listener accepts, named like IoT Hub's all-rights policy.
	DefaultServicePolicyName = "iothubowner"
	// DefaultQueryPageSize is the page size of POST /devices/query when the
	// request sets no x-ms-max-item-count.
	DefaultQueryPageSize = 100
	// maxQueryPageSize caps x-ms-max-item-count ("1..100" per IoT Hub's
	// documentation of the header).
	maxQueryPageSize = 100

	servicePolicyFile = "service-policy.json"
)

// servicePolicy is the shared access policy of the emulated hub, persisted
// in service-policy.json (0600) so that a restarted emulator keeps it.
type servicePolicy struct {
	Name string `json:"name"`
	Key  string `json:"key"`
}

// hubState is the emulated hub's service side beyond the single device:
// its policy, TLS listener and the seeded fleet. Guarded by Emulator.mu.
type hubState struct {
	policy     servicePolicy
	tlsURL     string                 // https://host:port, "" without a TLS listener
	tlsHost    string                 // host:port of the TLS listener, as a connection string names it
	fleet      map[string]*twinRecord // "device/module" → twin, in memory only
	queryPages int64                  // POST /devices/query answers served
	// queryFaults answers the query requests of these numbers (1-based,
	// as queryPages counts them) with a fault (FailQueryPages).
	queryFaults map[int64]QueryFault
}

// loadServicePolicy takes the policy from the config, else from the state
// directory, else generates a key (and persists it).
func (e *Emulator) loadServicePolicy() (servicePolicy, error) {
	var p servicePolicy
	if err := readJSON(e.cfg.StateDir, servicePolicyFile, &p); err != nil {
		return p, fmt.Errorf("state: %w", err)
	}
	if e.cfg.ServicePolicyName != "" {
		p.Name = e.cfg.ServicePolicyName
	}
	if p.Name == "" {
		p.Name = DefaultServicePolicyName
	}
	if e.cfg.ServicePolicyKey != "" {
		p.Key = e.cfg.ServicePolicyKey
	}
	if p.Key == "" {
		p.Key = newModuleKey()
	}
	if err := validateModuleKey(p.Key); err != nil {
		return p, fmt.Errorf("service policy %s: %w", p.Name, err)
	}
	if err := e.writeJSON(servicePolicyFile, p, 0o600); err != nil {
		return p, err
	}
	return p, nil
}

// startServiceTLS opens the HTTPS listener of the service API, with a
// server certificate for the hub's hostname (and localhost, 127.0.0.1, ::1)
// issued by the Edge CA.
func (e *Emulator) startServiceTLS() error {
	p, err := e.loadServicePolicy()
	if err != nil {
		return err
	}
	cert, err := e.ca.issueServerCert(e.cfg.IoTHubHostname, []string{"localhost", "127.0.0.1", "::1", e.cfg.GatewayHostname}, e.now())
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", e.cfg.ServiceTLSAddr)
	if err != nil {
		return fmt.Errorf("service TLS listener %s: %w", e.cfg.ServiceTLSAddr, err)
	}
	host, port, _ := net.SplitHostPort(ln.Addr().String())
	if ip := net.ParseIP(host); ip == nil || ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	hostPort := net.JoinHostPort(host, port)
	srv := &http.Server{
		Handler:           e.requireServiceSAS(e.serviceHandler()),
		ReadHeaderTimeout: 10 * time.Second,
		ErrorLog:          slog.NewLogLogger(e.log.Handler(), slog.LevelWarn),
		TLSConfig:         &tls.Config{Certificates: []tls.Certificate{cert.tls}, MinVersion: tls.VersionTLS12},
	}
	e.mu.Lock()
	h := e.hubLocked()
	h.policy = p
	h.tlsURL = "https://" + hostPort
	h.tlsHost = hostPort
	e.servers = append(e.servers, srv)
	e.mu.Unlock()
	go func() {
		if err := srv.ServeTLS(ln, "", ""); err != nil && !errors.Is(err, http.ErrServerClosed) {
			e.log.Error("http server stopped", "server", "service-tls", "err", err)
		}
	}()
	return nil
}

// hubLocked returns the hub state, creating it. e.mu must be held.
func (e *Emulator) hubLocked() *hubState {
	if e.hub == nil {
		e.hub = &hubState{fleet: map[string]*twinRecord{}}
	}
	return e.hub
}

// ServiceTLSURL is the base URL of the HTTPS service API
// (https://127.0.0.1:port), empty when Config.ServiceTLSAddr is not set.
func (e *Emulator) ServiceTLSURL() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hubLocked().tlsURL
}

// ServiceConnectionString is an IoT Hub service connection string for the
// HTTPS service API: HostName is the listener's host:port, the policy and
// its key are the emulated hub's. Empty without a TLS listener. It holds a
// key: keep it out of logs.
func (e *Emulator) ServiceConnectionString() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	h := e.hubLocked()
	if h.tlsHost == "" {
		return ""
	}
	return "HostName=" + h.tlsHost + ";SharedAccessKeyName=" + h.policy.Name + ";SharedAccessKey=" + h.policy.Key
}

// QueryPages counts the pages POST /devices/query has answered.
func (e *Emulator) QueryPages() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.hubLocked().queryPages
}

// requireServiceSAS answers 401 like IoT Hub to a request without a valid
// service token: signed with the policy key, not expired, naming the policy
// (skn) and the hub (sr: its hostname or the listener's host:port).
func (e *Emulator) requireServiceSAS(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		e.mu.Lock()
		h := e.hubLocked()
		p, hosts := h.policy, []string{e.cfg.IoTHubHostname, h.tlsHost}
		e.mu.Unlock()
		if err := VerifyServiceSASToken(r.Header.Get("Authorization"), p.Name, p.Key, hosts, e.now()); err != nil {
			e.log.Info("service request refused", "method", r.Method, "path", r.URL.Path, "reason", err.Error())
			hubError(w, http.StatusUnauthorized, "IotHubUnauthorizedAccess", "Unauthorized")
			return
		}
		next.ServeHTTP(w, r)
	})
}

// VerifyServiceSASToken checks a shared access policy token: skn equal to
// policy, the signature with the policy key (base64), an expiry in the
// future and a resource that is one of hosts or a path under it (compared
// case-insensitively after URL-decoding).
func VerifyServiceSASToken(token, policy, key string, hosts []string, now time.Time) error {
	if token == "" {
		return errors.New("no Authorization header")
	}
	t, err := ParseSASToken(token)
	if err != nil {
		return err
	}
	skn, err := url.PathUnescape(t.Skn)
	if err != nil || skn == "" {
		return errors.New("token names no policy (skn)")
	}
	if skn != policy {
		return fmt.Errorf("policy %q is not the hub's", skn)
	}
	sr, err := verifySignature(t, key, "policy key", now)
	if err != nil {
		return err
	}
	for _, h := range hosts {
		if h != "" && (strings.EqualFold(sr, h) || strings.HasPrefix(strings.ToLower(sr), strings.ToLower(h)+"/")) {
			return nil
		}
	}
	return fmt.Errorf("resource %q is not this hub", sr)
}
