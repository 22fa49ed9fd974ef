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
	"encoding/binary"
	"net"
	"sync"
	"time"

	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/services/gateway/authn"
	"github.com/twmb/franz-go/pkg/kmsg"
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
	mech    string
	pending bool // a handshake awaits its SaslAuthenticate
	// raw is set by a SaslHandshake v0: the tokens follow as bare
	// size-prefixed frames, not SaslAuthenticate requests.
	raw       bool
	scram     *scramSession
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

// rawToken answers one bare SASL token of the v0 exchange, as a bare
// size-prefixed frame; ok is false when the connection must close.
func (c *conn) rawToken(frame []byte) (out []byte, ok bool) {
	req := kmsg.NewPtrSASLAuthenticateRequest()
	req.SASLAuthBytes = frame
	resp, _ := handleSASLAuthenticate(c.ctx, c.s, &request{key: saslKeyAuth, body: req})
	ar := resp.(*kmsg.SASLAuthenticateResponse)
	if ar.ErrorCode != 0 {
		return nil, false
	}
	c.auth.mu.Lock()
	c.auth.raw = c.auth.pending // more tokens follow (SCRAM's second round)
	c.auth.mu.Unlock()
	return append(binary.BigEndian.AppendUint32(nil, uint32(len(ar.SASLAuthBytes))), ar.SASLAuthBytes...), true
}

// preAuthAllowed lists the requests a SASL connection may send before it
// authenticates (or once its session expired, to re-authenticate).
func preAuthAllowed(key int16, expired bool) bool {
	if expired {
		return key == saslKeyHandsh || key == saslKeyAuth
	}
	return key == 18 || key == saslKeyHandsh || key == saslKeyAuth
}

// authGate runs authentication in the read loop: before authentication
// (preAuth), past the session's lifetime, and for every SASL request, the
// request is answered here, one at a time and in order; anything but
// ApiVersions and SASL then closes the connection (err), after an
// ILLEGAL_SASL_STATE answer where the response has an error code. handled
// is false for a request the caller dispatches as usual.
func (c *conn) authGate(req *request, preAuth bool) (handled bool, err error) {
	expired := !preAuth && c.sessionExpired(time.Now())
	if !preAuth && !expired && req.key != saslKeyHandsh && req.key != saslKeyAuth {
		return false, nil
	}
	if !preAuthAllowed(req.key, expired) {
		why := "before SASL authentication"
		if expired {
			why = "after the SASL session expired"
		}
		if resp := illegalSASLState(req, apiName(req.key)+" "+why); resp != nil {
			c.queueNow(req, resp)
		}
		return true, closeReason("%s request %s", apiName(req.key), why)
	}
	c.queueNow(req, nil)
	c.auth.mu.Lock()
	closeNext := c.auth.closeNext
	c.auth.mu.Unlock()
	if closeNext {
		return true, closeReason("SASL %s failed", apiName(req.key))
	}
	return true, nil
}

// rawSASL reports whether a SaslHandshake v0 exchange is under way: the
// next frame is a bare token.
func (c *conn) rawSASL() bool {
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	return c.auth.raw
}

// serveRawToken reads and answers a bare token of a SaslHandshake v0
// exchange, of size bytes.
func (c *conn) serveRawToken(size int32) error {
	if size < 0 || size > maxSASLReceiveBytes {
		return closeReason("SASL token of %d bytes is outside 0..%d", size, maxSASLReceiveBytes)
	}
	frame, err := readFrame(c.nc, int(size), nil, c.s.cfg.IdleTimeout, c.s.cfg.RequestReadGrace)
	if err != nil {
		return err
	}
	out, ok := c.rawToken(frame)
	if !ok {
		return closeReason("SASL authentication failed")
	}
	p := &pending{done: make(chan net.Buffers, 1)}
	c.queue <- p
	p.done <- net.Buffers{out}
	return nil
}

// authDeadlineReason says why a read deadline that passed was an
// authentication one ("" for the idle timeout).
func (c *conn) authDeadlineReason(now time.Time) string {
	switch {
	case c.needsAuth() && !now.Before(c.accepted.Add(authTimeout)):
		return "no SASL authentication within " + authTimeout.String()
	case c.sessionExpired(now):
		return "the SASL session expired without re-authentication"
	}
	return ""
}
