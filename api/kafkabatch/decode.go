package kafkabatch

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Record is one decoded record. Key, Value and header values alias the
// batch; nil is a null key or value.
type Record struct {
	Offset int64
	// Timestamp in milliseconds since the Unix epoch: the batch's max
	// timestamp for every record when LogAppendTime is set.
	Timestamp     int64
	LogAppendTime bool
	Key, Value    []byte
	Headers       []Header
}

const (
	offBaseOffset = 0
	offRecords    = HeaderSize
	attrCodec     = 0x07
	attrLogAppend = 0x08
	attrControl   = 0x20
)

// Decode calls fn with each record of batch, one uncompressed v2 record
// batch (ConsumeRecords.record_batches), in order. It checks the framing,
// not the CRC (the gateway checked it), and stops at the first malformed
// byte with an error, never reading past batch.
func Decode(batch []byte, fn func(Record)) error {
	if len(batch) < HeaderSize {
		return fmt.Errorf("record batch: %d bytes, shorter than its header", len(batch))
	}
	be := binary.BigEndian
	if n := int64(be.Uint32(batch[offLength:])) + 12; n != int64(len(batch)) {
		return fmt.Errorf("record batch: length field says %d bytes, have %d", n, len(batch))
	}
	if batch[offMagic] != 2 {
		return fmt.Errorf("record batch: magic %d, want 2", batch[offMagic])
	}
	attrs := be.Uint16(batch[offAttributes:])
	if attrs&attrCodec != 0 {
		return fmt.Errorf("record batch: compressed (codec %d)", attrs&attrCodec)
	}
	if attrs&attrControl != 0 {
		return errors.New("record batch: a control batch")
	}
	base := int64(be.Uint64(batch[offBaseOffset:]))
	baseTS, maxTS := int64(be.Uint64(batch[offBaseTimestamp:])), int64(be.Uint64(batch[offMaxTimestamp:]))
	count := int32(be.Uint32(batch[offRecordCount:]))
	d := decoder{b: batch[offRecords:]}
	for i := int32(0); i < count; i++ {
		size := d.varint()
		if d.err == nil && (size < 0 || size > int64(len(d.b))) {
			d.fail("record length %d", size)
		}
		if d.err != nil {
			return fmt.Errorf("record batch at offset %d: record %d: %w", base, i, d.err)
		}
		rec := decoder{b: d.b[:size]}
		d.b = d.b[size:]
		rec.skip(1) // attributes: unused
		tsDelta, offDelta := rec.varint(), rec.varint()
		r := Record{Offset: base + offDelta, Timestamp: baseTS + tsDelta, LogAppendTime: attrs&attrLogAppend != 0}
		if r.LogAppendTime {
			r.Timestamp = maxTS
		}
		r.Key, r.Value = rec.bytes(), rec.bytes()
		if n := rec.varint(); n > 0 && n <= int64(len(rec.b))/2 {
			r.Headers = make([]Header, n)
			for j := range r.Headers {
				k := rec.bytes()
				r.Headers[j] = Header{Key: string(k), Value: rec.bytes()}
			}
		} else if n != 0 {
			rec.fail("header count %d", n)
		}
		if rec.err == nil && len(rec.b) > 0 {
			rec.fail("%d bytes after the record", len(rec.b))
		}
		if rec.err != nil {
			return fmt.Errorf("record batch at offset %d: record %d: %w", base, i, rec.err)
		}
		fn(r)
	}
	if len(d.b) > 0 {
		return fmt.Errorf("record batch at offset %d: %d bytes after its %d records", base, len(d.b), count)
	}
	return nil
}

// decoder reads varint-framed fields, remembering the first error.
type decoder struct {
	b   []byte
	err error
}

func (d *decoder) fail(format string, args ...any) {
	if d.err == nil {
		d.err = fmt.Errorf(format, args...)
	}
}

func (d *decoder) varint() int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *decoder) skip(n int) {
	if d.err == nil && len(d.b) < n {
		d.fail("truncated")
	}
	if d.err == nil {
		d.b = d.b[n:]
	}
}

// bytes is a length-prefixed field; -1 is null.
func (d *decoder) bytes() []byte {
	n := d.varint()
	switch {
	case d.err != nil || n == -1:
		return nil
	case n < -1 || n > int64(len(d.b)):
		d.fail("field length %d with %d bytes left", n, len(d.b))
		return nil
	}
	v := d.b[:n:n]
	d.b = d.b[n:]
	return v
}
