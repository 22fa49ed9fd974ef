// Package peerauth decides which role may make which internal call. With
// TLS on, every internal connection carries a client certificate from the
// cluster CA naming the caller's role (and a storage node's id); a role's
// Policy reads that identity and the request and says yes or no. Epochs
// stay the fencing mechanism: identity only decides who may speak.
package peerauth

import (
	"context"
	"fmt"
	"strings"

	"github.com/strata-io/strata/internal/certs"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// Policy returns nil when id may call method with req, or an error from
// Deny. Streams are asked once with a nil req when they open, then for
// every message the caller sends.
type Policy func(id certs.Identity, method string, req any) error

// healthPrefix is the standard health service, open to any certificate
// of the CA (probes, `strata health`).
const healthPrefix = "/grpc.health.v1.Health/"

// Deny is the PERMISSION_DENIED answer.
func Deny(format string, args ...any) error {
	return status.Error(codes.PermissionDenied, fmt.Sprintf(format, args...))
}

// Caller is the role identity of the client certificate of ctx's
// connection. ok is false without TLS, a certificate or a role in it.
func Caller(ctx context.Context) (id certs.Identity, ok bool) {
	p, found := peer.FromContext(ctx)
	if !found {
		return certs.Identity{}, false
	}
	info, isTLS := p.AuthInfo.(credentials.TLSInfo)
	if !isTLS || len(info.State.VerifiedChains) == 0 || len(info.State.PeerCertificates) == 0 {
		return certs.Identity{}, false
	}
	return certs.IdentityOf(info.State.PeerCertificates[0])
}

func check(ctx context.Context, p Policy, method string, req any) error {
	if strings.HasPrefix(method, healthPrefix) {
		return nil
	}
	id, ok := Caller(ctx)
	if !ok {
		return Deny("%s needs a client certificate naming a Strata role", method)
	}
	return p(id, method, req)
}

// Unary enforces p on unary calls.
func Unary(p Policy) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		if err := check(ctx, p, info.FullMethod, req); err != nil {
			return nil, err
		}
		return h(ctx, req)
	}
}

// Stream enforces p when a stream opens and on every message received.
func Stream(p Policy) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, h grpc.StreamHandler) error {
		if err := check(ss.Context(), p, info.FullMethod, nil); err != nil {
			return err
		}
		cs := &checkedStream{ServerStream: ss, p: p, method: info.FullMethod}
		err := h(srv, cs)
		if cs.denied != nil {
			// A handler may take any receive error for the caller
			// leaving; the caller learns it was refused.
			return cs.denied
		}
		return err
	}
}

type checkedStream struct {
	grpc.ServerStream
	p      Policy
	method string
	denied error
}

func (s *checkedStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if err := check(s.Context(), s.p, s.method, m); err != nil {
		s.denied = err
		return err
	}
	return nil
}

// Role allows callers of the given roles.
func Role(id certs.Identity, method string, roles ...string) error {
	for _, r := range roles {
		if id.Role == r {
			return nil
		}
	}
	return Deny("%s may not call %s (allowed: %s)", id, method, strings.Join(roles, ", "))
}

// Node allows only the storage node nodeID itself, and the controllers
// (a standby forwards a node's call with its own certificate, after
// checking it).
func Node(id certs.Identity, method string, nodeID int32) error {
	if id.Role == certs.RoleController {
		return nil
	}
	if id.Role == certs.RoleStorage && id.NodeID != 0 && id.NodeID == nodeID {
		return nil
	}
	return Deny("%s may not call %s for storage node %d", id, method, nodeID)
}
