package stream

import (
	"bytes"
	"fmt"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"slices"
	"strings"
	"testing"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/testutil"
	"google.golang.org/protobuf/proto"
)

func ptr[T any](v T) *T { return &v }

func sampleRecords() []*streamv1.ProduceRecord {
	return []*streamv1.ProduceRecord{
		{Key: []byte("k1"), Value: []byte("v1"), TimestampMs: ptr(int64(1_700_000_000_000)),
			Headers: []*streamv1.Header{{Key: "h", Value: []byte("1")}, {Key: "h", Value: []byte("2")}, {Key: "null"}, {Key: "empty", Value: []byte{}}}},
		{Value: []byte("null key")},                      // null key, default timestamp
		{Key: []byte{}, Value: []byte{}},                 // empty key and value
		{Key: []byte("tombstone")},                       // null value
		{Key: []byte("old"), TimestampMs: ptr(int64(0))}, // the epoch itself
		{Key: bytes.Repeat([]byte("x"), 5000), Value: bytes.Repeat([]byte("y"), 20000), TimestampMs: ptr(int64(1_700_000_000_005))},
	}
}

const testNow = 1_700_000_000_100

// want is what a fetch returns for recs written at base.
func want(recs []*streamv1.ProduceRecord, base int64) []*streamv1.Record {
	out := make([]*streamv1.Record, len(recs))
	for i, r := range recs {
		ts := int64(testNow)
		if r.TimestampMs != nil {
			ts = *r.TimestampMs
		}
		out[i] = &streamv1.Record{Offset: base + int64(i), TimestampMs: ts, TimestampType: streamv1.TimestampType_TIMESTAMP_TYPE_CREATE_TIME,
			Key: r.Key, Value: r.Value, Headers: r.Headers}
	}
	return out
}

// stored patches built batches as the storage leader does: consecutive
// base offsets from base.
func stored(t *testing.T, batches []byte, base int64) []byte {
	t.Helper()
	next := base
	for rest := batches; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := recordbatch.ValidateProducer(b, 1<<20); err != nil {
			t.Fatalf("built batch does not pass the leader's checks: %v", err)
		}
		recordbatch.SetBaseOffset(b, next)
		next = recordbatch.LastOffsetOf(b) + 1
		rest = r
	}
	return batches
}

func equal(t *testing.T, got, want []*streamv1.Record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%d records, want %d", len(got), len(want))
	}
	for i := range want {
		if !proto.Equal(got[i], want[i]) {
			t.Fatalf("record %d:\n got %v\nwant %v", i, got[i], want[i])
		}
		// proto.Equal does not tell a null from an empty optional bytes.
		for _, f := range []struct {
			name string
			g, w []byte
		}{{"key", got[i].Key, want[i].Key}, {"value", got[i].Value, want[i].Value}} {
			if (f.g == nil) != (f.w == nil) {
				t.Fatalf("record %d: %s null=%v, want null=%v", i, f.name, f.g == nil, f.w == nil)
			}
		}
		for j, h := range want[i].Headers {
			if (got[i].Headers[j].Value == nil) != (h.Value == nil) {
				t.Fatalf("record %d header %d: null value mismatch", i, j)
			}
		}
	}
}

func TestRoundTripEveryCodec(t *testing.T) {
	for _, c := range []codec.Codec{codec.None, codec.Gzip, codec.Snappy, codec.LZ4, codec.Zstd} {
		t.Run(c.String(), func(t *testing.T) {
			recs := sampleRecords()
			b, err := buildBatches(chunkRecords(recs, 1<<20), testNow, recordbatch.ProducerOptions(c))
			if err != nil {
				t.Fatal(err)
			}
			if n := len(mustSplit(t, b)); n != 1 {
				t.Fatalf("%d batches, want 1", n)
			}
			h, _ := recordbatch.ParseHeader(b)
			if h.Codec() != c {
				t.Fatalf("batch codec %v, want %v", h.Codec(), c)
			}
			data := stored(t, b, 42)
			got, next, err := decodeBatches(data, 42, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil)
			if err != nil {
				t.Fatal(err)
			}
			equal(t, got, want(recs, 42))
			if next != 42+int64(len(recs)) {
				t.Fatalf("next offset %d", next)
			}
		})
	}
}

func mustSplit(t *testing.T, b []byte) [][]byte {
	t.Helper()
	bs, err := recordbatch.Split(b)
	if err != nil {
		t.Fatal(err)
	}
	return bs
}

// Records of one partition that do not fit one max.message.bytes batch are
// cut into several, each within the limit, at consecutive offsets.
func TestBuildSplitsAtMaxMessageBytes(t *testing.T) {
	var recs []*streamv1.ProduceRecord
	for i := range 100 {
		recs = append(recs, &streamv1.ProduceRecord{Key: []byte(fmt.Sprint(i)), Value: bytes.Repeat([]byte{byte(i)}, 1000)})
	}
	const limit = 10_000
	b, err := buildBatches(chunkRecords(recs, limit), testNow, recordbatch.ProducerOptions(codec.None))
	if err != nil {
		t.Fatal(err)
	}
	batches := mustSplit(t, b)
	if len(batches) < 10 {
		t.Fatalf("%d batches for 100 KB under a 10 KB limit", len(batches))
	}
	for i, bt := range batches {
		if len(bt) > limit {
			t.Fatalf("batch %d is %d bytes, over %d", i, len(bt), limit)
		}
	}
	got, next, err := decodeBatches(stored(t, b, 0), 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, want(recs, 0))
	if next != 100 {
		t.Fatalf("next %d", next)
	}
}

func TestDecodeStartsAtOffsetAndKeepsLimits(t *testing.T) {
	recs := sampleRecords()[:5]
	b, err := buildBatches(chunkRecords(recs, 1<<20), testNow, recordbatch.ProducerOptions(codec.Zstd))
	if err != nil {
		t.Fatal(err)
	}
	data := stored(t, b, 10)
	// From the middle of the batch: the records below are left out.
	got, next, err := decodeBatches(data, 12, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, want(recs, 10)[2:])
	if next != 15 {
		t.Fatalf("next %d, want 15", next)
	}
	// max records across the response.
	bd := &budget{bytes: 1 << 20, records: 2}
	got, next, _ = decodeBatches(data, 10, bd, 1<<20, nil)
	if len(got) != 2 || next != 12 {
		t.Fatalf("max 2 records: got %d, next %d", len(got), next)
	}
	if got, next, _ = decodeBatches(data, 12, bd, 1<<20, nil); len(got) != 0 || next != 12 {
		t.Fatalf("spent budget: got %d records, next %d", len(got), next)
	}
	// max bytes: the first record always, then only what fits.
	got, next, _ = decodeBatches(data, 10, &budget{bytes: 1, records: -1}, 1<<20, nil)
	if len(got) != 1 || next != 11 {
		t.Fatalf("max 1 byte: got %d, next %d", len(got), next)
	}
	// A batch that inflates past the cap is refused.
	if _, _, err := decodeBatches(data, 10, &budget{bytes: 1 << 20, records: -1}, 8, nil); err == nil {
		t.Fatal("inflated past the cap without an error")
	}
}

func TestDecodeSkipsControlBatches(t *testing.T) {
	ctrl, err := recordbatch.Build(recordbatch.BatchOptions{BaseOffset: 0, ProducerID: 7, ProducerEpoch: 0, BaseSequence: -1,
		Control: true, Transactional: true}, []recordbatch.BuildRecord{{Key: []byte{0, 0, 0, 1}, Value: []byte{0, 0, 0, 0, 0, 0}}})
	if err != nil {
		t.Fatal(err)
	}
	recs := sampleRecords()[:2]
	data, err := buildBatches(chunkRecords(recs, 1<<20), testNow, recordbatch.ProducerOptions(codec.None))
	if err != nil {
		t.Fatal(err)
	}
	recordbatch.SetBaseOffset(data, 1)
	got, next, err := decodeBatches(append(ctrl, data...), 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	equal(t, got, want(recs, 1))
	if next != 3 {
		t.Fatalf("next %d", next)
	}
	// Only a marker: next moves past it.
	if got, next, _ := decodeBatches(ctrl, 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil); len(got) != 0 || next != 1 {
		t.Fatalf("marker only: %d records, next %d", len(got), next)
	}
}

func TestDecodeLogAppendTime(t *testing.T) {
	opts := recordbatch.ProducerOptions(codec.None)
	opts.LogAppendTime = true
	b, err := recordbatch.Build(opts, []recordbatch.BuildRecord{{Value: []byte("a"), Timestamp: 5}, {Value: []byte("b"), Timestamp: 9}})
	if err != nil {
		t.Fatal(err)
	}
	recordbatch.SetLogAppendTime(b, 1234)
	got, _, err := decodeBatches(b, 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range got {
		if r.TimestampMs != 1234 || r.TimestampType != streamv1.TimestampType_TIMESTAMP_TYPE_LOG_APPEND_TIME {
			t.Fatalf("record %d: timestamp %d %v", r.Offset, r.TimestampMs, r.TimestampType)
		}
	}
}

func TestDecodeRefusesABadCRC(t *testing.T) {
	b, err := buildBatches(chunkRecords(sampleRecords()[:1], 1<<20), testNow, recordbatch.ProducerOptions(codec.None))
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-1] ^= 0xff
	if _, _, err := decodeBatches(b, 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil); err == nil {
		t.Fatal("a damaged batch decoded")
	}
}

// A read_committed fetch drops the batches of aborted transactions (from
// their first offset to their abort marker) and keeps committed ones.
func TestDecodeSkipsAbortedTransactions(t *testing.T) {
	txnBatch := func(pid int64, base int64, value string) []byte {
		o := recordbatch.ProducerOptions(codec.None)
		o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional, o.BaseOffset = pid, 0, 0, true, base
		b, err := recordbatch.Build(o, []recordbatch.BuildRecord{{Value: []byte(value), Timestamp: testNow}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	marker := func(pid int64, base int64, commit bool) []byte {
		b, err := recordbatch.BuildControl(pid, 0, commit, 0, testNow)
		if err != nil {
			t.Fatal(err)
		}
		recordbatch.SetBaseOffset(b, base)
		return b
	}
	// 0: 7 aborted, 1: 8 committed, 2: 7 aborted, 3: abort 7, 4: commit 8, 5: 7 again (committed later).
	var data []byte
	for _, b := range [][]byte{txnBatch(7, 0, "a0"), txnBatch(8, 1, "c1"), txnBatch(7, 2, "a2"), marker(7, 3, false),
		marker(8, 4, true), txnBatch(7, 5, "c5")} {
		data = append(data, b...)
	}
	aborted := []*storagev1.AbortedTxn{{ProducerId: 7, FirstOffset: 0, LastOffset: 3}}
	got, next, err := decodeBatches(data, 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, aborted)
	if err != nil {
		t.Fatal(err)
	}
	var vals []string
	for _, r := range got {
		vals = append(vals, string(r.GetValue()))
	}
	if strings.Join(vals, ",") != "c1,c5" || next != 6 {
		t.Fatalf("read_committed decoded %v, next %d", vals, next)
	}
	if got, _, _ := decodeBatches(data, 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil); len(got) != 4 {
		t.Fatalf("read_uncommitted decoded %d records, want 4", len(got))
	}
}

// With whole batches, readBatches delivers exactly what decoding
// delivers, from every offset and within every budget: the same records
// in the same order, the same next offset and the same credit taken. An
// uncompressed batch that starts at the position and fits is passed as
// the very bytes stored; the others (compressed, begun, cut by the
// budget) come decoded, and a control batch not at all.
func TestWholeBatchesDeliverWhatDecodingDoes(t *testing.T) {
	var data []byte
	base := int64(0)
	for i, c := range []codec.Codec{codec.None, codec.Gzip, codec.None, codec.None, codec.Zstd, codec.None} {
		recs := make([]*streamv1.ProduceRecord, 2+i%3)
		for j := range recs {
			recs[j] = &streamv1.ProduceRecord{Key: []byte(fmt.Sprint(i, j)), Value: bytes.Repeat([]byte{'v'}, 10*j),
				Headers: []*streamv1.Header{{Key: "h", Value: []byte{byte(j)}}}}
		}
		b, err := buildBatches(chunkRecords(recs, 1<<20), testNow, recordbatch.ProducerOptions(c))
		if err != nil {
			t.Fatal(err)
		}
		data = append(data, stored(t, b, base)...)
		base = recordbatch.LastOffsetOf(b) + 1
		if i == 2 {
			ctrl, err := recordbatch.BuildControl(9, 0, true, 0, testNow)
			if err != nil {
				t.Fatal(err)
			}
			recordbatch.SetBaseOffset(ctrl, base)
			data, base = append(data, ctrl...), base+1
		}
	}
	for from := int64(0); from <= base; from++ {
		for _, records := range []int{1, 2, 3, 5, 8, -1} {
			for _, size := range []int{1, 25, 60, 1 << 20} {
				name := fmt.Sprintf("from %d, %d records, %d bytes", from, records, size)
				bd, bw := &budget{bytes: size, records: records}, &budget{bytes: size, records: records}
				wantRecs, wantNext, err := decodeBatches(data, from, bd, 1<<20, nil)
				if err != nil {
					t.Fatal(err)
				}
				runs, next, err := readBatches(data, from, bw, 1<<20, nil, passWhole)
				if err != nil || next != wantNext || *bw != *bd {
					t.Fatalf("%s: next %d budget %+v (%v), decoding: next %d budget %+v", name, next, *bw, err, wantNext, *bd)
				}
				var got []*streamv1.Record
				for i, r := range runs {
					if (r.recs == nil) == (r.batches == nil) || (i > 0 && (r.batches == nil) == (runs[i-1].batches == nil)) {
						t.Fatalf("%s: run %d has %d records and %d batches after a run of %d batches", name, i, len(r.recs), len(r.batches), len(runs[i-1].batches))
					}
					for _, b := range r.batches {
						if !bytes.Contains(data, b) || &b[0] != &data[bytes.Index(data, b)] {
							t.Fatalf("%s: a whole batch is not the stored bytes", name)
						}
					}
					recs := runRecords(t, r)
					got = append(got, recs...)
					if n := len(recs); n != r.n {
						t.Fatalf("%s: run %d counts %d records, holds %d", name, i, r.n, n)
					}
				}
				equal(t, got, wantRecs)
				// One run only (a Fetch result): the first of those runs,
				// ending where the next began.
				one, oneNext, err := readBatches(data, from, &budget{bytes: size, records: records}, 1<<20, nil, passWholeOneRun)
				switch {
				case err != nil || len(one) > 1 || len(one) != min(len(runs), 1):
					t.Fatalf("%s: one run: %d runs (%v), %d without the limit", name, len(one), err, len(runs))
				case len(one) == 1 && (one[0].n != runs[0].n || len(one[0].batches) != len(runs[0].batches)):
					t.Fatalf("%s: one run of %d records, the first of several has %d", name, one[0].n, runs[0].n)
				case len(runs) == 1 && oneNext != next:
					t.Fatalf("%s: one run ends at %d, all of them at %d", name, oneNext, next)
				}
			}
		}
	}
	// Read one run at a time, a reader gets every record once, in order.
	var all []*streamv1.Record
	for at := int64(0); at < base; {
		one, next, err := readBatches(data, at, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil, passWholeOneRun)
		if err != nil || next <= at {
			t.Fatalf("from %d: next %d (%v)", at, next, err)
		}
		for _, r := range one {
			all = append(all, runRecords(t, r)...)
		}
		at = next
	}
	everything, _, _ := decodeBatches(data, 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil)
	equal(t, all, everything)
	// From the start with room for everything: the uncompressed batches
	// are whole, the compressed ones decoded.
	runs, _, _ := readBatches(data, 0, &budget{bytes: 1 << 20, records: -1}, 1<<20, nil, passWhole)
	var shape []string
	for _, r := range runs {
		if r.batches != nil {
			shape = append(shape, fmt.Sprintf("%d batches", len(r.batches)))
		} else {
			shape = append(shape, fmt.Sprintf("%d records", len(r.recs)))
		}
	}
	if got := strings.Join(shape, ", "); got != "1 batches, 3 records, 2 batches, 3 records, 1 batches" {
		t.Fatalf("runs: %s", got)
	}
}

// runRecords is a run's records, its batches decoded as a client does.
func runRecords(t *testing.T, r run) []*streamv1.Record {
	t.Helper()
	recs, err := testutil.BatchRecords(r.batches)
	if err != nil {
		t.Fatal(err)
	}
	return append(slices.Clone(r.recs), recs...)
}
