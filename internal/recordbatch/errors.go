package recordbatch

import "errors"

// Kafka protocol error codes the storage engine reports.
const (
	CodeUnknown                    int16 = -1
	CodeOffsetOutOfRange           int16 = 1
	CodeCorruptMessage             int16 = 2
	CodeMessageTooLarge            int16 = 10
	CodeInvalidTimestamp           int16 = 32
	CodeKafkaStorageError          int16 = 56
	CodeFencedLeaderEpoch          int16 = 74
	CodeUnsupportedCompressionType int16 = 76
	CodeInvalidRecord              int16 = 87
)

// Error is a failure that maps to a Kafka error code. Wrap it with
// fmt.Errorf("...: %w", err) for context; CodeOf still finds the code.
type Error struct {
	Code int16
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// KafkaCode returns the Kafka protocol error code for e.
func (e *Error) KafkaCode() int16 { return e.Code }

var (
	ErrCorrupt          = &Error{Code: CodeCorruptMessage, Msg: "corrupt record batch"}
	ErrInvalidRecord    = &Error{Code: CodeInvalidRecord, Msg: "invalid record"}
	ErrTooLarge         = &Error{Code: CodeMessageTooLarge, Msg: "record batch too large"}
	ErrUnsupportedCodec = &Error{Code: CodeUnsupportedCompressionType, Msg: "unsupported compression type"}
	ErrInvalidTimestamp = &Error{Code: CodeInvalidTimestamp, Msg: "invalid timestamp"}
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
