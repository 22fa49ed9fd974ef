package recordbatch

import (
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"sync"

	"github.com/strata-io/strata/internal/codec"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Checksum computes the CRC-32C a batch stores: over attributes..end.
func Checksum(b []byte) uint32 { return crc32.Checksum(b[offAttributes:], castagnoli) }

// Validate checks one complete batch b (exactly one batch, nothing after it):
// length, magic, CRC, compression type and record counts. It accepts the
// shapes a broker may store: compacted batches whose record count is below
// lastOffsetDelta+1, and empty batches kept by compaction.
func Validate(b []byte) (Header, error) {
	h, err := validateShape(b)
	if err != nil {
		return h, err
	}
	if got := Checksum(b); got != h.CRC {
		return h, crcError(h.CRC, got)
	}
	return h, nil
}

func crcError(want, got uint32) error {
	return fmt.Errorf("crc %08x, computed %08x: %w", want, got, ErrCorrupt)
}

// validateShape is Validate without the CRC.
func validateShape(b []byte) (Header, error) {
	h, err := ParseHeader(b)
	if err != nil {
		return h, err
	}
	if h.Size() != len(b) {
		return h, fmt.Errorf("batch length %d, have %d bytes: %w", h.Size(), len(b), ErrCorrupt)
	}
	if !h.Codec().Valid() {
		return h, fmt.Errorf("compression %d: %w", h.Codec(), ErrUnsupportedCodec)
	}
	if h.RecordCount < 0 || h.LastOffsetDelta < 0 || int64(h.RecordCount)-1 > int64(h.LastOffsetDelta) {
		return h, fmt.Errorf("record count %d, last offset delta %d: %w", h.RecordCount, h.LastOffsetDelta, ErrCorrupt)
	}
	return h, nil
}

// ValidateProducer checks a batch a client produced, whole: Validate plus
// the producer rules (at least one record, lastOffsetDelta ==
// recordCount-1, neither a control nor a transactional batch, max
// timestamp not below base) and every record, decompressing a compressed
// batch into a pooled buffer of at most maxDecompressed bytes (see
// checkRecords). A batch it accepts can be decoded by every later reader:
// the cleaner, timestamp lookups and consumers.
func ValidateProducer(b []byte, maxDecompressed int) (Header, error) {
	h, err := validateShape(b)
	if err != nil {
		return h, err
	}
	// A bad CRC explains any other failure, so it is checked first; it also
	// spares the decompression of a damaged payload.
	if got := Checksum(b); got != h.CRC {
		return h, crcError(h.CRC, got)
	}
	return h, producerRules(b, &h, maxDecompressed)
}

func producerRules(b []byte, h *Header, maxDecompressed int) error {
	if h.RecordCount == 0 || h.LastOffsetDelta != h.RecordCount-1 {
		return fmt.Errorf("record count %d, last offset delta %d: %w", h.RecordCount, h.LastOffsetDelta, ErrInvalidRecord)
	}
	if h.IsTransactional() && h.ProducerID < 0 {
		return fmt.Errorf("transactional batch without a producer id: %w", ErrInvalidRecord)
	}
	if h.IsControl() {
		return fmt.Errorf("control batch from a producer: %w", ErrInvalidRecord)
	}
	if h.MaxTimestamp < h.BaseTimestamp && h.MaxTimestamp != -1 {
		return fmt.Errorf("max timestamp %d below base %d: %w", h.MaxTimestamp, h.BaseTimestamp, ErrInvalidTimestamp)
	}
	body := b[HeaderSize:]
	if h.Codec() == codec.None {
		return checkRecords(body, h)
	}
	buf := getRecordsBuf()
	recs, err := codec.Decompress((*buf)[:0], h.Codec(), body, maxDecompressed)
	if err != nil {
		err = fmt.Errorf("%v records: %w", h.Codec(), err)
	} else if err = checkRecords(recs, h); err != nil {
		err = fmt.Errorf("%v records: %w", h.Codec(), err)
	}
	putRecordsBuf(buf, recs)
	return err
}

// maxPooledRecords bounds the decompression buffers kept for reuse, so one
// large batch does not pin its memory.
const maxPooledRecords = 4 << 20

var recordsPool sync.Pool // *[]byte

func getRecordsBuf() *[]byte {
	if b, ok := recordsPool.Get().(*[]byte); ok {
		return b
	}
	b := make([]byte, 0, 64<<10)
	return &b
}

// putRecordsBuf returns buf to the pool, keeping the capacity used grew.
func putRecordsBuf(buf *[]byte, used []byte) {
	if cap(used) > maxPooledRecords {
		return
	}
	if cap(used) > cap(*buf) {
		*buf = used[:0]
	}
	recordsPool.Put(buf)
}

// AnyTransactional reports whether one of the concatenated batches in buf
// has the transactional attribute (a request-level check, as Kafka's
// RequestUtils.hasTransactionalRecords). It stops at the first incomplete
// batch; validation reports those.
func AnyTransactional(buf []byte) bool {
	for len(buf) >= HeaderSize {
		if h := binary.BigEndian.Uint16(buf[offAttributes:]); h&attrTransactional != 0 {
			return true
		}
		n := PeekSize(buf)
		if n < 0 || n > len(buf) {
			return false
		}
		buf = buf[n:]
	}
	return false
}

// Next splits the first batch off buf. It returns the batch and the bytes
// after it; the batch itself is not validated beyond its length field.
func Next(buf []byte) (batch, rest []byte, err error) {
	n := PeekSize(buf)
	if n < 0 {
		return nil, buf, fmt.Errorf("batch header of %d bytes: %w", len(buf), ErrCorrupt)
	}
	if n > len(buf) {
		return nil, buf, fmt.Errorf("batch of %d bytes, %d left: %w", n, len(buf), ErrCorrupt)
	}
	return buf[:n:n], buf[n:], nil
}

// Continue is where a reader of buf, read from offset from, goes on: past
// the last of the whole batches at its front (from when there are none),
// with the offsets those batches add past from. A consumer fetches next
// from there, as Kafka clients continue past a batch.
func Continue(buf []byte, from int64) (next, added int64) {
	next = from
	for len(buf) > 0 {
		raw, rest, err := Next(buf)
		if err != nil {
			break
		}
		buf = rest
		if h, err := ParseHeader(raw); err == nil && h.NextOffset() > next {
			added += h.NextOffset() - max(h.BaseOffset, next)
			next = h.NextOffset()
		}
	}
	return next, added
}

// Split returns the batches concatenated in buf; trailing bytes that do not
// form a whole batch are an error.
func Split(buf []byte) ([][]byte, error) {
	var out [][]byte
	for len(buf) > 0 {
		b, rest, err := Next(buf)
		if err != nil {
			return out, err
		}
		out = append(out, b)
		buf = rest
	}
	return out, nil
}

// LastOffsetOf reads the last offset of the batch at the start of b
// (which must hold at least a header) without validating it.
func LastOffsetOf(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b[offBaseOffset:])) + int64(int32(binary.BigEndian.Uint32(b[offLastOffsetDelta:])))
}

// MaxTimestampOf reads the max timestamp of the batch at the start of b
// (which must hold at least a header) without validating it.
func MaxTimestampOf(b []byte) int64 {
	return int64(binary.BigEndian.Uint64(b[offMaxTimestamp:]))
}

// RecordCountOf reads the record count of the batch at the start of b
// (which must hold at least a header) without validating it.
func RecordCountOf(b []byte) int32 {
	return int32(binary.BigEndian.Uint32(b[offRecordCount:]))
}
