package log

import (
	"encoding/binary"
	"time"

	"github.com/strata-io/strata/internal/recordbatch"
)

type timeT = time.Time

// int64FromBE reads a batch's base offset (its first 8 bytes).
func int64FromBE(b []byte) int64 { return int64(binary.BigEndian.Uint64(b)) }

// maxTimestampOf reads a batch's max timestamp field.
func maxTimestampOf(b []byte) int64 { return recordbatch.MaxTimestampOf(b) }
