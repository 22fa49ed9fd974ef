// Package errs is Strata's one table of errors: each ErrorCode maps to a gRPC
// status code and a Kafka error code, and travels as a structured
// commonv1.ErrorDetail so no caller ever parses message text.
package errs

import (
	"context"
	"errors"
	"fmt"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	"github.com/twmb/franz-go/pkg/kerr"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// Code aliases the protobuf enum so callers write errs.InvalidTopic.
type Code = commonv1.ErrorCode

// Short names for the codes.
const (
	InvalidRequest            = commonv1.ErrorCode_ERROR_CODE_INVALID_REQUEST
	InvalidTopic              = commonv1.ErrorCode_ERROR_CODE_INVALID_TOPIC
	TopicAlreadyExists        = commonv1.ErrorCode_ERROR_CODE_TOPIC_ALREADY_EXISTS
	UnknownTopicOrPartition   = commonv1.ErrorCode_ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION
	InvalidPartitions         = commonv1.ErrorCode_ERROR_CODE_INVALID_PARTITIONS
	InvalidReplicationFactor  = commonv1.ErrorCode_ERROR_CODE_INVALID_REPLICATION_FACTOR
	InvalidConfig             = commonv1.ErrorCode_ERROR_CODE_INVALID_CONFIG
	NotLeaderOrFollower       = commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER
	NotController             = commonv1.ErrorCode_ERROR_CODE_NOT_CONTROLLER
	UnknownMember             = commonv1.ErrorCode_ERROR_CODE_UNKNOWN_MEMBER
	StaleEpoch                = commonv1.ErrorCode_ERROR_CODE_STALE_EPOCH
	LeaseExpired              = commonv1.ErrorCode_ERROR_CODE_LEASE_EXPIRED
	ConcurrentUpdate          = commonv1.ErrorCode_ERROR_CODE_CONCURRENT_UPDATE
	OffsetOutOfRange          = commonv1.ErrorCode_ERROR_CODE_OFFSET_OUT_OF_RANGE
	CorruptMessage            = commonv1.ErrorCode_ERROR_CODE_CORRUPT_MESSAGE
	MessageTooLarge           = commonv1.ErrorCode_ERROR_CODE_MESSAGE_TOO_LARGE
	InvalidRecord             = commonv1.ErrorCode_ERROR_CODE_INVALID_RECORD
	InvalidTimestamp          = commonv1.ErrorCode_ERROR_CODE_INVALID_TIMESTAMP
	UnsupportedCompression    = commonv1.ErrorCode_ERROR_CODE_UNSUPPORTED_COMPRESSION_TYPE
	StorageError              = commonv1.ErrorCode_ERROR_CODE_STORAGE_ERROR
	FencedLeaderEpoch         = commonv1.ErrorCode_ERROR_CODE_FENCED_LEADER_EPOCH
	UnknownLeaderEpoch        = commonv1.ErrorCode_ERROR_CODE_UNKNOWN_LEADER_EPOCH
	InvalidRequiredAcks       = commonv1.ErrorCode_ERROR_CODE_INVALID_REQUIRED_ACKS
	RequestTimedOut           = commonv1.ErrorCode_ERROR_CODE_REQUEST_TIMED_OUT
	NotEnoughReplicas         = commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS
	NotEnoughReplicasAfter    = commonv1.ErrorCode_ERROR_CODE_NOT_ENOUGH_REPLICAS_AFTER_APPEND
	LeaderNotAvailable        = commonv1.ErrorCode_ERROR_CODE_LEADER_NOT_AVAILABLE
	ReassignmentInProgress    = commonv1.ErrorCode_ERROR_CODE_REASSIGNMENT_IN_PROGRESS
	OutOfOrderSequence        = commonv1.ErrorCode_ERROR_CODE_OUT_OF_ORDER_SEQUENCE_NUMBER
	DuplicateSequence         = commonv1.ErrorCode_ERROR_CODE_DUPLICATE_SEQUENCE_NUMBER
	InvalidProducerEpoch      = commonv1.ErrorCode_ERROR_CODE_INVALID_PRODUCER_EPOCH
	CoordinatorNotAvailable   = commonv1.ErrorCode_ERROR_CODE_COORDINATOR_NOT_AVAILABLE
	TransactionsUnsupported   = commonv1.ErrorCode_ERROR_CODE_TRANSACTIONS_UNSUPPORTED
	UnsupportedVersion        = commonv1.ErrorCode_ERROR_CODE_UNSUPPORTED_VERSION
	NonEmptyGroup             = commonv1.ErrorCode_ERROR_CODE_NON_EMPTY_GROUP
	GroupIDNotFound           = commonv1.ErrorCode_ERROR_CODE_GROUP_ID_NOT_FOUND
	GroupSubscribedToTopic    = commonv1.ErrorCode_ERROR_CODE_GROUP_SUBSCRIBED_TO_TOPIC
	IllegalGeneration         = commonv1.ErrorCode_ERROR_CODE_ILLEGAL_GENERATION
	InvalidGroupID            = commonv1.ErrorCode_ERROR_CODE_INVALID_GROUP_ID
	RebalanceInProgress       = commonv1.ErrorCode_ERROR_CODE_REBALANCE_IN_PROGRESS
	Throttled                 = commonv1.ErrorCode_ERROR_CODE_THROTTLED
	InvalidTxnState           = commonv1.ErrorCode_ERROR_CODE_INVALID_TXN_STATE
	ProducerFenced            = commonv1.ErrorCode_ERROR_CODE_PRODUCER_FENCED
	InvalidProducerIDMapping  = commonv1.ErrorCode_ERROR_CODE_INVALID_PRODUCER_ID_MAPPING
	ConcurrentTransactions    = commonv1.ErrorCode_ERROR_CODE_CONCURRENT_TRANSACTIONS
	InvalidTransactionTimeout = commonv1.ErrorCode_ERROR_CODE_INVALID_TRANSACTION_TIMEOUT

	ElectionNotNeeded           = commonv1.ErrorCode_ERROR_CODE_ELECTION_NOT_NEEDED
	PreferredLeaderNotAvailable = commonv1.ErrorCode_ERROR_CODE_PREFERRED_LEADER_NOT_AVAILABLE
	EligibleLeadersNotAvailable = commonv1.ErrorCode_ERROR_CODE_ELIGIBLE_LEADERS_NOT_AVAILABLE
	NoReassignmentInProgress    = commonv1.ErrorCode_ERROR_CODE_NO_REASSIGNMENT_IN_PROGRESS
	InvalidReplicaAssignment    = commonv1.ErrorCode_ERROR_CODE_INVALID_REPLICA_ASSIGNMENT

	TopicAuthorizationFailed           = commonv1.ErrorCode_ERROR_CODE_TOPIC_AUTHORIZATION_FAILED
	GroupAuthorizationFailed           = commonv1.ErrorCode_ERROR_CODE_GROUP_AUTHORIZATION_FAILED
	ClusterAuthorizationFailed         = commonv1.ErrorCode_ERROR_CODE_CLUSTER_AUTHORIZATION_FAILED
	TransactionalIDAuthorizationFailed = commonv1.ErrorCode_ERROR_CODE_TRANSACTIONAL_ID_AUTHORIZATION_FAILED
)

type entry struct {
	grpc      codes.Code
	kafka     int16 // Kafka protocol error code
	retriable bool
}

// table is the single mapping from Strata codes to gRPC and Kafka codes
// (the Kafka numbers come from franz-go's kerr).
var table = map[Code]entry{
	InvalidRequest:            {codes.InvalidArgument, kerr.InvalidRequest.Code, false},
	InvalidTopic:              {codes.InvalidArgument, kerr.InvalidTopicException.Code, false},
	TopicAlreadyExists:        {codes.AlreadyExists, kerr.TopicAlreadyExists.Code, false},
	UnknownTopicOrPartition:   {codes.NotFound, kerr.UnknownTopicOrPartition.Code, true},
	InvalidPartitions:         {codes.InvalidArgument, kerr.InvalidPartitions.Code, false},
	InvalidReplicationFactor:  {codes.InvalidArgument, kerr.InvalidReplicationFactor.Code, false},
	InvalidConfig:             {codes.InvalidArgument, kerr.InvalidConfig.Code, false},
	NotLeaderOrFollower:       {codes.Unavailable, kerr.NotLeaderForPartition.Code, true},
	NotController:             {codes.Unavailable, kerr.NotController.Code, true},
	UnknownMember:             {codes.NotFound, kerr.UnknownMemberID.Code, false},
	StaleEpoch:                {codes.FailedPrecondition, kerr.FencedLeaderEpoch.Code, false},
	LeaseExpired:              {codes.NotFound, kerr.StaleBrokerEpoch.Code, true},
	ConcurrentUpdate:          {codes.Aborted, kerr.RequestTimedOut.Code, true}, // the client retries
	OffsetOutOfRange:          {codes.OutOfRange, kerr.OffsetOutOfRange.Code, false},
	CorruptMessage:            {codes.InvalidArgument, kerr.CorruptMessage.Code, true}, // retriable in Kafka: a resend may arrive intact
	MessageTooLarge:           {codes.InvalidArgument, kerr.MessageTooLarge.Code, false},
	InvalidRecord:             {codes.InvalidArgument, kerr.InvalidRecord.Code, false},
	InvalidTimestamp:          {codes.InvalidArgument, kerr.InvalidTimestamp.Code, false},
	UnsupportedCompression:    {codes.InvalidArgument, kerr.UnsupportedCompressionType.Code, false},
	StorageError:              {codes.Internal, kerr.KafkaStorageError.Code, true},
	FencedLeaderEpoch:         {codes.FailedPrecondition, kerr.FencedLeaderEpoch.Code, true},
	UnknownLeaderEpoch:        {codes.FailedPrecondition, kerr.UnknownLeaderEpoch.Code, true},
	InvalidRequiredAcks:       {codes.InvalidArgument, kerr.InvalidRequiredAcks.Code, false},
	RequestTimedOut:           {codes.DeadlineExceeded, kerr.RequestTimedOut.Code, true},
	NotEnoughReplicas:         {codes.Unavailable, kerr.NotEnoughReplicas.Code, true},
	NotEnoughReplicasAfter:    {codes.Unavailable, kerr.NotEnoughReplicasAfterAppend.Code, true},
	LeaderNotAvailable:        {codes.Unavailable, kerr.LeaderNotAvailable.Code, true},
	ReassignmentInProgress:    {codes.FailedPrecondition, kerr.ReassignmentInProgress.Code, false},
	OutOfOrderSequence:        {codes.FailedPrecondition, kerr.OutOfOrderSequenceNumber.Code, false},
	DuplicateSequence:         {codes.AlreadyExists, kerr.DuplicateSequenceNumber.Code, false},
	InvalidProducerEpoch:      {codes.FailedPrecondition, kerr.InvalidProducerEpoch.Code, false},
	CoordinatorNotAvailable:   {codes.Unavailable, kerr.CoordinatorNotAvailable.Code, true},
	TransactionsUnsupported:   {codes.Unimplemented, kerr.TransactionalIDAuthorizationFailed.Code, false}, // fatal to the client: transactions are not served
	UnsupportedVersion:        {codes.Unimplemented, kerr.UnsupportedVersion.Code, false},
	NonEmptyGroup:             {codes.FailedPrecondition, kerr.NonEmptyGroup.Code, false},
	GroupIDNotFound:           {codes.NotFound, kerr.GroupIDNotFound.Code, false},
	GroupSubscribedToTopic:    {codes.FailedPrecondition, kerr.GroupSubscribedToTopic.Code, false},
	IllegalGeneration:         {codes.FailedPrecondition, kerr.IllegalGeneration.Code, false},
	InvalidGroupID:            {codes.InvalidArgument, kerr.InvalidGroupID.Code, false},
	RebalanceInProgress:       {codes.Unavailable, kerr.RebalanceInProgress.Code, true},
	Throttled:                 {codes.ResourceExhausted, kerr.ThrottlingQuotaExceeded.Code, true},
	InvalidTxnState:           {codes.FailedPrecondition, kerr.InvalidTxnState.Code, false},
	ProducerFenced:            {codes.FailedPrecondition, kerr.ProducerFenced.Code, false},
	InvalidProducerIDMapping:  {codes.FailedPrecondition, kerr.InvalidProducerIDMapping.Code, false},
	ConcurrentTransactions:    {codes.Unavailable, kerr.ConcurrentTransactions.Code, true},
	InvalidTransactionTimeout: {codes.InvalidArgument, kerr.InvalidTransactionTimeout.Code, false},

	ElectionNotNeeded:           {codes.FailedPrecondition, kerr.ElectionNotNeeded.Code, false},
	PreferredLeaderNotAvailable: {codes.Unavailable, kerr.PreferredLeaderNotAvailable.Code, true},
	EligibleLeadersNotAvailable: {codes.Unavailable, kerr.EligibleLeadersNotAvailable.Code, true},
	NoReassignmentInProgress:    {codes.FailedPrecondition, kerr.NoReassignmentInProgress.Code, false},
	InvalidReplicaAssignment:    {codes.InvalidArgument, kerr.InvalidReplicaAssignment.Code, false},

	TopicAuthorizationFailed:           {codes.PermissionDenied, kerr.TopicAuthorizationFailed.Code, false},
	GroupAuthorizationFailed:           {codes.PermissionDenied, kerr.GroupAuthorizationFailed.Code, false},
	ClusterAuthorizationFailed:         {codes.PermissionDenied, kerr.ClusterAuthorizationFailed.Code, false},
	TransactionalIDAuthorizationFailed: {codes.PermissionDenied, kerr.TransactionalIDAuthorizationFailed.Code, false},

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

// FromKafkaCode is the Strata error for a Kafka error code (0: nil), with
// msg; a code without a Strata counterpart keeps its Kafka code under
// ERROR_CODE_UNSPECIFIED.
func FromKafkaCode(code int16, msg string) *Error {
	if code == 0 {
		return nil
	}
	c, ok := byKafka[code]
	if !ok {
		e := New(commonv1.ErrorCode_ERROR_CODE_UNSPECIFIED, "%s", msg)
		e.Detail.KafkaErrorCode = int32(code)
		return e
	}
	return New(c, "%s", msg)
}

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
	msg := fmt.Sprintf(format, args...)
	return &Error{
		Msg: msg,
		Detail: &commonv1.ErrorDetail{
			Code:           code,
			KafkaErrorCode: int32(e.kafka),
			Retriable:      e.retriable,
			Message:        msg,
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
