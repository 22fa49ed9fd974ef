package kafka

// DescribeConfigs, versions 0–4. Topics (resource type 2) are answered from
// the controller's admin API: every known config with its value, whether
// it is the default or set on the topic, its type (v3+) and, when asked,
// its documentation. Brokers (type 4) are the gateways: a gateway answers
// for its own id with Kafka's broker configs that apply to Strata
// (brokerconfigs.go: its listener settings and the cluster's log defaults),
// all read-only; the empty name (the cluster-wide dynamic defaults) has
// none. Another broker's id is INVALID_REQUEST, as from Kafka: ask that
// broker. Synonyms (v1+) list the config itself.

import (
	"context"
	"strconv"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(32, 0, 4, handleDescribeConfigs) }

const (
	resourceTopic  = 2
	resourceBroker = 4
)

func handleDescribeConfigs(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeConfigsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
	for _, res := range req.Resources {
		rr := kmsg.NewDescribeConfigsResponseResource()
		rr.ResourceType, rr.ResourceName = res.ResourceType, res.ResourceName
		wanted := func(name string) bool {
			if res.ConfigNames == nil {
				return true
			}
			for _, n := range res.ConfigNames {
				if n == name {
					return true
				}
			}
			return false
		}
		add := func(name, value string, source kmsg.ConfigSource, typ kmsg.ConfigType, readOnly bool, doc string) {
			if !wanted(name) {
				return
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.Source, c.ConfigType = name, &value, readOnly, source, typ
			c.IsDefault = source == kmsg.ConfigSourceDefaultConfig
			if req.IncludeSynonyms {
				syn := kmsg.NewDescribeConfigsResponseResourceConfigConfigSynonym()
				syn.Name, syn.Value, syn.Source = name, &value, source
				c.ConfigSynonyms = append(c.ConfigSynonyms, syn)
			}
			if req.IncludeDocumentation && doc != "" {
				c.Documentation = &doc
			}
			rr.Configs = append(rr.Configs, c)
		}
		switch res.ResourceType {
		case resourceTopic:
			var out *adminv1.DescribeTopicConfigsResponse
			rr.ErrorCode, rr.ErrorMessage = adminCall(ctx, func(ctx context.Context) (err error) {
				out, err = s.d.Admin.DescribeTopicConfigs(ctx, &adminv1.DescribeTopicConfigsRequest{Name: res.ResourceName})
				return err
			})
			for _, e := range out.GetConfigs() {
				source := kmsg.ConfigSourceDefaultConfig
				if e.GetSource() == adminv1.ConfigSource_CONFIG_SOURCE_TOPIC {
					source = kmsg.ConfigSourceDynamicTopicConfig
				}
				typ := kmsg.ConfigTypeUnknown
				if spec, ok := topicconfig.Lookup(e.GetName()); ok {
					typ = configType(spec.Type)
				}
				add(e.GetName(), e.GetValue(), source, typ, false, e.GetDocumentation())
			}
		case resourceBroker:
			switch res.ResourceName {
			case "": // cluster-wide dynamic defaults: Strata has none
			case strconv.Itoa(int(s.d.NodeID)):
				for _, c := range s.brokerConfigs() {
					add(c.name, c.value, c.source, c.typ, true, c.doc)
				}
			default:
				msg := "broker " + strconv.Quote(res.ResourceName) + " is not this gateway (" + strconv.Itoa(int(s.d.NodeID)) + "): ask that broker"
				rr.ErrorCode, rr.ErrorMessage = kerr.InvalidRequest.Code, &msg
			}
		default:
			msg := "only topic and broker configs are served"
			rr.ErrorCode, rr.ErrorMessage = kerr.InvalidRequest.Code, &msg
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}
