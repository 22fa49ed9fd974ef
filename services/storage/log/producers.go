package log

// Producer state and its snapshots (Kafka's ProducerStateManager).
//
// Every write — a leader's Append and AppendControl, a follower's
// AppendReplicated — feeds its batch headers to producerState, as it feeds
// txnState: per producer id, the producer epoch and the last ProducerWindow
// batches (first and last sequence, base offset, max timestamp). A data
// batch with a producer id is recorded (a new epoch starts a new entry); a
// control batch (a COMMIT or ABORT marker) moves the producer to the
// marker's epoch. The idempotence checks of the partition leader
// (services/storage/producers.go) start from this state, so a leader
// change reads nothing from disk.
//
// Snapshots: when a segment rolls, the state at the roll (covering every
// batch below the new segment's base) is written to <base>.snapshot, and
// on a clean Close the state at the log end to <leo>.snapshot; each is
// written atomically (temp file, fsync, rename, directory fsync), versioned
// and CRC-32C checked. The newest snapshotsKept are kept; those below the
// first segment go with the segments retention deletes. Open (and a
// truncation) loads the newest snapshot at or below the log end and scans
// the batch headers from its offset only. A snapshot newer than the log
// end (its batches were truncated) is deleted; a damaged one is deleted
// with a warning and the next older one is tried, down to a scan from the
// first segment. So a snapshot can save a scan but never give a state the
// scan would not.
//
// The open transactions' first offsets are not in the snapshot: they are
// in each sealed segment's .txnindex (txn.go), which Open reads without
// scanning the segment.

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/recordbatch"
)

// ProducerWindow is how many batches per producer the state remembers for
// duplicate detection. Kafka remembers 5 (its max.in.flight cap); a
// ProduceStream session writes up to 32 requests together, one batch each
// per partition, and a resumed one resends them.
const ProducerWindow = 32

// snapshotsKept is how many producer state snapshots a log keeps.
const snapshotsKept = 3

const snapshotSuffix = ".snapshot"

// snapshotMagic starts every .snapshot file; its last byte is the format
// version.
var snapshotMagic = []byte("SPST\x01")

// ProducerBatch is one remembered batch of a producer.
type ProducerBatch struct {
	FirstSeq, LastSeq int32
	BaseOffset        int64
	MaxTimestamp      int64 // as stored
}

// ProducerState is one producer's state in a log.
type ProducerState struct {
	Epoch int16
	// Batches are the last ProducerWindow batches at Epoch, oldest first.
	Batches []ProducerBatch
	// LastOffset is the last offset of the producer's latest batch or
	// marker: the state goes when the log start passes it.
	LastOffset int64
}

// producerState is guarded by its own mutex: writers update it under the
// log's append lock, Producers copies it under mu only.
type producerState struct {
	mu sync.Mutex
	m  map[int64]*ProducerState
	// seen is when this process last wrote a batch or marker of each
	// producer (wall clock, not the client's timestamps; not in
	// snapshots): ExpireProducers forgets the idle ones.
	seen map[int64]time.Time
}

func (p *producerState) reset() {
	p.mu.Lock()
	p.m, p.seen = map[int64]*ProducerState{}, map[int64]time.Time{}
	p.mu.Unlock()
}

// apply updates the state with one written batch's header.
func (p *producerState) apply(h *recordbatch.Header) {
	if h.ProducerID < 0 {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.m == nil {
		p.m = map[int64]*ProducerState{}
	}
	e := p.m[h.ProducerID]
	if e == nil || e.Epoch != h.ProducerEpoch {
		e = &ProducerState{Epoch: h.ProducerEpoch}
		p.m[h.ProducerID] = e
	}
	if p.seen == nil {
		p.seen = map[int64]time.Time{}
	}
	p.seen[h.ProducerID] = time.Now()
	e.LastOffset = h.LastOffset()
	if h.IsControl() {
		return
	}
	e.Batches = append(e.Batches, ProducerBatch{h.BaseSequence, h.BaseSequence + h.LastOffsetDelta, h.BaseOffset, h.MaxTimestamp})
	if len(e.Batches) > ProducerWindow {
		e.Batches = append(e.Batches[:0], e.Batches[len(e.Batches)-ProducerWindow:]...)
	}
}

// applyAll applies concatenated written batches.
func (p *producerState) applyAll(batches []byte) {
	for rest := batches; len(rest) >= recordbatch.HeaderSize; rest = rest[recordbatch.PeekSize(rest):] {
		h, err := recordbatch.ParseHeader(rest[:recordbatch.HeaderSize])
		if err != nil {
			return // validated before the write; cannot happen
		}
		p.apply(&h)
	}
}

// trimBelow forgets producers whose last batch or marker is below start
// (their state went with the data, as a scan from the log start would
// find it), except those with a transaction open. Kafka keeps them until
// producer.id.expiration.ms instead; Strata keeps the behaviour it had
// before snapshots (a producer it has no state for may start at any
// sequence, KIP-360).
func (p *producerState) trimBelow(start int64, open map[int64]int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, e := range p.m {
		if _, txn := open[id]; e.LastOffset < start && !txn {
			delete(p.m, id)
			delete(p.seen, id)
		}
	}
}

// ExpireProducers forgets the producers that wrote nothing to this log for
// idle (Kafka's producer.id.expiration.ms), except those with a
// transaction open, and returns their ids. A producer loaded from a
// snapshot counts as seen when it was loaded. A forgotten producer may
// start again at any sequence (KIP-360), as after retention.
func (l *Log) ExpireProducers(idle time.Duration) []int64 {
	open := l.OngoingTxns()
	cutoff := time.Now().Add(-idle)
	p := &l.prod
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.seen == nil {
		p.seen = map[int64]time.Time{}
	}
	var gone []int64
	for id := range p.m {
		seen, ok := p.seen[id]
		if !ok { // from a snapshot: idle from now on
			p.seen[id] = time.Now()
			continue
		}
		if _, txn := open[id]; txn || !seen.Before(cutoff) {
			continue
		}
		delete(p.m, id)
		delete(p.seen, id)
		gone = append(gone, id)
	}
	return gone
}

// Producers returns a copy of the producer state at the log end.
func (l *Log) Producers() map[int64]ProducerState {
	l.prod.mu.Lock()
	defer l.prod.mu.Unlock()
	out := make(map[int64]ProducerState, len(l.prod.m))
	for id, e := range l.prod.m {
		c := *e
		c.Batches = append([]ProducerBatch(nil), e.Batches...)
		out[id] = c
	}
	return out
}

// encodeSnapshot is the .snapshot of the state at offset.
func (p *producerState) encodeSnapshot(offset int64) []byte {
	p.mu.Lock()
	defer p.mu.Unlock()
	ids := make([]int64, 0, len(p.m))
	for id := range p.m {
		ids = append(ids, id)
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	b := append([]byte(nil), snapshotMagic...)
	b = binary.BigEndian.AppendUint64(b, uint64(offset))
	b = binary.BigEndian.AppendUint32(b, uint32(len(ids)))
	for _, id := range ids {
		e := p.m[id]
		b = binary.BigEndian.AppendUint64(b, uint64(id))
		b = binary.BigEndian.AppendUint16(b, uint16(e.Epoch))
		b = binary.BigEndian.AppendUint64(b, uint64(e.LastOffset))
		b = append(b, byte(len(e.Batches)))
		for _, x := range e.Batches {
			b = binary.BigEndian.AppendUint32(b, uint32(x.FirstSeq))
			b = binary.BigEndian.AppendUint32(b, uint32(x.LastSeq))
			b = binary.BigEndian.AppendUint64(b, uint64(x.BaseOffset))
			b = binary.BigEndian.AppendUint64(b, uint64(x.MaxTimestamp))
		}
	}
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli)))
}

// Sizes of the fixed parts of a snapshot.
const (
	snapEntryHead = 8 + 2 + 8 + 1
	snapBatchSize = 4 + 4 + 8 + 8
)

// decodeSnapshot parses a .snapshot: the offset it was taken at and the
// state. It never panics on a damaged file.
func decodeSnapshot(b []byte) (int64, map[int64]*ProducerState, error) {
	bad := func(what string) error { return fmt.Errorf("producer snapshot: %s: %w", what, recordbatch.ErrCorrupt) }
	if len(b) < len(snapshotMagic)+8+4+4 || !bytes.Equal(b[:len(snapshotMagic)-1], snapshotMagic[:len(snapshotMagic)-1]) {
		return 0, nil, bad("not a snapshot")
	}
	if v := b[len(snapshotMagic)-1]; v != snapshotMagic[len(snapshotMagic)-1] {
		return 0, nil, bad(fmt.Sprintf("unknown version %d", v))
	}
	body, sum := b[:len(b)-4], binary.BigEndian.Uint32(b[len(b)-4:])
	if crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)) != sum {
		return 0, nil, bad("checksum mismatch")
	}
	p := body[len(snapshotMagic):]
	offset := int64(binary.BigEndian.Uint64(p))
	n := int(binary.BigEndian.Uint32(p[8:]))
	p = p[12:]
	if offset < 0 || n < 0 || n > len(p)/snapEntryHead {
		return 0, nil, bad("bad header")
	}
	m := make(map[int64]*ProducerState, n)
	prev := int64(-1)
	for range n {
		if len(p) < snapEntryHead {
			return 0, nil, bad("short entry")
		}
		id := int64(binary.BigEndian.Uint64(p))
		e := &ProducerState{Epoch: int16(binary.BigEndian.Uint16(p[8:])), LastOffset: int64(binary.BigEndian.Uint64(p[10:]))}
		nb := int(p[18])
		p = p[snapEntryHead:]
		if id <= prev || nb > ProducerWindow || len(p) < nb*snapBatchSize {
			return 0, nil, bad("bad entry") // ids are written in increasing order
		}
		prev = id
		for range nb {
			e.Batches = append(e.Batches, ProducerBatch{
				FirstSeq:     int32(binary.BigEndian.Uint32(p)),
				LastSeq:      int32(binary.BigEndian.Uint32(p[4:])),
				BaseOffset:   int64(binary.BigEndian.Uint64(p[8:])),
				MaxTimestamp: int64(binary.BigEndian.Uint64(p[16:])),
			})
			p = p[snapBatchSize:]
		}
		m[id] = e
	}
	if len(p) != 0 {
		return 0, nil, bad("trailing bytes")
	}
	return offset, m, nil
}

// snapshotOffsets lists the offsets of the snapshot files, oldest first.
func (l *Log) snapshotOffsets() ([]int64, error) {
	ents, err := l.fs.ReadDir(l.dir)
	if err != nil {
		return nil, fmt.Errorf("list producer snapshots: %w", err)
	}
	var out []int64
	for _, e := range ents {
		if name := e.Name(); strings.HasSuffix(name, snapshotSuffix) {
			if off, ok := parseBase(strings.TrimSuffix(name, snapshotSuffix)); ok {
				out = append(out, off)
			}
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i] < out[j] })
	return out, nil
}

func (l *Log) snapshotPath(offset int64) string {
	return filepath.Join(l.dir, segmentName(offset, snapshotSuffix))
}

// writeSnapshotLocked writes the producer state as the snapshot at offset
// (the state must cover exactly the batches below it) and prunes old
// snapshots. A failure is logged, not returned: a snapshot only saves a
// scan. Called with mu held.
func (l *Log) writeSnapshotLocked(offset int64) {
	l.writeSnapshotDataLocked(offset, l.prod.encodeSnapshot(offset))
}

// writeSnapshotDataLocked is writeSnapshotLocked with the state encoded
// earlier (a roll's, written once the rolled segment is synced).
func (l *Log) writeSnapshotDataLocked(offset int64, data []byte) {
	if err := fsutil.WriteFileAtomicFS(l.fs, l.snapshotPath(offset), data, 0o644); err != nil {
		l.opts.logger.Warn("producer state snapshot not written", "dir", l.dir, "offset", offset, "err", err)
		return
	}
	offs, err := l.snapshotOffsets()
	if err != nil {
		l.opts.logger.Warn("old producer state snapshots not pruned", "dir", l.dir, "err", err)
		return
	}
	if len(offs) > snapshotsKept {
		if err := l.removeSnapshots(offs[:len(offs)-snapshotsKept]); err != nil {
			l.opts.logger.Warn("old producer state snapshots not pruned", "dir", l.dir, "err", err)
		}
	}
}

// removeSnapshots deletes the snapshots at offs.
func (l *Log) removeSnapshots(offs []int64) error {
	for _, off := range offs {
		if err := l.fs.Remove(l.snapshotPath(off)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove producer snapshot %d: %w", off, err)
		}
	}
	return nil
}

// removeSnapshotsWhere deletes the snapshots whose offset matches and,
// when durable, fsyncs the directory so a deleted snapshot cannot come
// back after a crash.
func (l *Log) removeSnapshotsWhere(match func(off int64) bool, durable bool) error {
	offs, err := l.snapshotOffsets()
	if err != nil {
		return err
	}
	var doomed []int64
	for _, off := range offs {
		if match(off) {
			doomed = append(doomed, off)
		}
	}
	if len(doomed) == 0 {
		return nil
	}
	if err := l.removeSnapshots(doomed); err != nil {
		return err
	}
	if durable {
		return fsutil.SyncDirFS(l.fs, l.dir)
	}
	return nil
}

// loadProducersLocked rebuilds the producer state: the newest usable
// snapshot at or below the log end, then the batch headers from its
// offset to the end. Called with mu held (or during load).
func (l *Log) loadProducersLocked() error {
	l.prod.reset()
	leo, first := l.leo.Load(), l.segs[0].base
	// Snapshots past the end describe batches that are gone; below the
	// first segment they cannot be continued by a scan.
	if err := l.removeSnapshotsWhere(func(off int64) bool { return off > leo || off < first }, true); err != nil {
		return err
	}
	offs, err := l.snapshotOffsets()
	if err != nil {
		return err
	}
	from := first
	for i := len(offs) - 1; i >= 0; i-- {
		data, err := fsutil.ReadFile(l.fs, l.snapshotPath(offs[i]))
		if err != nil {
			return fmt.Errorf("read producer snapshot %d: %w", offs[i], err)
		}
		off, m, derr := decodeSnapshot(data)
		if derr == nil && off != offs[i] {
			derr = fmt.Errorf("producer snapshot: file %d holds offset %d: %w", offs[i], off, recordbatch.ErrCorrupt)
		}
		if derr != nil {
			l.opts.logger.Warn("ignoring damaged producer state snapshot", "dir", l.dir, "offset", offs[i], "err", derr)
			if err := l.removeSnapshots(offs[i : i+1]); err != nil {
				return err
			}
			continue
		}
		l.prod.mu.Lock()
		l.prod.m = m
		l.prod.mu.Unlock()
		from = off
		break
	}
	read, err := l.scanProducers(from)
	l.producerScanBytes.Store(read)
	if err != nil {
		return err
	}
	l.prod.trimBelow(l.logStart.Load(), l.OngoingTxns())
	return nil
}

// scanProducers applies the headers of every batch from offset from (a
// batch boundary) to the log end and returns the bytes it read.
func (l *Log) scanProducers(from int64) (int64, error) {
	var read int64
	for _, s := range l.segs {
		if s.next.Load() <= from {
			continue
		}
		end := s.size.Load()
		var pos int64
		if from > s.base {
			p, _, err := s.positionOf(from, end)
			if err != nil {
				return read, fmt.Errorf("producer state: %w", err)
			}
			pos = p
		}
		sc := newHeaderScanner(s, pos, end)
		for {
			h, _, ok, err := sc.next()
			if err != nil {
				read += sc.read
				sc.release()
				return read, fmt.Errorf("producer state: %w", err)
			}
			if !ok {
				break
			}
			l.prod.apply(&h)
		}
		read += sc.read
		sc.release()
	}
	return read, nil
}
