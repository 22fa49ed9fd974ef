package kafka

// Fetch sessions (KIP-227). A consumer that fetches many partitions sends
// them all once (a full fetch, session epoch 0) and gets a session id; its
// next fetches (incremental, epochs 1, 2, …) name only the partitions whose
// fetch offset or max bytes changed, plus the ones it no longer wants
// (forgotten topics), and the answer carries only the partitions with
// something new: records, a moved high watermark or log start offset, or an
// error. Epoch -1 is a sessionless full fetch (it also closes the session it
// names). An incremental fetch for a session this gateway does not hold gets
// FETCH_SESSION_ID_NOT_FOUND, one at the wrong epoch
// INVALID_FETCH_SESSION_EPOCH; the client then starts over with a full fetch.
//
// Sessions live in a bounded cache per gateway (Kafka's
// max.incremental.fetch.session.cache.slots). When it is full a new session
// takes a slot only by evicting, as Kafka does: first the least recently
// used session, if it has been idle longer than minSessionEvictionAge; else
// the smallest session older than minSessionEvictionAge, if the new one
// caches more partitions. Otherwise the client is answered sessionless
// (session id 0) and keeps sending full fetches. Every Kafka client here is
// a consumer: Kafka's privileged (follower) sessions do not arise.
//
// Lock order: fetchSessionCache.mu, then nothing; fetchSession.mu, then
// fetchSessionCache.mu (touch). The cache never takes a session's lock.

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"time"
)

const (
	// DefaultMaxFetchSessions is Kafka's
	// max.incremental.fetch.session.cache.slots.
	DefaultMaxFetchSessions = 1000
	// minSessionEvictionAge is Kafka's min.incremental.fetch.session.eviction.ms:
	// a session idle this long is stale, and one created less than this ago
	// is evicted only when stale.
	minSessionEvictionAge = 120 * time.Second
)

// Fetch session metadata values of the protocol.
const (
	sessionlessEpoch = -1 // FINAL_EPOCH: full fetch, no session
	initialEpoch     = 0  // full fetch that opens a session
)

// nextSessionEpoch is the epoch after e (Kafka's FetchMetadata.nextEpoch).
func nextSessionEpoch(e int32) int32 {
	switch {
	case e < 0:
		return sessionlessEpoch
	case e == 1<<31-1:
		return 1
	}
	return e + 1
}

// sessionPart is one partition of a session: what the client asked last
// and what it was last told.
type sessionPart struct {
	topic       string
	partition   int32
	fetchOffset int64
	maxBytes    int32
	leaderEpoch int32
	// highWatermark and logStartOffset were last sent to the client; -1
	// after an error, so the partition is sent again once it clears.
	highWatermark  int64
	logStartOffset int64
}

type topicPartition struct {
	topic     string
	partition int32
}

// fetchSession is one incremental fetch session. mu serializes the
// requests of the session and guards epoch and the partitions.
type fetchSession struct {
	id int32
	mu sync.Mutex
	// epoch is the epoch the next incremental request must carry.
	epoch int32
	// parts are in fetch order: a partition that is sent moves to the end,
	// so a response cut short by max_bytes starts with the others next time.
	parts []*sessionPart
	index map[topicPartition]int

	// cached is false once the session left the cache.
	cached atomic.Bool

	// Guarded by the cache's mu.
	created, lastUsed time.Time
	size              int // partitions at the last touch
}

// update applies an incremental request's partitions and forgotten
// partitions to the session.
func (s *fetchSession) update(changed []sessionPart, forgotten []topicPartition) {
	for _, c := range changed {
		k := topicPartition{c.topic, c.partition}
		if i, ok := s.index[k]; ok {
			p := s.parts[i]
			p.fetchOffset, p.maxBytes, p.leaderEpoch = c.fetchOffset, c.maxBytes, c.leaderEpoch
			continue
		}
		c.highWatermark, c.logStartOffset = -1, -1
		s.index[k] = len(s.parts)
		s.parts = append(s.parts, &c)
	}
	if len(forgotten) == 0 {
		return
	}
	drop := map[topicPartition]bool{}
	for _, k := range forgotten {
		drop[k] = true
	}
	kept := s.parts[:0]
	for _, p := range s.parts {
		if !drop[topicPartition{p.topic, p.partition}] {
			kept = append(kept, p)
		}
	}
	clear(s.parts[len(kept):])
	s.parts = kept
	s.reindex()
}

func (s *fetchSession) reindex() {
	clear(s.index)
	for i, p := range s.parts {
		s.index[topicPartition{p.topic, p.partition}] = i
	}
}

// moveToEnd puts the partitions at the given positions (ascending) last,
// in the same relative order.
func (s *fetchSession) moveToEnd(sent []int) {
	if len(sent) == 0 || len(sent) == len(s.parts) {
		return
	}
	out := make([]*sessionPart, 0, len(s.parts))
	j := 0
	for i, p := range s.parts {
		if j < len(sent) && sent[j] == i {
			j++
			continue
		}
		out = append(out, p)
	}
	for _, i := range sent {
		out = append(out, s.parts[i])
	}
	s.parts = out
	s.reindex()
}

// fetchSessionCache holds the sessions of one gateway.
type fetchSessionCache struct {
	mu         sync.Mutex
	max        int
	evictAfter time.Duration
	now        func() time.Time
	sessions   map[int32]*fetchSession
	partitions int // sum of the sessions' sizes
	evictions  int
}

func newFetchSessionCache(maxSessions int) *fetchSessionCache {
	return &fetchSessionCache{max: maxSessions, evictAfter: minSessionEvictionAge, now: time.Now, sessions: map[int32]*fetchSession{}}
}

// get returns a cached session.
func (c *fetchSessionCache) get(id int32) (*fetchSession, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.sessions[id]
	return s, ok
}

// remove drops a session from the cache; a request holding it finishes,
// and the client's next one gets FETCH_SESSION_ID_NOT_FOUND.
func (c *fetchSessionCache) remove(id int32) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.removeLocked(id)
}

func (c *fetchSessionCache) removeLocked(id int32) {
	if s, ok := c.sessions[id]; ok {
		delete(c.sessions, id)
		c.partitions -= s.size
		s.cached.Store(false)
	}
}

// create makes a session of parts (taken over by the session), evicting
// another if the cache is full and the rules allow; nil if there is no
// slot for it.
func (c *fetchSessionCache) create(parts []*sessionPart) *fetchSession {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.max <= 0 {
		return nil
	}
	now := c.now()
	if len(c.sessions) >= c.max && !c.evictFor(len(parts), now) {
		return nil
	}
	s := &fetchSession{id: c.newID(), epoch: nextSessionEpoch(initialEpoch), parts: parts,
		index: make(map[topicPartition]int, len(parts)), created: now, lastUsed: now, size: len(parts)}
	s.cached.Store(true)
	s.reindex()
	c.sessions[s.id] = s
	c.partitions += s.size
	return s
}

// newID picks an unused positive session id.
func (c *fetchSessionCache) newID() int32 {
	for {
		id := rand.Int32N(1<<31-1) + 1
		if _, taken := c.sessions[id]; !taken {
			return id
		}
	}
}

// evictFor tries to free a slot for a new session of size partitions
// (Kafka's FetchSessionCache.tryEvict): the least recently used session if
// it is stale; otherwise the smallest session past its minimum age, if it
// is smaller than the new one (the lower id first among equals).
func (c *fetchSessionCache) evictFor(size int, now time.Time) bool {
	var lru, smallest *fetchSession
	for _, s := range c.sessions {
		if lru == nil || s.lastUsed.Before(lru.lastUsed) || s.lastUsed.Equal(lru.lastUsed) && s.id < lru.id {
			lru = s
		}
		if now.Sub(s.created) > c.evictAfter &&
			(smallest == nil || s.size < smallest.size || s.size == smallest.size && s.id < smallest.id) {
			smallest = s
		}
	}
	victim := smallest
	switch {
	case lru == nil:
		return false
	case now.Sub(lru.lastUsed) > c.evictAfter:
		victim = lru
	case smallest == nil || size <= smallest.size:
		return false
	}
	c.removeLocked(victim.id)
	c.evictions++
	return true
}

// touch records a use of the session and its current size. The caller
// holds s.mu.
func (c *fetchSessionCache) touch(s *fetchSession) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !s.cached.Load() {
		return
	}
	s.lastUsed = c.now()
	c.partitions += len(s.parts) - s.size
	s.size = len(s.parts)
}

// stats reports the sessions, the partitions they cache and the evictions
// so far.
func (c *fetchSessionCache) stats() (sessions, partitions, evictions int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.sessions), c.partitions, c.evictions
}

// FetchSessionStats reports the fetch sessions the listener holds, the
// partitions they cache and the sessions evicted so far, for metrics.
func (s *Server) FetchSessionStats() (sessions, partitions, evictions int) {
	return s.sessions.stats()
}
