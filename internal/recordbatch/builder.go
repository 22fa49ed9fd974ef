package recordbatch

import (
	"encoding/binary"
	"fmt"

	"github.com/strata-io/strata/internal/codec"
)

// BuildRecord is one record to encode. A nil Value is a tombstone.
type BuildRecord struct {
	Key       []byte
	Value     []byte
	Headers   []RecordHeader
	Timestamp int64
	// OffsetDelta is used only with BatchOptions.KeepOffsetDeltas; otherwise
	// records get deltas 0..n-1.
	OffsetDelta int32
}

// BatchOptions are the batch-level fields of a built batch.
type BatchOptions struct {
	BaseOffset           int64
	PartitionLeaderEpoch int32
	Codec                codec.Codec
	ProducerID           int64 // -1 for a non-idempotent producer
	ProducerEpoch        int16
	BaseSequence         int32
	Transactional        bool
	Control              bool
	LogAppendTime        bool
	// KeepOffsetDeltas keeps each record's OffsetDelta (compaction leaves gaps).
	KeepOffsetDeltas bool
	// DeleteHorizon, when set with HasDeleteHorizon, is the cleaner's
	// delete horizon (KIP-534): it becomes the base timestamp, with the
	// delete-horizon attribute bit, and the records' timestamp deltas are
	// taken from it.
	DeleteHorizon    int64
	HasDeleteHorizon bool
	// LastOffsetDelta, with KeepOffsetDeltas, keeps a batch's original offset
	// range when compaction removed its last records. Ignored if smaller
	// than the last record's delta.
	LastOffsetDelta int32
}

// ProducerOptions returns options for a plain (non-idempotent) producer batch.
func ProducerOptions(c codec.Codec) BatchOptions {
	return BatchOptions{Codec: c, ProducerID: -1, ProducerEpoch: -1, BaseSequence: -1}
}

// Build encodes records into one v2 batch with a valid CRC.
func Build(opts BatchOptions, recs []BuildRecord) ([]byte, error) {
	if len(recs) == 0 {
		return nil, fmt.Errorf("build: no records: %w", ErrInvalidRecord)
	}
	if !opts.Codec.Valid() {
		return nil, fmt.Errorf("build: codec %d: %w", opts.Codec, ErrUnsupportedCodec)
	}
	baseTS, maxTS := recs[0].Timestamp, recs[0].Timestamp
	if opts.HasDeleteHorizon {
		baseTS = opts.DeleteHorizon
	}
	var lastDelta int32
	for i, r := range recs {
		maxTS = max(maxTS, r.Timestamp)
		d := int32(i)
		if opts.KeepOffsetDeltas {
			d = r.OffsetDelta
			if d < lastDelta || (i > 0 && d == lastDelta) {
				return nil, fmt.Errorf("build: offset deltas not increasing: %w", ErrInvalidRecord)
			}
		}
		lastDelta = d
	}
	if opts.KeepOffsetDeltas && opts.LastOffsetDelta > lastDelta {
		lastDelta = opts.LastOffsetDelta
	}
	// Size the records first, so they are encoded once, in place.
	bodySize := 0
	for i, r := range recs {
		n := recordSize(r, offsetDeltaOf(opts, r, i), r.Timestamp-baseTS)
		bodySize += varlongLen(int64(n)) + n
	}
	var b []byte
	if opts.Codec == codec.None {
		b = make([]byte, HeaderSize, HeaderSize+bodySize)
		for i, r := range recs {
			b = appendRecord(b, r, offsetDeltaOf(opts, r, i), r.Timestamp-baseTS)
		}
	} else {
		body := make([]byte, 0, bodySize)
		for i, r := range recs {
			body = appendRecord(body, r, offsetDeltaOf(opts, r, i), r.Timestamp-baseTS)
		}
		var err error
		if b, err = codec.Compress(make([]byte, HeaderSize, HeaderSize+bodySize/2), opts.Codec, body); err != nil {
			return nil, fmt.Errorf("build: %w", err)
		}
	}
	attrs := int16(opts.Codec)
	if opts.LogAppendTime {
		attrs |= attrLogAppendTime
	}
	if opts.Transactional {
		attrs |= attrTransactional
	}
	if opts.Control {
		attrs |= attrControl
	}
	if opts.HasDeleteHorizon {
		attrs |= attrDeleteHorizon
	}
	be := binary.BigEndian
	be.PutUint64(b[offBaseOffset:], uint64(opts.BaseOffset))
	be.PutUint32(b[offLength:], uint32(len(b)-LengthFieldEnd))
	be.PutUint32(b[offLeaderEpoch:], uint32(opts.PartitionLeaderEpoch))
	b[offMagic] = Magic
	be.PutUint16(b[offAttributes:], uint16(attrs))
	be.PutUint32(b[offLastOffsetDelta:], uint32(lastDelta))
	be.PutUint64(b[offBaseTimestamp:], uint64(baseTS))
	be.PutUint64(b[offMaxTimestamp:], uint64(maxTS))
	be.PutUint64(b[offProducerID:], uint64(opts.ProducerID))
	be.PutUint16(b[offProducerEpoch:], uint16(opts.ProducerEpoch))
	be.PutUint32(b[offBaseSequence:], uint32(opts.BaseSequence))
	be.PutUint32(b[offRecordCount:], uint32(len(recs)))
	be.PutUint32(b[offCRC:], Checksum(b))
	return b, nil
}

// offsetDeltaOf is record i's offset delta in a built batch.
func offsetDeltaOf(opts BatchOptions, r BuildRecord, i int) int32 {
	if opts.KeepOffsetDeltas {
		return r.OffsetDelta
	}
	return int32(i)
}

// recordSize is the encoded size of a record after its length prefix.
func recordSize(r BuildRecord, offsetDelta int32, tsDelta int64) int {
	size := 1 + varlongLen(tsDelta) + varlongLen(int64(offsetDelta)) +
		bytesLen(r.Key) + bytesLen(r.Value) + varlongLen(int64(len(r.Headers)))
	for _, h := range r.Headers {
		size += bytesLen(h.Key) + bytesLen(h.Value)
	}
	return size
}

func appendRecord(b []byte, r BuildRecord, offsetDelta int32, tsDelta int64) []byte {
	b = appendVarlong(b, int64(recordSize(r, offsetDelta, tsDelta)))
	b = append(b, 0) // record attributes are unused
	b = appendVarlong(b, tsDelta)
	b = appendVarlong(b, int64(offsetDelta))
	b = appendBytes(b, r.Key)
	b = appendBytes(b, r.Value)
	b = appendVarlong(b, int64(len(r.Headers)))
	for _, h := range r.Headers {
		b = appendBytes(b, h.Key)
		b = appendBytes(b, h.Value)
	}
	return b
}

func bytesLen(v []byte) int {
	if v == nil {
		return 1
	}
	return varlongLen(int64(len(v))) + len(v)
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return appendVarlong(b, -1)
	}
	return append(appendVarlong(b, int64(len(v))), v...)
}
