package controller

// Kafka ACLs: CreateAcls, DescribeAcls and DeleteAcls keep one AclRecord
// per binding under /strata/acls/<path>; the gateways follow them through
// the watch stream and enforce them (internal/acl).

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

const (
	// maxACLChanges bounds the creations or filters of one call (each
	// creation is an op in one etcd transaction).
	maxACLChanges = 1000
	// maxACLs bounds the bindings stored, so the metadata every gateway
	// caches stays small.
	maxACLs = 100_000
)

// aclHandler serves strata.admin.v1.AclService.
type aclHandler struct {
	adminv1.UnimplementedAclServiceServer
	c *Controller
}

func (h *aclHandler) CreateAcls(ctx context.Context, req *adminv1.CreateAclsRequest) (*adminv1.CreateAclsResponse, error) {
	if n := len(req.GetCreations()); n > maxACLChanges {
		return nil, errs.New(errs.InvalidRequest, "%d ACL creations in one request, at most %d", n, maxACLChanges).
			Field("creations", "too many")
	}
	resp := &adminv1.CreateAclsResponse{}
	var ops []clientv3.Op
	seen := map[string]bool{} // a binding named twice is one put
	for _, c := range req.GetCreations() {
		res := &adminv1.AclCreationResult{}
		resp.Results = append(resp.Results, res)
		b := acl.FromProto(c)
		if err := b.Validate(); err != nil {
			res.Error = errs.New(errs.InvalidRequest, "%v", err).Detail
			continue
		}
		if key := mdstore.ACLKey(b.Path()); !seen[key] {
			seen[key] = true
			ops = append(ops, clientv3.OpPut(key, string(mdstore.Marshal(b.ToRecord()))))
		}
	}
	if len(ops) == 0 {
		return resp, nil
	}
	count, err := h.c.cli.Get(ctx, mdstore.ACLsPrefix, clientv3.WithPrefix(), clientv3.WithCountOnly())
	if err != nil {
		return nil, readErr(err)
	}
	if count.Count+int64(len(ops)) > maxACLs {
		return nil, errs.New(errs.InvalidRequest, "%d ACLs stored, at most %d", count.Count, maxACLs)
	}
	if _, err := h.c.write(ctx, nil, ops...); err != nil {
		return nil, err
	}
	h.c.log.Info("ACLs created", "bindings", len(ops))
	return resp, nil
}

// storedACL is a binding with the key and revision it was read at.
type storedACL struct {
	b   acl.Binding
	key string
	rev int64
}

func (h *aclHandler) bindings(ctx context.Context) ([]storedACL, error) {
	resp, err := h.c.cli.Get(ctx, mdstore.ACLsPrefix, clientv3.WithPrefix())
	if err != nil {
		return nil, readErr(err)
	}
	out := make([]storedACL, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		r := &metadatav1.AclRecord{}
		if err := mdstore.Unmarshal(kv.Value, r); err != nil {
			h.c.log.Warn("skipping an undecodable ACL record", "key", string(kv.Key), "err", err)
			continue
		}
		out = append(out, storedACL{b: acl.FromRecord(r), key: string(kv.Key), rev: kv.ModRevision})
	}
	return out, nil
}

func (h *aclHandler) DescribeAcls(ctx context.Context, req *adminv1.DescribeAclsRequest) (*adminv1.DescribeAclsResponse, error) {
	f := acl.FilterFromProto(req.GetFilter())
	if err := f.Validate(); err != nil {
		return nil, errs.New(errs.InvalidRequest, "%v", err).Field("filter", err.Error())
	}
	all, err := h.bindings(ctx)
	if err != nil {
		return nil, err
	}
	resp := &adminv1.DescribeAclsResponse{}
	for _, s := range all {
		if f.Matches(s.b) {
			resp.Bindings = append(resp.Bindings, s.b.ToProto())
		}
	}
	return resp, nil
}

func (h *aclHandler) DeleteAcls(ctx context.Context, req *adminv1.DeleteAclsRequest) (*adminv1.DeleteAclsResponse, error) {
	if n := len(req.GetFilters()); n > maxACLChanges {
		return nil, errs.New(errs.InvalidRequest, "%d ACL filters in one request, at most %d", n, maxACLChanges).
			Field("filters", "too many")
	}
	for attempt := 0; ; attempt++ {
		resp, applied, err := h.deleteOnce(ctx, req.GetFilters())
		if err != nil || applied {
			return resp, err
		}
		if attempt == 2 {
			return nil, errs.New(errs.ConcurrentUpdate, "ACLs changed concurrently; retry")
		}
	}
}

// deleteOnce deletes what the filters match in one transaction, guarded by
// each binding's revision; applied is false when one changed meanwhile.
func (h *aclHandler) deleteOnce(ctx context.Context, filters []*adminv1.AclBindingFilter) (*adminv1.DeleteAclsResponse, bool, error) {
	all, err := h.bindings(ctx)
	if err != nil {
		return nil, false, err
	}
	resp := &adminv1.DeleteAclsResponse{}
	deleted := map[string]bool{}
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for _, pf := range filters {
		res := &adminv1.DeleteAclsFilterResult{}
		resp.Results = append(resp.Results, res)
		f := acl.FilterFromProto(pf)
		if err := f.Validate(); err != nil {
			res.Error = errs.New(errs.InvalidRequest, "%v", err).Detail
			continue
		}
		for _, s := range all {
			if !f.Matches(s.b) {
				continue
			}
			res.Deleted = append(res.Deleted, s.b.ToProto())
			if !deleted[s.key] {
				deleted[s.key] = true
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(s.key), "=", s.rev))
				ops = append(ops, clientv3.OpDelete(s.key))
			}
		}
	}
	if len(ops) == 0 {
		return resp, true, nil
	}
	applied, err := h.c.write(ctx, cmps, ops...)
	if err != nil || !applied {
		return nil, applied, err
	}
	h.c.log.Info("ACLs deleted", "bindings", len(ops))
	return resp, true, nil
}
