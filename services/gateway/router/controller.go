package router

import (
	"context"
	"time"

	"github.com/strata-io/strata/internal/errs"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// controllerRetryFor bounds how long a call to the controller waits out an
// election, so a controller failover looks like a slow call, not an error.
const controllerRetryFor = 15 * time.Second

// CallController runs call until it succeeds, fails for a reason other than
// a missing active controller, ctx ends, or controllerRetryFor passes.
func CallController(ctx context.Context, call func(ctx context.Context) error) error {
	deadline := time.Now().Add(controllerRetryFor)
	backoff := 50 * time.Millisecond
	for {
		err := call(ctx)
		if err == nil || !controllerRetriable(err) || time.Now().After(deadline) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, time.Second)
	}
}

// controllerRetriable: no controller is active (an election is under way)
// or none answers.
func controllerRetriable(err error) bool {
	if errs.Is(err, errs.NotController) {
		return true
	}
	return errs.From(err) == nil && status.Code(err) == codes.Unavailable
}
