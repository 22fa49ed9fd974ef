package e2e

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Client quotas (KIP-13, KIP-546): kadm's AlterClientQuotas and
// DescribeClientQuotas, and franz-go producers and consumers throttled by
// the gateways.

// quotaWindow are the gateway flags of these tests: rates measured over 3
// samples of 1 s, so the burst a quota allows before its first throttle
// ((samples - 1) windows' worth, as in Kafka) is short next to the runs.
var quotaWindow = []string{"--quota-window-num", "3", "--quota-window-size-seconds", "1"}

func clientIDEntity(id string) kadm.ClientQuotaEntity {
	return kadm.ClientQuotaEntity{{Type: "client-id", Name: ptr(id)}}
}

// setQuotas alters quotas and fails on any entry's error. A request_rate
// of 1 for the client id "quota-probe" goes in the same transaction, so a
// gateway that throttles the probe has every quota of the call.
func setQuotas(t *testing.T, adm *kadm.Client, entries ...kadm.AlterClientQuotaEntry) {
	t.Helper()
	entries = append(entries, kadm.AlterClientQuotaEntry{Entity: clientIDEntity("quota-probe"),
		Ops: []kadm.AlterClientQuotaOp{{Key: "request_rate", Value: 1}}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := adm.AlterClientQuotas(ctx, entries)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %v: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
}

// waitQuotasOn waits until the gateway at addr enforces the quotas of the
// last setQuotas: metadata requests of the probe client get throttled.
func waitQuotasOn(t *testing.T, addr string) {
	t.Helper()
	cl := franzSeeded(t, addr, kgo.ClientID("quota-probe"))
	testutil.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		resp, err := kmsg.NewPtrMetadataRequest().RequestWith(ctx, cl.SeedBrokers()[0])
		if err != nil {
			return err
		}
		if resp.ThrottleMillis == 0 {
			return errors.New("the probe is not throttled yet")
		}
		return nil
	})
	cl.Close()
}

// traffic counts a client's produce and fetch bytes and its throttles.
type traffic struct {
	produced, fetched atomic.Int64
	throttles         atomic.Int64
	maxThrottle       atomic.Int64 // ms
}

func (tr *traffic) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 0 && err == nil {
		tr.produced.Add(int64(n))
	}
}

func (tr *traffic) OnBrokerRead(_ kgo.BrokerMetadata, key int16, n int, _, _ time.Duration, err error) {
	if key == 1 && err == nil {
		tr.fetched.Add(int64(n))
	}
}

func (tr *traffic) OnBrokerThrottle(_ kgo.BrokerMetadata, d time.Duration, _ bool) {
	if d > 0 {
		tr.throttles.Add(1)
		if ms := d.Milliseconds(); ms > tr.maxThrottle.Load() {
			tr.maxThrottle.Store(ms)
		}
	}
}

// steadyRate is the bytes per second counted by count between warmup after
// start and now: a quota lets a client burst (samples − 1) windows' worth
// before its first throttle, as Kafka's does, so the rate it holds the
// client to is measured after that.
type steadyRate struct {
	count func() int64
	mu    sync.Mutex
	at    time.Time
	n     int64
}

func newSteadyRate(count func() int64, warmup time.Duration) *steadyRate {
	r := &steadyRate{count: count}
	time.AfterFunc(warmup, func() {
		r.mu.Lock()
		r.at, r.n = time.Now(), r.count()
		r.mu.Unlock()
	})
	return r
}

func (r *steadyRate) rate() float64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return float64(r.count()-r.n) / time.Since(r.at).Seconds()
}

// warmup is how long the tests let a client burst (3 samples: 2 s of
// burst, which has left the window 3 s after it was sent).
const warmup = 4 * time.Second

// produceFor produces 1 KiB records (the producers of these tests send
// batches of at most 16 KiB, small next to the quotas, so a request sent
// just before the end is no large share of what is measured) to topic (all to partition when it is
// not -1) as fast as the client is let, for d, and returns the bytes per
// second the client wrote after the warmup.
func produceFor(t *testing.T, cl *kgo.Client, tr *traffic, topic string, partition int32, d time.Duration) float64 {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	value := make([]byte, 1024)
	_, _ = rand.Read(value) // incompressible
	steady := newSteadyRate(tr.produced.Load, warmup)
	var failed atomic.Value
	for ctx.Err() == nil {
		r := &kgo.Record{Topic: topic, Value: value}
		if partition >= 0 {
			r.Partition = partition
		}
		cl.Produce(ctx, r, func(_ *kgo.Record, err error) {
			if err != nil && !errors.Is(err, context.DeadlineExceeded) && !errors.Is(err, context.Canceled) {
				failed.Store(err)
			}
		})
	}
	rate := steady.rate()
	if err, ok := failed.Load().(error); ok {
		t.Errorf("produce: %v", err)
	}
	return rate
}

func within10(t *testing.T, what string, rate, quota float64) {
	t.Helper()
	t.Logf("%s: %.0f B/s for a quota of %.0f B/s (%.1f%%)", what, rate, quota, 100*rate/quota)
	if rate > quota*1.1 || rate < quota*0.9 {
		t.Errorf("%s: %.0f B/s is not within 10%% of the quota of %.0f B/s", what, rate, quota)
	}
}

// TestQuotaKadmRoundTrip: kadm sets, describes (exact, default, any,
// strict), validates and removes quotas; bad input gets Kafka's errors
// and stores nothing.
func TestQuotaKadmRoundTrip(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	kcl := franzClient(t, c)
	adm := kadm.NewClient(kcl)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	res, err := adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: ptr("ANONYMOUS")}, {Type: "client-id", Name: ptr("app")}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1 << 20}, {Key: "consumer_byte_rate", Value: 2 << 20}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id"}}, // the default client id
			Ops: []kadm.AlterClientQuotaOp{{Key: "request_rate", Value: 250.5}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user"}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 4096}}},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if r.Err != nil {
			t.Fatalf("alter %v: %v %s", r.Entity, r.Err, r.ErrMessage)
		}
	}
	describe := func(strict bool, cs ...kadm.DescribeClientQuotaComponent) map[string]map[string]float64 {
		t.Helper()
		got, err := adm.DescribeClientQuotas(ctx, strict, cs)
		if err != nil {
			t.Fatalf("describe %+v: %v", cs, err)
		}
		out := map[string]map[string]float64{}
		for _, q := range got {
			vs := map[string]float64{}
			for _, v := range q.Values {
				vs[v.Key] = v.Value
			}
			out[q.Entity.String()] = vs
		}
		return out
	}
	all := describe(false)
	if len(all) != 3 || all["{user=ANONYMOUS, client-id=app}"]["consumer_byte_rate"] != 2<<20 ||
		all["{client-id=<default>}"]["request_rate"] != 250.5 || all["{user=<default>}"]["consumer_byte_rate"] != 4096 {
		t.Fatalf("every quota: %v", all)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchName: ptr("app")}); len(got) != 1 {
		t.Fatalf("client-id=app: %v", got)
	}
	if got := describe(true, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchName: ptr("app")}); len(got) != 0 {
		t.Fatalf("strict client-id=app: %v", got)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 1}); len(got) != 1 || got["{client-id=<default>}"] == nil {
		t.Fatalf("default client-id: %v", got)
	}
	if got := describe(false, kadm.DescribeClientQuotaComponent{Type: "user", MatchType: 2}); len(got) != 2 {
		t.Fatalf("any user: %v", got)
	}

	// validate_only checks and stores nothing.
	vres, err := adm.ValidateAlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{{Entity: clientIDEntity("validated"),
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1000}}}})
	if err != nil || vres[0].Err != nil {
		t.Fatalf("validate: %v %+v", err, vres)
	}

	// Bad input: each entry INVALID_REQUEST, the valid one beside them applied.
	bad := []kadm.AlterClientQuotaEntry{
		{Entity: clientIDEntity("x"), Ops: []kadm.AlterClientQuotaOp{{Key: "bogus_rate", Value: 1}}},
		{Entity: clientIDEntity("x"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: -5}}},
		{Entity: clientIDEntity("y"), Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: 10.5}}},
		{Entity: clientIDEntity("z"), Ops: []kadm.AlterClientQuotaOp{{Key: "request_percentage", Value: 50}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "group", Name: ptr("g")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: kadm.ClientQuotaEntity{}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: ptr("")}}, Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}}},
		{Entity: clientIDEntity("w"), Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: 1}, {Key: "producer_byte_rate", Value: 2}}},
	}
	res, err = adm.AlterClientQuotas(ctx, bad)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range res {
		if !errors.Is(r.Err, kerr.InvalidRequest) {
			t.Errorf("bad entry %d (%v): %v, want INVALID_REQUEST", i, bad[i], r.Err)
		} else {
			t.Logf("bad entry %d: %s", i, r.ErrMessage)
		}
	}
	if got := describe(false); len(got) != 3 {
		t.Fatalf("after the bad alterations: %v", got)
	}

	// Bad filters.
	req := kmsg.NewPtrDescribeClientQuotasRequest()
	dup := kmsg.NewDescribeClientQuotasRequestComponent()
	dup.EntityType, dup.MatchType = "user", 2
	req.Components = append(req.Components, dup, dup)
	if resp, err := req.RequestWith(ctx, kcl); err != nil || resp.ErrorCode != kerr.InvalidRequest.Code {
		t.Fatalf("a type twice: %v %+v", err, resp)
	}
	req.Components = req.Components[:1]
	req.Components[0].EntityType = "group"
	if resp, err := req.RequestWith(ctx, kcl); err != nil || resp.ErrorCode != kerr.UnsupportedVersion.Code {
		t.Fatalf("an unknown type: %v %+v", err, resp)
	}

	// Removing the last quota of an entity removes the entity.
	res, err = adm.AlterClientQuotas(ctx, []kadm.AlterClientQuotaEntry{
		{Entity: kadm.ClientQuotaEntity{{Type: "client-id"}}, Ops: []kadm.AlterClientQuotaOp{{Key: "request_rate", Remove: true}}},
		{Entity: kadm.ClientQuotaEntity{{Type: "user", Name: ptr("ANONYMOUS")}, {Type: "client-id", Name: ptr("app")}},
			Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Remove: true}}},
	})
	if err != nil || res[0].Err != nil || res[1].Err != nil {
		t.Fatalf("remove: %v %+v", err, res)
	}
	all = describe(false)
	if len(all) != 2 || len(all["{user=ANONYMOUS, client-id=app}"]) != 1 || all["{client-id=<default>}"] != nil {
		t.Fatalf("after removing: %v", all)
	}

	// The CLI sees what kadm set, and its changes are kadm's to see.
	c.admin("quota", "set", "--user", "ANONYMOUS", "--client-id-default", "--quota", "producer_byte_rate=65536", "--quota", "request_rate=20")
	var listed []struct {
		Entity []struct {
			Type    string `json:"type"`
			Name    string `json:"name"`
			Default bool   `json:"default"`
		} `json:"entity"`
		Quotas map[string]float64 `json:"quotas"`
	}
	c.adminJSON(&listed, "quota", "list", "--user", "ANONYMOUS", "--output", "json")
	if len(listed) != 2 {
		t.Fatalf("strata quota list --user ANONYMOUS: %+v", listed)
	}
	c.adminJSON(&listed, "quota", "list", "--user", "ANONYMOUS", "--client-id-default", "--strict", "--output", "json")
	if len(listed) != 1 || !listed[0].Entity[1].Default || listed[0].Quotas["request_rate"] != 20 {
		t.Fatalf("strata quota list --user ANONYMOUS --client-id-default: %+v", listed)
	}
	if got := describe(true, kadm.DescribeClientQuotaComponent{Type: "user", MatchName: ptr("ANONYMOUS")},
		kadm.DescribeClientQuotaComponent{Type: "client-id", MatchType: 1}); got["{user=ANONYMOUS, client-id=<default>}"]["producer_byte_rate"] != 65536 {
		t.Fatalf("kadm after the CLI: %v", got)
	}
	if out := c.adminFails("quota", "set", "--client-id", "x", "--quota", "producer_byte_rate=-1"); !strings.Contains(out, "greater than 0") {
		t.Errorf("a negative rate: %q", out)
	}
	if out := c.adminFails("quota", "set", "--client-id", "x", "--quota", "request_percentage=10"); !strings.Contains(out, "request_percentage") {
		t.Errorf("an unknown key: %q", out)
	}
	c.admin("quota", "remove", "--user", "ANONYMOUS", "--client-id-default", "--key", "producer_byte_rate,request_rate")
	if out := c.admin("quota", "list", "--client-id", "x"); !strings.Contains(out, "No client quotas") {
		t.Errorf("nothing stored for the bad input: %q", out)
	}
	if out := c.admin("quota", "list", "--user", "ANONYMOUS"); strings.Contains(out, "client-id=<default>") || !strings.Contains(out, "client-id=app") {
		t.Errorf("after strata quota remove: %q", out)
	}
}

// TestQuotaProduceThrottled: a franz-go producer held to its
// producer_byte_rate quota by throttle_time_ms and the muted connection.
func TestQuotaProduceThrottled(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1, gatewayArgs: quotaWindow})
	c.admin("topic", "create", "quota-produce", "--partitions", "1", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"quota-produce": 1})
	const quota = 256 << 10
	setQuotas(t, kadm.NewClient(franzClient(t, c)), kadm.AlterClientQuotaEntry{Entity: clientIDEntity("quota-producer"),
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: quota}}})
	waitQuotasOn(t, c.kafka)

	tr := &traffic{}
	cl := franzClient(t, c, kgo.ClientID("quota-producer"), kgo.WithHooks(tr), kgo.ProducerLinger(5*time.Millisecond),
		kgo.ProducerBatchMaxBytes(16<<10))
	rate := produceFor(t, cl, tr, "quota-produce", -1, 14*time.Second)
	within10(t, "producer", rate, quota)
	t.Logf("throttles reported: %d, longest %d ms", tr.throttles.Load(), tr.maxThrottle.Load())
	if tr.throttles.Load() == 0 {
		t.Error("the producer was never told throttle_time_ms")
	}
	page := metricsPage(t, c.gateway)
	n, _ := metricValue(page, "strata_gateway_kafka_throttled_responses_total", `quota="producer_byte_rate"`)
	secs, _ := metricValue(page, "strata_gateway_kafka_throttle_seconds_total", `quota="producer_byte_rate"`)
	t.Logf("gateway metrics: %v responses throttled for producer_byte_rate, %.1f s in all", n, secs)
	if n == 0 || secs <= 0 {
		t.Errorf("the gateway's throttle metrics: %v responses, %v s", n, secs)
	}
}

// TestQuotaFetchThrottled: a franz-go consumer held to its
// consumer_byte_rate quota.
func TestQuotaFetchThrottled(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1, gatewayArgs: quotaWindow})
	c.admin("topic", "create", "quota-fetch", "--partitions", "1", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"quota-fetch": 1})
	const quota = 256 << 10
	// 6 MiB to read, more than 20 s can take at the quota.
	// Batches of 16 KiB: a fetch returns at least one whole batch, and one
	// larger than the quota allows per window would be throttled forever.
	p := franzClient(t, c, kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchCompression(kgo.NoCompression()),
		kgo.ProducerBatchMaxBytes(16<<10))
	var rs []*kgo.Record
	for range 1536 {
		value := make([]byte, 4096)
		_, _ = rand.Read(value)
		rs = append(rs, &kgo.Record{Topic: "quota-fetch", Value: value})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := p.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	setQuotas(t, kadm.NewClient(franzClient(t, c)), kadm.AlterClientQuotaEntry{Entity: clientIDEntity("quota-consumer"),
		Ops: []kadm.AlterClientQuotaOp{{Key: "consumer_byte_rate", Value: quota}}})
	waitQuotasOn(t, c.kafka)

	tr := &traffic{}
	// Fetches of at most 64 KiB (four batches), small next to what the
	// quota allows per window: a throttled fetch is answered empty (as in
	// Kafka), so fetches the size of the whole window's allowance would
	// waste most of it; and few enough a second that a loaded machine
	// keeps up with the quota.
	cl := franzClient(t, c, kgo.ClientID("quota-consumer"), kgo.WithHooks(tr), kgo.ConsumeTopics("quota-fetch"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.FetchMaxBytes(64<<10), kgo.FetchMaxPartitionBytes(64<<10))
	// 20 s: a window's worth of allowance the quota's sampling lets
	// through at one end (up to ~1 s at the quota, as Kafka's sampled
	// rate allows) stays a small share of what is measured.
	rctx, rcancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer rcancel()
	steady := newSteadyRate(tr.fetched.Load, warmup)
	records := 0
	for rctx.Err() == nil {
		fs := cl.PollFetches(rctx)
		records += fs.NumRecords()
	}
	rate := steady.rate()
	t.Logf("consumed %d records", records)
	if records == len(rs) {
		t.Error("the consumer read everything: the quota did not hold it")
	}
	within10(t, "consumer", rate, quota)
	t.Logf("throttles reported: %d, longest %d ms", tr.throttles.Load(), tr.maxThrottle.Load())
	if tr.throttles.Load() == 0 {
		t.Error("the consumer was never told throttle_time_ms")
	}
}

// TestQuotaPerGateway: quotas are per gateway, as Kafka's are per broker.
// Two producers with the same client id, each writing to a partition led
// by a different gateway, each get the whole quota: together they write
// twice it.
func TestQuotaPerGateway(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1, gatewayArgs: quotaWindow})
	gw2, _ := addGateway(t, c, "gateway-2", quotaWindow...)
	gws := []string{c.kafka, gw2}
	c.admin("topic", "create", "quota-shared", "--partitions", "8", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"quota-shared": 8})
	const quota = 256 << 10
	setQuotas(t, kadm.NewClient(franzClient(t, c)), kadm.AlterClientQuotaEntry{Entity: clientIDEntity("shared-producer"),
		Ops: []kadm.AlterClientQuotaOp{{Key: "producer_byte_rate", Value: quota}}})
	for _, gw := range gws {
		waitQuotasOn(t, gw)
	}
	// One partition led by each gateway.
	leaderOf := map[string]int32{}
	testutil.WaitFor(t, 30*time.Second, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		m, err := kadm.NewClient(franzClient(t, c)).Metadata(ctx, "quota-shared")
		if err != nil {
			return err
		}
		if len(m.Brokers) != 2 {
			return fmt.Errorf("%d brokers", len(m.Brokers))
		}
		for _, b := range m.Brokers {
			addr := fmt.Sprintf("%s:%d", b.Host, b.Port)
			for _, p := range m.Topics["quota-shared"].Partitions {
				if p.Leader == b.NodeID {
					leaderOf[addr] = p.Partition
				}
			}
		}
		if len(leaderOf) != 2 {
			return fmt.Errorf("partition leaders %v", leaderOf)
		}
		return nil
	})
	var wg sync.WaitGroup
	rates := make([]float64, len(gws))
	for i, gw := range gws {
		tr := &traffic{}
		cl := franzSeeded(t, gw, kgo.ClientID("shared-producer"), kgo.WithHooks(tr),
			kgo.RecordPartitioner(kgo.ManualPartitioner()), kgo.ProducerLinger(5*time.Millisecond), kgo.ProducerBatchMaxBytes(16<<10))
		wg.Add(1)
		go func() {
			defer wg.Done()
			rates[i] = produceFor(t, cl, tr, "quota-shared", leaderOf[gw], 14*time.Second)
		}()
	}
	wg.Wait()
	for i, gw := range gws {
		within10(t, "producer through "+gw, rates[i], quota)
	}
}
