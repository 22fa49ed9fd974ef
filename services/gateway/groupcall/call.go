// Package groupcall sends Kafka group requests (JoinGroup, SyncGroup,
// OffsetCommit, ...) to the controller's group coordinator, the one Kafka
// clients reach through the Kafka listener, so the gateway's gRPC services
// see and take part in the same groups.
package groupcall

import (
	"context"
	"fmt"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Call sends one Kafka group request to the coordinator on behalf of
// clientID (the client id group tools show for a member), waiting out a
// controller election, and decodes the answer.
func Call[Resp kmsg.Response](ctx context.Context, c controllerv1.GroupCoordinatorServiceClient, clientID string, req kmsg.Request) (Resp, error) {
	var zero Resp
	var out *controllerv1.GroupCallResponse
	err := router.CallController(ctx, func(ctx context.Context) (err error) {
		out, err = c.GroupCall(ctx, &controllerv1.GroupCallRequest{ApiKey: int32(req.Key()), ApiVersion: int32(req.GetVersion()),
			Body: req.AppendTo(nil), ClientId: clientID})
		return err
	})
	if err != nil {
		if errs.From(err) == nil {
			return zero, errs.New(errs.CoordinatorNotAvailable, "the group coordinator is not reachable: %s", errs.Message(err))
		}
		return zero, err
	}
	resp := req.ResponseKind()
	if err := resp.ReadFrom(out.GetBody()); err != nil {
		return zero, errs.New(errs.CoordinatorNotAvailable, "undecodable answer from the group coordinator: %v", err)
	}
	typed, ok := resp.(Resp)
	if !ok {
		return zero, fmt.Errorf("group call answered %T", resp)
	}
	return typed, nil
}

// KafkaErr is the error of a Kafka error code in an answer, or nil.
func KafkaErr(code int16, format string, args ...any) *errs.Error {
	if code == 0 {
		return nil
	}
	return errs.FromKafkaCode(code, fmt.Sprintf(format, args...)+": "+kafkaName(code))
}

func kafkaName(code int16) string {
	if e := kerr.ErrorForCode(code); e != nil {
		return e.Error()
	}
	return fmt.Sprintf("Kafka error %d", code)
}

// offsetFetchVersion is the OffsetFetch version the gateway asks at (one
// group per request, as before KIP-709).
const offsetFetchVersion = 7

// OffsetFetchRequest asks for group's committed offsets of the n
// partitions at(0..n-1) names, grouped by topic; n < 0 asks for all of
// them.
func OffsetFetchRequest(group string, n int, at func(i int) (topic string, partition int32)) *kmsg.OffsetFetchRequest {
	req := kmsg.NewPtrOffsetFetchRequest()
	req.SetVersion(offsetFetchVersion)
	req.Group = group
	if n < 0 {
		return req // null topics: every committed offset
	}
	req.Topics = []kmsg.OffsetFetchRequestTopic{}
	idx := map[string]int{}
	for i := range n {
		topic, partition := at(i)
		j, ok := idx[topic]
		if !ok {
			j = len(req.Topics)
			idx[topic] = j
			req.Topics = append(req.Topics, kmsg.OffsetFetchRequestTopic{Topic: topic})
		}
		req.Topics[j].Partitions = append(req.Topics[j].Partitions, partition)
	}
	return req
}
