package controller

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

// elector keeps this controller in the election for the active role and
// knows the fence that every metadata write must pass.
type elector struct {
	cli       *clientv3.Client
	onActive  func(ctx context.Context) // runs while active; ctx ends with the term
	name      string
	address   string
	ttl       time.Duration
	log       *slog.Logger
	metrics   *metrics
	mu        sync.RWMutex
	activeKey string // our election key while active, else ""
	activeRev int64  // its create revision
}

func newElector(cli *clientv3.Client, name, address string, ttl time.Duration, log *slog.Logger, m *metrics) *elector {
	return &elector{cli: cli, name: name, address: address, ttl: ttl, log: log, metrics: m}
}

// run campaigns until ctx ends, starting over with a new session whenever
// the old one expires (for example after a long pause).
func (e *elector) run(ctx context.Context) {
	for ctx.Err() == nil {
		if err := e.term(ctx); err != nil && ctx.Err() == nil {
			e.log.Warn("controller election session ended", "err", err)
			select {
			case <-ctx.Done():
			case <-time.After(500 * time.Millisecond):
			}
		}
	}
}

// term runs one session: register, campaign, serve as active until the
// session ends.
func (e *elector) term(ctx context.Context) error {
	sess, err := concurrency.NewSession(e.cli, concurrency.WithTTL(int(e.ttl.Seconds())), concurrency.WithContext(ctx))
	if err != nil {
		return err
	}
	defer sess.Close() // revokes the lease: our keys vanish at once
	rec := mdstore.Marshal(&metadatav1.ControllerRecord{Name: e.name, Address: e.address})
	if _, err := e.cli.Put(ctx, mdstore.ControllerKey(e.name), string(rec), clientv3.WithLease(sess.Lease())); err != nil {
		return err
	}
	campaignCtx, stop := context.WithCancel(ctx)
	go func() {
		select {
		case <-sess.Done():
		case <-campaignCtx.Done():
		}
		stop()
	}()
	defer stop()
	el := concurrency.NewElection(sess, mdstore.ElectionPrefix)
	if err := el.Campaign(campaignCtx, string(rec)); err != nil {
		return err
	}
	e.mu.Lock()
	e.activeKey, e.activeRev = el.Key(), el.Rev()
	e.mu.Unlock()
	e.metrics.active.Set(1)
	e.log.Info("this controller is now active")
	termCtx, endTerm := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		if e.onActive != nil {
			e.onActive(termCtx)
		}
	}()
	select {
	case <-ctx.Done():
	case <-sess.Done():
	}
	endTerm()
	<-done
	e.mu.Lock()
	e.activeKey, e.activeRev = "", 0
	e.mu.Unlock()
	e.metrics.active.Set(0)
	if ctx.Err() != nil {
		resignCtx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = el.Resign(resignCtx)
		return nil
	}
	e.log.Warn("lost the active controller role: session expired")
	return errors.New("session expired")
}

// fence returns the comparison that holds only while this controller is
// still the active one; a deposed controller's writes fail it.
func (e *elector) fence() (clientv3.Cmp, bool) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	if e.activeKey == "" {
		return clientv3.Cmp{}, false
	}
	return clientv3.Compare(clientv3.CreateRevision(e.activeKey), "=", e.activeRev), true
}

// active returns the active controller's record.
func (e *elector) active(ctx context.Context) (*metadatav1.ControllerRecord, error) {
	resp, err := e.cli.Get(ctx, mdstore.ElectionPrefix, clientv3.WithFirstCreate()...)
	if err != nil {
		return nil, errs.New(errs.NotController, "finding the active controller: %v", err)
	}
	if len(resp.Kvs) == 0 {
		return nil, errs.New(errs.NotController, "no controller is active yet; retry")
	}
	rec := &metadatav1.ControllerRecord{}
	if err := mdstore.Unmarshal(resp.Kvs[0].Value, rec); err != nil {
		return nil, errs.New(errs.NotController, "bad election record: %v", err)
	}
	return rec, nil
}
