package recordbatch

import "fmt"

// Kafka encodes record fields as zigzag varints: at most 5 bytes for an
// int32 and 10 for an int64. Longer or overflowing encodings are rejected.

func readVarlong(b []byte, maxBytes int) (int64, int, error) {
	// Fast paths: most fields fit in one or two bytes.
	if len(b) > 0 && b[0] < 0x80 {
		u := uint64(b[0])
		return int64(u>>1) ^ -int64(u&1), 1, nil
	}
	if len(b) > 1 && b[1] < 0x80 {
		u := uint64(b[0]&0x7f) | uint64(b[1])<<7
		return int64(u>>1) ^ -int64(u&1), 2, nil
	}
	return readVarlongSlow(b, maxBytes)
}

func readVarlongSlow(b []byte, maxBytes int) (int64, int, error) {
	var u uint64
	var shift uint
	for i := 0; i < len(b); i++ {
		if i == maxBytes {
			return 0, 0, fmt.Errorf("varint longer than %d bytes: %w", maxBytes, ErrCorrupt)
		}
		c := b[i]
		if shift == 63 && c > 1 {
			return 0, 0, fmt.Errorf("varint overflows 64 bits: %w", ErrCorrupt)
		}
		u |= uint64(c&0x7f) << shift
		if c < 0x80 {
			return int64(u>>1) ^ -int64(u&1), i + 1, nil
		}
		shift += 7
	}
	return 0, 0, fmt.Errorf("truncated varint: %w", ErrCorrupt)
}

func readVarint(b []byte) (int32, int, error) {
	v, n, err := readVarlong(b, 5)
	if err != nil {
		return 0, 0, err
	}
	if v < -1<<31 || v > 1<<31-1 {
		return 0, 0, fmt.Errorf("varint overflows 32 bits: %w", ErrCorrupt)
	}
	return int32(v), n, nil
}

func appendVarlong(b []byte, v int64) []byte {
	u := uint64(v<<1) ^ uint64(v>>63)
	for u >= 0x80 {
		b = append(b, byte(u)|0x80)
		u >>= 7
	}
	return append(b, byte(u))
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
