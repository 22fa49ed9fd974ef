package recordbatch

import "fmt"

// RecordHeader is one record header; a nil Value is a null header value.
type RecordHeader struct {
	Key   []byte
	Value []byte
}

// Record is one decoded record. Key and Value are nil when null (a nil
// Value is a tombstone). Slices alias the iterator's input.
type Record struct {
	Attributes     int8
	TimestampDelta int64
	OffsetDelta    int32
	Key            []byte
	Value          []byte
	Headers        []RecordHeader
}

// RecordIter walks the records section of an uncompressed (or already
// decompressed) batch, validating every length against the bytes present.
type RecordIter struct {
	buf   []byte
	left  int32
	count int32
	rec   Record
	hdrs  []RecordHeader
	err   error
}

// NewRecordIter iterates count records in buf.
func NewRecordIter(buf []byte, count int32) *RecordIter {
	it := &RecordIter{}
	it.Reset(buf, count)
	return it
}

// Reset reuses the iterator for another records section.
func (it *RecordIter) Reset(buf []byte, count int32) {
	*it = RecordIter{buf: buf, left: count, count: count, hdrs: it.hdrs[:0]}
}

// Record returns the current record, valid until the next call to Next.
func (it *RecordIter) Record() *Record { return &it.rec }

// Err reports why iteration stopped early, or a mismatch between the
// declared record count and the bytes present.
func (it *RecordIter) Err() error { return it.err }

// Next advances to the next record.
func (it *RecordIter) Next() bool {
	if it.err != nil {
		return false
	}
	if it.left <= 0 {
		if len(it.buf) != 0 {
			it.err = fmt.Errorf("%d bytes after %d records: %w", len(it.buf), it.count, ErrCorrupt)
		}
		return false
	}
	if err := it.parse(); err != nil {
		it.err = err
		return false
	}
	it.left--
	return true
}

func (it *RecordIter) parse() error {
	length, n, err := readVarint(it.buf)
	if err != nil {
		return fmt.Errorf("record length: %w", err)
	}
	b := it.buf[n:]
	if length < 0 || int(length) > len(b) {
		return fmt.Errorf("record length %d, %d bytes left: %w", length, len(b), ErrCorrupt)
	}
	body := b[:length]
	it.buf = b[length:]
	if len(body) < 1 {
		return fmt.Errorf("empty record: %w", ErrCorrupt)
	}
	r := &it.rec
	r.Attributes = int8(body[0])
	body = body[1:]
	if r.TimestampDelta, n, err = readVarlong(body, 10); err != nil {
		return fmt.Errorf("timestamp delta: %w", err)
	}
	body = body[n:]
	if r.OffsetDelta, n, err = readVarint(body); err != nil {
		return fmt.Errorf("offset delta: %w", err)
	}
	body = body[n:]
	if r.Key, body, err = readBytes(body); err != nil {
		return fmt.Errorf("key: %w", err)
	}
	if r.Value, body, err = readBytes(body); err != nil {
		return fmt.Errorf("value: %w", err)
	}
	nh, n, err := readVarint(body)
	if err != nil {
		return fmt.Errorf("header count: %w", err)
	}
	body = body[n:]
	// Each header takes at least two bytes, which bounds the slice we grow.
	if nh < 0 || int(nh) > len(body)/2 {
		return fmt.Errorf("header count %d, %d bytes left: %w", nh, len(body), ErrCorrupt)
	}
	it.hdrs = it.hdrs[:0]
	for i := int32(0); i < nh; i++ {
		var h RecordHeader
		if h.Key, body, err = readBytes(body); err != nil || h.Key == nil {
			return fmt.Errorf("header key: %w", ErrCorrupt)
		}
		if h.Value, body, err = readBytes(body); err != nil {
			return fmt.Errorf("header value: %w", err)
		}
		it.hdrs = append(it.hdrs, h)
	}
	r.Headers = it.hdrs
	if len(body) != 0 {
		return fmt.Errorf("%d bytes after record fields: %w", len(body), ErrCorrupt)
	}
	return nil
}

// readBytes reads a varint length and that many bytes; -1 means null.
func readBytes(b []byte) ([]byte, []byte, error) {
	l, n, err := readVarint(b)
	if err != nil {
		return nil, b, err
	}
	b = b[n:]
	if l == -1 {
		return nil, b, nil
	}
	if l < 0 || int(l) > len(b) {
		return nil, b, fmt.Errorf("length %d, %d bytes left: %w", l, len(b), ErrCorrupt)
	}
	return b[:l:l], b[l:], nil
}
