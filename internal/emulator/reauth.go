package emulator

import (
	"errors"
	"fmt"
	"time"
)

// errTokenExpired is the stop cause of a connection dropped by
// re-authentication.
var errTokenExpired = errors.New("re-authentication failed: SAS token expired")

// Reauthenticate re-validates the token of every live connection now, as
// edgeHub's ConnectionReauthenticator does every ReauthPeriod, and closes
// the connections whose token has expired (its expiry plus TokenClockSkew
// has passed, or TokenMaxAge since the connection when set). It returns the
// client ids it disconnected. MQTT has no in-band token renewal: the client
// has to reconnect with a new token.
func (e *Emulator) Reauthenticate() []string {
	now := e.now()
	cfg := e.cfg.EdgeHub
	e.mu.Lock()
	var expired []*connection
	for _, c := range e.edge.byClient {
		if tokenExpired(c, now, cfg) {
			expired = append(expired, c)
		}
	}
	e.mu.Unlock()
	var ids []string
	for _, c := range expired {
		e.log.Warn("re-authentication failed: connection closed", "clientId", c.client.ID,
			"tokenExpiry", c.tokenExpiry, "connectedAt", c.connectedAt)
		c.client.Stop(fmt.Errorf("%w (expiry %s)", errTokenExpired, c.tokenExpiry.Format(time.RFC3339)))
		ids = append(ids, c.client.ID)
	}
	return ids
}

func tokenExpired(c *connection, now time.Time, cfg EdgeHubConfig) bool {
	if now.After(c.tokenExpiry.Add(orZero(cfg.TokenClockSkew))) {
		return true
	}
	return cfg.TokenMaxAge > 0 && !now.Before(c.connectedAt.Add(cfg.TokenMaxAge))
}
