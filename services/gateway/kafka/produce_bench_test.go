package kafka

import (
	"context"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"strconv"
	"sync"
	"testing"
	"unsafe"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kmsg"
	"google.golang.org/grpc"
)

// stubStorage answers storage Produce calls in process: the seam that
// replaces the gRPC connections to the storage nodes.
type stubStorage struct {
	produce func(*storagev1.ProduceRequest) // observes each call; may be nil
	// fetch answers Fetch calls by node address; nil panics.
	fetch func(addr string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error)
}

func (s *stubStorage) Client(addr string) (storagev1.StorageServiceClient, error) {
	return stubClient{s: s, addr: addr}, nil
}

// stubClient implements StorageServiceClient's Produce and Fetch; the other
// methods are not called (the nil embedded interface panics).
type stubClient struct {
	storagev1.StorageServiceClient
	s    *stubStorage
	addr string
}

func (c stubClient) Fetch(_ context.Context, in *storagev1.FetchRequest, _ ...grpc.CallOption) (*storagev1.FetchResponse, error) {
	return c.s.fetch(c.addr, in)
}

func (c stubClient) Produce(_ context.Context, in *storagev1.ProduceRequest, _ ...grpc.CallOption) (*storagev1.ProduceResponse, error) {
	if c.s.produce != nil {
		c.s.produce(in)
	}
	out := &storagev1.ProduceResponse{Partitions: make([]*storagev1.ProducePartitionResult, len(in.GetPartitions()))}
	results := make([]storagev1.ProducePartitionResult, len(in.GetPartitions()))
	for i, p := range in.GetPartitions() {
		results[i].Topic, results[i].Partition, results[i].BaseOffset = p.GetTopic(), p.GetPartition(), 42
		out.Partitions[i] = &results[i]
	}
	return out, nil
}

// benchServer is a Server whose metadata cache has one topic of parts
// partitions led round-robin by three storage nodes, and whose storage
// calls go to st.
func benchServer(tb testing.TB, topic string, parts int, st *stubStorage) *Server {
	tb.Helper()
	cache := benchCache(topic, parts)
	s := NewServer(nil, Config{}, Deps{Cache: cache})
	s.router = router.New(cache, st, nil)
	tb.Cleanup(s.cancel)
	return s
}

// benchCache is a metadata cache with one topic of parts partitions led
// round-robin by three storage nodes.
func benchCache(topic string, parts int) *metadata.Cache {
	cache := metadata.NewCache()
	var ups []*metadatav1.Record
	for n := int32(1); n <= 3; n++ {
		ups = append(ups, &metadatav1.Record{Record: &metadatav1.Record_StorageNode{StorageNode: &metadatav1.StorageNodeRecord{
			NodeId: n, Address: "storage-" + strconv.Itoa(int(n)) + ":7000"}}})
	}
	for p := range int32(parts) {
		ups = append(ups, &metadatav1.Record{Record: &metadatav1.Record_Partition{Partition: &metadatav1.PartitionRecord{
			Topic: topic, Partition: p, Leader: p%3 + 1, LeaderEpoch: 1, Replicas: []int32{p%3 + 1}}}})
	}
	cache.Apply(&controllerv1.WatchMetadataResponse{Revision: 1, Snapshot: true, Upserts: ups})
	return cache
}

// recordBatch is a valid, uncompressed v2 record batch of n records with
// valueSize-byte values, as a producer sends it.
func recordBatch(n, valueSize int) []byte {
	var recs []byte
	value := make([]byte, valueSize)
	for i := range n {
		r := kmsg.Record{OffsetDelta: int32(i), Value: value}
		body := r.AppendTo(nil) // length-prefixed
		recs = append(recs, body...)
	}
	b := kmsg.RecordBatch{
		FirstOffset: 0, PartitionLeaderEpoch: -1, Magic: 2, LastOffsetDelta: int32(n - 1),
		ProducerID: -1, ProducerEpoch: -1, FirstSequence: -1, NumRecords: int32(n), Records: recs,
	}
	out := b.AppendTo(nil)
	binary.BigEndian.PutUint32(out[8:], uint32(len(out)-12))
	crc := crc32.Checksum(out[21:], crc32.MakeTable(crc32.Castagnoli))
	binary.BigEndian.PutUint32(out[17:], crc)
	return out
}

// produceFrame is a Kafka-encoded Produce v9 request (flexible, as franz-go
// sends it) with one batch of n records for each of parts partitions.
func produceFrame(topic string, parts, n int) []byte {
	req := kmsg.NewPtrProduceRequest()
	req.SetVersion(9)
	req.Acks = 1
	req.TimeoutMillis = 5000
	t := kmsg.NewProduceRequestTopic()
	t.Topic = topic
	for p := range int32(parts) {
		rp := kmsg.NewProduceRequestTopicPartition()
		rp.Partition = p
		rp.Records = recordBatch(n, 100)
		t.Partitions = append(t.Partitions, rp)
	}
	req.Topics = append(req.Topics, t)
	return frame(req, 1)
}

// The batches reach the storage requests as sub-slices of the request frame:
// no copy, no per-record work.
func TestProducePassesBatchesByReference(t *testing.T) {
	fr := produceFrame("bench", 6, 10)
	lo, hi := uintptr(unsafe.Pointer(&fr[0])), uintptr(unsafe.Pointer(&fr[0]))+uintptr(len(fr))
	var mu sync.Mutex
	seen := 0
	s := benchServer(t, "bench", 6, &stubStorage{produce: func(in *storagev1.ProduceRequest) {
		mu.Lock()
		defer mu.Unlock()
		for _, p := range in.GetPartitions() {
			if ptr := uintptr(unsafe.Pointer(&p.GetRecords()[0])); ptr < lo || ptr >= hi {
				t.Errorf("partition %d: records were copied out of the request frame", p.GetPartition())
			}
			seen++
		}
	}})
	r, err := parseRequest(fr)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := s.dispatch(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range resp.(*kmsg.ProduceResponse).Topics[0].Partitions {
		if p.ErrorCode != 0 || p.BaseOffset != 42 {
			t.Errorf("partition %d: code %d base offset %d", p.Partition, p.ErrorCode, p.BaseOffset)
		}
	}
	if seen != 6 {
		t.Fatalf("storage saw %d partitions, want 6", seen)
	}
}

// BenchmarkGatewayProduce measures the gateway's produce handling of one
// Kafka Produce request (6 partitions × one batch): frame decoding, routing
// by storage leader, building the per-leader storage requests, the
// parallel fan-out, and encoding the response. Storage is an in-process
// stub, so the figures are the gateway's own. allocs/op must not depend on
// the records per batch.
func BenchmarkGatewayProduce(b *testing.B) {
	for _, n := range []int{10, 1000} {
		b.Run(fmt.Sprintf("partitions=6/records=%d", n), func(b *testing.B) {
			fr := produceFrame("bench", 6, n)
			s := benchServer(b, "bench", 6, &stubStorage{})
			ctx := context.Background()
			b.ReportAllocs()
			b.SetBytes(int64(len(fr)))
			for b.Loop() {
				r, err := parseRequest(fr)
				if err != nil {
					b.Fatal(err)
				}
				resp, err := s.dispatch(ctx, r)
				if err != nil {
					b.Fatal(err)
				}
				_ = encodeResponse(r, resp)
			}
		})
	}
}
