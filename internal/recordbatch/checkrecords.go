package recordbatch

import (
	"fmt"
	"math"
)

// checkRecords is the append-path twin of RecordIter: it verifies the same
// structure (h.RecordCount records, lengths within bounds, varints at most
// 5 or 10 bytes, offset deltas 0..n-1, header counts and lengths within the
// bytes present, no bytes left over) without decoding fields, because it
// runs on every produced batch. It also checks each record's timestamp
// (base + delta) does not overflow and, for a create-time batch with a max
// timestamp, is not above it: the time index and ListOffsets trust the
// header's max timestamp. RecordIter remains the reference; a fuzz test
// checks that both agree.
func checkRecords(b []byte, h *Header) error {
	count := h.RecordCount
	checkMax := h.MaxTimestamp != -1 && !h.LogAppendTime()
	for i := int32(0); i < count; i++ {
		length, n := fastVarint(b, 5)
		if n == 0 || length < 1 || length > int64(len(b)-n) {
			return fmt.Errorf("record %d: bad length: %w", i, ErrCorrupt)
		}
		body := b[n : n+int(length)]
		b = b[n+int(length):]
		p := 1 // attributes
		tsd, n := fastVarint(body[p:], 10)
		if n == 0 {
			return fmt.Errorf("record %d: timestamp delta: %w", i, ErrCorrupt)
		}
		if (tsd > 0 && h.BaseTimestamp > math.MaxInt64-tsd) || (tsd < 0 && h.BaseTimestamp < math.MinInt64-tsd) {
			return fmt.Errorf("record %d: timestamp delta %d overflows base %d: %w", i, tsd, h.BaseTimestamp, ErrInvalidTimestamp)
		}
		if ts := h.BaseTimestamp + tsd; checkMax && ts > h.MaxTimestamp {
			return fmt.Errorf("record %d: timestamp %d above the batch's max %d: %w", i, ts, h.MaxTimestamp, ErrInvalidTimestamp)
		}
		p += n
		d, n := fastVarint(body[p:], 5)
		if n == 0 {
			return fmt.Errorf("record %d: offset delta: %w", i, ErrCorrupt)
		}
		if d != int64(i) {
			return fmt.Errorf("record %d has offset delta %d: %w", i, d, ErrInvalidRecord)
		}
		p += n
		for f := 0; f < 2; f++ { // key, value
			if p = skipBytes(body, p, true); p < 0 {
				return fmt.Errorf("record %d: key or value: %w", i, ErrCorrupt)
			}
		}
		nh, n := fastVarint(body[p:], 5)
		if n == 0 || nh < 0 || nh > int64(len(body)-p-n)/2 {
			return fmt.Errorf("record %d: header count: %w", i, ErrCorrupt)
		}
		p += n
		for j := int64(0); j < nh; j++ {
			if p = skipBytes(body, p, false); p < 0 {
				return fmt.Errorf("record %d: header key: %w", i, ErrCorrupt)
			}
			if p = skipBytes(body, p, true); p < 0 {
				return fmt.Errorf("record %d: header value: %w", i, ErrCorrupt)
			}
		}
		if p != len(body) {
			return fmt.Errorf("record %d: %d bytes after fields: %w", i, len(body)-p, ErrCorrupt)
		}
	}
	if len(b) != 0 {
		return fmt.Errorf("%d bytes after %d records: %w", len(b), count, ErrCorrupt)
	}
	return nil
}

// skipBytes skips a varint-length-prefixed field at body[p:], returning the
// new position or -1. nullOK allows length -1.
func skipBytes(body []byte, p int, nullOK bool) int {
	l, n := fastVarint(body[p:], 5)
	if n == 0 || l < -1 || (l == -1 && !nullOK) || l > int64(len(body)-p-n) {
		return -1
	}
	if l < 0 {
		return p + n
	}
	return p + n + int(l)
}

// fastVarint decodes a zigzag varint of at most maxBytes; n == 0 on error.
func fastVarint(b []byte, maxBytes int) (int64, int) {
	if len(b) > 0 && b[0] < 0x80 {
		return int64(b[0]>>1) ^ -int64(b[0]&1), 1
	}
	v, n, err := readVarlong(b, maxBytes)
	if err != nil || (maxBytes == 5 && (v < -1<<31 || v > 1<<31-1)) {
		return 0, 0
	}
	return v, n
}
