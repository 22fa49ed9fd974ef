package kafka

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Pipelined produces on one connection: one to another partition runs
// while an earlier one waits on its leader, one to the same partition
// waits for it (so idempotent sequences arrive in order), and the
// responses come back in request order.
func TestPipelinedProducesWaitOnlyForTheirPartitions(t *testing.T) {
	cache := benchCache("order", 2)
	release := make(chan struct{})
	calls := make(chan int32, 8)
	st := &stubStorage{produce: func(in *storagev1.ProduceRequest) {
		p := in.GetPartitions()[0].GetPartition()
		calls <- p
		if p == 0 {
			<-release // the first produce to partition 0 waits on its leader
		}
	}}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ln, Config{}, Deps{Cache: cache, Router: router.New(cache, st, nil)})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(time.Second) })
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	send := func(corr int32, partition int32) {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(9)
		req.Acks, req.TimeoutMillis = -1, 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "order", Partitions: []kmsg.ProduceRequestTopicPartition{
			{Partition: partition, Records: recordBatch(1, 10)}}}}
		fr := frame(req, corr)
		if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(fr))), fr...)); err != nil {
			t.Fatal(err)
		}
	}
	next := func() int32 {
		select {
		case p := <-calls:
			return p
		case <-time.After(10 * time.Second):
			t.Fatal("no storage produce within 10s")
			return -1
		}
	}
	send(1, 0)
	if p := next(); p != 0 {
		t.Fatalf("first storage produce for partition %d, want 0", p)
	}
	send(2, 1)
	if p := next(); p != 1 {
		t.Fatalf("second storage produce for partition %d, want 1 (it must not wait behind partition 0)", p)
	}
	send(3, 0)
	// The second produce to partition 0 must not reach its leader before
	// the first is answered: a pipelined idempotent batch would arrive out
	// of sequence.
	select {
	case p := <-calls:
		t.Fatalf("storage produce for partition %d while the first produce to partition 0 was still running", p)
	case <-time.After(200 * time.Millisecond):
	}
	close(release)
	if p := next(); p != 0 {
		t.Fatalf("third storage produce for partition %d, want 0", p)
	}
	_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
	for want := int32(1); want <= 3; want++ {
		var head [8]byte
		if _, err := io.ReadFull(nc, head[:]); err != nil {
			t.Fatal(err)
		}
		if corr := int32(binary.BigEndian.Uint32(head[4:])); corr != want {
			t.Fatalf("response %d has correlation id %d: responses must come in request order", want, corr)
		}
		if _, err := io.CopyN(io.Discard, nc, int64(binary.BigEndian.Uint32(head[:4]))-4); err != nil {
			t.Fatal(err)
		}
	}
}
