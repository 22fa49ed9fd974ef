package certs

import (
	"crypto/tls"
	"crypto/x509"
	"io"
	"net/url"
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
