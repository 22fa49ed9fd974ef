package e2e

import (
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// kafkaCluster starts a cluster with one controller, three storage nodes
// and a gateway, and creates the topics (name → partitions) with
// replication factor 3, so the clients' defaults (idempotent producer,
// acks=all) wait for the ISR.
func kafkaCluster(t *testing.T, topics map[string]int) *cluster {
	t.Helper()
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	names := make([]string, 0, len(topics))
	for name := range topics {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		c.admin("topic", "create", name, "--partitions", fmt.Sprint(topics[name]), "--replication-factor", "3")
	}
	waitTopicsReady(t, c, topics)
	return c
}

// waitTopicsReady waits until every partition answers ListOffsets through
// the gateway (its leader has opened it).
func waitTopicsReady(t *testing.T, c *cluster, topics map[string]int) {
	t.Helper()
	cl := franzClient(t, c)
	testutil.WaitFor(t, 30*time.Second, func() error {
		req := kmsg.NewPtrListOffsetsRequest()
		for name, n := range topics {
			rt := kmsg.NewListOffsetsRequestTopic()
			rt.Topic = name
			for p := range n {
				rp := kmsg.NewListOffsetsRequestTopicPartition()
				rp.Partition, rp.Timestamp = int32(p), -1
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := req.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if rp.ErrorCode != 0 {
					return fmt.Errorf("%s-%d: error %d", rt.Topic, rp.Partition, rp.ErrorCode)
				}
			}
		}
		return nil
	})
	cl.Close()
}

func franzClient(t *testing.T, c *cluster, opts ...kgo.Opt) *kgo.Client {
	t.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(c.kafka)}, opts...)...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return cl
}

// consumeN polls cl until it has n records or the timeout passes.
func consumeN(t *testing.T, cl *kgo.Client, n int, timeout time.Duration) []*kgo.Record {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	var out []*kgo.Record
	for len(out) < n {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("consumed %d of %d records within %v", len(out), n, timeout)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		out = append(out, fs.Records()...)
	}
	return out
}

func TestKafkaFranzGoProduceConsumeCodecs(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"events": 6})
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	codecs := map[string]kgo.CompressionCodec{"none": kgo.NoCompression(), "gzip": kgo.GzipCompression(),
		"snappy": kgo.SnappyCompression(), "lz4": kgo.Lz4Compression(), "zstd": kgo.ZstdCompression()}
	want := map[string]bool{}
	for name, codec := range codecs {
		// The default producer: idempotent, acks=all.
		p := franzClient(t, c, kgo.ProducerBatchCompression(codec), kgo.DefaultProduceTopic("events"))
		var rs []*kgo.Record
		for i := range 200 {
			v := fmt.Sprintf("%s-%d-%s", name, i, strings.Repeat("x", i%50))
			want[v] = true
			rs = append(rs, &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(v)})
		}
		if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", name, err)
		}
	}
	cons := franzClient(t, c, kgo.ConsumeTopics("events"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	got := consumeN(t, cons, len(want), 30*time.Second)
	perPartition := map[int32]int64{}
	for _, r := range got {
		if !want[string(r.Value)] {
			t.Fatalf("unexpected record %q", r.Value)
		}
		delete(want, string(r.Value))
		if next, ok := perPartition[r.Partition]; ok && r.Offset != next {
			t.Fatalf("partition %d: offset %d after %d", r.Partition, r.Offset, next-1)
		}
		perPartition[r.Partition] = r.Offset + 1
	}
	if len(want) != 0 {
		t.Fatalf("%d records never consumed", len(want))
	}
	// ListOffsets: the end offsets add up to what was produced.
	var total int64
	for _, end := range perPartition {
		total += end
	}
	if total != 1000 {
		t.Fatalf("end offsets sum to %d, want 1000", total)
	}
}

func TestKafkaKcat(t *testing.T) {
	kcat, err := exec.LookPath("kcat")
	if err != nil {
		t.Skip("kcat (librdkafka) is not installed: apt-get install kcat (.ci/run does); skipping the librdkafka tests")
	}
	c := kafkaCluster(t, map[string]int{"kc": 3})
	run := func(stdin string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		defer cancel()
		cmd := exec.CommandContext(ctx, kcat, append([]string{"-b", c.kafka}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("kcat %v: %v\n%s", args, err, out)
		}
		return string(out)
	}
	meta := run("", "-L")
	if !strings.Contains(meta, `topic "kc" with 3 partitions`) || !strings.Contains(meta, "broker 1 at "+c.kafka) {
		t.Fatalf("kcat -L:\n%s", meta)
	}
	var lines []string
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("zstd-%d", i))
	}
	run(strings.Join(lines, "\n")+"\n", "-P", "-t", "kc", "-z", "zstd")
	lines = lines[:0]
	for i := range 50 {
		lines = append(lines, fmt.Sprintf("lz4-%d", i))
	}
	run(strings.Join(lines, "\n")+"\n", "-P", "-t", "kc", "-z", "lz4", "-X", "enable.idempotence=true")
	out := run("", "-C", "-t", "kc", "-o", "beginning", "-e", "-q", "-f", "%s\n")
	got := strings.Fields(out)
	if len(got) != 100 {
		t.Fatalf("consumed %d records, want 100:\n%s", len(got), out)
	}
	seen := map[string]bool{}
	for _, v := range got {
		seen[v] = true
	}
	for i := range 50 {
		if !seen[fmt.Sprintf("zstd-%d", i)] || !seen[fmt.Sprintf("lz4-%d", i)] {
			t.Fatalf("record %d missing from %v", i, got)
		}
	}
}
