package kafka

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	metadatav1 "github.com/strata-io/strata/gen/strata/metadata/v1"
	storagev1 "github.com/strata-io/strata/gen/strata/storage/v1"
	"github.com/strata-io/strata/internal/metadata"
	"github.com/strata-io/strata/internal/quota"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// quotaListener serves on loopback with request_rate=1 for the client id
// "test" (the one frame sends), over 2 samples of 1 s: the second request
// within a second is throttled 1000 ms.
func quotaListener(t *testing.T) string {
	t.Helper()
	cache := metadata.NewCache()
	e := quota.Entity{ClientID: &quota.Name{Name: "test"}}
	cache.Apply(&controllerv1.WatchMetadataResponse{Revision: 1, Snapshot: true, Upserts: []*metadatav1.Record{
		{Record: &metadatav1.Record_ClientQuota{ClientQuota: &metadatav1.ClientQuotaRecord{
			Entity: e.ToProto(), Quotas: map[string]float64{quota.RequestRate: 1}}}},
	}})
	if got := cache.ClientQuotas(e.Path()); got[quota.RequestRate] != 1 {
		t.Fatalf("the cache holds %v for %s", got, e.Path())
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := NewServer(ln, Config{QuotaWindowSamples: 2, QuotaWindow: time.Second}, Deps{Cache: cache})
	go s.Serve()
	t.Cleanup(func() { s.Shutdown(time.Second) })
	return ln.Addr().String()
}

// apiVersionsTimes sends three ApiVersions requests at version v, each as
// soon as the previous one is answered (a client that ignores throttles),
// and returns each response's throttle and how long it took.
func apiVersionsTimes(t *testing.T, addr string, v int16) (throttles [3]int32, took [3]time.Duration) {
	t.Helper()
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	_ = nc.SetDeadline(time.Now().Add(20 * time.Second))
	for i := range 3 {
		req := kmsg.NewPtrApiVersionsRequest()
		req.SetVersion(v)
		req.ClientSoftwareName, req.ClientSoftwareVersion = "test", "1"
		f := frame(req, int32(i))
		start := time.Now()
		if _, err := nc.Write(append(binary.BigEndian.AppendUint32(nil, uint32(len(f))), f...)); err != nil {
			t.Fatal(err)
		}
		var size [4]byte
		if _, err := io.ReadFull(nc, size[:]); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		body := make([]byte, binary.BigEndian.Uint32(size[:]))
		if _, err := io.ReadFull(nc, body); err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		took[i] = time.Since(start)
		resp := kmsg.NewPtrApiVersionsResponse()
		resp.SetVersion(v)
		if err := resp.ReadFrom(body[4:]); err != nil { // after the correlation id
			t.Fatalf("response %d: %v", i, err)
		}
		if resp.ErrorCode != 0 {
			t.Fatalf("response %d: error %d", i, resp.ErrorCode)
		}
		throttles[i] = resp.ThrottleMillis
	}
	return throttles, took
}

// KIP-219: a version where the client throttles itself gets its throttle
// at once, and the connection is muted: the next request waits it out.
func TestQuotaThrottleMutesTheConnection(t *testing.T) {
	th, took := apiVersionsTimes(t, quotaListener(t), 3)
	t.Logf("throttles %v, answered in %v", th, took)
	if th[0] != 0 || th[1] < 900 || th[1] > 1100 {
		t.Fatalf("throttles %v: want 0 then about 1000 ms", th)
	}
	if took[1] > 500*time.Millisecond {
		t.Fatalf("the throttled response itself waited %v", took[1])
	}
	if took[2] < 900*time.Millisecond {
		t.Fatalf("the request after the throttled one was answered in %v: the connection was not muted", took[2])
	}
}

// Before KIP-219 (ApiVersions v1) the broker holds the throttled response
// until the throttle ends.
func TestQuotaThrottleDelaysOldVersions(t *testing.T) {
	th, took := apiVersionsTimes(t, quotaListener(t), 1)
	t.Logf("throttles %v, answered in %v", th, took)
	if th[0] != 0 || th[1] < 900 || th[1] > 1100 {
		t.Fatalf("throttles %v: want 0 then about 1000 ms", th)
	}
	if took[1] < 900*time.Millisecond {
		t.Fatalf("the throttled v1 response came after %v, before its throttle ended", took[1])
	}
}

// A Fetch over its request_rate quota is answered empty with its throttle,
// as one over its byte rate is (Kafka's handleFetchRequest), and both
// quotas reach the throttle metrics by the quota that set them.
func TestQuotaThrottledFetchIsEmpty(t *testing.T) {
	batch := recordBatch(3, 10)
	st := &stubStorage{fetch: func(addr string, in *storagev1.FetchRequest) (*storagev1.FetchResponse, error) {
		out := &storagev1.FetchResponse{}
		for _, p := range in.GetPartitions() {
			out.Partitions = append(out.Partitions, &storagev1.FetchPartitionResult{Topic: p.GetTopic(), Partition: p.GetPartition(),
				HighWatermark: 3, Records: batch})
		}
		return out, nil
	}}
	s := benchServer(t, "t", 1, st)
	for _, c := range []struct {
		key   string
		bound float64
	}{{quota.RequestRate, 1}, {quota.ConsumerByteRate, 100}} {
		e := quota.Entity{ClientID: &quota.Name{Name: "test-" + c.key}}
		s.d.Cache.Apply(&controllerv1.WatchMetadataResponse{Revision: s.d.Cache.Revision() + 1, Upserts: []*metadatav1.Record{
			{Record: &metadatav1.Record_ClientQuota{ClientQuota: &metadatav1.ClientQuotaRecord{
				Entity: e.ToProto(), Quotas: map[string]float64{c.key: c.bound}}}}}})
		throttled := false
		for i := 0; i < 40 && !throttled; i++ {
			req := kmsg.NewPtrFetchRequest()
			req.SetVersion(12)
			req.MaxWaitMillis, req.MinBytes, req.MaxBytes, req.SessionEpoch = 0, 1, 1<<20, -1
			rt := kmsg.NewFetchRequestTopic()
			rt.Topic = "t"
			rp := kmsg.NewFetchRequestTopicPartition()
			rp.Partition, rp.CurrentLeaderEpoch, rp.PartitionMaxBytes = 0, -1, 1<<20
			rt.Partitions = append(rt.Partitions, rp)
			req.Topics = append(req.Topics, rt)
			r, err := parseRequest(frame(req, 1))
			if err != nil {
				t.Fatal(err)
			}
			r.clientID = "test-" + c.key
			out, err := s.dispatch(context.Background(), r)
			if err != nil {
				t.Fatal(err)
			}
			resp := out.(*kmsg.FetchResponse)
			if d := s.recordQuotas(r, resp); d > 0 {
				throttled = true
				if resp.ThrottleMillis <= 0 || len(resp.Topics) != 0 {
					t.Fatalf("%s: a throttled fetch answered %d topics with throttle %d ms", c.key, len(resp.Topics), resp.ThrottleMillis)
				}
			} else if len(resp.Topics) != 1 || len(resp.Topics[0].Partitions[0].RecordBatches) == 0 {
				t.Fatalf("%s: an unthrottled fetch answered %+v", c.key, resp.Topics)
			}
		}
		if !throttled {
			t.Fatalf("%s %v: never throttled", c.key, c.bound)
		}
		if n := s.ThrottleStats()[c.key][0]; n != 1 {
			t.Fatalf("%s: %d throttles counted, want 1", c.key, n)
		}
	}
}
