//go:build faults

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// TestSoakTxnRandomFaults runs consume-transform-produce (three franz-go
// GroupTransactSession members copying eos-in to eos-out, committing the
// consumed offsets in each transaction, aborting every 5th after its
// records are written) while an idempotent producer keeps
// writing the input and random faults hit the cluster, one at a time with
// recovery in between: SIGKILL and restart of a storage node, SIGSTOP past
// its lease, SIGTERM and restart, SIGKILL and restart of the active
// controller (the transaction and group coordinator). Small segments make
// the logs roll, so producer state snapshots are written and loaded on
// every restart. Then it checks exactly-once: every acknowledged input is
// in eos-in once, every record of eos-in appears exactly once in eos-out
// read_committed (so nothing of an aborted transaction is visible: the
// retry of an aborted copy would be a duplicate), nothing else is there,
// and the replicas agree. Run: make test-faults (STRATA_SOAK_DURATION sets
// how long the faults go on).
func TestSoakTxnRandomFaults(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 3, storage: 3})
	topics := map[string]int{"eos-in": 3, "eos-out": 3}
	for name, parts := range topics {
		c.admin("topic", "create", name, "--partitions", fmt.Sprint(parts), "--replication-factor", "3",
			"--config", "min.insync.replicas=2", "--config", "segment.bytes=65536")
	}
	waitTopicsReady(t, c, topics)
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Minute)
	defer cancel()
	runCtx, stopRun := context.WithCancel(ctx)
	defer stopRun()

	// The input: an idempotent acks=all producer, ~500 records a second.
	var (
		inMu     sync.Mutex
		acked    = map[string]bool{}
		inFailed atomic.Int64
	)
	inCtx, stopInput := context.WithCancel(runCtx)
	inDone := make(chan struct{})
	in := franzClient(t, c, kgo.RecordDeliveryTimeout(60*time.Second))
	go func() {
		defer close(inDone)
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for i := 0; inCtx.Err() == nil; {
			select {
			case <-inCtx.Done():
			case <-tick.C:
				for range 10 {
					v := fmt.Sprintf("in-%07d", i)
					i++
					in.Produce(runCtx, &kgo.Record{Topic: "eos-in", Value: []byte(v)}, func(_ *kgo.Record, err error) {
						if err != nil {
							inFailed.Add(1)
							return
						}
						inMu.Lock()
						acked[v] = true
						inMu.Unlock()
					})
				}
			}
		}
		_ = in.Flush(runCtx)
	}()

	// The transform: three members, errors of a transaction end counted
	// (a fault may abort it; the session retries from the committed offsets)
	// and every 5th transaction aborted on purpose.
	var endErrors, commits, aborts atomic.Int64
	members := make(chan error, 3)
	for i := range 3 {
		s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.kafka), kgo.TransactionalID(fmt.Sprintf("soak-eos-%d", i)),
			kgo.TransactionTimeout(20*time.Second), kgo.ConsumerGroup("soak-eos"), kgo.ConsumeTopics("eos-in"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(), kgo.FetchMaxBytes(16<<10), kgo.SessionTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			defer s.Close()
			txns := 0
			for runCtx.Err() == nil {
				fs := s.PollFetches(runCtx)
				if runCtx.Err() != nil {
					break
				}
				if fs.NumRecords() == 0 {
					continue
				}
				if err := s.Begin(); err != nil {
					members <- fmt.Errorf("member %d begin: %w", i, err)
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					s.Produce(runCtx, &kgo.Record{Topic: "eos-out", Value: r.Value}, nil)
				})
				// Every 5th transaction is aborted once its records are
				// written: they must stay invisible, and the session
				// copies them again from the committed offsets.
				try := kgo.TryCommit
				if txns++; txns%5 == 0 {
					if err := s.Client().Flush(runCtx); err == nil {
						try = kgo.TryAbort
					}
				}
				committed, err := s.End(runCtx, try)
				switch {
				case err != nil && runCtx.Err() == nil:
					if endErrors.Add(1) <= 20 {
						t.Logf("member %d end (through a fault): %v", i, err)
					}
				case committed:
					commits.Add(1)
				case try == kgo.TryAbort:
					aborts.Add(1)
				}
			}
			members <- nil
		}()
	}

	// A live read_committed reader of the output.
	var (
		outMu     sync.Mutex
		liveSeen  = map[string]int{}
		liveTotal int
	)
	out := franzClient(t, c, kgo.ConsumeTopics("eos-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	outDone := make(chan struct{})
	go func() {
		defer close(outDone)
		for runCtx.Err() == nil {
			fs := out.PollFetches(runCtx)
			outMu.Lock()
			fs.EachRecord(func(r *kgo.Record) {
				if string(r.Value) == "sentinel" {
					return // eos-in's end markers, copied by the members
				}
				liveSeen[string(r.Value)]++
				liveTotal++
			})
			outMu.Unlock()
		}
	}()
	outCount := func() int {
		outMu.Lock()
		defer outMu.Unlock()
		return len(liveSeen)
	}
	progress := func(what string) {
		t.Helper()
		from := outCount()
		testutil.WaitFor(t, 90*time.Second, func() error {
			if n := outCount(); n < from+100 {
				return fmt.Errorf("%s: output at %d distinct records, was %d", what, n, from)
			}
			return nil
		})
	}
	healthy := func() {
		t.Helper()
		testutil.WaitFor(t, 90*time.Second, func() error {
			for name, parts := range topics {
				for p := range parts {
					pi, err := describePartition(t, c, name, p)
					if err != nil {
						return err
					}
					if len(pi.ISR) != 3 || pi.Leader < 0 {
						return fmt.Errorf("%s-%d: leader %d ISR %v", name, p, pi.Leader, pi.ISR)
					}
				}
			}
			return nil
		})
	}

	progress("before the faults")
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 2))
	end := time.Now().Add(soakDuration(t))
	faults := map[string]int{}
	for round := 0; time.Now().Before(end); round++ {
		healthy()
		p, err := describePartition(t, c, "eos-out", rng.IntN(3))
		if err != nil {
			t.Fatal(err)
		}
		victim := p.Replicas[rng.IntN(len(p.Replicas))]
		if rng.IntN(2) == 0 {
			victim = p.Leader
		}
		n := rn.byID[victim]
		switch fault := rng.IntN(4); fault {
		case 0:
			t.Logf("round %d: SIGKILL storage node %d (eos-out-%d leader %d)", round, victim, p.Partition, p.Leader)
			faults["storage SIGKILL"]++
			n.kill()
			n.restart(t)
		case 1:
			t.Logf("round %d: SIGSTOP storage node %d past its lease (eos-out-%d leader %d)", round, victim, p.Partition, p.Leader)
			faults["storage SIGSTOP"]++
			n.pause()
			testutil.WaitFor(t, 30*time.Second, func() error {
				st, err := nodeState(t, c, victim)
				if err == nil && st != "dead" {
					err = fmt.Errorf("node %d is %s", victim, st)
				}
				return err
			})
			n.resume()
		case 2:
			t.Logf("round %d: SIGTERM storage node %d (eos-out-%d leader %d)", round, victim, p.Partition, p.Leader)
			faults["storage SIGTERM"]++
			n.signal(syscall.SIGTERM)
			n.restart(t)
		case 3:
			ctrl := activeController(t, c)
			t.Logf("round %d: SIGKILL active controller %s", round, ctrl.name)
			faults["controller SIGKILL"]++
			ctrl.kill()
			ctrl.restart(t)
			waitHealthy(t, ctrl.grpc, 60*time.Second)
		}
		progress(fmt.Sprintf("after round %d", round))
	}
	stopInput()
	<-inDone
	healthy()

	// Ground truth: the input as stored (acknowledged records and any
	// unacknowledged one that got in).
	sentinels(t, c, "eos-in", 3)
	input := countValues(readTxn(t, c, "eos-in", 3, true))
	inMu.Lock()
	for v := range acked {
		if input[v] == 0 {
			t.Errorf("acknowledged input %s is not in eos-in", v)
		}
	}
	nAcked := len(acked)
	inMu.Unlock()
	for v, k := range input {
		if k != 1 {
			t.Errorf("input %s is %d times in eos-in", v, k)
		}
	}
	testutil.WaitFor(t, 3*time.Minute, func() error {
		if n := outCount(); n < len(input) {
			return fmt.Errorf("output has %d of %d distinct inputs", n, len(input))
		}
		return nil
	})
	stopRun()
	<-outDone
	for range 3 {
		if err := <-members; err != nil {
			t.Error(err)
		}
	}

	sentinels(t, c, "eos-out", 3)
	committed := readTxn(t, c, "eos-out", 3, true)
	uncommitted := readTxn(t, c, "eos-out", 3, false)
	for v, k := range countValues(committed) {
		switch {
		case input[v] == 0:
			t.Errorf("output %s is not an input", v)
		case k != 1:
			t.Errorf("output %s appears %d times (read_committed)", v, k)
		}
	}
	if aborts.Load() > 0 && len(uncommitted) <= len(committed) {
		t.Errorf("%d transactions were aborted but read_uncommitted shows no more records (%d) than read_committed (%d)",
			aborts.Load(), len(uncommitted), len(committed))
	}
	if len(committed) != len(input) {
		t.Errorf("read_committed output holds %d records for %d inputs", len(committed), len(input))
	}
	outMu.Lock()
	if liveTotal != len(liveSeen) {
		t.Errorf("the live read_committed reader got %d records, %d distinct", liveTotal, len(liveSeen))
	}
	outMu.Unlock()
	var snapshots int
	for _, n := range rn.byID {
		m, _ := filepath.Glob(filepath.Join(n.dataDir, "eos-*", "*.snapshot"))
		snapshots += len(m)
	}
	t.Logf("faults %v; input: %d acknowledged, %d failed, %d in eos-in; transactions: %d committed, %d aborted on purpose, %d ended in error; "+
		"output: %d read_committed (each input once), %d read_uncommitted (%d aborted records hidden); %d producer snapshots on disk",
		faults, nAcked, inFailed.Load(), len(input), commits.Load(), aborts.Load(), endErrors.Load(),
		len(committed), len(uncommitted), len(uncommitted)-len(committed), snapshots)
	replicasIdentical(t, rn, "eos-out")
	replicasIdentical(t, rn, "eos-in")
}

// activeController returns the controller process that is active now.
func activeController(t *testing.T, c *cluster) *node {
	t.Helper()
	var found *node
	testutil.WaitFor(t, 30*time.Second, func() error {
		var cl clusterInfo
		out, errOut, code := cli(t, "cluster", "describe", "--output", "json", "--server", c.gateway.grpc, "--timeout", "5s")
		if code != 0 {
			return fmt.Errorf("cluster describe: %s", errOut)
		}
		if err := jsonUnmarshal(out, &cl); err != nil {
			return err
		}
		for _, ctrl := range cl.Controllers {
			for _, n := range c.controllers {
				if ctrl.Active && n.name == ctrl.ID {
					found = n
					return nil
				}
			}
		}
		return fmt.Errorf("no active controller among %+v", cl.Controllers)
	})
	return found
}
