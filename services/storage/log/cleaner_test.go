package log

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
)

// model applies the same writes to a map so the test knows the latest
// value of every key.
func compactLog(t *testing.T, c codec.Codec, keyMapEntries int) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	cfg := smallConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.SegmentBytes = 1500
	cfg.DeleteRetentionMs = 1000
	cfg.CleanerKeyMapEntries = keyMapEntries
	dir := t.TempDir()
	l := openT(t, dir, cfg, WithClock(clk.now))
	latest := map[string]string{}
	latestOff := map[string]int64{}
	for i := 0; i < 120; i++ {
		var kv []string
		for j := 0; j < 4; j++ {
			k := fmt.Sprintf("k%02d", (i*4+j)%23)
			v := fmt.Sprintf("v%d", i*4+j)
			if (i*4+j)%17 == 0 {
				v = "<nil>" // tombstone
			}
			kv = append(kv, k, v)
		}
		// Old tombstones: timestamps far before the horizon for the first half.
		ts := clk.t.UnixMilli() - 5000
		if i >= 60 {
			ts = clk.t.UnixMilli()
		}
		base, err := l.Append(keyed(t, c, ts, kv...), 0)
		if err != nil {
			t.Fatal(err)
		}
		for j := 0; j < len(kv); j += 2 {
			latest[kv[j]] = kv[j+1]
			latestOff[kv[j]] = base + int64(j/2)
		}
	}
	l.Append(keyed(t, c, clk.t.UnixMilli(), "null-key-holder", "x"), 0)
	leo := l.LogEndOffset()
	beforeOffs, _ := readAll(t, l)
	st, err := l.Compact()
	if err != nil {
		t.Fatal(err)
	}
	if st.SegmentsCleaned == 0 || st.RecordsRemoved == 0 {
		t.Fatalf("nothing compacted: %+v", st)
	}
	if keyMapEntries < 23 && st.Passes < 2 {
		t.Fatalf("small key map should need several passes: %+v", st)
	}
	check := func() {
		offs, vals := readAll(t, l)
		if l.LogEndOffset() != leo {
			t.Fatalf("leo moved: %d -> %d", leo, l.LogEndOffset())
		}
		seen := map[string]bool{}
		for i := 1; i < len(offs); i++ {
			if offs[i] <= offs[i-1] {
				t.Fatalf("offsets not increasing: %v", offs[i-1:i+1])
			}
		}
		// Every latest value survives at its original offset.
		idx := map[int64]string{}
		for i, o := range offs {
			idx[o] = vals[i]
		}
		for k, off := range latestOff {
			v, ok := idx[off]
			if latest[k] == "<nil>" {
				continue // tombstone may be gone if old
			}
			if !ok || v != latest[k] {
				t.Fatalf("key %s: latest value %q at %d lost (got %q,%v)", k, latest[k], off, v, ok)
			}
			seen[k] = true
		}
		if len(offs) >= len(beforeOffs) {
			t.Fatalf("compaction removed nothing: %d records", len(offs))
		}
	}
	check()
	// Second compaction is a no-op on content; reopen keeps it.
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	check()
	l.Close()
	l = openT(t, dir, cfg, WithClock(clk.now))
	check()
	crash(l)
	l = openT(t, dir, cfg, WithClock(clk.now))
	check()
	l.Close()
}

func TestCompaction(t *testing.T) {
	for _, c := range allCodecs {
		t.Run(c.String(), func(t *testing.T) { compactLog(t, c, 1<<20) })
	}
	t.Run("several passes", func(t *testing.T) { compactLog(t, codec.Gzip, 8) })
}

func TestCompactionTombstones(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(1_000_000)}
	cfg := smallConfig()
	cfg.CleanupPolicy = PolicyCompactDelete
	cfg.SegmentBytes = 200
	cfg.DeleteRetentionMs = 1000
	l := openT(t, t.TempDir(), cfg, WithClock(clk.now))
	defer l.Close()
	now := clk.t.UnixMilli()
	l.Append(keyed(t, codec.None, now-5000, "a", "1", "b", "1"), 0)
	l.Append(keyed(t, codec.None, now-5000, "a", "<nil>"), 0) // old tombstone: goes
	l.Append(keyed(t, codec.None, now, "b", "<nil>"), 0)      // fresh tombstone: stays
	for i := 0; i < 5; i++ {
		l.Append(keyed(t, codec.None, now, "c", fmt.Sprint(i)), 0)
	}
	if _, err := l.Compact(); err != nil {
		t.Fatal(err)
	}
	offs, vals := readAll(t, l)
	got := fmt.Sprint(offs, vals)
	// Segments hold two batches: [0 1 | 2] [3 | 4] [5 | 6] [7 | 8 (active)].
	// a's records and old tombstone go, b's fresh tombstone stays, c keeps
	// its latest value in the cleanable range plus the active segment.
	if got != "[3 6 7 8] [<nil> 2 3 4]" {
		t.Fatalf("after compaction: %s", got)
	}
}

// Interrupted swaps: a .cleaned file is discarded, a .swap file is
// installed in place of its segment.
func TestCompactionInterruptedSwap(t *testing.T) {
	cfg := smallConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.SegmentBytes = 300
	dir := t.TempDir()
	l := openT(t, dir, cfg)
	for i := 0; i < 10; i++ {
		l.Append(keyed(t, codec.None, 1, "k", fmt.Sprint(i), "j", fmt.Sprint(i)), 0)
	}
	want, wantVals := readAll(t, l)
	l.Close()
	first := filepath.Join(dir, segmentName(0, logSuffix))
	data, _ := os.ReadFile(first)
	os.WriteFile(first+cleanedSuffix, []byte("half-written garbage"), 0o644)
	l = openT(t, dir, cfg)
	got, _ := readAll(t, l)
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("cleaned leftover changed the log: %v", got)
	}
	if _, err := os.Stat(first + cleanedSuffix); !os.IsNotExist(err) {
		t.Fatal(".cleaned not removed")
	}
	crash(l)
	// A committed swap whose content is the same segment: installed on open.
	os.WriteFile(first+swapSuffix, data, 0o644)
	os.Remove(filepath.Join(dir, segmentName(0, indexSuffix)))
	l = openT(t, dir, cfg)
	defer l.Close()
	got, gotVals := readAll(t, l)
	if fmt.Sprint(got, gotVals) != fmt.Sprint(want, wantVals) {
		t.Fatalf("after swap: %v", got)
	}
}
