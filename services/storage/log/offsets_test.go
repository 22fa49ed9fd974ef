package log

import (
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
)

// withBeforeDecode runs f whenever a timestamp lookup has copied a batch
// out and is about to decompress it.
func withBeforeDecode(f func()) Option { return func(o *options) { o.beforeDecode = f } }

// A timestamp lookup decompresses its candidate batch without segMu: a
// roll (which takes segMu exclusively) completes while the lookup waits
// just before decompressing, and the lookup still answers right.
func TestOffsetForTimestampDecodesUnlocked(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1500
	cfg.IndexIntervalBytes = 0
	var l *Log
	reached := make(chan struct{}, 16)
	release := make(chan struct{})
	hook := func() {
		if !l.segMu.TryLock() {
			t.Error("segMu held while decompressing")
		} else {
			l.segMu.Unlock()
		}
		reached <- struct{}{}
		<-release
	}
	l = openT(t, t.TempDir(), cfg, withBeforeDecode(hook))
	defer l.Close()
	for i := 0; i < 20; i++ { // batch i: 4 records, timestamps 100i..100i+3
		if _, err := l.Append(batchOf(t, allCodecs[i%len(allCodecs)], 4, 30, int64(100*i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	type answer struct {
		off, ts int64
		err     error
	}
	done := make(chan answer, 1)
	go func() {
		off, ts, err := l.OffsetForTimestamp(1002)
		done <- answer{off, ts, err}
	}()
	select {
	case <-reached:
	case <-time.After(10 * time.Second):
		t.Fatal("lookup never reached decompression")
	}
	// Fill the active segment until it rolls: each roll takes segMu.
	segs := l.NumSegments()
	appended := make(chan error, 1)
	go func() {
		for i := 0; i < 20 && l.NumSegments() == segs; i++ {
			if _, err := l.Append(batchOf(t, codec.Zstd, 4, 30, 5000), 0); err != nil {
				appended <- err
				return
			}
		}
		appended <- nil
	}()
	select {
	case err := <-appended:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("append blocked behind a decompressing timestamp lookup")
	}
	if l.NumSegments() == segs {
		t.Fatal("no roll happened")
	}
	close(release)
	a := <-done
	if a.err != nil || a.off != 42 || a.ts != 1002 {
		t.Fatalf("lookup of 1002: (%d,%d,%v), want (42,1002)", a.off, a.ts, a.err)
	}
}

// A candidate batch without a qualifying record (below the log start after
// DeleteRecords) makes the lookup resume at the next batch, within and
// across segments.
func TestOffsetForTimestampResumes(t *testing.T) {
	for _, segBytes := range []int64{1 << 20, 400} {
		cfg := smallConfig()
		cfg.SegmentBytes = segBytes
		cfg.IndexIntervalBytes = 0
		decodes := 0
		l := openT(t, t.TempDir(), cfg, withBeforeDecode(func() { decodes++ }))
		for i := 0; i < 12; i++ { // batch i: offsets 4i..4i+3, timestamps 100i..100i+3
			if _, err := l.Append(batchOf(t, allCodecs[i%len(allCodecs)], 4, 30, int64(100*i)), 0); err != nil {
				t.Fatal(err)
			}
		}
		tsOf := func(off int64) int64 { return 100*(off/4) + off%4 }
		for _, start := range []int64{21, 24, 30} {
			if _, err := l.DeleteRecordsBefore(start); err != nil {
				t.Fatal(err)
			}
			for _, ts := range []int64{0, 250, 501, 503, 504, 999, 1103, 1104} {
				want, wantTS := int64(-1), int64(-1)
				for off := start; off < 48; off++ {
					if tsOf(off) >= ts {
						want, wantTS = off, tsOf(off)
						break
					}
				}
				decodes = 0
				off, rts, err := l.OffsetForTimestamp(ts)
				if err != nil || off != want || rts != wantTS {
					t.Errorf("segment.bytes %d, start %d, ts %d: (%d,%d,%v), want (%d,%d)", segBytes, start, ts, off, rts, err, want, wantTS)
				}
				if segBytes == 1<<20 && ts == 0 && start == 24 && decodes != 7 {
					t.Errorf("start 24, ts 0: %d batches decoded, want 7 (six below the start)", decodes)
				}
			}
		}
		if off, rts, err := l.OffsetForTimestamp(MaxTimestamp); err != nil || off != 47 || rts != 1103 {
			t.Errorf("segment.bytes %d, max timestamp: (%d,%d,%v)", segBytes, off, rts, err)
		}
		l.Close()
		if _, _, err := l.OffsetForTimestamp(5); err != ErrClosed {
			t.Fatalf("after close: %v", err)
		}
	}
}
