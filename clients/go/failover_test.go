package strata_test

import (
	"context"
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/clients/go/internal/testcluster"
)

// TestProducerSurvivesLeaderKill streams records through one Producer
// (RF=3, acks=all, idempotent), SIGKILLs the storage node leading a
// partition mid-run, and checks that every record is acknowledged and
// read back exactly once, at the offset its promise named.
func TestProducerSurvivesLeaderKill(t *testing.T) {
	needMulti(t)
	cl := testcluster.Multi(t, 3)
	c := newClient(t, cl.Addr)
	topic := newTopic(t, c, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := c.NewProducer(strata.MaxBufferedRecords(5000))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })

	const n = 30000
	var mu sync.Mutex
	acked := map[string]string{} // value -> "partition/offset"
	var failed []error
	var ackedCount int
	killAt := n / 3
	killed := make(chan int32, 1)
	go func() {
		testcluster.WaitFor(t, 60*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if ackedCount < killAt {
				return fmt.Errorf("%d acked", ackedCount)
			}
			return nil
		})
		desc, err := c.Admin().DescribeTopic(ctx, topic)
		if err != nil {
			t.Error(err)
			killed <- -1
			return
		}
		cluster, err := c.Admin().DescribeCluster(ctx)
		if err != nil {
			t.Error(err)
			killed <- -1
			return
		}
		leader := desc.PartitionDetails[0].Leader
		for _, sn := range cluster.StorageNodes {
			if sn.ID != leader {
				continue
			}
			for i, a := range cl.StorageAddrs {
				if a == sn.Address {
					t.Logf("killing storage node %d (%s), leader of %s-0, after %d acks", leader, a, topic, killAt)
					cl.Storage[i].Kill()
					killed <- leader
					return
				}
			}
		}
		t.Errorf("leader %d of partition 0 not found among %v", leader, cl.StorageAddrs)
		killed <- -1
	}()
	for i := range n {
		r := &strata.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
		p.Produce(ctx, r, func(r *strata.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			ackedCount++
			if err != nil {
				failed = append(failed, err)
				return
			}
			acked[string(r.Value)] = fmt.Sprintf("%d/%d", r.Partition, r.Offset)
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if leader := <-killed; leader < 0 {
		t.Fatal("no leader was killed")
	}
	if len(failed) > 0 {
		t.Fatalf("%d records failed, first: %v", len(failed), failed[0])
	}
	if len(acked) != n {
		t.Fatalf("%d distinct records acknowledged, want %d", len(acked), n)
	}
	// Read back from the surviving replicas: each value once, where its
	// ack said.
	var got map[string]*strata.Record
	testcluster.WaitFor(t, 60*time.Second, func() error {
		rctx, rcancel := context.WithTimeout(ctx, 30*time.Second)
		defer rcancel()
		g, err := readAllErr(rctx, c, topic, 3, n)
		if err != nil {
			return err
		}
		got = g
		return nil
	})
	if len(got) != n {
		t.Fatalf("read %d records, want %d (duplicates or extra writes)", len(got), n)
	}
	for at, r := range got {
		if acked[string(r.Value)] != at {
			t.Fatalf("value %s read at %s, acknowledged at %s", r.Value, at, acked[string(r.Value)])
		}
	}
}

// TestProducerAndConsumerSurviveGatewayRestart SIGKILLs the only gateway
// while a Producer streams records and a Consumer group member reads them,
// and starts it again. The producer reconnects, resumes its idempotent
// producer and resends what was not acknowledged: nothing is lost and
// nothing is written twice. The consumer rejoins and its group ends with
// every record committed.
func TestProducerAndConsumerSurviveGatewayRestart(t *testing.T) {
	needMulti(t)
	cl := testcluster.Multi(t, 3)
	c := newClient(t, cl.Addr)
	topic := newTopic(t, c, 3, 3)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	p, err := c.NewProducer(strata.MaxBufferedRecords(2000), strata.Linger(2*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	group := "g-" + topic
	k, err := c.NewConsumer(group, []string{topic}, strata.ConsumeStartOffset(strata.AtStart()), strata.AutoCommitInterval(200*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	// Joined before the kill, the member reconnects under its member id. (A
	// member whose stream breaks before its first assignment rejoins as a
	// new member, and the group waits out the old one's session timeout.)
	testcluster.WaitFor(t, 60*time.Second, func() error {
		if len(k.Assignment()) == 0 {
			return fmt.Errorf("the consumer has no assignment yet")
		}
		return nil
	})
	consumed := make(chan int, 1)
	go func() {
		n := 0
		for {
			fs, err := k.Poll(ctx)
			if err != nil {
				consumed <- n
				return
			}
			n += fs.NumRecords()
		}
	}()

	const n = 20000
	var mu sync.Mutex
	acked := map[string]string{}
	var failed []error
	var ackedCount int
	restarted := make(chan struct{})
	go func() {
		defer close(restarted)
		testcluster.WaitFor(t, 60*time.Second, func() error {
			mu.Lock()
			defer mu.Unlock()
			if ackedCount < n/3 {
				return fmt.Errorf("%d acked", ackedCount)
			}
			return nil
		})
		t.Logf("restarting the gateway after %d acks", n/3)
		cl.RestartGateway()
	}()
	for i := range n {
		r := &strata.Record{Topic: topic, Key: []byte(strconv.Itoa(i)), Value: []byte(strconv.Itoa(i))}
		p.Produce(ctx, r, func(r *strata.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			ackedCount++
			if err != nil {
				failed = append(failed, err)
				return
			}
			acked[string(r.Value)] = fmt.Sprintf("%d/%d", r.Partition, r.Offset)
		})
	}
	if err := p.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	<-restarted
	unknown := checkExactlyOnce(ctx, t, c, topic, 3, n, acked, failed)
	t.Logf("%d records, each once in the log; %d acknowledged without an offset", n, unknown)

	// The consumer rejoined and commits every record.
	waitStart := time.Now()
	defer func() { t.Logf("the group caught up %v after the producer finished", time.Since(waitStart)) }()
	testcluster.WaitFor(t, 60*time.Second, func() error {
		g, err := c.Admin().DescribeGroup(ctx, group)
		if err != nil {
			return err
		}
		if g.TotalLag != 0 || len(g.Partitions) != 3 {
			return fmt.Errorf("group lag %d over %d partitions", g.TotalLag, len(g.Partitions))
		}
		return nil
	})
	if err := k.Close(ctx); err != nil {
		t.Fatal(err)
	}
	if got := <-consumed; got < n {
		t.Fatalf("consumer read %d records, the log has %d", got, n)
	}
}
