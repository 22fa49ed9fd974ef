// Package router is the gateway's one routing layer, shared by the Kafka
// listener and the public gRPC API: it finds each partition's storage
// leader in the metadata cache, checks the caller's leader epoch, groups
// the work by leader and calls the leaders in parallel, and after a
// structured NOT_LEADER_OR_FOLLOWER waits for the new leader (from the
// cache, or the refusal's hint) and retries once. Errors stay Strata
// errors (internal/errs) here; the protocols turn them into Kafka or gRPC
// codes at their edge.
package router

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/rpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

// leaderChangeWait bounds how long a refused call waits for the metadata
// to name a new leader before it gives up with NOT_LEADER_OR_FOLLOWER.
const leaderChangeWait = 2 * time.Second

// notReadyRetry is how long a refused call waits before asking a leader
// that has not taken up its leadership yet once more.
const notReadyRetry = 100 * time.Millisecond

// Clients hands out a storage client for a node address: the gateway's
// connection pool in production, an in-process stub in benchmarks.
type Clients interface {
	Client(addr string) (storagev1.StorageServiceClient, error)
}

// Pool serves clients from a pool of connections.
type Pool struct{ Conns *rpc.Pool }

// Client returns a client of the node at addr.
func (p Pool) Client(addr string) (storagev1.StorageServiceClient, error) {
	c, err := p.Conns.Get(addr)
	if err != nil {
		return nil, err
	}
	return storagev1.NewStorageServiceClient(c), nil
}

// Leader is where one partition's requests go.
type Leader struct {
	Node     int32
	Addr     string
	Epoch    int32
	Replicas int
}

// Part is the routing state of one partition's share of a call; the items
// a caller routes embed it.
type Part struct {
	Topic     string
	Partition int32
	// ClientEpoch is the caller's current leader epoch, -1 when unknown:
	// an older one is FENCED_LEADER_EPOCH, a newer one UNKNOWN_LEADER_EPOCH.
	ClientEpoch int32
	// Leader is set by the router.
	Leader Leader
	// Err is the partition's failure, set by the router or by the call.
	Err *errs.Error
}

// RoutingPart returns p; items get it by embedding Part.
func (p *Part) RoutingPart() *Part { return p }

// Routed is an item that carries a Part.
type Routed interface{ RoutingPart() *Part }

// Call sends one storage request for the items of one leader. It records
// each item's result, or its failure in Err (Fail does that for a failed
// call). attempt is 0, then 1 for the retry after a leader change.
type Call[T Routed] func(ctx context.Context, client storagev1.StorageServiceClient, group []T, attempt int)

// Router routes partition work to storage leaders.
type Router struct {
	cache   *metadata.Cache
	clients Clients
	m       *metrics
	catchUp CatchUpFunc
}

// New returns a router over the metadata cache. reg may be nil (no metrics).
func New(cache *metadata.Cache, clients Clients, reg prometheus.Registerer) *Router {
	return &Router{cache: cache, clients: clients, m: newMetrics(reg)}
}

// LeaderOf finds a partition's storage leader.
func (r *Router) LeaderOf(topic string, partition int32) (Leader, *errs.Error) {
	rec, ok := r.cache.Partition(topic, partition)
	if !ok {
		return Leader{}, errs.New(errs.UnknownTopicOrPartition, "partition %s-%d does not exist", topic, partition)
	}
	if rec.GetLeader() < 0 {
		return Leader{}, errs.New(errs.LeaderNotAvailable, "partition %s-%d has no leader", topic, partition)
	}
	node, _ := r.cache.StorageNode(rec.GetLeader())
	if node == nil || node.GetAddress() == "" {
		return Leader{}, errs.New(errs.LeaderNotAvailable, "the leader of %s-%d (node %d) has no address yet", topic, partition, rec.GetLeader())
	}
	return Leader{Node: rec.GetLeader(), Addr: node.GetAddress(), Epoch: rec.GetLeaderEpoch(), Replicas: len(rec.GetReplicas())}, nil
}

// checkEpoch compares the caller's leader epoch with the leader's.
func checkEpoch(p *Part, l Leader) *errs.Error {
	switch {
	case p.ClientEpoch < 0 || p.ClientEpoch == l.Epoch:
		return nil
	case p.ClientEpoch < l.Epoch:
		return errs.New(errs.FencedLeaderEpoch, "leader epoch %d of %s-%d is older than the current %d", p.ClientEpoch, p.Topic, p.Partition, l.Epoch)
	default:
		return errs.New(errs.UnknownLeaderEpoch, "leader epoch %d of %s-%d is newer than the current %d", p.ClientEpoch, p.Topic, p.Partition, l.Epoch)
	}
}

// Do routes items to their leaders and runs call once per leader, in
// parallel. Items refused with NOT_LEADER_OR_FOLLOWER are sent once more to
// the new leader once the metadata (or the refusal's hint) names one;
// those that are refused again keep the error. op names the call in
// metrics.
func Do[T Routed](ctx context.Context, r *Router, op string, items []T, call Call[T]) {
	byLeader := map[string][]T{}
	route := func(it T) {
		p := it.RoutingPart()
		l, e := r.LeaderOf(p.Topic, p.Partition)
		if e == nil {
			e = checkEpoch(p, l)
		}
		if p.Leader, p.Err = l, e; e == nil {
			byLeader[l.Addr] = append(byLeader[l.Addr], it)
		}
	}
	var unknown []T
	for _, it := range items {
		if route(it); it.RoutingPart().Err != nil && it.RoutingPart().Err.Code() == errs.UnknownTopicOrPartition {
			unknown = append(unknown, it)
		}
	}
	if len(unknown) > 0 && r.CatchUp(ctx, topicsOf(unknown)) {
		for _, it := range unknown {
			route(it)
		}
	}
	round(ctx, r, op, byLeader, call, 0)
	// The refused items wait for their new leaders together, so a request
	// of many refused partitions waits leaderChangeWait at most, not once
	// per partition.
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		retry = map[string][]T{}
	)
	for _, it := range items {
		p := it.RoutingPart()
		if p.Err == nil || p.Err.Code() != errs.NotLeaderOrFollower {
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			l, e := r.awaitLeaderChange(ctx, p.Topic, p.Partition, p.Leader, p.Err)
			if e == nil {
				e = checkEpoch(p, l)
			}
			if e != nil {
				p.Err = e
				return
			}
			p.Leader, p.Err = l, nil
			mu.Lock()
			retry[l.Addr] = append(retry[l.Addr], it)
			mu.Unlock()
		}()
	}
	wg.Wait()
	if len(retry) > 0 {
		r.m.retried(op, len(retry))
		round(ctx, r, op, retry, call, 1)
	}
}

func round[T Routed](ctx context.Context, r *Router, op string, byLeader map[string][]T, call Call[T], attempt int) {
	one := func(addr string, group []T) {
		client, err := r.clients.Client(addr)
		if err != nil {
			Fail(group, err)
			return
		}
		start := time.Now()
		call(ctx, client, group, attempt)
		var failed []string
		for _, it := range group {
			if e := it.RoutingPart().Err; e != nil {
				failed = append(failed, e.Code().String())
			}
		}
		r.m.called(op, time.Since(start), failed)
	}
	if len(byLeader) == 1 {
		// One leader (most small requests): call it on this goroutine, a
		// hand-off less each way.
		for addr, group := range byLeader {
			one(addr, group)
		}
		return
	}
	var wg sync.WaitGroup
	for addr, group := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			one(addr, group)
		}()
	}
	wg.Wait()
}

// Fail records err as the failure of every item of a group.
func Fail[T Routed](group []T, err error) {
	e := Error(err)
	for _, it := range group {
		it.RoutingPart().Err = e
	}
}

// Error turns a failed call into a Strata error: the error it carries, or
// REQUEST_TIMED_OUT for a deadline, LEADER_NOT_AVAILABLE for an unreachable
// or cancelled peer (retriable), STORAGE_ERROR otherwise.
func Error(err error) *errs.Error {
	if e := errs.From(err); e != nil {
		return e
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded) || status.Code(err) == codes.DeadlineExceeded:
		return errs.New(errs.RequestTimedOut, "%s", errs.Message(err))
	case errors.Is(err, context.Canceled) || status.Code(err) == codes.Unavailable || status.Code(err) == codes.Canceled:
		return errs.New(errs.LeaderNotAvailable, "storage node unreachable: %s", errs.Message(err))
	}
	return errs.New(errs.StorageError, "%s", errs.Message(err))
}

// FromDetail is the error a partition's result carries, or nil.
func FromDetail(d *commonv1.ErrorDetail) *errs.Error {
	if d == nil {
		return nil
	}
	msg := d.GetMessage()
	if msg == "" {
		msg = d.GetCode().String()
	}
	return &errs.Error{Detail: d, Msg: msg}
}

// awaitLeaderChange waits briefly for the metadata cache to move a
// partition's leader away from the one that refused, and returns the new
// leader (or the hint's, when the cache has not caught up). A refusal
// without a hint comes from a node that leads the partition in its own
// metadata but has not taken the leadership up yet (the log is still
// opening): while the cache names that node still, it is asked again
// after notReadyRetry.
func (r *Router) awaitLeaderChange(ctx context.Context, topic string, partition int32, old Leader, refusal *errs.Error) (Leader, *errs.Error) {
	deadline := time.NewTimer(leaderChangeWait)
	defer deadline.Stop()
	var again <-chan time.Time
	if refusal.Detail.GetLeader() == nil {
		t := time.NewTimer(notReadyRetry)
		defer t.Stop()
		again = t.C
	}
	for {
		ch := r.cache.Changed()
		l, e := r.LeaderOf(topic, partition)
		if e == nil && (l.Node != old.Node || l.Epoch != old.Epoch) {
			return l, nil
		}
		if h := refusal.Detail.GetLeader(); h != nil && h.GetLeaderAddress() != "" && h.GetLeaderId() >= 0 && h.GetLeaderId() != old.Node {
			return Leader{Node: h.GetLeaderId(), Addr: h.GetLeaderAddress(), Epoch: h.GetLeaderEpoch(), Replicas: old.Replicas}, nil
		}
		select {
		case <-ch:
		case <-again:
			if e == nil && l.Node == old.Node && l.Epoch == old.Epoch {
				return l, nil
			}
		case <-deadline.C:
			return l, refusal
		case <-ctx.Done():
			return l, refusal
		}
	}
}
