// Package txn is the Kafka transaction coordinator of the active
// controller (KIP-98, without KIP-890): InitProducerId with a
// transactional id, AddPartitionsToTxn, AddOffsetsToTxn, EndTxn,
// TxnOffsetCommit, DescribeTransactions and ListTransactions, and the
// expiry of transactions that outlive their timeout.
//
// State: one TxnRecord per transactional id in the metadata store
// (/strata/txns/<id>, docs/etcd-keys.md), written before every answer
// that depends on it, so a newly active controller loads it and carries
// on: a transaction in PrepareCommit or PrepareAbort has its markers
// written again (markers are idempotent for readers) and is completed.
// The in-memory copy is only a cache of the store.
//
// Markers: each partition of a transaction gets a BEGIN from
// AddPartitionsToTxn before the producer may write to it, and a COMMIT or
// ABORT control batch when the transaction ends, through its storage
// leader (Markers). A completion is retried until every partition has its
// marker; then the record moves to CompleteCommit or CompleteAbort and,
// for a commit, the transaction's offsets are written to their groups in
// the same store transaction, so consumers see them only with the commit.
//
// Locking: one mutex per transactional id serializes its requests, its
// completion and its expiry; mu guards the maps. Marker RPCs run under
// the id's lock only, never under mu.
package txn

import (
	"context"
	"log/slog"
	"net/url"
	"strconv"
	"sync"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/services/controller/mdstore"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Limits and defaults (Kafka's broker defaults where Kafka has one).
const (
	// DefaultMaxTimeout is transaction.max.timeout.ms.
	DefaultMaxTimeout = 15 * time.Minute
	// DefaultExpiryCheck is how often open transactions are checked
	// against their timeout (Kafka's
	// transaction.abort.timed.out.transaction.cleanup.interval.ms is 10 s).
	DefaultExpiryCheck = time.Second
	// DefaultIDExpiration is transactional.id.expiration.ms: a
	// transactional id with no transaction open and no request for this
	// long is forgotten.
	DefaultIDExpiration = 7 * 24 * time.Hour
	// maxTxnPartitions bounds the partitions of one transaction.
	maxTxnPartitions = 10000
	// maxTxnOffsets bounds the offsets one transaction commits.
	maxTxnOffsets = 10000
	// maxTransactionalIDLen bounds a transactional id (etcd key size).
	maxTransactionalIDLen = 1024
	// endTxnWait is how long EndTxn waits for the markers before answering
	// (the transaction completes in the background past it).
	endTxnWait                     = 10 * time.Second
	markerRetryMin, markerRetryMax = 100 * time.Millisecond, 5 * time.Second
)

// Prefix holds one TxnRecord per transactional id.
const Prefix = mdstore.Prefix + "txns/"

func recordKey(id string) string { return Prefix + url.PathEscape(id) }

// APIs are the Kafka API keys Handle serves (InitProducerId only with a
// transactional id).
var APIs = map[int16]bool{22: true, 24: true, 25: true, 26: true, 28: true, 65: true, 66: true}

// MarkerType is the step a marker asks of a partition leader.
type MarkerType int

// Marker types.
const (
	MarkerBegin MarkerType = iota + 1
	MarkerCommit
	MarkerAbort
)

// TopicPartition names a partition.
type TopicPartition struct {
	Topic     string
	Partition int32
}

// Marker is one partition's transaction step.
type Marker struct {
	Topic         string
	Partition     int32
	ProducerID    int64
	ProducerEpoch int16
	Type          MarkerType
}

// Markers writes markers through the partitions' storage leaders; the
// result has one error per marker (nil: written and replicated).
type Markers interface {
	WriteMarkers(ctx context.Context, ms []Marker) []error
}

// PIDs allocates producer ids.
type PIDs interface {
	Allocate(ctx context.Context, n int32) (int64, error)
}

// Groups is what TxnOffsetCommit needs of the group coordinator.
type Groups interface {
	CheckMember(group, memberID string, instanceID *string, generation int32) int16
}

// OffsetOp makes the store write of one committed offset.
type OffsetOp func(group, topic string, partition int32, offset int64, leaderEpoch int32, meta string) mdstore.Op

// Topics answers whether a partition exists.
type Topics interface {
	PartitionExists(ctx context.Context, topic string, partition int32) (bool, error)
}

// Config wires a coordinator.
type Config struct {
	Store    mdstore.Store
	Log      *slog.Logger
	PIDs     PIDs
	Groups   Groups
	OffsetOp OffsetOp
	Markers  Markers
	Topics   Topics
	// MaxTimeout is transaction.max.timeout.ms (DefaultMaxTimeout if 0).
	MaxTimeout time.Duration
	// ExpiryCheck is the expiry scan interval (DefaultExpiryCheck if 0).
	ExpiryCheck time.Duration
	// IDExpiration is transactional.id.expiration.ms (DefaultIDExpiration if 0).
	IDExpiration time.Duration
	// MaxOffsetMetadata is offset.metadata.max.bytes.
	MaxOffsetMetadata int
	// Now is the clock (time.Now if nil).
	Now func() time.Time
}

// Coordinator is the transaction coordinator.
type Coordinator struct {
	cfg Config

	mu         sync.Mutex
	loaded     bool
	term       context.Context // the active term, while loaded
	txns       map[string]*controllerv1.TxnRecord
	locks      map[string]*sync.Mutex
	completing map[string]chan struct{} // closed when the completion ends
	wg         sync.WaitGroup
}

// New returns a coordinator; Run serves it while the controller is active.
func New(cfg Config) *Coordinator {
	if cfg.MaxTimeout <= 0 {
		cfg.MaxTimeout = DefaultMaxTimeout
	}
	if cfg.ExpiryCheck <= 0 {
		cfg.ExpiryCheck = DefaultExpiryCheck
	}
	if cfg.IDExpiration <= 0 {
		cfg.IDExpiration = DefaultIDExpiration
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.MaxOffsetMetadata <= 0 {
		cfg.MaxOffsetMetadata = 4096
	}
	return &Coordinator{cfg: cfg, txns: map[string]*controllerv1.TxnRecord{}, locks: map[string]*sync.Mutex{}, completing: map[string]chan struct{}{}}
}

// Run loads the records, resumes completions and expires transactions
// until ctx (the active term) ends.
func (c *Coordinator) Run(ctx context.Context) {
	for ctx.Err() == nil {
		err := c.load(ctx)
		if err == nil {
			break
		}
		c.cfg.Log.Warn("loading transactions failed; retrying", "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(time.Second):
		}
	}
	tick := time.NewTicker(c.cfg.ExpiryCheck)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			c.unload()
			return
		case <-tick.C:
			c.expire(ctx)
		}
	}
}

func (c *Coordinator) load(ctx context.Context) error {
	kvs, err := c.cfg.Store.List(ctx, Prefix)
	if err != nil {
		return err
	}
	txns := map[string]*controllerv1.TxnRecord{}
	for _, kv := range kvs {
		rec := &controllerv1.TxnRecord{}
		if err := mdstore.Unmarshal(kv.Value, rec); err != nil {
			c.cfg.Log.Warn("bad transaction record", "key", kv.Key, "err", err)
			continue
		}
		txns[rec.GetTransactionalId()] = rec
	}
	c.mu.Lock()
	c.txns, c.loaded, c.term = txns, true, ctx
	var resume []string
	for id, rec := range txns {
		if preparing(rec.GetState()) {
			resume = append(resume, id)
		}
	}
	n := len(txns)
	c.mu.Unlock()
	for _, id := range resume {
		c.startCompletion(id)
	}
	c.cfg.Log.Info("transactions loaded", "transactional_ids", n, "completing", len(resume))
	return nil
}

func (c *Coordinator) unload() {
	c.wg.Wait() // completions end with the term's context
	c.mu.Lock()
	c.txns, c.loaded, c.term = map[string]*controllerv1.TxnRecord{}, false, nil
	c.completing = map[string]chan struct{}{}
	c.mu.Unlock()
}

func preparing(s controllerv1.TxnState) bool {
	return s == controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT || s == controllerv1.TxnState_TXN_STATE_PREPARE_ABORT
}

// lockID takes the id's lock and returns its current record (nil if none).
// It fails with NOT_CONTROLLER while the records are not loaded.
func (c *Coordinator) lockID(id string) (unlock func(), rec *controllerv1.TxnRecord, err error) {
	c.mu.Lock()
	if !c.loaded {
		c.mu.Unlock()
		return nil, nil, errs.New(errs.NotController, "the transaction coordinator is loading; retry")
	}
	l := c.locks[id]
	if l == nil {
		l = &sync.Mutex{}
		c.locks[id] = l
	}
	c.mu.Unlock()
	l.Lock()
	c.mu.Lock()
	rec = c.txns[id]
	loaded := c.loaded
	c.mu.Unlock()
	if !loaded {
		l.Unlock()
		return nil, nil, errs.New(errs.NotController, "the transaction coordinator moved; retry")
	}
	if rec != nil {
		rec = metadata.Clone(rec)
	}
	return l.Unlock, rec, nil
}

// save persists rec (fenced) and updates the cache; extra ops go in the
// same store transaction. Called with the id's lock held.
func (c *Coordinator) save(ctx context.Context, rec *controllerv1.TxnRecord, extra ...mdstore.Op) error {
	rec.UpdateUnixMs = c.cfg.Now().UnixMilli()
	ops := append([]mdstore.Op{mdstore.Put(recordKey(rec.GetTransactionalId()), mdstore.Marshal(rec))}, extra...)
	if _, err := c.cfg.Store.Write(ctx, nil, ops...); err != nil {
		return err
	}
	c.mu.Lock()
	if c.loaded {
		c.txns[rec.GetTransactionalId()] = metadata.Clone(rec)
	}
	c.mu.Unlock()
	return nil
}

// Handle serves one decoded transaction request.
func (c *Coordinator) Handle(ctx context.Context, kreq kmsg.Request) (kmsg.Response, error) {
	switch r := kreq.(type) {
	case *kmsg.InitProducerIDRequest:
		return c.initProducerID(ctx, r)
	case *kmsg.AddPartitionsToTxnRequest:
		return c.addPartitions(ctx, r)
	case *kmsg.AddOffsetsToTxnRequest:
		return c.addOffsets(ctx, r)
	case *kmsg.EndTxnRequest:
		return c.endTxn(ctx, r)
	case *kmsg.TxnOffsetCommitRequest:
		return c.txnOffsetCommit(ctx, r)
	case *kmsg.DescribeTransactionsRequest:
		return c.describe(r)
	case *kmsg.ListTransactionsRequest:
		return c.list(r)
	}
	return nil, errs.New(errs.UnsupportedVersion, "%s is not a transaction call", kmsg.NameForKey(kreq.Key()))
}

// code is the Kafka code of a coordinator-side failure: a lost fence or
// an unreachable store makes the client look the coordinator up again.
func code(err error) int16 {
	if err == nil {
		return 0
	}
	if e := errs.From(err); e != nil && e.Code() != errs.NotController {
		return e.KafkaCode()
	}
	return kerr.NotCoordinator.Code
}

// fenced is the code for a producer whose epoch is not the current one:
// PRODUCER_FENCED for clients that know it (KIP-588), INVALID_PRODUCER_EPOCH
// for older request versions.
func fenced(key, version int16) int16 {
	min := map[int16]int16{22: 4, 24: 2, 25: 2, 26: 2, 28: 3}[key]
	if version >= min {
		return kerr.ProducerFenced.Code
	}
	return kerr.InvalidProducerEpoch.Code
}

// checkProducer is Kafka's check of a transactional request's producer id
// and epoch against the record; 0 when they match.
func checkProducer(rec *controllerv1.TxnRecord, pid int64, epoch int16, key, version int16) int16 {
	switch {
	case rec == nil, rec.GetProducerId() != pid:
		return kerr.InvalidProducerIDMapping.Code
	case int32(epoch) != rec.GetProducerEpoch():
		return fenced(key, version)
	}
	return 0
}

func itoa(n int32) string { return strconv.Itoa(int(n)) }

func validID(id string) bool { return id != "" && len(id) <= maxTransactionalIDLen }
