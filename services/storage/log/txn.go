package log

// Transaction state of a partition (Kafka's transaction index and the
// ongoing-transaction part of its producer state).
//
// Every write — a leader's Append and AppendControl, a follower's
// AppendReplicated — goes through writeLocked, which feeds the written
// batches to txnState: the first transactional batch of a producer opens
// its transaction at that batch's offset; a control batch (commit or abort
// marker) closes it, and an abort adds {producer, first offset, marker
// offset} to the aborted list. So leaders and followers hold the same
// state, and a follower that becomes leader serves read_committed at once.
//
// The last stable offset (LSO) is the smallest first offset of an open
// transaction, capped by the high watermark: read_committed consumers read
// below it, and get the aborted transactions of what they read.
//
// Persistence: when a segment is sealed (rolled), <base>.txnindex is
// written next to it, holding the aborted transactions whose marker is in
// the segment and the open transactions at the segment's end. On Open (and
// after a truncation) the state is rebuilt from the .txnindex of every
// sealed segment and a scan of the active segment (and of any sealed
// segment whose file is missing or damaged, which is then rewritten). A
// sealed segment without a .txnindex written by a Strata without
// transactions holds no transactional batch (they were refused), so the
// scan finds nothing there.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"sort"
	"sync"

	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/recordbatch"
)

const txnIndexSuffix = ".txnindex"

// txnIndexMagic starts every .txnindex file (format version 1).
var txnIndexMagic = []byte("STXN\x01")

// AbortedTxn is an aborted transaction: the producer's records from
// FirstOffset up to its abort marker at LastOffset.
type AbortedTxn struct {
	ProducerID  int64
	FirstOffset int64
	LastOffset  int64
}

// txnState is guarded by its own mutex: writers update it under the log's
// append lock, readers (fetches, LSO) take only mu.
type txnState struct {
	mu      sync.Mutex
	ongoing map[int64]int64 // producer id → first offset of its open transaction
	aborted []AbortedTxn    // by LastOffset
}

func (t *txnState) reset() {
	t.mu.Lock()
	t.ongoing, t.aborted = map[int64]int64{}, nil
	t.mu.Unlock()
}

// apply updates the state with one written batch (offsets assigned).
func (t *txnState) apply(b []byte) error {
	h, err := recordbatch.ParseHeader(b)
	if err != nil {
		return err
	}
	if !h.IsTransactional() || h.ProducerID < 0 {
		return nil
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.ongoing == nil {
		t.ongoing = map[int64]int64{}
	}
	if !h.IsControl() {
		if _, ok := t.ongoing[h.ProducerID]; !ok {
			t.ongoing[h.ProducerID] = h.BaseOffset
		}
		return nil
	}
	typ, err := recordbatch.ControlType(b)
	if err != nil {
		return err
	}
	first, open := t.ongoing[h.ProducerID]
	delete(t.ongoing, h.ProducerID)
	if open && typ == recordbatch.ControlAbort {
		t.aborted = append(t.aborted, AbortedTxn{ProducerID: h.ProducerID, FirstOffset: first, LastOffset: h.BaseOffset})
	}
	return nil
}

// applyAll applies concatenated written batches.
func (t *txnState) applyAll(batches []byte) error {
	for rest := batches; len(rest) > 0; {
		b, r, err := recordbatch.Next(rest)
		if err != nil {
			return err
		}
		if err := t.apply(b); err != nil {
			return err
		}
		rest = r
	}
	return nil
}

// encodeIndex is the .txnindex of a segment ending at next: aborted
// transactions with markers in [base, next) and the open ones at next.
func (t *txnState) encodeIndex(base, next int64) []byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	var ab []AbortedTxn
	for _, a := range t.aborted {
		if a.LastOffset >= base && a.LastOffset < next {
			ab = append(ab, a)
		}
	}
	return encodeIndexOf(ab, t.ongoing)
}

// encodeIndexOf is the .txnindex holding aborted transactions ab and the
// open transactions open.
func encodeIndexOf(ab []AbortedTxn, open map[int64]int64) []byte {
	b := append([]byte(nil), txnIndexMagic...)
	b = binary.BigEndian.AppendUint32(b, uint32(len(ab)))
	for _, a := range ab {
		b = binary.BigEndian.AppendUint64(b, uint64(a.ProducerID))
		b = binary.BigEndian.AppendUint64(b, uint64(a.FirstOffset))
		b = binary.BigEndian.AppendUint64(b, uint64(a.LastOffset))
	}
	ids := make([]int64, 0, len(open))
	for id := range open {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint64(b, uint64(open[id]))
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// decodeIndex parses a .txnindex: the segment's aborted transactions and
// the open ones at its end.
func decodeIndex(b []byte) ([]AbortedTxn, map[int64]int64, error) {
	bad := fmt.Errorf("txnindex: %w", recordbatch.ErrCorrupt)
	if len(b) < len(txnIndexMagic)+12 || !bytes.Equal(b[:len(txnIndexMagic)], txnIndexMagic) {
		return nil, nil, bad
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != sum {
		return nil, nil, bad
	}
	p := body[len(txnIndexMagic):]
	n := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	if n < 0 || n > len(p)/24 {
		return nil, nil, bad
	}
	ab := make([]AbortedTxn, n)
	for i := range ab {
		ab[i] = AbortedTxn{int64(binary.BigEndian.Uint64(p)), int64(binary.BigEndian.Uint64(p[8:])), int64(binary.BigEndian.Uint64(p[16:]))}
		p = p[24:]
	}
	if len(p) < 4 {
		return nil, nil, bad
	}
	m := int(binary.BigEndian.Uint32(p))
	p = p[4:]
	if m < 0 || m*16 != len(p) {
		return nil, nil, bad
	}
	open := make(map[int64]int64, m)
	for range m {
		open[int64(binary.BigEndian.Uint64(p))] = int64(binary.BigEndian.Uint64(p[8:]))
		p = p[16:]
	}
	return ab, open, nil
}

// writeTxnIndex writes the .txnindex of s, a segment being sealed with
// the state current at its end. Called with mu held.
func (l *Log) writeTxnIndex(s *segment) error {
	return fsutil.WriteFileAtomicFS(l.fs, s.path(txnIndexSuffix), l.txn.encodeIndex(s.base, s.next.Load()), 0o644)
}

// rebuildTxnLocked rebuilds the transaction state from the segments'
// .txnindex files and a scan of the rest. Called with mu held (or during
// load).
func (l *Log) rebuildTxnLocked() error {
	l.txn.reset()
	for i, s := range l.segs {
		last := i == len(l.segs)-1
		if !last {
			data, err := fsutil.ReadFile(l.fs, s.path(txnIndexSuffix))
			switch {
			case err == nil:
				if ab, open, derr := decodeIndex(data); derr == nil {
					l.txn.mu.Lock()
					l.txn.aborted = append(l.txn.aborted, ab...)
					l.txn.ongoing = open
					l.txn.mu.Unlock()
					continue
				}
				l.opts.logger.Warn("rebuilding damaged transaction index", "segment", s.base)
			case errors.Is(err, fs.ErrNotExist):
			default:
				return fmt.Errorf("read txnindex of segment %d: %w", s.base, err)
			}
		}
		if err := l.scanTxn(s); err != nil {
			return err
		}
		if last {
			// The active segment's state lives in memory until it is sealed.
			if err := l.fs.Remove(s.path(txnIndexSuffix)); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return fmt.Errorf("remove stale txnindex: %w", err)
			}
		} else if err := l.writeTxnIndex(s); err != nil {
			l.opts.logger.Warn("transaction index not written", "segment", s.base, "err", err)
		}
	}
	l.trimAbortedBelow(l.logStart.Load())
	return nil
}

// scanTxn applies every transactional batch of s.
func (l *Log) scanTxn(s *segment) error {
	sc := newHeaderScanner(s, 0, s.size.Load())
	defer sc.release()
	for {
		h, pos, ok, err := sc.next()
		if err != nil {
			return err
		}
		if !ok {
			return nil
		}
		if !h.IsTransactional() || h.ProducerID < 0 {
			continue
		}
		b := make([]byte, h.Size())
		if _, err := s.f.ReadAt(b, pos); err != nil {
			return fmt.Errorf("read batch at %d of segment %d: %w", pos, s.base, err)
		}
		if err := l.txn.apply(b); err != nil {
			return fmt.Errorf("segment %d at %d: %w", s.base, pos, err)
		}
	}
}

// trimAbortedBelow forgets aborted transactions wholly below the log start.
func (l *Log) trimAbortedBelow(start int64) {
	l.txn.mu.Lock()
	defer l.txn.mu.Unlock()
	i := sort.Search(len(l.txn.aborted), func(i int) bool { return l.txn.aborted[i].LastOffset >= start })
	l.txn.aborted = append(l.txn.aborted[:0], l.txn.aborted[i:]...)
}

// abortedBatch reports whether h is a data batch of an aborted transaction.
func (l *Log) abortedBatch(h *recordbatch.Header) bool {
	if !h.IsTransactional() || h.IsControl() || h.ProducerID < 0 {
		return false
	}
	l.txn.mu.Lock()
	defer l.txn.mu.Unlock()
	i := sort.Search(len(l.txn.aborted), func(i int) bool { return l.txn.aborted[i].LastOffset >= h.BaseOffset })
	for _, a := range l.txn.aborted[i:] {
		if a.ProducerID == h.ProducerID && a.FirstOffset <= h.BaseOffset {
			return true
		}
	}
	return false
}

// LastStableOffset is the offset below which no transaction is open,
// capped by the high watermark (Kafka's LSO).
func (l *Log) LastStableOffset() int64 {
	lso := l.hw.Load()
	l.txn.mu.Lock()
	for _, first := range l.txn.ongoing {
		lso = min(lso, first)
	}
	l.txn.mu.Unlock()
	return lso
}

// OngoingTxn returns the first offset of the producer's open transaction.
func (l *Log) OngoingTxn(producerID int64) (int64, bool) {
	l.txn.mu.Lock()
	defer l.txn.mu.Unlock()
	first, ok := l.txn.ongoing[producerID]
	return first, ok
}

// OngoingTxns returns every open transaction: producer id → first offset.
func (l *Log) OngoingTxns() map[int64]int64 {
	l.txn.mu.Lock()
	defer l.txn.mu.Unlock()
	out := make(map[int64]int64, len(l.txn.ongoing))
	for k, v := range l.txn.ongoing {
		out[k] = v
	}
	return out
}

// AbortedTxns returns the aborted transactions that overlap [from, to):
// what a read_committed reader of that range must skip.
func (l *Log) AbortedTxns(from, to int64) []AbortedTxn {
	l.txn.mu.Lock()
	defer l.txn.mu.Unlock()
	i := sort.Search(len(l.txn.aborted), func(i int) bool { return l.txn.aborted[i].LastOffset >= from })
	var out []AbortedTxn
	for _, a := range l.txn.aborted[i:] {
		if a.FirstOffset < to {
			out = append(out, a)
		}
	}
	return out
}

// AppendControl writes a transaction marker for the producer as the
// partition leader and returns its offset.
func (l *Log) AppendControl(producerID int64, producerEpoch int16, commit bool, coordinatorEpoch, leaderEpoch int32) (int64, error) {
	b, err := recordbatch.BuildControl(producerID, producerEpoch, commit, coordinatorEpoch, l.opts.now().UnixMilli())
	if err != nil {
		return -1, fmt.Errorf("append marker: %w", err)
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.appendLocked(b, leaderEpoch, 1, 1) // one offset, one record
}

// forgetAborted drops the aborted transactions whose abort markers (at
// the offsets in markers, all in segment s) the cleaner removes, from the
// state and from s's .txnindex. A missing or damaged .txnindex is left to
// be rebuilt by a scan at the next Open, which finds no such marker.
func (l *Log) forgetAborted(s *segment, markers map[int64]bool) error {
	l.txn.mu.Lock()
	kept := l.txn.aborted[:0]
	for _, a := range l.txn.aborted {
		if !markers[a.LastOffset] {
			kept = append(kept, a)
		}
	}
	clear(l.txn.aborted[len(kept):])
	l.txn.aborted = kept
	l.txn.mu.Unlock()
	path := s.path(txnIndexSuffix)
	data, err := fsutil.ReadFile(l.fs, path)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return nil
	case err != nil:
		return fmt.Errorf("read txnindex of segment %d: %w", s.base, err)
	}
	ab, open, err := decodeIndex(data)
	if err != nil {
		if err := l.fs.Remove(path); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove damaged txnindex of segment %d: %w", s.base, err)
		}
		return nil
	}
	keep := ab[:0]
	for _, a := range ab {
		if !markers[a.LastOffset] {
			keep = append(keep, a)
		}
	}
	return fsutil.WriteFileAtomicFS(l.fs, path, encodeIndexOf(keep, open), 0o644)
}
