// Package log is the storage engine of one partition: a directory of
// segment files holding Kafka v2 record batches as received, with sparse
// offset and time indexes, checkpoints, crash recovery, retention and
// compaction.
//
// Locking (always taken in this order):
//
//	maintMu  serializes maintenance: retention, compaction, truncation
//	mu       the append lock: one writer at a time, owns the active segment
//	segMu    guards the segment list; readers hold it shared while they read,
//	         so a segment is never closed under a reader
//
// Readers never take mu: they bound themselves by the published log end
// offset and segment sizes, so an append blocks a read only while the
// segment list changes (roll, retention, truncation). Nothing decompresses
// under segMu: a timestamp lookup copies its candidate batch out first.
package log

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/recordbatch"
)

// Log is one partition's log.
type Log struct {
	dir  string
	cfg  Config
	opts options
	fs   fsutil.FS

	maintMu sync.Mutex
	mu      sync.Mutex
	segMu   sync.RWMutex

	segs   []*segment // by base offset; guarded by segMu (writes also hold mu)
	active *segment   // last segment; guarded by mu

	leo      atomic.Int64
	logStart atomic.Int64
	hw       atomic.Int64

	epochs epochCache
	txn    txnState      // open and aborted transactions (txn.go)
	prod   producerState // producer ids, epochs and sequences (producers.go)

	// producerScanBytes is what the last producer state rebuild read from
	// the segments (tests).
	producerScanBytes atomic.Int64

	// Guarded by mu.
	unflushed     int64
	lastFlush     time.Time
	recoveryPoint int64
	closed        bool
	shut          atomic.Bool // closed, for readers (set under segMu)

	rolled  []*rolledSync // rolled segments whose fsync is pending, oldest first (rollsync.go)
	syncing bool          // the rolled-segment sync worker runs
	syncWG  sync.WaitGroup

	ckMu         sync.Mutex // serializes offsets checkpoint writes
	cleanerPoint atomic.Int64
	compact, del bool

	// failure is set once, by fail, on the first I/O error; from then on
	// the log refuses reads and writes. onFail is armed once Open succeeds.
	failure atomic.Pointer[error]
	onFail  func(error)
}

// Open opens (creating if needed) the partition log in dir, recovering
// after an unclean shutdown.
func Open(dir string, cfg Config, opt ...Option) (*Log, error) {
	if err := cfg.Validate(); err != nil {
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l := &Log{dir: dir, cfg: cfg, opts: defaultOptions()}
	for _, o := range opt {
		o(&l.opts)
	}
	l.fs = l.opts.fs
	l.compact, l.del, _ = parsePolicy(cfg.CleanupPolicy)
	l.epochs.fs, l.epochs.dir = l.fs, dir
	// Checkpoint writes during load are optimisations: see the end of load.
	l.epochs.fail = func(err error) error {
		l.opts.logger.Warn("leader epoch checkpoint not written at open", "dir", dir, "err", err)
		return nil
	}
	if err := l.fs.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("open log: %w", err)
	}
	if err := l.load(); err != nil {
		for _, s := range l.segs {
			s.close()
		}
		return nil, fmt.Errorf("open log %s: %w", dir, err)
	}
	l.epochs.fail = l.fail
	l.onFail = l.opts.onFail
	return l, nil
}

// load runs recovery; see recovery.go for the file-level cleanup.
func (l *Log) load() error {
	bases, err := l.cleanDirectory()
	if err != nil {
		return err
	}
	ck, _, err := readOffsetsCheckpoint(l.fs, l.dir)
	if err != nil {
		return err
	}
	_, statErr := l.fs.Stat(filepath.Join(l.dir, cleanShutdownFile))
	clean := statErr == nil
	l.epochs.entries, err = readEpochs(l.fs, l.dir)
	rebuildEpochs := err != nil
	if rebuildEpochs && !errors.Is(err, fs.ErrNotExist) {
		l.opts.logger.Warn("rebuilding leader epoch checkpoint from the log", "dir", l.dir, "err", err)
	}
	now := l.opts.now()
	var prevNext int64
	for i, base := range bases {
		last := i == len(bases)-1
		// Segments that may hold unflushed data are re-validated.
		needRecovery := !clean && (last || bases[i+1] > ck.RecoveryPoint)
		s := &segment{fs: l.fs, dir: l.dir, base: base, created: now}
		if err := s.open(&l.cfg, last || needRecovery); err != nil {
			return err
		}
		l.segs = append(l.segs, s)
		if !needRecovery {
			if err := s.loadTail(&l.cfg, true); err != nil {
				l.opts.logger.Info("rebuilding index", "segment", base, "reason", err)
				needRecovery = true
				if !s.idx.writable {
					if err := s.unseal(&l.cfg); err != nil {
						return err
					}
				}
			}
		}
		if needRecovery {
			cut, err := s.recover(&l.cfg, prevNext)
			if err != nil {
				return err
			}
			if cut > 0 {
				l.opts.logger.Warn("truncated invalid segment tail", "segment", base, "bytes", cut)
				// Later segments cannot continue a log with a hole: drop them.
				if !last {
					if err := l.dropSegmentsAfter(i, bases); err != nil {
						return err
					}
					last = true
				}
			}
			if !last {
				if err := s.seal(); err != nil {
					return err
				}
			}
		}
		prevNext = s.next.Load()
		if last {
			break
		}
	}
	if rebuildEpochs {
		if l.epochs.entries, err = epochsFromBatches(l.segs); err != nil {
			return err
		}
	}
	if len(l.segs) == 0 {
		s, err := createSegment(l.fs, l.dir, ck.LogStart, &l.cfg, now)
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
	}
	l.active = l.segs[len(l.segs)-1]
	l.leo.Store(l.active.next.Load())
	if err := l.applyLogStart(ck.LogStart); err != nil {
		return err
	}
	l.recoveryPoint = min(ck.RecoveryPoint, l.leo.Load())
	l.cleanerPoint.Store(max(ck.CleanerPoint, l.logStart.Load()))
	l.hw.Store(min(max(ck.HighWatermark, l.logStart.Load()), l.leo.Load()))
	if !l.opts.manualHW {
		l.hw.Store(l.leo.Load())
	}
	l.lastFlush = now
	if err := l.epochs.truncateFromEnd(l.leo.Load()); err != nil {
		return err
	}
	if err := l.rebuildTxnLocked(); err != nil {
		return err
	}
	if err := l.loadProducersLocked(); err != nil {
		return err
	}
	if rebuildEpochs && len(l.epochs.entries) > 0 {
		l.epochs.mu.Lock()
		err := l.epochs.persistLocked()
		l.epochs.mu.Unlock()
		if err != nil {
			return err
		}
	}
	if err := l.fs.Remove(filepath.Join(l.dir, cleanShutdownFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove clean shutdown marker: %w", err)
	}
	if err := fsutil.SyncDirFS(l.fs, l.dir); err != nil {
		return err
	}
	// A failed checkpoint write (offsets here, leader epochs above) does
	// not fail Open and does not fail the log: the checkpoints are
	// optimisations. The file on disk is whole (atomic writes) and still
	// safe to use: with an older recovery point recovery re-validates more,
	// stale epochs past the log end are dropped at every Open. Refusing to
	// open a full disk would take readable data offline; the first append
	// that cannot be written fails the log instead. Nothing in Open deletes
	// or truncates data because of an I/O error (only a torn tail that
	// fails its CRC is cut); a failed Open leaves the directory as it was.
	if err := l.writeCheckpointFile(); err != nil {
		l.opts.logger.Warn("offsets checkpoint not written at open", "dir", l.dir, "err", err)
	}
	return nil
}

// epochsFromBatches rebuilds the leader epoch cache from the batch headers
// (each batch's partition leader epoch and base offset), as assign would
// have built it, when the checkpoint is missing or corrupt.
func epochsFromBatches(segs []*segment) ([]epochEntry, error) {
	var es []epochEntry
	for _, s := range segs {
		sc := newHeaderScanner(s, 0, s.size.Load())
		for {
			h, _, ok, err := sc.next()
			if err != nil {
				sc.release()
				return nil, fmt.Errorf("rebuild leader epochs: %w", err)
			}
			if !ok {
				break
			}
			if n := len(es); n == 0 || h.PartitionLeaderEpoch > es[n-1].Epoch {
				es = append(es, epochEntry{Epoch: h.PartitionLeaderEpoch, StartOffset: h.BaseOffset})
			}
		}
		sc.release()
	}
	return es, nil
}

// applyLogStart sets the log start offset at load: at least the checkpoint
// and the first segment base; segments wholly below it are deleted (a crash
// between checkpoint and deletion), and if the whole log is below it the
// log restarts empty there (TruncateFullyAndStartAt interrupted).
func (l *Log) applyLogStart(ckStart int64) error {
	start := max(ckStart, l.segs[0].base)
	if start > l.leo.Load() {
		for i := len(l.segs) - 1; i >= 0; i-- {
			if err := l.segs[i].remove(); err != nil {
				return err
			}
		}
		s, err := createSegment(l.fs, l.dir, start, &l.cfg, l.opts.now())
		if err != nil {
			return err
		}
		l.segs = []*segment{s}
		l.active = s
		l.leo.Store(start)
	}
	for len(l.segs) > 1 && l.segs[1].base <= start {
		if err := l.segs[0].remove(); err != nil {
			return err
		}
		l.segs = l.segs[1:]
	}
	l.logStart.Store(start)
	return l.epochs.truncateFromStart(start)
}

// dropSegmentsAfter deletes the files of segments bases[i+1:], newest first.
func (l *Log) dropSegmentsAfter(i int, bases []int64) error {
	for j := len(bases) - 1; j > i; j-- {
		for _, suf := range []string{indexSuffix, timeIndexSuffix, logSuffix} {
			if err := l.fs.Remove(filepath.Join(l.dir, segmentName(bases[j], suf))); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("drop segment %d: %w", bases[j], err)
			}
		}
	}
	return nil
}

// cleanDirectory finishes or discards interrupted file operations and
// returns the base offsets of the segments present, sorted.
func (l *Log) cleanDirectory() ([]int64, error) {
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", l.dir, err)
	}
	logs := map[int64]bool{}
	var indexes []string
	for _, e := range ents {
		name := e.Name()
		full := filepath.Join(l.dir, name)
		switch {
		case strings.HasSuffix(name, fsutil.TempSuffix), strings.HasSuffix(name, cleanedSuffix), strings.HasSuffix(name, deletedSuffix):
			// Unfinished atomic write, uncommitted compaction output, half-deleted segment.
			if err := l.fs.Remove(full); err != nil {
				return nil, fmt.Errorf("remove %s: %w", name, err)
			}
		case strings.HasSuffix(name, logSuffix+swapSuffix):
			// Committed compaction output: finish the swap; indexes get rebuilt.
			base, ok := parseBase(strings.TrimSuffix(name, logSuffix+swapSuffix))
			if !ok {
				continue
			}
			for _, suf := range []string{indexSuffix, timeIndexSuffix} {
				if err := l.fs.Remove(filepath.Join(l.dir, segmentName(base, suf))); err != nil && !errors.Is(err, fs.ErrNotExist) {
					return nil, fmt.Errorf("finish swap: %w", err)
				}
			}
			if err := l.fs.Rename(full, filepath.Join(l.dir, segmentName(base, logSuffix))); err != nil {
				return nil, fmt.Errorf("finish swap: %w", err)
			}
			logs[base] = true
		case strings.HasSuffix(name, logSuffix):
			if base, ok := parseBase(strings.TrimSuffix(name, logSuffix)); ok {
				logs[base] = true
			}
		case strings.HasSuffix(name, indexSuffix), strings.HasSuffix(name, timeIndexSuffix), strings.HasSuffix(name, txnIndexSuffix):
			indexes = append(indexes, name)
		}
	}
	for _, name := range indexes {
		base, ok := parseBase(strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(name, timeIndexSuffix), indexSuffix), txnIndexSuffix))
		if ok && !logs[base] {
			if err := l.fs.Remove(filepath.Join(l.dir, name)); err != nil {
				return nil, fmt.Errorf("remove orphan index: %w", err)
			}
		}
	}
	bases := make([]int64, 0, len(logs))
	for b := range logs {
		bases = append(bases, b)
	}
	sort.Slice(bases, func(i, j int) bool { return bases[i] < bases[j] })
	return bases, nil
}

func parseBase(s string) (int64, bool) {
	if len(s) != 20 {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	return v, err == nil && v >= 0
}

// Close flushes everything, writes checkpoints and the clean-shutdown
// marker that lets the next Open skip recovery.
func (l *Log) Close() error {
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	err := l.closeLocked()
	// A background sync of a rolled segment finds the log closed and ends.
	l.syncWG.Wait()
	return err
}

func (l *Log) closeLocked() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.closed {
		return nil
	}
	var err error
	if l.Err() == nil {
		// Readers go on while the rolled segments are synced.
		err = l.syncRolledLocked()
	}
	l.closed = true
	l.rolled = nil // synced, or moot in a failed log
	l.segMu.Lock()
	defer l.segMu.Unlock()
	l.shut.Store(true)
	if err == nil && l.Err() == nil {
		err = l.active.seal()
		if err == nil {
			l.writeSnapshotLocked(l.leo.Load())
			l.recoveryPoint = l.leo.Load()
			err = l.writeCheckpoint()
		} else {
			err = l.fail(err)
		}
	}
	for _, s := range l.segs {
		if cerr := s.close(); err == nil {
			err = cerr
		}
	}
	// A failed log gets no clean-shutdown marker: the next Open re-validates.
	if err == nil && l.Err() == nil {
		err = fsutil.WriteFileAtomicFS(l.fs, filepath.Join(l.dir, cleanShutdownFile), nil, 0o644)
	}
	if err != nil {
		return fmt.Errorf("close log %s: %w", l.dir, err)
	}
	return nil
}

// writeCheckpoint persists log start, high watermark, recovery point and
// cleaner point; a failed write fails the log.
func (l *Log) writeCheckpoint() error {
	if err := l.writeCheckpointFile(); err != nil {
		return l.fail(err)
	}
	return nil
}

// writeCheckpointFile is writeCheckpoint without failing the log.
func (l *Log) writeCheckpointFile() error {
	l.ckMu.Lock()
	defer l.ckMu.Unlock()
	c := offsetsCheckpoint{
		LogStart:      l.logStart.Load(),
		HighWatermark: l.hw.Load(),
		RecoveryPoint: l.recoveryPoint,
		CleanerPoint:  l.cleanerPoint.Load(),
	}
	if err := fsutil.WriteFileAtomicFS(l.fs, filepath.Join(l.dir, offsetsCheckpointFile), c.encode(), 0o644); err != nil {
		return fmt.Errorf("offsets checkpoint: %w", err)
	}
	return nil
}

// Checkpoint persists the offsets checkpoint; the owner calls it
// periodically (Kafka: log.flush.offset.checkpoint.interval.ms).
func (l *Log) Checkpoint() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if err := l.check(); err != nil {
		return err
	}
	return l.writeCheckpoint()
}

// Dir is the partition directory.
func (l *Log) Dir() string { return l.dir }

// LogStartOffset is the first offset a consumer may fetch.
func (l *Log) LogStartOffset() int64 { return l.logStart.Load() }

// LogEndOffset is the offset the next appended record gets.
func (l *Log) LogEndOffset() int64 { return l.leo.Load() }

// HighWatermark is the offset below which records are committed.
func (l *Log) HighWatermark() int64 { return l.hw.Load() }

// SetHighWatermark moves the high watermark, clamped to [log start, LEO].
func (l *Log) SetHighWatermark(hw int64) {
	l.hw.Store(min(max(hw, l.logStart.Load()), l.leo.Load()))
}

// Size is the total bytes of all segments.
func (l *Log) Size() int64 {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	var n int64
	for _, s := range l.segs {
		n += s.size.Load()
	}
	return n
}

// NumSegments is the number of segment files.
func (l *Log) NumSegments() int {
	l.segMu.RLock()
	defer l.segMu.RUnlock()
	return len(l.segs)
}

// LeaderEpoch is one entry of the leader epoch cache.
type LeaderEpoch struct {
	Epoch       int32
	StartOffset int64
}

// LeaderEpochs returns the leader epoch cache, oldest first.
func (l *Log) LeaderEpochs() []LeaderEpoch {
	es := l.epochs.snapshot()
	out := make([]LeaderEpoch, len(es))
	for i, e := range es {
		out[i] = LeaderEpoch(e)
	}
	return out
}

// EndOffsetForEpoch answers OffsetsForLeaderEpoch (KIP-101): the largest
// epoch ≤ epoch this log knows and the offset where that epoch ended (the
// log end offset for the latest epoch). Unknown: (-1, -1).
func (l *Log) EndOffsetForEpoch(epoch int32) (int32, int64) {
	return l.epochs.endOffsetFor(epoch, l.leo.Load())
}

// check returns why the log cannot take writes. Called with mu held.
func (l *Log) check() error {
	if l.closed {
		return ErrClosed
	}
	return l.Err()
}

// Err is nil while the log is healthy and otherwise the I/O error that
// failed it, wrapped so that recordbatch.CodeOf gives KAFKA_STORAGE_ERROR.
// A failed log stays failed (a failed fsync is never retried as if the
// data were safe): it refuses appends, reads and maintenance, and Close
// leaves no clean-shutdown marker, so the next Open re-validates.
func (l *Log) Err() error {
	if p := l.failure.Load(); p != nil {
		return *p
	}
	return nil
}

// fail puts the log in its failed state (the first error sticks and runs
// the failure hook, from its own goroutine since callers hold locks) and
// returns cause as KAFKA_STORAGE_ERROR. Safe with or without any lock.
func (l *Log) fail(cause error) error {
	err := fmt.Errorf("log %s failed: %w: %w", l.dir, ErrStorage, cause)
	if l.failure.CompareAndSwap(nil, &err) {
		l.opts.logger.Error("log failed; it serves nothing until reopened", "dir", l.dir, "err", cause)
		if l.onFail != nil {
			go l.onFail(err)
		}
		return err
	}
	return fmt.Errorf("%w: %w", ErrStorage, cause)
}

// failIO fails the log when err comes from the file system (not from a
// check of the data, which carries its own Kafka code) and returns the
// error to give the caller.
func (l *Log) failIO(err error) error {
	if err != nil && isIOError(err) {
		return l.fail(err)
	}
	return err
}

// isIOError reports whether err came from a file operation: a system call
// error or a read that ended before the published end of a segment.
func isIOError(err error) bool {
	var errno syscall.Errno
	var pe *fs.PathError
	var le *os.LinkError
	var se *os.SyscallError
	return errors.As(err, &errno) || errors.As(err, &pe) || errors.As(err, &le) || errors.As(err, &se) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF)
}

// segmentFor returns the index of the last segment with base ≤ offset, or
// -1. Called with segMu held.
func (l *Log) segmentFor(offset int64) int {
	return sort.Search(len(l.segs), func(i int) bool { return l.segs[i].base > offset }) - 1
}

var _ = recordbatch.HeaderSize
