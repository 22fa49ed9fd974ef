package codec

import (
	"bytes"
	"fmt"
	"sync"

	"github.com/klauspost/compress/gzip"
)

var (
	gzipWriters sync.Pool // *gzip.Writer
	gzipReaders sync.Pool // *gzip.Reader
)

func compressGzip(dst, src []byte) ([]byte, error) {
	buf := bytes.NewBuffer(dst)
	w, _ := gzipWriters.Get().(*gzip.Writer)
	if w == nil {
		w = gzip.NewWriter(buf)
	} else {
		w.Reset(buf)
	}
	defer gzipWriters.Put(w)
	if _, err := w.Write(src); err != nil {
		return dst, fmt.Errorf("gzip write: %w", err)
	}
	if err := w.Close(); err != nil {
		return dst, fmt.Errorf("gzip close: %w", err)
	}
	return buf.Bytes(), nil
}

func decompressGzip(dst, src []byte, max int) ([]byte, error) {
	r, _ := gzipReaders.Get().(*gzip.Reader)
	var err error
	if r == nil {
		r, err = gzip.NewReader(bytes.NewReader(src))
	} else {
		err = r.Reset(bytes.NewReader(src))
	}
	if err != nil {
		return dst, fmt.Errorf("gzip header: %w: %v", ErrCorrupt, err)
	}
	defer gzipReaders.Put(r)
	return readCapped(dst, r, max)
}
