package codec

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// maxZstdWindow bounds the window a frame may ask the decoder to allocate.
// Kafka producers use small levels whose windows stay well below this.
const maxZstdWindow = 8 << 20

var (
	zstdEncoder *zstd.Encoder // EncodeAll is safe for concurrent use
	zstdOnce    sync.Once
	zstdReaders sync.Pool // *zstd.Decoder in streaming mode
)

func encoder() *zstd.Encoder {
	zstdOnce.Do(func() {
		// Options are constants, so the error cannot happen.
		zstdEncoder, _ = zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1), zstd.WithEncoderLevel(zstd.SpeedDefault))
	})
	return zstdEncoder
}

func compressZstd(dst, src []byte) []byte {
	return encoder().EncodeAll(src, dst)
}

func decompressZstd(dst, src []byte, max int) ([]byte, error) {
	d, _ := zstdReaders.Get().(*zstd.Decoder)
	if d == nil {
		var err error
		d, err = zstd.NewReader(nil,
			zstd.WithDecoderConcurrency(1),
			zstd.WithDecoderLowmem(true),
			zstd.WithDecoderMaxWindow(maxZstdWindow),
			zstd.WithDecoderMaxMemory(1<<30))
		if err != nil {
			return dst, fmt.Errorf("zstd decoder: %w", err)
		}
	}
	if err := d.Reset(bytes.NewReader(src)); err != nil {
		zstdReaders.Put(d)
		return dst, fmt.Errorf("zstd header: %w: %v", ErrCorrupt, err)
	}
	out, err := readCapped(dst, d, max)
	_ = d.Reset(nil) // drop the reference to src before pooling
	zstdReaders.Put(d)
	return out, err
}
