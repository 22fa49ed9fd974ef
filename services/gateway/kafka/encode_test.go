package kafka

import (
	"bytes"
	"math/rand/v2"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// randomFetchResponse fills every field a fetch response has at any
// version, with batches both below and above minWrittenInPlace.
func randomFetchResponse(r *rand.Rand, version int16) *kmsg.FetchResponse {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = version
	resp.ThrottleMillis, resp.ErrorCode, resp.SessionID = r.Int32(), int16(r.IntN(100)), r.Int32()
	for range r.IntN(4) {
		t := kmsg.NewFetchResponseTopic()
		t.Topic = string(bytes.Repeat([]byte{'a' + byte(r.IntN(26))}, r.IntN(300)))
		for i := range t.TopicID {
			t.TopicID[i] = byte(r.Uint32())
		}
		for range r.IntN(5) {
			p := kmsg.NewFetchResponseTopicPartition()
			p.Partition, p.ErrorCode, p.PreferredReadReplica = r.Int32(), int16(r.IntN(100)), r.Int32()
			p.HighWatermark, p.LastStableOffset, p.LogStartOffset = r.Int64(), r.Int64(), r.Int64()
			if r.IntN(2) == 0 {
				p.AbortedTransactions = []kmsg.FetchResponseTopicPartitionAbortedTransaction{}
				for range r.IntN(3) {
					a := kmsg.NewFetchResponseTopicPartitionAbortedTransaction()
					a.ProducerID, a.FirstOffset = r.Int64(), r.Int64()
					p.AbortedTransactions = append(p.AbortedTransactions, a)
				}
			}
			switch r.IntN(4) {
			case 0: // null
			case 1:
				p.RecordBatches = []byte{}
			default:
				p.RecordBatches = make([]byte, r.IntN(3*minWrittenInPlace))
				for i := range p.RecordBatches {
					p.RecordBatches[i] = byte(r.Uint32())
				}
			}
			t.Partitions = append(t.Partitions, p)
		}
		resp.Topics = append(resp.Topics, t)
	}
	return resp
}

// A fetch response framed around its batches is, byte for byte, what
// kmsg encodes, at every version; its large batches are written from
// their own buffers, not copied.
func TestFetchResponseFramedAroundItsBatches(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	inPlace := 0
	for version := int16(0); version <= kmsg.NewPtrFetchResponse().MaxVersion(); version++ {
		for range 200 {
			resp := randomFetchResponse(r, version)
			req := &request{key: 1, version: version, corr: r.Int32()}
			want := encodeResponse(req, resp)
			out, ok := encodeFetch(req.corr, resp)
			if !ok {
				t.Fatalf("v%d: an untagged response was left to kmsg", version)
			}
			if got := bytes.Join(out, nil); !bytes.Equal(got, want) {
				t.Fatalf("v%d: framed %d bytes differ from kmsg's %d", version, len(got), len(want))
			}
			for _, tp := range resp.Topics {
				for _, p := range tp.Partitions {
					if len(p.RecordBatches) < minWrittenInPlace {
						continue
					}
					inPlace++
					if !holds(out, p.RecordBatches) {
						t.Fatalf("v%d: a %d-byte batch was copied", version, len(p.RecordBatches))
					}
				}
			}
		}
	}
	if inPlace == 0 {
		t.Fatal("no batch was large enough to be written in place")
	}
}

// holds reports whether one of out's pieces is b itself.
func holds(out [][]byte, b []byte) bool {
	for _, piece := range out {
		if len(piece) == len(b) && &piece[0] == &b[0] {
			return true
		}
	}
	return false
}

// A response with a tagged field set (a leader hint, a diverging epoch,
// node endpoints) goes through kmsg's encoder, whole.
func TestTaggedFetchResponseFramedByKmsg(t *testing.T) {
	tagged := []func(*kmsg.FetchResponse){
		func(f *kmsg.FetchResponse) { f.Topics[0].Partitions[0].CurrentLeader.LeaderID = 2 },
		func(f *kmsg.FetchResponse) { f.Topics[0].Partitions[0].DivergingEpoch.EndOffset = 9 },
		func(f *kmsg.FetchResponse) { f.Topics[0].Partitions[0].SnapshotID.Epoch = 1 },
		func(f *kmsg.FetchResponse) {
			f.Brokers = append(f.Brokers, kmsg.FetchResponseBroker{NodeID: 1, Host: "h", Port: 9092})
		},
	}
	for i, set := range tagged {
		resp := kmsg.NewPtrFetchResponse()
		resp.Version = 16
		topic := kmsg.NewFetchResponseTopic()
		part := kmsg.NewFetchResponseTopicPartition()
		part.RecordBatches = make([]byte, 2*minWrittenInPlace)
		topic.Partitions = append(topic.Partitions, part)
		resp.Topics = append(resp.Topics, topic)
		set(resp)
		if _, ok := encodeFetch(1, resp); ok {
			t.Fatalf("case %d: a tagged response was framed without its tags", i)
		}
		req := &request{key: 1, version: 16, corr: 1}
		if out := frameResponse(req, resp); len(out) != 1 || !bytes.Equal(out[0], encodeResponse(req, resp)) {
			t.Fatalf("case %d: not framed by kmsg", i)
		}
	}
}
