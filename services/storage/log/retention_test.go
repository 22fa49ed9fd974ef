package log

import (
	"sync"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
)

func TestRetentionByTime(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(1_000_000)}
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	cfg.RetentionMs = 5_000
	dir := t.TempDir()
	l := openT(t, dir, cfg, WithClock(clk.now))
	// Timestamps 990_000 + i*1000: the first segments fall out of retention.
	for i := 0; i < 20; i++ {
		l.Append(batchOf(t, codec.None, 1, 300, 990_000+int64(i)*1000), 0)
	}
	before := l.NumSegments()
	n, err := l.DeleteOldSegments()
	if err != nil || n == 0 {
		t.Fatalf("deleted %d, %v", n, err)
	}
	if l.NumSegments() != before-n || l.LogStartOffset() == 0 {
		t.Fatalf("segments %d start %d", l.NumSegments(), l.LogStartOffset())
	}
	// Everything left is within retention, except possibly the active segment.
	l.segMu.RLock()
	for _, s := range l.segs[:len(l.segs)-1] {
		if 1_000_000-s.largestTimestamp() > cfg.RetentionMs {
			t.Errorf("segment %d should have gone", s.base)
		}
	}
	l.segMu.RUnlock()
	if _, err := l.Read(0, 100, 1<<40); recordbatch.CodeOf(err) != 1 {
		t.Fatalf("read below start: %v", err)
	}
	start := l.LogStartOffset()
	l.Close()
	l = openT(t, dir, cfg, WithClock(clk.now))
	defer l.Close()
	if l.LogStartOffset() != start {
		t.Fatalf("start after reopen %d want %d", l.LogStartOffset(), start)
	}
}

func TestRetentionBytesAndDeleteRecords(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1000
	cfg.RetentionBytes = 2500
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	for i := 0; i < 30; i++ {
		l.Append(batchOf(t, codec.None, 1, 300, int64(i)), 0)
	}
	if _, err := l.DeleteOldSegments(); err != nil {
		t.Fatal(err)
	}
	if l.Size() > 2500+1000 || l.Size() < 2500-1000 {
		t.Fatalf("size %d after retention.bytes 2500", l.Size())
	}
	offs, _ := readAll(t, l)
	if int64(len(offs)) != l.LogEndOffset()-l.LogStartOffset() {
		t.Fatalf("read %d records, range %d..%d", len(offs), l.LogStartOffset(), l.LogEndOffset())
	}
	// DeleteRecords inside a segment moves the start without deleting it.
	target := l.LogStartOffset() + 1
	if s, err := l.DeleteRecordsBefore(target); err != nil || s != target {
		t.Fatalf("delete records: %d %v", s, err)
	}
	if off, _, _ := l.OffsetForTimestamp(0); off != target {
		t.Fatalf("earliest timestamp lookup gives %d, want %d", off, target)
	}
	if _, err := l.DeleteRecordsBefore(l.HighWatermark() + 1); recordbatch.CodeOf(err) != 1 {
		t.Fatalf("delete past hw: %v", err)
	}
	if _, err := l.DeleteRecordsBefore(l.LogEndOffset() - 1); err != nil {
		t.Fatal(err)
	}
	if l.NumSegments() != 1 {
		t.Fatalf("segments %d after deleting to the end", l.NumSegments())
	}
}

func TestCompactPolicySkipsRetention(t *testing.T) {
	cfg := smallConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.SegmentBytes = 500
	cfg.RetentionBytes = 1
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	for i := 0; i < 10; i++ {
		l.Append(batchOf(t, codec.None, 1, 300, int64(i)), 0)
	}
	if n, _ := l.DeleteOldSegments(); n != 0 {
		t.Fatalf("compact-only policy deleted %d segments", n)
	}
}

// Readers run while a writer appends and rolls and retention deletes; run
// with -race.
func TestConcurrentReadWrite(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 4000
	cfg.RetentionBytes = 20000
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	var wg sync.WaitGroup
	done := make(chan struct{})
	for r := 0; r < 2; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				off := l.LogStartOffset()
				data, err := l.Read(off, 2000, l.HighWatermark())
				if err != nil {
					if recordbatch.CodeOf(err) == 1 {
						continue // retention moved the start
					}
					t.Error(err)
					return
				}
				for len(data) > 0 {
					b, rest, err := recordbatch.Next(data)
					if err != nil {
						t.Error(err)
						return
					}
					if _, err := recordbatch.Validate(b); err != nil {
						t.Error(err)
						return
					}
					data = rest
				}
			}
		}()
	}
	for i := 0; i < 400; i++ {
		if _, err := l.Append(batchOf(t, codec.None, 2, 100, int64(i)), 0); err != nil {
			t.Fatal(err)
		}
		if i%50 == 0 {
			if _, err := l.DeleteOldSegments(); err != nil {
				t.Fatal(err)
			}
		}
	}
	close(done)
	wg.Wait()
}

func TestFlushPolicy(t *testing.T) {
	cfg := smallConfig()
	cfg.FlushMessages = 1
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	l.Append(batchOf(t, codec.None, 2, 10, 1), 0)
	l.mu.Lock()
	rp, unflushed := l.recoveryPoint, l.unflushed
	l.mu.Unlock()
	if rp != 2 || unflushed != 0 {
		t.Fatalf("flush.messages=1 did not flush: recovery point %d, unflushed %d", rp, unflushed)
	}
	if err := l.Flush(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	for _, mut := range []func(*Config){
		func(c *Config) { c.CleanupPolicy = "bogus" },
		func(c *Config) { c.SegmentBytes = 3 << 30 },
		func(c *Config) { c.FlushMessages = 0 },
		func(c *Config) { c.RetentionMs = -5 },
		func(c *Config) { c.SegmentIndexBytes = 8 },
	} {
		c := DefaultConfig()
		mut(&c)
		if c.Validate() == nil {
			t.Errorf("invalid config accepted: %+v", c)
		}
	}
	c := DefaultConfig()
	c.CleanupPolicy = PolicyCompactDelete
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
}
