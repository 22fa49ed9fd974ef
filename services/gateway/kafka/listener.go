package kafka

// Kafka listeners as Kafka names them: each has a name, a security
// protocol (PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL), its own address and
// its own advertised address, and Metadata answers a connection with the
// brokers' addresses for the listener it came in on.

import (
	"crypto/tls"
	"fmt"
	"net"
	"strings"
)

// Protocol is a listener's security protocol.
type Protocol string

const (
	Plaintext     Protocol = "PLAINTEXT"
	SSL           Protocol = "SSL"
	SASLPlaintext Protocol = "SASL_PLAINTEXT"
	SASLSSL       Protocol = "SASL_SSL"
)

// ParseProtocol reads a security protocol name (case-insensitive).
func ParseProtocol(s string) (Protocol, error) {
	switch p := Protocol(strings.ToUpper(s)); p {
	case Plaintext, SSL, SASLPlaintext, SASLSSL:
		return p, nil
	}
	return "", fmt.Errorf("unknown security protocol %q (PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL)", s)
}

// TLS reports whether the protocol runs over TLS.
func (p Protocol) TLS() bool { return p == SSL || p == SASLSSL }

// SASL reports whether connections must authenticate with SASL first.
func (p Protocol) SASL() bool { return p == SASLPlaintext || p == SASLSSL }

// Listener is one Kafka listener.
type Listener struct {
	// Name is the listener name (PLAINTEXT, SASL_SSL, or any name mapped
	// to a protocol); gateways register their advertised address under it.
	Name     string
	Protocol Protocol
	Ln       net.Listener
	// Advertise is the host:port Metadata gives for this listener.
	Advertise string
	// TLS is the server's TLS configuration (SSL and SASL_SSL only); its
	// GetConfigForClient may load reloaded certificates per handshake.
	TLS *tls.Config
}

// DefaultListener is the name of the listener that NewServer's ln serves
// (the --kafka-addr one).
const DefaultListener = "PLAINTEXT"

// accept wraps l.Ln so TLS listeners hand out TLS connections; the
// handshake runs in the connection's goroutine (conn.handshake).
func (l *Listener) accept() (net.Conn, error) {
	nc, err := l.Ln.Accept()
	if err != nil || !l.Protocol.TLS() {
		return nc, err
	}
	if l.TLS == nil {
		nc.Close()
		return nil, fmt.Errorf("listener %s has no TLS configuration", l.Name)
	}
	return tls.Server(nc, l.TLS), nil
}
