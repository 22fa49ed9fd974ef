package codec

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/pierrec/lz4/v4"
)

// Kafka's LZ4 codec is the LZ4 frame format (KIP-57 fixed the header checksum).
var (
	lz4Writers sync.Pool // *lz4.Writer
	lz4Readers sync.Pool // *lz4.Reader
)

func compressLZ4(dst, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w, _ := lz4Writers.Get().(*lz4.Writer)
	if w == nil {
		w = lz4.NewWriter(buf)
	} else {
		w.Reset(buf)
	}
	defer lz4Writers.Put(w)
	if _, err := w.Write(src); err != nil {
		return dst, fmt.Errorf("lz4 write: %w", err)
	}
	if err := w.Close(); err != nil {
		return dst, fmt.Errorf("lz4 close: %w", err)
	}
	return buf.Bytes(), nil
}

func decompressLZ4(dst, src []byte, max int) ([]byte, error) {
	r, _ := lz4Readers.Get().(*lz4.Reader)
	if r == nil {
		r = lz4.NewReader(bytes.NewReader(src))
	} else {
		r.Reset(bytes.NewReader(src))
	}
	defer lz4Readers.Put(r)
	return readCapped(dst, r, max)
}
