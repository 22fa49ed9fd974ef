package strata

import (
	"bytes"
	"math/rand/v2"
	"testing"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

// The Consume codec reads every message as protobuf does, with each record
// batch a sub-slice of the received bytes; what protobuf refuses, it
// refuses, and what it reads, protobuf reads the same.
func TestConsumeCodecMatchesProto(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	blob := func(n int) []byte {
		b := make([]byte, n)
		for i := range b {
			b[i] = byte(r.IntN(256))
		}
		return b
	}
	for range 100 {
		recs := &streamv1.ConsumeRecords{Topic: "t", Partition: 2, HighWatermark: 77,
			Records: []*streamv1.Record{{Offset: 1, Key: []byte("k")}}[:r.IntN(2)]}
		for range r.IntN(4) {
			recs.RecordBatches = append(recs.RecordBatches, blob([]int{0, 10, 5000, 70_000}[r.IntN(4)]))
		}
		msgs := []*streamv1.ConsumeResponse{
			{Message: &streamv1.ConsumeResponse_Records{Records: recs}},
			{Message: &streamv1.ConsumeResponse_Assigned{Assigned: &streamv1.ConsumeAssigned{Generation: 3, MemberId: string(bytes.Repeat([]byte("m"), 5000))}}},
		}
		for _, m := range msgs {
			wire, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			got := &streamv1.ConsumeResponse{}
			if err := (consumeCodec{}).Unmarshal(mem.BufferSlice{mem.SliceBuffer(wire)}, got); err != nil || !proto.Equal(got, m) {
				t.Fatalf("decoded %v (%v), want %v", got, err, m)
			}
			buf := bytes.Clone(wire)
			aliased := &streamv1.ConsumeResponse{}
			if err := unmarshalConsume(buf, aliased); err != nil {
				t.Fatal(err)
			}
			clear(buf)
			for i, b := range aliased.GetRecords().GetRecordBatches() {
				if len(b) > 0 && !bytes.Equal(b, make([]byte, len(b))) {
					t.Fatalf("batch %d is not a sub-slice of the received bytes", i)
				}
			}
			for i := 0; i < len(wire); i += 1 + len(wire)/200 {
				for _, in := range [][]byte{wire[:i], flip(wire, i, byte(1+r.IntN(255)))} {
					want, got := &streamv1.ConsumeResponse{}, &streamv1.ConsumeResponse{}
					werr := proto.Unmarshal(in, want)
					gerr := unmarshalConsume(bytes.Clone(in), got)
					if werr != nil && gerr == nil {
						t.Fatalf("protobuf refuses (%v) what the codec reads as %v", werr, got)
					}
					if gerr == nil && !proto.Equal(got, want) {
						t.Fatalf("decoded %v, protobuf %v", got, want)
					}
				}
			}
		}
	}
}

func flip(b []byte, i int, x byte) []byte {
	c := bytes.Clone(b)
	c[i] ^= x
	return c
}
