package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/IBM/sarama"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// txnProduce produces values in one transaction and commits or aborts it.
func txnProduce(t *testing.T, cl *kgo.Client, topic string, commit bool, values ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := cl.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	for _, v := range values {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatalf("produce %s: %v", v, err)
		}
	}
	if err := cl.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
		t.Fatalf("end transaction (commit %v): %v", commit, err)
	}
}

// sentinels writes one plain record per partition so a reader knows it
// has seen everything before it.
func sentinels(t *testing.T, c *cluster, topic string, partitions int) {
	t.Helper()
	cl := franzClient(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for p := range partitions {
		if err := cl.ProduceSync(ctx, &kgo.Record{Topic: topic, Partition: int32(p), Value: []byte("sentinel")}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

// readTxn consumes topic from the start at the isolation level until it has
// seen every partition's sentinel, and returns the other values, sorted.
func readTxn(t *testing.T, c *cluster, topic string, partitions int, committed bool) []string {
	t.Helper()
	iso := kgo.ReadUncommitted()
	if committed {
		iso = kgo.ReadCommitted()
	}
	cl := franzClient(t, c, kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(iso))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	var out []string
	seen := map[int32]bool{}
	for len(seen) < partitions {
		fs := cl.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("read %d values and %d of %d sentinels", len(out), len(seen), partitions)
		}
		fs.EachError(func(topic string, p int32, err error) { t.Logf("fetch %s-%d: %v", topic, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if string(r.Value) == "sentinel" {
				seen[r.Partition] = true
				return
			}
			out = append(out, string(r.Value))
		})
	}
	cl.Close()
	sort.Strings(out)
	return out
}

func values(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s-%02d", prefix, i)
	}
	return out
}

func sortedConcat(lists ...[]string) []string {
	var out []string
	for _, l := range lists {
		out = append(out, l...)
	}
	sort.Strings(out)
	return out
}

// franz-go's transactional producer: commits and aborts over an RF=3
// topic; read_committed sees only committed records, read_uncommitted sees
// everything.
func TestKafkaTxnFranzCommitAbort(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"txn": 3})
	p := franzClient(t, c, kgo.TransactionalID("franz-txn"), kgo.TransactionTimeout(20*time.Second))
	first, aborted, second := values("c1", 12), values("ab", 9), values("c2", 6)
	txnProduce(t, p, "txn", true, first...)
	txnProduce(t, p, "txn", false, aborted...)
	txnProduce(t, p, "txn", true, second...)
	sentinels(t, c, "txn", 3)
	if got, want := readTxn(t, c, "txn", 3, true), sortedConcat(first, second); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("read_committed read\n%v\nwant\n%v", got, want)
	}
	if got, want := readTxn(t, c, "txn", 3, false), sortedConcat(first, aborted, second); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("read_uncommitted read\n%v\nwant\n%v", got, want)
	}
	// gRPC Fetch reads committed records by default.
	sc := streamClient(t, c)
	for _, tc := range []struct {
		level streamv1.IsolationLevel
		want  []string
	}{{streamv1.IsolationLevel_ISOLATION_LEVEL_UNSPECIFIED, sortedConcat(first, second)},
		{streamv1.IsolationLevel_ISOLATION_LEVEL_READ_UNCOMMITTED, sortedConcat(first, aborted, second)}} {
		req := &streamv1.FetchRequest{IsolationLevel: tc.level}
		for p := range 3 {
			req.Partitions = append(req.Partitions, &streamv1.FetchPartition{Topic: "txn", Partition: int32(p),
				Start: &streamv1.FetchPartition_Offset{Offset: 0}})
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		resp, err := sc.Fetch(ctx, req)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, pr := range resp.GetPartitions() {
			if pr.GetError() != nil {
				t.Fatalf("gRPC fetch %s-%d: %v", pr.GetTopic(), pr.GetPartition(), pr.GetError())
			}
			if pr.GetLastStableOffset() != pr.GetHighWatermark() {
				t.Errorf("partition %d: LSO %d, high watermark %d with nothing open", pr.GetPartition(), pr.GetLastStableOffset(), pr.GetHighWatermark())
			}
			for _, r := range pr.GetRecords() {
				if v := string(r.GetValue()); v != "sentinel" {
					got = append(got, v)
				}
			}
		}
		sort.Strings(got)
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Fatalf("gRPC fetch at %v read\n%v\nwant\n%v", tc.level, got, tc.want)
		}
	}
}

// listOffset asks for partition 0's latest offset at an isolation level.
func listOffset(t *testing.T, cl *kgo.Client, topic string, committed bool) int64 {
	t.Helper()
	req := kmsg.NewPtrListOffsetsRequest()
	req.Version = 5
	if committed {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	rp := kmsg.NewListOffsetsRequestTopicPartition()
	rp.Partition, rp.Timestamp = 0, -1
	rt.Partitions = append(rt.Partitions, rp)
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	if code := resp.Topics[0].Partitions[0].ErrorCode; code != 0 {
		t.Fatalf("list offsets: %v", kerr.ErrorForCode(code))
	}
	return resp.Topics[0].Partitions[0].Offset
}

// The last stable offset stays behind an open transaction and moves when
// it commits, or when the coordinator aborts it after its timeout (which
// also fences the producer).
func TestKafkaTxnLastStableOffset(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"lso": 1})
	admin := franzClient(t, c)
	p := franzClient(t, c, kgo.TransactionalID("lso-txn"), kgo.TransactionTimeout(3*time.Second),
		kgo.DefaultProduceTopic("lso"))
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.ProduceSync(ctx, kgo.StringRecord("plain-before")).FirstErr(); err == nil {
		t.Fatal("a transactional client produced outside a transaction")
	}
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("open-1"), kgo.StringRecord("open-2")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	hw, lso := listOffset(t, admin, "lso", false), listOffset(t, admin, "lso", true)
	if hw != 2 || lso != 0 {
		t.Fatalf("with a transaction open: high watermark %d, LSO %d; want 2 and 0", hw, lso)
	}
	// DescribeProducers shows where the open transaction starts.
	dp := kmsg.NewPtrDescribeProducersRequest()
	dp.Topics = []kmsg.DescribeProducersRequestTopic{{Topic: "lso", Partitions: []int32{0}}}
	dpResp, err := dp.RequestWith(ctx, admin)
	if err != nil {
		t.Fatal(err)
	}
	if ps := dpResp.Topics[0].Partitions[0].ActiveProducers; len(ps) != 1 || ps[0].CurrentTxnStartOffset != 0 {
		t.Fatalf("DescribeProducers with the transaction open: %+v", ps)
	}
	// topic describe shows both.
	testutil.WaitFor(t, 10*time.Second, func() error {
		var info struct {
			Partitions []struct {
				HighWatermark    int64 `json:"high_watermark"`
				LastStableOffset int64 `json:"last_stable_offset"`
			} `json:"partitions"`
		}
		c.adminJSON(&info, "topic", "describe", "lso")
		if len(info.Partitions) != 1 || info.Partitions[0].HighWatermark != 2 || info.Partitions[0].LastStableOffset != 0 {
			return fmt.Errorf("topic describe: %+v", info.Partitions)
		}
		return nil
	})
	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if hw, lso := listOffset(t, admin, "lso", false), listOffset(t, admin, "lso", true); lso != hw || hw != 3 {
			return fmt.Errorf("after the commit: high watermark %d, LSO %d; want 3 and 3", hw, lso)
		}
		return nil
	})

	// Left open: the coordinator aborts it after transaction.timeout.ms.
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := p.ProduceSync(ctx, kgo.StringRecord("forgotten")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	if lso := listOffset(t, admin, "lso", true); lso != 3 {
		t.Fatalf("LSO with the second transaction open = %d, want 3", lso)
	}
	testutil.WaitFor(t, 30*time.Second, func() error {
		if hw, lso := listOffset(t, admin, "lso", false), listOffset(t, admin, "lso", true); lso != hw || hw != 5 {
			return fmt.Errorf("after the timeout: high watermark %d, LSO %d; want 5 and 5", hw, lso)
		}
		return nil
	})
	err = p.EndTransaction(ctx, kgo.TryCommit)
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) && !errors.Is(err, kerr.InvalidTxnState) {
		t.Fatalf("commit after the timeout: %v, want the producer fenced", err)
	}
	sentinels(t, c, "lso", 1)
	if got := readTxn(t, c, "lso", 1, true); strings.Join(got, ",") != "open-1,open-2" {
		t.Fatalf("read_committed read %v", got)
	}
}

// A second producer with the same transactional id fences the first: its
// open transaction is aborted and its later writes and commit fail.
func TestKafkaTxnZombieFenced(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"zombie": 1})
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	opts := []kgo.Opt{kgo.TransactionalID("zombie-txn"), kgo.TransactionTimeout(30 * time.Second), kgo.DefaultProduceTopic("zombie")}
	old := franzClient(t, c, opts...)
	if err := old.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	if err := old.ProduceSync(ctx, kgo.StringRecord("zombie-1")).FirstErr(); err != nil {
		t.Fatal(err)
	}
	// The new producer's InitProducerId aborts the old one's transaction.
	fresh := franzClient(t, c, opts...)
	txnProduce(t, fresh, "zombie", true, "fresh-1")
	err := old.ProduceSync(ctx, kgo.StringRecord("zombie-2")).FirstErr()
	if err == nil {
		err = old.EndTransaction(ctx, kgo.TryCommit)
	}
	if !errors.Is(err, kerr.ProducerFenced) && !errors.Is(err, kerr.InvalidProducerEpoch) {
		t.Fatalf("the zombie's write or commit: %v, want it fenced", err)
	}
	sentinels(t, c, "zombie", 1)
	if got := readTxn(t, c, "zombie", 1, true); strings.Join(got, ",") != "fresh-1" {
		t.Fatalf("read_committed read %v, want only the new producer's record", got)
	}
}

// Requests that do not fit a transaction's state get Kafka's codes and
// change nothing.
func TestKafkaTxnBadInput(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"bad": 1})
	cl := franzClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	id := "bad-txn"
	var init *kmsg.InitProducerIDResponse
	testutil.WaitFor(t, 20*time.Second, func() (err error) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 4, &id, 10000
		if init, err = req.RequestWith(ctx, cl); err == nil && init.ErrorCode != 0 {
			err = kerr.ErrorForCode(init.ErrorCode)
		}
		return err
	})
	pid, epoch := init.ProducerID, init.ProducerEpoch
	check := func(what string, got int16, want error) {
		t.Helper()
		if err := kerr.ErrorForCode(got); !errors.Is(err, want) {
			t.Errorf("%s: %v, want %v", what, err, want)
		}
	}

	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, id, pid, epoch, true
	endResp, err := end.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check("EndTxn without a transaction", endResp.ErrorCode, kerr.InvalidTxnState)

	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, id, pid, epoch-1
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "bad", Partitions: []int32{0}}}
	addResp, err := add.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check("AddPartitionsToTxn with a stale epoch", addResp.Topics[0].Partitions[0].ErrorCode, kerr.ProducerFenced)

	commit := kmsg.NewPtrTxnOffsetCommitRequest()
	commit.Version, commit.TransactionalID, commit.Group, commit.ProducerID, commit.ProducerEpoch = 3, id, "never-added", pid, epoch
	commit.Generation = -1
	p := kmsg.NewTxnOffsetCommitRequestTopicPartition()
	p.Partition, p.Offset = 0, 1
	commit.Topics = []kmsg.TxnOffsetCommitRequestTopic{{Topic: "bad", Partitions: []kmsg.TxnOffsetCommitRequestTopicPartition{p}}}
	commitResp, err := commit.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	check("TxnOffsetCommit for a group not added", commitResp.Topics[0].Partitions[0].ErrorCode, kerr.InvalidTxnState)

	// A transactional batch from this producer, with its transactional id
	// but no AddPartitionsToTxn, and one without a transactional id.
	o := recordbatch.ProducerOptions(codec.None)
	o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = pid, epoch, 0, true
	batch, err := recordbatch.Build(o, []recordbatch.BuildRecord{{Value: []byte("sneaky"), Timestamp: time.Now().UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		txn  *string
		want error
	}{{"transactional batch not added to the transaction", &id, kerr.InvalidTxnState},
		{"transactional batch without a transactional id", nil, kerr.TransactionalIDAuthorizationFailed}} {
		prod := kmsg.NewPtrProduceRequest()
		prod.Version, prod.Acks, prod.TimeoutMillis, prod.TransactionID = 7, -1, 5000, tc.txn
		prod.Topics = []kmsg.ProduceRequestTopic{{Topic: "bad", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
		resp, err := prod.RequestWith(ctx, cl)
		if err != nil {
			t.Fatal(err)
		}
		check(tc.name, resp.Topics[0].Partitions[0].ErrorCode, tc.want)
	}
	if hw := listOffset(t, cl, "bad", false); hw != 0 {
		t.Fatalf("high watermark %d: a refused request wrote", hw)
	}
	d := kmsg.NewPtrDescribeTransactionsRequest()
	d.TransactionalIDs = []string{id}
	dr, err := d.RequestWith(ctx, cl)
	if err != nil || len(dr.TransactionStates) != 1 || dr.TransactionStates[0].State != "Empty" {
		t.Fatalf("describe after the bad requests: %+v %v", dr, err)
	}
}

// Consume-transform-produce with franz-go's GroupTransactSession: three
// members (joining one after another, so the group rebalances while
// transactions are open) copy every input record to the output topic,
// committing the consumed offsets in the same transaction. A
// read_committed reader of the output sees every input exactly once.
func TestKafkaTxnGroupTransactSessionExactlyOnce(t *testing.T) {
	runExactlyOnce(t, 1, 600, nil)
}

// The same with the active controller of three (the group and transaction
// coordinators) killed half way.
func TestKafkaTxnExactlyOnceThroughControllerFailover(t *testing.T) {
	runExactlyOnce(t, 3, 600, func(c *cluster, _ func(int)) {
		var cl clusterInfo
		c.adminJSON(&cl, "cluster", "describe")
		for _, ctrl := range cl.Controllers {
			for _, n := range c.controllers {
				if ctrl.Active && n.name == ctrl.ID {
					n.signal(syscall.SIGKILL)
					return
				}
			}
		}
		t.Fatalf("no active controller among %+v", cl.Controllers)
	})
}

// The same with the first member killed half way, in a transaction that
// has written records: the coordinator aborts it at its timeout, the
// others take its partitions over from the committed offsets, and nothing
// of it is visible.
func TestKafkaTxnExactlyOnceThroughMemberKill(t *testing.T) {
	runExactlyOnce(t, 1, 600, func(_ *cluster, kill func(int)) { kill(0) })
}

// The same with the storage leader of an output partition killed half way:
// markers and transactional batches move to the new leader.
func TestKafkaTxnExactlyOnceThroughLeaderKill(t *testing.T) {
	runExactlyOnce(t, 1, 600, func(c *cluster, _ func(int)) {
		rn := nodesByID(t, c)
		p, err := describePartition(t, c, "eos-out", 0)
		if err != nil {
			t.Fatal(err)
		}
		rn.byID[p.Leader].signal(syscall.SIGKILL)
	})
}

// runExactlyOnce copies n records from eos-in to eos-out with three
// GroupTransactSession members on a cluster of that many controllers and checks the output holds each once;
// midway, if set, runs when half the output is in.
func runExactlyOnce(t *testing.T, controllers, n int, midway func(c *cluster, kill func(member int))) {
	faulty := midway != nil
	c := newCluster(t, clusterSpec{controllers: controllers, storage: 3})
	topics := map[string]int{"eos-in": 3, "eos-out": 3}
	for name, parts := range topics {
		c.admin("topic", "create", name, "--partitions", fmt.Sprint(parts), "--replication-factor", "3")
	}
	waitTopicsReady(t, c, topics)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	in := franzClient(t, c)
	produceInput := func(from, to int) {
		for i := from; i < to; i++ {
			in.Produce(ctx, &kgo.Record{Topic: "eos-in", Value: []byte(fmt.Sprintf("v-%04d", i))}, func(_ *kgo.Record, err error) {
				if err != nil {
					t.Errorf("produce input: %v", err)
				}
			})
		}
		if err := in.Flush(ctx); err != nil {
			t.Fatal(err)
		}
	}
	// Half the input first; the rest once half the output is in (after
	// the fault, if any), so transactions run across it.
	produceInput(0, n/2)
	second := false

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	done := make(chan error, 3)
	var dying [3]chan struct{}
	for i := range dying {
		dying[i] = make(chan struct{})
	}
	kill := func(i int) { close(dying[i]) }
	start := func(i int) {
		s, err := kgo.NewGroupTransactSession(kgo.SeedBrokers(c.kafka), kgo.TransactionalID(fmt.Sprintf("eos-%d", i)),
			kgo.TransactionTimeout(20*time.Second), kgo.ConsumerGroup("eos"), kgo.ConsumeTopics("eos-in"),
			kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchIsolationLevel(kgo.ReadCommitted()),
			kgo.RequireStableFetchOffsets(), kgo.FetchMaxBytes(4<<10), kgo.SessionTimeout(10*time.Second))
		if err != nil {
			t.Fatal(err)
		}
		go func() {
			for runCtx.Err() == nil {
				fs := s.PollFetches(runCtx)
				if runCtx.Err() != nil {
					break
				}
				fs.EachError(func(topic string, p int32, err error) { t.Logf("member %d fetch %s-%d: %v", i, topic, p, err) })
				if fs.NumRecords() == 0 {
					continue
				}
				if err := s.Begin(); err != nil {
					done <- fmt.Errorf("member %d begin: %w", i, err)
					return
				}
				fs.EachRecord(func(r *kgo.Record) {
					s.Produce(runCtx, &kgo.Record{Topic: "eos-out", Value: r.Value}, nil)
				})
				select {
				case <-dying[i]:
					// The member dies in its transaction: its records are in
					// the log, it never ends the transaction nor commits its
					// offsets; the coordinator aborts it at its timeout.
					if err := s.Client().Flush(runCtx); err != nil {
						t.Logf("member %d flush before dying: %v", i, err)
					}
					s.Client().Close()
					t.Logf("member %d died in an open transaction", i)
					done <- nil
					return
				default:
				}
				if _, err := s.End(runCtx, kgo.TryCommit); err != nil && runCtx.Err() == nil {
					if !faulty {
						done <- fmt.Errorf("member %d end: %w", i, err)
						return
					}
					t.Logf("member %d end (through the fault): %v", i, err)
				}
			}
			s.Close()
			done <- nil
		}()
	}

	out := franzClient(t, c, kgo.ConsumeTopics("eos-out"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()))
	seen := map[string]int{}
	total := 0
	started := 1
	start(0)
	for len(seen) < n {
		fs := out.PollFetches(ctx)
		if ctx.Err() != nil {
			t.Fatalf("output has %d of %d distinct records", len(seen), n)
		}
		fs.EachRecord(func(r *kgo.Record) {
			seen[string(r.Value)]++
			total++
		})
		if started < 3 && len(seen) >= started*n/4 {
			start(started)
			started++
		}
		if !second && len(seen) >= n/2 {
			if midway != nil {
				midway(c, kill)
			}
			produceInput(n/2, n)
			second = true
		}
	}
	stop()
	for range started {
		if err := <-done; err != nil {
			t.Error(err)
		}
	}
	// Everything committed is in; read on to the end to catch duplicates
	// committed late.
	sentinels(t, c, "eos-out", 3)
	for v, k := range countValues(readTxn(t, c, "eos-out", 3, true)) {
		if k != 1 {
			t.Errorf("output %s appears %d times", v, k)
		}
	}
	if total != n {
		t.Errorf("the live read_committed reader got %d records for %d inputs", total, n)
	}
}

func countValues(vs []string) map[string]int {
	out := map[string]int{}
	for _, v := range vs {
		out[v]++
	}
	return out
}

// sarama's transactional producer: commit, abort, several transactions,
// and a second producer with the same transactional id bumping the epoch
// and fencing the first; sarama's read_committed consumer skips the
// aborted records.
func TestKafkaTxnSarama(t *testing.T) {
	for _, tc := range []struct {
		topic   string
		version sarama.KafkaVersion
	}{{"sarama-txn-28", sarama.V2_8_0_0}, {"sarama-txn-36", sarama.V3_6_0_0}} {
		t.Run(tc.topic, func(t *testing.T) {
			c := kafkaCluster(t, map[string]int{tc.topic: 1})
			cfg := sarama.NewConfig()
			cfg.Version = tc.version
			cfg.Producer.Idempotent, cfg.Producer.RequiredAcks, cfg.Net.MaxOpenRequests = true, sarama.WaitForAll, 1
			cfg.Producer.Return.Successes = true
			cfg.Producer.Transaction.ID = "sarama-" + tc.topic
			cfg.Producer.Transaction.Retry.Max, cfg.Producer.Transaction.Retry.Backoff = 50, 200*time.Millisecond
			addrs := []string{c.kafka}
			newProducer := func() sarama.SyncProducer {
				p, err := sarama.NewSyncProducer(addrs, cfg)
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			send := func(p sarama.SyncProducer, commit bool, vs ...string) {
				t.Helper()
				if err := p.BeginTxn(); err != nil {
					t.Fatal(err)
				}
				for _, v := range vs {
					if _, _, err := p.SendMessage(&sarama.ProducerMessage{Topic: tc.topic, Value: sarama.StringEncoder(v)}); err != nil {
						t.Fatalf("send %s: %v", v, err)
					}
				}
				var err error
				if commit {
					err = p.CommitTxn()
				} else {
					err = p.AbortTxn()
				}
				if err != nil {
					t.Fatalf("end (commit %v): %v", commit, err)
				}
			}
			p1 := newProducer()
			send(p1, true, "s1-a", "s1-b")
			send(p1, false, "s1-aborted")
			send(p1, true, "s1-c")
			// An open transaction of p1, then a new producer with its id.
			if err := p1.BeginTxn(); err != nil {
				t.Fatal(err)
			}
			if _, _, err := p1.SendMessage(&sarama.ProducerMessage{Topic: tc.topic, Value: sarama.StringEncoder("s1-zombie")}); err != nil {
				t.Fatal(err)
			}
			p2 := newProducer()
			defer p2.Close()
			send(p2, true, "s2-a")
			if err := p1.CommitTxn(); err == nil {
				t.Fatal("the fenced producer committed")
			}
			p1.Close()

			sentinels(t, c, tc.topic, 1)
			want := "s1-a,s1-b,s1-c,s2-a"
			if got := readTxn(t, c, tc.topic, 1, true); strings.Join(got, ",") != want {
				t.Fatalf("read_committed read %v, want %s", got, want)
			}
			if got := readTxn(t, c, tc.topic, 1, false); strings.Join(got, ",") != "s1-a,s1-aborted,s1-b,s1-c,s1-zombie,s2-a" {
				t.Fatalf("read_uncommitted read %v", got)
			}

			ccfg := sarama.NewConfig()
			ccfg.Version, ccfg.Consumer.IsolationLevel = tc.version, sarama.ReadCommitted
			cons, err := sarama.NewConsumer(addrs, ccfg)
			if err != nil {
				t.Fatal(err)
			}
			defer cons.Close()
			pc, err := cons.ConsumePartition(tc.topic, 0, sarama.OffsetOldest)
			if err != nil {
				t.Fatal(err)
			}
			defer pc.Close()
			var got []string
			timeout := time.After(30 * time.Second)
			for len(got) == 0 || got[len(got)-1] != "sentinel" {
				select {
				case m := <-pc.Messages():
					got = append(got, string(m.Value))
				case err := <-pc.Errors():
					t.Fatal(err)
				case <-timeout:
					t.Fatalf("sarama read_committed read %v before the timeout", got)
				}
			}
			sort.Strings(got)
			if strings.Join(got, ",") != want+",sentinel" {
				t.Fatalf("sarama read_committed read %v", got)
			}
		})
	}
}

// A transaction open when the active controller (of three) is killed is
// committed through the next one: the coordinator's state is in etcd.
func TestKafkaTxnSurvivesControllerFailover(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 3, storage: 3})
	c.admin("topic", "create", "txfail", "--partitions", "2", "--replication-factor", "3")
	waitTopicsReady(t, c, map[string]int{"txfail": 2})
	p := franzClient(t, c, kgo.TransactionalID("failover-txn"), kgo.TransactionTimeout(60*time.Second), kgo.DefaultProduceTopic("txfail"))
	txnProduce(t, p, "txfail", true, values("before", 10)...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := p.BeginTransaction(); err != nil {
		t.Fatal(err)
	}
	open := values("open", 10)
	for _, v := range open {
		if err := p.ProduceSync(ctx, kgo.StringRecord(v)).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}

	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	var victim *node
	for _, ctrl := range cl.Controllers {
		for _, n := range c.controllers {
			if ctrl.Active && n.name == ctrl.ID {
				victim = n
			}
		}
	}
	if victim == nil {
		t.Fatalf("no active controller among %+v", cl.Controllers)
	}
	victim.signal(syscall.SIGKILL)

	if err := p.EndTransaction(ctx, kgo.TryCommit); err != nil {
		t.Fatalf("commit across the failover: %v", err)
	}
	after := values("after", 5)
	txnProduce(t, p, "txfail", true, after...)
	sentinels(t, c, "txfail", 2)
	if got, want := readTxn(t, c, "txfail", 2, true), sortedConcat(values("before", 10), open, after); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Fatalf("read_committed read\n%v\nwant\n%v", got, want)
	}
}

// The storage leader changes after AddPartitionsToTxn registered the
// transaction with the old one: the new leader verifies the producer's
// transaction with the coordinator and takes its batches.
func TestKafkaTxnLeaderChangeAfterAddPartitions(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"moved": 1})
	rn := nodesByID(t, c)
	cl := franzClient(t, c)
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	id := "moved-txn"
	var init *kmsg.InitProducerIDResponse
	testutil.WaitFor(t, 20*time.Second, func() (err error) {
		req := kmsg.NewPtrInitProducerIDRequest()
		req.Version, req.TransactionalID, req.TransactionTimeoutMillis = 4, &id, 60000
		if init, err = req.RequestWith(ctx, cl); err == nil && init.ErrorCode != 0 {
			err = kerr.ErrorForCode(init.ErrorCode)
		}
		return err
	})
	add := kmsg.NewPtrAddPartitionsToTxnRequest()
	add.Version, add.TransactionalID, add.ProducerID, add.ProducerEpoch = 3, id, init.ProducerID, init.ProducerEpoch
	add.Topics = []kmsg.AddPartitionsToTxnRequestTopic{{Topic: "moved", Partitions: []int32{0}}}
	addResp, err := add.RequestWith(ctx, cl)
	if err != nil || addResp.Topics[0].Partitions[0].ErrorCode != 0 {
		t.Fatalf("add partitions: %v %+v", err, addResp)
	}
	p, err := describePartition(t, c, "moved", 0)
	if err != nil {
		t.Fatal(err)
	}
	rn.byID[p.Leader].signal(syscall.SIGKILL)

	o := recordbatch.ProducerOptions(codec.None)
	o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = init.ProducerID, init.ProducerEpoch, 0, true
	batch, err := recordbatch.Build(o, []recordbatch.BuildRecord{{Value: []byte("after-move"), Timestamp: time.Now().UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 60*time.Second, func() error {
		prod := kmsg.NewPtrProduceRequest()
		prod.Version, prod.Acks, prod.TimeoutMillis, prod.TransactionID = 7, -1, 5000, &id
		prod.Topics = []kmsg.ProduceRequestTopic{{Topic: "moved", Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: batch}}}}
		resp, err := prod.RequestWith(ctx, cl)
		if err != nil {
			return err
		}
		code := resp.Topics[0].Partitions[0].ErrorCode
		if code == kerr.InvalidTxnState.Code {
			t.Fatalf("the new leader refused the transaction's batch: %v", kerr.ErrorForCode(code))
		}
		return kerr.ErrorForCode(code) // retriable ones while the leader moves
	})
	end := kmsg.NewPtrEndTxnRequest()
	end.Version, end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = 3, id, init.ProducerID, init.ProducerEpoch, true
	if endResp, err := end.RequestWith(ctx, cl); err != nil || endResp.ErrorCode != 0 {
		t.Fatalf("commit: %v %+v", err, endResp)
	}
	sentinels(t, c, "moved", 1)
	if got := readTxn(t, c, "moved", 1, true); strings.Join(got, ",") != "after-move" {
		t.Fatalf("read_committed read %v", got)
	}
}

// Compaction of a transactional topic, read by franz-go (with control
// records kept) and sarama throughout: the aborted transaction's records
// and the superseded committed one go, then their markers (after
// delete.retention.ms, with a delete horizon meanwhile); read_committed
// stays right at every step and the marker of a transaction whose data is
// still there stays.
func TestKafkaTxnCompactionRemovesMarkers(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1, storageArgs: []string{"--retention-check-interval", "200ms"}})
	c.admin("topic", "create", "ctx", "--partitions", "1", "--replication-factor", "1",
		"--config", "cleanup.policy=compact", "--config", "segment.bytes=2048", "--config", "delete.retention.ms=2000",
		"--config", "min.cleanable.dirty.ratio=0")
	waitTopicsReady(t, c, map[string]int{"ctx": 1})
	p := franzClient(t, c, kgo.TransactionalID("compact-txn"), kgo.DefaultProduceTopic("ctx"))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	txn := func(commit bool, key, value string) {
		t.Helper()
		if err := p.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		if err := p.ProduceSync(ctx, &kgo.Record{Key: []byte(key), Value: []byte(value)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
		if err := p.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatal(err)
		}
	}
	txn(true, "a", "first")    // superseded by "second": data, then marker go
	txn(false, "b", "aborted") // aborted: data, then marker go
	txn(true, "a", "second")   // its data stays, so does its marker
	plain := franzClient(t, c, kgo.DefaultProduceTopic("ctx"))
	filler := 0
	fill := func(n int) { // dirty data so the cleaner keeps running
		t.Helper()
		for range n {
			if err := plain.ProduceSync(ctx, &kgo.Record{Key: []byte(fmt.Sprintf("f-%d", filler%20)), Value: bytes.Repeat([]byte("x"), 100)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			filler++
		}
	}
	// read returns the committed values of a and b and the markers seen.
	read := func() (vals map[string]string, markers int, err error) {
		cl := franzClient(t, c, kgo.ConsumeTopics("ctx"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
			kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())
		defer cl.Close()
		end := listOffset(t, cl, "ctx", true)
		rctx, rcancel := context.WithTimeout(ctx, 20*time.Second)
		defer rcancel()
		vals = map[string]string{}
		for pos := int64(0); pos < end; {
			fs := cl.PollFetches(rctx)
			if rctx.Err() != nil {
				return nil, 0, fmt.Errorf("read to %d of %d", pos, end)
			}
			if err := fs.Err(); err != nil {
				return nil, 0, err
			}
			fs.EachRecord(func(r *kgo.Record) {
				pos = r.Offset + 1
				switch {
				case r.Attrs.IsControl():
					markers++
				case string(r.Key) == "a" || string(r.Key) == "b":
					vals[string(r.Key)] = string(r.Value)
				}
			})
		}
		return vals, markers, nil
	}
	saramaRead := func() (map[string]string, error) {
		cfg := sarama.NewConfig()
		cfg.Version = sarama.V2_8_0_0
		cfg.Consumer.IsolationLevel = sarama.ReadCommitted
		cons, err := sarama.NewConsumer([]string{c.kafka}, cfg)
		if err != nil {
			return nil, err
		}
		defer cons.Close()
		hw, err := func() (int64, error) {
			cl, err := sarama.NewClient([]string{c.kafka}, cfg)
			if err != nil {
				return 0, err
			}
			defer cl.Close()
			return cl.GetOffset("ctx", 0, sarama.OffsetNewest)
		}()
		if err != nil {
			return nil, err
		}
		pc, err := cons.ConsumePartition("ctx", 0, sarama.OffsetOldest)
		if err != nil {
			return nil, err
		}
		defer pc.Close()
		vals := map[string]string{}
		timeout := time.After(20 * time.Second)
		for {
			select {
			case m := <-pc.Messages():
				if k := string(m.Key); k == "a" || k == "b" {
					vals[k] = string(m.Value)
				}
				if m.Offset+1 >= hw {
					return vals, nil
				}
			case err := <-pc.Errors():
				return nil, err
			case <-timeout:
				return nil, fmt.Errorf("sarama read timed out")
			}
		}
	}
	steps := 0
	testutil.WaitFor(t, 90*time.Second, func() error {
		fill(10)
		vals, markers, err := read()
		if err != nil {
			return err
		}
		if vals["a"] != "second" || vals["b"] != "" {
			t.Fatalf("read_committed after %d fill rounds: %v", steps, vals)
		}
		if sv, err := saramaRead(); err != nil || sv["a"] != "second" || sv["b"] != "" {
			t.Fatalf("sarama read_committed after %d fill rounds: %v %v", steps, sv, err)
		}
		steps++
		if markers != 1 {
			return fmt.Errorf("%d markers left", markers)
		}
		return nil
	})
	t.Logf("markers of the cleaned transactions gone after %d fill rounds (%d filler records)", steps, filler)
}
