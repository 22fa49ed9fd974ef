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

func TestFollowLeavesAnOperatorLimitAlone(t *testing.T) {
	t.Setenv("GOMEMLIMIT", "1GiB")
	before := debug.SetMemoryLimit(-1)
	stop := Follow(context.Background(), 8<<20, time.Millisecond)
	defer stop()
	if got := debug.SetMemoryLimit(-1); got != before {
		t.Errorf("limit %d with GOMEMLIMIT set, want %d untouched", got, before)
	}
}
