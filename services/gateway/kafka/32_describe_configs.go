package kafka

// DescribeConfigs, versions 0–4. Topics (resource type 2) are answered from
// the controller's admin API: every known config with its value and
// whether it is the default or set on the topic. Brokers (type 4) are the
// gateways: they report the Kafka-listener settings that clients ask about
// (auto.create.topics.enable, num.partitions, default.replication.factor,
// socket.request.max.bytes, connections.max.idle.ms), all read-only.

import (
	"context"
	"strconv"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
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
		add := func(name, value string, source int8, readOnly bool, doc string) {
			if !wanted(name) {
				return
			}
			c := kmsg.NewDescribeConfigsResponseResourceConfig()
			c.Name, c.Value, c.ReadOnly, c.Source = name, &value, readOnly, kmsg.ConfigSource(source)
			c.IsDefault = source == 5
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
				source := int8(5) // DEFAULT_CONFIG
				if e.GetSource() == adminv1.ConfigSource_CONFIG_SOURCE_TOPIC {
					source = 1 // DYNAMIC_TOPIC_CONFIG
				}
				add(e.GetName(), e.GetValue(), source, false, e.GetDocumentation())
			}
		case resourceBroker:
			add("auto.create.topics.enable", strconv.FormatBool(s.cfg.AutoCreateTopics), 4, true, "Create a topic when a client asks for metadata of a missing one.")
			add("num.partitions", strconv.Itoa(int(s.cfg.DefaultPartitions)), 4, true, "Partitions of auto-created topics.")
			add("default.replication.factor", strconv.Itoa(int(s.defaultRF())), 4, true, "Replication factor of auto-created topics.")
			add("socket.request.max.bytes", strconv.Itoa(int(s.cfg.MaxRequestBytes)), 4, true, "The largest request accepted.")
			add("connections.max.idle.ms", strconv.FormatInt(s.cfg.IdleTimeout.Milliseconds(), 10), 4, true, "Idle connections are closed after this.")
		default:
			msg := "only topic and broker configs are served"
			rr.ErrorCode, rr.ErrorMessage = 42, &msg
		}
		resp.Resources = append(resp.Resources, rr)
	}
	return resp, nil
}
