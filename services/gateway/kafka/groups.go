package kafka

import (
	"context"
	"net"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// errNotCoordinator makes a client look the coordinator up again and retry.
const errNotCoordinator = 16

// forwardGroup sends a group request to the controller's group coordinator
// unchanged and decodes its answer. When the coordinator cannot be reached
// (after waiting out an election), fail fills the response with an error
// that makes the client find the coordinator again.
func (s *Server) forwardGroup(ctx context.Context, r *request, fail func(resp kmsg.Response, code int16)) (kmsg.Response, error) {
	host := ""
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		host, _, _ = net.SplitHostPort(c.nc.RemoteAddr().String())
		host = "/" + host
	}
	var out *controllerv1.GroupCallResponse
	err := router.CallController(ctx, func(ctx context.Context) (err error) {
		out, err = s.d.Groups.GroupCall(ctx, &controllerv1.GroupCallRequest{ApiKey: int32(r.key), ApiVersion: int32(r.version),
			Body: r.raw, ClientId: r.clientID, ClientHost: host})
		return err
	})
	resp := r.body.ResponseKind()
	if err == nil {
		if err = resp.ReadFrom(out.GetBody()); err == nil {
			return resp, nil
		}
	}
	code := int16(errNotCoordinator)
	if e := errs.From(err); e != nil && !e.Detail.GetRetriable() {
		code = e.KafkaCode()
	}
	s.log.Debug("group call failed", "api", apiName(r.key), "err", err)
	resp = r.body.ResponseKind()
	fail(resp, code)
	return resp, nil
}

// connKey carries the connection in a handler's context.
type connKey struct{}
