package strata

import (
	"encoding/binary"
	"testing"
	"time"

	"github.com/strata-io/strata/api/kafkabatch"
)

// The records of a ConsumeRecords' batches are the batches' own: offsets
// from the base offset, timestamps, null and empty keys and values, and
// headers in order; a batch that cannot be decoded is an error, not
// records.
func TestRecordsOfBatches(t *testing.T) {
	var w kafkabatch.Builder
	w.Add([]byte("k"), []byte("v"), 1000, []kafkabatch.Header{{Key: "h", Value: []byte("1")}, {Key: "h"}})
	w.Add(nil, nil, 1005, nil)
	w.Add([]byte{}, []byte{}, 999, nil)
	b := w.Finish()
	binary.BigEndian.PutUint64(b, 40) // the base offset, as stored
	recs, err := recordsOf("t", 3, nil, [][]byte{b, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(recs) != 6 {
		t.Fatalf("%d records", len(recs))
	}
	r := recs[0]
	if r.Topic != "t" || r.Partition != 3 || r.Offset != 40 || string(r.Key) != "k" || string(r.Value) != "v" ||
		!r.Timestamp.Equal(time.UnixMilli(1000)) || r.LogAppendTime || len(r.Headers) != 2 ||
		r.Headers[0].Key != "h" || string(r.Headers[0].Value) != "1" || r.Headers[1].Key != "h" || r.Headers[1].Value != nil {
		t.Fatalf("first record %+v", r)
	}
	if r := recs[1]; r.Key != nil || r.Value != nil || r.Offset != 41 || !r.Timestamp.Equal(time.UnixMilli(1005)) {
		t.Fatalf("second record %+v", r)
	}
	if r := recs[2]; r.Key == nil || r.Value == nil || len(r.Key)+len(r.Value) != 0 || r.Offset != 42 {
		t.Fatalf("third record %+v", r)
	}
	b[len(b)-1] = 0x7f // the last record's header count: beyond the bytes
	if recs, err := recordsOf("t", 0, nil, [][]byte{b}); err == nil {
		t.Fatalf("a damaged batch gave %d records", len(recs))
	}
}
