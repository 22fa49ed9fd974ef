package strata

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Code is a Strata error code (strata.common.v1.ErrorCode). Each maps to
// one Kafka error code.
type Code = commonv1.ErrorCode

// Error is a failure the server reported, or a transport failure: the
// gRPC status of a call, or the ErrorDetail of one record's or one
// partition's entry in a response. Match it with errors.Is against the
// sentinels of this package (errors.Is(err, ErrNotLeader)), or take it
// apart with errors.As.
type Error struct {
	// Op is what the client was doing: "produce orders", "fetch orders-3",
	// "create topic orders", ...
	Op string
	// Code is the Strata code; ERROR_CODE_UNSPECIFIED for a transport
	// failure that carried no detail (an unreachable gateway, say).
	Code Code
	// KafkaCode is the Kafka protocol error code of the same condition (0
	// when unknown).
	KafkaCode int16
	// GRPCCode is the call's gRPC status code; codes.OK for an error of one
	// entry of a successful call.
	GRPCCode codes.Code
	// Message is the server's readable explanation.
	Message string
	// Retriable says whether the same request may succeed later.
	Retriable bool
	// RetryAfter is how long the server asked the client to wait
	// (with ERROR_CODE_THROTTLED); 0 when it did not say.
	RetryAfter time.Duration
	// Leader is the partition's leader as the server knows it, with
	// ERROR_CODE_NOT_LEADER_OR_FOLLOWER; nil otherwise.
	Leader *LeaderHint
	// FieldViolations name each bad field of a refused request.
	FieldViolations []FieldViolation
}

// LeaderHint names a partition's leader.
type LeaderHint struct {
	Topic       string
	Partition   int32
	LeaderID    int32  // storage node id; -1 when there is none
	LeaderEpoch int32  // bumped by every leader election
	Address     string // the leader's gRPC address, when known
}

// FieldViolation is one bad field of a refused request.
type FieldViolation struct {
	Field       string // e.g. "records[3].headers[0].key"
	Description string // what is wrong with it
}

// Error implements error: the operation, the code and the message.
func (e *Error) Error() string {
	var b strings.Builder
	if e.Op != "" {
		b.WriteString(e.Op)
		b.WriteString(": ")
	}
	switch {
	case e.Code != commonv1.ErrorCode_ERROR_CODE_UNSPECIFIED:
		b.WriteString(strings.TrimPrefix(e.Code.String(), "ERROR_CODE_"))
	case e.GRPCCode != codes.OK:
		b.WriteString(e.GRPCCode.String())
	default:
		b.WriteString("error")
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	for _, v := range e.FieldViolations {
		fmt.Fprintf(&b, "; %s: %s", v.Field, v.Description)
	}
	return b.String()
}

// Is reports whether target is a sentinel of the same Strata code (or, for
// a sentinel without one, the same gRPC code), so errors.Is(err,
// ErrNotLeader) holds for every NOT_LEADER_OR_FOLLOWER error.
func (e *Error) Is(target error) bool {
	t, ok := target.(*Error)
	if !ok || t == e {
		return ok
	}
	if t.Code != commonv1.ErrorCode_ERROR_CODE_UNSPECIFIED {
		return t.Code == e.Code
	}
	return t.GRPCCode != codes.OK && t.GRPCCode == e.GRPCCode
}

// GRPCStatus returns the error as a gRPC status, so status.Code(err) works
// on it.
func (e *Error) GRPCStatus() *status.Status {
	c := e.GRPCCode
	if c == codes.OK {
		c = codes.Unknown
	}
	return status.New(c, e.Error())
}

func sentinel(c Code) *Error { return &Error{Code: c} }

// Sentinels of the Strata error codes a client meets most; match them with
// errors.Is. Every [*Error] carries its full code in Error.Code.
var (
	ErrInvalidRequest           = sentinel(commonv1.ErrorCode_ERROR_CODE_INVALID_REQUEST)
	ErrInvalidTopic             = sentinel(commonv1.ErrorCode_ERROR_CODE_INVALID_TOPIC)
	ErrTopicExists              = sentinel(commonv1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS)
	ErrUnknownTopic             = sentinel(commonv1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION)
	ErrInvalidPartitions        = sentinel(commonv1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS)
	ErrInvalidReplicationFactor = sentinel(commonv1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR)
	ErrInvalidConfig            = sentinel(commonv1.ErrorCode_ERROR_CODE_INVALID_CONFIG)
	ErrNotLeader                = sentinel(commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER)
	ErrNotController            = sentinel(commonv1.ErrorCode_ERROR_CODE_NOT_CONTROLLER)
	ErrOffsetOutOfRange         = sentinel(commonv1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE)
	ErrMessageTooLarge          = sentinel(commonv1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE)
	ErrStorage                  = sentinel(commonv1.ErrorCode_ERROR_CODE_STORAGE_ERROR)
	ErrRequestTimedOut          = sentinel(commonv1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT)
	ErrNotEnoughReplicas        = sentinel(commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS)
	ErrNotEnoughReplicasAfter   = sentinel(commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND)
	ErrLeaderNotAvailable       = sentinel(commonv1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE)
	ErrCoordinatorNotAvailable  = sentinel(commonv1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE)
	ErrNonEmptyGroup            = sentinel(commonv1.ErrorCode_ERROR_CODE_NON_EMPTY_GROUP)
	ErrGroupNotFound            = sentinel(commonv1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND)
	ErrIllegalGeneration        = sentinel(commonv1.ErrorCode_ERROR_CODE_ILLEGAL_GENERATION)
	ErrRebalanceInProgress      = sentinel(commonv1.ErrorCode_ERROR_CODE_REBALANCE_IN_PROGRESS)
	ErrThrottled                = sentinel(commonv1.ErrorCode_ERROR_CODE_THROTTLED)

	// ErrUnavailable matches a call that could not reach a gateway (gRPC
	// UNAVAILABLE without a Strata code).
	ErrUnavailable = &Error{GRPCCode: codes.Unavailable}
)

// Errors of the client itself.
var (
	// ErrClosed is the error of a call on a closed Client, Producer,
	// Consumer or Reader, and of records still buffered when a Producer is
	// closed.
	ErrClosed = errors.New("strata: closed")
	// ErrMaxBuffered is what TryProduce answers when the producer's
	// buffer (MaxBufferedRecords, MaxBufferedBytes) is full.
	ErrMaxBuffered = errors.New("strata: producer buffer full")
	// ErrDeliveryTimeout fails a record not acknowledged within the
	// producer's DeliveryTimeout. If it had been sent, its outcome is
	// unknown: it may or may not have been written.
	ErrDeliveryTimeout = errors.New("strata: delivery timeout")
	// ErrInvalidRecord fails a record the client refuses before sending
	// (no topic, an empty header key, larger than MaxBatchBytes, a
	// partition out of range).
	ErrInvalidRecord = errors.New("strata: invalid record")
)

// IsRetriable reports whether err may go away if the same request is made
// again later: a Strata error the server marked retriable, or a transport
// failure (UNAVAILABLE, ABORTED, RESOURCE_EXHAUSTED). A cancelled or
// expired context is not retriable.
func IsRetriable(err error) bool {
	if err == nil || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return false
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Retriable
	}
	if s, ok := status.FromError(err); ok {
		return retriableCode(s.Code())
	}
	return false
}

func retriableCode(c codes.Code) bool {
	switch c {
	case codes.Unavailable, codes.Aborted, codes.ResourceExhausted:
		return true
	}
	return false
}

// fromDetail converts one entry's ErrorDetail; nil for nil.
func fromDetail(op string, d *commonv1.ErrorDetail) *Error {
	if d == nil {
		return nil
	}
	e := &Error{
		Op:         op,
		Code:       d.GetCode(),
		KafkaCode:  int16(d.GetKafkaErrorCode()),
		Message:    d.GetMessage(),
		Retriable:  d.GetRetriable(),
		RetryAfter: time.Duration(d.GetRetryAfterMs()) * time.Millisecond,
	}
	if l := d.GetLeader(); l != nil {
		e.Leader = &LeaderHint{Topic: l.GetTopic(), Partition: l.GetPartition(), LeaderID: l.GetLeaderId(),
			LeaderEpoch: l.GetLeaderEpoch(), Address: l.GetLeaderAddress()}
	}
	for _, v := range d.GetFieldViolations() {
		e.FieldViolations = append(e.FieldViolations, FieldViolation{Field: v.GetField(), Description: v.GetDescription()})
	}
	return e
}

// wrapErr turns a call's error into an *Error carrying op (context errors
// stay as they are, wrapped with op, so errors.Is(err,
// context.DeadlineExceeded) holds).
func wrapErr(op string, err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return fmt.Errorf("%s: %w", op, err)
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Op == "" {
			c := *e
			c.Op = op
			return &c
		}
		return err
	}
	s, ok := status.FromError(err)
	if !ok {
		return fmt.Errorf("%s: %w", op, err)
	}
	switch s.Code() {
	case codes.Canceled:
		return fmt.Errorf("%s: %w: %s", op, context.Canceled, s.Message())
	case codes.DeadlineExceeded:
		return fmt.Errorf("%s: %w: %s", op, context.DeadlineExceeded, s.Message())
	}
	for _, d := range s.Details() {
		if ed, ok := d.(*commonv1.ErrorDetail); ok {
			e := fromDetail(op, ed)
			e.GRPCCode = s.Code()
			if e.Message == "" {
				e.Message = s.Message()
			}
			return e
		}
	}
	return &Error{Op: op, GRPCCode: s.Code(), Message: s.Message(), Retriable: retriableCode(s.Code())}
}
