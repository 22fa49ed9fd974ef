package log

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"sync"

	"github.com/strata-io/strata/internal/recordbatch"
)

// scanChunk covers the default index interval plus a few headers, so a
// lookup usually costs one read.
const scanChunk = 8 << 10

var chunkPool = sync.Pool{New: func() any { b := make([]byte, scanChunk); return &b }}

// headerScanner walks batch headers of a segment between two positions,
// reading the file in chunks so a short scan costs one or two syscalls.
type headerScanner struct {
	s        *segment
	pos, end int64
	buf      *[]byte
	bufPos   int64
	bufLen   int
	read     int64 // bytes read from the file
}

func newHeaderScanner(s *segment, pos, end int64) *headerScanner {
	return &headerScanner{s: s, pos: pos, end: end, buf: chunkPool.Get().(*[]byte)}
}

func (sc *headerScanner) release() { chunkPool.Put(sc.buf) }

// next returns the header of the batch at the scanner's position and moves
// past it. ok is false at the end of the range.
func (sc *headerScanner) next() (h recordbatch.Header, pos int64, ok bool, err error) {
	if sc.end-sc.pos < recordbatch.HeaderSize {
		return h, sc.pos, false, nil
	}
	off := sc.pos - sc.bufPos
	if sc.bufLen == 0 || off < 0 || off+recordbatch.HeaderSize > int64(sc.bufLen) {
		n := int(min(int64(len(*sc.buf)), sc.end-sc.pos))
		if _, err := sc.s.f.ReadAt((*sc.buf)[:n], sc.pos); err != nil && err != io.EOF {
			return h, sc.pos, false, fmt.Errorf("scan segment %d at %d: %w", sc.s.base, sc.pos, err)
		}
		sc.bufPos, sc.bufLen, off = sc.pos, n, 0
		sc.read += int64(n)
	}
	h, err = recordbatch.ParseHeader((*sc.buf)[off : off+recordbatch.HeaderSize])
	if err != nil {
		return h, sc.pos, false, fmt.Errorf("segment %d at %d: %w", sc.s.base, sc.pos, err)
	}
	pos = sc.pos
	sc.pos += int64(h.Size())
	if sc.pos > sc.end {
		return h, pos, false, fmt.Errorf("segment %d: batch at %d runs past %d: %w", sc.s.base, pos, sc.end, recordbatch.ErrCorrupt)
	}
	return h, pos, true, nil
}

// recover validates the segment batch by batch (length, magic, CRC, offsets
// increasing from minNext), truncates the file after the last valid batch
// and rebuilds both indexes. It returns the number of bytes cut off.
// Running it twice changes nothing the second time.
func (s *segment) recover(cfg *Config, minNext int64) (int64, error) {
	st, err := s.f.Stat()
	if err != nil {
		return 0, fmt.Errorf("stat segment: %w", err)
	}
	size := st.Size()
	s.resetIndexes()
	s.maxTS.Store(-1)
	expect := max(minNext, s.base)
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, size), 1<<20)
	var pos int64
	var batch []byte
	for size-pos >= recordbatch.LengthFieldEnd {
		head, err := r.Peek(recordbatch.LengthFieldEnd)
		if err != nil {
			// Never a reason to cut: the bytes are there, reading them failed.
			return 0, fmt.Errorf("read segment %d at %d: %w", s.base, pos, err)
		}
		n := recordbatch.PeekSize(head)
		// The claim is checked against the file before any allocation.
		if n < 0 || int64(n) > size-pos {
			break
		}
		if cap(batch) < n {
			batch = make([]byte, n)
		}
		if _, err := io.ReadFull(r, batch[:n]); err != nil {
			return 0, fmt.Errorf("read segment %d at %d: %w", s.base, pos, err)
		}
		h, err := recordbatch.Validate(batch[:n])
		if err != nil || h.BaseOffset < expect || h.LastOffset()-s.base > math.MaxUint32 {
			break
		}
		if err := s.indexBatch(h.BaseOffset, h.MaxTimestamp, pos, n, cfg.IndexIntervalBytes); err != nil {
			return 0, fmt.Errorf("index segment %d at %d: %w", s.base, pos, err) // never a reason to cut
		}
		pos += int64(n)
		expect = h.NextOffset()
	}
	cut := size - pos
	if cut > 0 {
		if err := s.f.Truncate(pos); err != nil {
			return 0, fmt.Errorf("truncate segment %d to %d: %w", s.base, pos, err)
		}
	}
	s.size.Store(pos)
	if pos == 0 {
		expect = s.base
	}
	s.next.Store(expect)
	return cut, nil
}

// loadTail restores next and maxTS of a segment trusted after a clean
// shutdown: start at the last index entries and scan the few batches after.
// It returns an error when the indexes disagree with the file: entries past
// the file, not increasing, not at a batch, or missing (more than the index
// interval without an entry; with sealed, a timestamp above the final time
// index entry).
func (s *segment) loadTail(cfg *Config, sealed bool) error {
	size := s.size.Load()
	n := s.idx.len()
	var pos int64
	s.next.Store(s.base)
	s.sinceIndex = 0
	if n > 0 {
		o, p := s.idx.at(n - 1)
		if p >= size {
			return fmt.Errorf("offset index points past the log: %w", recordbatch.ErrCorrupt)
		}
		if n > 1 {
			if o0, p0 := s.idx.at(n - 2); o0 >= o || p0 >= p {
				return fmt.Errorf("offset index not increasing: %w", recordbatch.ErrCorrupt)
			}
		}
		buf := make([]byte, recordbatch.HeaderSize)
		h, err := s.headerAt(p, buf)
		if err != nil || h.BaseOffset != o {
			return fmt.Errorf("offset index entry disagrees with the log: %w", recordbatch.ErrCorrupt)
		}
		pos = p
	}
	s.maxTS.Store(-1)
	if m := s.tidx.len(); m > 0 {
		ts, o := s.tidx.at(m - 1)
		if m > 1 {
			if ts0, o0 := s.tidx.at(m - 2); ts0 >= ts || o0 > o {
				return fmt.Errorf("time index not increasing: %w", recordbatch.ErrCorrupt)
			}
		}
		_ = o
		s.maxTS.Store(ts)
	}
	sc := newHeaderScanner(s, pos, size)
	defer sc.release()
	for {
		h, p, ok, err := sc.next()
		if err != nil {
			return err
		}
		if !ok {
			if sc.pos != size {
				return fmt.Errorf("segment %d has a partial batch at %d: %w", s.base, sc.pos, recordbatch.ErrCorrupt)
			}
			break
		}
		if s.sinceIndex > cfg.IndexIntervalBytes && p != pos {
			return fmt.Errorf("offset index misses an entry at %d: %w", p, recordbatch.ErrCorrupt)
		}
		if sealed && h.MaxTimestamp > s.tidx.lastTS() {
			return fmt.Errorf("time index misses timestamp %d: %w", h.MaxTimestamp, recordbatch.ErrCorrupt)
		}
		if h.MaxTimestamp > s.maxTS.Load() {
			s.maxTS.Store(h.MaxTimestamp)
		}
		s.next.Store(h.NextOffset())
		s.lastBase = h.BaseOffset
		s.sinceIndex += h.Size()
	}
	if to := s.tidxLastOffset(); to >= s.next.Load() {
		return fmt.Errorf("time index points past the log: %w", recordbatch.ErrCorrupt)
	}
	return nil
}

func (s *segment) tidxLastOffset() int64 {
	if m := s.tidx.len(); m > 0 {
		_, o := s.tidx.at(m - 1)
		return o
	}
	return -1
}
