// Package history records what a client workload was told (acknowledged
// writes) and what it read back, and checks RELIABILITY.md's invariants
// against it: no acknowledged write lost, none written twice, offsets in
// send order per partition, and how long writes stalled. Fault suites
// (test/compose) share it; each value must be unique to its write.
package history

import (
	"fmt"
	"sort"
	"sync"
	"time"
)

// History is safe for concurrent use.
type History struct {
	mu    sync.Mutex
	acked map[string]Write // value → where it was acknowledged
	read  map[string][]int64
	order map[int32][]Write // acknowledgements per partition, in send order
	acks  map[int32][]time.Time
}

// Write is one acknowledged record.
type Write struct {
	Partition int32
	Offset    int64
	Seq       int64 // the producer's send order
	At        time.Time
}

// New returns an empty history.
func New() *History {
	return &History{acked: map[string]Write{}, read: map[string][]int64{},
		order: map[int32][]Write{}, acks: map[int32][]time.Time{}}
}

// Acked records that value was acknowledged at partition/offset; seq is
// its send order within the producer.
func (h *History) Acked(value string, partition int32, offset, seq int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	w := Write{Partition: partition, Offset: offset, Seq: seq, At: time.Now()}
	h.acked[value] = w
	h.order[partition] = append(h.order[partition], w)
	h.acks[partition] = append(h.acks[partition], w.At)
}

// Read records that value was read at partition/offset (a consumer may
// read a record again after a rebalance; that is not a duplicate).
func (h *History) Read(value string, offset int64) {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, o := range h.read[value] {
		if o == offset {
			return
		}
	}
	h.read[value] = append(h.read[value], offset)
}

// AckedCount is the number of acknowledged writes.
func (h *History) AckedCount() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.acked)
}

// Missing is how many writes acknowledged before t have not been read
// yet (a workload that goes on has later writes in flight).
func (h *History) Missing(t time.Time) int {
	h.mu.Lock()
	defer h.mu.Unlock()
	n := 0
	for v, w := range h.acked {
		if len(h.read[v]) == 0 && !w.At.After(t) {
			n++
		}
	}
	return n
}

// LastAcks is the time of the latest acknowledgement on each partition.
func (h *History) LastAcks() map[int32]time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	out := map[int32]time.Time{}
	for p, ts := range h.acks {
		out[p] = ts[len(ts)-1]
	}
	return out
}

// Result is the verdict over the whole history.
type Result struct {
	Acked, Read, Lost, Duplicated, OutOfOrder int
	// LongestNoAck is the longest gap between acknowledgements on any one
	// partition within [from, to].
	LongestNoAck time.Duration
	Problems     []string // the first few violations, for the log
}

// OK reports whether no invariant was broken.
func (r Result) OK() bool { return r.Lost == 0 && r.Duplicated == 0 && r.OutOfOrder == 0 }

// Check compares the acknowledgements with what was read: a write
// acknowledged by to and never read is lost. Call it once every write
// acknowledged by to has had its chance to be read (Missing(to) == 0).
func (h *History) Check(from, to time.Time) Result {
	h.mu.Lock()
	defer h.mu.Unlock()
	r := Result{Acked: len(h.acked)}
	note := func(format string, args ...any) {
		if len(r.Problems) < 5 {
			r.Problems = append(r.Problems, fmt.Sprintf(format, args...))
		}
	}
	for v, offs := range h.read {
		r.Read++
		if len(offs) > 1 {
			r.Duplicated++
			note("%s is in the log %d times, at %v (idempotence)", v, len(offs), offs)
		}
		if w, ok := h.acked[v]; ok && offs[0] != w.Offset && len(offs) == 1 {
			r.Lost++
			note("%s acknowledged at offset %d is at %d", v, w.Offset, offs[0])
		}
	}
	for v, w := range h.acked {
		if len(h.read[v]) == 0 && !w.At.After(to) {
			r.Lost++
			note("%s acknowledged at partition %d offset %d was never read", v, w.Partition, w.Offset)
		}
	}
	for p, ws := range h.order {
		sorted := append([]Write(nil), ws...)
		sort.Slice(sorted, func(i, j int) bool { return sorted[i].Seq < sorted[j].Seq })
		for i := 1; i < len(sorted); i++ {
			if sorted[i].Offset <= sorted[i-1].Offset {
				r.OutOfOrder++
				note("partition %d: send %d at offset %d after send %d at %d", p,
					sorted[i].Seq, sorted[i].Offset, sorted[i-1].Seq, sorted[i-1].Offset)
			}
		}
	}
	for _, ts := range h.acks {
		prev := from
		for _, at := range ts {
			if at.Before(from) || at.After(to) {
				continue
			}
			r.LongestNoAck = max(r.LongestNoAck, at.Sub(prev))
			prev = at
		}
		r.LongestNoAck = max(r.LongestNoAck, to.Sub(prev))
	}
	return r
}
