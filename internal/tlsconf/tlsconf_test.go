package tlsconf

import (
	"bytes"
	"crypto/tls"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/config"
)

// setup writes a CA and a server certificate under a temp dir.
func setup(t *testing.T) (*certs.CA, string) {
	t.Helper()
	dir := t.TempDir()
	ca, err := certs.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if err := ca.WriteFiles(dir, "ca"); err != nil {
		t.Fatal(err)
	}
	issue(t, ca, dir, "server", "first")
	return ca, dir
}

// issue writes name.crt/.key for cn, replacing any earlier pair by rename
// (as cert-manager and most rotation tools do).
func issue(t *testing.T, ca *certs.CA, dir, name, cn string) {
	t.Helper()
	leaf, err := ca.Issue(certs.Leaf{CommonName: cn, Hosts: []string{"127.0.0.1"}, Identity: certs.Identity{Role: certs.RoleGateway}})
	if err != nil {
		t.Fatal(err)
	}
	tmp := t.TempDir()
	if err := leaf.WriteFiles(tmp, name); err != nil {
		t.Fatal(err)
	}
	for _, ext := range []string{".key", ".crt"} {
		if err := os.Rename(filepath.Join(tmp, name+ext), filepath.Join(dir, name+ext)); err != nil {
			t.Fatal(err)
		}
	}
}

func load(t *testing.T, dir, auth string) *TLS {
	t.Helper()
	tl, err := Load(Config{CertFile: filepath.Join(dir, "server.crt"), KeyFile: filepath.Join(dir, "server.key"),
		CAFile: filepath.Join(dir, "ca.crt"), ClientAuth: auth})
	if err != nil {
		t.Fatal(err)
	}
	return tl
}

// serve accepts TLS connections with cfg and completes their handshakes.
func serve(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				if c.(*tls.Conn).Handshake() == nil {
					_, _ = c.Write([]byte("k"))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

func servedCN(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestSwappedCertificateIsServedWithoutRestart(t *testing.T) {
	ca, dir := setup(t)
	tl := load(t, dir, AuthNone)
	addr := serve(t, tl.Server())
	client := &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}
	if cn := servedCN(t, addr, client); cn != "first" {
		t.Fatalf("served %q, want first", cn)
	}
	issue(t, ca, dir, "server", "second")
	if cn := servedCN(t, addr, client); cn != "second" {
		t.Fatalf("after the swap served %q, want second", cn)
	}
}

func TestHalfWrittenFilesKeepTheOldPair(t *testing.T) {
	ca, dir := setup(t)
	tl := load(t, dir, AuthNone)
	addr := serve(t, tl.Server())
	if err := os.WriteFile(filepath.Join(dir, "server.crt"), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if cn := servedCN(t, addr, &tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}); cn != "first" {
		t.Fatalf("served %q, want the old pair", cn)
	}
}

func TestInternalServerRequiresACertificateOfTheCA(t *testing.T) {
	ca, dir := setup(t)
	tl := load(t, dir, AuthNone)
	addr := serve(t, tl.InternalServer())
	handshake := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		// TLS 1.3 reports a refused client certificate on the first read.
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	if err := handshake(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}); err == nil {
		t.Fatalf("no client certificate: %v, want a refused handshake", err)
	}
	other, _ := certs.NewCA("other", time.Hour)
	stranger, _ := other.Issue(certs.Leaf{CommonName: "x", Identity: certs.Identity{Role: certs.RoleStorage, NodeID: 1}})
	pair, _ := stranger.TLSCertificate()
	if err := handshake(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", GetClientCertificate: always(pair)}); err == nil {
		t.Fatalf("certificate of another CA: %v, want a refused handshake", err)
	}
	// The role's own client side passes.
	if err := handshake(tl.Client("127.0.0.1")); err != nil {
		t.Fatalf("a certificate of the CA: %v, want an open connection", err)
	}
	if id, ok := tl.Identity(); !ok || id.Role != certs.RoleGateway {
		t.Fatalf("identity %v %v", id, ok)
	}
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		c    Config
		fail bool
	}{
		{Config{ClientAuth: AuthNone}, false},
		{Config{ClientAuth: "maybe"}, true},
		{Config{ClientAuth: AuthRequire}, true},
		{Config{CertFile: "a", ClientAuth: AuthNone}, true},
		{Config{CertFile: "a", KeyFile: "b", CAFile: "c", ClientAuth: AuthRequest}, false},
	} {
		var p config.Problems
		tc.c.Validate(&p)
		if err := p.Err(); (err != nil) != tc.fail {
			t.Errorf("%+v: %v", tc.c, err)
		}
	}
}

func TestIsLoopback(t *testing.T) {
	for addr, want := range map[string]bool{"127.0.0.1:1": true, "[::1]:1": true, "localhost:1": true, ":9092": false, "0.0.0.0:1": false, "10.0.0.1:1": false} {
		if IsLoopback(addr) != want {
			t.Errorf("IsLoopback(%q) != %v", addr, want)
		}
	}
}

func TestWarnPlaintextOnceForListenersBeyondLoopback(t *testing.T) {
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, nil))
	WarnPlaintext(log, nil, map[string]string{"grpc": ":9191", "http": "127.0.0.1:8080", "kafka": "0.0.0.0:9092"})
	out := buf.String()
	if strings.Count(out, "PLAINTEXT LISTENERS BEYOND LOOPBACK") != 1 || !strings.Contains(out, "grpc=:9191 kafka=0.0.0.0:9092") || strings.Contains(out, "http=") {
		t.Errorf("warning %q", out)
	}
	buf.Reset()
	WarnPlaintext(log, nil, map[string]string{"grpc": "127.0.0.1:9191"})
	_, dir := setup(t)
	WarnPlaintext(log, load(t, dir, AuthNone), map[string]string{"grpc": ":9191"})
	if buf.Len() != 0 {
		t.Errorf("warned for loopback or TLS listeners: %q", buf.String())
	}
}

func slogDiscard() *slog.Logger { return slog.New(slog.DiscardHandler) }

// request: a client without a certificate is served, one with a
// certificate the CA did not sign is refused.
func TestRequestVerifiesOnlyCertificatesSent(t *testing.T) {
	ca, dir := setup(t)
	addr := serve(t, load(t, dir, AuthRequest).Server())
	read := func(cfg *tls.Config) error {
		c, err := tls.Dial("tcp", addr, cfg)
		if err != nil {
			return err
		}
		defer c.Close()
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		_, err = c.Read(make([]byte, 1))
		return err
	}
	if err := read(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1"}); err != nil {
		t.Errorf("no certificate: %v", err)
	}
	other, _ := certs.NewCA("other", time.Hour)
	stranger, _ := other.Issue(certs.Leaf{CommonName: "x", Client: true})
	pair, _ := stranger.TLSCertificate()
	if err := read(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", GetClientCertificate: always(pair)}); err == nil {
		t.Error("a certificate of another CA was accepted")
	}
}

// always sends pair whatever CAs the server names (a client given only
// Certificates sends none that the server's CAs did not sign).
func always(pair tls.Certificate) func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
	return func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &pair, nil }
}
