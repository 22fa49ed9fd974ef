package gateway

import (
	"context"
	"strings"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/services/gateway/router"
	"google.golang.org/grpc"
)

// adminPrefix is the method prefix of the public AdminService.
var adminPrefix = "/" + adminv1.AdminService_ServiceDesc.ServiceName + "/"

// forwardAdmin sends every AdminService call to the controllers, waiting
// out a controller election (router.CallController), so a failover looks
// like a slow call, not an error.
func forwardAdmin(conn grpc.ClientConnInterface) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, adminPrefix) {
			return handler(ctx, req)
		}
		var out any
		err := router.CallController(ctx, func(ctx context.Context) (err error) {
			out, err = rpc.Forward(ctx, conn, info.FullMethod, req)
			return err
		})
		return out, err
	}
}
