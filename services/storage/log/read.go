package log

import (
	"fmt"

	"github.com/strata-io/strata/internal/recordbatch"
)

// Read returns whole batches starting with the one that contains offset (a
// fetch may start inside a batch, as in Kafka), at most maxBytes unless the
// first batch alone is larger (KIP-74: it is returned whole so a consumer
// always makes progress). Batches whose last offset is ≥ maxOffset (the
// high watermark for consumers, the log end for replicas) are left out. An
// offset outside [log start, log end] fails with ErrOffsetOutOfRange.
func (l *Log) Read(offset int64, maxBytes int, maxOffset int64) ([]byte, error) {
	return l.ReadAppend(nil, offset, maxBytes, maxOffset)
}

// ReadAppend is Read appending into dst, so a caller can reuse buffers.
func (l *Log) ReadAppend(dst []byte, offset int64, maxBytes int, maxOffset int64) ([]byte, error) {
	if err := l.Err(); err != nil {
		return dst, err
	}
	leo := l.leo.Load()
	if offset < l.logStart.Load() || offset > leo {
		return dst, fmt.Errorf("read at %d, log holds [%d, %d): %w", offset, l.logStart.Load(), leo, ErrOffsetOutOfRange)
	}
	maxOffset = min(maxOffset, leo)
	if offset >= maxOffset {
		return dst, nil
	}
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	if l.shut.Load() {
		return dst, ErrClosed
	}
	i := l.segmentFor(offset)
	if i < 0 {
		// Retention removed the segment after the start check.
		return dst, fmt.Errorf("read at %d: %w", offset, ErrOffsetOutOfRange)
	}
	for ; i < len(l.segs); i++ {
		s := l.segs[i]
		end := s.size.Load()
		pos, first, err := s.positionOf(offset, end)
		if err != nil {
			return dst, l.failIO(err)
		}
		if pos >= end {
			continue // offset lies in a compaction gap at this segment's end
		}
		// KIP-74: the first batch comes whole even past maxBytes, in one read.
		dst, err = s.readBatches(dst, pos, end, max(maxBytes, first), maxOffset)
		return dst, l.failIO(err)
	}
	return dst, nil
}

// positionOf finds the file position and size of the first batch whose
// last offset is ≥ offset: index lookup, then a short header scan.
func (s *segment) positionOf(offset int64, end int64) (pos int64, size int, err error) {
	_, pos = s.idx.lookup(offset)
	sc := newHeaderScanner(s, pos, end)
	defer sc.release()
	for {
		h, p, ok, err := sc.next()
		if err != nil {
			return 0, 0, err
		}
		if !ok {
			return end, 0, nil
		}
		if h.LastOffset() >= offset {
			return p, h.Size(), nil
		}
	}
}

// readBatches reads whole batches from pos, bounded as Read describes.
func (s *segment) readBatches(dst []byte, pos, end int64, maxBytes int, maxOffset int64) ([]byte, error) {
	n := int(min(int64(max(maxBytes, recordbatch.HeaderSize)), end-pos))
	start := len(dst)
	dst = grow(dst, n)
	if _, err := s.f.ReadAt(dst[start:start+n], pos); err != nil {
		return dst[:start], fmt.Errorf("read segment %d at %d: %w", s.base, pos, err)
	}
	first := recordbatch.PeekSize(dst[start:])
	if first < 0 || int64(first) > end-pos {
		return dst[:start], fmt.Errorf("segment %d at %d: %w", s.base, pos, recordbatch.ErrCorrupt)
	}
	if first > n { // KIP-74: the first batch comes whole even past maxBytes
		dst = grow(dst[:start+n], first-n)
		if _, err := s.f.ReadAt(dst[start+n:start+first], pos+int64(n)); err != nil {
			return dst[:start], fmt.Errorf("read segment %d at %d: %w", s.base, pos, err)
		}
		n = first
	}
	// Keep whole batches below maxOffset.
	keep := 0
	for b := dst[start : start+n]; ; {
		sz := recordbatch.PeekSize(b[keep:])
		if sz < 0 || keep+sz > len(b) || len(b[keep:]) < recordbatch.HeaderSize {
			break
		}
		if recordbatch.LastOffsetOf(b[keep:]) >= maxOffset {
			break
		}
		keep += sz
	}
	return dst[:start+keep], nil
}

// grow extends b by n bytes, reusing capacity.
func grow(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), len(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}
