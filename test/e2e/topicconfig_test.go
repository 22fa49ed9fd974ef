package e2e

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	"github.com/strata-io/strata/internal/codec"
	"github.com/strata-io/strata/internal/recordbatch"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/strata-io/strata/internal/topicconfig"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// A config the storage nodes' log cannot apply is refused up front, with
// the key and its range, by both admin APIs.
func TestTopicConfigOutOfRangeRefused(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "cfg", "--partitions", "1", "--replication-factor", "1")
	indexRange := fmt.Sprintf("[%d, %d]", topicconfig.MinSegmentIndexBytes, topicconfig.MaxSegmentIndexBytes)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"topic", "create", "t", "--config", "segment.index.bytes=8"}, "segment.index.bytes: 8 is outside " + indexRange},
		{[]string{"topic", "create", "t", "--config", "segment.index.bytes=9223372036854775807"}, "segment.index.bytes: 9223372036854775807 is outside " + indexRange},
		{[]string{"topic", "create", "t", "--config", "compression.type=zstd"}, "recompression is not supported"},
		{[]string{"topic", "alter", "cfg", "--config", "segment.bytes=4294967296"}, "segment.bytes: 4294967296 is outside [14, 2147483647]"},
	} {
		if msg := c.adminFails(tc.args...); !strings.Contains(msg, tc.want) {
			t.Errorf("strata %v: error %q does not say %q", tc.args, msg, tc.want)
		}
	}

	adm := kadm.NewClient(franzClient(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	bad := map[string]*string{"segment.index.bytes": kadm.StringPtr("8")}
	ct, err := adm.CreateTopic(ctx, 1, 1, bad, "k") // err repeats the topic's error
	if ct.Topic != "k" {
		t.Fatal(err)
	}
	if !errors.Is(ct.Err, kerr.InvalidConfig) || !strings.Contains(ct.ErrMessage, "segment.index.bytes: 8 is outside "+indexRange) {
		t.Errorf("CreateTopics: %v %q, want INVALID_CONFIG naming the range", ct.Err, ct.ErrMessage)
	}
	check := func(api string, rs kadm.AlterConfigsResponses, err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		r, _ := rs.On("cfg", nil)
		if !errors.Is(r.Err, kerr.InvalidConfig) || !strings.Contains(r.ErrMessage, "max.message.bytes: -1 is outside [0, 2147483647]") {
			t.Errorf("%s: %v %q, want INVALID_CONFIG naming the range", api, r.Err, r.ErrMessage)
		}
	}
	set := []kadm.AlterConfig{{Name: "max.message.bytes", Value: kadm.StringPtr("-1")}}
	rs, err := adm.AlterTopicConfigsState(ctx, set, "cfg")
	check("AlterConfigs", rs, err)
	rs, err = adm.AlterTopicConfigs(ctx, set, "cfg")
	check("IncrementalAlterConfigs", rs, err)

	var topic topicInfo
	c.adminJSON(&topic, "topic", "describe", "cfg")
	if len(topic.Configs) != 0 {
		t.Errorf("refused alters changed the configs: %v", topic.Configs)
	}
}

// message.timestamp.type=LogAppendTime gives consumers the broker's
// timestamps; message.timestamp.after.max.ms refuses records from the
// future with INVALID_TIMESTAMP.
func TestTopicTimestampConfigs(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "lat", "--partitions", "1", "--replication-factor", "1", "--config", "message.timestamp.type=LogAppendTime")
	c.admin("topic", "create", "future", "--partitions", "1", "--replication-factor", "1", "--config", "message.timestamp.after.max.ms=60000")
	waitTopicsReady(t, c, map[string]int{"lat": 1, "future": 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()

	p := franzClient(t, c)
	before := time.Now().Add(-time.Second)
	old := time.UnixMilli(1_000_000)
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: "lat", Value: []byte("a"), Timestamp: old}, &kgo.Record{Topic: "lat", Value: []byte("b"), Timestamp: old}).FirstErr(); err != nil {
		t.Fatal(err)
	}
	after := time.Now().Add(time.Second)
	// The produce response carries the broker's time too (log_append_time).
	batch, err := recordbatch.Build(recordbatch.ProducerOptions(codec.None), []recordbatch.BuildRecord{{Value: []byte("c"), Timestamp: old.UnixMilli()}})
	if err != nil {
		t.Fatal(err)
	}
	preq := kmsg.NewPtrProduceRequest()
	preq.Acks, preq.TimeoutMillis = -1, 5000
	pt := kmsg.NewProduceRequestTopic()
	pt.Topic = "lat"
	pp := kmsg.NewProduceRequestTopicPartition()
	pp.Records = batch
	pt.Partitions = append(pt.Partitions, pp)
	preq.Topics = append(preq.Topics, pt)
	presp, err := preq.RequestWith(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if got := presp.Topics[0].Partitions[0]; got.ErrorCode != 0 || got.LogAppendTime < before.UnixMilli() || got.LogAppendTime > time.Now().Add(time.Second).UnixMilli() {
		t.Errorf("produce answered error %d, log_append_time %d; want the broker's time", got.ErrorCode, got.LogAppendTime)
	}
	cons := franzClient(t, c, kgo.ConsumeTopics("lat"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
	var got []*kgo.Record
	for len(got) < 2 {
		fs := cons.PollFetches(ctx)
		if err := fs.Err(); err != nil {
			t.Fatal(err)
		}
		got = append(got, fs.Records()...)
	}
	for _, r := range got {
		if r.Attrs.TimestampType() != 1 || r.Timestamp.Before(before) || r.Timestamp.After(after) {
			t.Errorf("record %d: timestamp %v type %d, want the broker's time (type 1) in [%v, %v]", r.Offset, r.Timestamp, r.Attrs.TimestampType(), before, after)
		}
	}
	// A Consume member sent the stored batches reads the same times.
	whole := consumeEverything(t, streamClient(t, c), "lat-batches", "lat", true, 1<<20, 3)
	if whole.batches == 0 {
		t.Error("no batch of the LogAppendTime topic came whole")
	}
	for _, r := range whole.recs[0] {
		ts := r.GetTimestampMs()
		if r.GetTimestampType() != streamv1.TimestampType_TIMESTAMP_TYPE_LOG_APPEND_TIME || ts < before.UnixMilli() || ts > after.UnixMilli()+2000 {
			t.Errorf("record %d over Consume: timestamp %d %v, want the broker's time", r.GetOffset(), ts, r.GetTimestampType())
		}
		if o := r.GetOffset(); o < int64(len(got)) && got[o].Timestamp.UnixMilli() != ts {
			t.Errorf("record %d over Consume: timestamp %d, franz-go read %d", o, ts, got[o].Timestamp.UnixMilli())
		}
	}

	err = p.ProduceSync(ctx, &kgo.Record{Topic: "future", Value: []byte("x"), Timestamp: time.Now().Add(time.Hour)}).FirstErr()
	if !errors.Is(err, kerr.InvalidTimestamp) {
		t.Errorf("record an hour ahead: %v, want INVALID_TIMESTAMP", err)
	}
	if err := p.ProduceSync(ctx, &kgo.Record{Topic: "future", Value: []byte("y"), Timestamp: time.Now()}).FirstErr(); err != nil {
		t.Errorf("record at the broker's time: %v", err)
	}
}

// Every integer config at its min and max is accepted, and at min−1 and
// max+1 refused with INVALID_CONFIG naming the key and its range, through
// the CLI and through Kafka's IncrementalAlterConfigs; the topic stays
// writable throughout.
func TestEveryTopicConfigBoundary(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "bounds", "--partitions", "1", "--replication-factor", "1")
	adm := kadm.NewClient(franzClient(t, c))
	ctx, cancel := context.WithTimeout(context.Background(), 120*time.Second)
	defer cancel()
	alter := func(name string, v int64) error {
		rs, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Name: name, Value: kadm.StringPtr(fmt.Sprint(v))}}, "bounds")
		if err != nil {
			return err
		}
		r, _ := rs.On("bounds", nil)
		if r.Err != nil {
			return fmt.Errorf("%w: %s", r.Err, r.ErrMessage)
		}
		return nil
	}
	tried := 0
	for _, s := range topicconfig.All() {
		if !s.Integer {
			continue
		}
		tried++
		rangeText := fmt.Sprintf("is outside [%d, %d]", s.Min, s.Max)
		for _, v := range []int64{s.Min, s.Max} {
			if err := alter(s.Name, v); err != nil {
				t.Errorf("Kafka %s=%d: %v, want accepted", s.Name, v, err)
			}
			c.admin("topic", "alter", "bounds", "--config", fmt.Sprintf("%s=%d", s.Name, v))
		}
		var outside []int64
		if s.Min > math.MinInt64 {
			outside = append(outside, s.Min-1)
		}
		if s.Max < math.MaxInt64 {
			outside = append(outside, s.Max+1)
		}
		for _, v := range outside {
			if err := alter(s.Name, v); !errors.Is(err, kerr.InvalidConfig) || !strings.Contains(err.Error(), s.Name) || !strings.Contains(err.Error(), rangeText) {
				t.Errorf("Kafka %s=%d: %v, want INVALID_CONFIG naming the key and %q", s.Name, v, err, rangeText)
			}
			if msg := c.adminFails("topic", "alter", "bounds", "--config", fmt.Sprintf("%s=%d", s.Name, v)); !strings.Contains(msg, s.Name) || !strings.Contains(msg, rangeText) {
				t.Errorf("strata topic alter %s=%d: %q, want the key and %q", s.Name, v, msg, rangeText)
			}
		}
		// Back to the default, so the next key is tried on a usable topic.
		if _, err := adm.AlterTopicConfigs(ctx, []kadm.AlterConfig{{Op: kadm.DeleteConfig, Name: s.Name}}, "bounds"); err != nil {
			t.Fatal(err)
		}
	}
	if tried < 10 {
		t.Fatalf("only %d integer configs tried", tried)
	}
	p := franzClient(t, c)
	testutil.WaitFor(t, 30*time.Second, func() error {
		return p.ProduceSync(ctx, &kgo.Record{Topic: "bounds", Value: []byte("still writable")}).FirstErr()
	})
}
