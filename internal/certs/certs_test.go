package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// A storage node's certificate carries its id, a peer verifies it against
// the CA over a real TLS handshake, and reads the identity back.
func TestIssuedIdentityOverMutualTLS(t *testing.T) {
	ca, err := NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(Leaf{CommonName: "controller", Hosts: []string{"127.0.0.1", "localhost"}, Identity: Identity{Role: RoleController}})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Issue(Leaf{CommonName: "storage-2", Identity: Identity{Role: RoleStorage, NodeID: 2}, Client: true})
	if err != nil {
		t.Fatal(err)
	}
	srvCert, _ := srv.TLSCertificate()
	cliCert, _ := cli.TLSCertificate()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{
		Certificates: []tls.Certificate{srvCert}, ClientCAs: ca.Pool(),
		ClientAuth: tls.RequireAndVerifyClientCert, MinVersion: tls.VersionTLS12,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	got := make(chan Identity, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		tc := c.(*tls.Conn)
		if err := tc.Handshake(); err != nil {
			got <- Identity{Role: "handshake failed: " + err.Error()}
			return
		}
		id, _ := IdentityOf(tc.ConnectionState().PeerCertificates[0])
		got <- id
		_, _ = io.Copy(io.Discard, c)
	}()
	c, err := tls.Dial("tcp", ln.Addr().String(), &tls.Config{Certificates: []tls.Certificate{cliCert}, RootCAs: ca.Pool(), ServerName: "localhost"})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if id := <-got; id != (Identity{Role: RoleStorage, NodeID: 2}) {
		t.Fatalf("server saw identity %+v, want storage/2", id)
	}
	if s := c.ConnectionState().PeerCertificates[0]; s.Subject.CommonName != "controller" {
		t.Fatalf("client saw server %q", s.Subject.CommonName)
	}
}

func TestIdentityOfIgnoresForeignURIs(t *testing.T) {
	for _, raw := range []string{"spiffe://storage/2", "strata://admin/1", "strata://storage/x", "strata://storage/-3"} {
		u, _ := url.Parse(raw)
		if _, ok := IdentityOf(&x509.Certificate{URIs: []*url.URL{u}}); ok {
			t.Errorf("%s read as a role identity", raw)
		}
	}
}

func TestExpandHosts(t *testing.T) {
	got, err := ExpandHosts([]string{"c1", "172.28.5.0/30", "10.0.0.9"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "c1 172.28.5.0 172.28.5.1 172.28.5.2 172.28.5.3 10.0.0.9"; strings.Join(got, " ") != want {
		t.Fatalf("got %v, want %s", got, want)
	}
	for _, bad := range []string{"10.0.0.0/21", "fd00::/120", "10.0.0.0/33", "x/24"} {
		if _, err := ExpandHosts([]string{bad}); err == nil {
			t.Errorf("%s: no error", bad)
		}
	}
	if _, err := ExpandHosts([]string{"10.0.0.0/22", "10.0.4.0/30"}); err == nil {
		t.Error("more than MaxExpandedHosts addresses in all: no error")
	}
}

func TestWriteSharedStorage(t *testing.T) {
	dir := t.TempDir()
	if err := WriteCluster(dir, nil, 0, time.Hour*24); err != nil {
		t.Fatal(err)
	}
	if err := WriteSharedStorage(dir, []string{"10.1.2.3"}, 24*time.Hour); err != nil {
		t.Fatal(err)
	}
	pair, err := tls.LoadX509KeyPair(filepath.Join(dir, "storage.crt"), filepath.Join(dir, "storage.key"))
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		t.Fatal(err)
	}
	if id, ok := IdentityOf(cert); !ok || id != (Identity{Role: RoleStorage}) {
		t.Fatalf("identity %v %v, want storage without node id", id, ok)
	}
	if err := cert.VerifyHostname("10.1.2.3"); err != nil {
		t.Fatal(err)
	}
	if err := WriteSharedStorage(dir, nil, 24*time.Hour); err == nil {
		t.Fatal("storage.crt overwritten")
	}
}
