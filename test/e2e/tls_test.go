package e2e

import (
	"context"
	"net/http"
	"path/filepath"
	"strings"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kgo"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/status"
)

// A cluster whose every role serves TLS and speaks mTLS to the others:
// records go in and out over Kafka (SSL) and gRPC, and a storage node's
// certificate gets no further than its own node id.
func TestTLSCluster(t *testing.T) {
	dir := t.TempDir()
	if err := certs.WriteCluster(dir, nil, 3, time.Hour); err != nil {
		t.Fatal(err)
	}
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3, tlsDir: dir, gatewayArgs: []string{"--kafka-tls"}})
	c.admin("topic", "create", "orders", "--partitions", "3", "--replication-factor", "3")
	ca := filepath.Join(dir, "ca.crt")

	t.Run("kafka over SSL", func(t *testing.T) {
		cfg, err := tlsconf.ClientFiles(ca, "", "")
		if err != nil {
			t.Fatal(err)
		}
		cfg.ServerName = "127.0.0.1"
		cl, err := kgo.NewClient(kgo.SeedBrokers(c.kafka), kgo.DialTLSConfig(cfg), kgo.DefaultProduceTopic("orders"),
			kgo.ConsumeTopics("orders"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		for i := range 30 {
			if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte{byte(i)}}).FirstErr(); err != nil {
				t.Fatalf("produce over TLS: %v", err)
			}
		}
		if got := consumeN(t, cl, 30, 30*time.Second); len(got) != 30 {
			t.Fatalf("consumed %d records", len(got))
		}
		// A plaintext Kafka client gets nothing from the TLS port.
		plain, err := kgo.NewClient(kgo.SeedBrokers(c.kafka), kgo.RequestRetries(0))
		if err != nil {
			t.Fatal(err)
		}
		defer plain.Close()
		short, cancelShort := context.WithTimeout(ctx, 3*time.Second)
		defer cancelShort()
		if err := plain.Ping(short); err == nil {
			t.Error("a plaintext Kafka client was answered on the TLS listener")
		}
	})

	t.Run("grpc client with TLS", func(t *testing.T) {
		cfg, err := strata.TLSConfigFromFiles(ca, filepath.Join(dir, "client.crt"), filepath.Join(dir, "client.key"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		cl, err := strata.NewClient(ctx, c.gateway.grpc, strata.WithTLS(cfg))
		if err != nil {
			t.Fatal(err)
		}
		defer cl.Close()
		topics, err := cl.Admin().ListTopics(ctx)
		if err != nil {
			t.Fatalf("list topics over TLS: %v", err)
		}
		if len(topics) != 1 {
			t.Errorf("topics %v", topics)
		}
		// The CLI with the environment instead of flags.
		out, errOut, code := cliEnv(t, []string{"STRATA_TLS_CA=" + ca}, "topic", "list", "--server", c.gateway.grpc)
		if code != 0 || !strings.Contains(out, "orders") {
			t.Errorf("strata topic list with STRATA_TLS_CA: %q %q", out, errOut)
		}
	})

	t.Run("cli produce and consume", func(t *testing.T) {
		// The CLI's TLS environment for this cluster, and --kafka-tls.
		env := cliTLSEnv([]string{"--server", c.gateway.grpc})
		for _, proto := range []string{"grpc", "kafka"} {
			out, errOut, code := cliIn(t, env, "k:"+proto+"\n", "produce", "orders", "--key-separator", ":", "--partition", "1",
				"--protocol", proto, "--kafka-tls", "--server", c.gateway.grpc, "--brokers", c.kafka)
			if code != 0 || !strings.HasPrefix(out, "Produced to partition 1 at offset ") {
				t.Fatalf("produce --protocol %s over TLS: exit %d: %s%s", proto, code, out, errOut)
			}
		}
		for _, proto := range []string{"grpc", "kafka"} {
			out, errOut, code := cliIn(t, env, "", "consume", "orders", "-p", "1", "-o", "-2", "-e", "--format", `%k=%v,`,
				"--protocol", proto, "--kafka-tls", "--server", c.gateway.grpc, "--brokers", c.kafka)
			if code != 0 || out != "k=grpc,k=kafka," {
				t.Errorf("consume --protocol %s over TLS: exit %d, %q %s", proto, code, out, errOut)
			}
		}
		// Plaintext Kafka against the SSL listener fails in one line.
		if _, errOut, code := cliIn(t, env, "", "consume", "orders", "--protocol", "kafka", "--brokers", c.kafka, "--timeout", "2s"); code == 0 ||
			strings.Count(strings.TrimSpace(errOut), "\n") != 0 {
			t.Errorf("plaintext consume of the SSL listener: exit %d, %q", code, errOut)
		}
	})

	t.Run("https", func(t *testing.T) {
		cfg, err := tlsconf.ClientFiles(ca, "", "")
		if err != nil {
			t.Fatal(err)
		}
		hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: cfg}}
		resp, err := hc.Get("https://" + c.http + "/readyz")
		if err != nil {
			t.Fatalf("HTTPS readyz: %v", err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("HTTPS readyz: %s", resp.Status)
		}
		plain := &http.Client{Timeout: 10 * time.Second}
		if resp, err := plain.Get("http://" + c.http + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				t.Error("plain HTTP was served on the HTTPS port")
			}
		}
	})

	t.Run("storage identity", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		replicate := func(certName string, follower int32) error {
			tl, err := tlsconf.Load(tlsconf.Config{CertFile: filepath.Join(dir, certName+".crt"), KeyFile: filepath.Join(dir, certName+".key"),
				CAFile: ca, ClientAuth: tlsconf.AuthNone})
			if err != nil {
				t.Fatal(err)
			}
			conn, err := rpc.DialCreds(tl.ClientCreds(), c.storage[0].grpc)
			if err != nil {
				t.Fatal(err)
			}
			defer conn.Close()
			st, err := storagev1.NewStorageServiceClient(conn).Replicate(ctx)
			if err != nil {
				return err
			}
			if err := st.Send(&storagev1.ReplicateRequest{FollowerId: follower, MaxWaitMs: 1,
				Partitions: []*storagev1.ReplicaFetchPartition{{Topic: "orders", Partition: 0}}}); err != nil {
				return err
			}
			_, err = st.Recv()
			return err
		}
		if err := replicate("storage-2", 3); status.Code(err) != codes.PermissionDenied {
			t.Errorf("storage-2 fetching as follower 3: %v, want PERMISSION_DENIED", err)
		}
		if err := replicate("gateway", 2); status.Code(err) != codes.PermissionDenied {
			t.Errorf("a gateway fetching as follower 2: %v, want PERMISSION_DENIED", err)
		}
		if err := replicate("storage-2", 2); status.Code(err) == codes.PermissionDenied {
			t.Errorf("storage-2 fetching as itself: %v", err)
		}
		// No certificate: no answer from any internal port.
		for _, addr := range []string{c.controllers[0].grpc, c.storage[0].grpc} {
			short, cancelShort := context.WithTimeout(ctx, 2*time.Second)
			if err := rpc.CheckHealth(short, addr); err == nil {
				t.Errorf("%s answered a plaintext health check", addr)
			}
			cfg, _ := tlsconf.ClientFiles(ca, "", "")
			if err := rpc.CheckHealthCreds(short, credentials.NewTLS(cfg), addr); err == nil {
				t.Errorf("%s answered a TLS client without a certificate", addr)
			}
			cancelShort()
		}
	})
}
