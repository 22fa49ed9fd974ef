package kafka

import (
	"context"
	"crypto/tls"
	"net"
	"strconv"
	"testing"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Metadata answers each connection with the brokers' addresses for its
// listener; a gateway without that listener is left out, one registered
// before named listeners keeps its single address.
func TestBrokersPerListener(t *testing.T) {
	cache := metadata.NewCache()
	gw := func(id int32, addr string, ls map[string]string) *metadatav1.Record {
		return &metadatav1.Record{Record: &metadatav1.Record_Gateway{Gateway: &metadatav1.GatewayRecord{GatewayId: id, KafkaAddress: addr, KafkaListeners: ls}}}
	}
	cache.Apply(&controllerv1.WatchMetadataResponse{Snapshot: true, Revision: 1, Upserts: []*metadatav1.Record{
		gw(1, "h1:9092", map[string]string{"PLAINTEXT": "h1:9092", "SASL_SSL": "h1:9093"}),
		gw(2, "h2:9092", map[string]string{"PLAINTEXT": "h2:9092"}),
		gw(3, "h3:9092", nil),
	}})
	s := &Server{d: Deps{Cache: cache, NodeID: 1}}
	for _, tc := range []struct {
		listener string
		want     map[int32]string
	}{
		{"PLAINTEXT", map[int32]string{1: "h1:9092", 2: "h2:9092", 3: "h3:9092"}},
		{"SASL_SSL", map[int32]string{1: "h1:9093", 3: "h3:9092"}},
	} {
		ctx := context.WithValue(context.Background(), connKey{}, &conn{l: &Listener{Name: tc.listener, Advertise: "self:1"}})
		got := map[int32]string{}
		for _, b := range s.brokers(ctx) {
			got[b.id] = net.JoinHostPort(b.host, itoa(b.port))
		}
		if len(got) != len(tc.want) {
			t.Fatalf("%s: %v, want %v", tc.listener, got, tc.want)
		}
		for id, a := range tc.want {
			if got[id] != a {
				t.Errorf("%s: broker %d at %s, want %s", tc.listener, id, got[id], a)
			}
		}
	}
}

func itoa(p int32) string { return strconv.Itoa(int(p)) }

// On an SSL listener a verified client certificate is the principal
// User:<CN>; a plaintext client fails the handshake and is closed.
func TestSSLListenerCertificatePrincipal(t *testing.T) {
	ca, err := certs.NewCA("test CA", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	srv, err := ca.Issue(certs.Leaf{CommonName: "gateway", Hosts: []string{"127.0.0.1"}, Server: true, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	cli, err := ca.Issue(certs.Leaf{CommonName: "carol", Client: true, Validity: time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	srvCert, _ := srv.TLSCertificate()
	cliCert, _ := cli.TLSCertificate()
	cfg := &tls.Config{Certificates: []tls.Certificate{srvCert}, ClientCAs: ca.Pool(), ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS12}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(nil, Config{}, Deps{Cache: metadata.NewCache(),
		Listeners: []Listener{{Name: "SSL", Protocol: SSL, Ln: ln, Advertise: ln.Addr().String(), TLS: cfg}}})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(time.Second) })

	cl, err := kgo.NewClient(kgo.SeedBrokers(ln.Addr().String()),
		kgo.DialTLSConfig(&tls.Config{RootCAs: ca.Pool(), ServerName: "127.0.0.1", Certificates: []tls.Certificate{cliCert}}))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		t.Fatal(err)
	}
	if ps := connPrincipals(s); len(ps) != 1 || ps[0] != auth.User("carol") {
		t.Fatalf("principals %v", ps)
	}
	cl.Close()

	r := dialRaw(t, ln.Addr().String())
	r.write(frame(kmsg.NewPtrApiVersionsRequest(), 1))
	if !r.closed(5 * time.Second) {
		t.Fatal("a plaintext client stays connected to the TLS port")
	}
	testutil.WaitFor(t, 5*time.Second, func() error {
		if n := s.ConnCount(); n != 0 {
			return net.ErrClosed
		}
		return nil
	})
}
