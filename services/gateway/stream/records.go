package stream

import (
	"cmp"
	"errors"
	"fmt"
	"slices"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
)

// recordOverhead bounds what a record adds to a batch beyond its key, value
// and header bytes: the varints of its length, attributes, timestamp and
// offset deltas, key and value lengths and header count.
const recordOverhead = 5 + 1 + 10 + 5 + 5 + 5 + 5

// headerOverhead bounds the varints of one header's key and value lengths.
const headerOverhead = 10

// recordSize bounds the bytes r takes in an uncompressed batch.
func recordSize(r *streamv1.ProduceRecord) int {
	n := recordOverhead + len(r.GetKey()) + len(r.GetValue())
	for _, h := range r.GetHeaders() {
		n += headerOverhead + len(h.GetKey()) + len(h.GetValue())
	}
	return n
}

// buildBatches encodes chunks, one batch each, into one buffer; with a
// producer id in opts, each batch's sequence follows the last one's.
func buildBatches(chunks [][]*streamv1.ProduceRecord, now int64, opts recordbatch.BatchOptions) ([]byte, error) {
	cs := make([]chunk, len(chunks))
	for i, c := range chunks {
		cs[i] = chunk{recs: c, n: len(c)}
	}
	return buildChunks(cs, now, opts)
}

// chunk is one batch of a partition's write: records the gateway encodes,
// or a batch the client encoded (raw), which is stamped with the producer
// in place.
type chunk struct {
	recs []*streamv1.ProduceRecord
	raw  []byte
	n    int // records
}

// buildChunks is buildBatches for chunks of either kind.
func buildChunks(chunks []chunk, now int64, opts recordbatch.BatchOptions) ([]byte, error) {
	built, size := make([][]byte, len(chunks)), 0
	for i, c := range chunks {
		b := c.raw
		if b != nil {
			seq := int32(-1)
			if opts.ProducerID >= 0 {
				seq = opts.BaseSequence
			}
			recordbatch.SetProducer(b, opts.ProducerID, opts.ProducerEpoch, seq)
		} else {
			var err error
			if b, err = buildBatch(c.recs, now, opts); err != nil {
				return nil, err
			}
		}
		built[i], size = b, size+len(b)
		if opts.ProducerID >= 0 {
			opts.BaseSequence = nextSequence(opts.BaseSequence, c.n)
		}
	}
	if len(built) == 1 {
		return built[0], nil
	}
	out := make([]byte, 0, size)
	for _, b := range built {
		out = append(out, b...)
	}
	return out, nil
}

// chunkRecords cuts records, in order, into as few runs as fit in batches
// of maxBatch bytes (uncompressed).
func chunkRecords(recs []*streamv1.ProduceRecord, maxBatch int) [][]*streamv1.ProduceRecord {
	var out [][]*streamv1.ProduceRecord
	start, size := 0, recordbatch.HeaderSize
	for i, r := range recs {
		n := recordSize(r)
		if i > start && size+n > maxBatch {
			out = append(out, recs[start:i])
			start, size = i, recordbatch.HeaderSize
		}
		size += n
	}
	if start < len(recs) {
		out = append(out, recs[start:])
	}
	return out
}

// buildBatch encodes records as one batch with opts.
func buildBatch(recs []*streamv1.ProduceRecord, now int64, opts recordbatch.BatchOptions) ([]byte, error) {
	chunk := make([]recordbatch.BuildRecord, len(recs))
	for i, r := range recs {
		chunk[i] = buildRecord(r, now)
	}
	return recordbatch.Build(opts, chunk)
}

func buildRecord(r *streamv1.ProduceRecord, now int64) recordbatch.BuildRecord {
	br := recordbatch.BuildRecord{Key: r.Key, Value: r.Value, Timestamp: now}
	if r.TimestampMs != nil {
		br.Timestamp = *r.TimestampMs
	}
	if len(r.GetHeaders()) > 0 {
		br.Headers = make([]recordbatch.RecordHeader, len(r.GetHeaders()))
		for i, h := range r.GetHeaders() {
			br.Headers[i] = recordbatch.RecordHeader{Key: []byte(h.GetKey()), Value: h.Value}
		}
	}
	return br
}

// budget is what is left of a fetch response's limits, shared by its
// partitions in request order.
type budget struct {
	bytes   int
	records int // < 0: no cap
	taken   int // records in the response so far
}

// allows reports whether a record of size bytes still fits; the first
// record of a response always does.
func (b *budget) allows(size int) bool {
	if b.taken == 0 {
		return true
	}
	return b.records != 0 && size <= b.bytes
}

func (b *budget) take(size int) { b.takeBatch(1, size) }

// allowsBatch reports whether n records of size bytes all still fit, as
// allows would take them one by one.
func (b *budget) allowsBatch(n, size int) bool {
	return (b.taken == 0 && n == 1) || ((b.records < 0 || n <= b.records) && size <= b.bytes)
}

func (b *budget) takeBatch(n, size int) {
	b.taken += n
	b.bytes -= size
	if b.records > 0 {
		b.records -= n
	}
}

// decodeBatches turns stored batches into records at or after from, within
// the budget: readBatches for a reader that takes records only.
func decodeBatches(data []byte, from int64, b *budget, maxInflated int, aborted []*storagev1.AbortedTxn) ([]*streamv1.Record, int64, error) {
	runs, next, err := readBatches(data, from, b, maxInflated, aborted, decodeAll)
	if len(runs) == 0 {
		return nil, next, err
	}
	return runs[0].recs, next, err
}

// batchMode is how readBatches hands out what it reads.
type batchMode int

const (
	decodeAll batchMode = iota // every record decoded
	// Whole batches where they fit, the others decoded.
	passWhole
	// As passWhole, ending where the kind of run would change: one Fetch
	// result holds records or batches.
	passWholeOneRun
)

// run is what one ConsumeRecords carries of a partition: decoded records,
// or stored batches sent whole.
type run struct {
	recs    []*streamv1.Record
	batches [][]byte
	n       int // records
}

// readBatches turns stored batches into runs of the records at or after
// from, within the budget. Unless mode is decodeAll, an uncompressed
// batch that starts at or after from and fits the budget is passed as it
// is stored (the client decodes it); the others are decoded into records. next is where
// the following fetch starts: past the last record taken, or past a whole
// batch read to its end (which skips transaction markers and compaction
// gaps). Each batch's CRC is checked and a compressed one is inflated to
// at most maxInflated bytes. A batch that fails stops the reading: the
// error is returned with the records before it (the next fetch, starting
// there, reports it alone).
//
// aborted are the aborted transactions of the range (a read_committed
// fetch): their producers' transactional batches are skipped from each
// transaction's first offset up to its abort marker, as Kafka consumers
// do.
func readBatches(data []byte, from int64, b *budget, maxInflated int, aborted []*storagev1.AbortedTxn, mode batchMode) (runs []run, next int64, err error) {
	// mayAdd says whether records of the kind may be added (one kind only
	// with passWholeOneRun).
	mayAdd := func(batches bool) bool {
		return mode != passWholeOneRun || len(runs) == 0 || (runs[0].batches != nil) == batches
	}
	next = from
	pending := slices.SortedFunc(slices.Values(aborted), func(a, b *storagev1.AbortedTxn) int { return cmp.Compare(a.GetFirstOffset(), b.GetFirstOffset()) })
	abortedBy := map[int64]bool{} // producers inside an aborted transaction
	var it recordbatch.RecordIter
	for len(data) > 0 {
		raw, rest, err := recordbatch.Next(data)
		if err != nil {
			return runs, next, err
		}
		data = rest
		h, err := recordbatch.Validate(raw)
		if err != nil {
			return runs, next, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		for len(pending) > 0 && pending[0].GetFirstOffset() <= h.LastOffset() {
			abortedBy[pending[0].GetProducerId()] = true
			pending = pending[1:]
		}
		if h.IsControl() {
			if typ, err := recordbatch.ControlType(raw); err == nil && typ == recordbatch.ControlAbort {
				delete(abortedBy, h.ProducerID)
			}
		}
		if h.NextOffset() <= next {
			continue
		}
		if h.IsControl() || (h.IsTransactional() && abortedBy[h.ProducerID]) {
			next = h.NextOffset()
			continue
		}
		if mode != decodeAll && h.Codec() == 0 && h.BaseOffset >= next {
			n, size, err := creditOf(&it, raw, &h)
			if err != nil {
				return runs, next, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
			}
			if b.allowsBatch(n, size) {
				if n > 0 && !mayAdd(true) {
					return runs, next, nil
				}
				b.takeBatch(n, size)
				if n > 0 {
					var r *run
					runs, r = lastRun(runs, true)
					r.batches, r.n = append(r.batches, raw), r.n+n
				}
				next = h.NextOffset()
				continue
			}
		}
		body, err := recordbatch.Records(nil, raw, &h, maxInflated)
		if err != nil {
			return runs, next, err
		}
		tsType := streamv1.TimestampType_TIMESTAMP_TYPE_CREATE_TIME
		if h.LogAppendTime() {
			tsType = streamv1.TimestampType_TIMESTAMP_TYPE_LOG_APPEND_TIME
		}
		it.Reset(body, h.RecordCount)
		for it.Next() {
			r := it.Record()
			off := h.BaseOffset + int64(r.OffsetDelta)
			if off < next {
				continue
			}
			size := recordBytes(r)
			if !b.allows(size) || !mayAdd(false) {
				return runs, next, nil
			}
			b.take(size)
			out := &streamv1.Record{Offset: off, TimestampMs: h.BaseTimestamp + r.TimestampDelta, TimestampType: tsType,
				Key: r.Key, Value: r.Value}
			if h.LogAppendTime() {
				out.TimestampMs = h.MaxTimestamp
			}
			if len(r.Headers) > 0 {
				out.Headers = make([]*streamv1.Header, len(r.Headers))
				for i, hd := range r.Headers {
					out.Headers[i] = &streamv1.Header{Key: string(hd.Key), Value: hd.Value}
				}
			}
			var last *run
			runs, last = lastRun(runs, false)
			last.recs, last.n = append(last.recs, out), last.n+1
			next = off + 1
		}
		if err := it.Err(); err != nil {
			return runs, next, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		next = max(next, h.NextOffset())
	}
	return runs, next, nil
}

// lastRun is the run of the kind (batches or records) to add to: the last
// one, or a new one when the last is of the other kind.
func lastRun(runs []run, batches bool) ([]run, *run) {
	if len(runs) == 0 || (runs[len(runs)-1].batches != nil) != batches {
		runs = append(runs, run{})
	}
	return runs, &runs[len(runs)-1]
}

// recordBytes is what the credit counts of a record: its key, value and
// header bytes.
func recordBytes(r *recordbatch.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, hd := range r.Headers {
		n += len(hd.Key) + len(hd.Value)
	}
	return n
}

// creditOf is the records of an uncompressed batch and their bytes as
// the credit counts them.
func creditOf(it *recordbatch.RecordIter, raw []byte, h *recordbatch.Header) (n, size int, err error) {
	it.Reset(raw[recordbatch.HeaderSize:], h.RecordCount)
	for it.Next() {
		n, size = n+1, size+recordBytes(it.Record())
	}
	return n, size, it.Err()
}

// checkBatches validates the client-encoded batches of a ProduceStream
// request to topic: each one whole v2 batch with a valid CRC for an
// existing partition, within max.message.bytes, that a producer may send
// (records framed as the header says; not a control or transactional
// batch). The storage leader checks every record again after the gateway
// stamps the producer, as it does a Kafka producer's batch; the CRC is
// checked here because stamping recomputes it.
func checkBatches(topic *metadatav1.TopicRecord, batches []*streamv1.RecordBatch) *errs.Error {
	maxBatch, n := maxMessageBytes(topic), topic.GetPartitionCount()
	for i, b := range batches {
		field := fmt.Sprintf("record_batches[%d]", i)
		if p := b.GetPartition(); p < 0 || p >= n {
			return errs.New(errs.UnknownTopicOrPartition, "%s: partition %d does not exist (the topic has %d)", field, p, n).
				Field(field+".partition", fmt.Sprintf("must be in [0, %d)", n))
		}
		raw := b.GetBatch()
		if len(raw) > maxBatch {
			return errs.New(errs.MessageTooLarge, "%s: %d bytes, more than the topic's max.message.bytes %d", field, len(raw), maxBatch).
				Field(field+".batch", fmt.Sprintf("at most %d bytes", maxBatch))
		}
		one, rest, err := recordbatch.Next(raw)
		if err == nil && len(rest) > 0 {
			err = fmt.Errorf("%d bytes after the batch", len(rest))
		}
		var h recordbatch.Header
		if err == nil {
			h, err = recordbatch.Validate(one)
		}
		switch {
		case err == nil && (h.RecordCount <= 0 || h.LastOffsetDelta != h.RecordCount-1):
			err = fmt.Errorf("record count %d, last offset delta %d", h.RecordCount, h.LastOffsetDelta)
		case err == nil && (h.IsControl() || h.IsTransactional()):
			err = errors.New("a control or transactional batch cannot be produced here")
		case err == nil && h.RecordCount > MaxProduceRecords:
			err = fmt.Errorf("%d records, more than the limit of %d", h.RecordCount, MaxProduceRecords)
		}
		if err != nil {
			code := errs.InvalidRecord
			if recordbatch.CodeOf(err) == recordbatch.CodeCorruptMessage {
				code = errs.CorruptMessage // a bad CRC: a resend may arrive intact
			}
			return errs.New(code, "%s: not one valid record batch: %v", field, err).Field(field+".batch", err.Error())
		}
	}
	return nil
}

// batchesSize is what client-encoded batches count against a session's
// in-flight budget: their bytes.
func batchesSize(batches []*streamv1.RecordBatch) int {
	n := 0
	for _, b := range batches {
		n += len(b.GetBatch())
	}
	return n
}
