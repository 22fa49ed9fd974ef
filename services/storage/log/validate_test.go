package log

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
)

// Byte offsets in a v2 batch header (recordbatch keeps its own unexported).
const (
	hdrLength     = 8
	hdrCRC        = 17
	hdrAttributes = 21
)

// recompressed returns the uncompressed batch b with its records section
// replaced by recs compressed with c, the length and CRC fixed: damage the
// batch CRC cannot see.
func recompressed(t testing.TB, b []byte, c codec.Codec, recs []byte) []byte {
	t.Helper()
	out, err := codec.Compress(bytes.Clone(b[:recordbatch.HeaderSize]), c, recs)
	if err != nil {
		t.Fatal(err)
	}
	binary.BigEndian.PutUint16(out[hdrAttributes:], binary.BigEndian.Uint16(out[hdrAttributes:])&^7|uint16(c))
	binary.BigEndian.PutUint32(out[hdrLength:], uint32(len(out)-recordbatch.LengthFieldEnd))
	binary.BigEndian.PutUint32(out[hdrCRC:], recordbatch.Checksum(out))
	return out
}

// corruptBatches are compressed batches with a valid CRC whose payload or
// records are broken, by name, with the code Append must answer.
func corruptBatches(t testing.TB) map[string]struct {
	b    []byte
	code int16
} {
	plain := keyed(t, codec.None, 1, "a", "1", "b", "2")
	recs := plain[recordbatch.HeaderSize:]
	garbage := append(bytes.Clone(plain[:recordbatch.HeaderSize]), "definitely not gzip"...)
	garbage = recompressed(t, garbage, codec.None, garbage[recordbatch.HeaderSize:])
	binary.BigEndian.PutUint16(garbage[hdrAttributes:], uint16(codec.Gzip))
	binary.BigEndian.PutUint32(garbage[hdrCRC:], recordbatch.Checksum(garbage))
	badLen := bytes.Clone(recs)
	badLen[0] = 0x7f // the first record claims 63 bytes
	badVarint := bytes.Clone(recs)
	copy(badVarint[1+1:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}) // 11-byte timestamp delta
	first := int(recs[0]>>1) + 1
	bomb := batchOf(t, codec.None, 1, 8<<20, 1)
	return map[string]struct {
		b    []byte
		code int16
	}{
		"gzip garbage":      {garbage, recordbatch.CodeCorruptMessage},
		"gzip bad length":   {recompressed(t, plain, codec.Gzip, badLen), recordbatch.CodeCorruptMessage},
		"gzip bad varint":   {recompressed(t, plain, codec.Gzip, badVarint), recordbatch.CodeCorruptMessage},
		"gzip short count":  {recompressed(t, plain, codec.Gzip, recs[:first]), recordbatch.CodeCorruptMessage},
		"zstd extra record": {recompressed(t, plain, codec.Zstd, append(bytes.Clone(recs), recs[:first]...)), recordbatch.CodeCorruptMessage},
		"lz4 trailing byte": {recompressed(t, plain, codec.LZ4, append(bytes.Clone(recs), 0)), recordbatch.CodeCorruptMessage},
		"snappy truncated":  {recompressed(t, plain, codec.Snappy, recs[:len(recs)-3]), recordbatch.CodeCorruptMessage},
		"gzip bomb":         {recompressed(t, bomb, codec.Gzip, bomb[recordbatch.HeaderSize:]), recordbatch.CodeMessageTooLarge},
		"zstd bomb":         {recompressed(t, bomb, codec.Zstd, bomb[recordbatch.HeaderSize:]), recordbatch.CodeMessageTooLarge},
	}
}

func TestAppendRefusesCorruptCompressed(t *testing.T) {
	cfg := smallConfig()
	cfg.MaxDecompressedBytes = 1 << 20
	l := openT(t, t.TempDir(), cfg)
	defer l.Close()
	for _, c := range allCodecs {
		if _, err := l.Append(batchOf(t, c, 3, 100, 1), 0); err != nil {
			t.Fatalf("good %v batch: %v", c, err)
		}
	}
	leo, size := l.LogEndOffset(), l.Size()
	before, _ := l.Read(0, 1<<20, leo)
	for name, tc := range corruptBatches(t) {
		if len(tc.b) > cfg.MaxMessageBytes {
			t.Fatalf("%s: %d bytes, over max.message.bytes", name, len(tc.b))
		}
		_, err := l.Append(tc.b, 0)
		if got := recordbatch.CodeOf(err); got != tc.code {
			t.Errorf("%s: code %d (%v), want %d", name, got, err, tc.code)
		}
		// A corrupt batch after a good one in the same call: nothing written.
		_, err = l.Append(append(batchOf(t, codec.Gzip, 1, 1, 1), tc.b...), 0)
		if got := recordbatch.CodeOf(err); got != tc.code {
			t.Errorf("%s second in call: code %d (%v), want %d", name, got, err, tc.code)
		}
	}
	after, _ := l.Read(0, 1<<20, l.LogEndOffset())
	if l.LogEndOffset() != leo || l.Size() != size || !bytes.Equal(before, after) {
		t.Fatalf("refused batches changed the log: leo %d->%d size %d->%d", leo, l.LogEndOffset(), size, l.Size())
	}
	offs, _ := readAll(t, l)
	if len(offs) != 15 {
		t.Fatalf("%d records readable, want 15", len(offs))
	}
}

// Compaction decompresses every batch it keeps; refused batches never
// reach it, so it keeps working.
func TestCompactionAfterRefusedBatch(t *testing.T) {
	clk := &fakeClock{t: time.UnixMilli(10_000_000)}
	cfg := smallConfig()
	cfg.CleanupPolicy = PolicyCompact
	cfg.SegmentBytes = 600
	l := openT(t, t.TempDir(), cfg, WithClock(clk.now))
	defer l.Close()
	bad := corruptBatches(t)
	latest := map[string]string{}
	for i := 0; i < 40; i++ {
		k, v := fmt.Sprintf("k%d", i%5), fmt.Sprintf("v%d", i)
		if _, err := l.Append(keyed(t, allCodecs[i%len(allCodecs)], clk.t.UnixMilli(), k, v), 0); err != nil {
			t.Fatal(err)
		}
		latest[k] = v
		if i%10 == 5 {
			if _, err := l.Append(bad["gzip bad varint"].b, 0); recordbatch.CodeOf(err) != recordbatch.CodeCorruptMessage {
				t.Fatalf("corrupt batch: %v", err)
			}
		}
	}
	st, err := l.Compact()
	if err != nil {
		t.Fatal(err)
	}
	if st.RecordsRemoved == 0 {
		t.Fatalf("nothing compacted: %+v", st)
	}
	offs, vals := readAll(t, l)
	got := map[string]string{}
	for i := range offs {
		got[fmt.Sprintf("k%d", offs[i]%5)] = vals[i]
	}
	for k, v := range latest {
		if got[k] != v {
			t.Errorf("key %s: %q after compaction, want %q", k, got[k], v)
		}
	}
	if l.LogEndOffset() != 40 {
		t.Fatalf("log end %d, want 40", l.LogEndOffset())
	}
}

func TestAppendRefusesControlAndTransactionalWithoutProducer(t *testing.T) {
	l := openT(t, t.TempDir(), smallConfig())
	defer l.Close()
	recs := []recordbatch.BuildRecord{{Value: []byte("v"), Timestamp: 1}}
	for _, tc := range []struct {
		name string
		opts func(*recordbatch.BatchOptions)
		code int16
	}{
		{"transactional without producer id", func(o *recordbatch.BatchOptions) { o.Transactional = true }, recordbatch.CodeInvalidRecord},
		{"control", func(o *recordbatch.BatchOptions) { o.Control = true }, recordbatch.CodeInvalidRecord},
	} {
		for _, c := range []codec.Codec{codec.None, codec.Zstd} {
			o := recordbatch.ProducerOptions(c)
			tc.opts(&o)
			b, err := recordbatch.Build(o, recs)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := l.Append(b, 0); recordbatch.CodeOf(err) != tc.code {
				t.Errorf("%s %v: code %d (%v), want %d", tc.name, c, recordbatch.CodeOf(err), err, tc.code)
			}
		}
	}
	if l.LogEndOffset() != 0 || l.Size() != 0 {
		t.Fatal("refused batches were written")
	}
}
