package codec

import (
	"bytes"
	"errors"
	"testing"

	"github.com/klauspost/compress/snappy"
)

var all = []Codec{None, Gzip, Snappy, LZ4, Zstd}

func TestRoundTrip(t *testing.T) {
	inputs := [][]byte{nil, []byte("x"), bytes.Repeat([]byte("strata "), 20000)}
	for _, c := range all {
		for _, in := range inputs {
			comp, err := Compress([]byte("prefix"), c, in)
			if err != nil {
				t.Fatalf("%v: %v", c, err)
			}
			if !bytes.HasPrefix(comp, []byte("prefix")) {
				t.Fatalf("%v: prefix lost", c)
			}
			out, err := Decompress([]byte("p"), c, comp[6:], len(in))
			if err != nil {
				t.Fatalf("%v decompress: %v", c, err)
			}
			if !bytes.Equal(out[1:], in) {
				t.Fatalf("%v: round trip mismatch", c)
			}
		}
	}
}

func TestBombCapped(t *testing.T) {
	in := make([]byte, 8<<20) // compresses to a few KiB
	for _, c := range all {
		comp, err := Compress(nil, c, in)
		if err != nil {
			t.Fatal(err)
		}
		_, err = Decompress(nil, c, comp, 1<<20)
		var ce *Error
		if !errors.Is(err, ErrTooLarge) || !errors.As(err, &ce) || ce.KafkaCode() != 10 {
			t.Fatalf("%v: want ErrTooLarge, got %v", c, err)
		}
	}
}

func TestRawSnappyBlock(t *testing.T) {
	in := bytes.Repeat([]byte("abc"), 1000)
	out, err := Decompress(nil, Snappy, snappy.Encode(nil, in), len(in))
	if err != nil || !bytes.Equal(out, in) {
		t.Fatalf("raw block: %v", err)
	}
}

func TestGarbage(t *testing.T) {
	junk := []byte("\x82SNAPPY\x00\x00\x00\x00\x01\x00\x00\x00\x01\xff\xff\xff\xffjunk")
	for _, c := range all[1:] {
		if _, err := Decompress(nil, c, junk, 1<<20); err == nil {
			t.Errorf("%v: garbage accepted", c)
		}
	}
	if _, err := Decompress(nil, Codec(7), nil, 10); !errors.Is(err, ErrUnsupported) {
		t.Errorf("codec 7: %v", err)
	}
}

func FuzzDecompress(f *testing.F) {
	for _, c := range all {
		comp, _ := Compress(nil, c, []byte("hello hello hello"))
		f.Add(int8(c), comp)
	}
	f.Fuzz(func(t *testing.T, c int8, data []byte) {
		out, err := Decompress(nil, Codec(c), data, 1<<16)
		if err == nil && len(out) > 1<<16 {
			t.Fatalf("output %d over cap", len(out))
		}
	})
}
