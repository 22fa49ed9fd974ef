package gateway

// Authorization of the public gRPC API, and so of REST (grpc-gateway calls
// the same gRPC handlers over loopback): one interceptor, unary and
// stream, looks each method up in grpcRules, the operation and resource
// Kafka would check for the same work (the Kafka listener's table is
// services/gateway/kafka/authz.go; both ask one acl.Authorizer). A refused
// call is PERMISSION_DENIED with the Kafka code (TOPIC_AUTHORIZATION_FAILED,
// GROUP_…, CLUSTER_…) in its ErrorDetail. A call that names several
// resources is refused whole if any one is refused; ListTopics and
// ListGroups answer only what the principal may DESCRIBE.

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"net"
	"net/http"
	"strings"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/acl"
	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/errs"
	"google.golang.org/grpc"
	grpcmd "google.golang.org/grpc/metadata"
	"google.golang.org/grpc/peer"
)

// grpcAuthz is one call's view of the authorizer.
type grpcAuthz struct {
	a    *acl.Authorizer
	p    auth.Principal
	host string
}

func (z grpcAuthz) check(op acl.Operation, rt acl.ResourceType, name string) error {
	if z.a.Authorize(z.p, z.host, op, rt, name) {
		return nil
	}
	code := map[acl.ResourceType]errs.Code{acl.ResourceTopic: errs.TopicAuthorizationFailed,
		acl.ResourceGroup: errs.GroupAuthorizationFailed, acl.ResourceCluster: errs.ClusterAuthorizationFailed,
		acl.ResourceTransactionalID: errs.TransactionalIDAuthorizationFailed}[rt]
	return errs.New(code, "%s may not %s %s %q", z.p, op, rt, name)
}

func (z grpcAuthz) topic(op acl.Operation, name string) error {
	return z.check(op, acl.ResourceTopic, name)
}
func (z grpcAuthz) group(op acl.Operation, name string) error {
	return z.check(op, acl.ResourceGroup, name)
}
func (z grpcAuthz) cluster(op acl.Operation) error {
	return z.check(op, acl.ResourceCluster, acl.ClusterName)
}

// topics checks op on each named topic.
func (z grpcAuthz) topics(op acl.Operation, names ...string) error {
	for _, n := range names {
		if err := z.topic(op, n); err != nil {
			return err
		}
	}
	return nil
}

// grpcRule checks a unary request before the handler; filter (optional)
// trims the response to what the principal may see.
type grpcRule struct {
	check  func(z grpcAuthz, req any) error
	filter func(z grpcAuthz, resp any)
}

func onCluster(op acl.Operation) grpcRule {
	return grpcRule{check: func(z grpcAuthz, _ any) error { return z.cluster(op) }}
}

// onTopic checks op on the topic a request names in its name field.
func onTopic(op acl.Operation) grpcRule {
	return grpcRule{check: func(z grpcAuthz, req any) error {
		return z.topic(op, req.(interface{ GetName() string }).GetName())
	}}
}

// onGroup checks op on the request's group, and topicOp (when set) on
// each topic it names.
func onGroup(op, topicOp acl.Operation) grpcRule {
	return grpcRule{check: func(z grpcAuthz, req any) error {
		if err := z.group(op, req.(interface{ GetGroupId() string }).GetGroupId()); err != nil || topicOp == acl.OpUnknown {
			return err
		}
		switch r := req.(type) {
		case interface {
			GetTopics() []*streamv1.TopicPartitions
		}:
			for _, t := range r.GetTopics() {
				if err := z.topic(topicOp, t.GetTopic()); err != nil {
					return err
				}
			}
		case *streamv1.CommitOffsetsRequest:
			for _, o := range r.GetOffsets() {
				if err := z.topic(topicOp, o.GetTopic()); err != nil {
					return err
				}
			}
		}
		return nil
	}}
}

const (
	adminSvc  = "/strata.admin.v1.AdminService/"
	aclSvc    = "/strata.admin.v1.AclService/"
	userSvc   = "/strata.admin.v1.UserService/"
	streamSvc = "/strata.stream.v1.StreamService/"
	groupSvc  = "/strata.stream.v1.GroupService/"
)

// grpcRules is every public RPC's rule (TestGRPCRulesCoverEveryMethod).
var grpcRules = map[string]grpcRule{
	adminSvc + "CreateTopic": {check: func(z grpcAuthz, req any) error {
		if z.cluster(acl.OpCreate) == nil {
			return nil
		}
		return z.topic(acl.OpCreate, req.(*adminv1.CreateTopicRequest).GetName())
	}},
	adminSvc + "DeleteTopic": onTopic(acl.OpDelete),
	adminSvc + "ListTopics": {check: func(grpcAuthz, any) error { return nil }, filter: func(z grpcAuthz, resp any) {
		r := resp.(*adminv1.ListTopicsResponse)
		kept := r.Topics[:0]
		for _, t := range r.Topics {
			if z.topic(acl.OpDescribe, t.GetName()) == nil {
				kept = append(kept, t)
			}
		}
		r.Topics = kept
	}},
	adminSvc + "DescribeTopic":         onTopic(acl.OpDescribe),
	adminSvc + "AddPartitions":         onTopic(acl.OpAlter),
	adminSvc + "AlterTopicConfigs":     onTopic(acl.OpAlterConfigs),
	adminSvc + "DescribeTopicConfigs":  onTopic(acl.OpDescribeConfigs),
	adminSvc + "ReassignPartition":     onCluster(acl.OpAlter),
	adminSvc + "Rebalance":             onCluster(acl.OpAlter),
	adminSvc + "DrainNode":             onCluster(acl.OpAlter),
	adminSvc + "ElectPreferredLeaders": onCluster(acl.OpAlter),
	adminSvc + "DescribeCluster":       onCluster(acl.OpDescribe),
	adminSvc + "ElectLeaders":          onCluster(acl.OpAlter),
	adminSvc + "CancelReassignment":    onCluster(acl.OpAlter),
	adminSvc + "DescribeClientQuotas":  onCluster(acl.OpDescribeConfigs),
	adminSvc + "AlterClientQuotas":     onCluster(acl.OpAlterConfigs),

	aclSvc + "CreateAcls":   onCluster(acl.OpAlter),
	aclSvc + "DescribeAcls": onCluster(acl.OpDescribe),
	aclSvc + "DeleteAcls":   onCluster(acl.OpAlter),
	// SCRAM users, as Kafka's DescribeUserScramCredentials and
	// AlterUserScramCredentials.
	userSvc + "DescribeUserScramCredentials": onCluster(acl.OpDescribe),
	userSvc + "AlterUserScramCredentials":    onCluster(acl.OpAlter),

	streamSvc + "Produce": {check: func(z grpcAuthz, req any) error {
		return z.topic(acl.OpWrite, req.(*streamv1.ProduceRequest).GetTopic())
	}},
	streamSvc + "Fetch": {check: func(z grpcAuthz, req any) error {
		for _, p := range req.(*streamv1.FetchRequest).GetPartitions() {
			if err := z.topic(acl.OpRead, p.GetTopic()); err != nil {
				return err
			}
		}
		return nil
	}},
	streamSvc + "ListOffsets": {check: func(z grpcAuthz, req any) error {
		for _, p := range req.(*streamv1.ListOffsetsRequest).GetPartitions() {
			if err := z.topic(acl.OpDescribe, p.GetTopic()); err != nil {
				return err
			}
		}
		return nil
	}},
	// The streams are checked on their opening message (grpcStreamRules).
	streamSvc + "ProduceStream": {},
	streamSvc + "Consume":       {},

	groupSvc + "ListGroups": {check: func(grpcAuthz, any) error { return nil }, filter: func(z grpcAuthz, resp any) {
		if z.cluster(acl.OpDescribe) == nil {
			return
		}
		r := resp.(*streamv1.ListGroupsResponse)
		kept := r.Groups[:0]
		for _, g := range r.Groups {
			if z.group(acl.OpDescribe, g.GetGroupId()) == nil {
				kept = append(kept, g)
			}
		}
		r.Groups = kept
	}},
	groupSvc + "DescribeGroup": onGroup(acl.OpDescribe, acl.OpUnknown),
	groupSvc + "FetchOffsets": {check: onGroup(acl.OpDescribe, acl.OpDescribe).check, filter: func(z grpcAuthz, resp any) {
		r := resp.(*streamv1.FetchOffsetsResponse) // all the group's offsets: only describable topics
		kept := r.Offsets[:0]
		for _, o := range r.Offsets {
			if z.topic(acl.OpDescribe, o.GetTopic()) == nil {
				kept = append(kept, o)
			}
		}
		r.Offsets = kept
	}},
	groupSvc + "CommitOffsets": onGroup(acl.OpRead, acl.OpRead),
	groupSvc + "ResetOffsets":  onGroup(acl.OpRead, acl.OpRead),
	groupSvc + "DeleteGroup":   onGroup(acl.OpDelete, acl.OpUnknown),
	groupSvc + "DeleteOffsets": onGroup(acl.OpDelete, acl.OpRead),
}

// grpcStreamRules check each message a stream receives (first: its
// opening one).
var grpcStreamRules = map[string]func(z grpcAuthz, m any, first bool) error{
	streamSvc + "ProduceStream": func(z grpcAuthz, m any, first bool) error {
		if !first { // batches go to the opened topic
			return nil
		}
		return z.topic(acl.OpWrite, m.(*streamv1.ProduceStreamRequest).GetOpen().GetTopic())
	},
	streamSvc + "Consume": func(z grpcAuthz, m any, first bool) error {
		req := m.(*streamv1.ConsumeRequest)
		if first {
			o := req.GetOpen()
			if err := z.group(acl.OpRead, o.GetGroupId()); err != nil {
				return err
			}
			return z.topics(acl.OpRead, o.GetTopics()...)
		}
		for _, o := range req.GetCommit().GetOffsets() { // a commit names its topics
			if err := z.topic(acl.OpRead, o.GetTopic()); err != nil {
				return err
			}
		}
		return nil
	},
}

// guarded reports whether the authorizer covers a method: the public
// services; health and reflection are open.
func guarded(method string) bool {
	for _, p := range []string{adminSvc, aclSvc, userSvc, streamSvc, groupSvc} {
		if strings.HasPrefix(method, p) {
			return true
		}
	}
	return false
}

// authorizer is the interceptor pair over a.
type authorizer struct {
	a        *acl.Authorizer
	loopback *loopbackIdentity
}

func (au *authorizer) view(ctx context.Context) grpcAuthz {
	z := grpcAuthz{a: au.a, p: auth.FromContext(ctx)}
	if p, ok := peer.FromContext(ctx); ok && p.Addr != nil {
		z.host, _, _ = net.SplitHostPort(p.Addr.String())
	}
	if h, ok := hostFromContext(ctx); ok {
		z.host = h
	}
	return z
}

func (au *authorizer) unary(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
	ctx = au.loopback.accept(ctx)
	if !au.a.Enabled() || !guarded(info.FullMethod) {
		return handler(ctx, req)
	}
	rule, ok := grpcRules[info.FullMethod]
	if !ok || rule.check == nil {
		return nil, errs.New(errs.ClusterAuthorizationFailed, "%s has no authorization rule", info.FullMethod)
	}
	z := au.view(ctx)
	if err := rule.check(z, req); err != nil {
		return nil, err
	}
	resp, err := handler(ctx, req)
	if err == nil && rule.filter != nil && resp != nil {
		rule.filter(z, resp)
	}
	return resp, err
}

func (au *authorizer) stream(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
	ctx := au.loopback.accept(ss.Context())
	if !au.a.Enabled() || !guarded(info.FullMethod) {
		return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx})
	}
	check, ok := grpcStreamRules[info.FullMethod]
	if !ok {
		return errs.New(errs.ClusterAuthorizationFailed, "%s has no authorization rule", info.FullMethod)
	}
	return handler(srv, &ctxStream{ServerStream: ss, ctx: ctx, z: au.view(ctx), check: check})
}

// ctxStream carries the call's context and checks each message.
type ctxStream struct {
	grpc.ServerStream
	ctx   context.Context
	z     grpcAuthz
	check func(z grpcAuthz, m any, first bool) error
	recvd bool
}

func (s *ctxStream) Context() context.Context { return s.ctx }

func (s *ctxStream) RecvMsg(m any) error {
	if err := s.ServerStream.RecvMsg(m); err != nil {
		return err
	}
	if s.check == nil {
		return nil
	}
	first := !s.recvd
	s.recvd = true
	return s.check(s.z, m, first)
}

// REST reaches the gRPC API over loopback, so the principal that
// authenticated the HTTP request (auth.FromContext of its context) travels
// in call metadata with a secret of this gateway process: a call that
// carries the secret is the gateway's own REST handler, and only then is
// its principal believed.
const (
	principalHeader = "strata-rest-principal"
	hostHeader      = "strata-rest-host"
	secretHeader    = "strata-rest-secret"
)

type loopbackIdentity struct{ secret string }

func newLoopbackIdentity() *loopbackIdentity {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // crypto/rand never fails on supported platforms
	return &loopbackIdentity{secret: hex.EncodeToString(b)}
}

type hostKey struct{}

func hostFromContext(ctx context.Context) (string, bool) {
	h, ok := ctx.Value(hostKey{}).(string)
	return h, ok
}

// hostContext returns ctx carrying the client address of an HTTP request
// (host ACLs match it), for the REST bridge.
func hostContext(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, hostKey{}, host)
}

// outgoing adds the principal and host of ctx to a loopback call.
func (l *loopbackIdentity) outgoing(ctx context.Context) context.Context {
	kv := []string{secretHeader, l.secret, principalHeader, auth.FromContext(ctx).String()}
	if h, ok := hostFromContext(ctx); ok {
		kv = append(kv, hostHeader, h)
	}
	return grpcmd.AppendToOutgoingContext(ctx, kv...)
}

// accept believes the principal of a call from this gateway's REST handler.
func (l *loopbackIdentity) accept(ctx context.Context) context.Context {
	md, ok := grpcmd.FromIncomingContext(ctx)
	if !ok || l == nil {
		return ctx
	}
	sec := md.Get(secretHeader)
	if len(sec) != 1 || subtle.ConstantTimeCompare([]byte(sec[0]), []byte(l.secret)) != 1 {
		return ctx
	}
	// An HTTP client can add metadata of its own (grpc-gateway forwards
	// Grpc-Metadata-* headers): anything but exactly one value each falls
	// back to ANONYMOUS and to a host only * ACLs match.
	p, host := auth.Anonymous, ""
	if ps := md.Get(principalHeader); len(ps) == 1 {
		if parsed, err := auth.Parse(ps[0]); err == nil {
			p = parsed
		}
	}
	if hs := md.Get(hostHeader); len(hs) == 1 {
		host = hs[0]
	}
	return hostContext(auth.NewContext(ctx, p), host)
}

// restConn is the loopback connection REST calls through, adding the
// caller's identity to every call.
type restConn struct {
	grpc.ClientConnInterface
	id *loopbackIdentity
}

func (c restConn) Invoke(ctx context.Context, method string, args, reply any, opts ...grpc.CallOption) error {
	return c.ClientConnInterface.Invoke(c.id.outgoing(ctx), method, args, reply, opts...)
}

func (c restConn) NewStream(ctx context.Context, desc *grpc.StreamDesc, method string, opts ...grpc.CallOption) (grpc.ClientStream, error) {
	return c.ClientConnInterface.NewStream(c.id.outgoing(ctx), desc, method, opts...)
}

// restHosts gives each REST request the client's address for host ACLs.
func restHosts(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if host, _, err := net.SplitHostPort(r.RemoteAddr); err == nil {
			r = r.WithContext(hostContext(r.Context(), host))
		}
		next.ServeHTTP(w, r)
	})
}
