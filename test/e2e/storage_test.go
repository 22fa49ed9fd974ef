package e2e

import (
	"context"
	"fmt"
	"sync"
	"syscall"
	"testing"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/testutil"
)

// batchOf builds a producer batch of n records valued "<prefix>-<i>".
func batchOf(t *testing.T, c codec.Codec, prefix string, n int, ts int64) []byte {
	t.Helper()
	recs := make([]recordbatch.BuildRecord, n)
	for i := range recs {
		recs[i] = recordbatch.BuildRecord{Key: []byte(fmt.Sprint(i)), Value: []byte(fmt.Sprintf("%s-%d", prefix, i)), Timestamp: ts}
	}
	b, err := recordbatch.Build(recordbatch.ProducerOptions(c), recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// storedBatch is one batch as read back from a log.
type storedBatch struct {
	base   int64
	values []string
}

// decodeBatches parses fetched bytes into batches, failing on anything
// that is not a sequence of whole, valid batches.
func decodeBatches(t *testing.T, data []byte) []storedBatch {
	t.Helper()
	var out []storedBatch
	for rest := data; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			t.Fatalf("fetched bytes are not whole batches: %v", err)
		}
		h, err := recordbatch.ParseHeader(b)
		if err != nil {
			t.Fatal(err)
		}
		body, err := recordbatch.Records(nil, b, &h, 64<<20)
		if err != nil {
			t.Fatal(err)
		}
		sb := storedBatch{base: h.BaseOffset}
		it := recordbatch.NewRecordIter(body, h.RecordCount)
		for it.Next() {
			sb.values = append(sb.values, string(it.Record().Value))
		}
		if it.Err() != nil {
			t.Fatal(it.Err())
		}
		out = append(out, sb)
		rest = r
	}
	return out
}

// leaderClient returns a storage client for a partition's leader and for
// some other node.
func leaderClient(t *testing.T, c *cluster, topic string, partition int32) (leader, other storagev1.StorageServiceClient, leaderID int32) {
	t.Helper()
	var ti topicInfo
	c.adminJSON(&ti, "topic", "describe", topic)
	var cl clusterInfo
	c.adminJSON(&cl, "cluster", "describe")
	leaderID = ti.Partitions[partition].Leader
	for _, n := range cl.StorageNodes {
		conn, err := dialRole(n.Address)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		if n.ID == leaderID {
			leader = storagev1.NewStorageServiceClient(conn)
		} else if other == nil {
			other = storagev1.NewStorageServiceClient(conn)
		}
	}
	return leader, other, leaderID
}

func produce(ctx context.Context, c storagev1.StorageServiceClient, topic string, partition int32, records []byte) (*storagev1.ProducePartitionResult, error) {
	resp, err := c.Produce(ctx, &storagev1.ProduceRequest{Acks: storagev1.Acks_ACKS_LEADER, Partitions: []*storagev1.ProducePartition{{Topic: topic, Partition: partition, Records: records}}})
	if err != nil {
		return nil, err
	}
	return resp.GetPartitions()[0], nil
}

func fetch(ctx context.Context, c storagev1.StorageServiceClient, topic string, partition int32, offset int64, wait time.Duration, minBytes int32) (*storagev1.FetchPartitionResult, error) {
	resp, err := c.Fetch(ctx, &storagev1.FetchRequest{MaxWaitMs: int32(wait.Milliseconds()), MinBytes: minBytes, MaxBytes: 64 << 20,
		Partitions: []*storagev1.FetchPartition{{Topic: topic, Partition: partition, FetchOffset: offset, MaxBytes: 64 << 20}}})
	if err != nil {
		return nil, err
	}
	return resp.GetPartitions()[0], nil
}

func TestStorageProduceFetchListOffsets(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 3})
	c.admin("topic", "create", "events", "--partitions", "3", "--replication-factor", "1")
	leader, other, leaderID := leaderClient(t, c, "events", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	// Partitions open on their leaders shortly after the topic is created.
	testutil.WaitFor(t, 10*time.Second, func() error {
		res, err := produce(ctx, leader, "events", 0, batchOf(t, codec.None, "a", 5, 1000))
		if err == nil && res.GetError() != nil {
			err = fmt.Errorf("%v", res.GetError())
		}
		if err == nil && res.GetBaseOffset() != 0 {
			t.Fatalf("first batch at offset %d", res.GetBaseOffset())
		}
		return err
	})
	for i, b := range [][]byte{batchOf(t, codec.Gzip, "b", 3, 2000), batchOf(t, codec.Zstd, "c", 2, 3000)} {
		res, err := produce(ctx, leader, "events", 0, b)
		if err != nil || res.GetError() != nil {
			t.Fatalf("produce %d: %v %v", i, err, res.GetError())
		}
		if want := []int64{5, 8}[i]; res.GetBaseOffset() != want {
			t.Fatalf("batch %d at offset %d, want %d", i, res.GetBaseOffset(), want)
		}
	}

	// A node that does not lead the partition says who does.
	res, err := produce(ctx, other, "events", 0, batchOf(t, codec.None, "x", 1, 1))
	if err != nil {
		t.Fatal(err)
	}
	if e := res.GetError(); e.GetCode() != commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER || e.GetLeader().GetLeaderId() != leaderID || e.GetLeader().GetLeaderAddress() == "" {
		t.Fatalf("produce to a follower: %+v", e)
	}

	// A corrupt batch is refused with CORRUPT_MESSAGE and nothing is written.
	bad := batchOf(t, codec.None, "bad", 2, 1)
	bad[len(bad)-1] ^= 0xff
	res, err = produce(ctx, leader, "events", 0, bad)
	if err != nil {
		t.Fatal(err)
	}
	if res.GetError().GetCode() != commonv1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE || res.GetError().GetKafkaErrorCode() != 2 {
		t.Fatalf("corrupt batch: %+v", res.GetError())
	}

	// Fetch from the start returns every batch as written.
	fr, err := fetch(ctx, leader, "events", 0, 0, 0, 0)
	if err != nil || fr.GetError() != nil {
		t.Fatalf("fetch: %v %v", err, fr.GetError())
	}
	got := decodeBatches(t, fr.GetRecords())
	if len(got) != 3 || got[0].base != 0 || got[1].base != 5 || got[2].base != 8 || got[1].values[2] != "b-2" || got[2].values[1] != "c-1" {
		t.Fatalf("fetched %+v", got)
	}
	if fr.GetHighWatermark() != 10 {
		t.Fatalf("high watermark %d, want 10", fr.GetHighWatermark())
	}
	// A fetch may start inside a batch: it gets the whole batch.
	fr, _ = fetch(ctx, leader, "events", 0, 6, 0, 0)
	if got := decodeBatches(t, fr.GetRecords()); len(got) != 2 || got[0].base != 5 {
		t.Fatalf("fetch from 6: %+v", got)
	}
	fr, _ = fetch(ctx, leader, "events", 0, 11, 0, 0)
	if fr.GetError().GetCode() != commonv1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE {
		t.Fatalf("fetch past the end: %+v", fr.GetError())
	}

	// A long-poll returns as soon as data arrives, long before max_wait.
	type result struct {
		r   *storagev1.FetchPartitionResult
		err error
		at  time.Time
	}
	done := make(chan result, 1)
	go func() {
		r, err := fetch(ctx, leader, "events", 0, 10, 20*time.Second, 1)
		done <- result{r, err, time.Now()}
	}()
	time.Sleep(200 * time.Millisecond) // let the fetch start waiting; correctness does not depend on it
	sent := time.Now()
	if res, err := produce(ctx, leader, "events", 0, batchOf(t, codec.LZ4, "d", 4, 4000)); err != nil || res.GetError() != nil {
		t.Fatalf("produce: %v %v", err, res.GetError())
	}
	r := <-done
	if r.err != nil || r.r.GetError() != nil {
		t.Fatalf("long poll: %v %v", r.err, r.r.GetError())
	}
	if got := decodeBatches(t, r.r.GetRecords()); len(got) != 1 || got[0].base != 10 || got[0].values[3] != "d-3" {
		t.Fatalf("long poll got %+v", got)
	}
	if waited := r.at.Sub(sent); waited > 5*time.Second {
		t.Fatalf("long poll returned %s after the produce", waited)
	}

	lo, err := leader.ListOffsets(ctx, &storagev1.ListOffsetsRequest{Partitions: []*storagev1.ListOffsetsPartition{
		{Topic: "events", Partition: 0, Timestamp: -2},
		{Topic: "events", Partition: 0, Timestamp: -1},
		{Topic: "events", Partition: 0, Timestamp: 2500},
		{Topic: "events", Partition: 0, Timestamp: -3},
		{Topic: "events", Partition: 0, Timestamp: 99999},
	}})
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{0, 14, 8, 10, -1}
	for i, p := range lo.GetPartitions() {
		if p.GetError() != nil || p.GetOffset() != want[i] {
			t.Errorf("list offsets %d: offset %d err %v, want %d", i, p.GetOffset(), p.GetError(), want[i])
		}
	}
}

func TestStorageCrashKeepsAcknowledgedBatches(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "crash", "--partitions", "1", "--replication-factor", "1", "--config", "flush.messages=1")
	leader, _, _ := leaderClient(t, c, "crash", 0)
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()

	// Produce until the node dies, recording every acknowledged batch.
	acked := map[int64]string{} // base offset → prefix
	var mu sync.Mutex
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		for i := 0; ; i++ {
			prefix := fmt.Sprintf("batch%d", i)
			res, err := produce(ctx, leader, "crash", 0, batchOf(t, codec.None, prefix, 10, int64(i)))
			if err != nil {
				return
			}
			if res.GetError() != nil {
				if res.GetError().GetCode() == commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER && i == 0 {
					i-- // not open yet
					continue
				}
				return
			}
			mu.Lock()
			acked[res.GetBaseOffset()] = prefix
			mu.Unlock()
		}
	}()
	testutil.WaitFor(t, 30*time.Second, func() error {
		mu.Lock()
		defer mu.Unlock()
		if len(acked) < 200 {
			return fmt.Errorf("%d batches acknowledged", len(acked))
		}
		return nil
	})
	c.storage[0].signal(syscall.SIGKILL)
	<-stopped
	c.storage[0].restart(t)
	waitHealthy(t, c.storage[0].grpc, 30*time.Second)

	// The client reconnects to the restarted node and the partition gets
	// its leader back.
	testutil.WaitFor(t, 30*time.Second, func() error {
		fr, err := fetch(ctx, leader, "crash", 0, 0, 0, 0)
		if err == nil && fr.GetError() != nil {
			err = fmt.Errorf("%v", fr.GetError())
		}
		return err
	})
	var all []storedBatch
	offset := int64(0)
	for {
		fr, err := fetch(ctx, leader, "crash", 0, offset, 0, 0)
		if err != nil || fr.GetError() != nil {
			t.Fatalf("fetch at %d: %v %v", offset, err, fr.GetError())
		}
		got := decodeBatches(t, fr.GetRecords())
		if len(got) == 0 {
			if offset != fr.GetHighWatermark() {
				t.Fatalf("log ends at %d but high watermark is %d", offset, fr.GetHighWatermark())
			}
			break
		}
		all = append(all, got...)
		last := got[len(got)-1]
		offset = last.base + int64(len(last.values))
	}
	byBase := map[int64]storedBatch{}
	for i, b := range all {
		if b.base != int64(i*10) || len(b.values) != 10 {
			t.Fatalf("batch %d at offset %d with %d records: the log is not contiguous whole batches", i, b.base, len(b.values))
		}
		byBase[b.base] = b
	}
	mu.Lock()
	defer mu.Unlock()
	for base, prefix := range acked {
		b, ok := byBase[base]
		if !ok || b.values[0] != prefix+"-0" || b.values[9] != prefix+"-9" {
			t.Fatalf("acknowledged batch %s at offset %d lost after SIGKILL (found %+v)", prefix, base, b)
		}
	}
	t.Logf("%d acknowledged batches, %d batches in the recovered log", len(acked), len(all))
}
