package log

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
)

var allCodecs = []codec.Codec{codec.None, codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd}

// appendMix appends batches of varying codecs and sizes; it returns the
// stored bytes of each batch (after offset assignment).
func appendMix(t *testing.T, l *Log, n int) [][]byte {
	t.Helper()
	var out [][]byte
	for i := 0; i < n; i++ {
		b := batchOf(t, allCodecs[i%len(allCodecs)], 1+i%7, 10+i%300, int64(1000+i*10))
		base, err := l.Append(b, 0)
		if err != nil {
			t.Fatal(err)
		}
		h, _ := recordbatch.ParseHeader(b)
		if base != h.BaseOffset {
			t.Fatalf("base %d, header %d", base, h.BaseOffset)
		}
		out = append(out, b)
	}
	return out
}

func checkEveryOffset(t *testing.T, l *Log, batches [][]byte) {
	t.Helper()
	for i, b := range batches {
		h, _ := recordbatch.ParseHeader(b)
		for off := h.BaseOffset; off <= h.LastOffset(); off++ {
			got, err := l.Read(off, 1, l.LogEndOffset())
			if err != nil {
				t.Fatalf("read %d: %v", off, err)
			}
			if !bytes.Equal(got, b) {
				t.Fatalf("read %d (batch %d): got %d bytes, want the containing batch", off, i, len(got))
			}
			all, err := l.Read(off, 1<<30, l.LogEndOffset())
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.HasPrefix(all, b) {
				t.Fatalf("read %d: large read does not start with the batch", off)
			}
		}
	}
}

func TestAppendReadEveryOffset(t *testing.T) {
	dir := t.TempDir()
	cfg := smallConfig()
	cfg.SegmentBytes = 4096 // several segments
	l := openT(t, dir, cfg)
	batches := appendMix(t, l, 60)
	if l.NumSegments() < 3 {
		t.Fatalf("want several segments, got %d", l.NumSegments())
	}
	checkEveryOffset(t, l, batches)
	// Whole-log read equals the concatenation.
	var want []byte
	for _, b := range batches {
		want = append(want, b...)
	}
	var got []byte
	for off := int64(0); off < l.LogEndOffset(); {
		data, err := l.Read(off, 1000, l.LogEndOffset())
		if err != nil || len(data) == 0 {
			t.Fatalf("read %d: %v", off, err)
		}
		got = append(got, data...)
		parts, _ := recordbatch.Split(data)
		off = recordbatch.LastOffsetOf(parts[len(parts)-1]) + 1
	}
	if !bytes.Equal(got, want) {
		t.Fatal("sequential read differs from appended bytes")
	}
	// Out of range and at the end.
	if _, err := l.Read(l.LogEndOffset()+1, 100, 1<<62); recordbatch.CodeOf(err) != 1 {
		t.Fatalf("past end: %v", err)
	}
	if d, err := l.Read(l.LogEndOffset(), 100, 1<<62); err != nil || len(d) != 0 {
		t.Fatalf("at end: %v %d", err, len(d))
	}
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	l = openT(t, dir, cfg)
	defer l.Close()
	checkEveryOffset(t, l, batches)
}

func TestReadBoundedByMaxOffset(t *testing.T) {
	l := openT(t, t.TempDir(), smallConfig(), WithManualHighWatermark())
	defer l.Close()
	for i := 0; i < 5; i++ {
		if _, err := l.Append(batchOf(t, codec.None, 3, 10, 1), 0); err != nil {
			t.Fatal(err)
		}
	}
	if l.HighWatermark() != 0 {
		t.Fatalf("manual hw moved to %d", l.HighWatermark())
	}
	l.SetHighWatermark(7) // inside the third batch [6,8]
	data, err := l.Read(0, 1<<20, l.HighWatermark())
	if err != nil {
		t.Fatal(err)
	}
	parts, _ := recordbatch.Split(data)
	if len(parts) != 2 {
		t.Fatalf("got %d batches below hw 7, want 2", len(parts))
	}
	if off, _, _ := l.OffsetForTimestamp(LatestTimestamp); off != 7 {
		t.Fatalf("latest = %d", off)
	}
}

func TestRollBySizeAndTime(t *testing.T) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	cfg := smallConfig()
	cfg.SegmentBytes = 2000
	cfg.SegmentMs = 60_000
	l := openT(t, t.TempDir(), cfg, WithClock(clk.now))
	defer l.Close()
	b := batchOf(t, codec.None, 1, 500, 1)
	for i := 0; i < 3; i++ {
		l.Append(bytes.Clone(b), 0)
	}
	if l.NumSegments() != 1 {
		t.Fatalf("segments %d", l.NumSegments())
	}
	l.Append(bytes.Clone(b), 0)
	if l.NumSegments() != 2 {
		t.Fatalf("size roll: segments %d", l.NumSegments())
	}
	clk.advance(59 * time.Second)
	l.Append(bytes.Clone(b), 0)
	if l.NumSegments() != 2 {
		t.Fatalf("early time roll: segments %d", l.NumSegments())
	}
	clk.advance(2 * time.Minute)
	l.Append(bytes.Clone(b), 0)
	if l.NumSegments() != 3 {
		t.Fatalf("time roll: segments %d", l.NumSegments())
	}
	names, _ := filepath.Glob(filepath.Join(l.Dir(), "*.log"))
	if filepath.Base(names[1]) != "00000000000000000003.log" {
		t.Fatalf("segment names %v", names)
	}
}

func TestIndexRoll(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentIndexBytes = 48 // 6 offset entries, 4 time entries
	cfg.IndexIntervalBytes = 0 // an entry per batch
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	for i := 0; i < 20; i++ {
		if _, err := l.Append(batchOf(t, codec.None, 1, 10, int64(i)), 0); err != nil {
			t.Fatal(err)
		}
	}
	if l.NumSegments() < 4 {
		t.Fatalf("index cap did not roll: %d segments", l.NumSegments())
	}
}

func TestRejectsBadBatches(t *testing.T) {
	cfg := smallConfig()
	cfg.MaxMessageBytes = 2000
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	good := batchOf(t, codec.None, 2, 10, 1)
	fix := func(b []byte) []byte {
		recordbatch.SetBaseOffset(b, 0)
		b[17], b[18], b[19], b[20] = 0, 0, 0, 0
		c := recordbatch.Checksum(b)
		b[17], b[18], b[19], b[20] = byte(c>>24), byte(c>>16), byte(c>>8), byte(c)
		return b
	}
	cases := map[string]struct {
		b    []byte
		code int16
	}{
		"crc":      {append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^0xff), 2},
		"torn":     {bytes.Clone(good[:len(good)-5]), 2},
		"magic":    {func() []byte { b := bytes.Clone(good); b[16] = 1; return b }(), 2},
		"codec":    {func() []byte { b := bytes.Clone(good); b[22] |= 6; return fix(b) }(), 76},
		"count":    {func() []byte { b := bytes.Clone(good); b[60] = 5; return fix(b) }(), 2},
		"gap":      {func() []byte { b := bytes.Clone(good); b[60] = 1; return fix(b) }(), 87},
		"too big":  {batchOf(t, codec.None, 1, 3000, 1), 10},
		"2nd torn": {append(bytes.Clone(good), good[:40]...), 2},
		"empty":    {nil, 2},
	}
	for name, c := range cases {
		_, err := l.Append(c.b, 0)
		if got := recordbatch.CodeOf(err); got != c.code {
			t.Errorf("%s: code %d (%v), want %d", name, got, err, c.code)
		}
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatalf("rejected batches were written: leo %d size %d", l.LogEndOffset(), l.Size())
	}
}

func TestLeaderEpochs(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, smallConfig())
	for _, e := range []int32{1, 1, 3, 3, 3, 5} {
		if _, err := l.Append(batchOf(t, codec.None, 2, 1, 1), e); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := l.Append(batchOf(t, codec.None, 1, 1, 1), 4); recordbatch.CodeOf(err) != 74 {
		t.Fatalf("stale epoch: %v", err)
	}
	want := []LeaderEpoch{{1, 0}, {3, 4}, {5, 10}}
	check := func() {
		got := l.LeaderEpochs()
		if len(got) != len(want) {
			t.Fatalf("epochs %v", got)
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("epochs %v, want %v", got, want)
			}
		}
	}
	check()
	for _, c := range []struct {
		ask, epoch int32
		end        int64
	}{{0, -1, -1}, {1, 1, 4}, {2, 1, 4}, {3, 3, 10}, {4, 3, 10}, {5, 5, 12}, {9, 5, 12}} {
		if e, end := l.EndOffsetForEpoch(c.ask); e != c.epoch || end != c.end {
			t.Errorf("epoch %d: (%d,%d) want (%d,%d)", c.ask, e, end, c.epoch, c.end)
		}
	}
	l.Close()
	l = openT(t, dir, smallConfig())
	check()
	if err := l.TruncateTo(6); err != nil {
		t.Fatal(err)
	}
	want = want[:2]
	check()
	l.Close()
}

func TestAppendReplicated(t *testing.T) {
	src := openT(t, t.TempDir(), smallConfig())
	defer src.Close()
	for i := 0; i < 10; i++ {
		src.Append(batchOf(t, allCodecs[i%5], 3, 20, int64(i)), int32(i/4))
	}
	data, _ := src.Read(0, 1<<20, src.LogEndOffset())
	dst := openT(t, t.TempDir(), smallConfig())
	defer dst.Close()
	parts, _ := recordbatch.Split(data)
	if err := dst.AppendReplicated(bytes.Join(parts[:4], nil)); err != nil {
		t.Fatal(err)
	}
	if err := dst.AppendReplicated(parts[2]); recordbatch.CodeOf(err) != 1 {
		t.Fatalf("overlapping replicated append: %v", err)
	}
	if err := dst.AppendReplicated(bytes.Join(parts[4:], nil)); err != nil {
		t.Fatal(err)
	}
	got, _ := dst.Read(0, 1<<20, dst.LogEndOffset())
	if !bytes.Equal(got, data) || dst.LogEndOffset() != src.LogEndOffset() {
		t.Fatal("replica differs from leader")
	}
	if len(dst.LeaderEpochs()) != 3 {
		t.Fatalf("replica epochs %v", dst.LeaderEpochs())
	}
}

func TestOffsetForTimestamp(t *testing.T) {
	cfg := smallConfig()
	cfg.SegmentBytes = 1500
	cfg.IndexIntervalBytes = 0
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	// Batch i holds 4 records with timestamps 100i .. 100i+3, various codecs.
	for i := 0; i < 40; i++ {
		l.Append(batchOf(t, allCodecs[i%5], 4, 30, int64(100*i)), 0)
	}
	l.Append(keyed(t, codec.None, 50, "late", "x"), 0) // out-of-order timestamp at offset 160
	for _, c := range []struct{ ts, off, rts int64 }{
		{0, 0, 0}, {2, 2, 2}, {4, 4, 100}, {101, 5, 101}, {3903, 159, 3903},
		{3904, -1, -1}, {EarliestTimestamp, 0, -1}, {LatestTimestamp, 161, -1}, {MaxTimestamp, 159, 3903},
	} {
		off, rts, err := l.OffsetForTimestamp(c.ts)
		if err != nil || off != c.off || rts != c.rts {
			t.Errorf("ts %d: (%d,%d,%v), want (%d,%d)", c.ts, off, rts, err, c.off, c.rts)
		}
	}
}

func TestOffsetsPersistAndClamp(t *testing.T) {
	dir := t.TempDir()
	l := openT(t, dir, smallConfig(), WithManualHighWatermark())
	for i := 0; i < 5; i++ {
		l.Append(batchOf(t, codec.None, 2, 10, 1), 0)
	}
	l.SetHighWatermark(6)
	l.SetHighWatermark(100)
	if l.HighWatermark() != 10 {
		t.Fatalf("hw not clamped: %d", l.HighWatermark())
	}
	l.SetHighWatermark(6)
	l.Close()
	l = openT(t, dir, smallConfig(), WithManualHighWatermark())
	defer l.Close()
	if l.HighWatermark() != 6 || l.LogEndOffset() != 10 {
		t.Fatalf("after reopen hw %d leo %d", l.HighWatermark(), l.LogEndOffset())
	}
	if _, err := os.Stat(filepath.Join(dir, cleanShutdownFile)); !errors.Is(err, os.ErrNotExist) {
		t.Fatal("clean shutdown marker survived open")
	}
}

func TestUseAfterClose(t *testing.T) {
	l := openT(t, t.TempDir(), smallConfig())
	l.Append(batchOf(t, codec.None, 1, 1, 1), 0)
	l.Close()
	if _, err := l.Read(0, 100, 1); recordbatch.CodeOf(err) != recordbatch.CodeKafkaStorageError {
		t.Fatalf("read after close: %v", err)
	}
	if _, err := l.Append(batchOf(t, codec.None, 1, 1, 1), 0); !errors.Is(err, ErrClosed) {
		t.Fatalf("append after close: %v", err)
	}
	if _, _, err := l.OffsetForTimestamp(0); !errors.Is(err, ErrClosed) {
		t.Fatalf("list offsets after close: %v", err)
	}
}
