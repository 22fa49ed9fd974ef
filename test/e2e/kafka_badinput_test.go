package e2e

import (
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// rawConn is a Kafka connection driven by hand.
type rawConn struct {
	t    *testing.T
	conn net.Conn
	corr int32
}

func dialRaw(t *testing.T, addr string) *rawConn {
	t.Helper()
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return &rawConn{t: t, conn: c}
}

func (r *rawConn) writeFrame(b []byte) {
	r.t.Helper()
	out := binary.BigEndian.AppendUint32(nil, uint32(len(b)))
	if _, err := r.conn.Write(append(out, b...)); err != nil {
		r.t.Fatal(err)
	}
}

// send writes a request encoded by kmsg (client id "raw").
func (r *rawConn) send(req kmsg.Request) {
	r.corr++
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(r.corr))
	b = binary.BigEndian.AppendUint16(b, 3)
	b = append(b, "raw"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	r.writeFrame(req.AppendTo(b))
}

// recv reads one response into resp (at the request's version).
func (r *rawConn) recv(resp kmsg.Response) {
	r.t.Helper()
	var size [4]byte
	if _, err := io.ReadFull(r.conn, size[:]); err != nil {
		r.t.Fatalf("read response: %v", err)
	}
	body := make([]byte, binary.BigEndian.Uint32(size[:]))
	if _, err := io.ReadFull(r.conn, body); err != nil {
		r.t.Fatal(err)
	}
	if corr := int32(binary.BigEndian.Uint32(body)); corr != r.corr {
		r.t.Fatalf("correlation id %d, want %d", corr, r.corr)
	}
	body = body[4:]
	if resp.IsFlexible() && resp.Key() != 18 {
		body = body[1:]
	}
	if err := resp.ReadFrom(body); err != nil {
		r.t.Fatalf("decode %T: %v", resp, err)
	}
}

// closed reports whether the server closed the connection.
func (r *rawConn) closed() bool {
	_ = r.conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	var b [1]byte
	_, err := r.conn.Read(b[:])
	return err != nil && !isTimeout(err)
}

func isTimeout(err error) bool {
	ne, ok := err.(net.Error)
	return ok && ne.Timeout()
}

func TestKafkaBadInput(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"bad": 1})
	// A healthy connection that must stay unaffected throughout.
	healthy := dialRaw(t, c.kafka)
	check := func() {
		t.Helper()
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(3)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "raw", "1"
		healthy.send(req)
		resp := req.ResponseKind()
		healthy.recv(resp)
		if resp.(*kmsg.ApiVersionsResponse).ErrorCode != 0 {
			t.Fatalf("healthy connection: %+v", resp)
		}
	}
	check()

	for name, frame := range map[string][]byte{
		"negative size":     {0xff, 0xff, 0xff, 0xf0},
		"size over the max": binary.BigEndian.AppendUint32(nil, 200<<20),
		"zero size":         {0, 0, 0, 0},
	} {
		r := dialRaw(t, c.kafka)
		if _, err := r.conn.Write(frame); err != nil {
			t.Fatal(err)
		}
		if !r.closed() {
			t.Errorf("%s: connection not closed", name)
		}
	}
	// A Metadata request whose topic array claims 2^31-1 entries.
	r := dialRaw(t, c.kafka)
	r.writeFrame([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 3, 'r', 'a', 'w', 0x7f, 0xff, 0xff, 0xff})
	if !r.closed() {
		t.Error("huge array count: connection not closed")
	}
	// A length larger than the bytes left (a string of 30000 bytes, 2 sent).
	r = dialRaw(t, c.kafka)
	r.writeFrame([]byte{0, 3, 0, 1, 0, 0, 0, 1, 0, 3, 'r', 'a', 'w', 0, 0, 0, 1, 0x75, 0x30, 'a', 'b'})
	if !r.closed() {
		t.Error("string longer than the frame: connection not closed")
	}
	// Issue 12's hostile frames: an 18-byte ApiVersions frame declaring
	// 0xffffffff tagged fields, and a 32 MiB Produce frame whose topic
	// count claims ~2 GiB of topics. Both are refused at once (the CPU and
	// memory bounds are checked in services/gateway/kafka's tests).
	r = dialRaw(t, c.kafka)
	start := time.Now()
	r.writeFrame([]byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0, 1, 1, 0xff, 0xff, 0xff, 0xff, 0x0f})
	if !r.closed() || time.Since(start) > 2*time.Second {
		t.Errorf("tagged-field count: connection not closed at once (%v)", time.Since(start))
	}
	huge := make([]byte, 32<<20)
	copy(huge, []byte{0, 0, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x3a, 0x98})
	binary.BigEndian.PutUint32(huge[18:], uint32(len(huge)-22))
	r = dialRaw(t, c.kafka)
	start = time.Now()
	r.writeFrame(huge)
	if !r.closed() || time.Since(start) > 5*time.Second {
		t.Errorf("32 MiB Produce with a huge array count: connection not closed at once (%v)", time.Since(start))
	}
	// An unknown API key.
	r = dialRaw(t, c.kafka)
	r.writeFrame([]byte{0x27, 0x0f, 0, 0, 0, 0, 0, 1, 0, 3, 'r', 'a', 'w'})
	if !r.closed() {
		t.Error("unknown API key: connection not closed")
	}
	check()

	// ApiVersions newer than served: UNSUPPORTED_VERSION with a v0 body.
	r = dialRaw(t, c.kafka)
	av := kmsg.NewPtrApiVersionsRequest()
	av.SetVersion(5)
	r.send(av)
	avr := kmsg.NewPtrApiVersionsResponse()
	avr.SetVersion(0)
	r.recv(avr)
	if avr.ErrorCode != 35 || len(avr.ApiKeys) == 0 {
		t.Fatalf("ApiVersions v5: %+v", avr)
	}
	// A known key at a version not served, with a top-level error code.
	dc := kmsg.NewPtrDescribeClusterRequest()
	dc.SetVersion(2)
	r.send(dc)
	dcr := dc.ResponseKind()
	r.recv(dcr)
	if dcr.(*kmsg.DescribeClusterResponse).ErrorCode != 35 {
		t.Fatalf("DescribeCluster v2: %+v", dcr)
	}

	// Produce: bad acks, bad CRC, missing topic (auto-creation is off).
	good, err := recordbatch.Build(recordbatch.ProducerOptions(0), []recordbatch.BuildRecord{{Value: []byte("v"), Timestamp: time.Now().UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	badCRC := append([]byte(nil), good...)
	badCRC[len(badCRC)-1] ^= 0xff
	for _, tc := range []struct {
		name    string
		acks    int16
		topic   string
		records []byte
		want    int16
	}{
		{"acks=5", 5, "bad", good, 21},
		{"bad CRC", 1, "bad", badCRC, 2},
		{"missing topic", 1, "nope", good, 3},
		{"good", -1, "bad", good, 0},
	} {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(7)
		req.Acks, req.TimeoutMillis = tc.acks, 5000
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: tc.topic, Partitions: []kmsg.ProduceRequestTopicPartition{{Partition: 0, Records: tc.records}}}}
		r.send(req)
		resp := req.ResponseKind()
		r.recv(resp)
		if got := resp.(*kmsg.ProduceResponse).Topics[0].Partitions[0].ErrorCode; got != tc.want {
			t.Errorf("%s: error %d, want %d", tc.name, got, tc.want)
		}
	}
	// Metadata for a missing topic: not created.
	md := kmsg.NewPtrMetadataRequest()
	md.SetVersion(9)
	name := "nope"
	md.Topics = []kmsg.MetadataRequestTopic{{Topic: &name}}
	md.AllowAutoTopicCreation = true
	r.send(md)
	mdr := md.ResponseKind().(*kmsg.MetadataResponse)
	r.recv(mdr)
	if len(mdr.Topics) != 1 || mdr.Topics[0].ErrorCode != 3 {
		t.Fatalf("metadata of a missing topic: %+v", mdr.Topics)
	}
	check()
}
