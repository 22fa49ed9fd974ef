// Package codec compresses and decompresses Kafka record batch payloads
// (the records section of a v2 batch) with the codecs Kafka supports.
//
// Every decompressor caps its output at a caller-given maximum, so a small
// hostile payload cannot inflate into an out-of-memory condition.
package codec

import "fmt"

// Codec is the compression type stored in the low three bits of a batch's
// attributes.
type Codec int8

// The codecs Kafka defines, with their attribute values.
const (
	None   Codec = 0
	Gzip   Codec = 1
	Snappy Codec = 2
	LZ4    Codec = 3
	Zstd   Codec = 4
)

func (c Codec) String() string {
	switch c {
	case None:
		return "none"
	case Gzip:
		return "gzip"
	case Snappy:
		return "snappy"
	case LZ4:
		return "lz4"
	case Zstd:
		return "zstd"
	}
	return fmt.Sprintf("codec(%d)", int8(c))
}

// Valid reports whether c is a codec this package implements.
func (c Codec) Valid() bool { return c >= None && c <= Zstd }

// Compress appends the compressed form of src to dst.
func Compress(dst []byte, c Codec, src []byte) ([]byte, error) {
	switch c {
	case None:
		return append(dst, src...), nil
	case Gzip:
		return compressGzip(dst, src)
	case Snappy:
		return compressSnappy(dst, src), nil
	case LZ4:
		return compressLZ4(dst, src)
	case Zstd:
		return compressZstd(dst, src), nil
	}
	return dst, fmt.Errorf("compress %v: %w", c, ErrUnsupported)
}

// Decompress appends the decompressed form of src to dst. The appended
// output never exceeds max bytes: a larger payload fails with ErrTooLarge
// after at most max+1 bytes were produced.
func Decompress(dst []byte, c Codec, src []byte, max int) ([]byte, error) {
	if max < 0 {
		max = 0
	}
	switch c {
	case None:
		if len(src) > max {
			return dst, fmt.Errorf("%d bytes over limit %d: %w", len(src), max, ErrTooLarge)
		}
		return append(dst, src...), nil
	case Gzip:
		return decompressGzip(dst, src, max)
	case Snappy:
		return decompressSnappy(dst, src, max)
	case LZ4:
		return decompressLZ4(dst, src, max)
	case Zstd:
		return decompressZstd(dst, src, max)
	}
	return dst, fmt.Errorf("decompress %v: %w", c, ErrUnsupported)
}
