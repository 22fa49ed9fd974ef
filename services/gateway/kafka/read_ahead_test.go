package kafka

import (
	"bytes"
	"context"
	"encoding/binary"
	"sync"
	"testing"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// backlogStorage serves partitions of batches of 10 records each (base
// offsets 0, 10, 20, …) and counts the reads at each partition and offset.
type backlogStorage struct {
	batches [][]byte // one partition's batches; every partition holds the same
	mu      sync.Mutex
	reads   map[[2]int64]int // partition, offset → reads
}

func newBacklogStorage(n, valueSize int) *backlogStorage {
	b := &backlogStorage{reads: map[[2]int64]int{}}
	for i := range n {
		batch := recordBatch(10, valueSize)
		binary.BigEndian.PutUint64(batch, uint64(10*i)) // base offset, outside the CRC
		b.batches = append(b.batches, batch)
	}
	return b
}

func (b *backlogStorage) fetch(_ string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
	out := &storagev1.FetchResponse{}
	hw := int64(10 * len(b.batches))
	for _, p := range in.GetPartitions() {
		b.mu.Lock()
		b.reads[[2]int64{int64(p.GetPartition()), p.GetFetchOffset()}]++
		b.mu.Unlock()
		res := &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(), HighWatermark: hw, LastStableOffset: hw}
		for i := int(p.GetFetchOffset() / 10); i < len(b.batches); i++ {
			if len(res.Records) > 0 && len(res.Records)+len(b.batches[i]) > int(p.GetMaxBytes()) {
				break
			}
			res.Records = append(res.Records, b.batches[i]...)
		}
		out.Partitions = append(out.Partitions, res)
	}
	return out, nil
}

func (b *backlogStorage) readsAt(partition int32, offset int64) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.reads[[2]int64{int64(partition), offset}]
}

// fetchAt is a sessionless fetch of partitions 0 and 1 of "t" at offsets,
// up to partMax bytes each, on the connection c.
func fetchAt(t *testing.T, s *Server, c *conn, partMax int32, offsets ...int64) *kmsg.FetchResponse {
	t.Helper()
	req := kmsg.NewPtrFetchRequest()
	req.SetVersion(12)
	req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 500, 1, 50<<20, -1
	rt := kmsg.NewFetchRequestTopic()
	rt.Topic = "t"
	for p, off := range offsets {
		rp := kmsg.NewFetchRequestTopicPartition()
		rp.Partition, rp.FetchOffset, rp.PartitionMaxBytes, rp.CurrentLeaderEpoch = int32(p), off, partMax, -1
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	r, err := parseRequest(frame(req, 1))
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.dispatch(context.WithValue(c.ctx, connKey{}, c), r)
	if err != nil {
		t.Fatal(err)
	}
	return resp.(*kmsg.FetchResponse)
}

// readAheadServer is a listener over st with a read-ahead budget of
// budget bytes, and one connection to it.
func readAheadServer(t *testing.T, st *backlogStorage, budget int64) (*Server, *conn) {
	s := benchServer(t, "t", 2, &stubStorage{fetch: st.fetch})
	s.cfg.FetchReadAheadBytes = budget
	s.readAheads.budget = newByteBudget(budget)
	c := &conn{s: s}
	c.ctx, c.cancel = context.WithCancel(context.Background())
	t.Cleanup(c.cancel)
	return s, c
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// A consumer with a backlog gets its next fetch from the read-ahead: the
// gateway reads it from the leaders while the client decodes, so the
// leaders are asked once per offset; the records are the ones at those
// offsets. A fetch elsewhere (a seek) drops the read-ahead, is read
// afresh, and the budget is whole again.
func TestBackloggedFetchIsReadAhead(t *testing.T) {
	st := newBacklogStorage(20, 10<<10) // batches of ~100 KiB
	s, c := readAheadServer(t, st, 64<<20)
	const partMax = 320 << 10 // three batches a partition
	first := fetchAt(t, s, c, partMax, 0, 0)
	for _, p := range first.Topics[0].Partitions {
		if !bytes.Equal(p.RecordBatches, bytes.Join(st.batches[:3], nil)) {
			t.Fatalf("partition %d: first fetch returned %d bytes, want batches 0-2", p.Partition, len(p.RecordBatches))
		}
	}
	waitFor(t, "the read-ahead at offset 30", func() bool { return st.readsAt(0, 30) == 1 && st.readsAt(1, 30) == 1 })
	second := fetchAt(t, s, c, partMax, 30, 30)
	for _, p := range second.Topics[0].Partitions {
		if !bytes.Equal(p.RecordBatches, bytes.Join(st.batches[3:6], nil)) {
			t.Fatalf("partition %d: second fetch returned %d bytes, want batches 3-5", p.Partition, len(p.RecordBatches))
		}
		if n := st.readsAt(p.Partition, 30); n != 1 {
			t.Fatalf("partition %d: offset 30 read %d times, want once (ahead)", p.Partition, n)
		}
	}
	waitFor(t, "the read-ahead at offset 60", func() bool { return st.readsAt(0, 60) == 1 })
	seek := fetchAt(t, s, c, partMax, 190, 190) // the last batch: too small to read ahead after
	for _, p := range seek.Topics[0].Partitions {
		if !bytes.Equal(p.RecordBatches, st.batches[19]) {
			t.Fatalf("partition %d: fetch after a seek returned %d bytes, want batch 19", p.Partition, len(p.RecordBatches))
		}
	}
	if free := s.readAheads.budget.available(); free != 64<<20 {
		t.Fatalf("read-ahead budget %d after the read-ahead was dropped, want %d", free, 64<<20)
	}
	if st.readsAt(0, 200) != 0 {
		t.Fatal("a small answer was read ahead")
	}
	if used, dropped := s.ReadAheadStats(); used != 1 || dropped != 1 {
		t.Fatalf("read-aheads used %d, dropped %d; want 1 and 1", used, dropped)
	}
}

// A connection's read-ahead ends with it and gives its budget back; one
// that does not fit the budget is not made.
func TestReadAheadBudget(t *testing.T) {
	st := newBacklogStorage(20, 10<<10)
	s, c := readAheadServer(t, st, 64<<20)
	fetchAt(t, s, c, 320<<10, 0, 0)
	if free := s.readAheads.budget.available(); free != 64<<20-2*320<<10 {
		t.Fatalf("budget %d with a read-ahead of two 320 KiB partitions", free)
	}
	s.closeReadAhead(c)
	if free := s.readAheads.budget.available(); free != 64<<20 {
		t.Fatalf("budget %d after the connection closed", free)
	}

	st = newBacklogStorage(20, 10<<10)
	s, c = readAheadServer(t, st, 320<<10) // one partition's worth
	fetchAt(t, s, c, 320<<10, 0, 0)
	fetchAt(t, s, c, 320<<10, 30, 30)
	if n := st.readsAt(0, 30); n != 1 {
		t.Fatalf("offset 30 read %d times, want once (no read-ahead fits)", n)
	}
}

func (b *byteBudget) available() int64 {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.free
}
