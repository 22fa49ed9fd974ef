package bench

import (
	"cmp"
	"context"
	"crypto/rand"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// BenchmarkScaling measures how Strata scales on `strata dev`: produce
// throughput and latency at 6, 60 and 600 partitions under the same total
// load; the time to create a topic of 10,000 partitions and for every
// storage node to open its replicas; the restart time of a node holding
// 10,000 segments; the gateway's CPU per MB/s (a gateway process of its
// own beside the dev cluster); and acks=all latency against load over
// Kafka and gRPC, drawn into docs/performance-latency.svg. Run with `make
// bench-scaling` (BENCH_QUICK=1: smaller figures, no plot written).
func BenchmarkScaling(b *testing.B) {
	quick := os.Getenv("BENCH_QUICK") != ""
	records, latFor, bigTopic, segments := 100_000, 3*time.Second, 10_000, 10_000
	if quick {
		records, latFor, bigTopic, segments = 20_000, time.Second, 1_000, 1_000
	}
	value := make([]byte, 1024)
	_, _ = rand.Read(value)
	for range b.N {
		dev := startDevProc(b, devOptions{})
		// The curve and the gateway's CPU first: a topic of hundreds of
		// partitions, idle or not, slows every replica fetch after it.
		latencyCurve(b, dev, quick)
		gatewayCPU(b, dev, value, records)
		// kfake at the same partition counts shows what the client's own
		// batching (fewer records per batch) costs.
		fake, err := kfake.NewCluster(kfake.NumBrokers(3))
		if err != nil {
			b.Fatal(err)
		}
		fakeAddr := fake.ListenAddrs()[0]
		fmt.Printf("\n%-28s %12s %12s %8s %10s %10s\n", "RF=3 acks=all, same load", "kfake MB/s", "strata MB/s", "ratio", "p50 ms", "p99 ms")
		for _, parts := range []int32{6, 60, 600} {
			topic := fmt.Sprintf("scale-%d", parts)
			for _, addr := range []string{fakeAddr, dev.kafka} {
				if err := benchTopicN(addr, topic, parts, 3); err != nil {
					b.Fatal(err)
				}
			}
			base, err := kafkaProduce(fakeAddr, topic, kgo.AllISRAcks(), records, value)
			if err != nil {
				b.Fatal(err)
			}
			rate, err := kafkaProduce(dev.kafka, topic, kgo.AllISRAcks(), records, value)
			if err != nil {
				b.Fatal(err)
			}
			p50, p99, err := kafkaLatencyAt(dev.kafka, topic, value[:100], 20, latFor)
			if err != nil {
				b.Fatal(err)
			}
			fmt.Printf("%-28s %12.1f %12.1f %8.2f %10.2f %10.2f\n", fmt.Sprintf("%d partitions (20k rec/s)", parts), base*1024/1e6, rate*1024/1e6, rate/base, ms(p50), ms(p99))
		}
		fake.Close()
		// What the 600 partitions cost a small topic while they are idle.
		p50, p99, err := kafkaLatencyAt(dev.kafka, "scale-6", value[:100], 20, latFor)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%-28s %12s %12s %8s %10.2f %10.2f\n", "6 beside 600 idle", "", "", "", ms(p50), ms(p99))

		// The topic of many partitions: RF=1, as one process holding
		// 10,000 × 3 replicas would pass the open-file limit (one file each).
		created, opened := createMany(b, dev, "many", int32(bigTopic))
		fmt.Printf("\n%-52s %10.1f s\n%-52s %10.1f s\n", fmt.Sprintf("create a topic of %d partitions (leaders ready)", bigTopic), created.Seconds(),
			"… and every storage node lists its replicas", opened.Seconds())
		dev.kill()

		// A node holding many segments: one batch per segment.
		seg := startDevProc(b, devOptions{})
		writeSegments(b, seg, "segs", segments)
		for _, how := range []string{"clean stop", "SIGKILL"} {
			if how == "clean stop" {
				seg.stop()
			} else {
				seg.kill()
			}
			t0 := time.Now()
			seg.start(b, devOptions{})
			up := time.Since(t0)
			if err := benchTopicN(seg.kafka, "segs", 10, 1); err != nil {
				b.Fatal(err)
			}
			fmt.Printf("%-52s %10.1f s (process up %.1f s)\n", fmt.Sprintf("restart after %s, %d segments, until readable", how, segments), time.Since(t0).Seconds(), up.Seconds())
		}
		seg.kill()
	}
}

// gatewayCPU runs a gateway process of its own beside the dev cluster and
// reports its CPU time per MB produced (1 KiB, RF=3 acks=all) and
// consumed through it.
func gatewayCPU(b *testing.B, dev *devProc, value []byte, records int) {
	kafka, grpcAddr, httpAddr := kafkaFreeAddr(b), kafkaFreeAddr(b), kafkaFreeAddr(b)
	cmd := exec.Command(dev.bin, "gateway", "--controllers", dev.controller, "--kafka-addr", kafka, "--advertise-kafka", kafka,
		"--grpc-addr", grpcAddr, "--advertise-grpc", grpcAddr, "--http-addr", httpAddr, "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	testutil.WaitFor(b, time.Minute, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return rpc.CheckHealth(ctx, grpcAddr)
	})
	if err := benchTopicN(kafka, "gwcpu", 6, 3); err != nil {
		b.Fatal(err)
	}
	pid := cmd.Process.Pid
	c0, t0 := cpuTime(pid), time.Now()
	rate, err := kafkaProduce(kafka, "gwcpu", kgo.AllISRAcks(), records, value)
	if err != nil {
		b.Fatal(err)
	}
	c1, t1 := cpuTime(pid), time.Now()
	crate, err := kafkaConsume(kafka, "gwcpu", "gwcpu", records)
	if err != nil {
		b.Fatal(err)
	}
	c2, t2 := cpuTime(pid), time.Now()
	mb := float64(records) * float64(len(value)) / 1e6
	// CPU seconds per GB is also cores per GB/s; a tenth of it is cores
	// per 100 MB/s.
	fmt.Printf("\n%-28s %10s %14s %22s %10s\n", "gateway process alone", "MB/s", "CPU s per GB", "cores per 100 MB/s", "wall s")
	for _, r := range []struct {
		name      string
		rate, cpu float64
		wall      time.Duration
	}{{"produce 1 KiB RF=3 acks=all", rate, c1 - c0, t1.Sub(t0)}, {"consume 1 KiB (group)", crate, c2 - c1, t2.Sub(t1)}} {
		fmt.Printf("%-28s %10.1f %14.2f %22.3f %10.1f\n", r.name, r.rate*float64(len(value))/1e6, r.cpu/mb*1000, r.cpu/mb*100, r.wall.Seconds())
	}
}

// cpuTime is a process's user plus system CPU seconds.
func cpuTime(pid int) float64 {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses.
	s := string(data)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	if len(f) < 13 {
		return 0
	}
	u, _ := strconv.ParseFloat(f[11], 64)
	st, _ := strconv.ParseFloat(f[12], 64)
	return (u + st) / 100 // USER_HZ
}

// latencyCurve measures acks=all RF=3 latency of 100-byte records at rising
// loads over Kafka (linger 0) and ProduceStream, prints it and draws it.
func latencyCurve(b *testing.B, dev *devProc, quick bool) {
	conn, err := rpc.Dial(dev.grpc)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	sc := streamv1.NewStreamServiceClient(conn)
	rates := []int{5, 10, 20, 50, 100, 200} // records per ms
	dur := 3 * time.Second
	if quick {
		rates, dur = []int{5, 20, 100}, time.Second
	}
	value := make([]byte, 100)
	var pts []curvePoint
	fmt.Printf("\n%-28s %10s %10s %10s %10s\n", "latency 100 B RF=3 acks=all", "kafka p50", "kafka p99", "grpc p50", "grpc p99")
	for _, r := range rates {
		topic := fmt.Sprintf("curve-%d", r)
		if err := benchTopic(dev.kafka, topic, 3); err != nil {
			b.Fatal(err)
		}
		k50, k99, err := kafkaLatencyAt(dev.kafka, topic, value, r, dur)
		if err != nil {
			b.Fatal(err)
		}
		g50, g99, err := streamLatencyAt(sc, topic, value, r, dur, false)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Printf("%-28s %10.2f %10.2f %10.2f %10.2f\n", fmt.Sprintf("%dk rec/s", r), ms(k50), ms(k99), ms(g50), ms(g99))
		pts = append(pts, curvePoint{float64(r * 1000), [4]float64{ms(k50), ms(k99), ms(g50), ms(g99)}})
	}
	if quick {
		return
	}
	path := cmp.Or(os.Getenv("STRATA_BENCH_PLOT"), filepath.Join("..", "..", "docs", "performance-latency.svg"))
	if err := os.WriteFile(path, latencySVG(pts), 0o644); err != nil {
		b.Fatal(err)
	}
	fmt.Printf("plot written to %s\n", path)
}

// createMany creates a topic of n partitions (RF=1) through the Kafka API,
// which answers once every leader is ready, and then waits until the
// storage nodes together list all n replicas.
func createMany(b *testing.B, dev *devProc, topic string, n int32) (created, listed time.Duration) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(dev.kafka))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	t0 := time.Now()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 600_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, n, 1
	req.Topics = append(req.Topics, rt)
	resp, err := req.RequestWith(ctx, cl)
	if err != nil || resp.Topics[0].ErrorCode != 0 {
		b.Fatalf("create %d partitions: %v %+v", n, err, resp)
	}
	created = time.Since(t0)
	conn, err := rpc.Dial(dev.grpc)
	if err != nil {
		b.Fatal(err)
	}
	defer conn.Close()
	cluster, err := adminv1.NewAdminServiceClient(conn).DescribeCluster(ctx, &adminv1.DescribeClusterRequest{})
	if err != nil {
		b.Fatal(err)
	}
	var nodes []storagev1.StorageServiceClient
	for _, sn := range cluster.GetStorageNodes() {
		c, err := rpc.Dial(sn.GetAddress())
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		nodes = append(nodes, storagev1.NewStorageServiceClient(c))
	}
	for ctx.Err() == nil {
		total := 0
		for _, c := range nodes {
			r, err := c.ListReplicas(ctx, &storagev1.ListReplicasRequest{})
			if err != nil {
				b.Fatal(err)
			}
			for _, rep := range r.GetReplicas() {
				if rep.GetTopic() == topic {
					total++
				}
			}
		}
		if total >= int(n) {
			return created, time.Since(t0)
		}
		time.Sleep(20 * time.Millisecond) // polling the nodes, not synchronising the measure
	}
	b.Fatal(ctx.Err())
	return 0, 0
}

// writeSegments writes n batches of one 2 KiB record to a 10-partition
// RF=1 topic whose segments roll after 1 KiB: one segment per batch.
func writeSegments(b *testing.B, dev *devProc, topic string, n int) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(dev.kafka), kgo.DefaultProduceTopic(topic), kgo.ProducerBatchMaxBytes(2500),
		kgo.RequiredAcks(kgo.LeaderAck()), kgo.DisableIdempotentWrite(), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		b.Fatal(err)
	}
	defer cl.Close()
	req := kmsg.NewPtrCreateTopicsRequest()
	req.TimeoutMillis = 60_000
	rt := kmsg.NewCreateTopicsRequestTopic()
	rt.Topic, rt.NumPartitions, rt.ReplicationFactor = topic, 10, 1
	c := kmsg.NewCreateTopicsRequestTopicConfig()
	c.Name, c.Value = "segment.bytes", kmsg.StringPtr("1024")
	rt.Configs = append(rt.Configs, c)
	req.Topics = append(req.Topics, rt)
	if resp, err := req.RequestWith(ctx, cl); err != nil || resp.Topics[0].ErrorCode != 0 {
		b.Fatalf("create %s: %v %+v", topic, err, resp)
	}
	value := make([]byte, 2048)
	for i := range n {
		if err := cl.ProduceSync(ctx, &kgo.Record{Value: value, Partition: int32(i % 10)}).FirstErr(); err != nil {
			b.Fatal(err)
		}
	}
}
