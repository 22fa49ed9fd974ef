package log

import (
	"encoding/binary"
	"time"
)

type timeT = time.Time

// int64FromBE reads a batch's base offset (its first 8 bytes).
func int64FromBE(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }
