// Package kafkabatch encodes records as one uncompressed Kafka record batch
// (the v2 format, magic 2), as a Kafka producer writes it, for
// ProduceStreamBatch.record_batches: a client that sends batches saves the
// gateway encoding them. The batch carries no producer (id, epoch and base
// sequence -1); the gateway stamps the session's. Decode reads the
// uncompressed batches a Consume stream sends (ConsumeRecords.record_batches).
// It lives in the api module because clients and the server's tests both
// use it.
package kafkabatch

import (
	"encoding/binary"
	"hash/crc32"
)

// HeaderSize is the size of a batch's fixed header; records follow it.
const HeaderSize = 61

// Offsets of the header fields this package writes.
const (
	offLength          = 8
	offMagic           = 16
	offCRC             = 17
	offAttributes      = 21
	offLastOffsetDelta = 23
	offBaseTimestamp   = 27
	offMaxTimestamp    = 35
	offProducerID      = 43
	offRecordCount     = 57
)

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	zeroHeader [HeaderSize]byte
)

// Header is one record header.
type Header struct {
	Key   string
	Value []byte
}

// Builder encodes one batch at a time; the zero value is ready to use.
type Builder struct {
	b             []byte
	n             int32
	baseTS, maxTS int64
}

// Reset starts a new batch encoded into dst's storage (dst[:0] is
// reused; nil allocates).
func (w *Builder) Reset(dst []byte) {
	w.b = append(dst[:0], zeroHeader[:]...)
	w.n = 0
}

// Len is the size of the batch so far.
func (w *Builder) Len() int { return len(w.b) }

// Records is how many records were added since Reset.
func (w *Builder) Records() int { return int(w.n) }

// RecordSize bounds what a record adds to a batch: its fields and their
// length varints.
func RecordSize(key, value []byte, headers []Header) int {
	n := 5 + 1 + 10 + 5 + 5 + len(key) + 5 + len(value) + 5
	for _, h := range headers {
		n += 10 + len(h.Key) + len(h.Value)
	}
	return n
}

// Add appends a record with a timestamp in milliseconds since the Unix
// epoch. A nil value is a tombstone.
func (w *Builder) Add(key, value []byte, timestamp int64, headers []Header) {
	if w.b == nil {
		w.Reset(nil)
	}
	if w.n == 0 {
		w.baseTS, w.maxTS = timestamp, timestamp
	}
	w.maxTS = max(w.maxTS, timestamp)
	tsDelta, offDelta := timestamp-w.baseTS, int64(w.n)
	size := 1 + varlongLen(tsDelta) + varlongLen(offDelta) + bytesLen(key) + bytesLen(value) + varlongLen(int64(len(headers)))
	for _, h := range headers {
		size += varlongLen(int64(len(h.Key))) + len(h.Key) + bytesLen(h.Value)
	}
	b := binary.AppendVarint(w.b, int64(size))
	b = append(b, 0) // record attributes: unused
	b = binary.AppendVarint(b, tsDelta)
	b = binary.AppendVarint(b, offDelta)
	b = appendBytes(b, key)
	b = appendBytes(b, value)
	b = binary.AppendVarint(b, int64(len(headers)))
	for _, h := range headers {
		b = binary.AppendVarint(b, int64(len(h.Key)))
		b = append(b, h.Key...)
		b = appendBytes(b, h.Value)
	}
	w.b = b
	w.n++
}

// Finish fills in the header and CRC and returns the batch, which stays
// valid until the next Reset with its storage. A batch needs at least one
// record.
func (w *Builder) Finish() []byte {
	b := w.b
	be := binary.BigEndian
	clear(b[:HeaderSize])
	be.PutUint32(b[offLength:], uint32(len(b)-12)) //nolint:gosec // bounded by the caller's batch size
	be.PutUint32(b[12:], 0xffffffff)               // partition leader epoch: unknown (-1)
	b[offMagic] = 2
	be.PutUint16(b[offAttributes:], 0) // uncompressed, create time
	be.PutUint32(b[offLastOffsetDelta:], uint32(w.n-1))
	be.PutUint64(b[offBaseTimestamp:], uint64(w.baseTS))
	be.PutUint64(b[offMaxTimestamp:], uint64(w.maxTS))
	for i := offProducerID; i < offRecordCount; i++ {
		b[i] = 0xff // producer id, epoch and base sequence: -1
	}
	be.PutUint32(b[offRecordCount:], uint32(w.n))
	be.PutUint32(b[offCRC:], crc32.Checksum(b[offAttributes:], castagnoli))
	return b
}

func varlongLen(v int64) int {
	u := uint64(v<<1) ^ uint64(v>>63)
	n := 1
	for u >= 0x80 {
		u >>= 7
		n++
	}
	return n
}

func bytesLen(v []byte) int {
	if v == nil {
		return 1
	}
	return varlongLen(int64(len(v))) + len(v)
}

func appendBytes(b, v []byte) []byte {
	if v == nil {
		return binary.AppendVarint(b, -1)
	}
	return append(binary.AppendVarint(b, int64(len(v))), v...)
}
