package authn

import (
	"context"
	"encoding/base64"
	"errors"
	"strings"

	"github.com/strata-io/strata/internal/auth"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
	"google.golang.org/grpc/status"
)

// healthPrefix is exempt from authentication: `strata health`, load
// balancers and Kubernetes probes check it without credentials.
const healthPrefix = "/grpc.health.v1.Health/"

// Authenticate finds a call's principal: HTTP Basic credentials in the
// `authorization` metadata (REST's Authorization header arrives there
// too), else a verified client certificate, else Anonymous. Wrong
// credentials are always UNAUTHENTICATED; none are when required is set.
func (s *Store) Authenticate(ctx context.Context, required bool) (auth.Principal, error) {
	if md, ok := grpcmd.FromIncomingContext(ctx); ok {
		if vals := md.Get("authorization"); len(vals) > 0 {
			user, pass, ok := parseBasic(vals[0])
			if !ok {
				return auth.Principal{}, status.Error(codes.Unauthenticated, "authorization is not Basic <base64 user:password>")
			}
			p, err := s.CheckPassword(ctx, user, pass)
			if errors.Is(err, ErrBadCredentials) {
				return auth.Principal{}, status.Error(codes.Unauthenticated, ErrBadCredentials.Error())
			}
			if err != nil {
				return auth.Principal{}, status.Errorf(codes.Unavailable, "checking credentials: %v", err)
			}
			return p, nil
		}
	}
	if pr, ok := peer.FromContext(ctx); ok {
		if ti, ok := pr.AuthInfo.(credentials.TLSInfo); ok {
			if p, ok := CertPrincipal(ti.State.VerifiedChains); ok {
				return p, nil
			}
		}
	}
	if required {
		return auth.Principal{}, status.Error(codes.Unauthenticated, "authentication required: HTTP Basic credentials or a client certificate")
	}
	return auth.Anonymous, nil
}

func parseBasic(v string) (user, pass string, ok bool) {
	scheme, enc, ok := strings.Cut(v, " ")
	if !ok || !strings.EqualFold(scheme, "Basic") || len(enc) > 4096 {
		return "", "", false
	}
	raw, err := base64.StdEncoding.DecodeString(strings.TrimSpace(enc))
	if err != nil {
		return "", "", false
	}
	return strings.Cut(string(raw), ":")
}

// UnaryInterceptor authenticates every unary call but health checks and
// puts the principal in its context.
func (s *Store) UnaryInterceptor(required bool) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if strings.HasPrefix(info.FullMethod, healthPrefix) {
			return handler(ctx, req)
		}
		p, err := s.Authenticate(ctx, required)
		if err != nil {
			return nil, err
		}
		return handler(auth.NewContext(ctx, p), req)
	}
}

// StreamInterceptor is UnaryInterceptor for streams.
func (s *Store) StreamInterceptor(required bool) grpc.StreamServerInterceptor {
	return func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		if strings.HasPrefix(info.FullMethod, healthPrefix) {
			return handler(srv, ss)
		}
		p, err := s.Authenticate(ss.Context(), required)
		if err != nil {
			return err
		}
		return handler(srv, principalStream{ss, auth.NewContext(ss.Context(), p)})
	}
}

type principalStream struct {
	grpc.ServerStream
	ctx context.Context
}

func (s principalStream) Context() context.Context { return s.ctx }
