package recordbatch

import (
	"bytes"
	"encoding/binary"
	"math"
	"testing"

	"github.com/strata-io/strata/internal/codec"
)

// withRecords returns batch b (uncompressed) with its records section
// replaced by recs, compressed with c, and a valid length and CRC: the
// damage is inside the payload, where only a whole-batch check finds it.
func withRecords(t testing.TB, b []byte, c codec.Codec, recs []byte) []byte {
	t.Helper()
	out, err := codec.Compress(bytes.Clone(b[:HeaderSize]), c, recs)
	if err != nil {
		t.Fatal(err)
	}
	attrs := binary.BigEndian.Uint16(out[offAttributes:])
	binary.BigEndian.PutUint16(out[offAttributes:], attrs&^attrCodecMask|uint16(c))
	binary.BigEndian.PutUint32(out[offLength:], uint32(len(out)-LengthFieldEnd))
	binary.BigEndian.PutUint32(out[offCRC:], Checksum(out))
	return out
}

func TestValidateProducerCompressed(t *testing.T) {
	plain, err := Build(ProducerOptions(codec.None), testRecords(3))
	if err != nil {
		t.Fatal(err)
	}
	recs := plain[HeaderSize:]
	mut := func(f func(r []byte) []byte) []byte { return f(bytes.Clone(recs)) }
	first := int(recs[0]>>1) + 1 // the first record with its 1-byte length
	cases := []struct {
		name string
		recs []byte
		code int16
	}{
		{"intact", recs, 0},
		{"bad length", mut(func(r []byte) []byte { r[0] = 0x7f; return r }), CodeCorruptMessage},
		{"overlong varint", mut(func(r []byte) []byte {
			copy(r, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
			return r
		}), CodeCorruptMessage},
		{"fewer records than counted", recs[:first], CodeCorruptMessage},
		{"more records than counted", append(bytes.Clone(recs), recs[:first]...), CodeCorruptMessage},
		{"trailing byte", append(bytes.Clone(recs), 0), CodeCorruptMessage},
		{"offset delta", mut(func(r []byte) []byte { r[3] = 2 * 5; return r }), CodeInvalidRecord},
		{"header count", mut(func(r []byte) []byte {
			// The first record ends with its one header: count 1, key "h", value "v".
			r[first-5] = 2 * 60
			return r
		}), CodeCorruptMessage},
		{"timestamp above max", mut(func(r []byte) []byte { r[2] = 2 * 50; return r }), CodeInvalidTimestamp},
		{"empty", nil, CodeCorruptMessage},
	}
	for _, c := range codecs {
		for _, tc := range cases {
			b := withRecords(t, plain, c, tc.recs)
			if _, err := ValidateProducer(b, 1<<20); CodeOf(err) != tc.code {
				t.Errorf("%v %s: code %d (%v), want %d", c, tc.name, CodeOf(err), err, tc.code)
			}
		}
	}
}

func TestValidateProducerGarbagePayload(t *testing.T) {
	plain, _ := Build(ProducerOptions(codec.None), testRecords(3))
	for _, c := range codecs[1:] {
		good := withRecords(t, plain, c, plain[HeaderSize:])
		if c == codec.Gzip {
			// gzip's own CRC-32 of the content, in the trailer, is wrong.
			b := bytes.Clone(good)
			b[len(b)-8] ^= 0xff
			binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
			if _, err := ValidateProducer(b, 1<<20); CodeOf(err) != CodeCorruptMessage {
				t.Errorf("gzip trailer: code %d (%v)", CodeOf(err), err)
			}
		}
		// The payload cut short, with the length and CRC fixed.
		cut := append(bytes.Clone(good[:HeaderSize]), good[HeaderSize:HeaderSize+(len(good)-HeaderSize)/2]...)
		binary.BigEndian.PutUint32(cut[offLength:], uint32(len(cut)-LengthFieldEnd))
		binary.BigEndian.PutUint32(cut[offCRC:], Checksum(cut))
		if _, err := ValidateProducer(cut, 1<<20); CodeOf(err) != CodeCorruptMessage {
			t.Errorf("%v cut short: code %d (%v)", c, CodeOf(err), err)
		}
		junk := append(bytes.Clone(plain[:HeaderSize]), "this is not a compressed payload at all"...)
		binary.BigEndian.PutUint16(junk[offAttributes:], uint16(c))
		binary.BigEndian.PutUint32(junk[offLength:], uint32(len(junk)-LengthFieldEnd))
		binary.BigEndian.PutUint32(junk[offCRC:], Checksum(junk))
		if _, err := ValidateProducer(junk, 1<<20); CodeOf(err) != CodeCorruptMessage {
			t.Errorf("%v garbage: code %d (%v)", c, CodeOf(err), err)
		}
	}
}

func TestValidateProducerBomb(t *testing.T) {
	// One record whose value is 8 MiB of zeros: a few KiB compressed.
	recs := []BuildRecord{{Key: []byte("k"), Value: make([]byte, 8<<20), Timestamp: 1}}
	for _, c := range codecs[1:] {
		b, err := Build(ProducerOptions(c), recs)
		if err != nil {
			t.Fatal(err)
		}
		if len(b) > 1<<20 {
			t.Fatalf("%v: bomb of %d bytes does not compress", c, len(b))
		}
		if _, err := ValidateProducer(b, 1<<20); CodeOf(err) != CodeMessageTooLarge {
			t.Errorf("%v: code %d (%v), want MESSAGE_TOO_LARGE", c, CodeOf(err), err)
		}
		if _, err := ValidateProducer(b, 9<<20); err != nil {
			t.Errorf("%v under a larger cap: %v", c, err)
		}
	}
}

func TestValidateProducerAttributes(t *testing.T) {
	for _, c := range codecs {
		for _, tc := range []struct {
			name string
			opts func(*BatchOptions)
			code int16
		}{
			{"plain", func(*BatchOptions) {}, 0},
			{"idempotent", func(o *BatchOptions) { o.ProducerID, o.ProducerEpoch, o.BaseSequence = 7, 0, 0 }, 0},
			{"transactional", func(o *BatchOptions) {
				o.ProducerID, o.ProducerEpoch, o.BaseSequence, o.Transactional = 7, 0, 0, true
			}, 0}, // the partition leader checks that its transaction is open
			{"transactional without producer id", func(o *BatchOptions) { o.Transactional = true }, CodeInvalidRecord},
			{"control", func(o *BatchOptions) { o.Control = true }, CodeInvalidRecord},
			{"transactional control", func(o *BatchOptions) { o.ProducerID, o.Control, o.Transactional = 7, true, true }, CodeInvalidRecord},
		} {
			opts := ProducerOptions(c)
			tc.opts(&opts)
			b, err := Build(opts, testRecords(2))
			if err != nil {
				t.Fatal(err)
			}
			if _, err := ValidateProducer(b, 1<<20); CodeOf(err) != tc.code {
				t.Errorf("%v %s: code %d (%v), want %d", c, tc.name, CodeOf(err), err, tc.code)
			}
			if got := AnyTransactional(append(bytes.Clone(b), b...)); got != opts.Transactional {
				t.Errorf("%v %s: AnyTransactional %v", c, tc.name, got)
			}
		}
	}
	plain, _ := Build(ProducerOptions(codec.None), testRecords(1))
	txn := func() []byte {
		o := ProducerOptions(codec.None)
		o.Transactional = true
		b, _ := Build(o, testRecords(1))
		return b
	}()
	if !AnyTransactional(append(bytes.Clone(plain), txn...)) || AnyTransactional(plain[:30]) {
		t.Error("AnyTransactional over several batches")
	}
}

func TestValidateProducerTimestampOverflow(t *testing.T) {
	recs := []BuildRecord{{Value: []byte("a"), Timestamp: 0}, {Value: []byte("b"), Timestamp: 1<<62 + 1<<61}}
	b, _ := Build(ProducerOptions(codec.None), recs)
	// Base near the top of int64: the second record's delta overflows.
	binary.BigEndian.PutUint64(b[offBaseTimestamp:], 1<<62+1<<61)
	binary.BigEndian.PutUint64(b[offMaxTimestamp:], math.MaxUint64)
	binary.BigEndian.PutUint32(b[offCRC:], Checksum(b))
	if _, err := ValidateProducer(b, 1<<20); CodeOf(err) != CodeInvalidTimestamp {
		t.Fatalf("overflow: code %d (%v)", CodeOf(err), err)
	}
}

func TestControlBatchRoundTrip(t *testing.T) {
	for _, commit := range []bool{true, false} {
		b, err := BuildControl(9, 3, commit, 5, 100)
		if err != nil {
			t.Fatal(err)
		}
		h, err := Validate(b)
		if err != nil || !h.IsControl() || !h.IsTransactional() || h.ProducerID != 9 || h.ProducerEpoch != 3 {
			t.Fatalf("header %+v, %v", h, err)
		}
		typ, err := ControlType(b)
		want := ControlAbort
		if commit {
			want = ControlCommit
		}
		if err != nil || typ != want {
			t.Fatalf("type %d, %v; want %d", typ, err, want)
		}
	}
	plain, _ := Build(ProducerOptions(codec.None), testRecords(1))
	if _, err := ControlType(plain); err == nil {
		t.Fatal("a plain batch read as a control batch")
	}
}
