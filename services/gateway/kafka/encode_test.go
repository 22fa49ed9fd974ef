package kafka

import (
	"bytes"
	"encoding/binary"
	"runtime"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// A large fetch response is encoded into one buffer sized up front (not
// one that append regrows and copies), and decodes back to what was
// encoded.
func TestEncodeFetchResponseInOneBuffer(t *testing.T) {
	resp := kmsg.NewPtrFetchResponse()
	resp.Version = 13
	topic := kmsg.NewFetchResponseTopic()
	topic.Topic = "t"
	for p := range int32(4) {
		part := kmsg.NewFetchResponseTopicPartition()
		part.Partition, part.HighWatermark = p, 100
		part.RecordBatches = bytes.Repeat([]byte{byte(p)}, 1<<20)
		topic.Partitions = append(topic.Partitions, part)
	}
	resp.Topics = append(resp.Topics, topic)
	req := &request{key: 1, version: 13, corr: 7}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	out := encodeResponse(req, resp)
	runtime.ReadMemStats(&after)
	if allocated := after.TotalAlloc - before.TotalAlloc; allocated > uint64(len(out))+1<<16 {
		t.Fatalf("%d bytes allocated to encode %d", allocated, len(out))
	}
	if slack := cap(out) - len(out); slack < 0 || slack > 1<<12 {
		t.Fatalf("buffer of %d bytes for %d encoded", cap(out), len(out))
	}
	if int(binary.BigEndian.Uint32(out)) != len(out)-4 || int32(binary.BigEndian.Uint32(out[4:])) != 7 {
		t.Fatal("bad frame header")
	}
	back := kmsg.NewPtrFetchResponse()
	back.Version = 13
	if err := back.ReadFrom(out[9:]); err != nil { // size, correlation id, empty tag buffer
		t.Fatal(err)
	}
	if len(back.Topics) != 1 || len(back.Topics[0].Partitions) != 4 || !bytes.Equal(back.Topics[0].Partitions[3].RecordBatches, topic.Partitions[3].RecordBatches) {
		t.Fatal("the encoded response does not decode to what was encoded")
	}
}
