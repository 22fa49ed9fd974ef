package storage

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/fsutil"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/strata-io/strata/services/storage/log"
)

type partitionKey struct {
	topic     string
	partition int32
}

// partition is one open replica.
type partition struct {
	key     partitionKey
	topicID string // hex
	log     *log.Log
	cfgSig  string // the topic configs the log was opened with
	minISR  int    // min.insync.replicas

	// leader is set while this node leads the partition.
	leader atomic.Pointer[leaderState]
	// follow is the follower-side state while this node follows it.
	follow atomic.Pointer[followState]

	appends signal // after every append: wakes replica fetches
	hwMoves signal // after every high watermark move: wakes consumer fetches
}

// signal is a broadcast: wait on ch(), fire() wakes every waiter.
type signal struct {
	mu sync.Mutex
	c  chan struct{}
}

// ch is closed at the next fire; take it before checking the condition so
// no fire between the check and the wait is missed.
func (s *signal) ch() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.c == nil {
		s.c = make(chan struct{})
	}
	return s.c
}

func (s *signal) fire() {
	s.mu.Lock()
	if s.c != nil {
		close(s.c)
		s.c = nil
	}
	s.mu.Unlock()
}

// waitResult says why waitAny returned.
type waitResult int

const (
	waitCancelled waitResult = iota // ctx ended
	waitTimedOut                    // the deadline passed
	waitSignalled                   // one of the signals fired
)

// waitAny blocks until ctx ends, deadline fires or any of chans closes: the
// long-poll of consumer and replica fetches over many partitions.
func waitAny(ctx context.Context, deadline <-chan time.Time, chans []<-chan struct{}) waitResult {
	cases := make([]reflect.SelectCase, 0, len(chans)+2)
	cases = append(cases,
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ctx.Done())},
		reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(deadline)})
	for _, ch := range chans {
		cases = append(cases, reflect.SelectCase{Dir: reflect.SelectRecv, Chan: reflect.ValueOf(ch)})
	}
	switch chosen, _, _ := reflect.Select(cases); chosen {
	case 0:
		return waitCancelled
	case 1:
		return waitTimedOut
	default:
		return waitSignalled
	}
}

// setHighWatermark moves the log's high watermark and wakes consumers.
func (p *partition) setHighWatermark(hw int64) {
	if hw != p.log.HighWatermark() {
		p.log.SetHighWatermark(hw)
		p.hwMoves.fire()
	}
}

// partitions is the set of open replicas. Readers load the current map
// without locking; reconcile publishes a new map (copy on write), so the
// produce and fetch paths share no lock across partitions.
type partitions struct {
	dir     string
	current atomic.Pointer[map[partitionKey]*partition]
	mu      sync.Mutex // serializes reconcile and close
}

func newPartitions(dir string) *partitions {
	ps := &partitions{dir: dir}
	empty := map[partitionKey]*partition{}
	ps.current.Store(&empty)
	return ps
}

func (ps *partitions) get(topic string, partition int32) (*partition, bool) {
	p, ok := (*ps.current.Load())[partitionKey{topic, partition}]
	return p, ok
}

// all returns the open replicas sorted by topic and partition.
func (ps *partitions) all() []*partition {
	m := *ps.current.Load()
	out := make([]*partition, 0, len(m))
	for _, p := range m {
		out = append(out, p)
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].key.topic != out[j].key.topic {
			return out[i].key.topic < out[j].key.topic
		}
		return out[i].key.partition < out[j].key.partition
	})
	return out
}

// assignment is one replica this node should hold.
type assignment struct {
	key     partitionKey
	topicID string
	cfg     log.Config
	cfgSig  string
	minISR  int
}

// reconcile opens the logs of new assignments, reopens those whose topic
// configs changed, closes and deletes replicas no longer assigned (or of an
// older incarnation of the topic), and deletes stray replica directories.
func (ps *partitions) reconcile(want []assignment, openOpts ...log.Option) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	// The published map is read without locks: build a new one and never
	// modify the old.
	old := *ps.current.Load()
	next := make(map[partitionKey]*partition, len(want))
	closed := map[partitionKey]bool{}
	var errs []error
	for _, a := range want {
		p, ok := old[a.key]
		if ok && p.topicID == a.topicID && p.cfgSig == a.cfgSig {
			next[a.key] = p
			continue
		}
		if ok {
			// Configs changed (reopen, data stays) or the topic was created
			// again (open deletes the old data): close the old log first.
			_ = p.close()
			closed[a.key] = true
		}
		p, err := ps.open(a, openOpts...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		next[a.key] = p
	}
	ps.current.Store(&next)
	for k, p := range old {
		if n, ok := next[k]; closed[k] || ok && n == p {
			continue
		}
		_ = p.close()
	}
	if err := ps.removeStray(next); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

func (ps *partitions) open(a assignment, opts ...log.Option) (*partition, error) {
	dir := filepath.Join(ps.dir, replicaDir(a.key.topic, a.key.partition))
	have, err := os.ReadFile(filepath.Join(dir, partitionMetaFile))
	if err == nil && string(have) != "topic_id="+a.topicID+"\n" {
		// A topic of the same name existed before: its data must go.
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("delete old replica %s: %w", dir, err)
		}
		err = os.ErrNotExist
	}
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create replica %s: %w", dir, err)
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, partitionMetaFile), []byte("topic_id="+a.topicID+"\n"), 0o644); err != nil {
			return nil, err
		}
		if err := fsutil.SyncDir(ps.dir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, fmt.Errorf("replica %s: %w", dir, err)
	}
	// Replication owns the high watermark: it is what the ISR has, not
	// what the leader wrote.
	l, err := log.Open(dir, a.cfg, append(opts, log.WithManualHighWatermark())...)
	if err != nil {
		return nil, fmt.Errorf("open replica %s: %w", dir, err)
	}
	return &partition{key: a.key, topicID: a.topicID, log: l, cfgSig: a.cfgSig, minISR: a.minISR}, nil
}

// close ends the partition's roles and closes its log.
func (p *partition) close() error {
	if ls := p.leader.Swap(nil); ls != nil {
		ls.resign()
	}
	p.follow.Store(nil)
	err := p.log.Close()
	p.appends.fire()
	p.hwMoves.fire()
	return err
}

// removeStray deletes replica directories that are not open.
func (ps *partitions) removeStray(open map[partitionKey]*partition) error {
	have, err := scanReplicas(ps.dir)
	if err != nil {
		return err
	}
	for name, r := range have {
		if _, ok := open[r]; ok {
			continue
		}
		if err := os.RemoveAll(filepath.Join(ps.dir, name)); err != nil {
			return fmt.Errorf("delete replica %s: %w", name, err)
		}
	}
	return nil
}

// closeAll closes every log (clean shutdown: checkpoints are written) and
// reports whether every one closed cleanly.
func (ps *partitions) closeAll() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ok := true
	for _, p := range *ps.current.Load() {
		if p.close() != nil {
			ok = false
		}
	}
	empty := map[partitionKey]*partition{}
	ps.current.Store(&empty)
	return ok
}

// assignmentsFor turns the metadata into what this node should hold.
func assignmentsFor(recs []*metadatav1.PartitionRecord, topics func(string) (*metadatav1.TopicRecord, bool), node Config) ([]assignment, error) {
	var out []assignment
	var errs []error
	for _, r := range recs {
		t, ok := topics(r.GetTopic())
		if !ok {
			continue // partition records outlive their topic only within one revision
		}
		minISR, _ := strconv.Atoi(topicconfig.Effective(t.GetConfigs(), "min.insync.replicas"))
		cfg, err := logConfig(t.GetConfigs(), node)
		if err != nil {
			errs = append(errs, fmt.Errorf("topic %s: %w", t.GetName(), err))
			cfg = log.DefaultConfig()
		}
		out = append(out, assignment{
			key:     partitionKey{r.GetTopic(), r.GetPartition()},
			topicID: hex.EncodeToString(r.GetTopicId()),
			cfg:     cfg,
			cfgSig:  fmt.Sprint(sortedConfigs(t.GetConfigs())),
			minISR:  max(minISR, 1),
		})
	}
	return out, errors.Join(errs...)
}

func sortedConfigs(m map[string]string) []string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}
