package kafka

// DescribeCluster, versions 0–1: the gateways as brokers (as in Metadata),
// this gateway as the controller (it forwards admin calls to the active
// Strata controller), and the cluster id.

import (
	"context"

	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(60, 0, 1, handleDescribeCluster) }

func handleDescribeCluster(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeClusterRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClusterResponse)
	if req.Version >= 1 && req.EndpointType != 1 {
		msg := "only broker endpoints are served"
		resp.ErrorCode, resp.ErrorMessage = 42, &msg
		return resp, nil
	}
	resp.ClusterID, resp.ControllerID, resp.EndpointType = s.d.ClusterID, s.d.NodeID, 1
	for _, b := range s.brokers(ctx) {
		rb := kmsg.NewDescribeClusterResponseBroker()
		rb.NodeID, rb.Host, rb.Port = b.id, b.host, b.port
		resp.Brokers = append(resp.Brokers, rb)
	}
	return resp, nil
}
