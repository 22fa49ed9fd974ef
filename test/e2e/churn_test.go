package e2e

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// fetchLoopsMetric counts a storage node's replica fetch loops: one per
// leader node it follows something from.
const fetchLoopsMetric = "strata_storage_replica_fetch_loops"

// Log lines of a follower appending batches it already has: two fetch
// loops against one leader.
var doubleFetchLogs = []string{"appending replicated batches failed", "replicated offsets do not continue the log"}

// scrapeFetchLoops reads the fetch-loop gauge of a storage node.
func scrapeFetchLoops(n *node) (int, error) {
	resp, err := http.Get("http://" + flagValue(n.args, "--http-addr") + "/metrics")
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	page, err := io.ReadAll(resp.Body)
	if err != nil {
		return 0, err
	}
	m := regexp.MustCompile(`(?m)^` + fetchLoopsMetric + ` (\S+)$`).FindSubmatch(page)
	if m == nil {
		return 0, fmt.Errorf("%s: /metrics lacks %s", n.name, fetchLoopsMetric)
	}
	v, err := strconv.ParseFloat(string(m[1]), 64)
	return int(v), err
}

func fetchLoops(t *testing.T, n *node) int {
	t.Helper()
	v, err := scrapeFetchLoops(n)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

// Topics are created, written and deleted one after another while a
// long-lived topic takes writes. Every storage node keeps at most one fetch
// loop per leader it follows, never logs appending batches it already has
// (the symptom of two loops fetching from one leader), and the long-lived
// topic ends fully in sync with byte-identical replicas and every
// acknowledged record.
func TestTopicChurnRunsOneFetchLoopPerLeader(t *testing.T) {
	const (
		steady     = "steady"
		iterations = 20
		churnParts = 3
	)
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	// One partition: its followers keep a loop to its leader all along,
	// while their loops to other leaders end and start again with the
	// churn (a loop unregisters when its last partition goes).
	c.admin("topic", "create", steady, "--partitions", "1", "--replication-factor", "3")
	waitTopicsReady(t, c, map[string]int{steady: 1})
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// The long-lived topic takes small acks=all batches all along.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	var acked, failed atomic.Int64
	prod := franzClient(t, c, kgo.DefaultProduceTopic(steady))
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-stop:
				return
			case <-time.After(20 * time.Millisecond):
			}
			pctx, pcancel := context.WithTimeout(ctx, 20*time.Second)
			res := prod.ProduceSync(pctx, &kgo.Record{Value: []byte(fmt.Sprintf("steady-%d", i))})
			pcancel()
			if err := res.FirstErr(); err != nil {
				failed.Add(1)
				t.Logf("produce steady-%d: %v", i, err)
				continue
			}
			acked.Add(1)
		}
	}()

	// The gauge is sampled all along: it never stays above the number of
	// other nodes (a loop that is ending may overlap its successor for an
	// instant, so a high sample is looked at again).
	var sampleMu sync.Mutex
	maxSeen := map[string]int{}
	var stuck []string
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case <-stop:
				return
			case <-time.After(300 * time.Millisecond):
			}
			for _, n := range c.storage {
				v, err := scrapeFetchLoops(n)
				if err != nil {
					t.Errorf("scraping %s: %v", n.name, err)
					continue
				}
				if v > len(c.storage)-1 {
					time.Sleep(300 * time.Millisecond)
					if again, err := scrapeFetchLoops(n); err == nil && again > len(c.storage)-1 {
						sampleMu.Lock()
						stuck = append(stuck, fmt.Sprintf("%s: %d then %d loops", n.name, v, again))
						sampleMu.Unlock()
					}
				}
				sampleMu.Lock()
				maxSeen[n.name] = max(maxSeen[n.name], v)
				sampleMu.Unlock()
			}
		}
	}()

	// Topics go through the gateway's admin API (no CLI process per call),
	// and the pause between one topic's deletion and the next one's
	// creation sweeps 0–600 ms, so some creations land while a follower's
	// loop to that leader is ending: a loop that unregistered must not run
	// on beside the one the new topic starts.
	conn, err := dialRole(c.gateway.grpc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	admin := adminv1.NewAdminServiceClient(conn)
	start := time.Now()
	var produceTime time.Duration
	for i := range iterations {
		name := fmt.Sprintf("churn-%d", i)
		if _, err := admin.CreateTopic(ctx, &adminv1.CreateTopicRequest{Name: name, Partitions: churnParts, ReplicationFactor: 3}); err != nil {
			t.Fatalf("create %s: %v", name, err)
		}
		// A new topic is unknown for a moment: look again soon.
		p := franzClient(t, c, kgo.DefaultProduceTopic(name), kgo.RecordPartitioner(kgo.RoundRobinPartitioner()),
			kgo.MetadataMinAge(50*time.Millisecond), kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }))
		var rs []*kgo.Record
		for j := range 2 * churnParts {
			rs = append(rs, &kgo.Record{Value: []byte(fmt.Sprintf("%s-%d", name, j))})
		}
		pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
		created := time.Now()
		if err := p.ProduceSync(pctx, rs...).FirstErr(); err != nil {
			t.Fatalf("produce to %s: %v", name, err)
		}
		pcancel()
		produceTime += time.Since(created)
		p.Close()
		if _, err := admin.DeleteTopic(ctx, &adminv1.DeleteTopicRequest{Name: name}); err != nil {
			t.Fatalf("delete %s: %v", name, err)
		}
		time.Sleep(time.Duration(i*600/iterations) * time.Millisecond)
	}
	churned := time.Since(start)
	time.Sleep(time.Second) // the steady topic keeps taking writes after the churn
	close(stop)
	wg.Wait()
	t.Logf("%d topics created, written (%v) and deleted in %v; steady topic: %d acknowledged, %d failed; max fetch loops seen %v",
		iterations, produceTime.Round(time.Millisecond), churned.Round(time.Millisecond), acked.Load(), failed.Load(), maxSeen)
	if len(stuck) > 0 {
		t.Errorf("fetch loops above the number of other nodes %d times, first: %v", len(stuck), stuck[:min(len(stuck), 5)])
	}
	if failed.Load() > 0 {
		t.Errorf("%d writes to the steady topic failed during the churn", failed.Load())
	}

	// Only the steady topic is left; each node runs one loop per other node
	// leading a partition it follows.
	var ti topicInfo
	c.adminJSON(&ti, "topic", "describe", steady)
	bound := map[int32]map[int32]bool{}
	for _, p := range ti.Partitions {
		for _, r := range p.Replicas {
			if bound[r] == nil {
				bound[r] = map[int32]bool{}
			}
			if r != p.Leader {
				bound[r][p.Leader] = true
			}
		}
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		for id, n := range rn.byID {
			if got, want := fetchLoops(t, n), len(bound[id]); got > want {
				return fmt.Errorf("node %d (%s) runs %d fetch loops, but only %d other nodes lead what it follows", id, n.name, got, want)
			}
		}
		return nil
	})
	for _, n := range c.storage {
		out := n.output()
		for _, s := range doubleFetchLogs {
			if k := strings.Count(out, s); k > 0 {
				t.Errorf("%s logged %q %d times", n.name, s, k)
			}
		}
	}

	// The steady topic: full ISR, every acknowledged record, identical replicas.
	waitFullISR(t, c, steady, 3)
	adm := kadm.NewClient(franzClient(t, c))
	ends, err := adm.ListEndOffsets(ctx, steady)
	if err != nil {
		t.Fatal(err)
	}
	if end, _ := ends.Lookup(steady, 0); end.Offset != acked.Load() {
		t.Errorf("steady topic holds %d records, %d were acknowledged (idempotent producer, no failures)", end.Offset, acked.Load())
	}
	replicasIdentical(t, rn, steady)
}
