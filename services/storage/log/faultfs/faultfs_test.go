package faultfs

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

func TestWriteAfterBytesIsCutShort(t *testing.T) {
	dir := t.TempDir()
	ffs := New(nil)
	full := ffs.Inject(Rule{Op: Write, Name: "*.log", After: 10, Err: syscall.ENOSPC})
	f, err := ffs.OpenFile(filepath.Join(dir, "a.log"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if n, err := f.Write([]byte("123456")); n != 6 || err != nil {
		t.Fatalf("first write: %d, %v", n, err)
	}
	n, err := f.WriteAt([]byte("789012"), 6)
	if n != 4 || !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("crossing write: %d, %v; want 4, ENOSPC", n, err)
	}
	if full.Hits() != 1 {
		t.Fatalf("hits %d", full.Hits())
	}
	// Other files are not affected; switching off lets writes through.
	if err := os.WriteFile(filepath.Join(dir, "b.index"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	g, err := ffs.OpenFile(filepath.Join(dir, "b.index"), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer g.Close()
	if _, err := g.Write([]byte("x")); err != nil {
		t.Fatal(err)
	}
	full.Off()
	if _, err := f.WriteAt([]byte("z"), 10); err != nil {
		t.Fatalf("after Off: %v", err)
	}
	if got, _ := os.ReadFile(filepath.Join(dir, "a.log")); string(got) != "1234567890z" {
		t.Fatalf("file holds %q", got)
	}
}

func TestCallRulesAndClear(t *testing.T) {
	dir := t.TempDir()
	ffs := New(nil)
	ffs.Inject(Rule{Op: Open, After: 1, Err: syscall.EMFILE})
	ffs.Inject(Rule{Op: Sync | Read, Name: "s"})
	p := filepath.Join(dir, "s")
	f, err := ffs.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatalf("first open is allowed: %v", err)
	}
	defer f.Close()
	if _, err := ffs.OpenFile(p, os.O_RDONLY, 0); !errors.Is(err, syscall.EMFILE) {
		t.Fatalf("second open: %v", err)
	}
	if err := f.Sync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("sync: %v", err)
	}
	if err := f.Datasync(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("datasync: %v", err)
	}
	if _, err := f.ReadAt(make([]byte, 1), 0); !errors.Is(err, syscall.EIO) {
		t.Fatalf("read: %v", err)
	}
	ffs.Clear()
	if err := f.Sync(); err != nil {
		t.Fatal(err)
	}
}

func TestMmapFault(t *testing.T) {
	dir := t.TempDir()
	ffs := New(nil)
	p := filepath.Join(dir, "x.index")
	f, err := ffs.OpenFile(p, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(4096); err != nil {
		t.Fatal(err)
	}
	b, err := ffs.Mmap(f, 4096, true)
	if err != nil {
		t.Fatal(err)
	}
	ffs.Inject(Rule{Op: Sync, Name: "*.index"})
	if err := ffs.Msync(b); !errors.Is(err, syscall.EIO) {
		t.Fatalf("msync: %v", err)
	}
	if err := ffs.Munmap(b); err != nil {
		t.Fatal(err)
	}
	ffs.Inject(Rule{Op: Mmap, Err: syscall.ENOMEM})
	if _, err := ffs.Mmap(f, 4096, false); !errors.Is(err, syscall.ENOMEM) {
		t.Fatalf("mmap: %v", err)
	}
}

func TestConcurrentSwitching(t *testing.T) {
	dir := t.TempDir()
	ffs := New(nil)
	flt := ffs.Inject(Rule{Op: Write, Err: syscall.ENOSPC})
	f, err := ffs.OpenFile(filepath.Join(dir, "c"), os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for j := 0; j < 200; j++ {
				_, _ = f.WriteAt([]byte("x"), int64(j))
				if j%2 == 0 {
					flt.Off()
				} else {
					flt.On()
				}
			}
		}()
	}
	wg.Wait()
}
