package kafka

import (
	"encoding/binary"
	"errors"
	"io"
	"net"
	"runtime"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// startListener serves a listener with no cluster behind it on a loopback
// port; enough for requests that fail before any handler runs.
func startListener(t *testing.T, cfg Config) (*Server, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ln, cfg, Deps{})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(time.Second) })
	return s, ln.Addr().String()
}

// taggedFieldsFrame is the 18-byte ApiVersions v3 frame (size prefix not
// counted) whose body declares 0xffffffff tagged fields.
func taggedFieldsFrame() []byte {
	b := []byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0} // key, version, corr, null client id, header tags
	b = append(b, 1, 1)                                 // empty compact client software name and version
	return append(b, 0xff, 0xff, 0xff, 0xff, 0x0f)      // tag count 0xffffffff
}

// hugeProduceFrame is a size-byte Produce frame whose topic count claims
// ~2 GiB of decoded topics (one per remaining byte, 64 bytes each); the
// rest is zeros, which decode as empty topics.
func hugeProduceFrame(version int16, size int) []byte {
	b := make([]byte, 0, size)
	b = binary.BigEndian.AppendUint16(b, 0)
	b = binary.BigEndian.AppendUint16(b, uint16(version))
	b = append(b, 0, 0, 0, 1, 0xff, 0xff) // corr, null client id
	if version >= 9 {
		b = append(b, 0, 0)                         // header tags, null transactional id
		b = append(b, 0xff, 0xff, 0, 0, 0x3a, 0x98) // acks -1, timeout
		b = binary.AppendUvarint(b, uint64(size-len(b)-5+1))
	} else {
		b = append(b, 0xff, 0xff, 0xff, 0xff, 0, 0, 0x3a, 0x98)
		b = binary.BigEndian.AppendUint32(b, uint32(size-len(b)-4))
	}
	return b[:size]
}

// cost runs f and returns the CPU time and heap bytes it took.
func cost(t *testing.T, f func()) (time.Duration, uint64) {
	t.Helper()
	var before, after runtime.MemStats
	var ru0, ru1 syscall.Rusage
	runtime.GC()
	runtime.ReadMemStats(&before)
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru0)
	f()
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru1)
	runtime.ReadMemStats(&after)
	cpu := time.Duration(ru1.Utime.Nano()-ru0.Utime.Nano()) + time.Duration(ru1.Stime.Nano()-ru0.Stime.Nano())
	return cpu, after.TotalAlloc - before.TotalAlloc
}

// The opening cases of issue 12 are refused within 100 ms of CPU and a
// small allocation, both by the decoder and over a socket.
func TestHostileFramesDecode(t *testing.T) {
	const size = 32 << 20
	frames := map[string][]byte{
		"api versions tag count": taggedFieldsFrame(),
		"produce v3 array count": hugeProduceFrame(3, size),
		"produce v9 array count": hugeProduceFrame(9, size),
	}
	for name, f := range frames {
		t.Run(name, func(t *testing.T) {
			var err error
			cpu, alloc := cost(t, func() { _, err = parseRequest(f) })
			if err == nil {
				t.Fatal("decoded")
			}
			if cpu > 100*time.Millisecond || alloc > 1<<20 {
				t.Fatalf("refusing took %v of CPU and %d bytes: %v", cpu, alloc, err)
			}
			t.Logf("%v, %v, %d bytes", err, cpu, alloc)
		})
	}
	// Arrays whose counts are true but cost more memory than the frame
	// are refused too, and every decoder stays within its budget.
	t.Run("many empty produce partitions", func(t *testing.T) {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(3)
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: make([]kmsg.ProduceRequestTopicPartition, 200_000)}}
		if _, err := parseRequest(frame(req, 1)); err == nil {
			t.Fatal("decoded")
		}
	})
	t.Run("many distinct tagged fields", func(t *testing.T) {
		const n = 1 << 20
		f := []byte{0, 18, 0, 3, 0, 0, 0, 1, 0xff, 0xff, 0, 1, 1}
		f = binary.AppendUvarint(f, n)
		for key := range uint64(n) {
			f = binary.AppendUvarint(f, 1<<14+key) // 3 bytes: every key distinct
			f = append(f, 0)                       // empty value
		}
		var err error
		_, alloc := cost(t, func() { _, err = parseRequest(f) })
		t.Logf("%v, %d bytes for a %d-byte frame", err, alloc, len(f))
		// Each tag is charged 160 bytes, what it costs as the map grows,
		// against the 8× budget.
		if err == nil || alloc > 8*uint64(len(f))+64<<10+1<<20 {
			t.Fatalf("%v after %d bytes", err, alloc)
		}
	})
	t.Run("describe groups of empty names", func(t *testing.T) {
		req := kmsg.NewPtrDescribeGroupsRequest()
		req.SetVersion(5)
		req.Groups = make([]string, 1<<20) // 1 byte each on the wire, 16 in memory
		f := frame(req, 1)
		var err error
		_, alloc := cost(t, func() { _, err = parseRequest(f) })
		// The budget is 8× the input; doubling the array as it grows
		// allocates at most 3× that in all.
		if err == nil || alloc > 3*(8*uint64(len(f))+64<<10)+1<<20 {
			t.Fatalf("%v after %d bytes", err, alloc)
		}
	})
}

func TestHostileFramesSocket(t *testing.T) {
	_, addr := startListener(t, Config{})
	for name, f := range map[string][]byte{
		"api versions tag count": taggedFieldsFrame(),
		"produce array count":    hugeProduceFrame(3, 32<<20),
	} {
		t.Run(name, func(t *testing.T) {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			cpu, alloc := cost(t, func() {
				go func() { _, _ = c.Write(binary.BigEndian.AppendUint32(nil, uint32(len(f)))); _, _ = c.Write(f) }()
				expectClosed(t, c, 10*time.Second)
			})
			// The server's share: reading the frame (32 MiB, in doubling
			// chunks as it arrives) and refusing it.
			if cpu > 500*time.Millisecond || alloc > 2*uint64(len(f))+8<<20 {
				t.Fatalf("took %v of CPU and %d bytes", cpu, alloc)
			}
		})
	}
}

// expectClosed reads from c until the server closes it.
func expectClosed(t *testing.T, c net.Conn, within time.Duration) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(within))
	buf := make([]byte, 4096)
	for {
		_, err := c.Read(buf)
		if err == nil {
			continue
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatalf("connection still open after %v", within)
		}
		if !errors.Is(err, io.EOF) && !errors.Is(err, syscall.ECONNRESET) {
			t.Logf("closed: %v", err)
		}
		return
	}
}

// FuzzGuardProduce feeds arbitrary Produce bodies to the guard: it never
// panics, and a body it passes decodes within its budget.
func FuzzGuardProduce(f *testing.F) {
	for _, v := range []int16{3, 9, 11} {
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(v)
		req.Topics = []kmsg.ProduceRequestTopic{{Topic: "t", Partitions: []kmsg.ProduceRequestTopicPartition{{Records: make([]byte, 61)}}}}
		f.Add(req.AppendTo(nil), v)
	}
	f.Fuzz(func(t *testing.T, body []byte, version int16) {
		version = 3 + (version&0x7fff)%9 // 3..11, the served versions
		if guardProduce(body, version, len(body)) != nil {
			return
		}
		req := kmsg.NewPtrProduceRequest()
		req.SetVersion(version)
		_ = req.ReadFrom(body)
	})
}

// Large honest requests (and the responses clients decode with the same
// kmsg) stay well within the decode budget and the Produce guard.
func TestHonestLargeMessagesDecode(t *testing.T) {
	names := make([]string, 10_000)
	for i := range names {
		names[i] = "topic-" + string(rune('a'+i%26)) + string(rune('a'+i/26%26)) + string(rune('a'+i/676%26))
	}
	produce := kmsg.NewPtrProduceRequest()
	produce.SetVersion(9)
	for _, n := range names[:2000] { // 2,000 topics of one small batch each
		produce.Topics = append(produce.Topics, kmsg.ProduceRequestTopic{Topic: n,
			Partitions: []kmsg.ProduceRequestTopicPartition{{Records: recordBatch(1, 1)}}})
	}
	metadata := kmsg.NewPtrMetadataRequest()
	metadata.SetVersion(12)
	commit := kmsg.NewPtrOffsetCommitRequest()
	commit.SetVersion(8)
	commit.Group = "g"
	fetch := kmsg.NewPtrFetchRequest()
	fetch.SetVersion(12)
	for _, n := range names {
		metadata.Topics = append(metadata.Topics, kmsg.MetadataRequestTopic{Topic: kmsg.StringPtr(n)})
		commit.Topics = append(commit.Topics, kmsg.OffsetCommitRequestTopic{Topic: n,
			Partitions: []kmsg.OffsetCommitRequestTopicPartition{{Partition: 0, Offset: 1}, {Partition: 1, Offset: 2}}})
		fetch.Topics = append(fetch.Topics, kmsg.FetchRequestTopic{Topic: n,
			Partitions: []kmsg.FetchRequestTopicPartition{{Partition: 0, FetchOffset: 1, PartitionMaxBytes: 1 << 20}}})
	}
	for _, req := range []kmsg.Request{produce, metadata, commit, fetch} {
		if _, err := parseRequest(frame(req, 1)); err != nil {
			t.Errorf("%s: %v", apiName(req.Key()), err)
		}
	}
	// A Metadata response of 10,000 topics of 10 partitions, 3 replicas.
	mresp := kmsg.NewPtrMetadataResponse()
	mresp.SetVersion(12)
	for _, n := range names {
		rt := kmsg.MetadataResponseTopic{Topic: kmsg.StringPtr(n)}
		for p := range int32(10) {
			rt.Partitions = append(rt.Partitions, kmsg.MetadataResponseTopicPartition{Partition: p, Leader: 1,
				Replicas: []int32{1, 2, 3}, ISR: []int32{1, 2, 3}})
		}
		mresp.Topics = append(mresp.Topics, rt)
	}
	back := kmsg.NewPtrMetadataResponse()
	back.SetVersion(12)
	if err := back.ReadFrom(mresp.AppendTo(nil)); err != nil || len(back.Topics) != len(names) {
		t.Fatalf("metadata response: %v, %d topics", err, len(back.Topics))
	}
}
