package tlsconf

import (
	"context"
	"log/slog"
	"net"
	"slices"
	"strings"

	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
)

// ClientCreds are the gRPC credentials of an internal dial: the server is
// verified against the CA, this role's certificate is the client
// certificate. Each handshake reads the files as they are now.
func (t *TLS) ClientCreds() credentials.TransportCredentials {
	if t == nil {
		return insecure.NewCredentials()
	}
	return &clientCreds{TransportCredentials: credentials.NewTLS(t.Client("")), t: t}
}

type clientCreds struct {
	credentials.TransportCredentials
	t *TLS
}

func (c *clientCreds) ClientHandshake(ctx context.Context, authority string, conn net.Conn) (net.Conn, credentials.AuthInfo, error) {
	return credentials.NewTLS(c.t.Client("")).ClientHandshake(ctx, authority, conn)
}

func (c *clientCreds) Clone() credentials.TransportCredentials {
	return &clientCreds{TransportCredentials: c.TransportCredentials.Clone(), t: c.t}
}

// ServerCreds are the gRPC credentials of a client-facing listener.
func (t *TLS) ServerCreds() credentials.TransportCredentials {
	if t == nil {
		return nil
	}
	return credentials.NewTLS(t.Server())
}

// InternalServerCreds are the gRPC credentials of an internal listener
// (controller, storage node): a CA-signed client certificate is required.
func (t *TLS) InternalServerCreds() credentials.TransportCredentials {
	if t == nil {
		return nil
	}
	return credentials.NewTLS(t.InternalServer())
}

// WarnPlaintext logs one warning naming every listener of a role that
// accepts connections beyond loopback without TLS: all of listeners when
// t is nil (a role whose TLS block is off, or listeners known to be
// plaintext), none otherwise. Strata warns rather
// than refuses, so a cluster behind its own network boundary keeps
// working; docs/security.md says so.
func WarnPlaintext(log *slog.Logger, t *TLS, listeners map[string]string) {
	if t != nil {
		return
	}
	var open []string
	for name, addr := range listeners {
		if !IsLoopback(addr) {
			open = append(open, name+"="+addr)
		}
	}
	if len(open) == 0 {
		return
	}
	slices.Sort(open)
	log.Warn("PLAINTEXT LISTENERS BEYOND LOOPBACK: anyone who can reach these ports can read and change the cluster; "+
		"set --tls-cert, --tls-key and --tls-ca (see docs/security.md)", "listeners", strings.Join(open, " "))
}

// IsLoopback reports whether a listen address binds loopback only.
func IsLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
