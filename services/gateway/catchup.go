package gateway

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/topicconfig"
)

// Limits of the metadata catch-up (see router.CatchUpFunc).
const (
	// catchUpWait bounds how long a request waits for the metadata of a
	// topic the controller has and this gateway does not yet.
	catchUpWait = 2 * time.Second
	// catchUpAgainAfter is how long after asking the controller about a
	// topic it is not asked about again, so clients polling for a topic
	// (or partition) that does not exist cost the controller one read per
	// period.
	catchUpAgainAfter = 250 * time.Millisecond
	// catchUpMaxRemembered bounds the topics remembered.
	catchUpMaxRemembered = 10000
)

// catchUp brings this gateway's metadata cache up to the controller for
// topics it does not know (or knows fewer partitions of): it reads the
// topics from the controller, a linearizable etcd read, and waits for the
// watch stream to deliver them. So a topic created or grown through any
// gateway is known to every gateway by the time its creator answers.
type catchUp struct {
	cache *metadata.Cache
	admin adminv1.AdminServiceClient
	log   *slog.Logger

	mu    sync.Mutex
	asked map[string]time.Time // when the controller was last asked about a topic

	// listMu lets one ListTopics run at a time; callers that waited for
	// it reuse last when it started after they arrived.
	listMu sync.Mutex
	last   *listing
}

// listing is one answer of the controller's ListTopics.
type listing struct {
	started time.Time
	counts  map[string]int32 // partition count by topic
}

func newCatchUp(cache *metadata.Cache, admin adminv1.AdminServiceClient, log *slog.Logger) *catchUp {
	return &catchUp{cache: cache, admin: admin, log: log, asked: map[string]time.Time{}}
}

// run is the router.CatchUpFunc.
func (c *catchUp) run(ctx context.Context, topics []string) bool {
	now := time.Now()
	c.mu.Lock()
	var ask []string
	for _, t := range topics {
		if topicconfig.ValidateName(t) != nil {
			continue // it cannot exist
		}
		if at, ok := c.asked[t]; !ok || now.Sub(at) > catchUpAgainAfter {
			ask = append(ask, t)
		}
	}
	if len(c.asked)+len(ask) > catchUpMaxRemembered {
		clear(c.asked)
	}
	for _, t := range ask {
		c.asked[t] = now
	}
	c.mu.Unlock()
	if len(ask) == 0 {
		return false
	}
	ctx, cancel := context.WithTimeout(ctx, catchUpWait)
	defer cancel()
	counts, err := c.list(ctx, now)
	if err != nil {
		c.log.Debug("metadata catch-up: listing topics failed", "err", err)
		return false
	}
	want := map[string]int32{}
	for _, t := range ask {
		if n, ok := counts[t]; ok {
			want[t] = n
		}
	}
	if len(want) == 0 {
		return false
	}
	for {
		changed := c.cache.Changed()
		if c.has(want) {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			c.log.Debug("metadata catch-up timed out", "topics", want)
			return true
		}
	}
}

// list returns the controller's topics as read after since.
func (c *catchUp) list(ctx context.Context, since time.Time) (map[string]int32, error) {
	c.listMu.Lock()
	defer c.listMu.Unlock()
	if c.last != nil && !c.last.started.Before(since) {
		return c.last.counts, nil
	}
	started := time.Now()
	resp, err := c.admin.ListTopics(ctx, &adminv1.ListTopicsRequest{})
	if err != nil {
		return nil, fmt.Errorf("list topics on the controller: %w", err)
	}
	counts := make(map[string]int32, len(resp.GetTopics()))
	for _, t := range resp.GetTopics() {
		counts[t.GetName()] = t.GetPartitionCount()
	}
	c.last = &listing{started: started, counts: counts}
	return counts, nil
}

// has reports whether the cache holds every partition of each topic.
func (c *catchUp) has(want map[string]int32) bool {
	for name, n := range want {
		t, ok := c.cache.Topic(name)
		if !ok || t.GetPartitionCount() < n {
			return false
		}
		for p := range n {
			if _, ok := c.cache.Partition(name, p); !ok {
				return false
			}
		}
	}
	return true
}
