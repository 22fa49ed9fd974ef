package recordbatch

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"testing"

	"github.com/strata-io/strata/internal/codec"
	"github.com/twmb/franz-go/pkg/kmsg"
)

var codecs = []codec.Codec{codec.None, codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd}

func testRecords(n int) []BuildRecord {
	recs := make([]BuildRecord, n)
	for i := range recs {
		recs[i] = BuildRecord{
			Key:       []byte(fmt.Sprintf("k%d", i)),
			Value:     bytes.Repeat([]byte{byte(i)}, i*10),
			Timestamp: 1000 + int64(i),
			Headers:   []RecordHeader{{Key: []byte("h"), Value: []byte("v")}},
		}
	}
	recs[n-1].Value = nil // tombstone
	return recs
}

func TestBuildParseRoundTrip(t *testing.T) {
	for _, c := range codecs {
		b, err := Build(ProducerOptions(c), testRecords(5))
		if err != nil {
			t.Fatal(err)
		}
		h, err := ValidateProducer(b, 1<<20)
		if err != nil {
			t.Fatalf("%v: %v", c, err)
		}
		if h.RecordCount != 5 || h.LastOffsetDelta != 4 || h.Codec() != c || h.BaseTimestamp != 1000 || h.MaxTimestamp != 1004 {
			t.Fatalf("%v: header %+v", c, h)
		}
		recs, err := Records(nil, b, &h, 1<<20)
		if err != nil {
			t.Fatal(err)
		}
		it := NewRecordIter(recs, h.RecordCount)
		i := 0
		for it.Next() {
			r := it.Record()
			want := testRecords(5)[i]
			if !bytes.Equal(r.Key, want.Key) || !bytes.Equal(r.Value, want.Value) || (r.Value == nil) != (want.Value == nil) ||
				r.TimestampDelta != int64(i) || int(r.OffsetDelta) != i || len(r.Headers) != 1 {
				t.Fatalf("%v record %d: %+v", c, i, r)
			}
			i++
		}
		if it.Err() != nil || i != 5 {
			t.Fatalf("%v: %d records, %v", c, i, it.Err())
		}
	}
}

// A batch encoded by franz-go's kmsg (the gateway's codec) must validate.
func TestKmsgBatch(t *testing.T) {
	var recs []byte
	for i := 0; i < 3; i++ {
		r := kmsg.Record{OffsetDelta: int32(i), TimestampDelta64: int64(i), Key: []byte("key"), Value: []byte("value")}
		enc := r.AppendTo(nil)
		r.Length = int32(len(enc) - 1)
		recs = r.AppendTo(recs)
	}
	kb := kmsg.RecordBatch{FirstOffset: 0, Magic: 2, LastOffsetDelta: 2, FirstTimestamp: 5, MaxTimestamp: 7,
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: 3, Records: recs}
	raw := kb.AppendTo(nil)
	binary.BigEndian.PutUint32(raw[8:], uint32(len(raw)-12))
	binary.BigEndian.PutUint32(raw[17:], crc32.Checksum(raw[21:], crc32.MakeTable(crc32.Castagnoli)))
	if _, err := ValidateProducer(raw, 1<<20); err != nil {
		t.Fatal(err)
	}
	// And our batches decode with kmsg.
	ours, _ := Build(ProducerOptions(codec.None), testRecords(3))
	var back kmsg.RecordBatch
	if err := back.ReadFrom(ours); err != nil || back.NumRecords != 3 || uint32(back.CRC) != Checksum(ours) {
		t.Fatalf("kmsg decode: %v %+v", err, back)
	}
}

func TestRejects(t *testing.T) {
	good, _ := Build(ProducerOptions(codec.None), testRecords(3))
	fix := func(b []byte) []byte { binary.BigEndian.PutUint32(b[offCRC:], Checksum(b)); return b }
	mut := func(f func(b []byte) []byte) []byte { return f(bytes.Clone(good)) }
	cases := []struct {
		name string
		b    []byte
		code int16
	}{
		{"short", good[:30], CodeCorruptMessage},
		{"truncated", good[:len(good)-1], CodeCorruptMessage},
		{"magic", mut(func(b []byte) []byte { b[offMagic] = 1; return b }), CodeCorruptMessage},
		{"crc", mut(func(b []byte) []byte { b[len(b)-1] ^= 1; return b }), CodeCorruptMessage},
		{"codec", mut(func(b []byte) []byte { b[offAttributes+1] |= 7; return fix(b) }), CodeUnsupportedCompressionType},
		{"count", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[offRecordCount:], 2); return fix(b) }), CodeInvalidRecord},
		{"negcount", mut(func(b []byte) []byte { binary.BigEndian.PutUint32(b[offRecordCount:], 0xffffffff); return fix(b) }), CodeCorruptMessage},
		{"control", mut(func(b []byte) []byte { b[offAttributes+1] |= attrControl; return fix(b) }), CodeInvalidRecord},
		{"badrecord", mut(func(b []byte) []byte { b[HeaderSize] = 0x7f; return fix(b) }), CodeCorruptMessage},
		{"overlong", mut(func(b []byte) []byte {
			copy(b[HeaderSize:], []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
			return fix(b)
		}), CodeCorruptMessage},
	}
	for _, c := range cases {
		_, err := ValidateProducer(c.b, 1<<20)
		if CodeOf(err) != c.code {
			t.Errorf("%s: code %d (%v), want %d", c.name, CodeOf(err), err, c.code)
		}
	}
}

func TestSplitAndPatch(t *testing.T) {
	a, _ := Build(ProducerOptions(codec.None), testRecords(2))
	b, _ := Build(ProducerOptions(codec.Gzip), testRecords(3))
	buf := append(bytes.Clone(a), b...)
	parts, err := Split(buf)
	if err != nil || len(parts) != 2 || !bytes.Equal(parts[1], b) {
		t.Fatalf("split: %v %d", err, len(parts))
	}
	SetBaseOffset(parts[1], 1234)
	SetPartitionLeaderEpoch(parts[1], 7)
	h, err := Validate(parts[1])
	if err != nil || h.BaseOffset != 1234 || h.PartitionLeaderEpoch != 7 || h.LastOffset() != 1236 {
		t.Fatalf("patched: %v %+v", err, h)
	}
	if _, err := Split(buf[:len(buf)-3]); !errors.Is(err, ErrCorrupt) {
		t.Fatalf("torn split: %v", err)
	}
}

func TestVarints(t *testing.T) {
	for _, v := range []int64{0, 1, -1, 63, -64, 1 << 40, -1 << 62, 1<<63 - 1, -1 << 63} {
		b := appendVarlong(nil, v)
		got, n, err := readVarlong(b, 10)
		if err != nil || got != v || n != len(b) || n != varlongLen(v) {
			t.Fatalf("%d: %d %d %v", v, got, n, err)
		}
	}
	if _, _, err := readVarint([]byte{0x80, 0x80, 0x80, 0x80, 0x80, 0x00}); err == nil {
		t.Fatal("6-byte varint accepted")
	}
	if _, _, err := readVarlong([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}, 10); err == nil {
		t.Fatal("overflowing varlong accepted")
	}
}

// A marker given a delete horizon keeps its offsets, type and record
// timestamp, validates, and franz-go's kmsg still reads it.
func TestControlDeleteHorizon(t *testing.T) {
	m, err := BuildControl(7, 3, false, 2, 1000)
	if err != nil {
		t.Fatal(err)
	}
	SetBaseOffset(m, 42)
	if h, _ := ParseHeader(m); func() bool { _, ok := h.DeleteHorizon(); return ok }() {
		t.Fatal("a new marker has a delete horizon")
	}
	d, err := WithDeleteHorizon(m, 90_000)
	if err != nil {
		t.Fatal(err)
	}
	h, err := Validate(d)
	if err != nil {
		t.Fatal(err)
	}
	if at, ok := h.DeleteHorizon(); !ok || at != 90_000 {
		t.Fatalf("horizon %d %v", at, ok)
	}
	if h.BaseOffset != 42 || h.LastOffsetDelta != 0 || h.ProducerID != 7 || h.ProducerEpoch != 3 || !h.IsControl() || !h.IsTransactional() || h.MaxTimestamp != 1000 {
		t.Fatalf("header %+v", h)
	}
	if typ, err := ControlType(d); err != nil || typ != ControlAbort {
		t.Fatalf("type %d %v", typ, err)
	}
	it := NewRecordIter(d[HeaderSize:], h.RecordCount)
	if !it.Next() || h.BaseTimestamp+it.Record().TimestampDelta != 1000 {
		t.Fatalf("record timestamp lost: %v", it.Err())
	}
	var back kmsg.RecordBatch
	if err := back.ReadFrom(d); err != nil || back.Attributes&0x40 == 0 || back.FirstTimestamp != 90_000 {
		t.Fatalf("kmsg decode: %v %+v", err, back)
	}
	if _, err := WithDeleteHorizon(batchForTest(t), 1); err == nil {
		t.Fatal("a data batch got a delete horizon")
	}
}

func batchForTest(t *testing.T) []byte {
	b, err := Build(ProducerOptions(codec.None), testRecords(2))
	if err != nil {
		t.Fatal(err)
	}
	return b
}
