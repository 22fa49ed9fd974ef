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
	"math"
	"net/url"
	"sort"
	"strconv"
	"strings"
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
const Prefix = metadata.Prefix + "txns/"

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
		if err := metadata.Unmarshal(kv.Value, rec); err != nil {
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
	ops := append([]mdstore.Op{mdstore.Put(recordKey(rec.GetTransactionalId()), metadata.Marshal(rec))}, extra...)
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

func (c *Coordinator) initProducerID(ctx context.Context, req *kmsg.InitProducerIDRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.InitProducerIDResponse)
	resp.ProducerID, resp.ProducerEpoch = -1, -1
	id := ""
	if req.TransactionalID != nil {
		id = *req.TransactionalID
	}
	timeout := time.Duration(req.TransactionTimeoutMillis) * time.Millisecond
	switch {
	case !validID(id):
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	case req.TransactionTimeoutMillis <= 0 || timeout > c.cfg.MaxTimeout:
		resp.ErrorCode = kerr.InvalidTransactionTimeout.Code
		return resp, nil
	}
	unlock, rec, err := c.lockID(id)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if rec == nil {
		pid, err := c.cfg.PIDs.Allocate(ctx, 1)
		if err != nil {
			resp.ErrorCode = code(err)
			return resp, nil
		}
		rec = &controllerv1.TxnRecord{TransactionalId: id, ProducerId: pid, ProducerEpoch: 0, TimeoutMs: req.TransactionTimeoutMillis,
			State: controllerv1.TxnState_TXN_STATE_EMPTY}
		if err := c.save(ctx, rec); err != nil {
			resp.ErrorCode = code(err)
			return resp, nil
		}
		resp.ProducerID, resp.ProducerEpoch = pid, 0
		return resp, nil
	}
	// KIP-360: a producer that names its id and epoch must be the current one.
	if req.ProducerID >= 0 && (req.ProducerID != rec.GetProducerId() || int32(req.ProducerEpoch) != rec.GetProducerEpoch()) {
		resp.ErrorCode = fenced(req.Key(), req.Version)
		return resp, nil
	}
	switch rec.GetState() {
	case controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT, controllerv1.TxnState_TXN_STATE_PREPARE_ABORT:
		resp.ErrorCode = kerr.ConcurrentTransactions.Code
		return resp, nil
	case controllerv1.TxnState_TXN_STATE_ONGOING:
		// A new producer with this id: fence the old one and abort its
		// transaction; the client retries once the abort is complete.
		if err := c.prepareAbortFenced(ctx, rec); err != nil {
			resp.ErrorCode = code(err)
			return resp, nil
		}
		resp.ErrorCode = kerr.ConcurrentTransactions.Code
		return resp, nil
	}
	if rec.GetProducerEpoch() >= math.MaxInt16-1 {
		pid, err := c.cfg.PIDs.Allocate(ctx, 1)
		if err != nil {
			resp.ErrorCode = code(err)
			return resp, nil
		}
		rec.ProducerId, rec.ProducerEpoch = pid, 0
	} else {
		rec.ProducerEpoch++
	}
	rec.TimeoutMs, rec.State = req.TransactionTimeoutMillis, controllerv1.TxnState_TXN_STATE_EMPTY
	rec.Partitions, rec.Groups, rec.Offsets, rec.StartUnixMs = nil, nil, nil, 0
	if err := c.save(ctx, rec); err != nil {
		resp.ErrorCode = code(err)
		return resp, nil
	}
	resp.ProducerID, resp.ProducerEpoch = rec.GetProducerId(), int16(rec.GetProducerEpoch())
	return resp, nil
}

// prepareAbortFenced bumps the epoch of an open transaction, so its
// producer is fenced everywhere, and starts aborting it. Called with the
// id's lock held.
func (c *Coordinator) prepareAbortFenced(ctx context.Context, rec *controllerv1.TxnRecord) error {
	if rec.GetProducerEpoch() < math.MaxInt16-1 {
		rec.ProducerEpoch++
	}
	rec.State = controllerv1.TxnState_TXN_STATE_PREPARE_ABORT
	if err := c.save(ctx, rec); err != nil {
		return err
	}
	c.startCompletion(rec.GetTransactionalId())
	return nil
}

// joinable is the code for adding to the record's transaction in its
// state: 0 when partitions or offsets may be added.
func joinable(rec *controllerv1.TxnRecord) int16 {
	if preparing(rec.GetState()) {
		return kerr.ConcurrentTransactions.Code
	}
	return 0
}

func hasPartition(rec *controllerv1.TxnRecord, topic string, p int32) bool {
	for _, tp := range rec.GetPartitions() {
		if tp.GetTopic() == topic && tp.GetPartition() == p {
			return true
		}
	}
	return false
}

// open moves the record to Ongoing, starting the transaction's clock.
func (c *Coordinator) open(rec *controllerv1.TxnRecord) {
	if rec.GetState() != controllerv1.TxnState_TXN_STATE_ONGOING {
		rec.State, rec.StartUnixMs = controllerv1.TxnState_TXN_STATE_ONGOING, c.cfg.Now().UnixMilli()
		rec.Partitions, rec.Groups, rec.Offsets = nil, nil, nil
	}
}

func (c *Coordinator) addPartitions(ctx context.Context, req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	if req.Version >= 4 {
		return c.verifyPartitions(req)
	}
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	fill := func(code func(topic string, p int32) int16) {
		resp.Topics = resp.Topics[:0]
		for _, t := range req.Topics {
			rt := kmsg.NewAddPartitionsToTxnResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p, code(t.Topic, p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	all := func(code int16) { fill(func(string, int32) int16 { return code }) }
	asked := 0
	for _, t := range req.Topics {
		asked += len(t.Partitions)
	}
	if !validID(req.TransactionalID) || asked > maxTxnPartitions {
		all(kerr.InvalidRequest.Code)
		return resp, nil
	}
	unlock, rec, err := c.lockID(req.TransactionalID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if code := checkProducer(rec, req.ProducerID, req.ProducerEpoch, req.Key(), req.Version); code != 0 {
		all(code)
		return resp, nil
	}
	if code := joinable(rec); code != 0 {
		all(code)
		return resp, nil
	}
	// Every partition must exist; otherwise nothing is added (Kafka
	// answers the others OPERATION_NOT_ATTEMPTED).
	bad := map[string]map[int32]int16{}
	var added []Marker
	count := len(rec.GetPartitions())
	asking := map[TopicPartition]bool{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			if rec.GetState() == controllerv1.TxnState_TXN_STATE_ONGOING && hasPartition(rec, t.Topic, p) || asking[TopicPartition{t.Topic, p}] {
				continue
			}
			asking[TopicPartition{t.Topic, p}] = true
			ok, err := c.cfg.Topics.PartitionExists(ctx, t.Topic, p)
			code := int16(0)
			switch {
			case err != nil:
				code = kerr.CoordinatorNotAvailable.Code
			case !ok:
				code = kerr.UnknownTopicOrPartition.Code
			}
			if code != 0 {
				if bad[t.Topic] == nil {
					bad[t.Topic] = map[int32]int16{}
				}
				bad[t.Topic][p] = code
				continue
			}
			count++
			added = append(added, Marker{Topic: t.Topic, Partition: p, ProducerID: rec.GetProducerId(), ProducerEpoch: int16(rec.GetProducerEpoch()), Type: MarkerBegin})
		}
	}
	if len(bad) == 0 && count > maxTxnPartitions {
		all(kerr.InvalidRequest.Code)
		return resp, nil
	}
	if len(bad) > 0 {
		fill(func(topic string, p int32) int16 {
			if code, ok := bad[topic][p]; ok {
				return code
			}
			return kerr.OperationNotAttempted.Code
		})
		return resp, nil
	}
	// The leaders learn of the transaction before the producer writes.
	for i, err := range c.cfg.Markers.WriteMarkers(ctx, added) {
		if err != nil {
			c.cfg.Log.Debug("begin marker failed", "transactional_id", req.TransactionalID, "topic", added[i].Topic, "partition", added[i].Partition, "err", err)
			all(kerr.ConcurrentTransactions.Code) // retriable: the client tries again
			return resp, nil
		}
	}
	c.open(rec)
	for _, m := range added {
		rec.Partitions = append(rec.Partitions, &controllerv1.TxnPartition{Topic: m.Topic, Partition: m.Partition})
	}
	err = c.save(ctx, rec)
	all(code(err))
	return resp, nil
}

// verifyPartitions answers a storage leader's question (AddPartitionsToTxn
// v4 with verify_only, as KIP-890 brokers ask it): is each partition in
// the producer's open transaction at this epoch? Gateways never forward
// v4 from clients (it is not advertised); adding through v4 is refused.
func (c *Coordinator) verifyPartitions(req *kmsg.AddPartitionsToTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddPartitionsToTxnResponse)
	for _, tx := range req.Transactions {
		rt := kmsg.NewAddPartitionsToTxnResponseTransaction()
		rt.TransactionalID = tx.TransactionalID
		code := int16(0)
		var rec *controllerv1.TxnRecord
		switch {
		case !tx.VerifyOnly:
			code = kerr.InvalidRequest.Code
		case !validID(tx.TransactionalID):
			code = kerr.InvalidRequest.Code
		default:
			unlock, r, err := c.lockID(tx.TransactionalID)
			if err != nil {
				return nil, err
			}
			unlock()
			rec = r
			if code = checkProducer(rec, tx.ProducerID, tx.ProducerEpoch, req.Key(), req.Version); code == 0 && rec.GetState() != controllerv1.TxnState_TXN_STATE_ONGOING {
				code = kerr.InvalidTxnState.Code
			}
		}
		for _, t := range tx.Topics {
			tt := kmsg.NewAddPartitionsToTxnResponseTransactionTopic()
			tt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewAddPartitionsToTxnResponseTransactionTopicPartition()
				rp.Partition, rp.ErrorCode = p, code
				if code == 0 && !hasPartition(rec, t.Topic, p) {
					rp.ErrorCode = kerr.InvalidTxnState.Code
				}
				tt.Partitions = append(tt.Partitions, rp)
			}
			rt.Topics = append(rt.Topics, tt)
		}
		resp.Transactions = append(resp.Transactions, rt)
	}
	return resp, nil
}

func (c *Coordinator) addOffsets(ctx context.Context, req *kmsg.AddOffsetsToTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.AddOffsetsToTxnResponse)
	switch {
	case !validID(req.TransactionalID):
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	case req.Group == "":
		resp.ErrorCode = kerr.InvalidGroupID.Code
		return resp, nil
	}
	unlock, rec, err := c.lockID(req.TransactionalID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if resp.ErrorCode = checkProducer(rec, req.ProducerID, req.ProducerEpoch, req.Key(), req.Version); resp.ErrorCode != 0 {
		return resp, nil
	}
	if resp.ErrorCode = joinable(rec); resp.ErrorCode != 0 {
		return resp, nil
	}
	if rec.GetState() == controllerv1.TxnState_TXN_STATE_ONGOING {
		for _, g := range rec.GetGroups() {
			if g == req.Group {
				return resp, nil
			}
		}
	}
	c.open(rec)
	rec.Groups = append(rec.Groups, req.Group)
	resp.ErrorCode = code(c.save(ctx, rec))
	return resp, nil
}

func (c *Coordinator) txnOffsetCommit(ctx context.Context, req *kmsg.TxnOffsetCommitRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.TxnOffsetCommitResponse)
	fill := func(code func(topic string, p kmsg.TxnOffsetCommitRequestTopicPartition) int16) {
		resp.Topics = resp.Topics[:0]
		for _, t := range req.Topics {
			rt := kmsg.NewTxnOffsetCommitResponseTopic()
			rt.Topic = t.Topic
			for _, p := range t.Partitions {
				rp := kmsg.NewTxnOffsetCommitResponseTopicPartition()
				rp.Partition, rp.ErrorCode = p.Partition, code(t.Topic, p)
				rt.Partitions = append(rt.Partitions, rp)
			}
			resp.Topics = append(resp.Topics, rt)
		}
	}
	all := func(code int16) {
		fill(func(string, kmsg.TxnOffsetCommitRequestTopicPartition) int16 { return code })
	}
	switch {
	case !validID(req.TransactionalID):
		all(kerr.InvalidRequest.Code)
		return resp, nil
	case req.Group == "":
		all(kerr.InvalidGroupID.Code)
		return resp, nil
	}
	unlock, rec, err := c.lockID(req.TransactionalID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	if code := checkProducer(rec, req.ProducerID, req.ProducerEpoch, req.Key(), req.Version); code != 0 {
		all(code)
		return resp, nil
	}
	added := rec.GetState() == controllerv1.TxnState_TXN_STATE_ONGOING
	if added {
		added = false
		for _, g := range rec.GetGroups() {
			added = added || g == req.Group
		}
	}
	if !added {
		all(kerr.InvalidTxnState.Code) // AddOffsetsToTxn first
		return resp, nil
	}
	if code := c.cfg.Groups.CheckMember(req.Group, req.MemberID, req.InstanceID, req.Generation); code != 0 {
		all(code)
		return resp, nil
	}
	idx := map[[2]string]int{}
	for i, o := range rec.GetOffsets() {
		idx[[2]string{o.GetGroup(), o.GetTopic() + "/" + itoa(o.GetPartition())}] = i
	}
	codes := map[string]map[int32]int16{}
	for _, t := range req.Topics {
		for _, p := range t.Partitions {
			meta := ""
			if p.Metadata != nil {
				meta = *p.Metadata
			}
			code := int16(0)
			switch {
			case len(meta) > c.cfg.MaxOffsetMetadata:
				code = kerr.OffsetMetadataTooLarge.Code
			case t.Topic == "" || strings.Contains(t.Topic, "/") || p.Partition < 0:
				code = kerr.UnknownTopicOrPartition.Code
			default:
				o := &controllerv1.TxnOffset{Group: req.Group, Topic: t.Topic, Partition: p.Partition, Offset: p.Offset, LeaderEpoch: p.LeaderEpoch, Metadata: meta}
				k := [2]string{req.Group, t.Topic + "/" + itoa(p.Partition)}
				if i, ok := idx[k]; ok {
					rec.Offsets[i] = o
				} else if len(rec.Offsets) >= maxTxnOffsets {
					code = kerr.InvalidRequest.Code
				} else {
					idx[k] = len(rec.Offsets)
					rec.Offsets = append(rec.Offsets, o)
				}
			}
			if codes[t.Topic] == nil {
				codes[t.Topic] = map[int32]int16{}
			}
			codes[t.Topic][p.Partition] = code
		}
	}
	saveCode := code(c.save(ctx, rec))
	fill(func(topic string, p kmsg.TxnOffsetCommitRequestTopicPartition) int16 {
		if c := codes[topic][p.Partition]; c != 0 {
			return c
		}
		return saveCode
	})
	return resp, nil
}

func (c *Coordinator) endTxn(ctx context.Context, req *kmsg.EndTxnRequest) (kmsg.Response, error) {
	resp := req.ResponseKind().(*kmsg.EndTxnResponse)
	if !validID(req.TransactionalID) {
		resp.ErrorCode = kerr.InvalidRequest.Code
		return resp, nil
	}
	unlock, rec, err := c.lockID(req.TransactionalID)
	if err != nil {
		return nil, err
	}
	if resp.ErrorCode = checkProducer(rec, req.ProducerID, req.ProducerEpoch, req.Key(), req.Version); resp.ErrorCode != 0 {
		unlock()
		return resp, nil
	}
	st := rec.GetState()
	switch {
	case st == controllerv1.TxnState_TXN_STATE_ONGOING:
		rec.State = controllerv1.TxnState_TXN_STATE_PREPARE_ABORT
		if req.Commit {
			rec.State = controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT
		}
		if err := c.save(ctx, rec); err != nil {
			unlock()
			resp.ErrorCode = code(err)
			return resp, nil
		}
		done := c.startCompletion(req.TransactionalID)
		unlock()
		// Answer once the markers are written, or soon anyway: the
		// prepared state is durable and the completion goes on.
		wait := time.NewTimer(endTxnWait)
		defer wait.Stop()
		select {
		case <-done:
		case <-wait.C:
		case <-ctx.Done():
		}
		return resp, nil
	case st == controllerv1.TxnState_TXN_STATE_COMPLETE_COMMIT && req.Commit, st == controllerv1.TxnState_TXN_STATE_COMPLETE_ABORT && !req.Commit:
		// A retry of the EndTxn that completed it.
	case st == controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT && req.Commit, st == controllerv1.TxnState_TXN_STATE_PREPARE_ABORT && !req.Commit:
		resp.ErrorCode = kerr.ConcurrentTransactions.Code
	default:
		resp.ErrorCode = kerr.InvalidTxnState.Code // nothing open, or the other outcome
	}
	unlock()
	return resp, nil
}

// startCompletion writes the markers of a prepared transaction in the
// background, once per id at a time; the channel closes when it is done.
func (c *Coordinator) startCompletion(id string) <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if done, ok := c.completing[id]; ok {
		return done
	}
	done := make(chan struct{})
	if !c.loaded || c.term == nil {
		close(done)
		return done
	}
	c.completing[id] = done
	ctx := c.term
	c.wg.Add(1)
	go func() {
		defer c.wg.Done()
		c.complete(ctx, id)
		c.mu.Lock()
		if c.completing[id] == done {
			delete(c.completing, id)
		}
		c.mu.Unlock()
		close(done)
	}()
	return done
}

// complete retries the markers of a prepared transaction until every
// partition has one, then records the outcome (and, for a commit, its
// offsets) in one store transaction.
func (c *Coordinator) complete(ctx context.Context, id string) {
	c.mu.Lock()
	rec := c.txns[id]
	if rec != nil {
		rec = metadata.Clone(rec)
	}
	c.mu.Unlock()
	if rec == nil || !preparing(rec.GetState()) {
		return
	}
	commit := rec.GetState() == controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT
	typ := MarkerAbort
	if commit {
		typ = MarkerCommit
	}
	var pending []Marker
	for _, tp := range rec.GetPartitions() {
		pending = append(pending, Marker{Topic: tp.GetTopic(), Partition: tp.GetPartition(), ProducerID: rec.GetProducerId(), ProducerEpoch: int16(rec.GetProducerEpoch()), Type: typ})
	}
	backoff := markerRetryMin
	for len(pending) > 0 {
		results := c.cfg.Markers.WriteMarkers(ctx, pending)
		var left []Marker
		for i, err := range results {
			switch {
			case err == nil:
			case errs.Is(err, errs.UnknownTopicOrPartition), errs.Is(err, errs.InvalidProducerEpoch), errs.Is(err, errs.InvalidRequest):
				// A deleted partition, or one that already moved past this
				// producer epoch: there is nothing left to mark.
				c.cfg.Log.Warn("transaction marker dropped", "transactional_id", id, "topic", pending[i].Topic, "partition", pending[i].Partition, "err", err)
			default:
				left = append(left, pending[i])
			}
		}
		pending = left
		if len(pending) == 0 {
			break
		}
		c.cfg.Log.Debug("transaction markers pending; retrying", "transactional_id", id, "partitions", len(pending))
		select {
		case <-ctx.Done():
			return // the next active controller resumes from the prepared state
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, markerRetryMax)
	}
	unlock, cur, err := c.lockID(id)
	if err != nil {
		return
	}
	defer unlock()
	if cur == nil || cur.GetState() != rec.GetState() || cur.GetProducerEpoch() != rec.GetProducerEpoch() {
		return
	}
	var extra []mdstore.Op
	if commit {
		for _, o := range cur.GetOffsets() {
			extra = append(extra, c.cfg.OffsetOp(o.GetGroup(), o.GetTopic(), o.GetPartition(), o.GetOffset(), o.GetLeaderEpoch(), o.GetMetadata()))
		}
		cur.State = controllerv1.TxnState_TXN_STATE_COMPLETE_COMMIT
	} else {
		cur.State = controllerv1.TxnState_TXN_STATE_COMPLETE_ABORT
	}
	cur.Partitions, cur.Groups, cur.Offsets, cur.StartUnixMs = nil, nil, nil, 0
	for ctx.Err() == nil {
		err := c.save(ctx, cur, extra...)
		if err == nil {
			return
		}
		if errs.Is(err, errs.NotController) {
			c.cfg.Log.Info("transaction completion left to the next active controller", "transactional_id", id, "err", err)
			return
		}
		c.cfg.Log.Warn("recording a transaction's outcome failed; retrying", "transactional_id", id, "err", err)
		select {
		case <-ctx.Done():
		case <-time.After(markerRetryMax):
		}
	}
}

// expire aborts open transactions past their timeout, fencing their
// producers (Kafka bumps the epoch too), and forgets transactional ids idle
// for longer than transactional.id.expiration.ms.
func (c *Coordinator) expire(ctx context.Context) {
	now := c.cfg.Now().UnixMilli()
	c.mu.Lock()
	var due, idle []string
	for id, rec := range c.txns {
		switch st := rec.GetState(); {
		case st == controllerv1.TxnState_TXN_STATE_ONGOING && now-rec.GetStartUnixMs() > int64(rec.GetTimeoutMs()):
			due = append(due, id)
		case st != controllerv1.TxnState_TXN_STATE_ONGOING && !preparing(st) && now-rec.GetUpdateUnixMs() > c.cfg.IDExpiration.Milliseconds():
			idle = append(idle, id)
		}
	}
	c.mu.Unlock()
	for _, id := range idle {
		c.forget(ctx, id, now)
	}
	for _, id := range due {
		unlock, rec, err := c.lockID(id)
		if err != nil {
			return
		}
		if rec != nil && rec.GetState() == controllerv1.TxnState_TXN_STATE_ONGOING && now-rec.GetStartUnixMs() > int64(rec.GetTimeoutMs()) {
			c.cfg.Log.Info("aborting a transaction past its timeout", "transactional_id", id, "producer_id", rec.GetProducerId(), "timeout_ms", rec.GetTimeoutMs())
			if err := c.prepareAbortFenced(ctx, rec); err != nil {
				c.cfg.Log.Warn("aborting a timed-out transaction failed", "transactional_id", id, "err", err)
			}
		}
		unlock()
	}
}

// forget deletes an idle transactional id's record; a producer that comes
// back with it starts over with a new producer id.
func (c *Coordinator) forget(ctx context.Context, id string, now int64) {
	unlock, rec, err := c.lockID(id)
	if err != nil {
		return
	}
	defer unlock()
	st := rec.GetState()
	if rec == nil || st == controllerv1.TxnState_TXN_STATE_ONGOING || preparing(st) || now-rec.GetUpdateUnixMs() <= c.cfg.IDExpiration.Milliseconds() {
		return
	}
	if _, err := c.cfg.Store.Write(ctx, nil, mdstore.Delete(recordKey(id))); err != nil {
		c.cfg.Log.Warn("forgetting an idle transactional id failed", "transactional_id", id, "err", err)
		return
	}
	c.mu.Lock()
	delete(c.txns, id)
	c.mu.Unlock()
	c.cfg.Log.Info("forgot an idle transactional id", "transactional_id", id, "producer_id", rec.GetProducerId())
}

// stateName is Kafka's name of a state (DescribeTransactions, ListTransactions).
func stateName(s controllerv1.TxnState) string {
	switch s {
	case controllerv1.TxnState_TXN_STATE_EMPTY:
		return "Empty"
	case controllerv1.TxnState_TXN_STATE_ONGOING:
		return "Ongoing"
	case controllerv1.TxnState_TXN_STATE_PREPARE_COMMIT:
		return "PrepareCommit"
	case controllerv1.TxnState_TXN_STATE_PREPARE_ABORT:
		return "PrepareAbort"
	case controllerv1.TxnState_TXN_STATE_COMPLETE_COMMIT:
		return "CompleteCommit"
	case controllerv1.TxnState_TXN_STATE_COMPLETE_ABORT:
		return "CompleteAbort"
	}
	return "Dead"
}

var stateNames = map[string]bool{"Empty": true, "Ongoing": true, "PrepareCommit": true, "PrepareAbort": true,
	"CompleteCommit": true, "CompleteAbort": true, "Dead": true, "PrepareEpochFence": true}

func (c *Coordinator) snapshot() (map[string]*controllerv1.TxnRecord, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.loaded {
		return nil, errs.New(errs.NotController, "the transaction coordinator is loading; retry")
	}
	out := make(map[string]*controllerv1.TxnRecord, len(c.txns))
	for id, r := range c.txns {
		out[id] = metadata.Clone(r)
	}
	return out, nil
}

func (c *Coordinator) describe(req *kmsg.DescribeTransactionsRequest) (kmsg.Response, error) {
	txns, err := c.snapshot()
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.DescribeTransactionsResponse)
	for _, id := range req.TransactionalIDs {
		ts := kmsg.NewDescribeTransactionsResponseTransactionState()
		ts.TransactionalID, ts.ProducerID, ts.ProducerEpoch, ts.StartTimestamp = id, -1, -1, -1
		rec := txns[id]
		if rec == nil {
			ts.ErrorCode = kerr.TransactionalIDNotFound.Code
			resp.TransactionStates = append(resp.TransactionStates, ts)
			continue
		}
		ts.State, ts.TimeoutMillis = stateName(rec.GetState()), rec.GetTimeoutMs()
		ts.ProducerID, ts.ProducerEpoch = rec.GetProducerId(), int16(rec.GetProducerEpoch())
		if rec.GetStartUnixMs() > 0 {
			ts.StartTimestamp = rec.GetStartUnixMs()
		}
		byTopic := map[string][]int32{}
		for _, tp := range rec.GetPartitions() {
			byTopic[tp.GetTopic()] = append(byTopic[tp.GetTopic()], tp.GetPartition())
		}
		topics := make([]string, 0, len(byTopic))
		for t := range byTopic {
			topics = append(topics, t)
		}
		sort.Strings(topics)
		for _, t := range topics {
			tt := kmsg.NewDescribeTransactionsResponseTransactionStateTopic()
			tt.Topic, tt.Partitions = t, byTopic[t]
			ts.Topics = append(ts.Topics, tt)
		}
		resp.TransactionStates = append(resp.TransactionStates, ts)
	}
	return resp, nil
}

func (c *Coordinator) list(req *kmsg.ListTransactionsRequest) (kmsg.Response, error) {
	txns, err := c.snapshot()
	if err != nil {
		return nil, err
	}
	resp := req.ResponseKind().(*kmsg.ListTransactionsResponse)
	states := map[string]bool{}
	for _, s := range req.StateFilters {
		if !stateNames[s] {
			resp.UnknownStateFilters = append(resp.UnknownStateFilters, s)
			continue
		}
		states[s] = true
	}
	pids := map[int64]bool{}
	for _, p := range req.ProducerIDFilters {
		pids[p] = true
	}
	ids := make([]string, 0, len(txns))
	for id := range txns {
		ids = append(ids, id)
	}
	sort.Strings(ids)
	for _, id := range ids {
		rec := txns[id]
		name := stateName(rec.GetState())
		if (len(req.StateFilters) > 0 && !states[name]) || (len(pids) > 0 && !pids[rec.GetProducerId()]) {
			continue
		}
		ls := kmsg.NewListTransactionsResponseTransactionState()
		ls.TransactionalID, ls.ProducerID, ls.TransactionState = id, rec.GetProducerId(), name
		resp.TransactionStates = append(resp.TransactionStates, ls)
	}
	return resp, nil
}

// PendingOffsets returns the partitions of group with offsets sent by
// TxnOffsetCommit in transactions not yet complete (for OffsetFetch's
// require_stable).
func (c *Coordinator) PendingOffsets(group string) map[string]map[int32]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out map[string]map[int32]bool
	for _, rec := range c.txns {
		st := rec.GetState()
		if st != controllerv1.TxnState_TXN_STATE_ONGOING && !preparing(st) {
			continue
		}
		for _, o := range rec.GetOffsets() {
			if o.GetGroup() != group {
				continue
			}
			if out == nil {
				out = map[string]map[int32]bool{}
			}
			if out[o.GetTopic()] == nil {
				out[o.GetTopic()] = map[int32]bool{}
			}
			out[o.GetTopic()][o.GetPartition()] = true
		}
	}
	return out
}
