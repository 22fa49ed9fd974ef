package kafka

// CreateAcls, versions 0–3: adds ACL bindings through the controller's
// AclService (stored in etcd, followed by every gateway through the
// metadata watch and enforced there: authz.go). Each creation answers on
// its own: INVALID_REQUEST for an UNKNOWN or ANY enum, MATCH, an empty name,
// a principal that is not Type:name, a host that is neither an IP address
// nor *, or a CLUSTER name other than kafka-cluster. v0 bindings are
// LITERAL. Needs ALTER on the cluster.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(30, 0, 3, handleCreateACLs) }

func handleCreateACLs(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.CreateACLsRequest)
	resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
	areq := &adminv1.CreateAclsRequest{}
	for _, c := range req.Creations {
		pt := acl.PatternType(c.ResourcePatternType)
		if req.Version == 0 {
			pt = acl.PatternLiteral
		}
		areq.Creations = append(areq.Creations, acl.Binding{ResourceType: acl.ResourceType(c.ResourceType),
			ResourceName: c.ResourceName, PatternType: pt, Principal: c.Principal, Host: c.Host,
			Operation: acl.Operation(c.Operation), Permission: acl.Permission(c.PermissionType)}.ToProto())
	}
	var out *adminv1.CreateAclsResponse
	code, msg := adminCall(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.d.ACLs.CreateAcls(ctx, areq)
		return err
	})
	for i := range req.Creations {
		res := kmsg.NewCreateACLsResponseResult()
		switch {
		case code != 0:
			res.ErrorCode, res.ErrorMessage = code, msg
		case i < len(out.GetResults()) && out.GetResults()[i].GetError() != nil:
			d := out.GetResults()[i].GetError()
			m := d.GetMessage()
			res.ErrorCode, res.ErrorMessage = int16(d.GetKafkaErrorCode()), &m
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
