package kafka

// Authorization: every API key's rule lives in authzRules, run by dispatch
// before the handler, as Kafka's KafkaApis authorizes each request (the
// operation and resource of each row follow Kafka's handlers; docs/
// security.md has the table). A rule either answers the whole request
// with the API's authorization error, or takes the resources the principal
// may not use out of the request and, after the handler, adds them to the
// response with TOPIC_AUTHORIZATION_FAILED (GROUP_…, …) where Kafka puts
// them. Fetch is checked per partition in fetchParts, so fetch sessions
// keep the partitions they were given; auto-creation checks CREATE in
// autoCreate. With the authorizer off (the default) no rule runs.

import (
	"context"
	"net"
	"reflect"

	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/auth"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// PrincipalBuilder names the principal of a new connection (Kafka's
// principal.builder.class); SASL replaces it once a client authenticates.
type PrincipalBuilder func(net.Conn) auth.Principal

var (
	errTopicAuthz   = kerr.TopicAuthorizationFailed.Code
	errGroupAuthz   = kerr.GroupAuthorizationFailed.Code
	errClusterAuthz = kerr.ClusterAuthorizationFailed.Code
	errTxnAuthz     = kerr.TransactionalIDAuthorizationFailed.Code
)

// authz is one request's view of the authorizer: who asks, from where.
type authz struct {
	a    *acl.Authorizer
	p    auth.Principal
	host string
	s    *Server // for topic ids (nil in unit tests)
}

func (z authz) allow(op acl.Operation, rt acl.ResourceType, name string) bool {
	return z.a.Authorize(z.p, z.host, op, rt, name)
}

func (z authz) topic(op acl.Operation, name string) bool { return z.allow(op, acl.ResourceTopic, name) }
func (z authz) group(op acl.Operation, name string) bool { return z.allow(op, acl.ResourceGroup, name) }
func (z authz) cluster(op acl.Operation) bool {
	return z.allow(op, acl.ResourceCluster, acl.ClusterName)
}
func (z authz) txn(op acl.Operation, id string) bool {
	return z.allow(op, acl.ResourceTransactionalID, id)
}

// authzFor returns the view for a request's context; ok is false when
// the authorizer is off.
func (s *Server) authzFor(ctx context.Context) (authz, bool) {
	if !s.d.Authorizer.Enabled() {
		return authz{}, false
	}
	z := authz{a: s.d.Authorizer, p: auth.FromContext(ctx), s: s}
	if c, ok := ctx.Value(connKey{}).(*conn); ok {
		z.host = c.host
	}
	return z, true
}

// allowed is a single check for handlers that authorize mid-way (Fetch,
// auto-creation); true with the authorizer off.
func (s *Server) allowed(ctx context.Context, op acl.Operation, rt acl.ResourceType, name string) bool {
	z, on := s.authzFor(ctx)
	return !on || z.allow(op, rt, name)
}

// authzRule checks a request. A non-nil deny answers it without running
// the handler; otherwise after (when set) completes the handler's
// response with what the rule took out of the request.
type authzRule func(z authz, r *request) (deny kmsg.Response, after func(kmsg.Response))

// authorize runs the request's rule, or the handler when none applies.
func (s *Server) authorize(ctx context.Context, r *request, handle handlerFunc) (kmsg.Response, error) {
	z, on := s.authzFor(ctx)
	rule := authzRules[r.key]
	if !on || rule == nil {
		return handle(ctx, s, r)
	}
	deny, after := rule(z, r)
	if deny == errDenyClose {
		return nil, closeReason("%s refused to %s, which gets no response", apiName(r.key), z.p)
	}
	if deny != nil {
		return deny, nil
	}
	if after != nil {
		// The rule may have taken resources out of the body; group calls
		// forward the raw bytes, so they must say the same.
		r.raw = r.body.AppendTo(nil)
	}
	resp, err := handle(ctx, s, r)
	if err == nil && resp != nil && after != nil {
		after(resp)
	}
	return resp, err
}

// noCheck marks the APIs Kafka serves without authorization (ApiVersions,
// DescribeCluster) and those checked inside their handler (Fetch).
func noCheck(authz, *request) (kmsg.Response, func(kmsg.Response)) { return nil, nil }

// whole answers with code in the response's top-level error unless ok.
func whole(ok bool, r *request, code int16) kmsg.Response {
	if ok {
		return nil
	}
	resp := r.body.ResponseKind()
	setErrors(reflect.ValueOf(resp).Elem(), code, true)
	return resp
}

// setErrors sets the ErrorCode field of v (a response struct) and, when
// deep, of every struct in its slices (partitions, results).
func setErrors(v reflect.Value, code int16, deep bool) {
	if f := v.FieldByName("ErrorCode"); f.IsValid() && f.Kind() == reflect.Int16 {
		f.SetInt(int64(code))
	}
	if !deep {
		return
	}
	for i := 0; i < v.NumField(); i++ {
		f := v.Field(i)
		if f.Kind() != reflect.Slice || f.Type().Elem().Kind() != reflect.Struct {
			continue
		}
		for j := 0; j < f.Len(); j++ {
			setErrors(f.Index(j), code, true)
		}
	}
}

// nameOf reads an element's name: the element itself (a string list) or
// its field (string or nullable string); ok is false for a null name.
func nameOf(v reflect.Value, field string) (string, bool) {
	if v.Kind() == reflect.String {
		return v.String(), true
	}
	f := v.FieldByName(field)
	switch f.Kind() {
	case reflect.String:
		return f.String(), true
	case reflect.Pointer:
		if f.IsNil() {
			return "", false
		}
		return f.Elem().String(), true
	}
	return "", false
}

func setName(v reflect.Value, field, name string) {
	f := v.FieldByName(field)
	switch f.Kind() {
	case reflect.String:
		f.SetString(name)
	case reflect.Pointer:
		f.Set(reflect.ValueOf(&name))
	}
}

// split is where a request lists its resources and where the response
// answers them.
type split struct {
	reqList, reqName   string // the request's list field and each element's name field
	respList, respName string // the response's
}

// denyNamed takes the elements of the request's list that ok refuses out of
// the request and returns the after func that answers them with code: an
// entry named as the request element, its error set, and (for a partition
// list) one entry per requested partition with the error.
func denyNamed(r *request, sp split, ok func(name string) bool, code int16) func(kmsg.Response) {
	list := reflect.ValueOf(r.body).Elem().FieldByName(sp.reqList)
	if !list.IsValid() || list.Kind() != reflect.Slice {
		return nil
	}
	kept := reflect.MakeSlice(list.Type(), 0, list.Len())
	var denied []reflect.Value
	for i := 0; i < list.Len(); i++ {
		e := list.Index(i)
		if name, named := nameOf(e, sp.reqName); named && !ok(name) {
			denied = append(denied, e)
			continue
		}
		kept = reflect.Append(kept, e)
	}
	if len(denied) == 0 {
		return nil
	}
	list.Set(kept)
	return func(resp kmsg.Response) {
		out := reflect.ValueOf(resp).Elem().FieldByName(sp.respList)
		if !out.IsValid() || out.Kind() != reflect.Slice {
			return
		}
		for _, d := range denied {
			name, _ := nameOf(d, sp.reqName)
			e := newElem(out.Type().Elem())
			setName(e, sp.respName, name)
			setErrors(e, code, false)
			if d.Kind() == reflect.Struct {
				copyPartitions(d, e, code)
			}
			out.Set(reflect.Append(out, e))
		}
	}
}

// newElem is a response element with kmsg's defaults.
func newElem(t reflect.Type) reflect.Value {
	p := reflect.New(t)
	if d, ok := p.Interface().(interface{ Default() }); ok {
		d.Default()
	}
	return p.Elem()
}

// copyPartitions answers each partition the request element lists
// (Partitions or PartitionIndexes: structs with Partition, or int32s) with
// code in the response element's Partitions.
func copyPartitions(req, resp reflect.Value, code int16) {
	out := resp.FieldByName("Partitions")
	if !out.IsValid() || out.Kind() != reflect.Slice {
		return
	}
	in := req.FieldByName("Partitions")
	if !in.IsValid() {
		in = req.FieldByName("PartitionIndexes")
	}
	if !in.IsValid() || in.Kind() != reflect.Slice {
		return
	}
	for i := 0; i < in.Len(); i++ {
		p := in.Index(i)
		var id int64
		switch {
		case p.Kind() == reflect.Int32:
			id = p.Int()
		case p.Kind() == reflect.Struct && p.FieldByName("Partition").IsValid():
			id = p.FieldByName("Partition").Int()
		default:
			continue
		}
		e := newElem(out.Type().Elem())
		if f := e.FieldByName("Partition"); f.IsValid() {
			f.SetInt(id)
		}
		setErrors(e, code, false)
		out.Set(reflect.Append(out, e))
	}
}

// chain runs both afters.
func chain(fs ...func(kmsg.Response)) func(kmsg.Response) {
	var live []func(kmsg.Response)
	for _, f := range fs {
		if f != nil {
			live = append(live, f)
		}
	}
	if len(live) == 0 {
		return nil
	}
	return func(resp kmsg.Response) {
		for _, f := range live {
			f(resp)
		}
	}
}

var topics = split{"Topics", "Topic", "Topics", "Topic"}

// topicsRule denies the topics the principal may not op.
func topicsRule(op acl.Operation) authzRule {
	return func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		return nil, denyNamed(r, topics, func(n string) bool { return z.topic(op, n) }, errTopicAuthz)
	}
}

// clusterRule answers the whole request with CLUSTER_AUTHORIZATION_FAILED
// unless the principal may op on the cluster.
func clusterRule(op acl.Operation) authzRule {
	return func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		if z.cluster(op) {
			return nil, nil
		}
		return denyEverything(r, errClusterAuthz), nil
	}
}

// denyEverything answers a request with code in its top-level error and,
// for versions without one, in every topic and partition it names.
func denyEverything(r *request, code int16) kmsg.Response {
	resp := r.body.ResponseKind()
	if after := denyNamed(r, topics, func(string) bool { return false }, code); after != nil {
		after(resp)
	}
	setErrors(reflect.ValueOf(resp).Elem(), code, true)
	return resp
}

// groupRule answers with GROUP_AUTHORIZATION_FAILED unless the principal
// may op on the request's group.
func groupRule(op acl.Operation) authzRule {
	return func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		g, _ := nameOf(reflect.ValueOf(r.body).Elem(), "Group")
		return whole(z.group(op, g), r, errGroupAuthz), nil
	}
}

// authzRules is every served API key's rule (TestAuthzRulesCoverEveryAPI).
var authzRules = map[int16]authzRule{
	0:  authzProduce,
	1:  noCheck, // READ on each topic, per partition in fetchParts
	2:  topicsRule(acl.OpDescribe),
	3:  authzMetadata,
	8:  authzOffsetCommit,
	9:  authzOffsetFetch,
	10: authzFindCoordinator,
	11: groupRule(acl.OpRead),
	12: groupRule(acl.OpRead),
	13: groupRule(acl.OpRead),
	14: groupRule(acl.OpRead),
	15: authzDescribeGroups,
	16: authzListGroups,
	18: noCheck,
	19: authzCreateTopics,
	20: authzDeleteTopics,
	21: topicsRule(acl.OpDelete),
	22: authzInitProducerID,
	23: topicsRule(acl.OpDescribe),
	24: authzAddPartitionsToTxn,
	25: authzAddOffsetsToTxn,
	26: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		return whole(z.txn(acl.OpWrite, r.body.(*kmsg.EndTxnRequest).TransactionalID), r, errTxnAuthz), nil
	},
	28: authzTxnOffsetCommit,
	29: clusterRule(acl.OpDescribe),
	30: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		if z.cluster(acl.OpAlter) {
			return nil, nil
		}
		req := r.body.(*kmsg.CreateACLsRequest)
		resp := req.ResponseKind().(*kmsg.CreateACLsResponse)
		for range req.Creations {
			res := kmsg.NewCreateACLsResponseResult()
			res.ErrorCode = errClusterAuthz
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	},
	31: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		if z.cluster(acl.OpAlter) {
			return nil, nil
		}
		req := r.body.(*kmsg.DeleteACLsRequest)
		resp := req.ResponseKind().(*kmsg.DeleteACLsResponse)
		for range req.Filters {
			res := kmsg.NewDeleteACLsResponseResult()
			res.ErrorCode = errClusterAuthz
			resp.Results = append(resp.Results, res)
		}
		return resp, nil
	},
	32: configsRule(acl.OpDescribeConfigs),
	33: configsRule(acl.OpAlterConfigs),
	35: clusterRule(acl.OpDescribe),
	37: topicsRule(acl.OpAlter),
	42: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		return nil, denyNamed(r, split{"Groups", "", "Groups", "Group"},
			func(g string) bool { return z.group(acl.OpDelete, g) }, errGroupAuthz)
	},
	43: clusterRule(acl.OpAlter),
	44: configsRule(acl.OpAlterConfigs),
	45: clusterRule(acl.OpAlter),
	46: clusterRule(acl.OpDescribe),
	47: authzOffsetDelete,
	48: clusterRule(acl.OpDescribeConfigs),
	// SASL runs before a principal exists; the SCRAM user APIs need
	// DESCRIBE and ALTER on the cluster, as in Kafka.
	17: noCheck,
	36: noCheck,
	50: clusterRule(acl.OpDescribe),
	51: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		if z.cluster(acl.OpAlter) {
			return nil, nil
		}
		req := r.body.(*kmsg.AlterUserSCRAMCredentialsRequest)
		resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
		seen := map[string]bool{}
		add := func(user string) {
			if !seen[user] {
				seen[user] = true
				rr := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				rr.User, rr.ErrorCode = user, errClusterAuthz
				resp.Results = append(resp.Results, rr)
			}
		}
		for _, d := range req.Deletions {
			add(d.Name)
		}
		for _, u := range req.Upsertions {
			add(u.Name)
		}
		return resp, nil
	},
	49: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		if z.cluster(acl.OpAlterConfigs) {
			return nil, nil
		}
		req := r.body.(*kmsg.AlterClientQuotasRequest)
		resp := req.ResponseKind().(*kmsg.AlterClientQuotasResponse)
		for _, e := range req.Entries {
			re := kmsg.NewAlterClientQuotasResponseEntry()
			re.ErrorCode = errClusterAuthz
			for _, c := range e.Entity {
				rc := kmsg.NewAlterClientQuotasResponseEntryEntity()
				rc.Type, rc.Name = c.Type, c.Name
				re.Entity = append(re.Entity, rc)
			}
			resp.Entries = append(resp.Entries, re)
		}
		return resp, nil
	},
	60: noCheck,
	61: topicsRule(acl.OpRead),
	68: authzConsumerGroupHeartbeat,
	69: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) { // DESCRIBE on each group
		return nil, denyNamed(r, split{"Groups", "", "Groups", "Group"},
			func(g string) bool { return z.group(acl.OpDescribe, g) }, errGroupAuthz)
	},
	65: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		return nil, denyNamed(r, split{"TransactionalIDs", "", "TransactionStates", "TransactionalID"},
			func(id string) bool { return z.txn(acl.OpDescribe, id) }, errTxnAuthz)
	},
	66: func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		return nil, func(resp kmsg.Response) { // only the ids the principal may describe
			lr := resp.(*kmsg.ListTransactionsResponse)
			kept := lr.TransactionStates[:0]
			for _, t := range lr.TransactionStates {
				if z.txn(acl.OpDescribe, t.TransactionalID) {
					kept = append(kept, t)
				}
			}
			lr.TransactionStates = kept
		}
	},
}

// errDenyClose is the deny of a request that gets no response (acks=0):
// the connection is closed, as Kafka closes it on a failed acks=0 produce.
var errDenyClose kmsg.Response = &kmsg.ProduceResponse{}

// Produce: WRITE on the transactional id of a transactional producer (else
// every partition is TRANSACTIONAL_ID_AUTHORIZATION_FAILED), WRITE on each
// topic.
func authzProduce(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.ProduceRequest)
	if req.Acks == 0 {
		if req.TransactionID != nil && !z.txn(acl.OpWrite, *req.TransactionID) {
			return errDenyClose, nil
		}
		for _, t := range req.Topics {
			if !z.topic(acl.OpWrite, t.Topic) {
				return errDenyClose, nil
			}
		}
		return nil, nil
	}
	if req.TransactionID != nil && !z.txn(acl.OpWrite, *req.TransactionID) {
		resp := req.ResponseKind().(*kmsg.ProduceResponse)
		for _, t := range req.Topics {
			rt := kmsg.NewProduceResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewProduceResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, errTxnAuthz
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp, nil
	}
	return topicsRule(acl.OpWrite)(z, r)
}

// Metadata: only topics the principal may DESCRIBE; a named one it may not
// is TOPIC_AUTHORIZATION_FAILED (one named by id too, keeping only the id).
func authzMetadata(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.MetadataRequest)
	all := req.Topics == nil || (req.Version == 0 && len(req.Topics) == 0)
	after := denyNamed(r, topics, func(n string) bool { return z.topic(acl.OpDescribe, n) }, errTopicAuthz)
	// What the handler is asked for, by name and by id (v0 reads an empty
	// list as every topic, so a request whose topics were all refused asks
	// for all: only what was asked is kept).
	byName, byID := map[string]bool{}, map[[16]byte]bool{}
	for _, t := range req.Topics {
		if t.Topic != nil {
			byName[*t.Topic] = true
		} else {
			byID[t.TopicID] = true
		}
	}
	return nil, func(resp kmsg.Response) {
		mr := resp.(*kmsg.MetadataResponse)
		kept := mr.Topics[:0]
		for _, t := range mr.Topics {
			describable := t.Topic != nil && z.topic(acl.OpDescribe, *t.Topic)
			switch {
			case all:
				if describable {
					kept = append(kept, t)
				}
			case t.Topic != nil && byName[*t.Topic]:
				kept = append(kept, t)
			case byID[t.TopicID]:
				if t.Topic != nil && !describable { // only the id the client sent
					et := kmsg.NewMetadataResponseTopic()
					et.TopicID, et.ErrorCode = t.TopicID, errTopicAuthz
					t = et
				}
				kept = append(kept, t)
			}
		}
		mr.Topics = kept
		if after != nil {
			after(resp)
		}
	}
}

// OffsetCommit: READ on the group (else every partition is
// GROUP_AUTHORIZATION_FAILED), READ on each topic.
func authzOffsetCommit(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.OffsetCommitRequest)
	if !z.group(acl.OpRead, req.Group) {
		return denyAllPartitions(r, errGroupAuthz), nil
	}
	return topicsRule(acl.OpRead)(z, r)
}

// denyAllPartitions answers every topic and partition of the request with
// code.
func denyAllPartitions(r *request, code int16) kmsg.Response {
	resp := r.body.ResponseKind()
	if after := denyNamed(r, topics, func(string) bool { return false }, code); after != nil {
		after(resp)
	}
	return resp
}

// OffsetFetch: DESCRIBE on the group, DESCRIBE on each topic (v8 batches
// groups: each is checked on its own).
func authzOffsetFetch(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.OffsetFetchRequest)
	if req.Version < 8 {
		if !z.group(acl.OpDescribe, req.Group) {
			return denyEverything(r, errGroupAuthz), nil
		}
		if req.Topics == nil { // all the group's offsets: only describable topics
			return nil, func(resp kmsg.Response) {
				or := resp.(*kmsg.OffsetFetchResponse)
				kept := or.Topics[:0]
				for _, t := range or.Topics {
					if z.topic(acl.OpDescribe, t.Topic) {
						kept = append(kept, t)
					}
				}
				or.Topics = kept
			}
		}
		return topicsRule(acl.OpDescribe)(z, r)
	}
	var denied []string
	allTopics := map[string]bool{} // groups asking for every topic they have offsets of
	kept := req.Groups[:0]
	for _, g := range req.Groups {
		if z.group(acl.OpDescribe, g.Group) {
			kept = append(kept, g)
			allTopics[g.Group] = g.Topics == nil
		} else {
			denied = append(denied, g.Group)
		}
	}
	req.Groups = kept
	return nil, func(resp kmsg.Response) {
		or := resp.(*kmsg.OffsetFetchResponse)
		for i := range or.Groups {
			g := &or.Groups[i]
			ts := g.Topics[:0]
			for _, t := range g.Topics {
				switch {
				case z.topic(acl.OpDescribe, t.Topic):
					ts = append(ts, t)
				case allTopics[g.Group]: // not named: left out
				default:
					for j := range t.Partitions {
						t.Partitions[j].ErrorCode = errTopicAuthz
						t.Partitions[j].Offset = -1
					}
					ts = append(ts, t)
				}
			}
			g.Topics = ts
		}
		for _, name := range denied {
			g := kmsg.NewOffsetFetchResponseGroup()
			g.Group, g.ErrorCode = name, errGroupAuthz
			or.Groups = append(or.Groups, g)
		}
	}
}

// FindCoordinator: DESCRIBE on the group or transactional id looked up.
func authzFindCoordinator(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.FindCoordinatorRequest)
	check := func(key string) (bool, int16) {
		if req.CoordinatorType == 1 {
			return z.txn(acl.OpDescribe, key), errTxnAuthz
		}
		return z.group(acl.OpDescribe, key), errGroupAuthz
	}
	if req.Version < 4 {
		ok, code := check(req.CoordinatorKey)
		return whole(ok, r, code), nil
	}
	var denied []string
	var codes []int16
	kept := req.CoordinatorKeys[:0]
	for _, k := range req.CoordinatorKeys {
		if ok, code := check(k); ok {
			kept = append(kept, k)
		} else {
			denied, codes = append(denied, k), append(codes, code)
		}
	}
	req.CoordinatorKeys = kept
	if len(denied) == 0 {
		return nil, nil
	}
	return nil, func(resp kmsg.Response) {
		fr := resp.(*kmsg.FindCoordinatorResponse)
		for i, k := range denied {
			c := kmsg.NewFindCoordinatorResponseCoordinator()
			c.Key, c.ErrorCode, c.NodeID, c.Port = k, codes[i], -1, -1
			fr.Coordinators = append(fr.Coordinators, c)
		}
	}
}

// ConsumerGroupHeartbeat: READ on the group, and DESCRIBE on every topic
// it subscribes to by name (as Kafka 4.0). A regex subscription is not
// filtered by ACLs (docs/kafka.md); Fetch still checks READ per partition.
func authzConsumerGroupHeartbeat(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.ConsumerGroupHeartbeatRequest)
	code := int16(0)
	if !z.group(acl.OpRead, req.Group) {
		code = errGroupAuthz
	}
	for _, t := range req.SubscribedTopicNames {
		if code == 0 && !z.topic(acl.OpDescribe, t) {
			code = errTopicAuthz
		}
	}
	if code == 0 {
		return nil, nil
	}
	resp := req.ResponseKind().(*kmsg.ConsumerGroupHeartbeatResponse)
	resp.ErrorCode = code
	return resp, nil
}

// DescribeGroups: DESCRIBE on each group.
func authzDescribeGroups(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	return nil, denyNamed(r, split{"Groups", "", "Groups", "Group"},
		func(g string) bool { return z.group(acl.OpDescribe, g) }, errGroupAuthz)
}

// ListGroups: every group with DESCRIBE on the cluster, else only the
// groups the principal may describe.
func authzListGroups(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	if z.cluster(acl.OpDescribe) {
		return nil, nil
	}
	return nil, func(resp kmsg.Response) {
		lr := resp.(*kmsg.ListGroupsResponse)
		kept := lr.Groups[:0]
		for _, g := range lr.Groups {
			if z.group(acl.OpDescribe, g.Group) {
				kept = append(kept, g)
			}
		}
		lr.Groups = kept
	}
}

// CreateTopics: CREATE on the cluster, or else on each topic.
func authzCreateTopics(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	if z.cluster(acl.OpCreate) {
		return nil, nil
	}
	return nil, denyNamed(r, topics, func(n string) bool { return z.topic(acl.OpCreate, n) }, errTopicAuthz)
}

// DeleteTopics: DELETE on each topic (v6 names topics by name or id; one
// named by id only is checked by its name in the cache).
func authzDeleteTopics(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.DeleteTopicsRequest)
	ok := func(n string) bool { return z.topic(acl.OpDelete, n) }
	if req.Version < 6 {
		return nil, denyNamed(r, split{"TopicNames", "", "Topics", "Topic"}, ok, errTopicAuthz)
	}
	if z.s != nil { // a topic named by id only is checked by its name
		for i := range req.Topics {
			if t := &req.Topics[i]; t.Topic == nil {
				if rec := z.s.topicByID(t.TopicID); rec != nil {
					name := rec.GetName()
					t.Topic = &name
				}
			}
		}
	}
	return nil, denyNamed(r, topics, ok, errTopicAuthz)
}

// InitProducerId: WRITE on the transactional id; an idempotent producer
// needs IDEMPOTENT_WRITE on the cluster or WRITE on some topic (KIP-679).
func authzInitProducerID(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.InitProducerIDRequest)
	if req.TransactionalID != nil {
		return whole(z.txn(acl.OpWrite, *req.TransactionalID), r, errTxnAuthz), nil
	}
	ok := z.cluster(acl.OpIdempotentWrite) || z.a.AuthorizeAny(z.p, z.host, acl.OpWrite, acl.ResourceTopic)
	return whole(ok, r, errClusterAuthz), nil
}

// AddPartitionsToTxn: WRITE on the transactional id and on each topic; if
// any topic is refused, nothing is added: the refused partitions are
// TOPIC_AUTHORIZATION_FAILED, the rest OPERATION_NOT_ATTEMPTED (Kafka's).
func authzAddPartitionsToTxn(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.AddPartitionsToTxnRequest)
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	answer := func(code func(topic string) int16) kmsg.Response {
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code(t.Topic)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
		return resp
	}
	if !z.txn(acl.OpWrite, req.TransactionalID) {
		return answer(func(string) int16 { return errTxnAuthz }), nil
	}
	for _, t := range req.Topics {
		if !z.topic(acl.OpWrite, t.Topic) {
			return answer(func(topic string) int16 {
				if z.topic(acl.OpWrite, topic) {
					return kerr.OperationNotAttempted.Code
				}
				return errTopicAuthz
			}), nil
		}
	}
	return nil, nil
}

// AddOffsetsToTxn: WRITE on the transactional id, READ on the group.
func authzAddOffsetsToTxn(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.AddOffsetsToTxnRequest)
	if !z.txn(acl.OpWrite, req.TransactionalID) {
		return whole(false, r, errTxnAuthz), nil
	}
	return whole(z.group(acl.OpRead, req.Group), r, errGroupAuthz), nil
}

// TxnOffsetCommit: WRITE on the transactional id, READ on the group (else
// every partition carries the error), READ on each topic.
func authzTxnOffsetCommit(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.TxnOffsetCommitRequest)
	if !z.txn(acl.OpWrite, req.TransactionalID) {
		return denyAllPartitions(r, errTxnAuthz), nil
	}
	if !z.group(acl.OpRead, req.Group) {
		return denyAllPartitions(r, errGroupAuthz), nil
	}
	return topicsRule(acl.OpRead)(z, r)
}

// configsRule checks each config resource: op on a topic (2), or on the
// cluster for a broker (4) or broker logger (8).
func configsRule(op acl.Operation) authzRule {
	return func(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
		list := reflect.ValueOf(r.body).Elem().FieldByName("Resources")
		kept := reflect.MakeSlice(list.Type(), 0, list.Len())
		type denied struct {
			typ  int64
			name string
			code int16
		}
		var refused []denied
		for i := 0; i < list.Len(); i++ {
			e := list.Index(i)
			typ, name := e.FieldByName("ResourceType").Int(), e.FieldByName("ResourceName").String()
			ok, code := z.topic(op, name), errTopicAuthz
			if typ != 2 {
				ok, code = z.cluster(op), errClusterAuthz
			}
			if ok {
				kept = reflect.Append(kept, e)
			} else {
				refused = append(refused, denied{typ, name, code})
			}
		}
		if len(refused) == 0 {
			return nil, nil
		}
		list.Set(kept)
		return nil, func(resp kmsg.Response) {
			out := reflect.ValueOf(resp).Elem().FieldByName("Resources")
			for _, d := range refused {
				e := newElem(out.Type().Elem())
				e.FieldByName("ResourceType").SetInt(d.typ)
				e.FieldByName("ResourceName").SetString(d.name)
				e.FieldByName("ErrorCode").SetInt(int64(d.code))
				out.Set(reflect.Append(out, e))
			}
		}
	}
}

// OffsetDelete: DELETE on the group, READ on each topic.
func authzOffsetDelete(z authz, r *request) (kmsg.Response, func(kmsg.Response)) {
	req := r.body.(*kmsg.OffsetDeleteRequest)
	if !z.group(acl.OpDelete, req.Group) {
		return whole(false, r, errGroupAuthz), nil
	}
	return topicsRule(acl.OpRead)(z, r)
}
