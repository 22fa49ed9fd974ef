package recordbatch

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/strata-io/strata/api/kafkabatch"
	"github.com/strata-io/strata/internal/codec"
)

// The clients' batch encoder (api/kafkabatch) writes, byte for byte, the
// batch the server's builder writes for the same records, and the server
// accepts it as a producer's.
func TestClientBatchEncoderMatchesBuild(t *testing.T) {
	for _, n := range []int{1, 2, 7, 300} {
		var w kafkabatch.Builder
		w.Reset(nil)
		recs := make([]BuildRecord, n)
		for i := range recs {
			r := BuildRecord{Value: bytes.Repeat([]byte{byte(i)}, i%200), Timestamp: 1_700_000_000_000 + int64(i*7%5) - 2}
			var hs []kafkabatch.Header
			switch i % 4 {
			case 0:
				r.Key = []byte(fmt.Sprintf("key-%d", i))
			case 1:
				r.Value = nil // a tombstone
			case 2:
				r.Headers = []RecordHeader{{Key: []byte("h"), Value: []byte("v")}, {Key: []byte("empty"), Value: nil}}
				hs = []kafkabatch.Header{{Key: "h", Value: []byte("v")}, {Key: "empty"}}
			}
			recs[i] = r
			w.Add(r.Key, r.Value, r.Timestamp, hs)
		}
		opts := ProducerOptions(codec.None)
		opts.PartitionLeaderEpoch = -1
		want, err := Build(opts, recs)
		if err != nil {
			t.Fatal(err)
		}
		got := w.Finish()
		if !bytes.Equal(got, want) {
			t.Fatalf("%d records: client encoder wrote %d bytes, the builder %d; they differ", n, len(got), len(want))
		}
		if _, err := ValidateProducer(got, 1<<20); err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
		if w.Records() != n || w.Len() != len(got) {
			t.Fatalf("Records %d Len %d, want %d and %d", w.Records(), w.Len(), n, len(got))
		}
	}
}

// The clients' batch decoder (api/kafkabatch) reads what the server's
// builder writes, as the server's iterator does: offsets (with compaction
// gaps), timestamps (LogAppendTime: the max timestamp), null and empty
// keys and values, and headers in order; and it refuses a batch it cannot
// read whole rather than misreading it.
func TestClientBatchDecoderMatchesRecordIter(t *testing.T) {
	for _, logAppend := range []bool{false, true} {
		opts := ProducerOptions(codec.None)
		opts.BaseOffset, opts.LogAppendTime, opts.KeepOffsetDeltas = 1_000_000, logAppend, true
		recs := make([]BuildRecord, 50)
		for i := range recs {
			recs[i] = BuildRecord{Key: []byte(fmt.Sprint(i)), Value: bytes.Repeat([]byte{byte(i)}, i), Timestamp: 1_700_000_000_000 + int64(i%7),
				OffsetDelta: int32(i * 3)}
			switch i % 4 {
			case 1:
				recs[i].Key, recs[i].Value = nil, nil
			case 2:
				recs[i].Key, recs[i].Value = []byte{}, []byte{}
			case 3:
				recs[i].Headers = []RecordHeader{{Key: []byte("a"), Value: []byte("1")}, {Key: []byte("b")}, {Key: []byte("a"), Value: []byte{}}}
			}
		}
		b, err := Build(opts, recs)
		if err != nil {
			t.Fatal(err)
		}
		h, err := Validate(b)
		if err != nil {
			t.Fatal(err)
		}
		var got []kafkabatch.Record
		if err := kafkabatch.Decode(b, func(r kafkabatch.Record) { got = append(got, r) }); err != nil {
			t.Fatal(err)
		}
		it, i := NewRecordIter(b[HeaderSize:], h.RecordCount), 0
		for ; it.Next(); i++ {
			want, r := it.Record(), got[i]
			ts := h.BaseTimestamp + want.TimestampDelta
			if logAppend {
				ts = h.MaxTimestamp
			}
			if r.Offset != h.BaseOffset+int64(want.OffsetDelta) || r.Timestamp != ts || r.LogAppendTime != logAppend ||
				!sameBytes(r.Key, want.Key) || !sameBytes(r.Value, want.Value) || len(r.Headers) != len(want.Headers) {
				t.Fatalf("record %d: decoded %+v, the server reads %+v", i, r, want)
			}
			for j, hd := range want.Headers {
				if r.Headers[j].Key != string(hd.Key) || !sameBytes(r.Headers[j].Value, hd.Value) {
					t.Fatalf("record %d header %d: %+v, want %q=%q", i, j, r.Headers[j], hd.Key, hd.Value)
				}
			}
		}
		if it.Err() != nil || i != len(got) || i != len(recs) {
			t.Fatalf("decoded %d records, the server %d (%v), built %d", len(got), i, it.Err(), len(recs))
		}
		// Every truncation and every flipped byte of the records is an
		// error or a decoding within the batch, never a panic.
		for n := 0; n < len(b); n += 7 {
			if err := kafkabatch.Decode(b[:n], func(kafkabatch.Record) {}); err == nil {
				t.Fatalf("a batch cut to %d of %d bytes decoded", n, len(b))
			}
		}
		for i := HeaderSize; i < len(b); i++ {
			c := bytes.Clone(b)
			c[i] ^= 0xff
			_ = kafkabatch.Decode(c, func(kafkabatch.Record) {})
		}
	}
	compressed, err := Build(ProducerOptions(codec.Zstd), []BuildRecord{{Value: []byte("v")}})
	if err != nil {
		t.Fatal(err)
	}
	if err := kafkabatch.Decode(compressed, func(kafkabatch.Record) {}); err == nil {
		t.Fatal("a compressed batch decoded")
	}
}

// sameBytes is bytes.Equal that tells null from empty.
func sameBytes(a, b []byte) bool { return (a == nil) == (b == nil) && bytes.Equal(a, b) }
