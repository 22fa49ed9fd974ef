package log

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
)

var (
	fuzzLogOnce sync.Once
	fuzzLog     []byte // one valid segment of mixed batches
)

func validFuzzSegment(t testing.TB) []byte {
	fuzzLogOnce.Do(func() {
		dir, err := os.MkdirTemp("", "fuzzlog")
		if err != nil {
			t.Fatal(err)
		}
		defer os.RemoveAll(dir)
		l := openT(t, dir, smallConfig())
		for i := 0; i < 12; i++ {
			if _, err := l.Append(batchOf(t, allCodecs[i%5], 1+i%4, 20+i*7, int64(i*10)), 0); err != nil {
				t.Fatal(err)
			}
		}
		l.Close()
		fuzzLog, _ = os.ReadFile(filepath.Join(dir, segmentName(0, logSuffix)))
	})
	return bytes.Clone(fuzzLog)
}

// mutate applies ops from the fuzz input, 4 bytes each: kind, position
// (2 bytes, scaled to the data), argument.
func mutate(data, ops []byte) []byte {
	for len(ops) >= 4 && len(data) > 0 {
		kind, arg := ops[0]%4, int(ops[3])
		pos := int(binary.BigEndian.Uint16(ops[1:])) * len(data) / 65536
		switch kind {
		case 0: // truncate
			data = data[:pos]
		case 1: // flip a bit
			data[pos] ^= 1 << (arg % 8)
		case 2: // zero-fill
			clear(data[pos:min(len(data), pos+arg+1)])
		case 3: // duplicate a range
			dup := bytes.Clone(data[pos:min(len(data), pos+arg*4+1)])
			data = append(data[:pos+len(dup)], append(dup, data[pos+len(dup):]...)...)
		}
		ops = ops[4:]
	}
	return data
}

// validPrefix is the oracle: the longest prefix of whole batches that are
// valid and whose offsets increase from 0.
func validPrefix(data []byte) (n int, next int64) {
	for {
		b, _, err := recordbatch.Next(data[n:])
		if err != nil {
			return n, next
		}
		h, err := recordbatch.Validate(b)
		if err != nil || h.BaseOffset < next || h.LastOffset() > math.MaxUint32 {
			return n, next
		}
		n += len(b)
		next = h.NextOffset()
	}
}

// FuzzRecovery damages a valid segment and checks that recovery keeps
// exactly the longest valid prefix of batches, keeps every batch before
// the first damaged byte, and that a second recovery changes nothing.
func FuzzRecovery(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{0, 0xc0, 0, 0})
	f.Add([]byte{1, 0x40, 0, 3})
	f.Add([]byte{2, 0x80, 0, 200})
	f.Add([]byte{3, 0x20, 0, 40, 0, 0xf0, 0, 0})
	f.Fuzz(func(t *testing.T, ops []byte) {
		orig := validFuzzSegment(t)
		data := mutate(bytes.Clone(orig), ops)
		dir := t.TempDir()
		path := filepath.Join(dir, segmentName(0, logSuffix))
		if err := os.WriteFile(path, data, 0o644); err != nil {
			t.Fatal(err)
		}
		wantLen, wantNext := validPrefix(data)
		// Lower bound independent of the oracle: whole original batches
		// before the first changed byte survive.
		same := 0
		for same < len(data) && same < len(orig) && data[same] == orig[same] {
			same++
		}
		intact, _ := validPrefix(orig[:same])

		l, err := Open(dir, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		got, _ := os.ReadFile(path)
		if len(got) != wantLen || !bytes.Equal(got, data[:wantLen]) || l.LogEndOffset() != wantNext {
			t.Fatalf("recovered %d bytes (leo %d), want %d (leo %d)", len(got), l.LogEndOffset(), wantLen, wantNext)
		}
		if len(got) < intact {
			t.Fatalf("lost intact batches: kept %d of %d bytes", len(got), intact)
		}
		if wantNext > 0 {
			if _, err := l.Read(0, 1<<20, wantNext); err != nil {
				t.Fatal(err)
			}
		}
		crash(l)
		l, err = Open(dir, smallConfig())
		if err != nil {
			t.Fatal(err)
		}
		again, _ := os.ReadFile(path)
		if !bytes.Equal(again, got) || l.LogEndOffset() != wantNext {
			t.Fatal("second recovery changed the log")
		}
		// The recovered log accepts appends.
		if _, err := l.Append(batchOf(t, codec.None, 1, 1, 1), 0); err != nil {
			t.Fatal(err)
		}
		l.Close()
	})
}
