package kafka

import (
	"context"
	"sync"
	"sync/atomic"

	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/gateway/router"
)

// Read-ahead for consumers with a backlog. A Kafka client keeps one fetch
// in flight per broker, and a gateway is one broker for every partition
// it serves: the client decodes a response and only then asks for the
// next, which the gateway then asks of the storage leaders, so the
// gateway → storage hop adds to every fetch. When a fetch comes back with
// at least readAheadFrom bytes, the gateway asks the leaders at once for
// the fetch that follows it (the same partitions at the offsets after the
// batches returned, without long-polling) while the client decodes. The
// next fetch on the connection that asks exactly that is answered from
// it; any other fetch drops it. A connection holds at most one read-ahead,
// and a listener's read-aheads share Config.FetchReadAheadBytes.
//
// The answer is one the leaders gave after the previous fetch, as a Kafka
// broker's answer to a pipelined fetch would be: records below the high
// watermark it reports, which later fetches never contradict.

// readAheadFrom is the response size from which the next fetch is read
// ahead: below it the consumer is caught up and the next fetch would
// long-poll anyway.
const readAheadFrom = 256 << 10

// readAhead is one fetch read ahead, running or done.
type readAhead struct {
	items     []*router.FetchItem
	committed bool
	maxBytes  int32
	reserved  int64
	cancel    context.CancelFunc
	done      chan struct{}
}

// readAheads is a listener's byte budget for read-aheads, and what became
// of them.
type readAheads struct {
	free          atomic.Int64
	used, dropped atomic.Int64
}

// ReadAheadStats reports the fetches answered from a read-ahead, and the
// read-aheads dropped unused (the next fetch asked for something else, or
// the connection closed).
func (s *Server) ReadAheadStats() (used, dropped int64) {
	return s.readAheads.used.Load(), s.readAheads.dropped.Load()
}

func (b *readAheads) reserve(n int64) bool {
	if b.free.Add(-n) < 0 {
		b.free.Add(n)
		return false
	}
	return true
}

func (b *readAheads) release(n int64) { b.free.Add(n) }

// connReadAhead is a connection's read-ahead slot.
type connReadAhead struct {
	mu sync.Mutex
	ra *readAhead
}

// swap puts ra (nil: none) in the slot and returns what was there.
func (c *connReadAhead) swap(ra *readAhead) *readAhead {
	c.mu.Lock()
	defer c.mu.Unlock()
	old := c.ra
	c.ra = ra
	return old
}

// takeReadAhead removes the connection's read-ahead and returns it if it reads
// exactly items (same partitions, offsets, partition max bytes, leader
// epochs and isolation) to maxBytes; one that does not match is dropped.
func (s *Server) takeReadAhead(c *conn, items []*router.FetchItem, committed bool, maxBytes int32) *readAhead {
	ra := c.readAhead.swap(nil)
	if ra == nil {
		return nil
	}
	if !ra.matches(items, committed, maxBytes) {
		s.dropUnused(ra)
		return nil
	}
	return ra
}

func (ra *readAhead) matches(items []*router.FetchItem, committed bool, maxBytes int32) bool {
	if len(items) != len(ra.items) || committed != ra.committed || maxBytes != ra.maxBytes {
		return false
	}
	ahead := make(map[aheadKey]*router.FetchItem, len(ra.items))
	for _, it := range ra.items {
		ahead[keyOf(it)] = it
	}
	for _, it := range items {
		a, ok := ahead[keyOf(it)]
		if !ok || a.Offset != it.Offset || a.MaxBytes != it.MaxBytes {
			return false
		}
		delete(ahead, keyOf(it))
	}
	return true
}

// aheadKey names an item's partition and the leader epoch it was asked with.
type aheadKey struct {
	topic     string
	partition int32
	epoch     int32
}

func keyOf(it *router.FetchItem) aheadKey { return aheadKey{it.Topic, it.Partition, it.ClientEpoch} }

// answerFromReadAhead waits for ra and copies its answers into items (matched by
// take), unless one failed or they hold fewer than minBytes: then items
// are left for a fetch of their own. It releases ra's budget either way.
func (s *Server) answerFromReadAhead(ctx context.Context, ra *readAhead, items []*router.FetchItem, minBytes int32) bool {
	defer s.dropReadAhead(ra)
	select {
	case <-ra.done:
	case <-ctx.Done():
		return false
	}
	got := make(map[aheadKey]*router.FetchItem, len(ra.items))
	n := 0
	for _, a := range ra.items {
		if a.Err != nil || a.Result == nil {
			return false
		}
		got[keyOf(a)] = a
		n += len(a.Result.GetRecords())
	}
	if n == 0 || n < int(minBytes) {
		return false
	}
	for _, it := range items {
		it.Result, it.Err = got[keyOf(it)].Result, nil
	}
	s.readAheads.used.Add(1)
	return true
}

func (s *Server) dropReadAhead(ra *readAhead) {
	ra.cancel()
	s.readAheads.release(ra.reserved)
}

// startReadAhead reads ahead the fetch that follows one that asked for
// items and was answered with records (per item, nil where none were
// returned), if the answer was large enough and the budget allows.
func (s *Server) startReadAhead(c *conn, items []*router.FetchItem, records [][]byte, committed bool, maxBytes int32) {
	total, want := 0, int64(0)
	for i, it := range items {
		total += len(records[i])
		want += int64(it.MaxBytes)
	}
	want = min(want, int64(maxBytes))
	if total < readAheadFrom || !s.readAheads.reserve(want) {
		return
	}
	next := make([]*router.FetchItem, len(items))
	for i, it := range items {
		next[i] = &router.FetchItem{Part: router.Part{Topic: it.Topic, Partition: it.Partition, ClientEpoch: it.ClientEpoch}, Offset: nextFetchOffset(it.Offset, records[i]), MaxBytes: it.MaxBytes, Committed: committed}
	}
	ctx, cancel := context.WithCancel(c.ctx)
	ra := &readAhead{items: next, committed: committed, maxBytes: maxBytes, reserved: want, cancel: cancel, done: make(chan struct{})}
	go func() {
		defer close(ra.done)
		s.router.Fetch(ctx, 0, 0, maxBytes, next)
	}()
	s.dropUnused(c.readAhead.swap(ra))
}

// closeReadAhead drops the connection's read-ahead when it closes.
func (s *Server) closeReadAhead(c *conn) { s.dropUnused(c.readAhead.swap(nil)) }

// dropUnused drops a read-ahead no fetch took (nil: none).
func (s *Server) dropUnused(ra *readAhead) {
	if ra != nil {
		s.readAheads.dropped.Add(1)
		s.dropReadAhead(ra)
	}
}

// nextFetchOffset is the offset a client fetches after records read from
// offset: past the last batch returned (as Kafka clients continue).
func nextFetchOffset(offset int64, records []byte) int64 {
	next := offset
	for b := records; len(b) >= recordbatch.HeaderSize; {
		n := recordbatch.PeekSize(b)
		if n < recordbatch.HeaderSize || n > len(b) {
			break
		}
		next = max(next, recordbatch.LastOffsetOf(b)+1)
		b = b[n:]
	}
	return next
}
