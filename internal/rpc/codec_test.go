package rpc

import (
	"bytes"
	"math/rand/v2"
	"slices"
	"testing"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"google.golang.org/grpc/encoding"
	"google.golang.org/grpc/mem"
	"google.golang.org/protobuf/proto"
)

func batchBytes(r *rand.Rand, n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.IntN(256))
	}
	return b
}

func batchMessages(r *rand.Rand) []proto.Message {
	sizes := []int{0, 1, 100, minAliasBytes - 1, minAliasBytes, 70_000}
	size := func() int { return sizes[r.IntN(len(sizes))] }
	pr := &storagev1.ProduceRequest{Acks: storagev1.Acks_ACKS_ALL, TimeoutMs: 1500}
	rr := &storagev1.ReplicateResponse{}
	fr := &storagev1.FetchResponse{}
	for i := range r.IntN(5) {
		pr.Partitions = append(pr.Partitions, &storagev1.ProducePartition{Topic: "t", Partition: int32(i), Records: batchBytes(r, size()), TransactionalId: "x"})
		rr.Partitions = append(rr.Partitions, &storagev1.ReplicaFetchResult{Topic: "t", Partition: int32(i), HighWatermark: 7, LogEndOffset: 9,
			Records: batchBytes(r, size()), Error: &commonv1.ErrorDetail{Message: "m"}})
		fr.Partitions = append(fr.Partitions, &storagev1.FetchPartitionResult{Topic: "t", Partition: int32(i), LastStableOffset: 3,
			Records: batchBytes(r, size()), AbortedTransactions: []*storagev1.AbortedTxn{{ProducerId: 4, FirstOffset: 1}}})
	}
	return []proto.Message{pr, rr, fr}
}

// TestBatchCodecMatchesProto: what the batch codec writes, protobuf reads
// back equal, and what protobuf writes, the batch codec reads back equal,
// with each batch a sub-slice of the received bytes, and the sent message
// unchanged.
func TestBatchCodecMatchesProto(t *testing.T) {
	c := encoding.GetCodecV2("proto")
	if _, ok := c.(batchCodec); !ok {
		t.Fatalf("the registered proto codec is %T", c)
	}
	r := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		for _, m := range batchMessages(r) {
			before := proto.Clone(m)
			data, err := c.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			if !proto.Equal(m, before) {
				t.Fatalf("Marshal changed the message")
			}
			wire := data.Materialize()
			got := m.ProtoReflect().New().Interface()
			if err := proto.Unmarshal(wire, got); err != nil || !proto.Equal(got, m) {
				t.Fatalf("protobuf reads the batch codec's encoding as %v (%v), want %v", got, err, m)
			}
			stock, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			back := m.ProtoReflect().New().Interface()
			if err := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(stock)}, back); err != nil || !proto.Equal(back, m) {
				t.Fatalf("the batch codec reads protobuf's encoding as %v (%v), want %v", back, err, m)
			}
			// Aliasing: the batches point into the decoded buffer.
			buf := append([]byte(nil), stock...)
			aliased := m.ProtoReflect().New().Interface()
			f := mustFields(t, aliased)
			if err := unmarshalAliased(buf, aliased, f); err != nil {
				t.Fatal(err)
			}
			clear(buf) // an aliased batch reads as zeros now
			l := aliased.ProtoReflect().Get(f.list).List()
			for i := range l.Len() {
				if rec := l.Get(i).Message().Get(f.records).Bytes(); len(rec) >= 100 && !bytes.Equal(rec, make([]byte, len(rec))) {
					t.Fatalf("partition %d's batch is not a sub-slice of the received bytes", i)
				}
			}
		}
	}
}

func mustFields(t *testing.T, m proto.Message) *batchFields {
	_, f := fieldsOf(m)
	if f == nil {
		t.Fatalf("%T carries no batches", m)
	}
	return f
}

// TestBatchCodecRejectsWhatProtoRejects: every prefix and every one-byte
// corruption of an encoding decodes with the batch codec exactly when it
// does with protobuf, and to the same message.
func TestBatchCodecRejectsWhatProtoRejects(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	c := encoding.GetCodecV2("proto")
	for range 20 {
		for _, m := range batchMessages(r) {
			wire, err := proto.Marshal(m)
			if err != nil {
				t.Fatal(err)
			}
			var inputs [][]byte
			for i := 0; i < len(wire); i += 1 + len(wire)/300 {
				inputs = append(inputs, wire[:i])
				bad := append([]byte(nil), wire...)
				bad[i] ^= byte(1 + r.IntN(255))
				inputs = append(inputs, bad)
			}
			for _, in := range inputs {
				want := m.ProtoReflect().New().Interface()
				werr := proto.Unmarshal(in, want)
				got := m.ProtoReflect().New().Interface()
				gerr := c.Unmarshal(mem.BufferSlice{mem.SliceBuffer(append([]byte(nil), in...))}, got)
				if (werr == nil) != (gerr == nil) {
					t.Fatalf("protobuf: %v, batch codec: %v", werr, gerr)
				}
				if werr == nil && !proto.Equal(want, got) {
					t.Fatalf("decoded %v, protobuf decoded %v", got, want)
				}
			}
		}
	}
}

// BenchmarkBatchCodec: a 1 MiB Replicate answer of 4 partitions through
// the batch codec and the stock one.
func BenchmarkBatchCodec(b *testing.B) {
	r := rand.New(rand.NewPCG(5, 6))
	m := &storagev1.ReplicateResponse{}
	for i := range 4 {
		m.Partitions = append(m.Partitions, &storagev1.ReplicaFetchResult{Topic: "t", Partition: int32(i), Records: batchBytes(r, 256<<10)})
	}
	for _, c := range []encoding.CodecV2{encoding.GetCodecV2("proto"), encoding.GetCodecV2("proto").(batchCodec).base} {
		b.Run(map[bool]string{true: "batch", false: "stock"}[c == encoding.GetCodecV2("proto")], func(b *testing.B) {
			b.ReportAllocs()
			b.SetBytes(1 << 20)
			for b.Loop() {
				data, err := c.Marshal(m)
				if err != nil {
					b.Fatal(err)
				}
				// As gRPC does: the frames arrive in pooled buffers.
				in := mem.Copy(data.Materialize(), mem.DefaultBufferPool())
				data.Free()
				var got storagev1.ReplicateResponse
				if err := c.Unmarshal(mem.BufferSlice{in}, &got); err != nil {
					b.Fatal(err)
				}
				in.Free()
			}
		})
	}
}

// A Consume stream's batches are handed to gRPC by reference, and
// protobuf reads the encoding back equal to the message, which Marshal
// leaves as it was.
func TestBatchCodecSendsConsumeBatchesByReference(t *testing.T) {
	c := encoding.GetCodecV2("proto")
	r := rand.New(rand.NewPCG(7, 8))
	sizes := []int{0, 1, 100, minAliasBytes - 1, minAliasBytes, 70_000}
	for range 200 {
		recs := &streamv1.ConsumeRecords{Topic: "t", Partition: 3, HighWatermark: 99}
		for range r.IntN(5) {
			recs.RecordBatches = append(recs.RecordBatches, batchBytes(r, sizes[r.IntN(len(sizes))]))
		}
		m := &streamv1.ConsumeResponse{Message: &streamv1.ConsumeResponse_Records{Records: recs}}
		before := proto.Clone(m)
		data, err := c.Marshal(m)
		if err != nil {
			t.Fatal(err)
		}
		if !proto.Equal(m, before) {
			t.Fatal("Marshal changed the message")
		}
		got := &streamv1.ConsumeResponse{}
		if err := proto.Unmarshal(data.Materialize(), got); err != nil || !proto.Equal(got, m) {
			t.Fatalf("protobuf reads the batch codec's encoding as %v (%v), want %v", got, err, m)
		}
		for _, b := range recs.RecordBatches {
			if len(b) < minAliasBytes {
				continue
			}
			if !slices.ContainsFunc(data, func(buf mem.Buffer) bool { d := buf.ReadOnlyData(); return len(d) == len(b) && &d[0] == &b[0] }) {
				t.Fatalf("a %d-byte batch was copied", len(b))
			}
		}
	}
}
