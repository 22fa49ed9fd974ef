package tlsconf

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/rpc"
)

// A whole new CA and certificates, swapped in on both sides, are used by
// the next connections without restarting the server or the client.
func TestGRPCPicksUpANewCAOnBothSides(t *testing.T) {
	server, client := t.TempDir(), t.TempDir()
	writeSet := func() {
		dir := t.TempDir()
		if err := certs.WriteCluster(dir, nil, 0, time.Hour); err != nil {
			t.Fatal(err)
		}
		for side, name := range map[string]string{server: "controller", client: "gateway"} {
			for _, f := range []struct{ from, to string }{{name + ".crt", "role.crt"}, {name + ".key", "role.key"}, {"ca.crt", "ca.crt"}} {
				data, err := os.ReadFile(filepath.Join(dir, f.from))
				if err != nil {
					t.Fatal(err)
				}
				tmp := filepath.Join(side, f.to+".tmp")
				if err := os.WriteFile(tmp, data, 0o600); err != nil {
					t.Fatal(err)
				}
				if err := os.Rename(tmp, filepath.Join(side, f.to)); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	loadSide := func(dir string) *TLS {
		tl, err := Load(Config{CertFile: filepath.Join(dir, "role.crt"), KeyFile: filepath.Join(dir, "role.key"),
			CAFile: filepath.Join(dir, "ca.crt"), ClientAuth: AuthNone})
		if err != nil {
			t.Fatal(err)
		}
		return tl
	}
	writeSet()
	srvTLS, cliTLS := loadSide(server), loadSide(client)
	srv := rpc.NewServer(slogDiscard(), prometheus.NewRegistry(), rpc.WithCreds(srvTLS.InternalServerCreds()))
	srv.SetReady(true)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Stop(time.Second) })
	check := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return rpc.CheckHealthCreds(ctx, cliTLS.ClientCreds(), ln.Addr().String())
	}
	if err := check(); err != nil {
		t.Fatalf("first CA: %v", err)
	}
	writeSet()
	if err := check(); err != nil {
		t.Fatalf("after both sides moved to a new CA: %v", err)
	}
}
