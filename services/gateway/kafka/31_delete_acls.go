package kafka

// DeleteAcls, versions 0–3: removes the bindings matching each filter
// (Kafka's matching, as DescribeAcls) through the controller's AclService,
// in one etcd transaction, and answers each filter with the bindings it
// deleted. An UNKNOWN enum in a filter is INVALID_REQUEST for that filter.
// v0 filters are LITERAL. Needs ALTER on the cluster.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(31, 0, 3, handleDeleteACLs) }

func handleDeleteACLs(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DeleteACLsRequest)
	resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
	areq := &adminv1.DeleteAclsRequest{}
	for _, f := range req.Filters {
		areq.Filters = append(areq.Filters, aclFilter(req.Version, f.ResourceType, f.ResourceName, f.ResourcePatternType,
			f.Principal, f.Host, f.Operation, f.PermissionType))
	}
	var out *adminv1.DeleteAclsResponse
	code, msg := adminCall(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.d.ACLs.DeleteAcls(ctx, areq)
		return err
	})
	for i := range req.Filters {
		res := kmsg.NewDeleteACLsResponseResult()
		switch {
		case code != 0:
			res.ErrorCode, res.ErrorMessage = code, msg
		case i < len(out.GetResults()):
			fr := out.GetResults()[i]
			if d := fr.GetError(); d != nil {
				m := d.GetMessage()
				res.ErrorCode, res.ErrorMessage = int16(d.GetKafkaErrorCode()), &m
			}
			for _, pb := range fr.GetDeleted() {
				b := acl.FromProto(pb)
				m := kmsg.NewDeleteACLsResponseResultMatchingACL()
				m.ResourceType, m.ResourceName = kmsg.ACLResourceType(b.ResourceType), b.ResourceName
				m.ResourcePatternType = kmsg.ACLResourcePatternType(b.PatternType)
				m.Principal, m.Host = b.Principal, b.Host
				m.Operation, m.PermissionType = kmsg.ACLOperation(b.Operation), kmsg.ACLPermissionType(b.Permission)
				res.MatchingACLs = append(res.MatchingACLs, m)
			}
		}
		resp.Results = append(resp.Results, res)
	}
	return resp, nil
}
