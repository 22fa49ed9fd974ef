package mdstore

import (
	"context"
	"testing"

	"github.com/strata-io/strata/internal/errs"
)

func TestMemoryCompareAndFence(t *testing.T) {
	ctx := context.Background()
	m := NewMemory()
	if ok, err := m.Write(ctx, []Cmp{{Key: "/a", ModRevision: 0}}, Put("/a", []byte("1"))); !ok || err != nil {
		t.Fatalf("create: %v %v", ok, err)
	}
	if ok, _ := m.Write(ctx, []Cmp{{Key: "/a", ModRevision: 0}}, Put("/a", []byte("2"))); ok {
		t.Fatal("create of an existing key applied")
	}
	kv, _ := m.Get(ctx, "/a")
	if ok, _ := m.Write(ctx, []Cmp{{Key: "/a", ModRevision: kv.ModRevision}}, Put("/a", []byte("2")), Put("/a/b", nil)); !ok {
		t.Fatal("update at the right revision refused")
	}
	if kvs, _ := m.List(ctx, "/a"); len(kvs) != 2 || string(kvs[0].Value) != "2" {
		t.Fatalf("list = %+v", kvs)
	}
	m.SetFenced(true)
	if _, err := m.Write(ctx, nil, Delete("/a")); !errs.Is(err, errs.NotController) {
		t.Fatalf("fenced write: %v", err)
	}
	m.SetFenced(false)
	if _, err := m.Write(ctx, nil, DeletePrefix("/a")); err != nil {
		t.Fatal(err)
	}
	if kvs, _ := m.List(ctx, "/"); len(kvs) != 0 {
		t.Fatalf("left %+v", kvs)
	}
}
