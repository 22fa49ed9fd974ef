package e2e

import (
	"bytes"
	"context"
	"crypto/rand"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// `strata dev` takes the gateway's Kafka settings and the controller's
// topic defaults, and its gateway and controller use them: a produce to a
// missing topic creates it with --num-partitions and
// --default-replication-factor, CreateTopics with -1 takes them too, and
// both carry --default-topic-config.
func TestDevPassesKafkaSettings(t *testing.T) {
	grpcAddr, kafkaAddr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t), testutil.FreeAddr(t)
	start(t, "dev", "dev", "--data-dir", t.TempDir(), "--grpc-addr", grpcAddr, "--http-addr", httpAddr,
		"--kafka-addr", kafkaAddr, "--auto-create-topics-enable", "--num-partitions", "4", "--default-replication-factor", "2",
		"--default-topic-config", "retention.ms=3600000", "--max-incremental-fetch-session-cache-slots", "10",
		"--max-connections-per-ip", "20", "--fetch-read-ahead-bytes", "8388608")
	waitHealthy(t, grpcAddr, 60*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	cl, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.AllowAutoTopicCreation(), kgo.DefaultProduceTopic("auto"))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := cl.ProduceSync(ctx, &kgo.Record{Value: []byte("hello")}).FirstErr(); err != nil {
		t.Fatalf("produce to a topic auto-created by dev's gateway: %v", err)
	}

	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 30000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = "defaults", -1, -1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		t.Fatalf("create with defaults: %v %+v", err, resp)
	}

	for _, name := range []string{"auto", "defaults"} {
		var ti topicInfo
		cliJSON(t, &ti, "topic", "describe", name, "--server", grpcAddr)
		if len(ti.Partitions) != 4 || len(ti.Partitions[0].Replicas) != 2 || ti.Configs["retention.ms"] != "3600000" {
			t.Errorf("%s: %d partitions, %d replicas, configs %v; want 4, 2 and retention.ms=3600000",
				name, len(ti.Partitions), len(ti.Partitions[0].Replicas), ti.Configs)
		}
	}

	// franz-go consumes with a fetch session, which the gateway's metrics show.
	cons, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ConsumeTopics("auto"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	if fs := cons.PollRecords(ctx, 1); len(fs.Records()) != 1 || fs.Err() != nil {
		t.Fatalf("consume: %v %v", fs.Records(), fs.Err())
	}
	waitForMetrics(t, httpAddr, `(?m)^strata_gateway_kafka_fetch_sessions [1-9]`)

	// A consumer with a backlog is read ahead (--fetch-read-ahead-bytes
	// reaches dev's gateway), and gets every record once, in order.
	var batch []*kgo.Record
	for i := range 2000 {
		value := make([]byte, 2048)
		_, _ = rand.Read(value) // incompressible: the backlog stays 4 MB
		batch = append(batch, &kgo.Record{Topic: "defaults", Key: []byte(strconv.Itoa(i)), Value: value})
	}
	for i := 0; i < len(batch); i += 100 { // batches of ~50 KiB a partition
		if err := cl.ProduceSync(ctx, batch[i:i+100]...).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
	backlog, err := kgo.NewClient(kgo.SeedBrokers(kafkaAddr), kgo.ConsumeTopics("defaults"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxPartitionBytes(128<<10))
	if err != nil {
		t.Fatal(err)
	}
	defer backlog.Close()
	next := map[int32]int64{}
	for got := 0; got < len(batch); {
		fs := backlog.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatalf("consume the backlog: %v", err)
		}
		for _, r := range fs.Records() {
			i, _ := strconv.Atoi(string(r.Key))
			if r.Offset != next[r.Partition] || !bytes.Equal(r.Value, batch[i].Value) {
				t.Fatalf("partition %d: offset %d (%d bytes) after %d", r.Partition, r.Offset, len(r.Value), next[r.Partition]-1)
			}
			next[r.Partition]++
			got++
		}
	}
	waitForMetrics(t, httpAddr, `(?m)^strata_gateway_kafka_fetch_read_aheads_used_total [1-9]`)

	// --max-connections-per-ip reaches dev's gateway: past 20 connections
	// from this host, the next are closed at accept and counted.
	for range 30 {
		c, err := net.Dial("tcp", kafkaAddr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
	}
	waitForMetrics(t, httpAddr, `(?m)^strata_gateway_kafka_connections_rejected_total [1-9]`,
		// dev's default soft memory limit (100 MiB while the live heap is
		// small), as the Go collector reports it...
		`(?m)^go_gc_gomemlimit_bytes 1\.048576e\+08$`,
		// ...which is the only trigger: GOGC is off (the runtime reports -1
		// as an unsigned number).
		`(?m)^go_gc_gogc_percent 1\.8446744073709552e\+19$`)

	// A bad Kafka setting stops dev with the flag's name.
	_, errOut, code := cli(t, "dev", "--data-dir", t.TempDir(), "--grpc-addr", testutil.FreeAddr(t), "--http-addr", testutil.FreeAddr(t),
		"--kafka-addr", testutil.FreeAddr(t), "--num-partitions", "0")
	if code == 0 || !strings.Contains(errOut, "num-partitions") {
		t.Fatalf("dev with --num-partitions 0: exit %d, %q", code, errOut)
	}
	_, errOut, code = cli(t, "dev", "--data-dir", t.TempDir(), "--grpc-addr", testutil.FreeAddr(t), "--http-addr", testutil.FreeAddr(t),
		"--kafka-addr", testutil.FreeAddr(t), "--memory-limit-mib", "-1")
	if code == 0 || !strings.Contains(errOut, "memory-limit-mib") {
		t.Fatalf("dev with --memory-limit-mib -1: exit %d, %q", code, errOut)
	}
}

// waitForMetrics waits until the /metrics page at httpAddr matches every
// pattern, and fails naming the first that never did.
func waitForMetrics(t *testing.T, httpAddr string, patterns ...string) {
	t.Helper()
	testutil.WaitFor(t, 10*time.Second, func() error {
		resp, err := http.Get("http://" + httpAddr + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		for _, p := range patterns {
			if !regexp.MustCompile(p).Match(body) {
				return fmt.Errorf("no %s in the metrics", p)
			}
		}
		return nil
	})
}
