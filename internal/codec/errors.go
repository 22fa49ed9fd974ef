package codec

import "github.com/twmb/franz-go/pkg/kerr"

// Error is a codec failure that maps to a Kafka error code.
type Error struct {
	Code int16
	Msg  string
}

func (e *Error) Error() string { return e.Msg }

// KafkaCode returns the Kafka protocol error code for e.
func (e *Error) KafkaCode() int16 { return e.Code }

var (
	// ErrTooLarge means the output would exceed the caller's cap (MESSAGE_TOO_LARGE).
	ErrTooLarge = &Error{Code: kerr.MessageTooLarge.Code, Msg: "decompressed size over limit"}
	// ErrUnsupported means an unknown compression type (UNSUPPORTED_COMPRESSION_TYPE).
	ErrUnsupported = &Error{Code: kerr.UnsupportedCompressionType.Code, Msg: "unsupported compression type"}
	// ErrCorrupt means the compressed payload is malformed (CORRUPT_MESSAGE).
	ErrCorrupt = &Error{Code: kerr.CorruptMessage.Code, Msg: "corrupt compressed payload"}
)
