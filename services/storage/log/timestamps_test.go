package log

import (
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
)

func firstHeader(t *testing.T, l *Log, off int64) recordbatch.Header {
	t.Helper()
	data, err := l.Read(off, 1<<20, l.LogEndOffset())
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := recordbatch.Next(data)
	if err != nil {
		t.Fatal(err)
	}
	h, err := recordbatch.Validate(b)
	if err != nil {
		t.Fatalf("stored batch: %v", err)
	}
	return h
}

func TestLogAppendTime(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	cfg := smallConfig()
	cfg.LogAppendTime = true
	cfg.TimestampAfterMaxMs = 0 // ignored with LogAppendTime
	l := openT(t, t.TempDir(), cfg, WithClock(clk.now))
	for i, c := range []codec.Codec{codec.None, codec.Gzip, codec.Zstd} {
		clk.advance(time.Second)
		off, err := l.Append(batchOf(t, c, 3, 10, 1000*int64(i+1)), 0)
		if err != nil {
			t.Fatal(err)
		}
		h := firstHeader(t, l, off)
		if !h.LogAppendTime() || h.MaxTimestamp != clk.t.UnixMilli() || h.Codec() != c {
			t.Errorf("codec %v: log append time %v, max timestamp %d, want %d", c, h.LogAppendTime(), h.MaxTimestamp, clk.t.UnixMilli())
		}
	}
	if off, ts, err := l.OffsetForTimestamp(clk.t.UnixMilli() - 500); err != nil || off != 6 || ts != clk.t.UnixMilli() {
		t.Errorf("offset for timestamp: %d %d %v", off, ts, err)
	}
}

func TestCreateTimeBounds(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	now := clk.t.UnixMilli()
	cfg := smallConfig()
	cfg.TimestampBeforeMaxMs = 1000
	cfg.TimestampAfterMaxMs = 2000
	l := openT(t, t.TempDir(), cfg, WithClock(clk.now))
	for _, c := range []codec.Codec{codec.None, codec.LZ4} {
		for _, tc := range []struct {
			ts int64
			ok bool
		}{
			{now, true}, {now - 1000, true}, {now + 2000 - 2, true}, {-1, true}, // batchOf adds 0..2
			{now - 1001, false}, {now + 1999, false}, {now + 1_000_000, false}, {-1 << 62, false}, {1 << 62, false},
		} {
			leo := l.LogEndOffset()
			_, err := l.Append(batchOf(t, c, 1+2*btoi(tc.ts != -1), 5, tc.ts), 0)
			if tc.ok && err != nil {
				t.Errorf("codec %v ts %d: %v", c, tc.ts, err)
			}
			if !tc.ok {
				if recordbatch.CodeOf(err) != recordbatch.CodeInvalidTimestamp {
					t.Errorf("codec %v ts %d: got %v, want INVALID_TIMESTAMP", c, tc.ts, err)
				}
				if l.LogEndOffset() != leo {
					t.Errorf("refused append moved the log end")
				}
			}
		}
	}
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}
