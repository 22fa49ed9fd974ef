package fsutil

import (
	"io"
	"os"

	"golang.org/x/sys/unix"
)

// FS is the file-system surface the storage engine uses, so tests can
// inject faults (a full disk, a failing fsync, a failed mmap) and check
// that no acknowledged data is lost. OS is the real one.
type FS interface {
	OpenFile(name string, flag int, perm os.FileMode) (File, error)
	Remove(name string) error
	Rename(oldpath, newpath string) error
	MkdirAll(path string, perm os.FileMode) error
	ReadDir(name string) ([]os.DirEntry, error)
	Stat(name string) (os.FileInfo, error)
	Truncate(name string, size int64) error
	// Mmap maps the first length bytes of f, shared; writable adds PROT_WRITE.
	Mmap(f File, length int, writable bool) ([]byte, error)
	Munmap(b []byte) error
	Msync(b []byte) error
}

// File is an open file of an FS.
type File interface {
	io.Reader
	io.Writer
	io.ReaderAt
	io.WriterAt
	io.Closer
	Name() string
	Stat() (os.FileInfo, error)
	Truncate(size int64) error
	Sync() error
	// Datasync is fdatasync: data and the size, not all metadata.
	Datasync() error
	// Allocate reserves blocks for [off, off+length) without changing the
	// file's size (fallocate FALLOC_FL_KEEP_SIZE), so later writes there
	// skip the file system's block allocation.
	Allocate(off, length int64) error
	Fd() uintptr
}

// OS is the real file system.
var OS FS = osFS{}

type osFS struct{}

type osFile struct{ *os.File }

func (f osFile) Datasync() error {
	if err := unix.Fdatasync(int(f.Fd())); err != nil {
		return &os.PathError{Op: "fdatasync", Path: f.Name(), Err: err}
	}
	return nil
}

func (f osFile) Allocate(off, length int64) error {
	if err := unix.Fallocate(int(f.Fd()), unix.FALLOC_FL_KEEP_SIZE, off, length); err != nil {
		return &os.PathError{Op: "fallocate", Path: f.Name(), Err: err}
	}
	return nil
}

func (osFS) OpenFile(name string, flag int, perm os.FileMode) (File, error) {
	f, err := os.OpenFile(name, flag, perm)
	if err != nil {
		return nil, err
	}
	return osFile{f}, nil
}

func (osFS) Remove(name string) error                     { return os.Remove(name) }
func (osFS) Rename(oldpath, newpath string) error         { return os.Rename(oldpath, newpath) }
func (osFS) MkdirAll(path string, perm os.FileMode) error { return os.MkdirAll(path, perm) }
func (osFS) ReadDir(name string) ([]os.DirEntry, error)   { return os.ReadDir(name) }
func (osFS) Stat(name string) (os.FileInfo, error)        { return os.Stat(name) }
func (osFS) Truncate(name string, size int64) error       { return os.Truncate(name, size) }

func (osFS) Mmap(f File, length int, writable bool) ([]byte, error) {
	prot := unix.PROT_READ
	if writable {
		prot |= unix.PROT_WRITE
	}
	b, err := unix.Mmap(int(f.Fd()), 0, length, prot, unix.MAP_SHARED)
	if err != nil {
		return nil, &os.PathError{Op: "mmap", Path: f.Name(), Err: err}
	}
	// The mappings are indexes, read by binary search and written one
	// entry at a time: without this, each first touch of a page makes the
	// kernel read ahead (for a sparse, preallocated index: zero-fill) up to
	// a large folio around it, which cost more than half the CPU of a
	// node with 600 partitions (docs/performance.md).
	if err := unix.Madvise(b, unix.MADV_RANDOM); err != nil {
		_ = unix.Munmap(b)
		return nil, &os.PathError{Op: "madvise", Path: f.Name(), Err: err}
	}
	return b, nil
}

func (osFS) Munmap(b []byte) error {
	if err := unix.Munmap(b); err != nil {
		return &os.SyscallError{Syscall: "munmap", Err: err}
	}
	return nil
}

func (osFS) Msync(b []byte) error {
	if err := unix.Msync(b, unix.MS_SYNC); err != nil {
		return &os.SyscallError{Syscall: "msync", Err: err}
	}
	return nil
}

// ReadFile is os.ReadFile through fsys.
func ReadFile(fsys FS, name string) ([]byte, error) {
	f, err := fsys.OpenFile(name, os.O_RDONLY, 0)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	return io.ReadAll(f)
}

// WriteFile is os.WriteFile through fsys.
func WriteFile(fsys FS, name string, data []byte, perm os.FileMode) error {
	f, err := fsys.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, perm)
	if err != nil {
		return err
	}
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
