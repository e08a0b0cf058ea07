package emulator

import (
	"time"

	mqtt "github.com/mochi-mqtt/server/v2"
)

// edgeHub's defaults, from Azure/iotedge release/1.5 (edge-hub/core/src/, see README.md).
const (
	// DefaultReauthPeriod: ConnectionReauthenticator re-validates every
	// connected client's credentials every 5 minutes (CommonModule.cs).
	DefaultReauthPeriod = 5 * time.Minute
	// DefaultTokenClockSkew: a SAS token is expired once its expiry plus
	// MaxClockSkew (5 minutes) has passed (SharedAccessSignature.cs).
	DefaultTokenClockSkew = 5 * time.Minute
	// DefaultMethodSubscriptionDelay: calls queued for a client that
	// subscribed to direct methods are delivered after a fixed 3 s delay
	// (InvokeMethodHandler.cs, "temporary hack").
	DefaultMethodSubscriptionDelay = 3 * time.Second
	// DefaultReportedSyncInterval: reported-property patches are pushed to
	// IoT Hub at most every 5 s (ReportedPropertiesStore.cs,
	// ReportedPropertiesSyncFrequencySecs).
	DefaultReportedSyncInterval = 5 * time.Second
	// DefaultOfflineTwinDelay: with IoT Hub unreachable, a twin read served
	// from edgeHub's store takes at least 60 s (Azure/iotedge#7150).
	DefaultOfflineTwinDelay = 60 * time.Second
	// DefaultMinTwinSyncPeriod: when IoT Hub becomes reachable again,
	// edgeHub re-reads a client's twin only if it did not within the last
	// 2 minutes (StoringTwinManager.cs, MinTwinSyncPeriodSecs).
	DefaultMinTwinSyncPeriod = 2 * time.Minute
	// MaxInboundPacketSize is edgeHub's MaxInboundMessageSize: a packet
	// larger than this (fixed header included) closes the connection
	// (appsettings_hub.json; DotNetty MqttDecoder "Message is too big").
	MaxInboundPacketSize = 262144
)

// EdgeHubConfig holds the knobs of edgeHub's timing and connectivity
// behaviour. Every zero value means edgeHub's default; a negative duration
// means "none" (no delay, no skew, never).
type EdgeHubConfig struct {
	// ReauthPeriod is how often live connections are re-authenticated
	// (default 5 min); a connection whose token has expired is closed.
	// Negative: never.
	ReauthPeriod time.Duration
	// TokenClockSkew is the grace after a token's expiry, at connect and at
	// re-authentication (default 5 min). Negative: none.
	TokenClockSkew time.Duration
	// TokenMaxAge, when positive, treats every token as expired this long
	// after the connection it authenticated was made, whatever its own
	// expiry (a test knob: many expiries in minutes). Zero: tokens live
	// until their own expiry, as on edgeHub.
	TokenMaxAge time.Duration
	// MethodSubscriptionDelay is how long after its SUBSCRIBE a
	// subscription to $iothub/methods/POST/# starts receiving calls
	// (default 3 s). Negative: at once.
	MethodSubscriptionDelay time.Duration
	// ReportedSyncInterval is how often accepted reported-property patches
	// are pushed to the hub side (default 5 s).
	ReportedSyncInterval time.Duration
	// Offline starts with IoT Hub unreachable (see SetOffline).
	Offline bool
	// OfflineTwinDelay is how long a twin read takes while offline
	// (default 60 s). Negative: at once.
	OfflineTwinDelay time.Duration
	// MinTwinSyncPeriod: when the hub becomes reachable again, a connected
	// module's twin is re-read (and the desired changes it missed pushed)
	// only if it was not read within this period (default 2 min).
	// Negative: always.
	MinTwinSyncPeriod time.Duration
}

func (c *EdgeHubConfig) setDefaults() {
	def := func(d *time.Duration, v time.Duration) {
		if *d == 0 {
			*d = v
		}
	}
	def(&c.ReauthPeriod, DefaultReauthPeriod)
	def(&c.TokenClockSkew, DefaultTokenClockSkew)
	def(&c.MethodSubscriptionDelay, DefaultMethodSubscriptionDelay)
	def(&c.ReportedSyncInterval, DefaultReportedSyncInterval)
	def(&c.OfflineTwinDelay, DefaultOfflineTwinDelay)
	def(&c.MinTwinSyncPeriod, DefaultMinTwinSyncPeriod)
}

// orZero turns "none" (negative) into 0.
func orZero(d time.Duration) time.Duration {
	if d < 0 {
		return 0
	}
	return d
}

// edgeState is what edgeHub keeps beside the hub's state: its live
// connections by client, its twin store (the cache served while offline)
// and whether IoT Hub is reachable. Guarded by Emulator.mu.
type edgeState struct {
	byClient   map[*mqtt.Client]*connection
	offline    bool
	cache      map[string]*cachedTwin // module id → edgeHub's stored twin
	syncSet    map[string]bool        // modules whose reported patch awaits a sync
	syncSignal chan struct{}          // wakes the reported sync loop
}

func newEdgeState(cfg EdgeHubConfig) *edgeState {
	return &edgeState{
		byClient:   map[*mqtt.Client]*connection{},
		offline:    cfg.Offline,
		cache:      map[string]*cachedTwin{},
		syncSet:    map[string]bool{},
		syncSignal: make(chan struct{}, 1),
	}
}

// startEdgeHubLoops starts the background work of edgeHub: periodic
// re-authentication and the upstream sync of reported properties. They stop
// with the emulator.
func (e *Emulator) startEdgeHubLoops() {
	go e.every(e.cfg.EdgeHub.ReauthPeriod, func() { e.Reauthenticate() })
	go e.reportedSyncLoop()
	// Patches left pending by an earlier run are pushed when the hub is
	// reachable, and so are messages stored while it was not.
	e.mu.Lock()
	var pending []string
	for _, t := range e.twins {
		if len(t.PendingReported) > 0 && t.DeviceID == e.cfg.DeviceID {
			pending = append(pending, t.ModuleID)
		}
	}
	offline := e.edge.offline
	e.mu.Unlock()
	if !offline {
		e.flushQueued()
	}
	for _, m := range pending {
		e.requestReportedSync(m)
	}
}

// every runs f every period until the emulator stops; a period <= 0 never
// runs it.
func (e *Emulator) every(period time.Duration, f func()) {
	if period <= 0 {
		return
	}
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		select {
		case <-e.stop:
			return
		case <-t.C:
			f()
		}
	}
}
