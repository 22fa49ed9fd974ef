package authn

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"net"
	"sync/atomic"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/scramcred"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

type fakeCreds struct {
	cred    *controllerv1.ScramCredential
	lookups atomic.Int32
}

func (f *fakeCreds) GetScramCredential(_ context.Context, in *controllerv1.GetScramCredentialRequest, _ ...grpc.CallOption) (*controllerv1.GetScramCredentialResponse, error) {
	f.lookups.Add(1)
	if in.GetUser() != "alice" || in.GetMechanism() != scramcred.SHA512 {
		return &controllerv1.GetScramCredentialResponse{}, nil
	}
	return &controllerv1.GetScramCredentialResponse{Found: true, Credential: f.cred}, nil
}

func newFakeCreds(t *testing.T) *fakeCreds {
	salt := scramcred.Salt()
	salted, err := scramcred.SaltPassword(scramcred.SHA512, "pw", salt, scramcred.MinIterations)
	if err != nil {
		t.Fatal(err)
	}
	stored, server := scramcred.Keys(scramcred.SHA512, salted)
	return &fakeCreds{cred: &controllerv1.ScramCredential{Mechanism: scramcred.SHA512, Salt: salt, Iterations: scramcred.MinIterations, StoredKey: stored, ServerKey: server}}
}

// whoami answers DescribeUserScramCredentials with the caller's principal.
type whoami struct {
	adminv1.UnimplementedUserServiceServer
}

func (whoami) DescribeUserScramCredentials(ctx context.Context, _ *adminv1.DescribeUserScramCredentialsRequest) (*adminv1.DescribeUserScramCredentialsResponse, error) {
	return &adminv1.DescribeUserScramCredentialsResponse{Results: []*adminv1.UserScramCredentials{{User: auth.FromContext(ctx).String()}}}, nil
}

type basic struct{ user, pass string }

func (b basic) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Basic " + b64(b.user+":"+b.pass)}, nil
}
func (basic) RequireTransportSecurity() bool { return true }

func TestGRPCAuthentication(t *testing.T) {
	ca, err := certs.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srvLeaf, err := ca.Issue(certs.Leaf{CommonName: "gateway", Hosts: []string{"127.0.0.1"}, Server: true, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cliLeaf, err := ca.Issue(certs.Leaf{CommonName: "carol", Client: true, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srvCert, _ := srvLeaf.TLSCertificate()
	cliCert, _ := cliLeaf.TLSCertificate()
	roleLeaf, err := ca.Issue(certs.Leaf{CommonName: "strata-gateway", Identity: certs.Identity{Role: certs.RoleGateway}, Client: true, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	roleCert, _ := roleLeaf.TLSCertificate()
	fc := newFakeCreds(t)
	store := NewStore(fc)
	start := func(required bool) string {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(&tls.Config{Certificates: []tls.Certificate{srvCert},
			ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12})),
			grpc.UnaryInterceptor(store.UnaryInterceptor(required)))
		adminv1.RegisterUserServiceServer(srv, whoami{})
		go func() { _ = srv.Serve(ln) }()
		t.Cleanup(srv.Stop)
		return ln.Addr().String()
	}
	call := func(addr string, cert *tls.Certificate, perRPC credentials.PerRPCCredentials) (string, error) {
		cfg := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", MinVersion: tls.VersionTLS12}
		if cert != nil {
			cfg.Certificates = []tls.Certificate{*cert}
		}
		opts := []grpc.DialOption{grpc.WithTransportCredentials(credentials.NewTLS(cfg))}
		if perRPC != nil {
			opts = append(opts, grpc.WithPerRPCCredentials(perRPC))
		}
		conn, err := grpc.NewClient(addr, opts...)
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		resp, err := adminv1.NewUserServiceClient(conn).DescribeUserScramCredentials(ctx, &adminv1.DescribeUserScramCredentialsRequest{})
		if err != nil {
			return "", err
		}
		return resp.GetResults()[0].GetUser(), nil
	}
	required, optional := start(true), start(false)
	for _, tc := range []struct {
		name   string
		addr   string
		cert   *tls.Certificate
		creds  credentials.PerRPCCredentials
		want   string
		wantCo codes.Code
	}{
		{"Basic", required, nil, basic{"alice", "pw"}, "User:alice", codes.OK},
		{"Basic again (cached)", required, nil, basic{"alice", "pw"}, "User:alice", codes.OK},
		{"client certificate", required, &cliCert, nil, "User:carol", codes.OK},
		{"Basic wins over the certificate", required, &cliCert, basic{"alice", "pw"}, "User:alice", codes.OK},
		{"wrong password", required, nil, basic{"alice", "nope"}, "", codes.Unauthenticated},
		{"unknown user", optional, nil, basic{"mallory", "pw"}, "", codes.Unauthenticated},
		{"nothing, required", required, nil, nil, "", codes.Unauthenticated},
		{"nothing, optional", optional, nil, nil, "User:ANONYMOUS", codes.OK},
		{"a role certificate is no user", required, &roleCert, nil, "", codes.Unauthenticated},
	} {
		got, err := call(tc.addr, tc.cert, tc.creds)
		if status.Code(err) != tc.wantCo || got != tc.want {
			t.Errorf("%s: %q, %v; want %q, %v", tc.name, got, err, tc.want, tc.wantCo)
		}
	}
	// alice's password was checked once; the second call hit the cache.
	// (mallory: one lookup per mechanism.)
	if n := fc.lookups.Load(); n != 1+1+2 {
		t.Errorf("%d credential lookups, want 4", n)
	}
}

func TestParseBasic(t *testing.T) {
	if u, p, ok := parseBasic("Basic " + b64("a:b:c")); !ok || u != "a" || p != "b:c" {
		t.Fatal(u, p, ok)
	}
	for _, bad := range []string{"Bearer x", "Basic !!!", "Basic " + b64("nocolon"), "Basic"} {
		if _, _, ok := parseBasic(bad); ok {
			t.Errorf("%q parsed", bad)
		}
	}
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// A changed password fails SASL PLAIN's fresh check at once, while the
// cached check of gRPC and REST keeps accepting the old one for cacheTTL.
func TestFreshCheckSeesAChangedPassword(t *testing.T) {
	fc := newFakeCreds(t)
	s := NewStore(fc)
	ctx := context.Background()
	if _, err := s.CheckPassword(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.CheckPasswordFresh(ctx, "alice", "pw"); err != nil {
		t.Fatal(err)
	}
	fc.cred = newFakeCreds(t).cred // new salt: the same password derives other keys
	fc.cred.StoredKey = append([]byte(nil), fc.cred.ServerKey...)
	if _, err := s.CheckPasswordFresh(ctx, "alice", "pw"); err != ErrBadCredentials {
		t.Fatalf("fresh check after the change: %v", err)
	}
	if _, err := s.CheckPassword(ctx, "alice", "pw"); err != nil {
		t.Fatalf("cached check: %v", err)
	}
}
