package strata

import (
	"context"
	"errors"
	"io"
	"testing"
	"time"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

func detailStatus(t *testing.T, c codes.Code, d *commonv1.ErrorDetail) error {
	t.Helper()
	s, err := status.New(c, "server says no").WithDetails(d)
	if err != nil {
		t.Fatal(err)
	}
	return s.Err()
}

func TestWrapErrCarriesDetail(t *testing.T) {
	err := wrapErr("produce orders", detailStatus(t, codes.Unavailable, &commonv1.ErrorDetail{
		Code: commonv1.ErrorCode_ERROR_CODE_NOT_LEADER_OR_FOLLOWER, KafkaErrorCode: 6, Retriable: true, Message: "moved",
		Leader: &commonv1.LeaderHint{Topic: "orders", Partition: 2, LeaderId: 3, LeaderEpoch: 7, LeaderAddress: "n3:9290"},
	}))
	if !errors.Is(err, ErrNotLeader) || errors.Is(err, ErrUnknownTopic) {
		t.Fatalf("errors.Is: %v", err)
	}
	if !IsRetriable(err) {
		t.Fatal("not retriable")
	}
	var e *Error
	if !errors.As(err, &e) || e.KafkaCode != 6 || e.Leader == nil || e.Leader.LeaderID != 3 || e.GRPCCode != codes.Unavailable {
		t.Fatalf("detail lost: %+v", e)
	}
	if got, want := err.Error(), "produce orders: NOT_LEADER_OR_FOLLOWER: moved"; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
	if status.Code(err) != codes.Unavailable {
		t.Fatalf("status.Code = %v", status.Code(err))
	}
}

func TestWrapErrFieldViolationsAndThrottle(t *testing.T) {
	err := wrapErr("produce", detailStatus(t, codes.InvalidArgument, &commonv1.ErrorDetail{
		Code:            commonv1.ErrorCode_ERROR_CODE_INVALID_REQUEST,
		FieldViolations: []*commonv1.FieldViolation{{Field: "records[3].headers[0].key", Description: "must not be empty"}},
	}))
	if !errors.Is(err, ErrInvalidRequest) || IsRetriable(err) {
		t.Fatalf("%v", err)
	}
	var e *Error
	errors.As(err, &e)
	if len(e.FieldViolations) != 1 || e.FieldViolations[0].Field != "records[3].headers[0].key" {
		t.Fatalf("%+v", e.FieldViolations)
	}
	th := fromDetail("x", &commonv1.ErrorDetail{Code: commonv1.ErrorCode_ERROR_CODE_THROTTLED, RetryAfterMs: 250, Retriable: true})
	if !errors.Is(th, ErrThrottled) || th.RetryAfter != 250*time.Millisecond {
		t.Fatalf("%+v", th)
	}
}

func TestWrapErrTransportAndContext(t *testing.T) {
	err := wrapErr("list topics", status.Error(codes.Unavailable, "connection refused"))
	if !errors.Is(err, ErrUnavailable) || !IsRetriable(err) {
		t.Fatalf("%v", err)
	}
	err = wrapErr("fetch", status.Error(codes.DeadlineExceeded, "too slow"))
	if !errors.Is(err, context.DeadlineExceeded) || IsRetriable(err) {
		t.Fatalf("%v", err)
	}
	if IsRetriable(io.EOF) || IsRetriable(nil) {
		t.Fatal("plain errors are not retriable")
	}
}

func TestRetryStopsOnPermanentErrors(t *testing.T) {
	c := &Client{cfg: defaultClientConfig()}
	c.cfg.backoff = func(int) time.Duration { return time.Millisecond }
	calls := 0
	_, err := retry(context.Background(), c, "op", func(context.Context) (int, error) {
		calls++
		if calls < 3 {
			return 0, status.Error(codes.Unavailable, "down")
		}
		return 0, status.Error(codes.InvalidArgument, "bad")
	})
	if calls != 3 || IsRetriable(err) {
		t.Fatalf("%d calls, %v", calls, err)
	}
	c.cfg.retries = 2
	calls = 0
	_, err = retry(context.Background(), c, "op", func(context.Context) (int, error) {
		calls++
		return 0, status.Error(codes.Unavailable, "down")
	})
	if calls != 3 || !errors.Is(err, ErrUnavailable) {
		t.Fatalf("%d calls (want 1 + 2 retries), %v", calls, err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	calls = 0
	_, _ = retry(ctx, c, "op", func(context.Context) (int, error) {
		calls++
		return 0, status.Error(codes.Unavailable, "down")
	})
	if calls != 1 {
		t.Fatalf("a cancelled context still retried: %d calls", calls)
	}
}

func TestExponentialBackoffJitter(t *testing.T) {
	b := ExponentialBackoff(100*time.Millisecond, time.Second)
	for attempt, want := range map[int]time.Duration{1: 100 * time.Millisecond, 2: 200 * time.Millisecond, 4: 800 * time.Millisecond, 9: time.Second} {
		for range 50 {
			if d := b(attempt); d < want/2 || d > want {
				t.Fatalf("attempt %d: %v outside [%v, %v]", attempt, d, want/2, want)
			}
		}
	}
}
