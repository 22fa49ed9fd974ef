package router

// Read-your-writes across gateways, and new partitions that are ready
// before they are announced.
//
// Every gateway follows the controller's metadata on its own, so right
// after a topic is created (or grows) through one gateway, another may not
// know it yet. A partition this gateway does not know is therefore not
// taken as missing at once: the router asks the controller (CatchUp) and,
// when the topic exists there, waits briefly for the metadata to arrive.
// And a topic's creator answers only once every new partition's storage
// leader has taken up its leadership (AwaitLeaders), so the first produce
// after CreateTopics, through any gateway, finds a leader that accepts it.

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/metadata"
)

// CatchUpFunc waits until the metadata cache holds what the controller
// holds of the named topics, for a bounded time. It reports whether the
// cache may have changed.
type CatchUpFunc func(ctx context.Context, topics []string) bool

// SetCatchUp installs how the router catches up on topics it does not
// know; without one, an unknown partition is UNKNOWN_TOPIC_OR_PARTITION at
// once.
func (r *Router) SetCatchUp(f CatchUpFunc) { r.catchUp = f }

// CatchUp brings the cache up to date on topics (see SetCatchUp) and
// reports whether it may have changed.
func (r *Router) CatchUp(ctx context.Context, topics []string) bool {
	if r.catchUp == nil || len(topics) == 0 {
		return false
	}
	return r.catchUp(ctx, topics)
}

func topicsOf[T Routed](items []T) []string {
	var out []string
	for _, it := range items {
		out = append(out, it.RoutingPart().Topic)
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// Cache is the metadata cache the router routes by.
func (r *Router) Cache() *metadata.Cache { return r.cache }

// probeEvery bounds how often AwaitLeaders asks a leader that is not ready.
const probeEvery = 50 * time.Millisecond

// AwaitLeaders waits until each partition of topic is in the metadata cache
// and its storage leader has taken up the leadership (it answers
// ListOffsets at the leader epoch the cache names), or ctx ends; then it
// returns an error naming the partitions that are not ready.
func (r *Router) AwaitLeaders(ctx context.Context, topic string, partitions []int32) error {
	pending := slices.Clone(partitions)
	delay := 5 * time.Millisecond
	for {
		changed := r.cache.Changed()
		pending = r.probe(ctx, topic, pending)
		if len(pending) == 0 {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			sort.Slice(pending, func(i, j int) bool { return pending[i] < pending[j] })
			return fmt.Errorf("partitions %s of %s have no ready leader yet: %w", joinInts(pending), topic, ctx.Err())
		case <-changed:
		case <-t.C:
		}
		t.Stop()
		delay = min(2*delay, probeEvery)
	}
}

// probe asks each partition's leader once, in parallel per leader, and
// returns the partitions that are not ready.
func (r *Router) probe(ctx context.Context, topic string, partitions []int32) []int32 {
	byLeader := map[string][]int32{}
	var notReady []int32
	for _, p := range partitions {
		l, e := r.LeaderOf(topic, p)
		if e != nil {
			notReady = append(notReady, p)
			continue
		}
		byLeader[l.Addr] = append(byLeader[l.Addr], p)
	}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for addr, ps := range byLeader {
		wg.Add(1)
		go func() {
			defer wg.Done()
			failed := r.probeLeader(ctx, addr, topic, ps)
			mu.Lock()
			notReady = append(notReady, failed...)
			mu.Unlock()
		}()
	}
	wg.Wait()
	return notReady
}

func (r *Router) probeLeader(ctx context.Context, addr, topic string, ps []int32) []int32 {
	c, err := r.clients.Client(addr)
	if err != nil {
		return ps
	}
	req := &storagev1.ListOffsetsRequest{Partitions: make([]*storagev1.ListOffsetsPartition, len(ps))}
	for i, p := range ps {
		req.Partitions[i] = &storagev1.ListOffsetsPartition{Topic: topic, Partition: p, Timestamp: -1}
	}
	cctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	resp, err := c.ListOffsets(cctx, req)
	if err != nil || len(resp.GetPartitions()) != len(ps) {
		return ps
	}
	var out []int32
	for i, res := range resp.GetPartitions() {
		if res.GetError() != nil {
			out = append(out, ps[i])
		}
	}
	return out
}

func joinInts(ps []int32) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = fmt.Sprint(p)
	}
	return strings.Join(s, ",")
}
