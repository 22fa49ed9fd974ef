// Package memlimit makes a Go soft memory limit the one trigger of a
// process's garbage collections, so that its peaks stay down without
// collecting a small heap often or ever starving a large one: the limit is
// a floor, or one and a half times the live heap once that is larger.
//
// With GOGC's proportional trigger on, a heap of 10 MB live is collected
// every 10 MB allocated: four times a second under a light produce load,
// each collection marking for about 10 ms beside the requests, which is
// most of an acks=all produce's p99 (docs/performance.md, Memory). With the
// limit alone, such a heap is collected once it reaches the floor. A fixed
// limit below what a workload keeps live would make the collector run all
// the time (the runtime caps it at about half the CPU, and the process
// crawls); following the live heap keeps collections at most as frequent
// as GOGC=50 would make them.
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
// every interval, and turns GOGC's proportional trigger off, until ctx
// ends; the returned func stops it and restores the limit and GOGC it
// found. With floor 0, or with GOMEMLIMIT in the environment (the
// operator's limit wins), it changes nothing; with GOGC in the environment
// it sets the limit and leaves GOGC as the operator set it.
func Follow(ctx context.Context, floor int64, every time.Duration) (stop func()) {
	if floor <= 0 || os.Getenv("GOMEMLIMIT") != "" {
		return func() {}
	}
	before := debug.SetMemoryLimit(-1)
	gogc := debug.SetGCPercent(-1)
	if os.Getenv("GOGC") != "" {
		debug.SetGCPercent(gogc)
	}
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
		debug.SetGCPercent(gogc)
		debug.SetMemoryLimit(before)
	}
}
