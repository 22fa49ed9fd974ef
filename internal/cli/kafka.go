package cli

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/internal/tlsconf"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
)

// The --protocol kafka side of produce and consume: franz-go against the
// gateway's Kafka listener (or any Kafka cluster).

// client connects to the brokers, failing with a hint when none
// answers within --timeout; --kafka-tls dials them with the --tls-* files.
func (k *kafkaFlags) client(ctx context.Context, f *clientFlags, opts ...kgo.Opt) (*kgo.Client, error) {
	timeout := f.timeout
	seeds := k.seeds()
	if len(seeds) == 0 {
		return nil, errors.New("--brokers is empty")
	}
	if k.tls {
		cfg, err := tlsconf.ClientFiles(f.tls.ca, f.tls.cert, f.tls.key)
		if err != nil {
			return nil, fmt.Errorf("--kafka-tls: %w", err)
		}
		opts = append(opts, kgo.DialTLSConfig(cfg)) // franz-go sets ServerName to each broker's host
	}
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(seeds...), kgo.ClientID("strata-cli")}, opts...)...)
	if err != nil {
		return nil, fmt.Errorf("--brokers %s: %w", k.brokers, err)
	}
	pctx, cancel := context.WithTimeout(ctx, min(timeout, 10*time.Second))
	defer cancel()
	if err := cl.Ping(pctx); err != nil {
		cl.Close()
		return nil, fmt.Errorf("cannot connect to the Kafka listener at %s (%s) — is `strata dev` running? (set --brokers or STRATA_BROKERS)", k.brokers, dialCause(oneLine(err)))
	}
	return cl, nil
}

// kafkaPartitions returns the topic's partition count, or an error that
// names the topic when it does not exist.
func kafkaPartitions(ctx context.Context, cl *kgo.Client, topic string) (int32, error) {
	td, err := kadm.NewClient(cl).ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("metadata of %s: %s", topic, oneLine(err))
	}
	d, ok := td[topic]
	if !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition) {
		return 0, fmt.Errorf("topic %q does not exist — create it with `strata topic create %s`", topic, topic)
	}
	if d.Err != nil {
		return 0, fmt.Errorf("metadata of %s: %s", topic, oneLine(d.Err))
	}
	return int32(len(d.Partitions)), nil
}

func (p *produceCmd) kafkaSink(ctx context.Context, topic string, s *produceSettings) (sink, error) {
	opts := []kgo.Opt{kgo.RecordDeliveryTimeout(p.f.timeout)}
	opts = append(opts, kafkaAcks(s.acks)...)
	if p.noIdempotent && s.acks == strata.AcksAll {
		opts = append(opts, kgo.DisableIdempotentWrite())
	}
	opts = append(opts, kgo.ProducerBatchCompression(kafkaCompression(s.compression)))
	if p.partition >= 0 {
		opts = append(opts, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	}
	cl, err := p.k.client(ctx, &p.f, opts...)
	if err != nil {
		return nil, err
	}
	n, err := kafkaPartitions(ctx, cl, topic)
	if err == nil && p.partition >= n {
		err = fmt.Errorf("topic %s has %d partitions: there is no partition %d", topic, n, p.partition)
	}
	if err != nil {
		cl.Close()
		return nil, err
	}
	return kafkaSink{cl}, nil
}

type kafkaSink struct{ cl *kgo.Client }

func (k kafkaSink) Produce(ctx context.Context, r *strata.Record, promise func(*strata.Record, error)) {
	kr := &kgo.Record{Topic: r.Topic, Partition: r.Partition, Key: r.Key, Value: r.Value, Timestamp: r.Timestamp}
	for _, h := range r.Headers {
		kr.Headers = append(kr.Headers, kgo.RecordHeader{Key: h.Key, Value: h.Value})
	}
	// franz-go fails a record whose context ends before it is written: a
	// Ctrl-C must not drop what was read, so the records outlive ctx and
	// the flush bounds them.
	k.cl.Produce(context.WithoutCancel(ctx), kr, func(kr *kgo.Record, err error) { promise(fromKgo(kr), err) })
}

func (k kafkaSink) Flush(ctx context.Context) error { return k.cl.Flush(ctx) }

func (k kafkaSink) Close() error {
	k.cl.Close()
	return nil
}

func fromKgo(kr *kgo.Record) *strata.Record {
	r := &strata.Record{Topic: kr.Topic, Partition: kr.Partition, Key: kr.Key, Value: kr.Value,
		Timestamp: kr.Timestamp, Offset: kr.Offset}
	for _, h := range kr.Headers {
		r.Headers = append(r.Headers, strata.Header{Key: h.Key, Value: h.Value})
	}
	return r
}

func (c *consumeCmd) kafkaSource(ctx context.Context, topics []string, spec offsetSpec) (source, error) {
	s := &kafkaSource{group: c.group, assigned: map[string]map[int32]bool{}, pos: map[string]map[int32]int64{}}
	var opts []kgo.Opt
	if c.group != "" {
		reset := kgo.NewOffset().AtStart()
		if spec.kind == specEnd {
			reset = kgo.NewOffset().AtEnd()
		}
		// The topics are added once they are known to exist, so a bad
		// topic never joins the group.
		opts = append(opts, kgo.ConsumerGroup(c.group), kgo.ConsumeResetOffset(reset),
			kgo.AutoCommitMarks(), kgo.AutoCommitInterval(time.Second),
			kgo.OnPartitionsAssigned(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.assign(m, true) }),
			kgo.OnPartitionsRevoked(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.assign(m, false) }),
			kgo.OnPartitionsLost(func(_ context.Context, _ *kgo.Client, m map[string][]int32) { s.assign(m, false) }))
	}
	cl, err := c.k.client(ctx, &c.f, opts...)
	if err != nil {
		return nil, err
	}
	adm := kadm.NewClient(cl)
	count := func(ctx context.Context, topic string) (int32, error) { return kafkaPartitions(ctx, cl, topic) }
	list := func(ctx context.Context, topic string, parts []int32, o strata.Offset) (map[int32]int64, error) {
		var res kadm.ListedOffsets
		var err error
		atTime := o != strata.AtStart() && o != strata.AtEnd()
		switch {
		case o == strata.AtStart():
			res, err = adm.ListStartOffsets(ctx, topic)
		case o == strata.AtEnd():
			res, err = adm.ListEndOffsets(ctx, topic)
		default:
			res, err = adm.ListOffsetsAfterMilli(ctx, spec.at.UnixMilli(), topic)
		}
		if err == nil {
			err = res.Error()
		}
		if err != nil {
			return nil, fmt.Errorf("list offsets of %s: %s", topic, oneLine(err))
		}
		out := map[int32]int64{}
		for _, p := range parts {
			l, _ := res.Lookup(topic, p)
			out[p] = l.Offset
			if atTime && l.Offset >= 0 && l.Timestamp < 0 {
				out[p] = -1 // Kafka answers the end for a time after every record
			}
		}
		return out, nil
	}
	rs, err := ranges(ctx, topics, c.partitions, spec, count, list) // --group has no --partition
	if err != nil {
		cl.Close()
		return nil, err
	}
	s.mu.Lock()
	s.cl, s.adm, s.ranges, s.ends, s.timeout = cl, adm, rs, endsOf(rs), c.f.timeout
	parts := map[string]map[int32]kgo.Offset{}
	for _, r := range rs {
		if s.pos[r.topic] == nil {
			parts[r.topic] = map[int32]kgo.Offset{}
			s.pos[r.topic] = map[int32]int64{}
		}
		if c.group == "" {
			parts[r.topic][r.partition] = kgo.NewOffset().At(r.start)
			s.pos[r.topic][r.partition] = r.start
		}
	}
	s.mu.Unlock()
	if c.group == "" {
		cl.AddConsumePartitions(parts)
	} else {
		cl.AddConsumeTopics(topics...)
	}
	return s, nil
}

type kafkaSource struct {
	group   string
	mu      sync.Mutex // the group's callbacks run on franz-go's goroutines
	cl      *kgo.Client
	adm     *kadm.Client
	timeout time.Duration
	ranges  []partitionRange // start: where a group starts without a commit
	ends    map[string]map[int32]int64
	pos     map[string]map[int32]int64 // next offset, per partition read or looked up
	// assigned are the group member's partitions.
	assigned map[string]map[int32]bool
}

func (s *kafkaSource) assign(m map[string][]int32, add bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range m {
		if s.assigned[t] == nil {
			s.assigned[t] = map[int32]bool{}
		}
		for _, p := range ps {
			if add {
				s.assigned[t][p] = true
			} else {
				delete(s.assigned[t], p)
			}
		}
	}
}

func (s *kafkaSource) end(topic string, partition int32) int64 { return s.ends[topic][partition] }

func (s *kafkaSource) poll(ctx context.Context, wait time.Duration) ([]*strata.Record, error) {
	pctx := ctx
	if wait > 0 {
		var cancel context.CancelFunc
		pctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	fs := s.cl.PollFetches(pctx)
	for _, e := range fs.Errors() {
		if errors.Is(e.Err, context.DeadlineExceeded) || errors.Is(e.Err, context.Canceled) {
			continue
		}
		return nil, fmt.Errorf("fetch %s-%d: %s", e.Topic, e.Partition, oneLine(e.Err))
	}
	var out []*strata.Record
	s.mu.Lock()
	defer s.mu.Unlock()
	fs.EachRecord(func(kr *kgo.Record) {
		if s.pos[kr.Topic] != nil {
			s.pos[kr.Topic][kr.Partition] = kr.Offset + 1
		}
		out = append(out, fromKgo(kr))
	})
	return out, nil
}

func (s *kafkaSource) mark(r *strata.Record) {
	if s.group != "" {
		s.cl.MarkCommitOffsets(map[string]map[int32]kgo.EpochOffset{r.Topic: {r.Partition: {Epoch: -1, Offset: r.Offset + 1}}})
	}
}

// atEnd says whether every partition read reached its end; a group
// member must hold partitions, and one it has not read yet is where the
// group's committed offset (or the start offset) puts it.
func (s *kafkaSource) atEnd(ctx context.Context) (bool, error) {
	if s.group == "" {
		s.mu.Lock()
		defer s.mu.Unlock()
		for _, r := range s.ranges {
			if s.pos[r.topic][r.partition] < r.end {
				return false, nil
			}
		}
		return true, nil
	}
	s.mu.Lock()
	held, missing := 0, false
	for t, ps := range s.assigned {
		for p := range ps {
			held++
			if _, ok := s.pos[t][p]; !ok {
				missing = true
			}
		}
	}
	s.mu.Unlock()
	if held == 0 {
		return false, nil
	}
	var committed kadm.OffsetResponses
	if missing {
		fctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		var err error
		if committed, err = s.adm.FetchOffsets(fctx, s.group); err == nil {
			err = committed.Error()
		}
		if err != nil {
			return false, fmt.Errorf("committed offsets of %s: %s", s.group, oneLine(err))
		}
	}
	starts := map[string]map[int32]int64{}
	for _, r := range s.ranges {
		if starts[r.topic] == nil {
			starts[r.topic] = map[int32]int64{}
		}
		starts[r.topic][r.partition] = r.start
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for t, ps := range s.assigned {
		for p := range ps {
			if s.pos[t] == nil {
				s.pos[t] = map[int32]int64{}
			}
			if _, ok := s.pos[t][p]; !ok {
				o, ok := committed.Lookup(t, p)
				if !ok || o.At < 0 {
					o.At = starts[t][p]
				}
				s.pos[t][p] = o.At
			}
			if s.pos[t][p] < s.ends[t][p] {
				return false, nil
			}
		}
	}
	return true, nil
}

func (s *kafkaSource) close(ctx context.Context) error {
	var err error
	if s.group != "" {
		err = s.cl.CommitMarkedOffsets(ctx)
	}
	s.cl.Close() // a group member leaves the group here
	return err
}
