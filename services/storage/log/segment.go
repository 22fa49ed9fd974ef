package log

import (
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/recordbatch"
)

// File name suffixes of one segment.
const (
	logSuffix       = ".log"
	indexSuffix     = ".index"
	timeIndexSuffix = ".timeindex"
	cleanedSuffix   = ".cleaned" // compaction output not yet committed
	swapSuffix      = ".swap"    // committed compaction output not yet renamed into place
	deletedSuffix   = ".deleted" // segment being deleted
)

func segmentName(base int64, suffix string) string { return fmt.Sprintf("%020d%s", base, suffix) }

// segment is one .log file with its two indexes. The append path (under the
// log's append lock) writes at size and then publishes size, next and
// maxTS; readers use only published values.
type segment struct {
	fs      fsutil.FS
	dir     string
	base    int64
	f       fsutil.File
	idx     *offsetIndex
	tidx    *timeIndex
	created time.Time

	size  atomic.Int64 // bytes of whole batches
	next  atomic.Int64 // offset after the last batch (base when empty)
	maxTS atomic.Int64 // largest batch max timestamp, -1 when none

	sinceIndex int   // bytes appended since the last offset index entry (writer only)
	lastBase   int64 // base offset of the last batch (writer only)
	allocated  int64 // file bytes reserved ahead of the writes (writer only)

	// syncMu serializes data fsyncs with the file's close: a rolled
	// segment is synced in the background (rollsync.go) while retention,
	// the cleaner or truncation may close it.
	syncMu     sync.Mutex
	syncErr    error // the first failed fsync; it sticks (see flushLocked)
	syncClosed bool  // the file is closed or about to be: no more fsyncs
}

// Preallocation of a busy segment's file ahead of its writes: a write into
// reserved blocks skips the file system's block allocation, which made
// appends cost 20-30% more than writes into a preallocated file
// (Redpanda's segment_fallocation_step does the same). Segments below
// preallocateFrom bytes (idle partitions) reserve nothing; a bigger one
// reserves an eighth of its size, at most preallocateMax, so what is
// reserved and unused stays small beside what is written. seal gives the
// unused blocks back.
const (
	preallocateFrom = 1 << 20
	preallocateMax  = 16 << 20
)

// preallocate reserves blocks for a write of n bytes at pos when they are
// not reserved yet. It is best effort: a file system without fallocate,
// or one too full for the reservation, leaves the write to allocate (and
// to report a full disk) as it would without.
func (s *segment) preallocate(pos int64, n int) {
	end := pos + int64(n)
	if end <= s.allocated || pos < preallocateFrom {
		return
	}
	step := max(int64(n), min(pos/8, preallocateMax))
	if err := s.f.Allocate(pos, step); err != nil {
		s.allocated = end // do not retry on every write
		return
	}
	s.allocated = pos + step
}

func (s *segment) path(suffix string) string {
	return filepath.Join(s.dir, segmentName(s.base, suffix))
}

// createSegment makes an empty segment at base with writable indexes.
func createSegment(fsys fsutil.FS, dir string, base int64, cfg *Config, now time.Time) (*segment, error) {
	s := &segment{fs: fsys, dir: dir, base: base, created: now}
	// A stale file at this name can only be leftover garbage: start clean.
	for _, suf := range []string{logSuffix, indexSuffix, timeIndexSuffix, txnIndexSuffix} {
		if err := s.fs.Remove(s.path(suf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("remove stale %s: %w", suf, err)
		}
	}
	if err := s.open(cfg, true); err != nil {
		return nil, err
	}
	s.next.Store(base)
	s.maxTS.Store(-1)
	return s, nil
}

// open opens the files; it reports index files of a bad size by leaving
// them empty, which makes the caller rebuild them.
func (s *segment) open(cfg *Config, writable bool) error {
	f, err := s.fs.OpenFile(s.path(logSuffix), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("open segment: %w", err)
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("stat segment: %w", err)
	}
	s.f = f
	s.size.Store(st.Size())
	if err := s.openIndexes(cfg, writable); err != nil {
		f.Close()
		return err
	}
	return nil
}

func (s *segment) openIndexes(cfg *Config, writable bool) error {
	ix, _, err := openIndex(s.fs, s.path(indexSuffix), offsetEntrySize, cfg.SegmentIndexBytes, writable)
	if err != nil {
		return err
	}
	tx, _, err := openIndex(s.fs, s.path(timeIndexSuffix), timeEntrySize, cfg.SegmentIndexBytes, writable)
	if err != nil {
		ix.close()
		return err
	}
	s.idx = &offsetIndex{mmapIndex: ix, base: s.base}
	s.tidx = &timeIndex{mmapIndex: tx, base: s.base}
	return nil
}

// resetIndexes empties both indexes so they can be rebuilt.
func (s *segment) resetIndexes() {
	s.idx.truncate(0)
	s.tidx.truncate(0)
	s.sinceIndex = 0
}

// indexBatch records a batch written at pos in the indexes. An error is a
// page of an index the file system cannot back (see mmapIndex.put).
func (s *segment) indexBatch(base, maxTS int64, pos int64, size int, interval int) error {
	if maxTS > s.maxTS.Load() {
		s.maxTS.Store(maxTS)
	}
	if s.sinceIndex > interval && s.idx.free() > 0 {
		if err := s.idx.add(base, pos); err != nil {
			return err
		}
		if err := s.tidx.maybeAdd(s.maxTS.Load(), base); err != nil {
			return err
		}
		s.sinceIndex = 0
	}
	s.sinceIndex += size
	s.lastBase = base
	return nil
}

// roomFor reports whether a write of size bytes ending at lastOffset fits
// without rolling.
func (s *segment) roomFor(size int, lastOffset int64, cfg *Config, now time.Time) bool {
	if s.size.Load() == 0 {
		return lastOffset-s.base <= math.MaxUint32 && s.idx.free() >= 2 && s.tidx.free() >= 2
	}
	return s.size.Load()+int64(size) <= cfg.SegmentBytes &&
		now.Sub(s.created).Milliseconds() < cfg.SegmentMs &&
		lastOffset-s.base <= math.MaxUint32 &&
		s.idx.free() >= 2 && s.tidx.free() >= 2 // one for the batch, one for the seal entry
}

// seal finishes a segment that will take no more appends: fsync, then
// finish.
func (s *segment) seal() error {
	if err := s.sync(); err != nil {
		return err
	}
	return s.finish()
}

// finish is seal without the data fsync (a roll leaves that to the
// background, rollsync.go): a final time index entry so the time index
// knows the segment's maximum, trim.
func (s *segment) finish() error {
	if s.tidx.writable && s.maxTS.Load() > s.tidx.lastTS() && s.next.Load() > s.base {
		if err := s.tidx.maybeAdd(s.maxTS.Load(), s.next.Load()-1); err != nil {
			return err
		}
	}
	if s.allocated > s.size.Load() {
		// Give back the blocks reserved past the last write; failing only
		// keeps them allocated.
		_ = s.f.Truncate(s.size.Load())
		s.allocated = 0
	}
	if err := s.idx.seal(); err != nil {
		return err
	}
	return s.tidx.seal()
}

// unseal makes a sealed segment the active one again (after truncation).
func (s *segment) unseal(cfg *Config) error {
	if s.idx.writable {
		return nil
	}
	nIdx, nT := s.idx.len(), s.tidx.len()
	if err := s.idx.close(); err != nil {
		return err
	}
	if err := s.tidx.close(); err != nil {
		return err
	}
	if err := s.openIndexes(cfg, true); err != nil {
		return err
	}
	s.idx.truncate(nIdx)
	s.tidx.truncate(nT)
	return nil
}

// sync fsyncs the data. The first failure sticks: the kernel may have
// dropped the dirty pages, so a later fsync that succeeds proves nothing.
// A closed segment needs none (it was removed or replaced, or Close
// synced it first) and reports success.
func (s *segment) sync() error {
	s.syncMu.Lock()
	defer s.syncMu.Unlock()
	if s.syncErr != nil || s.syncClosed {
		return s.syncErr
	}
	if err := s.f.Datasync(); err != nil {
		s.syncErr = fmt.Errorf("fdatasync %s: %w", s.f.Name(), err)
	}
	return s.syncErr
}

// endSyncs waits for an fsync in progress and turns later ones into
// no-ops, so the file can be closed: called before a close that should
// not wait under a lock readers need.
func (s *segment) endSyncs() {
	s.syncMu.Lock()
	s.syncClosed = true
	s.syncMu.Unlock()
}

func (s *segment) close() error {
	s.endSyncs()
	err := s.idx.close()
	if terr := s.tidx.close(); err == nil {
		err = terr
	}
	if cerr := s.f.Close(); err == nil && cerr != nil {
		err = fmt.Errorf("close segment: %w", cerr)
	}
	return err
}

// remove closes the segment and deletes its files, the log file last so a
// crash in between leaves either a whole segment or only orphan indexes.
func (s *segment) remove() error {
	err := s.close()
	for _, suf := range []string{txnIndexSuffix, indexSuffix, timeIndexSuffix, logSuffix} {
		if rerr := s.fs.Remove(s.path(suf)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) && err == nil {
			err = fmt.Errorf("remove segment file: %w", rerr)
		}
	}
	return err
}

// largestTimestamp is what retention.ms compares: the max record timestamp,
// or the file's modification time when the segment has no timestamps.
func (s *segment) largestTimestamp() int64 {
	if ts := s.maxTS.Load(); ts >= 0 {
		return ts
	}
	if st, err := s.f.Stat(); err == nil {
		return st.ModTime().UnixMilli()
	}
	return -1
}

// headerAt reads the batch header at pos.
func (s *segment) headerAt(pos int64, buf []byte) (recordbatch.Header, error) {
	if _, err := s.f.ReadAt(buf[:recordbatch.HeaderSize], pos); err != nil {
		return recordbatch.Header{}, fmt.Errorf("read header at %d: %w", pos, err)
	}
	return recordbatch.ParseHeader(buf[:recordbatch.HeaderSize])
}
