// Package bench holds benchmarks that drive a real `strata dev` cluster.
// Run: make bench-replication (go test -bench . -benchtime 1x ./test/bench/).
package bench

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sync"
	"syscall"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/testutil"
)

// devCluster is a `strata dev` process and clients for its storage leaders.
type devCluster struct {
	admin   adminv1.AdminServiceClient
	storage map[int32]storagev1.StorageServiceClient
}

func startDev(b *testing.B) *devCluster {
	b.Helper()
	dir := b.TempDir()
	bin := filepath.Join(dir, "strata")
	if out, err := exec.Command("go", "build", "-o", bin, "../../cmd/strata").CombinedOutput(); err != nil {
		b.Fatalf("build: %v\n%s", err, out)
	}
	grpcAddr := testutil.FreeAddr(b)
	cmd := exec.Command(bin, "dev", "--data-dir", filepath.Join(dir, "data"), "--grpc-addr", grpcAddr,
		"--http-addr", testutil.FreeAddr(b), "--kafka-addr", testutil.FreeAddr(b), "--log-level", "warn")
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGINT)
		_ = cmd.Wait()
	})
	testutil.WaitFor(b, 60*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return rpc.CheckHealth(ctx, grpcAddr)
	})
	conn, err := rpc.Dial(grpcAddr)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { conn.Close() })
	d := &devCluster{admin: adminv1.NewAdminServiceClient(conn), storage: map[int32]storagev1.StorageServiceClient{}}
	cl, err := d.admin.DescribeCluster(context.Background(), &adminv1.DescribeClusterRequest{})
	if err != nil {
		b.Fatal(err)
	}
	for _, n := range cl.GetStorageNodes() {
		c, err := rpc.Dial(n.GetAddress())
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { c.Close() })
		d.storage[n.GetId()] = storagev1.NewStorageServiceClient(c)
	}
	return d
}

// createTopic creates a topic and returns each partition's leader, once
// every partition accepts writes.
func (d *devCluster) createTopic(b *testing.B, name string, partitions, rf int32, configs map[string]string, acks storagev1.Acks) []int32 {
	b.Helper()
	resp, err := d.admin.CreateTopic(context.Background(), &adminv1.CreateTopicRequest{Name: name, Partitions: partitions, ReplicationFactor: rf, Configs: configs})
	if err != nil {
		b.Fatal(err)
	}
	leaders := make([]int32, partitions)
	for _, p := range resp.GetTopic().GetPartitions() {
		leaders[p.GetPartition()] = p.GetLeader()
	}
	warm := batch(b, 1, 10)
	for p := range partitions {
		testutil.WaitFor(b, 30*time.Second, func() error {
			r, err := d.storage[leaders[p]].Produce(context.Background(), &storagev1.ProduceRequest{Acks: acks, TimeoutMs: 5000,
				Partitions: []*storagev1.ProducePartition{{Topic: name, Partition: p, Records: slices.Clone(warm)}}})
			if err == nil && r.GetPartitions()[0].GetError() != nil {
				err = fmt.Errorf("%v", r.GetPartitions()[0].GetError())
			}
			return err
		})
	}
	return leaders
}

// batch is a producer batch of n records with size-byte random values.
func batch(b *testing.B, n, size int) []byte {
	b.Helper()
	recs := make([]recordbatch.BuildRecord, n)
	for i := range recs {
		v := make([]byte, size)
		for j := range v {
			v[j] = byte(i*31 + j*7)
		}
		recs[i] = recordbatch.BuildRecord{Value: v, Timestamp: time.Now().UnixMilli()}
	}
	out, err := recordbatch.Build(recordbatch.ProducerOptions(codec.None), recs)
	if err != nil {
		b.Fatal(err)
	}
	return out
}

// throughput sends total records in batches of perBatch from one producer
// per partition and returns records per second.
func (d *devCluster) throughput(b *testing.B, topic string, leaders []int32, acks storagev1.Acks, total, perBatch int) float64 {
	b.Helper()
	body := batch(b, perBatch, 100)
	per := total / len(leaders) / perBatch
	start := time.Now()
	var wg sync.WaitGroup
	for p, leader := range leaders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range per {
				r, err := d.storage[leader].Produce(context.Background(), &storagev1.ProduceRequest{Acks: acks, TimeoutMs: 30000,
					Partitions: []*storagev1.ProducePartition{{Topic: topic, Partition: int32(p), Records: slices.Clone(body)}}})
				if err != nil || r.GetPartitions()[0].GetError() != nil {
					b.Errorf("produce: %v %v", err, r.GetPartitions()[0].GetError())
					return
				}
			}
		}()
	}
	wg.Wait()
	return float64(per*len(leaders)*perBatch) / time.Since(start).Seconds()
}

// latency sends rate records/s for d in batches of perBatch, round robin
// over the partitions, and returns the p50 and p99 produce latency.
func (d *devCluster) latency(b *testing.B, topic string, leaders []int32, acks storagev1.Acks, rate, perBatch int, dur time.Duration) (p50, p99 time.Duration) {
	b.Helper()
	body := batch(b, perBatch, 100)
	interval := time.Second * time.Duration(perBatch) / time.Duration(rate)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	end := time.Now().Add(dur)
	for i := 0; time.Now().Before(end); i++ {
		<-tick.C
		p := i % len(leaders)
		wg.Add(1)
		go func() {
			defer wg.Done()
			t0 := time.Now()
			r, err := d.storage[leaders[p]].Produce(context.Background(), &storagev1.ProduceRequest{Acks: acks, TimeoutMs: 30000,
				Partitions: []*storagev1.ProducePartition{{Topic: topic, Partition: int32(p), Records: slices.Clone(body)}}})
			if err != nil || r.GetPartitions()[0].GetError() != nil {
				b.Errorf("produce: %v %v", err, r.GetPartitions()[0].GetError())
				return
			}
			mu.Lock()
			lat = append(lat, time.Since(t0))
			mu.Unlock()
		}()
	}
	wg.Wait()
	slices.Sort(lat)
	return lat[len(lat)/2], lat[len(lat)*99/100]
}

// BenchmarkReplication measures the cost of replication on one machine:
// produce throughput with RF=3 acks=all against RF=1 acks=1 (same records,
// same run) and produce latency at a fixed 5,000 records/s.
func BenchmarkReplication(b *testing.B) {
	d := startDev(b)
	rf1 := d.createTopic(b, "rf1", 6, 1, nil, storagev1.Acks_ACKS_LEADER)
	rf3 := d.createTopic(b, "rf3", 6, 3, map[string]string{"min.insync.replicas": "2"}, storagev1.Acks_ACKS_ALL)
	const total, perBatch = 600_000, 100
	b.ResetTimer()
	for range b.N {
		base := d.throughput(b, "rf1", rf1, storagev1.Acks_ACKS_LEADER, total, perBatch)
		repl := d.throughput(b, "rf3", rf3, storagev1.Acks_ACKS_ALL, total, perBatch)
		p50, p99 := d.latency(b, "rf3", rf3, storagev1.Acks_ACKS_ALL, 5000, 50, 5*time.Second)
		b.ReportMetric(base, "rf1-acks1-records/s")
		b.ReportMetric(repl, "rf3-acksall-records/s")
		b.ReportMetric(repl/base, "x-rf1")
		b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms@5k/s")
		b.ReportMetric(float64(p99.Microseconds())/1000, "p99-ms@5k/s")
	}
}
