package storage

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/services/storage/log"
)

// replica is one partition replica on this node and the single owner of
// its state: the log, its role (leader or follower state), its idempotent
// producer state, and whether it is online. A storage fault (a log that
// fails to open, read, append or fsync, or a config the log cannot apply)
// takes the replica offline — never deletes it — and the node reports it
// to the controller, which moves leadership away (Kafka's KIP-112).
type replica struct {
	key     partitionKey
	topicID string // hex
	cfgSig  string // the topic configs the log was opened with
	minISR  int    // min.insync.replicas
	host    replicaHost

	// log is nil only when the replica went offline before its log opened.
	log *log.Log
	// offline is set once the replica has failed; it never clears for this
	// replica value (a retried open makes a new one).
	offline atomic.Pointer[offlineState]

	// leader is set while this node leads the partition.
	leader atomic.Pointer[leaderState]
	// follow is the follower-side state while this node follows it.
	follow atomic.Pointer[followState]
	// producers is the idempotent producer state (producers.go).
	producers partProducers

	appends signal // after every append: wakes replica fetches
	hwMoves signal // after every high watermark move: wakes consumer fetches
	// startMoves fires when a follower reports a new log start offset:
	// wakes DeleteRecords calls waiting for the low watermark.
	startMoves signal

	// lag is this follower's lag gauge, looked up once rather than by
	// label on every fetch.
	lag atomic.Pointer[prometheus.Gauge]
}

// lagGauge returns the replica's follower lag gauge.
func (r *replica) lagGauge(m *metrics) prometheus.Gauge {
	if g := r.lag.Load(); g != nil {
		return *g
	}
	g := m.followerLag.WithLabelValues(r.name())
	r.lag.Store(&g)
	return g
}

// replicaHost is what a replica needs from its node.
type replicaHost interface {
	// registration is the node's id and epoch.
	registration() (id int32, epoch int64)
	// controller is the controller API, for AlterPartition.
	controller() controllerv1.ControllerServiceClient
	// context ends when the node stops.
	context() context.Context
	logger() *slog.Logger
	// replicaFailed is told once when a replica goes offline.
	replicaFailed(r *replica)
	// isrChanged counts an ISR change this node made as leader.
	isrChanged(direction string)
}

// offlineState says why a replica is offline.
type offlineState struct {
	err   error
	since time.Time
	// atOpen is set when the log never opened: a later reconcile may try
	// again. A log that failed while open stays offline until restart: a
	// failed fsync must never be retried as if the data were safe.
	atOpen bool
}

func (r *replica) name() string { return replicaDir(r.key.topic, r.key.partition) }

// offlineErr is the error to answer while the replica is offline, or nil.
func (r *replica) offlineErr() *errs.Error {
	if o := r.offline.Load(); o != nil {
		return errs.New(errs.StorageError, "replica %s on this node is offline since %s: %v", r.name(), o.since.UTC().Format(time.RFC3339), o.err)
	}
	return nil
}

// fail takes the replica offline after a storage fault: it stops leading
// and following, wakes every waiter, and tells the node once.
func (r *replica) fail(err error, atOpen bool) {
	if !r.offline.CompareAndSwap(nil, &offlineState{err: err, since: time.Now(), atOpen: atOpen}) {
		return
	}
	r.host.logger().Error("replica offline after a storage fault; its data is kept", "partition", r.name(), "err", err)
	if ls := r.leader.Swap(nil); ls != nil {
		ls.resign()
	}
	r.follow.Store(nil)
	r.appends.fire()
	r.hwMoves.fire()
	r.host.replicaFailed(r)
}

// check takes the replica offline when err is a storage fault of its log,
// and returns err unchanged.
func (r *replica) check(err error) error {
	if err != nil && recordbatch.CodeOf(err) == recordbatch.CodeKafkaStorageError && !errors.Is(err, log.ErrClosed) {
		r.fail(err, false)
	}
	return err
}

// setHighWatermark moves the log's high watermark and wakes consumers.
func (r *replica) setHighWatermark(hw int64) {
	if hw != r.log.HighWatermark() {
		r.log.SetHighWatermark(hw)
		r.hwMoves.fire()
	}
}

// close ends the replica's roles and closes its log.
func (r *replica) close() error {
	if ls := r.leader.Swap(nil); ls != nil {
		ls.resign()
	}
	r.follow.Store(nil)
	var err error
	if r.log != nil {
		err = r.log.Close()
	}
	r.appends.fire()
	r.hwMoves.fire()
	return err
}

// state is the replica's health as the controller should know it.
func (r *replica) state(topicID []byte) *controllerv1.ReplicaState {
	s := &controllerv1.ReplicaState{Topic: r.key.topic, Partition: r.key.partition, TopicId: topicID}
	if o := r.offline.Load(); o != nil {
		s.Offline, s.Reason = true, o.err.Error()
	}
	return s
}

// isOfflineIn reports whether the record lists node as an offline replica.
func isOfflineIn(rec *metadatav1.PartitionRecord, node int32) bool {
	for _, id := range rec.GetOfflineReplicas() {
		if id == node {
			return true
		}
	}
	return false
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

// fetchBudget is what one fetch may still read over all its partitions.
type fetchBudget struct{ left int }

// read reads r's log from offset, below upTo, within the budget and the
// partition's own limit (≤ 0: none). An exhausted budget reads nothing.
func (b *fetchBudget) read(r *replica, offset int64, partMax int, upTo int64) ([]byte, error) {
	if b.left <= 0 {
		return nil, nil
	}
	limit := b.left
	if partMax > 0 {
		limit = min(limit, partMax)
	}
	data, err := r.log.Read(offset, limit, upTo)
	if err = r.check(err); err != nil {
		return nil, err
	}
	b.left -= len(data)
	return data, nil
}

// longPoll runs one read pass over a fetch's partitions, then more each
// time one of the pass's signals fires, until a pass reads at least
// minBytes, fails, has nothing to wait on, ctx ends or wait passes; after
// a timeout it runs a last pass so the answer is current. Consumer and
// replica fetches share it.
func longPoll(ctx context.Context, wait time.Duration, minBytes int, pass func(first bool) (size int, waitOn []<-chan struct{}, failed bool)) waitResult {
	deadline := time.NewTimer(wait)
	defer deadline.Stop()
	for first := true; ; first = false {
		size, waitOn, failed := pass(first)
		if size >= minBytes || failed || len(waitOn) == 0 {
			return waitSignalled
		}
		switch res := waitAny(ctx, deadline.C, waitOn); res {
		case waitTimedOut:
			pass(false)
			return res
		case waitCancelled:
			return res
		}
	}
}
