package kafka

// The server side of a SCRAM exchange: github.com/xdg-go/scram, plus one
// compatibility path. librdkafka before 2.6.1 (confluentinc/librdkafka#4895,
// the kcat of most distributions) sends its client nonce twice in the
// client-final message: r=<client nonce><client nonce><server nonce>. Apache
// Kafka 3.x accepts a nonce that ends with the server's (the fix of
// CVE-2024-56128 kept that for librdkafka), and so does Strata: the check
// that matters, that the client answers this server's fresh nonce, holds.
// That one shape is verified here (RFC 5802 §3) over the message as sent;
// every other message goes to xdg-go/scram unchanged.

import (
	"crypto/hmac"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/strata-io/strata/internal/scramcred"
	"github.com/xdg-go/scram"
)

// scramSession is one SCRAM exchange.
type scramSession struct {
	m    scramcred.Mechanism
	conv *scram.ServerConversation
	cred *scram.StoredCredentials // what the lookup returned

	clientFirstBare, serverFirst string
	clientNonce, nonce           string
	user                         string
	done, valid                  bool
}

func newSCRAMSession(m scramcred.Mechanism, lookup scram.CredentialLookup) (*scramSession, error) {
	s := &scramSession{m: m}
	srv, err := scramcred.Hash(m).NewServer(func(user string) (scram.StoredCredentials, error) {
		c, err := lookup(user)
		if err == nil {
			s.cred = &c
		}
		return c, err
	})
	if err != nil {
		return nil, err
	}
	s.conv = srv.NewConversation()
	return s, nil
}

// attr is the value of key (one letter) in a SCRAM message.
func attr(msg, key string) string {
	for _, f := range strings.Split(msg, ",") {
		if v, ok := strings.CutPrefix(f, key+"="); ok {
			return v
		}
	}
	return ""
}

// Step answers one client message.
func (s *scramSession) Step(in string) (string, error) {
	if s.serverFirst == "" { // client-first: gs2 header "n,," or "y,,", then the bare message
		out, err := s.conv.Step(in)
		if err != nil {
			return out, err
		}
		if i := strings.Index(in, "n="); i >= 0 {
			s.clientFirstBare = in[i:]
		}
		s.serverFirst, s.clientNonce, s.nonce = out, attr(s.clientFirstBare, "r"), attr(out, "r")
		return out, nil
	}
	r := attr(in, "r")
	if r == s.nonce || s.cred == nil || s.clientNonce == "" || r != s.clientNonce+s.nonce {
		out, err := s.conv.Step(in)
		s.done, s.valid, s.user = s.conv.Done(), s.conv.Valid(), s.conv.Username()
		return out, err
	}
	return s.verifyDoubledNonce(in)
}

// verifyDoubledNonce checks librdkafka's client-final message (see above).
func (s *scramSession) verifyDoubledNonce(in string) (string, error) {
	s.done = true
	i := strings.LastIndex(in, ",p=")
	if i < 0 || attr(in, "c") != "biws" {
		return "e=invalid-encoding", errors.New("malformed client-final message")
	}
	proof, err := base64.StdEncoding.DecodeString(in[i+3:])
	if err != nil {
		return "e=invalid-encoding", err
	}
	h := scramcred.Hash(s.m)
	authMsg := s.clientFirstBare + "," + s.serverFirst + "," + in[:i]
	mac := func(key []byte) []byte {
		m := hmac.New(h, key)
		m.Write([]byte(authMsg))
		return m.Sum(nil)
	}
	sig := mac(s.cred.StoredKey)
	if len(proof) != len(sig) {
		return "e=invalid-proof", errors.New("client proof of the wrong length")
	}
	clientKey := make([]byte, len(sig))
	for j := range sig {
		clientKey[j] = proof[j] ^ sig[j]
	}
	sum := h()
	sum.Write(clientKey)
	if subtle.ConstantTimeCompare(sum.Sum(nil), s.cred.StoredKey) != 1 {
		return "e=invalid-proof", errors.New("challenge proof invalid")
	}
	s.valid = true
	s.user = strings.NewReplacer("=2C", ",", "=3D", "=").Replace(attr(s.clientFirstBare, "n"))
	return "v=" + base64.StdEncoding.EncodeToString(mac(s.cred.ServerKey)), nil
}

func (s *scramSession) Done() bool       { return s.done }
func (s *scramSession) Valid() bool      { return s.valid }
func (s *scramSession) Username() string { return s.user }
