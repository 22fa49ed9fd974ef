package recordbatch

import (
	"fmt"

	"github.com/strata-io/strata/internal/codec"
)

// Records returns the batch's records section, decompressed into dst[:0] if
// the batch is compressed. maxBytes caps the decompressed size.
func Records(dst []byte, batch []byte, h *Header, maxBytes int) ([]byte, error) {
	if len(batch) < HeaderSize {
		return nil, fmt.Errorf("records: %w", ErrCorrupt)
	}
	body := batch[HeaderSize:]
	if h.Codec() == codec.None {
		return body, nil
	}
	out, err := codec.Decompress(dst[:0], h.Codec(), body, maxBytes)
	if err != nil {
		return nil, fmt.Errorf("batch at offset %d: %w", h.BaseOffset, err)
	}
	return out, nil
}
