package recordbatch

import (
	"errors"

	"github.com/strata-io/strata/internal/codec"
	"github.com/twmb/franz-go/pkg/kerr"
)

// Kafka protocol error codes the storage engine reports (numbers from kerr).
var (
	CodeUnknown                    = kerr.UnknownServerError.Code
	CodeOffsetOutOfRange           = kerr.OffsetOutOfRange.Code
	CodeCorruptMessage             = kerr.CorruptMessage.Code
	CodeMessageTooLarge            = kerr.MessageTooLarge.Code
	CodeInvalidTimestamp           = kerr.InvalidTimestamp.Code
	CodeKafkaStorageError          = kerr.KafkaStorageError.Code
	CodeFencedLeaderEpoch          = kerr.FencedLeaderEpoch.Code
	CodeUnsupportedCompressionType = kerr.UnsupportedCompressionType.Code
	CodeInvalidRecord              = kerr.InvalidRecord.Code
	// CodeTransactionalIDAuthorizationFailed is Kafka's answer to
	// transactional records without a transactional id; Strata, which has
	// no transactions yet, gives it to every transactional batch.
	CodeTransactionalIDAuthorizationFailed = kerr.TransactionalIDAuthorizationFailed.Code
)

// Error is a failure that maps to a Kafka error code: the codec package's
// type, so batch and compression errors are one kind. Wrap it with
// fmt.Errorf("...: %w", err) for context; CodeOf still finds the code.
type Error = codec.Error

var (
	ErrCorrupt          = &Error{Code: CodeCorruptMessage, Msg: "corrupt record batch"}
	ErrInvalidRecord    = &Error{Code: CodeInvalidRecord, Msg: "invalid record"}
	ErrTooLarge         = &Error{Code: CodeMessageTooLarge, Msg: "record batch too large"}
	ErrUnsupportedCodec = &Error{Code: CodeUnsupportedCompressionType, Msg: "unsupported compression type"}
	ErrInvalidTimestamp = &Error{Code: CodeInvalidTimestamp, Msg: "invalid timestamp"}
	ErrTransactional    = &Error{Code: CodeTransactionalIDAuthorizationFailed, Msg: "transactional batch refused: transactions are not supported"}
)

// CodeOf returns the Kafka error code carried by err: 0 for nil, -1 (UNKNOWN)
// when nothing in the chain has a KafkaCode method.
func CodeOf(err error) int16 {
	if err == nil {
		return 0
	}
	var c interface{ KafkaCode() int16 }
	if errors.As(err, &c) {
		return c.KafkaCode()
	}
	return CodeUnknown
}
