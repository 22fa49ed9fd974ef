// Package errs is Strata's one table of errors: each ErrorCode maps to a gRPC
// status code and a Kafka error code, and travels as a structured
// commonv1.ErrorDetail so no caller ever parses message text.
package errs

import (
	"context"
	"errors"
	"fmt"

	commonv1 "github.com/strata-io/strata/gen/strata/common/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Code aliases the protobuf enum so callers write errs.InvalidTopic.
type Code = commonv1.ErrorCode

// Short names for the codes.
const (
	InvalidRequest           = commonv1.ErrorCode_ERROR_CODE_INVALID_REQUEST
	InvalidTopic             = commonv1.ErrorCode_ERROR_CODE_INVALID_TOPIC
	TopicAlreadyExists       = commonv1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS
	UnknownTopicOrPartition  = commonv1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION
	InvalidPartitions        = commonv1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS
	InvalidReplicationFactor = commonv1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR
	InvalidConfig            = commonv1.ErrorCode_ERROR_CODE_INVALID_CONFIG
	NotLeaderOrFollower      = commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER
	NotController            = commonv1.ErrorCode_ERROR_CODE_NOT_CONTROLLER
	UnknownMember            = commonv1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER
	StaleEpoch               = commonv1.ErrorCode_ERROR_CODE_STALE_EPOCH
	LeaseExpired             = commonv1.ErrorCode_ERROR_CODE_LEASE_EXPIRED
	ConcurrentUpdate         = commonv1.ErrorCode_ERROR_CODE_CONCURRENT_UPDATE
	OffsetOutOfRange         = commonv1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE
	CorruptMessage           = commonv1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE
	MessageTooLarge          = commonv1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE
	InvalidRecord            = commonv1.ErrorCode_ERROR_CODE_INVALID_RECORD
	InvalidTimestamp         = commonv1.ErrorCode_ERROR_CODE_INVALID_TIMESTAMP
	UnsupportedCompression   = commonv1.ErrorCode_ERROR_CODE_UNSUPPORTED_COMPRESSION_TYPE
	StorageError             = commonv1.ErrorCode_ERROR_CODE_STORAGE_ERROR
	FencedLeaderEpoch        = commonv1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH
	UnknownLeaderEpoch       = commonv1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH
	InvalidRequiredAcks      = commonv1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS
	RequestTimedOut          = commonv1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT
	NotEnoughReplicas        = commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS
	NotEnoughReplicasAfter   = commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND
	LeaderNotAvailable       = commonv1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE
	ReassignmentInProgress   = commonv1.ErrorCode_ERROR_CODE_REASSIGNMENT_IN_PROGRESS
	OutOfOrderSequence       = commonv1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE_NUMBER
	InvalidProducerEpoch     = commonv1.ErrorCode_ERROR_CODE_INVALID_PRODUCER_EPOCH
	CoordinatorNotAvailable  = commonv1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE
	TransactionsUnsupported  = commonv1.ErrorCode_ERROR_CODE_TRANSACTIONS_UNSUPPORTED
	UnsupportedVersion       = commonv1.ErrorCode_ERROR_CODE_UNSUPPORTED_VERSION
)

type entry struct {
	grpc      codes.Code
	kafka     int16 // Kafka protocol error code
	retriable bool
}

// table is the single mapping from Strata codes to gRPC and Kafka codes.
var table = map[Code]entry{
	InvalidRequest:           {codes.InvalidArgument, 42, false}, // INVALID_REQUEST
	InvalidTopic:             {codes.InvalidArgument, 17, false}, // INVALID_TOPIC_EXCEPTION
	TopicAlreadyExists:       {codes.AlreadyExists, 36, false},   // TOPIC_ALREADY_EXISTS
	UnknownTopicOrPartition:  {codes.NotFound, 3, true},          // UNKNOWN_TOPIC_OR_PARTITION
	InvalidPartitions:        {codes.InvalidArgument, 37, false}, // INVALID_PARTITIONS
	InvalidReplicationFactor: {codes.InvalidArgument, 38, false}, // INVALID_REPLICATION_FACTOR
	InvalidConfig:            {codes.InvalidArgument, 40, false}, // INVALID_CONFIG
	NotLeaderOrFollower:      {codes.FailedPrecondition, 6, true},
	NotController:            {codes.Unavailable, 41, true}, // NOT_CONTROLLER
	UnknownMember:            {codes.NotFound, 25, false},   // UNKNOWN_MEMBER_ID
	StaleEpoch:               {codes.FailedPrecondition, 74, false},
	LeaseExpired:             {codes.NotFound, 89, true}, // STALE_BROKER_EPOCH
	ConcurrentUpdate:         {codes.Aborted, 7, true},   // REQUEST_TIMED_OUT: retry
	OffsetOutOfRange:         {codes.OutOfRange, 1, false},
	CorruptMessage:           {codes.InvalidArgument, 2, true}, // retriable in Kafka: a resend may arrive intact
	MessageTooLarge:          {codes.InvalidArgument, 10, false},
	InvalidRecord:            {codes.InvalidArgument, 87, false},
	InvalidTimestamp:         {codes.InvalidArgument, 32, false},
	UnsupportedCompression:   {codes.InvalidArgument, 76, false},
	StorageError:             {codes.Internal, 56, true}, // KAFKA_STORAGE_ERROR
	FencedLeaderEpoch:        {codes.FailedPrecondition, 74, true},
	UnknownLeaderEpoch:       {codes.FailedPrecondition, 75, true},
	InvalidRequiredAcks:      {codes.InvalidArgument, 21, false},
	RequestTimedOut:          {codes.DeadlineExceeded, 7, true},
	NotEnoughReplicas:        {codes.Unavailable, 19, true},
	NotEnoughReplicasAfter:   {codes.Unavailable, 20, true},
	LeaderNotAvailable:       {codes.Unavailable, 5, true},
	ReassignmentInProgress:   {codes.FailedPrecondition, 60, false},
	OutOfOrderSequence:       {codes.FailedPrecondition, 45, false}, // OUT_OF_ORDER_SEQUENCE_NUMBER
	InvalidProducerEpoch:     {codes.FailedPrecondition, 47, false}, // INVALID_PRODUCER_EPOCH
	CoordinatorNotAvailable:  {codes.Unavailable, 15, true},         // COORDINATOR_NOT_AVAILABLE
	TransactionsUnsupported:  {codes.Unimplemented, 53, false},      // TRANSACTIONAL_ID_AUTHORIZATION_FAILED: fatal to the client
	UnsupportedVersion:       {codes.Unimplemented, 35, false},      // UNSUPPORTED_VERSION

	commonv1.ErrorCode_ERROR_CODE_UNSPECIFIED: {codes.Unknown, -1, false}, // UNKNOWN_SERVER_ERROR
}

// byKafka finds the Strata code for a Kafka code, for errors raised in
// Kafka's own terms (the record batch and log layers).
var byKafka = func() map[int16]Code {
	m := map[int16]Code{}
	for code, e := range table {
		if _, dup := m[e.kafka]; !dup || code > m[e.kafka] { // the more specific, later code wins
			m[e.kafka] = code
		}
	}
	return m
}()

// FromKafka wraps an error that carries a Kafka code (a KafkaCode() int16
// method, as the storage engine's errors have) into a Strata error. Errors
// without one become STORAGE_ERROR.
func FromKafka(err error) *Error {
	if e := From(err); e != nil {
		return e
	}
	var kc interface{ KafkaCode() int16 }
	code := StorageError
	if errors.As(err, &kc) {
		if c, ok := byKafka[kc.KafkaCode()]; ok {
			code = c
		}
	}
	return New(code, "%v", err)
}

// Error is a Strata error with its structured detail.
type Error struct {
	Detail *commonv1.ErrorDetail
	Msg    string
}

// New returns an error with code and a readable message.
func New(code Code, format string, args ...any) *Error {
	e := table[code]
	return &Error{
		Msg: fmt.Sprintf(format, args...),
		Detail: &commonv1.ErrorDetail{
			Code:           code,
			KafkaErrorCode: int32(e.kafka),
			Retriable:      e.retriable,
		},
	}
}

// Field adds a field violation and returns e.
func (e *Error) Field(field, description string) *Error {
	e.Detail.FieldViolations = append(e.Detail.FieldViolations,
		&commonv1.FieldViolation{Field: field, Description: description})
	return e
}

// WithLeader attaches the current leader of a partition and returns e.
func (e *Error) WithLeader(l *commonv1.LeaderHint) *Error {
	e.Detail.Leader = l
	return e
}

func (e *Error) Error() string { return e.Msg }

// Code returns the Strata error code.
func (e *Error) Code() Code { return e.Detail.GetCode() }

// KafkaCode returns the Kafka protocol error code.
func (e *Error) KafkaCode() int16 { return int16(e.Detail.GetKafkaErrorCode()) }

// GRPCStatus lets grpc-go send e as a status carrying its detail.
func (e *Error) GRPCStatus() *status.Status {
	st := status.New(table[e.Code()].grpc, e.Msg)
	if withDetail, err := st.WithDetails(e.Detail); err == nil {
		return withDetail
	}
	return st
}

// From recovers a Strata error from err: either an *Error in its chain or a
// gRPC status with an ErrorDetail. It returns nil when err carries neither.
func From(err error) *Error {
	if err == nil {
		return nil
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	st, ok := status.FromError(err)
	if !ok {
		return nil
	}
	for _, d := range st.Details() {
		if detail, ok := d.(*commonv1.ErrorDetail); ok {
			return &Error{Detail: detail, Msg: st.Message()}
		}
	}
	return nil
}

// Is reports whether err carries the Strata code.
func Is(err error, code Code) bool {
	e := From(err)
	return e != nil && e.Code() == code
}

// Message returns the most readable one-line message for err: the server's
// message for a status error, err.Error() otherwise.
func Message(err error) string {
	if st, ok := status.FromError(err); ok {
		return st.Message()
	}
	return err.Error()
}

// KafkaCode is the Kafka error code for any error: the code of a Strata
// error, REQUEST_TIMED_OUT for a deadline, LEADER_NOT_AVAILABLE for an
// unreachable peer, UNKNOWN_SERVER_ERROR otherwise; 0 for nil.
func KafkaCode(err error) int16 {
	if err == nil {
		return 0
	}
	if e := From(err); e != nil {
		return e.KafkaCode()
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return table[RequestTimedOut].kafka
	}
	switch status.Code(err) {
	case codes.DeadlineExceeded:
		return table[RequestTimedOut].kafka
	case codes.Unavailable, codes.Canceled:
		return table[LeaderNotAvailable].kafka
	}
	return -1
}
