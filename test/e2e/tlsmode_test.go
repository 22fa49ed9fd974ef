package e2e

import (
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/tlsconf"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// With STRATA_E2E_TLS=1 every multi-process cluster (newCluster) runs with
// TLS on every role and mTLS between them, so the replication and fault
// suites prove the same behaviour over mTLS. The Kafka listener stays
// plaintext in that mode so Kafka clients need no change; TestTLSCluster
// covers Kafka over SSL.

// tlsAddrs maps the gRPC address of every role of a TLS cluster to its
// certificate dir, so the test helpers dial them over TLS.
var tlsAddrs sync.Map

// suiteTLSDir returns the certificates of STRATA_E2E_TLS mode ("" when
// off), one set for the whole run.
var suiteTLSDir = sync.OnceValues(func() (string, error) {
	if os.Getenv("STRATA_E2E_TLS") != "1" {
		return "", nil
	}
	dir, err := os.MkdirTemp("", "strata-e2e-certs")
	if err != nil {
		return "", err
	}
	return dir, certs.WriteCluster(dir, nil, 16, 24*time.Hour)
})

func suiteTLS(t *testing.T) string {
	t.Helper()
	dir, err := suiteTLSDir()
	if err != nil {
		t.Fatal(err)
	}
	return dir
}

func markTLS(dir, addr string) {
	if dir != "" {
		tlsAddrs.Store(addr, dir)
	}
}

func tlsDirOf(addr string) string {
	if d, ok := tlsAddrs.Load(addr); ok {
		return d.(string)
	}
	return ""
}

// roleCreds are the credentials to dial addr with: plaintext unless addr
// is a role of a TLS cluster, then the gateway certificate (the one the
// storage data plane and admin calls accept).
func roleCreds(addr string) credentials.TransportCredentials {
	dir := tlsDirOf(addr)
	if dir == "" {
		return nil
	}
	cfg, err := tlsconf.ClientFiles(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "gateway.crt"), filepath.Join(dir, "gateway.key"))
	if err != nil {
		panic(err) // the files were written by this run
	}
	return credentials.NewTLS(cfg)
}

// dialRole dials a role as rpc.Dial does, over TLS for a TLS cluster.
func dialRole(addr string) (*grpc.ClientConn, error) { return rpc.DialCreds(roleCreds(addr), addr) }

// cliTLSEnv is the environment that points the CLI at the client
// certificate when args name a TLS cluster's --server.
func cliTLSEnv(args []string) []string {
	for i, a := range args {
		if a == "--server" && i+1 < len(args) {
			if dir := tlsDirOf(args[i+1]); dir != "" {
				return []string{"STRATA_TLS_CA=" + filepath.Join(dir, "ca.crt"),
					"STRATA_TLS_CERT=" + filepath.Join(dir, "client.crt"), "STRATA_TLS_KEY=" + filepath.Join(dir, "client.key")}
			}
		}
	}
	return nil
}
