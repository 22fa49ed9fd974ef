// Package member keeps a storage node or gateway registered with the
// controller: it registers, heartbeats at the interval the controller asks
// for, and registers again (keeping its id) when its lease has expired.
package member

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
)

// Registration is what a successful registration returns.
type Registration struct {
	ID        int32
	Epoch     int64
	Interval  time.Duration
	ClusterID string
}

// RegisterFunc registers the member with the given id (0 for a new one).
type RegisterFunc func(ctx context.Context, id int32) (Registration, error)

// ErrFenced means a newer incarnation with the same id registered: this
// process must stop.
var ErrFenced = errors.New("fenced: a newer incarnation of this member registered")

// Member is a registered member.
type Member struct {
	kind     controllerv1.MemberKind
	client   controllerv1.ControllerServiceClient
	register RegisterFunc
	log      *slog.Logger

	mu  sync.RWMutex
	reg Registration
	ok  bool // the lease is believed to be held
}

// Register registers once, retrying retriable errors until ctx ends, and
// returns a member that Run keeps alive.
func Register(ctx context.Context, kind controllerv1.MemberKind, client controllerv1.ControllerServiceClient, id int32, register RegisterFunc, log *slog.Logger) (*Member, error) {
	m := &Member{kind: kind, client: client, register: register, log: log}
	reg, err := retry(ctx, func() (Registration, error) { return register(ctx, id) })
	if err != nil {
		return nil, err
	}
	m.set(reg)
	return m, nil
}

func retry(ctx context.Context, f func() (Registration, error)) (Registration, error) {
	backoff := 100 * time.Millisecond
	for {
		reg, err := f()
		if err == nil {
			return reg, nil
		}
		if e := errs.From(err); e != nil && !e.Detail.GetRetriable() {
			return reg, fmt.Errorf("register: %s", e.Msg)
		}
		select {
		case <-ctx.Done():
			return reg, fmt.Errorf("register: %w (last error: %v)", ctx.Err(), errs.Message(err))
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 2*time.Second)
	}
}

func (m *Member) set(reg Registration) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reg, m.ok = reg, true
}

// Registration returns the current registration.
func (m *Member) Registration() Registration {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.reg
}

// Alive reports whether the last heartbeat or registration succeeded.
func (m *Member) Alive() bool {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.ok
}

// Run heartbeats until ctx ends. It returns ErrFenced when another process
// took over this member's id, and nil when ctx ends.
func (m *Member) Run(ctx context.Context) error {
	for {
		reg := m.Registration()
		select {
		case <-ctx.Done():
			return nil
		case <-time.After(reg.Interval):
		}
		hctx, cancel := context.WithTimeout(ctx, reg.Interval*2)
		_, err := m.client.Heartbeat(hctx, &controllerv1.HeartbeatRequest{Kind: m.kind, Id: reg.ID, Epoch: reg.Epoch})
		cancel()
		switch {
		case err == nil:
			m.mu.Lock()
			m.ok = true
			m.mu.Unlock()
		case errs.Is(err, errs.StaleEpoch):
			m.mu.Lock()
			m.ok = false
			m.mu.Unlock()
			return ErrFenced
		case errs.Is(err, errs.LeaseExpired):
			m.log.Warn("lease expired; registering again", "id", reg.ID)
			m.mu.Lock()
			m.ok = false
			m.mu.Unlock()
			next, err := retry(ctx, func() (Registration, error) { return m.register(ctx, reg.ID) })
			if err != nil {
				if ctx.Err() != nil {
					return nil
				}
				return err
			}
			m.set(next)
		default:
			if ctx.Err() == nil {
				m.log.Debug("heartbeat failed", "err", err)
			}
		}
	}
}

// Unregister ends the lease now (on a clean shutdown), so the controller
// sees this member gone at once instead of after the lease TTL.
func (m *Member) Unregister(ctx context.Context) error {
	reg := m.Registration()
	_, err := m.client.Unregister(ctx, &controllerv1.UnregisterRequest{Kind: m.kind, Id: reg.ID, Epoch: reg.Epoch})
	return err
}
