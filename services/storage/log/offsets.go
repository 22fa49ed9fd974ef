package log

import (
	"fmt"

	"github.com/strata-io/strata/internal/recordbatch"
)

// Special timestamps of a ListOffsets request.
const (
	LatestTimestamp   int64 = -1
	EarliestTimestamp int64 = -2
	MaxTimestamp      int64 = -3
)

// OffsetForTimestamp answers ListOffsets: EarliestTimestamp gives the log
// start, LatestTimestamp the high watermark (what a consumer may read),
// MaxTimestamp the offset of the record with the largest timestamp, and
// any other ts the first offset whose record timestamp is ≥ ts. It returns
// the offset and that record's timestamp, or (-1, -1) when no record
// qualifies.
func (l *Log) OffsetForTimestamp(ts int64) (offset int64, timestamp int64, err error) {
	switch {
	case ts == EarliestTimestamp:
		return l.logStart.Load(), -1, nil
	case ts == LatestTimestamp:
		return l.hw.Load(), -1, nil
	case ts == MaxTimestamp:
		return l.offsetOfMaxTimestamp()
	case ts < 0:
		return -1, -1, fmt.Errorf("list offsets for timestamp %d: %w", ts, recordbatch.ErrInvalidTimestamp)
	}
	start := l.logStart.Load()
	return l.findRecord(ts,
		func(s *segment) bool { return s.maxTS.Load() >= ts },
		func(h *recordbatch.Header) bool { return h.MaxTimestamp >= ts },
		func(rts int64, off int64) bool { return rts >= ts && off >= start })
}

// offsetOfMaxTimestamp finds the first record carrying the log's largest
// timestamp.
func (l *Log) offsetOfMaxTimestamp() (int64, int64, error) {
	l.segMu.RLock()
	if l.shut.Load() {
		l.segMu.RUnlock()
		return -1, -1, ErrClosed
	}
	want := int64(-1)
	for _, s := range l.segs {
		want = max(want, s.maxTS.Load())
	}
	l.segMu.RUnlock()
	if want < 0 {
		return -1, -1, nil
	}
	return l.findRecord(want,
		func(s *segment) bool { return s.maxTS.Load() >= want },
		func(h *recordbatch.Header) bool { return h.MaxTimestamp == want },
		func(rts int64, _ int64) bool { return rts == want })
}

// findRecord returns the first record matching recOK in the first batch
// matching batchOK of the segments matching segOK, searching from the time
// index entry for ts. Each candidate batch is copied out under segMu and
// decompressed and scanned after segMu is released: decompression takes
// far longer than the copy, and a held read lock would stall a roll or
// retention (and every reader queued behind them). When a batch has no
// matching record the search resumes after it, from its offset, since the
// segment list may have changed meanwhile.
func (l *Log) findRecord(ts int64, segOK func(*segment) bool, batchOK func(*recordbatch.Header) bool, recOK func(ts, off int64) bool) (int64, int64, error) {
	var raw, scratch []byte
	from := int64(-1) // the next batch starts at or after this offset
	for {
		h, found, err := l.copyCandidate(&raw, ts, from, segOK, batchOK)
		if err != nil || !found {
			return -1, -1, err
		}
		if l.opts.beforeDecode != nil {
			l.opts.beforeDecode()
		}
		recs, err := recordbatch.Records(scratch, raw, &h, l.cfg.MaxDecompressedBytes)
		if err != nil {
			return -1, -1, err
		}
		if h.Codec() != 0 {
			scratch = recs[:0] // keep the decompression buffer; raw is reused
		}
		it := recordbatch.NewRecordIter(recs, h.RecordCount)
		for it.Next() {
			r := it.Record()
			rts := h.BaseTimestamp + r.TimestampDelta
			if h.LogAppendTime() {
				rts = h.MaxTimestamp
			}
			off := h.BaseOffset + int64(r.OffsetDelta)
			if recOK(rts, off) {
				return off, rts, nil
			}
		}
		if err := it.Err(); err != nil {
			return -1, -1, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
		}
		from = h.NextOffset()
	}
}

// copyCandidate reads into *raw the first batch with records that starts at
// or after offset from, lies in a segment matching segOK and matches
// batchOK, scanning each segment from its time index entry for ts. It
// holds segMu only for the header scan and the copy.
func (l *Log) copyCandidate(raw *[]byte, ts, from int64, segOK func(*segment) bool, batchOK func(*recordbatch.Header) bool) (recordbatch.Header, bool, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.shut.Load() {
		return recordbatch.Header{}, false, ErrClosed
	}
	for _, s := range l.segs {
		if !segOK(s) || s.next.Load() <= from {
			continue
		}
		pos := int64(0)
		if o, ok := s.tidx.lookupBefore(ts); ok {
			_, pos = s.idx.lookup(o)
		}
		if from > s.base {
			_, p := s.idx.lookup(from)
			pos = max(pos, p)
		}
		end := s.size.Load()
		sc := newHeaderScanner(s, pos, end)
		for {
			h, p, ok, err := sc.next()
			if err != nil || !ok {
				sc.release()
				if err != nil {
					return h, false, l.failIO(err)
				}
				break
			}
			if h.BaseOffset < from || !batchOK(&h) || h.RecordCount == 0 {
				continue
			}
			sc.release()
			*raw = grow((*raw)[:0], h.Size())
			if _, err := s.f.ReadAt(*raw, p); err != nil {
				return h, false, l.failIO(fmt.Errorf("read batch at %d: %w", p, err))
			}
			return h, true, nil
		}
	}
	return recordbatch.Header{}, false, nil
}
