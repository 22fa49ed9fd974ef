package kafka

// The authentication state of a connection. On a SASL listener a
// connection may send only ApiVersions, SaslHandshake and SaslAuthenticate
// until it authenticates, in frames of at most 512 KiB (Kafka's
// sasl.server.max.receive.size) and within authTimeout of being accepted;
// anything else, or a failed authentication, is answered with
// ILLEGAL_SASL_STATE or SASL_AUTHENTICATION_FAILED and the connection is
// closed. With connections.max.reauth.ms set, a session lasts that long: the
// client re-authenticates on the same connection (KIP-368), with the same
// mechanism and principal, or the connection is closed at its first request
// past the deadline (or when it next idles past it). SASL requests run in
// the read loop, one at a time and in order, so the state needs no more
// than the lock that lets handlers read the principal.

import (
	"context"
	"crypto/tls"
	"sync"
	"time"

	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/services/gateway/authn"
	"github.com/xdg-go/scram"
)

const (
	// maxSASLReceiveBytes is Kafka's sasl.server.max.receive.size: the
	// largest frame before authentication completes.
	maxSASLReceiveBytes = 512 << 10
	// authTimeout bounds the time from accept to a completed TLS handshake
	// and SASL authentication.
	authTimeout = 30 * time.Second
	// authCallTimeout bounds one credential lookup at the controller.
	authCallTimeout = 10 * time.Second
)

// Kafka error codes of authentication.
const (
	errUnsupportedSASLMechanism = 33
	errIllegalSASLState         = 34
	errSASLAuthenticationFailed = 58
)

// Mechanism names.
const (
	mechPlain     = "PLAIN"
	mechSCRAM256  = "SCRAM-SHA-256"
	mechSCRAM512  = "SCRAM-SHA-512"
	saslKeyHandsh = 17
	saslKeyAuth   = 36
)

// DefaultSASLMechanisms is sasl.enabled.mechanisms when none is configured.
var DefaultSASLMechanisms = []string{mechPlain, mechSCRAM256, mechSCRAM512}

// authState is a connection's authentication.
type authState struct {
	mu            sync.Mutex
	principal     auth.Principal
	authenticated bool
	// expiry is when the session ends (zero: never).
	expiry time.Time
	// mech is the mechanism of the handshake in progress or of the last
	// authentication; scram its conversation in progress.
	mech      string
	pending   bool // a handshake awaits its SaslAuthenticate
	scram     *scram.ServerConversation
	lastMech  string
	closeNext bool // close the connection once the current response is out
}

func (c *conn) principal() auth.Principal {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	return c.auth.principal
}

// needsAuth reports whether the connection has not authenticated yet (on
// a SASL listener).
func (c *conn) needsAuth() bool {
	if !c.l.Protocol.SASL() {
		return false
	}
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	return !c.auth.authenticated
}

// sessionExpired reports whether a SASL session passed its lifetime.
func (c *conn) sessionExpired(now time.Time) bool {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	return !c.auth.expiry.IsZero() && now.After(c.auth.expiry)
}

// readDeadline is when the next read must have arrived: the idle timeout,
// shortened before authentication and at the session's end.
func (c *conn) readDeadline(now time.Time) time.Time {
	d := now.Add(c.s.cfg.IdleTimeout)
	if c.needsAuth() {
		d = minTime(d, c.accepted.Add(authTimeout))
	}
	c.auth.mu.Lock()
	if !c.auth.expiry.IsZero() {
		d = minTime(d, c.auth.expiry)
	}
	c.auth.mu.Unlock()
	return d
}

func minTime(a, b time.Time) time.Time {
	if b.Before(a) {
		return b
	}
	return a
}

// handshake completes the TLS handshake of a TLS listener's connection and
// takes a verified client certificate's principal; on an SSL listener the
// connection is then authenticated (as ANONYMOUS without a certificate).
func (c *conn) handshake() error {
	tc, ok := c.nc.(*tls.Conn)
	if ok {
		ctx, cancel := context.WithTimeout(c.ctx, authTimeout)
		defer cancel()
		if err := tc.HandshakeContext(ctx); err != nil {
			return closeReason("TLS handshake failed: %v", err)
		}
		if p, ok := authn.CertPrincipal(tc.ConnectionState().VerifiedChains); ok {
			c.auth.principal = p
		}
	}
	if !c.l.Protocol.SASL() {
		c.auth.authenticated = true
	}
	return nil
}

// enabledMechanism reports whether the listener offers mech.
func (s *Server) enabledMechanism(mech string) bool {
	for _, m := range s.cfg.SASLMechanisms {
		if m == mech {
			return true
		}
	}
	return false
}

// connOf is the connection of a handler's context.
func connOf(ctx context.Context) *conn {
	c, _ := ctx.Value(connKey{}).(*conn)
	return c
}

// preAuthAllowed lists the requests a SASL connection may send before it
// authenticates (or once its session expired, to re-authenticate).
func preAuthAllowed(key int16, expired bool) bool {
	if expired {
		return key == saslKeyHandsh || key == saslKeyAuth
	}
	return key == 18 || key == saslKeyHandsh || key == saslKeyAuth
}
