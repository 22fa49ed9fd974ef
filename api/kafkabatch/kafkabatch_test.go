package kafkabatch

import (
	"encoding/binary"
	"hash/crc32"
	"testing"
)

// A finished batch has the header a Kafka broker checks: its length, magic
// 2, no producer, the record count and last offset delta, the base and
// max timestamps, and a CRC-32C over everything after the CRC field.
// (internal/recordbatch tests it byte for byte against the server's
// encoder and validator.)
func TestFinishWritesAValidHeader(t *testing.T) {
	var w Builder
	w.Add([]byte("k"), []byte("v1"), 1000, nil)
	w.Add(nil, nil, 990, []Header{{Key: "h", Value: []byte("x")}})
	w.Add(nil, []byte("v3"), 1010, nil)
	b := w.Finish()
	be := binary.BigEndian
	switch {
	case int(be.Uint32(b[8:]))+12 != len(b):
		t.Fatalf("length %d for %d bytes", be.Uint32(b[8:]), len(b))
	case b[16] != 2:
		t.Fatalf("magic %d", b[16])
	case be.Uint32(b[17:]) != crc32.Checksum(b[21:], crc32.MakeTable(crc32.Castagnoli)):
		t.Fatal("bad CRC")
	case int32(be.Uint32(b[23:])) != 2 || int32(be.Uint32(b[57:])) != 3:
		t.Fatalf("last offset delta %d, records %d", be.Uint32(b[23:]), be.Uint32(b[57:]))
	case int64(be.Uint64(b[27:])) != 1000 || int64(be.Uint64(b[35:])) != 1010:
		t.Fatalf("timestamps %d..%d", be.Uint64(b[27:]), be.Uint64(b[35:]))
	case int64(be.Uint64(b[43:])) != -1 || int16(be.Uint16(b[51:])) != -1 || int32(be.Uint32(b[53:])) != -1:
		t.Fatal("a producer is set")
	}
	w.Reset(b)
	if w.Records() != 0 || w.Len() != HeaderSize {
		t.Fatalf("after Reset: %d records, %d bytes", w.Records(), w.Len())
	}
}
