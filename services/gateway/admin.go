package gateway

import (
	"context"
	"strings"
	"time"

	adminv1 "github.com/strata-io/strata/gen/strata/admin/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// adminPrefix is the method prefix of the public AdminService.
var adminPrefix = "/" + adminv1.AdminService_ServiceDesc.ServiceName + "/"

// adminRetryFor bounds how long a call waits out a controller election.
const adminRetryFor = 15 * time.Second

// forwardAdmin sends every AdminService call to the controllers. While no
// controller is active (an election is under way) it retries, so a
// controller failover looks like a slow call, not an error.
func forwardAdmin(conn grpc.ClientConnInterface) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, adminPrefix) {
			return handler(ctx, req)
		}
		deadline := time.Now().Add(adminRetryFor)
		backoff := 50 * time.Millisecond
		for {
			out, err := rpc.Forward(ctx, conn, info.FullMethod, req)
			if !retriable(err) || time.Now().After(deadline) {
				return out, err
			}
			select {
			case <-ctx.Done():
				return nil, err
			case <-time.After(backoff):
			}
			backoff = min(2*backoff, time.Second)
		}
	}
}

func retriable(err error) bool {
	if err == nil {
		return false
	}
	if errs.Is(err, errs.NotController) {
		return true
	}
	return errs.From(err) == nil && status.Code(err) == codes.Unavailable
}
