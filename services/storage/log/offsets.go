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
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.shut.Load() {
		return -1, -1, ErrClosed
	}
	start := l.logStart.Load()
	for _, s := range l.segs {
		if s.maxTS.Load() < ts {
			continue
		}
		pos := int64(0)
		if o, ok := s.tidx.lookupBefore(ts); ok {
			_, pos = s.idx.lookup(o)
		}
		off, rts, err := l.firstRecordAtOrAfter(s, pos, func(h *recordbatch.Header) bool { return h.MaxTimestamp >= ts },
			func(rts int64, off int64) bool { return rts >= ts && off >= start })
		if err != nil || off >= 0 {
			return off, rts, err
		}
	}
	return -1, -1, nil
}

// offsetOfMaxTimestamp finds the first record carrying the log's largest
// timestamp.
func (l *Log) offsetOfMaxTimestamp() (int64, int64, error) {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.shut.Load() {
		return -1, -1, ErrClosed
	}
	var best *segment
	for _, s := range l.segs {
		if best == nil || s.maxTS.Load() > best.maxTS.Load() {
			best = s
		}
	}
	if best == nil || best.maxTS.Load() < 0 {
		return -1, -1, nil
	}
	want := best.maxTS.Load()
	pos := int64(0)
	if o, ok := best.tidx.lookupBefore(want); ok {
		_, pos = best.idx.lookup(o)
	}
	return l.firstRecordAtOrAfter(best, pos, func(h *recordbatch.Header) bool { return h.MaxTimestamp == want },
		func(rts int64, _ int64) bool { return rts == want })
}

// firstRecordAtOrAfter scans batches from pos for the first one matching
// batchOK, then returns the first of its records matching recOK. Compressed
// batches are decompressed (capped); this is not on the produce/fetch path.
func (l *Log) firstRecordAtOrAfter(s *segment, pos int64, batchOK func(*recordbatch.Header) bool, recOK func(ts, off int64) bool) (int64, int64, error) {
	end := s.size.Load()
	sc := newHeaderScanner(s, pos, end)
	defer sc.release()
	var raw, scratch []byte
	for {
		h, p, ok, err := sc.next()
		if err != nil || !ok {
			return -1, -1, l.failIO(err)
		}
		if !batchOK(&h) || h.RecordCount == 0 {
			continue
		}
		raw = grow(raw[:0], h.Size())
		if _, err := s.f.ReadAt(raw, p); err != nil {
			return -1, -1, l.failIO(fmt.Errorf("read batch at %d: %w", p, err))
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
	}
}
