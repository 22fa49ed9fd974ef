package controller

// Client quotas (KIP-13, KIP-546): AlterClientQuotas and
// DescribeClientQuotas keep one ClientQuotaRecord per entity under
// /strata/quotas/; the gateways follow them through the watch stream and
// enforce them (services/gateway/kafka/quota.go).

import (
	"context"
	"fmt"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/quota"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxQuotaAlterations bounds the entities of one AlterClientQuotas (each is
// a compare and an op in one etcd transaction).
const maxQuotaAlterations = 500

func componentsIn(cs []*adminv1.ClientQuotaEntityComponent) []quota.Component {
	out := make([]quota.Component, len(cs))
	for i, c := range cs {
		out[i] = quota.Component{Type: c.GetEntityType(), Name: c.GetName(), Default: c.GetIsDefault()}
	}
	return out
}

func componentsOut(e quota.Entity) []*adminv1.ClientQuotaEntityComponent {
	var out []*adminv1.ClientQuotaEntityComponent
	for _, c := range e.Components() {
		out = append(out, &adminv1.ClientQuotaEntityComponent{EntityType: c.Type, Name: c.Name, IsDefault: c.Default})
	}
	return out
}

// quotaChange is one valid alteration.
type quotaChange struct {
	result *adminv1.ClientQuotaAlterationResult
	entity quota.Entity
	set    map[string]float64
	remove []string
}

func checkAlteration(a *adminv1.ClientQuotaAlteration) (*quotaChange, error) {
	e, err := quota.ParseEntity(componentsIn(a.GetEntity()))
	if err != nil {
		return nil, err
	}
	ch := &quotaChange{entity: e, set: map[string]float64{}}
	seen := map[string]bool{}
	for _, op := range a.GetOps() {
		if seen[op.GetKey()] {
			return nil, fmt.Errorf("duplicate quota key %s, not updating quota for entity %s", op.GetKey(), e)
		}
		seen[op.GetKey()] = true
		if op.GetRemove() {
			if !quota.ValidKey(op.GetKey()) {
				return nil, fmt.Errorf("invalid configuration key %s", op.GetKey())
			}
			ch.remove = append(ch.remove, op.GetKey())
			continue
		}
		if err := quota.ValidateValue(op.GetKey(), op.GetValue()); err != nil {
			return nil, err
		}
		ch.set[op.GetKey()] = op.GetValue()
	}
	return ch, nil
}

func (h *adminHandler) AlterClientQuotas(ctx context.Context, req *adminv1.AlterClientQuotasRequest) (*adminv1.AlterClientQuotasResponse, error) {
	if n := len(req.GetAlterations()); n > maxQuotaAlterations {
		return nil, errs.New(errs.InvalidRequest, "%d quota alterations in one request, at most %d", n, maxQuotaAlterations).
			Field("alterations", "too many")
	}
	resp := &adminv1.AlterClientQuotasResponse{}
	var changes []*quotaChange
	byPath := map[string][]*quotaChange{}
	for _, a := range req.GetAlterations() {
		res := &adminv1.ClientQuotaAlterationResult{Entity: a.GetEntity()}
		resp.Results = append(resp.Results, res)
		ch, err := checkAlteration(a)
		if err != nil {
			res.Error = errs.New(errs.InvalidRequest, "%v", err).Detail
			continue
		}
		ch.result = res
		p := ch.entity.Path()
		byPath[p] = append(byPath[p], ch)
		changes = append(changes, ch)
	}
	valid := changes[:0]
	for _, ch := range changes {
		if len(byPath[ch.entity.Path()]) > 1 { // named twice: none of them applies
			ch.result.Error = errs.New(errs.InvalidRequest, "ignoring duplicate entity %s", ch.entity).Detail
			continue
		}
		valid = append(valid, ch)
	}
	if len(valid) == 0 || req.GetValidateOnly() {
		return resp, nil
	}
	for attempt := 0; ; attempt++ {
		applied, err := h.applyQuotas(ctx, valid)
		if err != nil {
			return nil, err
		}
		if applied {
			break
		}
		if attempt == 2 {
			return nil, errs.New(errs.ConcurrentUpdate, "client quotas changed concurrently; retry")
		}
	}
	h.c.log.Info("client quotas altered", "entities", len(valid))
	return resp, nil
}

// applyQuotas writes the changes in one transaction, guarded by each
// record's revision; applied is false when one changed meanwhile.
func (h *adminHandler) applyQuotas(ctx context.Context, changes []*quotaChange) (bool, error) {
	var cmps []clientv3.Cmp
	var ops []clientv3.Op
	for _, ch := range changes {
		key := mdstore.ClientQuotaKey(ch.entity.Path())
		got, err := h.c.cli.Get(ctx, key)
		if err != nil {
			return false, readErr(err)
		}
		rec := &metadatav1.ClientQuotaRecord{}
		var rev int64
		if len(got.Kvs) > 0 {
			if err := mdstore.Unmarshal(got.Kvs[0].Value, rec); err != nil {
				return false, fmt.Errorf("client quota %s: %w", key, err)
			}
			rev = got.Kvs[0].ModRevision
		}
		rec.Entity = ch.entity.ToProto()
		if rec.Quotas == nil {
			rec.Quotas = map[string]float64{}
		}
		for _, k := range ch.remove {
			delete(rec.Quotas, k)
		}
		for k, v := range ch.set {
			rec.Quotas[k] = v
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(key), "=", rev))
		if len(rec.Quotas) == 0 {
			if rev != 0 {
				ops = append(ops, clientv3.OpDelete(key))
			}
			continue
		}
		ops = append(ops, clientv3.OpPut(key, string(mdstore.Marshal(rec))))
	}
	if len(ops) == 0 {
		return true, nil
	}
	return h.c.write(ctx, cmps, ops...)
}

func (h *adminHandler) DescribeClientQuotas(ctx context.Context, req *adminv1.DescribeClientQuotasRequest) (*adminv1.DescribeClientQuotasResponse, error) {
	var fcs []quota.FilterComponent
	for _, c := range req.GetComponents() {
		fc := quota.FilterComponent{Type: c.GetEntityType(), Name: c.Match}
		switch c.GetMatchType() {
		case adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_EXACT:
			fc.Match = quota.MatchExact
		case adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_DEFAULT:
			fc.Match = quota.MatchDefault
		case adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_ANY:
			fc.Match = quota.MatchAny
		default:
			return nil, errs.New(errs.InvalidRequest, "unknown match type %v", c.GetMatchType()).Field("components", "bad match_type")
		}
		fcs = append(fcs, fc)
	}
	f, err := quota.ParseFilter(fcs, req.GetStrict())
	if err != nil {
		code := errs.InvalidRequest
		if fe, ok := err.(*quota.FilterError); ok && fe.Unsupported {
			code = errs.UnsupportedVersion
		}
		return nil, errs.New(code, "%v", err).Field("components", err.Error())
	}
	recs, err := list[metadatav1.ClientQuotaRecord](ctx, h.c.cli, mdstore.QuotasPrefix)
	if err != nil {
		return nil, err
	}
	resp := &adminv1.DescribeClientQuotasResponse{}
	for _, r := range recs {
		e := quota.FromProto(r.GetEntity())
		if f.Matches(e) {
			resp.Entries = append(resp.Entries, &adminv1.ClientQuotaEntry{Entity: componentsOut(e), Values: r.GetQuotas()})
		}
	}
	return resp, nil
}
