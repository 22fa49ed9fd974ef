package kafka

import (
	"context"
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

// readAhead is one fetch read ahead, running or done, and the budget it
// holds.
type readAhead struct {
	*router.Ahead
	maxBytes int32
	reserved int64
}

// readAheads is a listener's byte budget for read-aheads, and what became
// of them.
type readAheads struct {
	budget        *byteBudget
	used, dropped atomic.Int64
}

// ReadAheadStats reports the fetches answered from a read-ahead, and the
// read-aheads dropped unused (the next fetch asked for something else, or
// the connection closed).
func (s *Server) ReadAheadStats() (used, dropped int64) {
	return s.readAheads.used.Load(), s.readAheads.dropped.Load()
}

// takeReadAhead removes the connection's read-ahead and returns it if it
// reads exactly items (same partitions, offsets, partition max bytes,
// leader epochs and isolation) to maxBytes; one that does not match is
// dropped.
func (s *Server) takeReadAhead(c *conn, items []*router.FetchItem, maxBytes int32) *readAhead {
	ra := c.readAhead.Swap(nil)
	if ra == nil {
		return nil
	}
	if !ra.matches(items, maxBytes) {
		s.dropUnused(ra)
		return nil
	}
	return ra
}

func (ra *readAhead) matches(items []*router.FetchItem, maxBytes int32) bool {
	if len(items) != len(ra.Items) || maxBytes != ra.maxBytes {
		return false
	}
	ahead := make(map[aheadKey]*router.FetchItem, len(ra.Items))
	for _, it := range ra.Items {
		ahead[keyOf(it)] = it
	}
	for _, it := range items {
		a, ok := ahead[keyOf(it)]
		if !ok || a.Offset != it.Offset || a.MaxBytes != it.MaxBytes || a.Committed != it.Committed {
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

// answerFromReadAhead waits for ra and copies its answers into items
// (matched by takeReadAhead), unless one failed or they hold fewer than
// minBytes: then items are left for a fetch of their own. It releases
// ra's budget either way.
func (s *Server) answerFromReadAhead(ctx context.Context, ra *readAhead, items []*router.FetchItem, minBytes int32) bool {
	defer s.dropReadAhead(ra)
	select {
	case <-ra.Done():
	case <-ctx.Done():
		return false
	}
	got := make(map[aheadKey]*router.FetchItem, len(ra.Items))
	n := 0
	for _, a := range ra.Items {
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
	ra.Stop()
	s.readAheads.budget.release(ra.reserved)
}

// startReadAhead reads ahead the fetch that follows one that asked for
// items and was answered with records (per item, nil where none were
// returned), if the answer was large enough and the budget allows.
func (s *Server) startReadAhead(c *conn, items []*router.FetchItem, records [][]byte, maxBytes int32) {
	total, want := 0, int64(0)
	for i, it := range items {
		total += len(records[i])
		want += int64(it.MaxBytes)
	}
	want = min(want, int64(maxBytes))
	if total < readAheadFrom || !s.readAheads.budget.tryAcquire(want) {
		return
	}
	next := make([]*router.FetchItem, len(items))
	for i, it := range items {
		offset, _ := recordbatch.Continue(records[i], it.Offset)
		next[i] = &router.FetchItem{Part: router.Part{Topic: it.Topic, Partition: it.Partition, ClientEpoch: it.ClientEpoch},
			Offset: offset, MaxBytes: it.MaxBytes, Committed: it.Committed}
	}
	ra := &readAhead{Ahead: s.router.FetchAhead(c.ctx, 0, 0, maxBytes, next), maxBytes: maxBytes, reserved: want}
	s.dropUnused(c.readAhead.Swap(ra))
}

// closeReadAhead drops the connection's read-ahead when it closes.
func (s *Server) closeReadAhead(c *conn) { s.dropUnused(c.readAhead.Swap(nil)) }

// dropUnused drops a read-ahead no fetch took (nil: none).
func (s *Server) dropUnused(ra *readAhead) {
	if ra != nil {
		s.readAheads.dropped.Add(1)
		s.dropReadAhead(ra)
	}
}
