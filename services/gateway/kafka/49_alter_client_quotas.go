package kafka

// AlterClientQuotas, versions 0–1: sets and removes client quotas through
// the controller's admin API, each entry answering on its own as in Kafka:
// INVALID_REQUEST for an empty entity, an unknown or repeated entity type,
// an empty name, an ip entity (Strata has no connection-rate quota), an
// unknown quota key, a value not above 0 or a fractional byte rate, a key
// named twice, an entity named twice. The valid entries are written in one
// etcd transaction (unless validate_only); the gateways follow them
// through the metadata watch and enforce them (quota.go). A null entity
// name is the default entity.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(49, 0, 1, handleAlterClientQuotas) }

func handleAlterClientQuotas(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
	areq := &adminv1.AlterClientQuotasRequest{ValidateOnly: req.ValidateOnly}
	for _, e := range req.Entries {
		a := &adminv1.ClientQuotaAlteration{}
		for _, c := range e.Entity {
			comp := &adminv1.ClientQuotaEntityComponent{EntityType: c.Type, IsDefault: c.Name == nil}
			if c.Name != nil {
				comp.Name = *c.Name
			}
			a.Entity = append(a.Entity, comp)
		}
		for _, op := range e.Ops {
			a.Ops = append(a.Ops, &adminv1.ClientQuotaOp{Key: op.Key, Value: op.Value, Remove: op.Remove})
		}
		areq.Alterations = append(areq.Alterations, a)
	}
	var out *adminv1.AlterClientQuotasResponse
	code, msg := adminCall(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.d.Admin.AlterClientQuotas(ctx, areq)
		return err
	})
	for i, e := range req.Entries {
		re := kmsg.NewAlterClientQuotasResponseEntry()
		for _, c := range e.Entity {
			ent := kmsg.NewAlterClientQuotasResponseEntryEntity()
			ent.Type, ent.Name = c.Type, c.Name
			re.Entity = append(re.Entity, ent)
		}
		switch {
		case code != 0:
			re.ErrorCode, re.ErrorMessage = code, msg
		case i < len(out.GetResults()) && out.GetResults()[i].GetError() != nil:
			d := out.GetResults()[i].GetError()
			m := d.GetMessage()
			re.ErrorCode, re.ErrorMessage = int16(d.GetKafkaErrorCode()), &m
		}
		resp.Entries = append(resp.Entries, re)
	}
	return resp, nil
}
