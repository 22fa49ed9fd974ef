package log

import "github.com/strata-io/strata/internal/recordbatch"

// Errors carry Kafka codes; recordbatch.CodeOf(err) finds them through wrapping.
var (
	ErrOffsetOutOfRange = &recordbatch.Error{Code: recordbatch.CodeOffsetOutOfRange, Msg: "offset out of range"}
	ErrFencedEpoch      = &recordbatch.Error{Code: recordbatch.CodeFencedLeaderEpoch, Msg: "leader epoch older than the log's latest"}
	ErrStorage          = &recordbatch.Error{Code: recordbatch.CodeKafkaStorageError, Msg: "storage error"}
	ErrClosed           = &recordbatch.Error{Code: recordbatch.CodeKafkaStorageError, Msg: "log closed"}
	// ErrNonContiguous rejects replicated batches that do not continue the log.
	ErrNonContiguous = &recordbatch.Error{Code: recordbatch.CodeOffsetOutOfRange, Msg: "replicated offsets do not continue the log"}
)
