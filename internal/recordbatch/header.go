// Package recordbatch parses, validates, patches and builds Kafka v2 record
// batches (magic 2) without decompressing them.
package recordbatch

import (
	"encoding/binary"
	"fmt"

	"github.com/strata-io/strata/internal/codec"
)

// Byte layout of a v2 batch header.
const (
	offBaseOffset      = 0
	offLength          = 8
	offLeaderEpoch     = 12
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offProducerEpoch   = 51
	offBaseSequence    = 53
	offRecordCount     = 57

	// HeaderSize is the size of the fixed batch header; records follow it.
	HeaderSize = 61
	// LengthFieldEnd is where the bytes counted by batchLength start.
	LengthFieldEnd = 12
	// MinBatchLength is the smallest legal batchLength (a header with no records).
	MinBatchLength = HeaderSize - LengthFieldEnd
	// Magic is the only message format version this package accepts.
	Magic = 2
)

// Attribute bits.
const (
	attrCodecMask     = 0x07
	attrLogAppendTime = 0x08
	attrTransactional = 0x10
	attrControl       = 0x20
	attrDeleteHorizon = 0x40 // KIP-534: BaseTimestamp is the delete horizon
)

// Header is the decoded fixed part of a v2 record batch.
type Header struct {
	BaseOffset           int64
	Length               int32 // batchLength: bytes after the length field
	PartitionLeaderEpoch int32
	Magic                int8
	CRC                  uint32
	Attributes           int16
	LastOffsetDelta      int32
	BaseTimestamp        int64
	MaxTimestamp         int64
	ProducerID           int64
	ProducerEpoch        int16
	BaseSequence         int32
	RecordCount          int32
}

// Size is the total number of bytes the batch occupies.
func (h *Header) Size() int { return LengthFieldEnd + int(h.Length) }

// LastOffset is the offset of the batch's last record.
func (h *Header) LastOffset() int64 { return h.BaseOffset + int64(h.LastOffsetDelta) }

// NextOffset is the offset following the batch.
func (h *Header) NextOffset() int64 { return h.LastOffset() + 1 }

// Codec is the batch's compression type.
func (h *Header) Codec() codec.Codec { return codec.Codec(h.Attributes & attrCodecMask) }

// IsControl reports a transaction marker batch.
func (h *Header) IsControl() bool { return h.Attributes&attrControl != 0 }

// IsTransactional reports a batch written inside a transaction.
func (h *Header) IsTransactional() bool { return h.Attributes&attrTransactional != 0 }

// LogAppendTime reports that MaxTimestamp is the broker's append time and
// overrides every record's own timestamp.
func (h *Header) LogAppendTime() bool { return h.Attributes&attrLogAppendTime != 0 }

// DeleteHorizon returns the time (ms) after which the cleaner may remove
// the batch's tombstones or, for a transaction marker, the batch itself,
// when the cleaner set one (KIP-534: the delete-horizon attribute bit, the
// horizon in the base timestamp; records keep their timestamps through
// their deltas).
func (h *Header) DeleteHorizon() (int64, bool) {
	return h.BaseTimestamp, h.Attributes&attrDeleteHorizon != 0
}

// ParseHeader decodes the fixed header at the start of b. It checks the
// length field and magic but not that the whole batch is present.
func ParseHeader(b []byte) (Header, error) {
	var h Header
	if len(b) < HeaderSize {
		return h, fmt.Errorf("%d bytes, header needs %d: %w", len(b), HeaderSize, ErrCorrupt)
	}
	be := binary.BigEndian
	h.BaseOffset = int64(be.Uint64(b[offBaseOffset:]))
	h.Length = int32(be.Uint32(b[offLength:]))
	h.PartitionLeaderEpoch = int32(be.Uint32(b[offLeaderEpoch:]))
	h.Magic = int8(b[offMagic])
	h.CRC = be.Uint32(b[offCRC:])
	h.Attributes = int16(be.Uint16(b[offAttributes:]))
	h.LastOffsetDelta = int32(be.Uint32(b[offLastOffsetDelta:]))
	h.BaseTimestamp = int64(be.Uint64(b[offBaseTimestamp:]))
	h.MaxTimestamp = int64(be.Uint64(b[offMaxTimestamp:]))
	h.ProducerID = int64(be.Uint64(b[offProducerID:]))
	h.ProducerEpoch = int16(be.Uint16(b[offProducerEpoch:]))
	h.BaseSequence = int32(be.Uint32(b[offBaseSequence:]))
	h.RecordCount = int32(be.Uint32(b[offRecordCount:]))
	if h.Length < MinBatchLength {
		return h, fmt.Errorf("batch length %d below %d: %w", h.Length, MinBatchLength, ErrCorrupt)
	}
	if h.Magic != Magic {
		return h, fmt.Errorf("magic %d, want 2: %w", h.Magic, ErrCorrupt)
	}
	return h, nil
}

// PeekSize returns the total size the batch at the start of b claims, using
// only the first 12 bytes. It returns -1 if b is too short or the claim is
// below the minimum.
func PeekSize(b []byte) int {
	if len(b) < LengthFieldEnd {
		return -1
	}
	n := int32(binary.BigEndian.Uint32(b[offLength:]))
	if n < MinBatchLength {
		return -1
	}
	return LengthFieldEnd + int(n)
}
