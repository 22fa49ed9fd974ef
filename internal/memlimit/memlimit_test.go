package memlimit

import (
	"context"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

func TestForKeepsTheFloorUntilTheLiveHeapOutgrowsIt(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct{ floor, live, want int64 }{
		{110 * mib, 0, 110 * mib},
		{110 * mib, 60 * mib, 110 * mib},
		{110 * mib, 100 * mib, 150 * mib},
		{110 * mib, 1000 * mib, 1500 * mib},
	} {
		if got := For(tc.floor, tc.live); got != tc.want {
			t.Errorf("For(%d MiB, %d MiB) = %d MiB, want %d", tc.floor/mib, tc.live/mib, got/mib, tc.want/mib)
		}
	}
}

// Follow raises the limit above the floor once the live heap needs it, so
// a process that keeps more live than the floor is not collected without
// end, and puts back the limit it found when stopped.
func TestFollowTracksTheLiveHeap(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	before := debug.SetMemoryLimit(-1)
	const floor = 8 << 20
	stop := Follow(context.Background(), floor, 10*time.Millisecond)
	if got := debug.SetMemoryLimit(-1); got < floor || got == before {
		t.Fatalf("limit %d after Follow, want at least the floor %d", got, floor)
	}
	live := make([][]byte, 64) // 64 MiB kept live
	for i := range live {
		live[i] = make([]byte, 1<<20)
		live[i][0] = 1
	}
	runtime.GC()
	deadline := time.Now().Add(5 * time.Second)
	for debug.SetMemoryLimit(-1) < 64<<20 {
		if time.Now().After(deadline) {
			t.Fatalf("limit %d with 64 MiB live, want above it", debug.SetMemoryLimit(-1))
		}
		time.Sleep(10 * time.Millisecond) // polling for the ticker, with a deadline
	}
	runtime.KeepAlive(live)
	stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit %d after stop, want %d back", got, before)
	}
}

// While Follow runs, a heap well under the floor is not collected at all,
// however much garbage it makes (GOGC's trigger would collect it every few
// MiB); GOGC comes back on stop.
func TestFollowCollectsOnlyAtTheLimit(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "")
	runtime.GC()
	stop := Follow(context.Background(), 256<<20, time.Hour)
	before := numGC()
	var sink []byte
	for range 64 { // 64 MiB of garbage, 1 MiB at a time
		sink = make([]byte, 1<<20)
		sink[0] = 1
	}
	runtime.KeepAlive(sink)
	if n := numGC() - before; n != 0 {
		t.Errorf("%d collections of a heap under the floor, want none", n)
	}
	stop()
	if got := debug.SetGCPercent(100); got != 100 {
		t.Errorf("GOGC %d after stop, want 100 back", got)
	}
}

// An operator's GOGC stays: the limit is added, the trigger kept.
func TestFollowLeavesAnOperatorGOGCAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "")
	t.Setenv("GOGC", "200")
	old := debug.SetGCPercent(200)
	defer debug.SetGCPercent(old)
	stop := Follow(context.Background(), 8<<20, time.Hour)
	defer stop()
	if got := debug.SetGCPercent(200); got != 200 {
		t.Errorf("GOGC %d while following with GOGC=200 set, want 200", got)
	}
}

func TestFollowLeavesAnOperatorLimitAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	stop := Follow(context.Background(), 8<<20, time.Millisecond)
	defer stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit %d with GOMEMLIMIT set, want %d untouched", got, before)
	}
}

func numGC() uint32 {
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.NumGC
}
