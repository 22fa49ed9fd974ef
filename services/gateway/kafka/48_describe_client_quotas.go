package kafka

// DescribeClientQuotas, versions 0–1: the client quota entities matching
// the filter, read from the controller (a linearizable read, so a quota
// just altered through any gateway is seen), with Kafka's filter rules:
// match type 0 exact, 1 default, 2 any (MATCH_TYPE_SPECIFIED); strict
// leaves out entities with parts the filter does not name. An empty or
// repeated entity type, or a match string where none belongs, is
// INVALID_REQUEST; an entity type other than user, client-id and ip is
// UNSUPPORTED_VERSION, as from Kafka. Quota keys: producer_byte_rate,
// consumer_byte_rate and Strata's request_rate (see docs/kafka.md).

import (
	"context"
	"sort"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(48, 0, 1, handleDescribeClientQuotas) }

func handleDescribeClientQuotas(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeClientQuotasRequest)
	resp := req.ResponseKind().(*kmsg.DescribeClientQuotasResponse)
	areq := &adminv1.DescribeClientQuotasRequest{Strict: req.Strict}
	for _, c := range req.Components {
		mt := adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_UNSPECIFIED
		switch c.MatchType {
		case 0:
			mt = adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_EXACT
		case 1:
			mt = adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_DEFAULT
		case 2:
			mt = adminv1.QuotaMatchType_QUOTA_MATCH_TYPE_ANY
		}
		areq.Components = append(areq.Components, &adminv1.ClientQuotaFilterComponent{EntityType: c.EntityType, MatchType: mt, Match: c.Match})
	}
	var out *adminv1.DescribeClientQuotasResponse
	resp.ErrorCode, resp.ErrorMessage = adminCall(ctx, func(ctx context.Context) error {
		var err error
		out, err = s.d.Admin.DescribeClientQuotas(ctx, areq)
		return err
	})
	if resp.ErrorCode != 0 {
		return resp, nil
	}
	for _, e := range out.GetEntries() {
		re := kmsg.NewDescribeClientQuotasResponseEntry()
		for _, c := range e.GetEntity() {
			ent := kmsg.NewDescribeClientQuotasResponseEntryEntity()
			ent.Type = c.GetEntityType()
			if !c.GetIsDefault() {
				name := c.GetName()
				ent.Name = &name
			}
			re.Entity = append(re.Entity, ent)
		}
		for _, k := range sortedKeys(e.GetValues()) {
			v := kmsg.NewDescribeClientQuotasResponseEntryValue()
			v.Key, v.Value = k, e.GetValues()[k]
			re.Values = append(re.Values, v)
		}
		resp.Entries = append(resp.Entries, re)
	}
	return resp, nil
}

func sortedKeys(m map[string]float64) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}
