package recordbatch

import (
	"testing"

	"github.com/strata-io/strata/internal/codec"
)

// FuzzParseBatch feeds arbitrary bytes through every parsing entry point.
// None may panic, and decompression is capped so allocation stays bounded.
func FuzzParseBatch(f *testing.F) {
	for _, c := range codecs {
		b, _ := Build(ProducerOptions(c), testRecords(3))
		f.Add(b)
	}
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		_, _ = Split(data)
		_, _ = ParseHeader(data)
		h, err := ValidateProducer(data, 1<<20)
		accepted := err == nil
		if err != nil {
			if h2, err := Validate(data); err == nil {
				h = h2
			} else {
				return
			}
		}
		recs, err := Records(nil, data, &h, 1<<20)
		if err != nil {
			if accepted {
				t.Fatalf("accepted batch does not decompress: %v", err)
			}
			return
		}
		if h.Codec() != codec.None && len(recs) > 1<<20 {
			t.Fatalf("decompressed %d bytes past cap", len(recs))
		}
		// What ValidateProducer accepts, every reader can decode.
		it := NewRecordIter(recs, h.RecordCount)
		var n int32
		for it.Next() {
			r := it.Record()
			if accepted && (r.OffsetDelta != n || h.BaseTimestamp+r.TimestampDelta > h.MaxTimestamp && h.MaxTimestamp != -1) {
				t.Fatalf("accepted record %d: %+v", n, r)
			}
			n++
		}
		if accepted && (it.Err() != nil || n != h.RecordCount) {
			t.Fatalf("accepted batch: %d of %d records, %v", n, h.RecordCount, it.Err())
		}
	})
}

// FuzzCheckRecords checks that the fast append-path record check agrees
// with RecordIter on arbitrary record sections.
func FuzzCheckRecords(f *testing.F) {
	b, _ := Build(ProducerOptions(codec.None), testRecords(4))
	f.Add(b[HeaderSize:], int32(4))
	f.Add([]byte{0x02, 0x00}, int32(1))
	f.Fuzz(func(t *testing.T, recs []byte, count int32) {
		if count < 0 || count > 1000 {
			return
		}
		fast := checkRecords(recs, &Header{RecordCount: count, MaxTimestamp: -1})
		it := NewRecordIter(recs, count)
		var i int32
		var slow error
		for it.Next() {
			if it.Record().OffsetDelta != i {
				slow = ErrInvalidRecord
				break
			}
			i++
		}
		if slow == nil {
			slow = it.Err()
		}
		if (fast == nil) != (slow == nil) {
			t.Fatalf("checkRecords %v, RecordIter %v", fast, slow)
		}
	})
}
