package storage

import (
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
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

// partitions is the set of replicas on this node, online or offline.
// Readers load the current map without locking; reconcile publishes a new
// map (copy on write), so the produce and fetch paths share no lock across
// partitions.
type partitions struct {
	dir     string
	current atomic.Pointer[map[partitionKey]*replica]
	mu      sync.Mutex // serializes reconcile and close
}

func newPartitions(dir string) *partitions {
	ps := &partitions{dir: dir}
	empty := map[partitionKey]*replica{}
	ps.current.Store(&empty)
	return ps
}

func (ps *partitions) get(topic string, partition int32) (*replica, bool) {
	p, ok := (*ps.current.Load())[partitionKey{topic, partition}]
	return p, ok
}

// all returns the replicas sorted by topic and partition.
func (ps *partitions) all() []*replica {
	m := *ps.current.Load()
	out := make([]*replica, 0, len(m))
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

// online returns the replicas whose log is open and healthy.
func (ps *partitions) online() []*replica {
	out := ps.all()
	return slices.DeleteFunc(out, func(r *replica) bool { return r.offline.Load() != nil })
}

// assignment is one replica this node should hold.
type assignment struct {
	key     partitionKey
	topicID string
	cfg     log.Config
	cfgErr  error // the topic's configs cannot be applied: the replica stays offline
	cfgSig  string
	minISR  int
}

// keeper says which replica directories metadata still wants on this node;
// everything else under the data dir is deleted only when keep says no.
type keeper func(topic string, partition int32, topicID string) bool

// reconcile opens the logs of new assignments, reopens those whose topic
// configs changed, closes replicas no longer assigned, and deletes the
// directories metadata no longer wants. A log that fails to open stays in
// the set as an offline replica: its directory is never deleted for it.
func (ps *partitions) reconcile(want []assignment, keep keeper, host replicaHost, openOpts ...log.Option) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	// The published map is read without locks: build a new one and never
	// modify the old.
	old := *ps.current.Load()
	next := make(map[partitionKey]*replica, len(want))
	closed := map[partitionKey]bool{}
	var errs []error
	var toOpen []assignment
	for _, a := range want {
		p, ok := old[a.key]
		if ok && p.topicID == a.topicID && p.keepAsIs(a.cfgSig) {
			next[a.key] = p
			continue
		}
		if ok {
			// Configs changed (reopen, data stays), the topic was created
			// again (open deletes the old data), or a failed open is retried:
			// close the old replica first.
			_ = p.close()
			closed[a.key] = true
			if err := p.failedLog(); err != nil && p.topicID == a.topicID {
				// The log failed while closing for the new configs (a
				// checkpoint or index it could not write): like any log
				// that failed while open, it stays offline until the node
				// restarts instead of being reopened as if its data were
				// safe. Its hook may not have run yet: fail it now.
				p.fail(err, false)
				next[a.key] = p
				continue
			}
		}
		toOpen = append(toOpen, a)
	}
	for i, p := range ps.openAll(toOpen, host, openOpts...) {
		if p.err != nil {
			errs = append(errs, p.err)
		}
		next[toOpen[i].key] = p.r
	}
	ps.current.Store(&next)
	for k, p := range old {
		if n, ok := next[k]; closed[k] || ok && n == p {
			continue
		}
		_ = p.close()
	}
	if err := ps.removeUnwanted(next, keep); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// openParallel is how many replicas a reconcile opens at once: opening is
// mostly waiting for fsyncs (the partition file, the directory, the
// checkpoints), so a topic of thousands of partitions opens several times
// faster than one replica after the other.
const openParallel = 16

type opened struct {
	r   *replica
	err error
}

// openAll opens the assignments, openParallel at a time, and returns the
// results in order.
func (ps *partitions) openAll(as []assignment, host replicaHost, opts ...log.Option) []opened {
	out := make([]opened, len(as))
	if len(as) == 1 {
		out[0].r, out[0].err = ps.open(as[0], host, opts...)
		return out
	}
	var wg sync.WaitGroup
	sem := make(chan struct{}, openParallel)
	for i, a := range as {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			out[i].r, out[i].err = ps.open(a, host, opts...)
		}()
	}
	wg.Wait()
	return out
}

// openRetryEvery spaces the attempts to open a replica that failed to.
const openRetryEvery = 10 * time.Second

// keepAsIs says whether reconcile leaves the replica alone: it is healthy
// with the wanted configs, or it failed while open (only a restart clears
// that), or its failed open was tried too recently to try again.
func (r *replica) keepAsIs(cfgSig string) bool {
	o := r.offline.Load()
	switch {
	case o == nil:
		return r.cfgSig == cfgSig
	case !o.atOpen:
		return true
	default:
		return r.cfgSig == cfgSig && time.Since(o.since) < openRetryEvery
	}
}

// failedLog is the error that failed the replica's open log, or nil.
func (r *replica) failedLog() error {
	if r.log == nil {
		return nil
	}
	return r.log.Err()
}

// open opens an assignment's log. On failure it returns the replica
// offline, with the error; the directory and its data stay.
func (ps *partitions) open(a assignment, host replicaHost, opts ...log.Option) (*replica, error) {
	r := &replica{key: a.key, topicID: a.topicID, cfgSig: a.cfgSig, minISR: a.minISR, host: host}
	err := a.cfgErr
	if err == nil {
		r.log, err = ps.openLog(a, r, opts...)
	}
	if err != nil {
		err = fmt.Errorf("replica %s: %w", r.name(), err)
		r.fail(err, true)
		return r, err
	}
	return r, nil
}

func (ps *partitions) openLog(a assignment, r *replica, opts ...log.Option) (*log.Log, error) {
	dir := filepath.Join(ps.dir, replicaDir(a.key.topic, a.key.partition))
	have, err := readTopicID(dir)
	if err == nil && have != a.topicID {
		// Metadata says the topic was created again under this name (a new
		// topic id): the old incarnation's data must go.
		if err := os.RemoveAll(dir); err != nil {
			return nil, fmt.Errorf("delete the replica of an older topic incarnation %s: %w", dir, err)
		}
		err = os.ErrNotExist
	}
	if errors.Is(err, os.ErrNotExist) {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("create %s: %w", dir, err)
		}
		if err := fsutil.WriteFileAtomic(filepath.Join(dir, partitionMetaFile), []byte("topic_id="+a.topicID+"\n"), 0o644); err != nil {
			return nil, err
		}
		if err := fsutil.SyncDir(ps.dir); err != nil {
			return nil, err
		}
	} else if err != nil {
		return nil, err
	}
	// Replication owns the high watermark: it is what the ISR has, not
	// what the leader wrote.
	return log.Open(dir, a.cfg, append(opts, log.WithManualHighWatermark(),
		log.WithFailureHook(func(err error) { r.fail(err, false) }))...)
}

// readTopicID reads the topic id a replica directory belongs to.
func readTopicID(dir string) (string, error) {
	data, err := os.ReadFile(filepath.Join(dir, partitionMetaFile))
	if err != nil {
		return "", err
	}
	id, ok := strings.CutPrefix(strings.TrimSpace(string(data)), "topic_id=")
	if !ok || id == "" {
		return "", fmt.Errorf("%s in %s: no topic_id", partitionMetaFile, dir)
	}
	return id, nil
}

// removeUnwanted deletes replica directories that are not in the set and
// that metadata no longer wants here (topic deleted, recreated under a new
// id, or this node removed from the replica set). A directory whose owner
// cannot be read is kept.
func (ps *partitions) removeUnwanted(open map[partitionKey]*replica, keep keeper) error {
	have, err := scanReplicas(ps.dir)
	if err != nil {
		return err
	}
	for name, k := range have {
		if _, ok := open[k]; ok {
			continue
		}
		id, err := readTopicID(filepath.Join(ps.dir, name))
		switch {
		case errors.Is(err, os.ErrNotExist):
			id = "" // created but never initialised
		case err != nil:
			continue
		}
		if keep(k.topic, k.partition, id) {
			continue
		}
		if err := os.RemoveAll(filepath.Join(ps.dir, name)); err != nil {
			return fmt.Errorf("delete replica %s: %w", name, err)
		}
	}
	return nil
}

// closeAll closes every log (clean shutdown: checkpoints are written) and
// reports whether every one closed cleanly and none was offline.
func (ps *partitions) closeAll() bool {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	ok := true
	for _, p := range *ps.current.Load() {
		if p.close() != nil || p.offline.Load() != nil {
			ok = false
		}
	}
	empty := map[partitionKey]*replica{}
	ps.current.Store(&empty)
	return ok
}

// assignmentsFor turns the metadata into what this node should hold. A
// topic whose configs the log cannot apply yields offline assignments, so
// it never blocks the others.
func assignmentsFor(recs []*metadatav1.PartitionRecord, topics func(string) (*metadatav1.TopicRecord, bool), node Config) []assignment {
	var out []assignment
	for _, r := range recs {
		t, ok := topics(r.GetTopic())
		if !ok {
			continue // partition records outlive their topic only within one revision
		}
		minISR, _ := strconv.Atoi(topicconfig.Effective(t.GetConfigs(), "min.insync.replicas"))
		cfg, err := logConfig(t.GetConfigs(), node)
		if err != nil {
			err = fmt.Errorf("topic %s: the log cannot apply its configs: %w", t.GetName(), err)
		}
		out = append(out, assignment{
			key:     partitionKey{r.GetTopic(), r.GetPartition()},
			topicID: hex.EncodeToString(r.GetTopicId()),
			cfg:     cfg,
			cfgErr:  err,
			cfgSig:  fmt.Sprint(sortedConfigs(t.GetConfigs())),
			minISR:  max(minISR, 1),
		})
	}
	return out
}

func sortedConfigs(m map[string]string) []string {
	keys := slices.Sorted(maps.Keys(m))
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, k+"="+m[k])
	}
	return out
}
