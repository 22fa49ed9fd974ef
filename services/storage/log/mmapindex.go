package log

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"runtime/debug"
	"sync/atomic"

	"github.com/strata-io/strata/internal/fsutil"
)

// mmapIndex is a file of fixed-size entries mapped into memory. Memory use
// is page cache the kernel can reclaim, not Go heap, so thousands of idle
// partitions cost little. The active segment's index is preallocated to its
// maximum size like Kafka's and trimmed when the segment is sealed or closed.
//
// One writer appends under the log's append lock and publishes the entry
// count atomically; readers only look at entries below the published count.
type mmapIndex struct {
	fs         fsutil.FS
	path       string
	entrySize  int
	maxEntries int
	data       []byte
	n          atomic.Int64
	writable   bool
}

// openIndex maps path. sizeOK is false when the file length is not a whole
// number of entries (the caller rebuilds the index).
func openIndex(fsys fsutil.FS, path string, entrySize, maxBytes int, writable bool) (ix *mmapIndex, sizeOK bool, err error) {
	f, err := fsys.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, false, fmt.Errorf("open index: %w", err)
	}
	defer f.Close() // the mapping outlives the descriptor
	st, err := f.Stat()
	if err != nil {
		return nil, false, fmt.Errorf("stat index: %w", err)
	}
	size := st.Size()
	ix = &mmapIndex{fs: fsys, path: path, entrySize: entrySize, maxEntries: maxBytes / entrySize}
	sizeOK = size%int64(entrySize) == 0
	entries := min(size/int64(entrySize), int64(ix.maxEntries))
	if !sizeOK {
		entries = 0
	}
	mapLen := int(entries) * entrySize
	if writable {
		mapLen = ix.maxEntries * entrySize
		if err := f.Truncate(int64(mapLen)); err != nil {
			return nil, false, fmt.Errorf("preallocate index: %w", err)
		}
	}
	if mapLen > 0 {
		ix.data, err = fsys.Mmap(f, mapLen, writable)
		if err != nil {
			return nil, false, fmt.Errorf("mmap index: %w", err)
		}
	}
	ix.writable = writable
	ix.n.Store(entries)
	return ix, sizeOK, nil
}

func (ix *mmapIndex) len() int { return int(ix.n.Load()) }

func (ix *mmapIndex) entry(i int) []byte {
	return ix.data[i*ix.entrySize : (i+1)*ix.entrySize]
}

// free is how many more entries fit.
func (ix *mmapIndex) free() int {
	if !ix.writable {
		return 0
	}
	return ix.maxEntries - ix.len()
}

// errMappedWrite is why writing a mapped index page faulted: the file
// system could not back the page (a full disk) or could not read it (EIO).
var errMappedWrite = errors.New("memory fault writing the mapped page (disk full or I/O error)")

// put fills the next entry and publishes it. The preallocated file is
// sparse, so the first write to each page makes the file system allocate
// it; on a full disk the kernel answers with SIGBUS, which would kill the
// whole process. With SetPanicOnFault the fault is an error of this index
// (and so of this log) instead; the entry is not published.
func (ix *mmapIndex) put(fill func(e []byte)) (err error) {
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		if r := recover(); r != nil {
			if _, fault := r.(interface{ Addr() uintptr }); !fault {
				panic(r)
			}
			err = &fs.PathError{Op: "write", Path: ix.path, Err: errMappedWrite}
		}
	}()
	n := ix.len()
	fill(ix.data[n*ix.entrySize : (n+1)*ix.entrySize])
	ix.n.Add(1)
	return nil
}

// truncate keeps the first k entries.
func (ix *mmapIndex) truncate(k int) {
	if k < ix.len() {
		ix.n.Store(int64(k))
	}
}

func (ix *mmapIndex) flush() error {
	if !ix.writable || len(ix.data) == 0 {
		return nil
	}
	if err := ix.fs.Msync(ix.data); err != nil {
		return fmt.Errorf("msync %s: %w", ix.path, err)
	}
	return nil
}

// seal trims the file to its entries and stops appends. The mapping stays:
// readers never touch bytes past the published entries.
func (ix *mmapIndex) seal() error {
	if !ix.writable {
		return nil
	}
	if err := ix.flush(); err != nil {
		return err
	}
	if err := ix.fs.Truncate(ix.path, int64(ix.len()*ix.entrySize)); err != nil {
		return fmt.Errorf("trim index: %w", err)
	}
	ix.writable = false
	return nil
}

// close trims a writable index and unmaps it.
func (ix *mmapIndex) close() error {
	err := ix.seal()
	if ix.data != nil {
		if uerr := ix.fs.Munmap(ix.data); uerr != nil && err == nil {
			err = fmt.Errorf("munmap %s: %w", ix.path, uerr)
		}
		ix.data = nil
	}
	return err
}
