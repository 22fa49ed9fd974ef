package codec

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/klauspost/compress/snappy"
)

// Java clients (snappy-java) frame snappy with the xerial format: a 16-byte
// header followed by (big-endian int32 length, raw snappy block) chunks.
// librdkafka and Go clients may send one raw block. We decode both and encode
// xerial framing like the Java client, which every consumer understands.
var xerialMagic = []byte{0x82, 'S', 'N', 'A', 'P', 'P', 'Y', 0}

const (
	xerialHeaderLen = 16
	xerialBlockSize = 32 << 10 // snappy-java's default block size
)

func compressSnappy(dst, src []byte) []byte {
	dst = append(dst, xerialMagic...)
	dst = binary.BigEndian.AppendUint32(dst, 1) // version
	dst = binary.BigEndian.AppendUint32(dst, 1) // minimum compatible version
	for len(src) > 0 {
		n := min(len(src), xerialBlockSize)
		lenAt := len(dst)
		dst = append(dst, 0, 0, 0, 0)
		need := snappy.MaxEncodedLen(n)
		dst = growLen(dst, need)
		enc := snappy.Encode(dst[lenAt+4:lenAt+4+need], src[:n])
		binary.BigEndian.PutUint32(dst[lenAt:], uint32(len(enc)))
		dst = dst[:lenAt+4+len(enc)]
		src = src[n:]
	}
	return dst
}

// growLen extends b by n bytes of capacity-backed length.
func growLen(b []byte, n int) []byte {
	if cap(b)-len(b) < n {
		nb := make([]byte, len(b), 2*cap(b)+n)
		copy(nb, b)
		b = nb
	}
	return b[:len(b)+n]
}

func decompressSnappy(dst, src []byte, max int) ([]byte, error) {
	if len(src) >= xerialHeaderLen && bytes.Equal(src[:len(xerialMagic)], xerialMagic) {
		return decodeXerial(dst, src[xerialHeaderLen:], max)
	}
	return decodeSnappyBlock(dst, src, max)
}

func decodeXerial(dst, src []byte, max int) ([]byte, error) {
	start := len(dst)
	for len(src) > 0 {
		if len(src) < 4 {
			return dst[:start], fmt.Errorf("xerial chunk header: %w", ErrCorrupt)
		}
		n := binary.BigEndian.Uint32(src)
		src = src[4:]
		if uint64(n) > uint64(len(src)) {
			return dst[:start], fmt.Errorf("xerial chunk of %d bytes, %d left: %w", n, len(src), ErrCorrupt)
		}
		var err error
		dst, err = decodeSnappyBlock(dst, src[:n], max-(len(dst)-start))
		if err != nil {
			return dst[:start], err
		}
		src = src[n:]
	}
	return dst, nil
}

func decodeSnappyBlock(dst, src []byte, max int) ([]byte, error) {
	n, err := snappy.DecodedLen(src)
	if err != nil {
		return dst, fmt.Errorf("snappy length: %w: %v", ErrCorrupt, err)
	}
	// The claimed length is checked against the cap before allocating.
	if n > max {
		return dst, fmt.Errorf("snappy block of %d bytes over limit %d: %w", n, max, ErrTooLarge)
	}
	at := len(dst)
	dst = growLen(dst, n)
	out, err := snappy.Decode(dst[at:], src)
	if err != nil {
		return dst[:at], fmt.Errorf("snappy: %w: %v", ErrCorrupt, err)
	}
	if len(out) != n {
		return dst[:at], fmt.Errorf("snappy decoded %d bytes, header said %d: %w", len(out), n, ErrCorrupt)
	}
	return dst, nil
}
