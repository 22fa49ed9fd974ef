// Package mdstore is the controller's metadata store as the coordinators
// see it: a small key-value interface over etcd with fenced, conditional
// transactions, and an in-memory implementation for unit tests.
//
// Every write goes through Write, which applies all its ops atomically if
// every Cmp holds and the writer is still the active controller (the
// fence). The group, transaction and producer-id packages depend only on
// Store, so each can be tested without etcd.
package mdstore

import (
	"context"
	"sort"
	"strings"
	"sync"

	"github.com/strata-io/strata/internal/errs"
)

// KV is one stored key.
type KV struct {
	Key         string
	Value       []byte
	ModRevision int64
}

// Op is one write of a transaction: a put of Value, or a delete of Key
// (of every key under it when Prefix is set).
type Op struct {
	Key    string
	Value  []byte
	Delete bool
	Prefix bool
}

// Put is the op that stores value at key.
func Put(key string, value []byte) Op { return Op{Key: key, Value: value} }

// Delete is the op that removes key.
func Delete(key string) Op { return Op{Key: key, Delete: true} }

// DeletePrefix is the op that removes every key under prefix.
func DeletePrefix(prefix string) Op { return Op{Key: prefix, Delete: true, Prefix: true} }

// Cmp is a condition on one key: its mod revision must equal ModRevision
// (0: the key must not exist).
type Cmp struct {
	Key         string
	ModRevision int64
}

// Store is what a coordinator needs from the metadata store.
type Store interface {
	// Get reads one key; nil when it does not exist.
	Get(ctx context.Context, key string) (*KV, error)
	// List reads every key under prefix, in key order.
	List(ctx context.Context, prefix string) ([]KV, error)
	// Write applies ops if every cmp holds and this controller is still
	// active. applied is false when a cmp failed; a lost fence is an
	// errs.NotController error.
	Write(ctx context.Context, cmps []Cmp, ops ...Op) (applied bool, err error)
}

// Memory is an in-memory Store for tests. Fenced makes every write fail
// as a deposed controller's would.
type Memory struct {
	mu     sync.Mutex
	rev    int64
	kvs    map[string]KV
	fenced bool
}

// NewMemory returns an empty in-memory store.
func NewMemory() *Memory { return &Memory{kvs: map[string]KV{}} }

// SetFenced makes writes fail with NOT_CONTROLLER (true) or succeed again.
func (m *Memory) SetFenced(f bool) {
	m.mu.Lock()
	m.fenced = f
	m.mu.Unlock()
}

// Get implements Store.
func (m *Memory) Get(_ context.Context, key string) (*KV, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	kv, ok := m.kvs[key]
	if !ok {
		return nil, nil
	}
	kv.Value = append([]byte(nil), kv.Value...)
	return &kv, nil
}

// List implements Store.
func (m *Memory) List(_ context.Context, prefix string) ([]KV, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []KV
	for k, kv := range m.kvs {
		if strings.HasPrefix(k, prefix) {
			kv.Value = append([]byte(nil), kv.Value...)
			out = append(out, kv)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Key < out[j].Key })
	return out, nil
}

// Write implements Store.
func (m *Memory) Write(_ context.Context, cmps []Cmp, ops ...Op) (bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fenced {
		return false, errs.New(errs.NotController, "controller was deposed; retry")
	}
	for _, c := range cmps {
		if m.kvs[c.Key].ModRevision != c.ModRevision {
			return false, nil
		}
	}
	m.rev++
	for _, op := range ops {
		switch {
		case op.Delete && op.Prefix:
			for k := range m.kvs {
				if strings.HasPrefix(k, op.Key) {
					delete(m.kvs, k)
				}
			}
		case op.Delete:
			delete(m.kvs, op.Key)
		default:
			m.kvs[op.Key] = KV{Key: op.Key, Value: append([]byte(nil), op.Value...), ModRevision: m.rev}
		}
	}
	return true, nil
}
