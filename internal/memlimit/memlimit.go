// Package memlimit gives a process a Go soft memory limit that keeps its
// peaks down without ever starving a large live heap: the limit is a floor,
// or one and a half times the live heap once that is larger.
//
// A fixed limit below what a workload keeps live makes the garbage
// collector run all the time (the runtime caps it at about half the CPU,
// and the process crawls); following the live heap keeps collections at
// most as frequent as GOGC=50 would make them.
package memlimit

import (
	"context"
	"math"
	"os"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// liveHeap is the runtime metric of the heap the last collection marked.
const liveHeap = "/gc/heap/live:bytes"

// For is the limit for a floor and a live heap.
func For(floor, live int64) int64 { return max(floor, live+live/2) }

// Follow sets the soft memory limit to For(floor, live heap), checked
// every interval, until ctx ends; the returned func stops it and restores
// the limit it found. With floor 0, or with GOMEMLIMIT in the environment
// (the operator's limit wins), it changes nothing.
func Follow(ctx context.Context, floor int64, every time.Duration) (stop func()) {
	if floor <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	before := debug.SetMemoryLimit(-1)
	sample := []metrics.Sample{{Name: liveHeap}}
	apply := func() {
		metrics.Read(sample)
		live := int64(0)
		if sample[0].Value.Kind() == metrics.KindUint64 {
			live = int64(min(sample[0].Value.Uint64(), math.MaxInt64/2))
		}
		debug.SetMemoryLimit(For(floor, live))
	}
	apply()
	ctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(every)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				apply()
			}
		}
	}()
	return func() {
		cancel()
		<-done
		debug.SetMemoryLimit(before)
	}
}
