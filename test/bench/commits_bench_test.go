package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// BenchmarkOffsetCommits measures how many offset commits per second
// Strata's etcd-backed group offsets take (OffsetCommit through the
// gateway to the active controller, one etcd transaction per request),
// beside kfake in the same run: committers each commit all six partitions
// of a topic for their own group, one request after another, for 5 s.
// Run with `make bench-commits`; docs/kafka.md quotes it.
func BenchmarkOffsetCommits(b *testing.B) {
	kafka, _ := startKafkaDev(b)
	if err := benchTopic(kafka, "commits", 1); err != nil {
		b.Fatal(err)
	}
	fake, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(6, "commits"))
	if err != nil {
		b.Fatal(err)
	}
	defer fake.Close()
	for range b.N {
		fmt.Printf("\n%-11s %-6s %16s %16s %8s\n", "committers", "round", "kfake req/s", "strata req/s", "ratio")
		for _, n := range []int{1, 8} {
			for r := range 3 {
				k, err := commitRate(fake.ListenAddrs()[0], n, 5*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				s, err := commitRate(kafka, n, 5*time.Second)
				if err != nil {
					b.Fatal(err)
				}
				fmt.Printf("%-11d %-6d %16.0f %16.0f %8.2f\n", n, r+1, k, s, s/k)
			}
		}
	}
}

// commitRate runs n committers against addr for d and returns commit
// requests per second (each of six partition offsets).
func commitRate(addr string, n int, d time.Duration) (float64, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addr))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var done atomic.Int64
	var firstErr error
	var mu sync.Mutex
	var wg sync.WaitGroup
	start := time.Now()
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			group := fmt.Sprintf("bench-commits-%d-%d", i, start.UnixNano())
			for off := int64(1); ctx.Err() == nil; off++ {
				var os kadm.Offsets
				for p := range int32(6) {
					os.Add(kadm.Offset{Topic: "commits", Partition: p, At: off, LeaderEpoch: -1})
				}
				resp, err := adm.CommitOffsets(ctx, group, os)
				if ctx.Err() != nil {
					return
				}
				if err == nil {
					err = resp.Error()
				}
				if err != nil {
					mu.Lock()
					firstErr = err
					mu.Unlock()
					return
				}
				done.Add(1)
			}
		}()
	}
	wg.Wait()
	return float64(done.Load()) / time.Since(start).Seconds(), firstErr
}
