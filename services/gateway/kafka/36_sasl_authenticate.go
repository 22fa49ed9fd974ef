package kafka

// SaslAuthenticate, versions 0–2 (KIP-152; v1 adds session_lifetime_ms,
// KIP-368). It carries the tokens of the mechanism the handshake picked:
// PLAIN's one message (checked against the user's SCRAM credential, so only
// salted keys are ever stored), or SCRAM's two round trips (RFC 5802, the
// server side of github.com/xdg-go/scram, scram.go). A wrong password, an unknown
// user, a nonce mismatch or a malformed token answers
// SASL_AUTHENTICATION_FAILED and closes the connection, as Kafka does. On
// success the connection's principal is User:<name>; session_lifetime_ms is
// connections.max.reauth.ms (0: sessions do not expire).

import (
	"bytes"
	"context"
	"errors"
	"time"

	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/scramcred"
	"github.com/strata-io/strata/services/gateway/authn"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(saslKeyAuth, 0, 2, handleSASLAuthenticate) }

func handleSASLAuthenticate(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.SASLAuthenticateRequest)
	resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
	c := connOf(ctx)
	if c == nil || !c.l.Protocol.SASL() {
		resp.ErrorCode = errIllegalSASLState
		return resp, nil
	}
	c.auth.mu.Lock()
	mech, pending, conv := c.auth.mech, c.auth.pending, c.auth.scram
	c.auth.mu.Unlock()
	fail := func(code int16, msg string) (kmsg.Response, error) {
		c.auth.mu.Lock()
		c.auth.closeNext, c.auth.pending, c.auth.scram = true, false, nil
		c.auth.mu.Unlock()
		resp.ErrorCode, resp.ErrorMessage = code, &msg
		s.log.Info("kafka SASL authentication failed", "remote", c.nc.RemoteAddr().String(), "listener", c.l.Name, "mechanism", mech, "reason", msg)
		return resp, nil
	}
	if !pending {
		return fail(errIllegalSASLState, "SaslAuthenticate without a SaslHandshake before it")
	}
	if s.d.Users == nil {
		return fail(errSASLAuthenticationFailed, "this gateway has no user store")
	}
	actx, cancel := context.WithTimeout(c.ctx, authCallTimeout)
	defer cancel()
	invalid := "Authentication failed during authentication due to invalid credentials with SASL mechanism " + mech
	var user string
	switch mech {
	case mechPlain:
		authzid, rest, ok1 := bytes.Cut(req.SASLAuthBytes, []byte{0})
		u, pass, ok2 := bytes.Cut(rest, []byte{0})
		if !ok1 || !ok2 || (len(authzid) > 0 && !bytes.Equal(authzid, u)) {
			return fail(errSASLAuthenticationFailed, "malformed PLAIN message, or an authorization id other than the user")
		}
		p, err := s.d.Users.CheckPasswordFresh(actx, string(u), string(pass))
		if err != nil {
			if !errors.Is(err, authn.ErrBadCredentials) {
				s.log.Warn("kafka SASL credential lookup failed", "err", err)
			}
			return fail(errSASLAuthenticationFailed, invalid)
		}
		user = p.Name
	case mechSCRAM256, mechSCRAM512:
		m, _ := scramcred.Parse(mech)
		if conv == nil {
			var err error
			if conv, err = newSCRAMSession(m, s.d.Users.Lookup(actx, m)); err != nil {
				return fail(errSASLAuthenticationFailed, invalid)
			}
		}
		out, err := conv.Step(string(req.SASLAuthBytes))
		if err != nil {
			s.log.Debug("kafka SCRAM step failed", "remote", c.nc.RemoteAddr().String(), "err", err)
			return fail(errSASLAuthenticationFailed, invalid)
		}
		resp.SASLAuthBytes = []byte(out)
		if !conv.Done() {
			c.auth.mu.Lock()
			c.auth.scram = conv
			c.auth.mu.Unlock()
			return resp, nil
		}
		if !conv.Valid() {
			return fail(errSASLAuthenticationFailed, invalid)
		}
		user = conv.Username()
	default:
		return fail(errUnsupportedSASLMechanism, "mechanism "+mech+" is not enabled")
	}
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	if c.auth.authenticated && c.auth.principal != auth.User(user) {
		c.auth.closeNext, c.auth.pending, c.auth.scram = true, false, nil
		msg := "re-authentication as a different principal"
		resp.ErrorCode, resp.ErrorMessage, resp.SASLAuthBytes = errSASLAuthenticationFailed, &msg, nil
		return resp, nil
	}
	c.auth.principal, c.auth.authenticated, c.auth.lastMech = auth.User(user), true, mech
	c.auth.pending, c.auth.scram = false, nil
	c.auth.expiry = time.Time{}
	if lt := s.cfg.MaxReauth; lt > 0 {
		c.auth.expiry = time.Now().Add(lt)
		resp.SessionLifetimeMillis = lt.Milliseconds()
	}
	return resp, nil
}
