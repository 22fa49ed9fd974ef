package kafka

import (
	"context"
	"reflect"
	"testing"

	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/auth"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Every served API key has an authorization rule: a new API cannot be
// served unchecked.
func TestAuthzRulesCoverEveryAPI(t *testing.T) {
	for _, a := range servedAPIs() {
		if authzRules[a.key] == nil {
			t.Errorf("%s (key %d) has no row in authzRules", apiName(a.key), a.key)
		}
	}
	for key := range authzRules {
		if _, ok := apis[key]; !ok {
			t.Errorf("authzRules has a row for key %d, which is not served", key)
		}
	}
}

func testAuthz(bs ...acl.Binding) authz {
	return authz{a: acl.New(acl.Config{Enabled: true}, acl.StaticSource(bs)), p: auth.User("alice"), host: "127.0.0.2"}
}

func allowAlice(rt acl.ResourceType, name string, op acl.Operation) acl.Binding {
	return acl.Binding{ResourceType: rt, ResourceName: name, PatternType: acl.PatternLiteral, Principal: "User:alice",
		Host: "*", Operation: op, Permission: acl.PermAllow}
}

// runRule runs a rule as authorize does, with handle as the handler.
func runRule(t *testing.T, z authz, body kmsg.Request, handle func(kmsg.Request) kmsg.Response) kmsg.Response {
	t.Helper()
	r := &request{key: body.Key(), version: body.GetVersion(), body: body}
	deny, after := authzRules[r.key](z, r)
	if deny != nil {
		return deny
	}
	resp := handle(r.body)
	if after != nil {
		after(resp)
	}
	return resp
}

// A denied topic is taken out of the request and answered
// TOPIC_AUTHORIZATION_FAILED per partition; the allowed one reaches the
// handler.
func TestAuthzProduceSplitsTopics(t *testing.T) {
	z := testAuthz(allowAlice(acl.ResourceTopic, "ok", acl.OpWrite))
	mkReq := func(acks int16) *kmsg.ProduceRequest {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks = acks
		for _, name := range []string{"ok", "no"} {
			rt := kmsg.NewProduceRequestTopic()
			rt.Topic = name
			for p := int32(0); p < 2; p++ {
				rp := kmsg.NewProduceRequestTopicPartition()
				rp.Partition = p
				rt.Partitions = append(rt.Partitions, rp)
			}
			req.Topics = append(req.Topics, rt)
		}
		return req
	}
	req := mkReq(-1)
	var handled []string
	resp := runRule(t, z, req, func(b kmsg.Request) kmsg.Response {
		pr := b.(*kmsg.ProduceRequest)
		out := pr.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range pr.Topics {
			handled = append(handled, t.Topic)
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			out.Topics = append(out.Topics, rt)
		}
		return out
	}).(*kmsg.ProduceResponse)
	if len(handled) != 1 || handled[0] != "ok" {
		t.Fatalf("handler saw %v", handled)
	}
	if len(resp.Topics) != 2 || resp.Topics[1].Topic != "no" || len(resp.Topics[1].Partitions) != 2 ||
		resp.Topics[1].Partitions[1].Partition != 1 || resp.Topics[1].Partitions[1].ErrorCode != errTopicAuthz {
		t.Fatalf("response %+v", resp.Topics)
	}

	// acks=0 has no response to carry the error: the connection closes.
	if deny, _ := authzRules[0](z, &request{key: 0, version: 9, body: mkReq(0)}); deny != errDenyClose {
		t.Fatalf("acks=0 to a refused topic: %v", deny)
	}
	req = mkReq(-1)
	txn := "tx"
	req.TransactionID = &txn
	resp = runRule(t, z, req, func(kmsg.Request) kmsg.Response { t.Fatal("handler ran"); return nil }).(*kmsg.ProduceResponse)
	if resp.Topics[0].Partitions[0].ErrorCode != errTxnAuthz {
		t.Fatalf("transactional produce without WRITE on the id: %+v", resp.Topics)
	}
}

// Metadata for every topic lists only the describable ones; a named one
// the principal may not describe is TOPIC_AUTHORIZATION_FAILED.
func TestAuthzMetadataFilters(t *testing.T) {
	z := testAuthz(allowAlice(acl.ResourceTopic, "seen", acl.OpRead))
	handler := func(b kmsg.Request) kmsg.Response {
		mr := b.(*kmsg.MetadataRequest)
		out := mr.ResponseKind().(*kmsg.MetadataResponse)
		names := []string{"seen", "hidden"}
		if mr.Topics != nil {
			names = nil
			for _, t := range mr.Topics {
				names = append(names, *t.Topic)
			}
		}
		for _, n := range names {
			mt := kmsg.NewMetadataResponseTopic()
			mt.Topic = &n
			out.Topics = append(out.Topics, mt)
		}
		return out
	}
	all := kmsg.NewPtrMetadataRequest()
	all.SetVersion(9)
	resp := runRule(t, z, all, handler).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || *resp.Topics[0].Topic != "seen" {
		t.Fatalf("all topics: %+v", resp.Topics)
	}
	named := kmsg.NewPtrMetadataRequest()
	named.SetVersion(9)
	for _, n := range []string{"seen", "hidden"} {
		mt := kmsg.NewMetadataRequestTopic()
		mt.Topic = &n
		named.Topics = append(named.Topics, mt)
	}
	resp = runRule(t, z, named, handler).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 2 || resp.Topics[0].ErrorCode != 0 || *resp.Topics[1].Topic != "hidden" || resp.Topics[1].ErrorCode != errTopicAuthz {
		t.Fatalf("named topics: %+v", resp.Topics)
	}
	// v0 reads an empty topic list as every topic: a request whose topics
	// are all refused must not turn into one.
	v0 := kmsg.NewPtrMetadataRequest()
	v0.SetVersion(0)
	hidden := "hidden"
	v0.Topics = []kmsg.MetadataRequestTopic{{Topic: &hidden}}
	resp = runRule(t, z, v0, func(b kmsg.Request) kmsg.Response {
		mr := b.(*kmsg.MetadataRequest)
		if len(mr.Topics) != 0 {
			t.Fatalf("handler asked for %v", mr.Topics)
		}
		return handler(&kmsg.MetadataRequest{Version: 0}) // what the handler answers for every topic
	}).(*kmsg.MetadataResponse)
	if len(resp.Topics) != 1 || *resp.Topics[0].Topic != "hidden" || resp.Topics[0].ErrorCode != errTopicAuthz {
		t.Fatalf("v0, every named topic refused: %+v", resp.Topics)
	}
}

// Whole-request rules fill the API's top-level error; configs are checked
// per resource (a broker's against the cluster).
func TestAuthzWholeAndConfigs(t *testing.T) {
	z := testAuthz(allowAlice(acl.ResourceTopic, "t", acl.OpAlterConfigs))
	jg := kmsg.NewPtrJoinGroupRequest()
	jg.Group = "g"
	if resp := runRule(t, z, jg, nil).(*kmsg.JoinGroupResponse); resp.ErrorCode != errGroupAuthz {
		t.Fatalf("JoinGroup: %d", resp.ErrorCode)
	}
	dc := kmsg.NewPtrDescribeConfigsRequest()
	for _, r := range []struct {
		typ  kmsg.ConfigResourceType
		name string
	}{{2, "t"}, {4, "1"}, {2, "u"}} {
		rr := kmsg.NewDescribeConfigsRequestResource()
		rr.ResourceType, rr.ResourceName = r.typ, r.name
		dc.Resources = append(dc.Resources, rr)
	}
	resp := runRule(t, z, dc, func(b kmsg.Request) kmsg.Response {
		req := b.(*kmsg.DescribeConfigsRequest)
		if len(req.Resources) != 1 || req.Resources[0].ResourceName != "t" { // ALTER_CONFIGS implies DESCRIBE_CONFIGS
			t.Fatalf("handler saw %+v", req.Resources)
		}
		out := req.ResponseKind().(*kmsg.DescribeConfigsResponse)
		out.Resources = append(out.Resources, kmsg.NewDescribeConfigsResponseResource())
		return out
	}).(*kmsg.DescribeConfigsResponse)
	if len(resp.Resources) != 3 || resp.Resources[1].ErrorCode != errClusterAuthz || resp.Resources[2].ErrorCode != errTopicAuthz {
		t.Fatalf("DescribeConfigs: %+v", resp.Resources)
	}
}

// With the authorizer off, dispatch never consults a rule.
func TestAuthzOffRunsHandler(t *testing.T) {
	s := &Server{}
	if _, on := s.authzFor(context.Background()); on {
		t.Fatal("authorizer on without one")
	}
}

// Every rule, refusing everything, answers every served request without
// panicking: the reflection helpers hold for each kmsg type and version.
func TestAuthzRulesDenyEveryRequest(t *testing.T) {
	z := testAuthz()
	for _, a := range servedAPIs() {
		for v := a.min; v <= a.max; v++ {
			body := kmsg.RequestForKey(a.key)
			body.SetVersion(v)
			// One named element in each list the rules read.
			fillOne(reflect.ValueOf(body).Elem())
			r := &request{key: a.key, version: v, body: body}
			deny, after := authzRules[a.key](z, r)
			if deny == nil && after != nil {
				resp := body.ResponseKind()
				after(resp)
			}
			if deny != nil {
				deny.SetVersion(v)
				_ = deny.AppendTo(nil)
			}
		}
	}
}

// fillOne gives v's slices of structs and strings one element, named "x".
func fillOne(v reflect.Value) {
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		switch {
		case f.Kind() == reflect.String:
			f.SetString("x")
		case f.Kind() == reflect.Pointer && f.Type().Elem().Kind() == reflect.String:
			x := "x"
			f.Set(reflect.ValueOf(&x))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Struct:
			e := reflect.New(f.Type().Elem()).Elem()
			fillOne(e)
			f.Set(reflect.Append(reflect.MakeSlice(f.Type(), 0, 1), e))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.String:
			f.Set(reflect.Append(reflect.MakeSlice(f.Type(), 0, 1), reflect.ValueOf("x").Convert(f.Type().Elem())))
		case f.Kind() == reflect.Slice && f.Type().Elem().Kind() == reflect.Int32:
			f.Set(reflect.Append(reflect.MakeSlice(f.Type(), 0, 1), reflect.ValueOf(int32(0))))
		}
	}
}

// ConsumerGroupHeartbeat needs READ on the group and DESCRIBE on each
// topic named; ConsumerGroupDescribe DESCRIBE on each group.
func TestAuthzConsumerGroupProtocol(t *testing.T) {
	z := testAuthz(allowAlice(acl.ResourceGroup, "g", acl.OpRead), allowAlice(acl.ResourceTopic, "t", acl.OpDescribe))
	hb := func(group string, topics ...string) int16 {
		req := kmsg.NewPtrConsumerGroupHeartbeatRequest()
		req.SetVersion(1)
		req.Group, req.SubscribedTopicNames = group, topics
		return runRule(t, z, req, func(b kmsg.Request) kmsg.Response { return b.ResponseKind() }).(*kmsg.ConsumerGroupHeartbeatResponse).ErrorCode
	}
	if c := hb("g", "t"); c != 0 {
		t.Fatalf("allowed heartbeat: %d", c)
	}
	if c := hb("other", "t"); c != errGroupAuthz {
		t.Fatalf("another group: %d", c)
	}
	if c := hb("g", "t", "secret"); c != errTopicAuthz {
		t.Fatalf("a topic without DESCRIBE: %d", c)
	}
	d := kmsg.NewPtrConsumerGroupDescribeRequest()
	d.Groups = []string{"g", "other"}
	resp := runRule(t, z, d, func(b kmsg.Request) kmsg.Response {
		req := b.(*kmsg.ConsumerGroupDescribeRequest)
		out := req.ResponseKind().(*kmsg.ConsumerGroupDescribeResponse)
		for _, g := range req.Groups {
			dg := kmsg.NewConsumerGroupDescribeResponseGroup()
			dg.Group = g
			out.Groups = append(out.Groups, dg)
		}
		return out
	}).(*kmsg.ConsumerGroupDescribeResponse)
	codes := map[string]int16{}
	for _, g := range resp.Groups {
		codes[g.Group] = g.ErrorCode
	}
	if len(codes) != 2 || codes["g"] != 0 || codes["other"] != errGroupAuthz {
		t.Fatalf("ConsumerGroupDescribe: %+v", resp.Groups)
	}
}
