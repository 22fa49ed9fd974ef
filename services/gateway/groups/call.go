// Package groups serves the public GroupService: typed administration of
// the consumer groups Kafka clients join. It speaks to the controller's
// group coordinator with the same Kafka request bodies the Kafka listener
// forwards (groupcall), so both surfaces see one set of groups, and asks
// partition leaders for log offsets through the gateway's router.
package groups

import (
	"context"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/services/gateway/groupcall"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// clientID names the gateway in the coordinator's view of the calls.
const clientID = "strata-gateway"

// call sends one Kafka group request to the coordinator as the gateway.
func call[Resp kmsg.Response](ctx context.Context, c controllerv1.GroupCoordinatorServiceClient, req kmsg.Request) (Resp, error) {
	return groupcall.Call[Resp](ctx, c, clientID, req)
}

var kafkaErr = groupcall.KafkaErr
