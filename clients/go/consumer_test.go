package strata_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/clients/go/internal/testcluster"
)

// produceN writes n records (values "0".."n-1") with keys spread over the
// topic's partitions and returns each partition's record count.
func produceN(t *testing.T, c *strata.Client, topic string, n int) map[int32]int64 {
	t.Helper()
	p, err := c.NewProducer()
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var recs []*strata.Record
	for i := range n {
		recs = append(recs, &strata.Record{Topic: topic, Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprint(i))})
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		t.Fatal(err)
	}
	counts := map[int32]int64{}
	for _, r := range recs {
		counts[r.Partition]++
	}
	return counts
}

// member is one consumer of the group test, recording what it processed
// and what it committed.
type member struct {
	name string
	k    *strata.Consumer
	stop context.CancelFunc
	done chan struct{}
}

type groupLog struct {
	mu        sync.Mutex
	processed map[string][]string // "p/offset" -> members that processed it
	commits   []commitEntry
}

type commitEntry struct {
	member    string
	partition int32
	offset    int64
}

func (l *groupLog) process(who string, r *strata.Record) {
	l.mu.Lock()
	defer l.mu.Unlock()
	k := fmt.Sprintf("%d/%d", r.Partition, r.Offset)
	l.processed[k] = append(l.processed[k], who)
}

func startMember(t *testing.T, c *strata.Client, group, topic, name string, log *groupLog) *member {
	t.Helper()
	k, err := c.NewConsumer(group, []string{topic}, strata.ConsumeStartOffset(strata.AtStart()), strata.ManualMarking(),
		strata.DisableAutoCommit(), strata.MaxPollRecords(50), strata.ClientID(name))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	m := &member{name: name, k: k, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(m.done)
		for {
			fs, err := k.Poll(ctx)
			if err != nil {
				return
			}
			for _, r := range fs.Records() {
				log.process(name, r)
				k.MarkCommit(r)
			}
			cctx, ccancel := context.WithTimeout(ctx, 10*time.Second)
			err = k.CommitSync(cctx)
			ccancel()
			for _, ps := range k.Committed() {
				for p, o := range ps {
					log.mu.Lock()
					log.commits = append(log.commits, commitEntry{name, p, o})
					log.mu.Unlock()
				}
			}
			_ = err // a commit refused after a revocation is expected
			// Simulated processing time (not synchronisation), so the
			// rebalances happen while records are in hand.
			time.Sleep(5 * time.Millisecond)
		}
	}()
	return m
}

func (m *member) close(t *testing.T) {
	m.stop()
	<-m.done
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := m.k.Close(ctx); err != nil {
		t.Logf("close %s: %v", m.name, err)
	}
}

func TestConsumerGroupMembersJoinAndLeave(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 6, 1)
	const n = 3000
	counts := produceN(t, c, topic, n)
	group := "g-" + topic
	log := &groupLog{processed: map[string][]string{}}
	total := func() int {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.processed)
	}
	a := startMember(t, c, group, topic, "a", log)
	testcluster.WaitFor(t, 60*time.Second, func() error {
		if got := total(); got < n/5 {
			return fmt.Errorf("processed %d", got)
		}
		return nil
	})
	b := startMember(t, c, group, topic, "b", log)
	testcluster.WaitFor(t, 60*time.Second, func() error {
		if len(b.k.Assignment()) == 0 {
			return fmt.Errorf("b has no partitions yet")
		}
		return nil
	})
	cm := startMember(t, c, group, topic, "c", log)
	testcluster.WaitFor(t, 60*time.Second, func() error {
		if len(cm.k.Assignment()) == 0 || total() < n/2 {
			return fmt.Errorf("c has %v; processed %d", cm.k.Assignment(), total())
		}
		return nil
	})
	a.close(t)
	b.close(t)
	testcluster.WaitFor(t, 90*time.Second, func() error {
		if got := total(); got < n {
			return fmt.Errorf("processed %d of %d distinct records", got, n)
		}
		return nil
	})
	// c commits after each poll: wait for its last commit.
	admin := c.Admin()
	testcluster.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		offs, err := admin.FetchOffsets(ctx, group, map[string][]int32{topic: nil})
		if err != nil {
			return err
		}
		for _, o := range offs {
			if o.Offset != counts[o.Partition] {
				return fmt.Errorf("partition %d committed %d, want %d", o.Partition, o.Offset, counts[o.Partition])
			}
		}
		return nil
	})
	cm.close(t)

	// Every commit names a record its member processed: no commit passes
	// what was processed.
	log.mu.Lock()
	defer log.mu.Unlock()
	for _, e := range log.commits {
		if e.offset == 0 {
			continue
		}
		found := false
		for _, who := range log.processed[fmt.Sprintf("%d/%d", e.partition, e.offset-1)] {
			found = found || who == e.member
		}
		if !found {
			t.Errorf("%s committed %d/%d without processing offset %d", e.member, e.partition, e.offset, e.offset-1)
		}
	}
	dups := 0
	for _, who := range log.processed {
		if len(who) > 1 {
			dups++
		}
	}
	for p, cnt := range counts {
		for o := range cnt {
			if len(log.processed[fmt.Sprintf("%d/%d", p, o)]) == 0 {
				t.Errorf("record %d/%d never processed", p, o)
			}
		}
	}
	t.Logf("%d records, %d processed more than once (after a rebalance, before their commit), %d commits", n, dups, len(log.commits))
}

// TestConsumerStaticMemberFenced: a second member with the same instance id
// takes over; the first stops with FENCED_INSTANCE_ID (Kafka code 82) from
// Poll instead of reconnecting and fencing it back.
func TestConsumerStaticMemberFenced(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 2, 1)
	group := "g-" + topic
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	a, err := c.NewConsumer(group, []string{topic}, strata.InstanceID("instance-1"), strata.SessionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close(ctx)
	testcluster.WaitFor(t, 60*time.Second, func() error {
		if len(a.Assignment()[topic]) != 2 {
			return fmt.Errorf("a holds %v", a.Assignment())
		}
		return nil
	})
	b, err := c.NewConsumer(group, []string{topic}, strata.InstanceID("instance-1"), strata.SessionTimeout(10*time.Second))
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close(ctx)
	testcluster.WaitFor(t, 60*time.Second, func() error {
		if len(b.Assignment()[topic]) != 2 {
			return fmt.Errorf("b holds %v", b.Assignment())
		}
		return nil
	})
	pctx, pcancel := context.WithTimeout(ctx, 30*time.Second)
	defer pcancel()
	_, err = a.Poll(pctx)
	var e *strata.Error
	if !errors.As(err, &e) || e.KafkaCode != 82 {
		t.Fatalf("the fenced member's Poll: %v, want FENCED_INSTANCE_ID (Kafka code 82)", err)
	}
}

// A member that commits only in OnRevoked (as Kafka users do in
// onPartitionsRevoked) hands its partitions over exactly: the rebalance
// waits for that commit, so the member that joins starts where the first
// left off and no record is processed twice.
func TestConsumerCommitInOnRevokedHandsOverExactly(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 4, 1)
	const n = 8000
	produceN(t, c, topic, n)
	group := "g-" + topic
	log := &groupLog{processed: map[string][]string{}}
	start := func(name string) *member {
		var k *strata.Consumer
		revoked := make(chan struct{}, 16)
		k, err := c.NewConsumer(group, []string{topic}, strata.ConsumeStartOffset(strata.AtStart()), strata.ManualMarking(),
			strata.DisableAutoCommit(), strata.MaxPollRecords(20), strata.ClientID(name), strata.SessionTimeout(6*time.Second),
			strata.OnRevoked(func(ctx context.Context, _ map[string][]int32) {
				cctx, cancel := context.WithTimeout(ctx, 10*time.Second)
				defer cancel()
				if err := k.CommitSync(cctx); err != nil {
					t.Errorf("%s: commit in OnRevoked: %v", name, err)
				}
				revoked <- struct{}{}
			}))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		m := &member{name: name, k: k, stop: cancel, done: make(chan struct{})}
		go func() {
			defer close(m.done)
			for {
				fs, err := k.Poll(ctx)
				if err != nil {
					return
				}
				for _, r := range fs.Records() {
					log.process(name, r)
					k.MarkCommit(r)
				}
				time.Sleep(10 * time.Millisecond) // simulated processing (about 2,000 records/s), so the rebalance finds records in hand
			}
		}()
		return m
	}
	processed := func() int {
		log.mu.Lock()
		defer log.mu.Unlock()
		return len(log.processed)
	}
	a := start("a")
	testcluster.WaitFor(t, 60*time.Second, func() error {
		if got := processed(); got < n/4 {
			return fmt.Errorf("%d processed", got)
		}
		return nil
	})
	b := start("b")
	testcluster.WaitFor(t, 90*time.Second, func() error {
		if got := processed(); got < n {
			return fmt.Errorf("%d of %d processed", got, n)
		}
		return nil
	})
	a.close(t)
	b.close(t)
	log.mu.Lock()
	defer log.mu.Unlock()
	byB := 0
	for at, who := range log.processed {
		if len(who) != 1 {
			t.Fatalf("record %s processed %d times (by %v)", at, len(who), who)
		}
		if who[0] == "b" {
			byB++
		}
	}
	if byB == 0 {
		t.Fatal("the second member processed nothing: no handover happened")
	}
	t.Logf("%d records, each processed once; %d by the member that joined", n, byB)
}

// Pause stops the gateway fetching a partition, not only Poll returning
// it: with a consumer buffer far smaller than the paused partition's
// backlog, the other partition's records still all come; after Resume the
// paused one's do.
func TestConsumerPauseHoldsNoCreditOfOtherPartitions(t *testing.T) {
	c := newClient(t, needDev(t))
	topic := newTopic(t, c, 2, 1)
	counts := produceN(t, c, topic, 600)
	k, err := c.NewConsumer("g-"+topic, []string{topic}, strata.ConsumeStartOffset(strata.AtStart()), strata.ConsumerBuffer(20, 1<<20))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = k.Close(context.Background()) })
	k.Pause(topic, 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	got := map[int32]int64{}
	poll := func(until func() bool) {
		t.Helper()
		for !until() {
			fs, err := k.Poll(ctx)
			if err != nil {
				t.Fatalf("poll with %v: %v", got, err)
			}
			for _, r := range fs.Records() {
				got[r.Partition]++
			}
		}
	}
	poll(func() bool { return got[1] == counts[1] })
	if got[0] != 0 {
		t.Fatalf("%d records of the paused partition returned", got[0])
	}
	k.Resume(topic, 0)
	poll(func() bool { return got[0] == counts[0] })
	t.Logf("partition 1: %d records while 0 was paused; then partition 0: %d", got[1], got[0])
}
