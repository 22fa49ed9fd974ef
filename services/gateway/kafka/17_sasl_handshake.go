package kafka

// SaslHandshake, versions 0–1 (v1, KIP-152: the tokens follow in
// SaslAuthenticate; v0: they follow as bare size-prefixed frames, which
// librdkafka needs advertised though it uses v1). It picks the mechanism: PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512, those of sasl.enabled.mechanisms. An
// unknown mechanism answers UNSUPPORTED_SASL_MECHANISM with the enabled
// list, and the connection is closed; a handshake on a listener without
// SASL, or a second one before SaslAuthenticate, answers ILLEGAL_SASL_STATE
// (the latter closes the connection). A handshake on an authenticated
// connection starts a re-authentication (KIP-368), which must use the
// same mechanism.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(saslKeyHandsh, 0, 1, handleSASLHandshake) }

func handleSASLHandshake(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.SASLHandshakeRequest)
	resp := req.ResponseKind().(*kmsg.SASLHandshakeResponse)
	resp.SupportedMechanisms = append([]string(nil), s.cfg.SASLMechanisms...)
	c := connOf(ctx)
	if c == nil || !c.l.Protocol.SASL() {
		resp.ErrorCode = errIllegalSASLState
		return resp, nil
	}
	c.auth.mu.Lock()
	defer c.auth.mu.Unlock()
	switch {
	case c.auth.pending:
		resp.ErrorCode, c.auth.closeNext = errIllegalSASLState, true
	case !s.enabledMechanism(req.Mechanism):
		resp.ErrorCode, c.auth.closeNext = errUnsupportedSASLMechanism, true
	case c.auth.authenticated && req.Mechanism != c.auth.lastMech:
		resp.ErrorCode, c.auth.closeNext = errIllegalSASLState, true // re-authentication changes mechanism
	default:
		c.auth.mech, c.auth.pending, c.auth.scram = req.Mechanism, true, nil
		c.auth.raw = req.Version == 0
	}
	return resp, nil
}
