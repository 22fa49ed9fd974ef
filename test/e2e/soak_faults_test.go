//go:build faults

package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
)

// soakDuration is how long a soak injects faults: STRATA_SOAK_DURATION
// (a Go duration, e.g. 30s) or 3 minutes.
func soakDuration(t *testing.T) time.Duration {
	v := os.Getenv("STRATA_SOAK_DURATION")
	if v == "" {
		return 3 * time.Minute
	}
	d, err := time.ParseDuration(v)
	if err != nil || d <= 0 {
		t.Fatalf("STRATA_SOAK_DURATION=%q: want a positive Go duration", v)
	}
	return d
}

// TestSoakRandomFaults runs acks=all produces for a few minutes while
// random faults hit the storage nodes — SIGKILL and restart, SIGSTOP past
// the lease and resume, SIGTERM and restart — one at a time with recovery
// in between, then checks the whole history (I1–I7). Run: make test-faults
// (STRATA_SOAK_DURATION sets how long the faults go on).
func TestSoakRandomFaults(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 3, storage: 3})
	c.admin("topic", "create", "soak", "--partitions", "1", "--replication-factor", "3", "--config", "min.insync.replicas=2")
	rn := nodesByID(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()

	h, stopHistory := startHistory(ctx, t, c, rn, "soak")
	healthy := func() {
		testutil.WaitFor(t, 60*time.Second, func() error {
			p, err := describePartition(t, c, "soak", 0)
			if err == nil && (len(p.ISR) != 3 || p.Leader < 0) {
				err = fmt.Errorf("leader %d ISR %v", p.Leader, p.ISR)
			}
			return err
		})
	}
	rng := rand.New(rand.NewPCG(uint64(time.Now().UnixNano()), 1))
	end := time.Now().Add(soakDuration(t))
	for round := 0; time.Now().Before(end); round++ {
		healthy()
		p, _ := describePartition(t, c, "soak", 0)
		victim := p.Replicas[rng.IntN(len(p.Replicas))]
		if rng.IntN(2) == 0 {
			victim = p.Leader
		}
		n := rn.byID[victim]
		switch fault := rng.IntN(3); fault {
		case 0:
			t.Logf("round %d: SIGKILL node %d (leader %d)", round, victim, p.Leader)
			n.kill()
			n.restart(t)
		case 1:
			t.Logf("round %d: SIGSTOP node %d past its lease (leader %d)", round, victim, p.Leader)
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
			t.Logf("round %d: SIGTERM node %d (leader %d)", round, victim, p.Leader)
			n.signal(syscall.SIGTERM)
			n.restart(t)
		}
		h.waitAcked(t, h.ackedCount(), 20)
	}
	stopHistory()
	healthy()
	p, _ := describePartition(t, c, "soak", 0)
	checkHistory(t, h, readAll(ctx, t, rn.clients[p.Leader], "soak"))
	replicasIdentical(t, rn, "soak")
}
