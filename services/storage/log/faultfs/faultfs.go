// Package faultfs is an fsutil.FS that fails chosen operations on chosen
// files, for tests of what the storage engine does when the disk fills up,
// an fsync fails, a read returns EIO or the process runs out of file
// descriptors. Faults are switched at runtime and the FS is safe for
// concurrent use.
//
//	ffs := faultfs.New(nil)
//	full := ffs.Inject(faultfs.Rule{Op: faultfs.Write, Name: "*.log", After: 1 << 20, Err: syscall.ENOSPC})
//	l, _ := log.Open(dir, cfg, log.WithFS(ffs))
//	...
//	full.Off()
package faultfs

import (
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/strata-io/strata/internal/fsutil"
)

// Op is a set of operations a Rule applies to.
type Op uint32

// Operations. File and FS variants of one operation share an Op.
const (
	Open     Op = 1 << iota // FS.OpenFile
	Write                   // File.Write, File.WriteAt
	Read                    // File.Read, File.ReadAt
	Sync                    // File.Sync, File.Datasync, FS.Msync
	Truncate                // File.Truncate, FS.Truncate
	Remove                  // FS.Remove
	Rename                  // FS.Rename (matched against the old name)
	Mkdir                   // FS.MkdirAll
	ReadDir                 // FS.ReadDir
	Stat                    // FS.Stat, File.Stat
	Mmap                    // FS.Mmap
	Close                   // File.Close (the file is closed anyway)
)

// Rule says which calls fail and how.
type Rule struct {
	Op Op // operations the rule applies to; several may be or-ed
	// Name is a filepath.Match pattern for the base name of the file
	// ("*.log", "offsets.checkpoint.tmp", "*.index"); empty matches all.
	Name string
	// After is how much still succeeds before the rule fires: bytes for
	// Write (the write that crosses it is cut short, like a filling disk),
	// calls for every other operation. Once fired the rule keeps firing.
	After int64
	// Err is the error returned inside an *fs.PathError; nil means EIO.
	Err error
}

// Fault is an injected rule; it can be switched off and on again.
type Fault struct {
	r      Rule
	on     atomic.Bool
	budget int64 // guarded by FS.mu
	hits   atomic.Int64
}

// Off stops the fault from firing.
func (f *Fault) Off() { f.on.Store(false) }

// On makes the fault fire again (its After budget is not refilled).
func (f *Fault) On() { f.on.Store(true) }

// Hits is how many calls the fault has failed.
func (f *Fault) Hits() int64 { return f.hits.Load() }

// FS wraps another FS and fails calls as its faults say.
type FS struct {
	base   fsutil.FS
	active atomic.Int32 // len(faults), read without mu on the fast path

	mu     sync.Mutex
	faults []*Fault
	maps   map[*byte]string // mapping → file base name, for Msync rules
}

// New wraps base; nil means the real file system.
func New(base fsutil.FS) *FS {
	if base == nil {
		base = fsutil.OS
	}
	return &FS{base: base, maps: map[*byte]string{}}
}

// Inject adds a fault, switched on.
func (s *FS) Inject(r Rule) *Fault {
	if r.Err == nil {
		r.Err = syscall.EIO
	}
	f := &Fault{r: r, budget: r.After}
	f.on.Store(true)
	s.mu.Lock()
	s.faults = append(s.faults, f)
	s.active.Store(int32(len(s.faults)))
	s.mu.Unlock()
	return f
}

// Clear removes every fault.
func (s *FS) Clear() {
	s.mu.Lock()
	s.faults = nil
	s.active.Store(0)
	s.mu.Unlock()
}

// check decides a call of op on the file called name moving n bytes (0 for
// calls that move none). It returns how many bytes may still go through
// and the error to return, nil when the call succeeds in full.
func (s *FS) check(op Op, name string, n int) (int, error) {
	if s.active.Load() == 0 {
		return n, nil
	}
	base := filepath.Base(name)
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, f := range s.faults {
		if f.r.Op&op == 0 || !f.on.Load() {
			continue
		}
		if f.r.Name != "" {
			if ok, _ := filepath.Match(f.r.Name, base); !ok {
				continue
			}
		}
		if op == Write {
			if f.budget >= int64(n) {
				f.budget -= int64(n)
				continue
			}
			allowed := int(max(f.budget, 0))
			f.budget = 0
			f.hits.Add(1)
			return allowed, f.r.Err
		}
		if f.budget > 0 {
			f.budget--
			continue
		}
		f.hits.Add(1)
		return 0, f.r.Err
	}
	return n, nil
}

func pathErr(op, path string, err error) error { return &fs.PathError{Op: op, Path: path, Err: err} }

// OpenFile implements fsutil.FS.
func (s *FS) OpenFile(name string, flag int, perm os.FileMode) (fsutil.File, error) {
	if _, err := s.check(Open, name, 0); err != nil {
		return nil, pathErr("open", name, err)
	}
	f, err := s.base.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return &file{File: f, fs: s}, nil
}

// Remove implements fsutil.FS.
func (s *FS) Remove(name string) error {
	if _, err := s.check(Remove, name, 0); err != nil {
		return pathErr("remove", name, err)
	}
	return s.base.Remove(name)
}

// Rename implements fsutil.FS.
func (s *FS) Rename(oldpath, newpath string) error {
	if _, err := s.check(Rename, oldpath, 0); err != nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: err}
	}
	return s.base.Rename(oldpath, newpath)
}

// MkdirAll implements fsutil.FS.
func (s *FS) MkdirAll(path string, perm os.FileMode) error {
	if _, err := s.check(Mkdir, path, 0); err != nil {
		return pathErr("mkdir", path, err)
	}
	return s.base.MkdirAll(path, perm)
}

// ReadDir implements fsutil.FS.
func (s *FS) ReadDir(name string) ([]os.DirEntry, error) {
	if _, err := s.check(ReadDir, name, 0); err != nil {
		return nil, pathErr("readdirent", name, err)
	}
	return s.base.ReadDir(name)
}

// Stat implements fsutil.FS.
func (s *FS) Stat(name string) (os.FileInfo, error) {
	if _, err := s.check(Stat, name, 0); err != nil {
		return nil, pathErr("stat", name, err)
	}
	return s.base.Stat(name)
}

// Truncate implements fsutil.FS.
func (s *FS) Truncate(name string, size int64) error {
	if _, err := s.check(Truncate, name, 0); err != nil {
		return pathErr("truncate", name, err)
	}
	return s.base.Truncate(name, size)
}

// Mmap implements fsutil.FS.
func (s *FS) Mmap(f fsutil.File, length int, writable bool) ([]byte, error) {
	if _, err := s.check(Mmap, f.Name(), 0); err != nil {
		return nil, pathErr("mmap", f.Name(), err)
	}
	inner := f
	if w, ok := f.(*file); ok {
		inner = w.File
	}
	b, err := s.base.Mmap(inner, length, writable)
	if err == nil && len(b) > 0 {
		s.mu.Lock()
		s.maps[&b[0]] = filepath.Base(f.Name())
		s.mu.Unlock()
	}
	return b, err
}

// Munmap implements fsutil.FS.
func (s *FS) Munmap(b []byte) error {
	if len(b) > 0 {
		s.mu.Lock()
		delete(s.maps, &b[0])
		s.mu.Unlock()
	}
	return s.base.Munmap(b)
}

// Msync implements fsutil.FS; Sync rules match the mapped file's name.
func (s *FS) Msync(b []byte) error {
	var name string
	if len(b) > 0 {
		s.mu.Lock()
		name = s.maps[&b[0]]
		s.mu.Unlock()
	}
	if _, err := s.check(Sync, name, 0); err != nil {
		return &os.SyscallError{Syscall: "msync " + name, Err: err}
	}
	return s.base.Msync(b)
}

// file wraps an open file of the base FS.
type file struct {
	fsutil.File
	fs *FS
}

func (f *file) Write(p []byte) (int, error) {
	n, ferr := f.fs.check(Write, f.Name(), len(p))
	if ferr == nil {
		return f.File.Write(p)
	}
	w, err := f.File.Write(p[:n])
	if err != nil {
		return w, err
	}
	return w, pathErr("write", f.Name(), ferr)
}

func (f *file) WriteAt(p []byte, off int64) (int, error) {
	n, ferr := f.fs.check(Write, f.Name(), len(p))
	if ferr == nil {
		return f.File.WriteAt(p, off)
	}
	w, err := f.File.WriteAt(p[:n], off)
	if err != nil {
		return w, err
	}
	return w, pathErr("write", f.Name(), ferr)
}

func (f *file) Read(p []byte) (int, error) {
	if _, err := f.fs.check(Read, f.Name(), 0); err != nil {
		return 0, pathErr("read", f.Name(), err)
	}
	return f.File.Read(p)
}

func (f *file) ReadAt(p []byte, off int64) (int, error) {
	if _, err := f.fs.check(Read, f.Name(), 0); err != nil {
		return 0, pathErr("read", f.Name(), err)
	}
	return f.File.ReadAt(p, off)
}

func (f *file) Sync() error {
	if _, err := f.fs.check(Sync, f.Name(), 0); err != nil {
		return pathErr("sync", f.Name(), err)
	}
	return f.File.Sync()
}

func (f *file) Datasync() error {
	if _, err := f.fs.check(Sync, f.Name(), 0); err != nil {
		return pathErr("fdatasync", f.Name(), err)
	}
	return f.File.Datasync()
}

func (f *file) Truncate(size int64) error {
	if _, err := f.fs.check(Truncate, f.Name(), 0); err != nil {
		return pathErr("truncate", f.Name(), err)
	}
	return f.File.Truncate(size)
}

func (f *file) Stat() (os.FileInfo, error) {
	if _, err := f.fs.check(Stat, f.Name(), 0); err != nil {
		return nil, pathErr("stat", f.Name(), err)
	}
	return f.File.Stat()
}

func (f *file) Close() error {
	err := f.File.Close()
	if _, ferr := f.fs.check(Close, f.Name(), 0); ferr != nil && err == nil {
		err = pathErr("close", f.Name(), ferr)
	}
	return err
}
