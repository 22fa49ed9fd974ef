package log

import (
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
)

// policyLog is a compacted log with small segments and a fake clock.
func policyLog(t *testing.T, mut func(*Config)) (*Log, *fakeClock) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	cfg := smallConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.SegmentBytes = 400
	mut(&cfg)
	return openT(t, t.TempDir(), cfg, WithClock(clk.now)), clk
}

// writeKeys appends n batches rewriting keys k0..k3, timestamped ts.
func writeKeys(t *testing.T, l *Log, n int, ts int64) {
	t.Helper()
	for i := 0; i < n; i++ {
		if _, err := l.Append(keyed(t, codec.None, ts, "k0", fmt.Sprint(i), "k1", fmt.Sprint(i), "k2", "x", "k3", "y"), 0); err != nil {
			t.Fatal(err)
		}
	}
}

func compactT(t *testing.T, l *Log) CleanStats {
	t.Helper()
	st, err := l.Compact()
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestDirtyRatioHoldsOffCompaction(t *testing.T) {
	l, clk := policyLog(t, func(c *Config) { c.MinCleanableDirtyRatio = 0.9 })
	// Distinct keys: compaction removes nothing, so the clean part stays big.
	for i := 0; i < 30; i++ {
		if _, err := l.Append(keyed(t, codec.None, clk.t.UnixMilli(), fmt.Sprintf("u%d", i), "v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	if st := compactT(t, l); st.SegmentsCleaned == 0 {
		t.Fatalf("all-dirty log not compacted: %+v", st)
	}
	writeKeys(t, l, 6, clk.t.UnixMilli())
	if st := compactT(t, l); st.SegmentsCleaned != 0 {
		t.Fatalf("compacted below the dirty ratio: %+v", st)
	}
}

func TestMaxCompactionLagForcesCompaction(t *testing.T) {
	l, clk := policyLog(t, func(c *Config) {
		c.MinCleanableDirtyRatio = 1
		c.MaxCompactionLagMs = 60_000
	})
	for i := 0; i < 30; i++ {
		if _, err := l.Append(keyed(t, codec.None, clk.t.UnixMilli(), fmt.Sprintf("u%d", i), "v"), 0); err != nil {
			t.Fatal(err)
		}
	}
	compactT(t, l)
	writeKeys(t, l, 6, clk.t.UnixMilli())
	if st := compactT(t, l); st.SegmentsCleaned != 0 {
		t.Fatalf("compacted below the dirty ratio before the max lag: %+v", st)
	}
	clk.advance(2 * time.Minute)
	if st := compactT(t, l); st.SegmentsCleaned == 0 || st.RecordsRemoved == 0 {
		t.Fatalf("max.compaction.lag.ms passed, not compacted: %+v", st)
	}
}

func TestMinCompactionLag(t *testing.T) {
	l, clk := policyLog(t, func(c *Config) {
		c.MinCleanableDirtyRatio = 0
		c.MinCompactionLagMs = 60_000
	})
	writeKeys(t, l, 20, clk.t.UnixMilli())
	if st := compactT(t, l); st.SegmentsCleaned != 0 {
		t.Fatalf("records younger than min.compaction.lag.ms compacted: %+v", st)
	}
	clk.advance(2 * time.Minute)
	// Newer segments, young again: only the old ones may be cleaned.
	writeKeys(t, l, 20, clk.t.UnixMilli())
	st := compactT(t, l)
	if st.SegmentsCleaned == 0 {
		t.Fatalf("old records not compacted: %+v", st)
	}
	if st.SegmentsCleaned >= l.NumSegments()/2+1 {
		t.Errorf("cleaned %d of %d segments: young ones too", st.SegmentsCleaned, l.NumSegments())
	}
}
