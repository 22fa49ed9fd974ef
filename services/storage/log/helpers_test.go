package log

import (
	"bytes"
	"fmt"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"golang.org/x/sys/unix"
)

// batchOf builds a producer batch of n records of valueSize bytes with
// keys key<i> and timestamps ts, ts+1, ...
func batchOf(t testing.TB, c codec.Codec, n, valueSize int, ts int64) []byte {
	t.Helper()
	recs := make([]recordbatch.BuildRecord, n)
	for i := range recs {
		recs[i] = recordbatch.BuildRecord{
			Key:       []byte(fmt.Sprintf("key%d", i)),
			Value:     bytes.Repeat([]byte{byte('a' + i%26)}, valueSize),
			Timestamp: ts + int64(i),
		}
	}
	b, err := recordbatch.Build(recordbatch.ProducerOptions(c), recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func keyed(t testing.TB, c codec.Codec, ts int64, kv ...string) []byte {
	t.Helper()
	var recs []recordbatch.BuildRecord
	for i := 0; i < len(kv); i += 2 {
		r := recordbatch.BuildRecord{Key: []byte(kv[i]), Timestamp: ts}
		if kv[i+1] != "<nil>" {
			r.Value = []byte(kv[i+1])
		}
		recs = append(recs, r)
	}
	b, err := recordbatch.Build(recordbatch.ProducerOptions(c), recs)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func smallConfig() Config {
	c := DefaultConfig()
	c.IndexIntervalBytes = 256
	c.RetentionMs = -1
	return c
}

func openT(t testing.TB, dir string, cfg Config, opt ...Option) *Log {
	t.Helper()
	l, err := Open(dir, cfg, opt...)
	if err != nil {
		t.Fatal(err)
	}
	// Closed before the test's temporary directory goes (no background
	// sync then writes into it); a log closed already is left as it is.
	t.Cleanup(func() { l.Close() })
	return l
}

// crash abandons the log like a killed process would: no flush, no index
// trim, no clean-shutdown marker. The background syncs of rolled segments
// are let finish first (done here, so the files are the same every run);
// crashNow does not wait for them.
func crash(l *Log) {
	l.mu.Lock()
	l.syncRolledLocked()
	l.mu.Unlock()
	crashNow(l)
}

// crashNow is crash with the rolled segments' pending syncs left undone.
func crashNow(l *Log) {
	defer l.syncWG.Wait()
	l.mu.Lock()
	defer l.mu.Unlock()
	l.closed = true
	l.shut.Store(true)
	l.rolled = nil
	for _, s := range l.segs {
		s.endSyncs()
		for _, ix := range []*mmapIndex{s.idx.mmapIndex, s.tidx.mmapIndex} {
			if ix.data != nil {
				unix.Munmap(ix.data)
				ix.data = nil
			}
		}
		s.f.Close()
	}
}

type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }

// readAll returns every record offset and value from the log.
func readAll(t testing.TB, l *Log) (offsets []int64, values []string) {
	t.Helper()
	off := l.LogStartOffset()
	for off < l.LogEndOffset() {
		data, err := l.Read(off, 1<<20, l.LogEndOffset())
		if err != nil {
			t.Fatalf("read at %d: %v", off, err)
		}
		if len(data) == 0 {
			break
		}
		for len(data) > 0 {
			b, rest, err := recordbatch.Next(data)
			if err != nil {
				t.Fatal(err)
			}
			h, err := recordbatch.Validate(b)
			if err != nil {
				t.Fatal(err)
			}
			recs, err := recordbatch.Records(nil, b, &h, 1<<26)
			if err != nil {
				t.Fatal(err)
			}
			it := recordbatch.NewRecordIter(recs, h.RecordCount)
			for it.Next() {
				o := h.BaseOffset + int64(it.Record().OffsetDelta)
				if o >= off {
					offsets = append(offsets, o)
					v := "<nil>"
					if it.Record().Value != nil {
						v = string(it.Record().Value)
					}
					values = append(values, v)
				}
			}
			if it.Err() != nil {
				t.Fatal(it.Err())
			}
			off = h.NextOffset()
			data = rest
		}
	}
	return offsets, values
}
