package gateway

import (
	"context"
	"strings"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/services/gateway/router"
	"google.golang.org/grpc"
)

// adminPrefix is the method prefix of the public AdminService.
var adminPrefix = "/" + adminv1.AdminService_ServiceDesc.ServiceName + "/"

// userPrefix is the method prefix of the public UserService, forwarded as
// the AdminService is.
var userPrefix = "/" + adminv1.UserService_ServiceDesc.ServiceName + "/"

// aclPrefix is the method prefix of the public AclService, forwarded too.
var aclPrefix = "/" + adminv1.AclService_ServiceDesc.ServiceName + "/"

// createReadyWait bounds how long CreateTopic and AddPartitions wait for
// the new partitions' leaders when the call has no deadline (Kafka's
// request.timeout.ms default).
const createReadyWait = 30 * time.Second

// forwardAdmin sends every AdminService (and UserService) call to the controllers, waiting
// out a controller election (router.CallController), so a failover looks
// like a slow call, not an error. CreateTopic and AddPartitions answer
// once every new partition's leader has taken up its leadership (as Kafka's
// CreateTopics does), so a produce right after, through any gateway, is
// accepted; past the call's deadline (or createReadyWait) they fail with
// REQUEST_TIMED_OUT, the topic created all the same.
func forwardAdmin(conn grpc.ClientConnInterface, r *router.Router) grpc.UnaryServerInterceptor {
	return func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		if !strings.HasPrefix(info.FullMethod, adminPrefix) && !strings.HasPrefix(info.FullMethod, aclPrefix) && !strings.HasPrefix(info.FullMethod, userPrefix) {
			return handler(ctx, req)
		}
		// The partition count before growing: the new partitions start there.
		var from int32
		if add, ok := req.(*adminv1.AddPartitionsRequest); ok {
			if t, ok := r.Cache().Topic(add.GetName()); ok {
				from = t.GetPartitionCount()
			}
		}
		var out any
		err := router.CallController(ctx, func(ctx context.Context) (err error) {
			out, err = rpc.Forward(ctx, conn, info.FullMethod, req)
			return err
		})
		if err != nil {
			return out, err
		}
		var topic *adminv1.Topic
		switch o := out.(type) {
		case *adminv1.CreateTopicResponse:
			if !req.(*adminv1.CreateTopicRequest).GetValidateOnly() {
				topic = o.GetTopic()
			}
		case *adminv1.AddPartitionsResponse:
			if !req.(*adminv1.AddPartitionsRequest).GetValidateOnly() {
				topic = o.GetTopic()
			}
		}
		if topic == nil {
			return out, nil
		}
		wctx, cancel := context.WithTimeout(ctx, createReadyWait)
		defer cancel()
		var parts []int32
		for p := from; p < topic.GetPartitionCount(); p++ {
			parts = append(parts, p)
		}
		if err := r.AwaitLeaders(wctx, topic.GetName(), parts); err != nil {
			return nil, errs.New(errs.RequestTimedOut, "%s succeeded, but %v", info.FullMethod[len(adminPrefix):], err)
		}
		return out, nil
	}
}
