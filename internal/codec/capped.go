package codec

import (
	"errors"
	"fmt"
	"io"
)

// readCapped appends everything r yields to dst, failing with ErrTooLarge
// once more than max bytes arrive. The buffer grows with the data actually
// produced, never with a size the payload claims.
func readCapped(dst []byte, r io.Reader, max int) ([]byte, error) {
	start := len(dst)
	for {
		if len(dst) == cap(dst) {
			grow := cap(dst) - start
			if grow < 4096 {
				grow = 4096
			}
			// Never reserve more than one byte past the cap.
			if room := max + 1 - (len(dst) - start); grow > room {
				grow = room
			}
			if grow <= 0 {
				return dst[:start], fmt.Errorf("over %d bytes: %w", max, ErrTooLarge)
			}
			dst = append(dst, make([]byte, grow)...)[:len(dst)]
		}
		n, err := r.Read(dst[len(dst):cap(dst)])
		dst = dst[:len(dst)+n]
		if len(dst)-start > max {
			return dst[:start], fmt.Errorf("over %d bytes: %w", max, ErrTooLarge)
		}
		if errors.Is(err, io.EOF) {
			return dst, nil
		}
		if err != nil {
			return dst[:start], fmt.Errorf("%w: %v", ErrCorrupt, err)
		}
	}
}
