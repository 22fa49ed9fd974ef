package gateway

import (
	"context"
	"log/slog"
	"sync"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/strata-io/strata/internal/metadata"
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
	resp, err := c.admin.ListTopics(ctx, &adminv1.ListTopicsRequest{})
	if err != nil {
		c.log.Debug("metadata catch-up: listing topics failed", "err", err)
		return false
	}
	counts := make(map[string]int32, len(resp.GetTopics()))
	for _, t := range resp.GetTopics() {
		counts[t.GetName()] = t.GetPartitionCount()
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
