package log

import (
	"bufio"
	"errors"
	"fmt"
	"hash/maphash"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"

	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/recordbatch"
)

// CleanStats reports what Compact did.
type CleanStats struct {
	Passes          int
	SegmentsCleaned int
	RecordsRemoved  int64
	BytesBefore     int64
	BytesAfter      int64
	// MarkersRemoved counts transaction markers removed (their
	// transaction's data gone and their delete horizon passed).
	MarkersRemoved int64
}

// Compact runs the log cleaner when the cleanup policy includes compact.
// It rewrites the sealed segments below the last stable offset keeping,
// per key, only the latest record; tombstones (nil values) older than
// delete.retention.ms go too, and so do aborted transactions' batches and,
// delete.retention.ms after their transaction's data is gone, transaction
// markers (markerCleaner). Offsets never change: a batch keeps its base
// offset and offset range and only loses records, so gaps appear but
// nothing is reordered. Compressed batches are decompressed (capped),
// filtered and recompressed with the same codec, one batch at a time.
//
// The key map holds at most CleanerKeyMapEntries key hashes (128-bit,
// seeded per pass); when the dirty part of the log has more keys the
// cleaner covers it in several passes.
//
// Which part is cleaned, and when, follows Kafka's topic configs (see
// dueForCleaning): min.compaction.lag.ms, min.cleanable.dirty.ratio and
// max.compaction.lag.ms.
//
// Records with a null key are kept: Kafka refuses them on produce for
// compacted topics, but a log that got them anyway (replicated data, a
// policy change) should not lose data silently; they are never superseded.
func (l *Log) Compact() (CleanStats, error) {
	var st CleanStats
	if !l.compact {
		return st, nil
	}
	l.maintMu.Lock()
	defer l.maintMu.Unlock()
	if l.shut.Load() {
		return st, ErrClosed
	}
	if err := l.Err(); err != nil {
		return st, err
	}
	// Only below the last stable offset: an open transaction's records may
	// yet be aborted, and must not supersede committed ones (Kafka's
	// cleaner stops there too).
	lso := l.LastStableOffset()
	l.segMu.RLock()
	hw := lso
	k := 0 // segments [0,k) are sealed and wholly below the last stable offset
	for k < len(l.segs)-1 && l.segs[k+1].base <= hw {
		k++
	}
	cleanable := append([]*segment(nil), l.segs[:k]...)
	cleanEnd := l.segs[k].base
	l.segMu.RUnlock()
	cleanable, cleanEnd = l.dueForCleaning(cleanable, cleanEnd, l.cleanerPoint.Load(), l.opts.now().UnixMilli())
	if len(cleanable) == 0 {
		return st, nil
	}
	for dirty := l.cleanerPoint.Load(); dirty < cleanEnd; st.Passes++ {
		km := newKeyMap(l.cfg.CleanerKeyMapEntries)
		mapEnd, err := l.buildKeyMap(cleanable, dirty, cleanEnd, km)
		if err != nil {
			return st, l.failIO(err)
		}
		if mapEnd <= dirty {
			return st, fmt.Errorf("compact: no progress at offset %d", dirty)
		}
		now := l.opts.now().UnixMilli()
		horizon := now - l.cfg.DeleteRetentionMs
		mk := markerCleaner{now: now, retention: l.cfg.DeleteRetentionMs, data: map[int64]bool{}, last: map[int64]int64{}}
		for id, p := range l.Producers() {
			mk.last[id] = p.LastOffset
		}
		for i, s := range cleanable {
			if s.base >= mapEnd {
				break
			}
			ns, err := l.cleanSegment(s, km, mapEnd, horizon, &mk, &st)
			if err != nil {
				var se *swapError
				if errors.As(err, &se) {
					return st, l.fail(err)
				}
				return st, l.failIO(err)
			}
			cleanable[i] = ns
			st.SegmentsCleaned++
		}
		dirty = mapEnd
		l.cleanerPoint.Store(mapEnd)
		l.mu.Lock()
		err = l.writeCheckpoint()
		l.mu.Unlock()
		if err != nil {
			return st, err
		}
	}
	return st, nil
}

// dueForCleaning decides what a compaction may clean, given the sealed
// segments below the high watermark (segs, ending at cleanEnd) and the
// cleaner point dirty, as Kafka's cleaner manager does:
//
//   - min.compaction.lag.ms: the cleanable range ends at the first dirty
//     segment holding a record younger than the lag;
//   - min.cleanable.dirty.ratio: the log is cleaned only when the dirty
//     bytes (segments from the one holding dirty up to the range's end) are
//     at least that share of the bytes up to the range's end;
//   - max.compaction.lag.ms: past it (measured from the first dirty
//     segment's first batch) the log is cleaned whatever its ratio.
//
// It returns the segments to work on (none: nothing to do) and their end.
func (l *Log) dueForCleaning(segs []*segment, cleanEnd, dirty, now int64) ([]*segment, int64) {
	first := len(segs) // first segment holding dirty data
	for i, s := range segs {
		if s.next.Load() > dirty {
			first = i
			break
		}
	}
	if lag := l.cfg.MinCompactionLagMs; lag > 0 {
		for i := first; i < len(segs); i++ {
			if segs[i].largestTimestamp() > now-lag {
				segs, cleanEnd = segs[:i], segs[i].base
				break
			}
		}
	}
	if first >= len(segs) {
		return nil, cleanEnd
	}
	var cleanBytes, dirtyBytes int64
	for i, s := range segs {
		if i < first {
			cleanBytes += s.size.Load()
		} else {
			dirtyBytes += s.size.Load()
		}
	}
	if dirtyBytes == 0 {
		return nil, cleanEnd
	}
	if float64(dirtyBytes) >= l.cfg.MinCleanableDirtyRatio*float64(cleanBytes+dirtyBytes) {
		return segs, cleanEnd
	}
	if lag := l.cfg.MaxCompactionLagMs; lag < math.MaxInt64 {
		var buf [recordbatch.HeaderSize]byte
		if h, err := segs[first].headerAt(0, buf[:]); err == nil && h.MaxTimestamp >= 0 && now-h.MaxTimestamp > lag {
			return segs, cleanEnd
		}
	}
	return nil, cleanEnd
}

// keyMap maps a 128-bit key hash to the latest offset seen for it.
type keyMap struct {
	seeds [2]maphash.Seed
	m     map[[2]uint64]int64
	limit int
}

func newKeyMap(limit int) *keyMap {
	return &keyMap{seeds: [2]maphash.Seed{maphash.MakeSeed(), maphash.MakeSeed()}, m: make(map[[2]uint64]int64), limit: limit}
}

func (km *keyMap) hash(key []byte) [2]uint64 {
	return [2]uint64{maphash.Bytes(km.seeds[0], key), maphash.Bytes(km.seeds[1], key)}
}

// buildKeyMap records the latest offset of every key in [dirty, cleanEnd).
// It returns the offset it got to: less than cleanEnd when the map filled.
func (l *Log) buildKeyMap(segs []*segment, dirty, cleanEnd int64, km *keyMap) (int64, error) {
	for _, s := range segs {
		if s.next.Load() <= dirty {
			continue
		}
		stop := int64(-1)
		lastBase, lastAborted := int64(-1), false
		err := l.eachRecord(s, func(h *recordbatch.Header, _ []byte, r *recordbatch.Record, off int64) (bool, error) {
			if off < dirty || r.Key == nil || h.IsControl() {
				return true, nil
			}
			if h.BaseOffset != lastBase {
				lastBase, lastAborted = h.BaseOffset, l.abortedBatch(h)
			}
			if lastAborted {
				return true, nil // aborted records supersede nothing
			}
			k := km.hash(r.Key)
			if _, ok := km.m[k]; !ok && len(km.m) >= km.limit {
				stop = off
				return false, nil
			}
			km.m[k] = off
			return true, nil
		})
		if err != nil {
			return 0, err
		}
		if stop >= 0 {
			return stop, nil
		}
	}
	return cleanEnd, nil
}

// eachRecord calls fn for every record of s in order; fn returns false to
// stop. raw is the whole batch the record came from.
func (l *Log) eachRecord(s *segment, fn func(h *recordbatch.Header, raw []byte, r *recordbatch.Record, off int64) (bool, error)) error {
	return l.eachBatch(s, func(h *recordbatch.Header, raw []byte) (bool, error) {
		if h.RecordCount == 0 {
			return true, nil
		}
		recs, err := recordbatch.Records(nil, raw, h, l.cfg.MaxDecompressedBytes)
		if err != nil {
			return false, err
		}
		it := recordbatch.NewRecordIter(recs, h.RecordCount)
		for it.Next() {
			ok, err := fn(h, raw, it.Record(), h.BaseOffset+int64(it.Record().OffsetDelta))
			if err != nil || !ok {
				return ok, err
			}
		}
		return true, it.Err()
	})
}

// eachBatch reads s sequentially, one whole batch at a time.
func (l *Log) eachBatch(s *segment, fn func(h *recordbatch.Header, raw []byte) (bool, error)) error {
	size := s.size.Load()
	r := bufio.NewReaderSize(io.NewSectionReader(s.f, 0, size), 256<<10)
	var raw []byte
	for pos := int64(0); pos < size; {
		head, err := r.Peek(recordbatch.LengthFieldEnd)
		if err != nil {
			return fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
		}
		n := recordbatch.PeekSize(head)
		if n < 0 || int64(n) > size-pos {
			return fmt.Errorf("segment %d at %d: %w", s.base, pos, recordbatch.ErrCorrupt)
		}
		raw = grow(raw[:0], n)
		if _, err := io.ReadFull(r, raw); err != nil {
			return fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
		}
		h, err := recordbatch.Validate(raw)
		if err != nil {
			return fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
		}
		if ok, err := fn(&h, raw); err != nil || !ok {
			return err
		}
		pos += int64(n)
	}
	return nil
}

// cleanSegment rewrites s without superseded records and expired
// tombstones, then swaps the result in crash-safely:
//
//  1. write <base>.log.cleaned and fsync it (a crash discards it);
//  2. rename it to <base>.log.swap and fsync the directory (commit: a
//     crash from here on finishes the swap at Open);
//  3. delete the old indexes, rename .swap over .log, write new indexes
//     (missing indexes are rebuilt at Open).
func (l *Log) cleanSegment(s *segment, km *keyMap, mapEnd, horizon int64, mk *markerCleaner, st *CleanStats) (*segment, error) {
	cleanedPath := s.path(logSuffix + cleanedSuffix)
	f, err := l.fs.OpenFile(cleanedPath, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	w := bufio.NewWriterSize(f, 256<<10)
	ns := &segment{fs: s.fs, dir: s.dir, base: s.base, created: s.created}
	ns.maxTS.Store(-1)
	ns.next.Store(s.base)
	var idx []offsetPos
	var tidx []timeOffset
	var pos int64
	var keep []recordbatch.BuildRecord
	var sinceIndex int
	write := func(b []byte, h *recordbatch.Header) error {
		if sinceIndex > l.cfg.IndexIntervalBytes {
			idx = append(idx, offsetPos{h.BaseOffset, pos})
			if ts := max(ns.maxTS.Load(), h.MaxTimestamp); len(tidx) == 0 || ts > tidx[len(tidx)-1].ts {
				tidx = append(tidx, timeOffset{ts, h.BaseOffset})
			}
			sinceIndex = 0
		}
		sinceIndex += len(b)
		ns.maxTS.Store(max(ns.maxTS.Load(), h.MaxTimestamp))
		ns.next.Store(h.NextOffset())
		pos += int64(len(b))
		_, err := w.Write(b)
		return err
	}
	var goneAborts map[int64]bool // offsets of removed abort markers
	err = l.eachBatch(s, func(h *recordbatch.Header, raw []byte) (bool, error) {
		st.BytesBefore += int64(len(raw))
		if h.IsControl() {
			out, err := mk.marker(h, raw)
			if err != nil || out != nil {
				if err == nil {
					nh, _ := recordbatch.ParseHeader(out)
					err = write(out, &nh)
				}
				return err == nil, err
			}
			st.MarkersRemoved++
			if typ, err := recordbatch.ControlType(raw); err == nil && typ == recordbatch.ControlAbort {
				if goneAborts == nil {
					goneAborts = map[int64]bool{}
				}
				goneAborts[h.BaseOffset] = true
			}
			return true, nil
		}
		if h.IsTransactional() && h.ProducerID >= 0 {
			mk.data[h.ProducerID] = true
		}
		if h.RecordCount == 0 {
			return true, write(raw, h)
		}
		if l.abortedBatch(h) {
			st.RecordsRemoved += int64(h.RecordCount)
			return true, nil // an aborted transaction's records are never read committed
		}
		recs, err := recordbatch.Records(nil, raw, h, l.cfg.MaxDecompressedBytes)
		if err != nil {
			return false, err
		}
		keep = keep[:0]
		it := recordbatch.NewRecordIter(recs, h.RecordCount)
		for it.Next() {
			r := it.Record()
			off := h.BaseOffset + int64(r.OffsetDelta)
			ts := h.BaseTimestamp + r.TimestampDelta
			if h.LogAppendTime() {
				ts = h.MaxTimestamp
			}
			if r.Key != nil && off < mapEnd {
				if latest, ok := km.m[km.hash(r.Key)]; ok && off < latest {
					continue // superseded
				}
				if r.Value == nil && ts < horizon {
					continue // tombstone past delete.retention.ms
				}
			}
			keep = append(keep, recordbatch.BuildRecord{Key: r.Key, Value: r.Value, Headers: append([]recordbatch.RecordHeader(nil), r.Headers...),
				Timestamp: ts, OffsetDelta: r.OffsetDelta})
		}
		if err := it.Err(); err != nil {
			return false, err
		}
		st.RecordsRemoved += int64(int(h.RecordCount) - len(keep))
		switch {
		case len(keep) == int(h.RecordCount):
			return true, write(raw, h)
		case len(keep) == 0:
			return true, nil
		}
		nb, err := recordbatch.Build(recordbatch.BatchOptions{
			BaseOffset: h.BaseOffset, PartitionLeaderEpoch: h.PartitionLeaderEpoch, Codec: h.Codec(),
			ProducerID: h.ProducerID, ProducerEpoch: h.ProducerEpoch, BaseSequence: h.BaseSequence,
			Transactional: h.IsTransactional(), LogAppendTime: h.LogAppendTime(),
			KeepOffsetDeltas: true, LastOffsetDelta: h.LastOffsetDelta,
		}, keep)
		if err != nil {
			return false, err
		}
		nh, _ := recordbatch.ParseHeader(nb)
		return true, write(nb, &nh)
	})
	if err == nil {
		err = w.Flush()
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		l.fs.Remove(cleanedPath)
		return nil, fmt.Errorf("compact segment %d: %w", s.base, err)
	}
	if len(goneAborts) > 0 {
		// Before the swap: the transactions' data is already gone, so
		// from now on nothing needs their aborted entries, and a reader
		// must never be told of an aborted transaction whose marker it
		// cannot find (it would skip the producer's later batches).
		if err := l.forgetAborted(s, goneAborts); err != nil {
			l.fs.Remove(cleanedPath)
			return nil, fmt.Errorf("compact segment %d: %w", s.base, err)
		}
	}
	st.BytesAfter += pos
	swapPath := s.path(logSuffix + swapSuffix)
	if err := l.fs.Rename(cleanedPath, swapPath); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	if err := fsutil.SyncDirFS(l.fs, l.dir); err != nil {
		return nil, fmt.Errorf("compact: %w", err)
	}
	return ns, l.swapIn(s, ns, swapPath, idx, tidx)
}

type swapError struct{ err error }

func (e *swapError) Error() string { return e.err.Error() }
func (e *swapError) Unwrap() error { return e.err }

type offsetPos struct{ off, pos int64 }
type timeOffset struct{ ts, off int64 }

// swapIn replaces old with the committed .swap file. Readers are held off
// only for the renames and the index writes.
func (l *Log) swapIn(old, ns *segment, swapPath string, idx []offsetPos, tidx []timeOffset) error {
	// A background sync of old (just rolled) ends before readers are held
	// off; old's data needs none after it: the cleaned copy is synced.
	old.endSyncs()
	l.segMu.Lock()
	defer l.segMu.Unlock()
	// A failed swap leaves the in-memory state unknown: fail the log (the
	// caller records it after releasing segMu, keeping the lock order) and
	// let Open finish the committed swap.
	fail := func(err error) error {
		return &swapError{fmt.Errorf("compact swap segment %d: %w", old.base, err)}
	}
	if err := old.close(); err != nil {
		return fail(err)
	}
	for _, suf := range []string{indexSuffix, timeIndexSuffix} {
		if err := l.fs.Remove(old.path(suf)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fail(err)
		}
	}
	if err := l.fs.Rename(swapPath, old.path(logSuffix)); err != nil {
		return fail(err)
	}
	if err := writeIndexFiles(ns, idx, tidx); err != nil {
		return fail(err)
	}
	if err := fsutil.SyncDirFS(l.fs, l.dir); err != nil {
		return fail(err)
	}
	if err := ns.open(&l.cfg, false); err != nil {
		return fail(err)
	}
	for i, s := range l.segs {
		if s == old {
			l.segs[i] = ns
		}
	}
	return nil
}

func writeIndexFiles(s *segment, idx []offsetPos, tidx []timeOffset) error {
	ib := make([]byte, 0, len(idx)*offsetEntrySize)
	for _, e := range idx {
		ib = appendUint32(appendUint32(ib, uint32(e.off-s.base)), uint32(e.pos))
	}
	// The final entry records the segment maximum, as seal does.
	if m := s.maxTS.Load(); m >= 0 && (len(tidx) == 0 || m > tidx[len(tidx)-1].ts) {
		tidx = append(tidx, timeOffset{m, s.next.Load() - 1})
	}
	tb := make([]byte, 0, len(tidx)*timeEntrySize)
	for _, e := range tidx {
		tb = appendUint32(appendUint32(tb, uint32(uint64(e.ts)>>32)), uint32(e.ts))
		tb = appendUint32(tb, uint32(e.off-s.base))
	}
	if err := fsutil.WriteFile(s.fs, filepath.Join(s.dir, segmentName(s.base, indexSuffix)), ib, 0o644); err != nil {
		return err
	}
	return fsutil.WriteFile(s.fs, filepath.Join(s.dir, segmentName(s.base, timeIndexSuffix)), tb, 0o644)
}

func appendUint32(b []byte, v uint32) []byte {
	return append(b, byte(v>>24), byte(v>>16), byte(v>>8), byte(v))
}

// markerCleaner decides, during one cleaning pass (which reads the log
// from its first segment), what becomes of each transaction marker, as
// Kafka's cleaner does (KIP-98, KIP-534): a marker stays while any batch of
// its transaction was read in this pass (retained or removed: the marker
// must outlive its data); once none was, it gets a delete horizon of now +
// delete.retention.ms, and a later pass past the horizon removes it. So a
// consumer that read the transaction's data before it was cleaned still
// finds the marker for delete.retention.ms. A marker that is its
// producer's last batch stays (Kafka keeps the last batch of every producer
// it knows), so a replica that rebuilds its producer state from the log
// still learns the epoch the marker raised.
type markerCleaner struct {
	now, retention int64
	data           map[int64]bool  // producer id → a batch of its current transaction was read
	last           map[int64]int64 // producer id → offset of its last batch (the log's producer state)
}

// marker returns what to write for the control batch raw: raw itself, a
// copy with a delete horizon, or nil to remove it.
func (mk *markerCleaner) marker(h *recordbatch.Header, raw []byte) ([]byte, error) {
	if h.ProducerID < 0 {
		return raw, nil
	}
	hasData := mk.data[h.ProducerID]
	delete(mk.data, h.ProducerID)
	at, set := h.DeleteHorizon()
	switch {
	case hasData:
		return raw, nil
	case mk.last[h.ProducerID] == h.BaseOffset:
		return raw, nil // the producer's last batch
	case !set:
		horizon := mk.now + mk.retention
		if mk.retention > math.MaxInt64-mk.now {
			horizon = math.MaxInt64
		}
		return recordbatch.WithDeleteHorizon(raw, horizon)
	case mk.now >= at:
		return nil, nil
	}
	return raw, nil
}
