package cli

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/schollz/progressbar/v3"
	"github.com/spf13/cobra"
	strata "github.com/strata-io/strata/clients/go"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"golang.org/x/term"
)

// strata perf produce | consume: load generators modelled on
// kafka-producer-perf-test and the OpenMessaging Benchmark, over the
// public gRPC API (clients/go) or the Kafka listener (franz-go).

// Bounds of perf's inputs.
const (
	maxPerfRecordSize = 16 << 20
	maxPayloadFile    = 256 << 20
	maxPerfClients    = 256
	defaultRecordSize = 1024
)

type perfFlags struct {
	f           *clientFlags
	topic       string
	records     int64
	duration    time.Duration
	recordSize  int
	payloadFile string
	throughput  float64
	acks        string
	compression string
	batchBytes  int
	linger      time.Duration
	clients     int // --producers or --consumers
	group       string
	k           kafkaFlags
	interval    time.Duration
	payloads    [][]byte
}

// register adds the flags both perf commands share.
func (p *perfFlags) register(cmd *cobra.Command) {
	fl := cmd.Flags()
	fl.StringVar(&p.topic, "topic", "", "topic (required)")
	fl.Int64Var(&p.records, "records", 0, "stop after this many records (this or --duration)")
	fl.DurationVar(&p.duration, "duration", 0, "stop after this long (this or --records)")
	p.k.register(cmd)
	fl.DurationVar(&p.interval, "interval", 5*time.Second, "time between progress reports")
}

// check validates the shared flags.
func (p *perfFlags) check() error {
	if kafka, err := p.k.kafka(); err != nil {
		return err
	} else if kafka && len(p.k.seeds()) == 0 {
		return fmt.Errorf("--brokers is empty")
	}
	switch {
	case p.topic == "":
		return fmt.Errorf("--topic is required")
	case (p.records > 0) == (p.duration > 0):
		return fmt.Errorf("give one of --records N or --duration D (both positive)")
	case p.records < 0 || p.duration < 0:
		return fmt.Errorf("--records and --duration must be positive")
	case p.clients < 1 || p.clients > maxPerfClients:
		return fmt.Errorf("--producers/--consumers must be 1 to %d, not %d", maxPerfClients, p.clients)
	case p.interval <= 0:
		return fmt.Errorf("--interval %s must be positive", p.interval)
	case p.f.output != "table" && p.f.output != "json":
		return fmt.Errorf("--output must be table or json, not %q", p.f.output)
	}
	return nil
}

// checkProduce validates produce's flags and prepares the payloads.
func (p *perfFlags) checkProduce(cmd *cobra.Command) error {
	if err := p.check(); err != nil {
		return err
	}
	if _, err := parseAcks(p.acks); err != nil {
		return err
	}
	if _, err := parseCompression(p.compression); err != nil {
		return err
	}
	switch {
	case p.throughput != -1 && p.throughput <= 0:
		return fmt.Errorf("--throughput must be records/s > 0, or -1 for no limit, not %v", p.throughput)
	case p.batchBytes < 1 || p.batchBytes > 64<<20:
		return fmt.Errorf("--batch-bytes must be 1 to %d, not %d", 64<<20, p.batchBytes)
	case p.linger < 0:
		return fmt.Errorf("--linger must not be negative")
	case cmd.Flags().Changed("record-size") && p.payloadFile != "":
		return fmt.Errorf("give --record-size or --payload-file, not both")
	}
	if p.payloadFile != "" {
		return p.readPayloads()
	}
	if p.recordSize < 0 || p.recordSize > maxPerfRecordSize {
		return fmt.Errorf("--record-size must be 0 to %d bytes, not %d", maxPerfRecordSize, p.recordSize)
	}
	// Random printable bytes, as kafka-producer-perf-test sends.
	v := make([]byte, p.recordSize)
	for i := range v {
		v[i] = byte('A' + rand.IntN(26))
	}
	p.payloads = [][]byte{v}
	return nil
}

// readPayloads reads --payload-file: one payload a line, picked at random
// per record (kafka-producer-perf-test's --payload-file).
func (p *perfFlags) readPayloads() error {
	fh, err := os.Open(p.payloadFile)
	if err != nil {
		return fmt.Errorf("--payload-file: %w", err)
	}
	defer fh.Close()
	data, err := io.ReadAll(io.LimitReader(fh, maxPayloadFile+1))
	if err != nil {
		return fmt.Errorf("--payload-file: %w", err)
	}
	if len(data) > maxPayloadFile {
		return fmt.Errorf("--payload-file %s is larger than %d bytes", p.payloadFile, maxPayloadFile)
	}
	for _, line := range strings.Split(string(data), "\n") {
		if line = strings.TrimSuffix(line, "\r"); line != "" {
			if len(line) > maxPerfRecordSize {
				return fmt.Errorf("--payload-file %s has a line longer than %d bytes", p.payloadFile, maxPerfRecordSize)
			}
			p.payloads = append(p.payloads, []byte(line))
		}
	}
	if len(p.payloads) == 0 {
		return fmt.Errorf("--payload-file %s has no non-empty line", p.payloadFile)
	}
	return nil
}

// kafkaTopicExists fails fast on an unreachable listener or an unknown
// topic, before any record is sent.
func (p *perfFlags) kafkaTopicExists(ctx context.Context, cl *kgo.Client) error {
	ctx, cancel := context.WithTimeout(ctx, p.f.timeout)
	defer cancel()
	topics, err := kadm.NewClient(cl).ListTopics(ctx, p.topic)
	if err != nil {
		return fmt.Errorf("cannot reach the Kafka listener at %s within %s (set --brokers or STRATA_BROKERS): %w", p.k.brokers, p.f.timeout, err)
	}
	if err := topics.Error(); err != nil {
		return fmt.Errorf("topic %s: %w", p.topic, err)
	}
	if !topics.Has(p.topic) {
		return fmt.Errorf("topic %s does not exist", p.topic)
	}
	return nil
}

// sender writes one record asynchronously and calls done once it is
// acknowledged or failed.
type sender interface {
	send(ctx context.Context, value []byte, done func(error))
	flush(ctx context.Context) error
	close()
}

type strataSender struct {
	p     *strata.Producer
	topic string
}

func (s strataSender) send(ctx context.Context, v []byte, done func(error)) {
	s.p.Produce(ctx, &strata.Record{Topic: s.topic, Value: v}, func(_ *strata.Record, err error) { done(err) })
}
func (s strataSender) flush(ctx context.Context) error { return s.p.Flush(ctx) }
func (s strataSender) close()                          { _ = s.p.Close() }

type kafkaSender struct{ cl *kgo.Client }

func (s kafkaSender) send(ctx context.Context, v []byte, done func(error)) {
	s.cl.Produce(ctx, &kgo.Record{Value: v}, func(_ *kgo.Record, err error) { done(err) })
}
func (s kafkaSender) flush(ctx context.Context) error { return s.cl.Flush(ctx) }
func (s kafkaSender) close()                          { s.cl.Close() }

// newSenders opens --producers producers of the chosen protocol.
func (p *perfFlags) newSenders(ctx context.Context) (senders []sender, closeAll func(), err error) {
	acks, _ := parseAcks(p.acks)
	codec, _ := parseCompression(p.compression)
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if p.k.protocol == "kafka" {
		for range p.clients {
			opts := []kgo.Opt{kgo.DefaultProduceTopic(p.topic),
				kgo.ProducerBatchCompression(kafkaCompression(codec)), kgo.ProducerBatchMaxBytes(int32(p.batchBytes)),
				kgo.ProducerLinger(p.linger), kgo.RecordDeliveryTimeout(2 * time.Minute)}
			opts = append(opts, kafkaAcks(acks)...)
			cl, err := p.k.client(ctx, p.f, opts...)
			if err != nil {
				return nil, closeAll, err
			}
			closers = append(closers, cl.Close)
			senders = append(senders, kafkaSender{cl})
		}
		return senders, closeAll, p.kafkaTopicExists(ctx, senders[0].(kafkaSender).cl)
	}
	cctx, cancel := context.WithTimeout(ctx, p.f.timeout)
	defer cancel()
	c, err := p.f.connect(cctx)
	if err != nil {
		return nil, closeAll, err
	}
	closers = append(closers, func() { _ = c.Close() })
	if _, err := c.Admin().DescribeTopic(cctx, p.topic); err != nil {
		return nil, closeAll, err
	}
	for range p.clients {
		pr, err := c.NewProducer(strata.RequiredAcks(acks), strata.ProducerCompression(codec), strata.MaxBatchBytes(p.batchBytes), strata.Linger(p.linger))
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, func() { _ = pr.Close() })
		senders = append(senders, strataSender{pr, p.topic})
	}
	return senders, closeAll, nil
}

// progress reports a run every --interval: a progress bar on a terminal,
// plain lines otherwise (always on stderr, so stdout stays the result).
type progress struct {
	out      io.Writer
	bar      *progressbar.ProgressBar
	stats    *perfStats
	interval time.Duration
	verb     string
	stop     chan struct{}
	done     sync.WaitGroup
}

func startProgress(errOut io.Writer, stats *perfStats, total int64, interval time.Duration, verb string) *progress {
	pr := &progress{out: errOut, stats: stats, interval: interval, verb: verb, stop: make(chan struct{})}
	if f, ok := errOut.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		max := total
		if max <= 0 {
			max = -1 // a spinner for --duration
		}
		pr.bar = progressbar.NewOptions64(max, progressbar.OptionSetWriter(errOut), progressbar.OptionShowCount(),
			progressbar.OptionShowIts(), progressbar.OptionSetItsString("rec"), progressbar.OptionThrottle(200*time.Millisecond),
			progressbar.OptionSetWidth(30), progressbar.OptionClearOnFinish())
	}
	pr.done.Add(1)
	go pr.run()
	return pr
}

func (pr *progress) line(w perfWindow) string {
	return fmt.Sprintf("%d records %s, %.1f records/s (%.2f MB/s), %.1f ms avg latency, %.1f ms max latency, %d errors.",
		w.Records, pr.verb, w.RecordsPerSec, w.MBPerSec, w.AvgMs, w.MaxMs, w.TotalErrors)
}

func (pr *progress) run() {
	defer pr.done.Done()
	report := time.NewTicker(pr.interval)
	defer report.Stop()
	var tick <-chan time.Time
	if pr.bar != nil {
		t := time.NewTicker(200 * time.Millisecond)
		defer t.Stop()
		tick = t.C
	}
	for {
		select {
		case <-pr.stop:
			return
		case <-tick:
			_ = pr.bar.Set64(pr.stats.count())
		case now := <-report.C:
			w := pr.stats.window(now)
			if pr.bar != nil {
				pr.bar.Describe(fmt.Sprintf("%.0f rec/s %.2f MB/s avg %.1f ms max %.1f ms", w.RecordsPerSec, w.MBPerSec, w.AvgMs, w.MaxMs))
			} else {
				fmt.Fprintln(pr.out, pr.line(w))
			}
		}
	}
}

func (pr *progress) finish() {
	close(pr.stop)
	pr.done.Wait()
	if pr.bar != nil {
		_ = pr.bar.Finish()
	}
}

// runCtx is the run's context: Ctrl-C stops it (and the final figures are
// printed), --duration ends it.
func (p *perfFlags) runCtx() (context.Context, context.CancelFunc) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	// After the first Ctrl-C the run drains; a second one kills it.
	context.AfterFunc(ctx, stop)
	if p.duration > 0 {
		dctx, cancel := context.WithTimeout(ctx, p.duration)
		return dctx, func() { cancel(); stop() }
	}
	return ctx, stop
}

func (p *perfFlags) produce(cmd *cobra.Command) error {
	ctx, stop := p.runCtx()
	defer stop()
	senders, closeAll, err := p.newSenders(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	stats := newPerfStats(time.Now())
	prog := startProgress(cmd.ErrOrStderr(), stats, p.records, p.interval, "sent")
	var issued atomic.Int64
	var wg sync.WaitGroup
	for _, s := range senders {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.sendLoop(ctx, s, stats, &issued)
		}()
	}
	wg.Wait()
	// Wait for what is in flight, even after --duration or Ctrl-C.
	fctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, s := range senders {
		if err := s.flush(fctx); err != nil {
			stats.fail(fmt.Errorf("flush: %w", err))
		}
	}
	prog.finish()
	return p.report(cmd.OutOrStdout(), stats.result(time.Now()), stats, "produce")
}

// sendLoop sends records until --records are issued or ctx ends, paced to
// its share of --throughput.
func (p *perfFlags) sendLoop(ctx context.Context, s sender, stats *perfStats, issued *atomic.Int64) {
	var gap time.Duration
	if p.throughput > 0 {
		gap = time.Duration(float64(time.Second) * float64(p.clients) / p.throughput)
	}
	start := time.Now()
	for i := int64(0); ctx.Err() == nil; i++ {
		if p.records > 0 && issued.Add(1) > p.records {
			return
		}
		if gap > 0 {
			if wait := time.Until(start.Add(time.Duration(i) * gap)); wait > 0 && !sleepOrDone(ctx, wait) {
				return
			}
		}
		v := p.payloads[0]
		if len(p.payloads) > 1 {
			v = p.payloads[rand.IntN(len(p.payloads))]
		}
		sent := time.Now()
		// Not ctx: a record buffered when --duration ends must still be
		// delivered (and counted), not failed by the deadline.
		s.send(context.WithoutCancel(ctx), v, func(err error) {
			if err != nil {
				stats.fail(err)
				return
			}
			stats.record(len(v), time.Since(sent))
		})
	}
}

// consumed is one record a receiver read.
type consumed struct {
	size int
	ts   time.Time
}

type receiver interface {
	poll(ctx context.Context) ([]consumed, error)
	close()
}

// strataReceiver polls a clients/go Reader or Consumer (closed by
// newReceivers' closers).
type strataReceiver struct {
	pollFn func(context.Context) (strata.Fetches, error)
}

func (r strataReceiver) poll(ctx context.Context) ([]consumed, error) {
	fs, err := r.pollFn(ctx)
	if err != nil {
		return nil, err
	}
	if errs := fs.Errors(); len(errs) > 0 {
		return nil, errs[0]
	}
	var out []consumed
	fs.EachRecord(func(rec *strata.Record) {
		out = append(out, consumed{len(rec.Key) + len(rec.Value), rec.Timestamp})
	})
	return out, nil
}
func (r strataReceiver) close() {}

type kafkaReceiver struct {
	cl    *kgo.Client
	group bool
}

func (r kafkaReceiver) poll(ctx context.Context) ([]consumed, error) {
	fs := r.cl.PollFetches(ctx)
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var ferr error
	fs.EachError(func(t string, p int32, err error) {
		if ferr == nil {
			ferr = fmt.Errorf("fetch %s-%d: %w", t, p, err)
		}
	})
	if ferr != nil {
		return nil, ferr
	}
	var out []consumed
	fs.EachRecord(func(rec *kgo.Record) { out = append(out, consumed{len(rec.Key) + len(rec.Value), rec.Timestamp}) })
	return out, nil
}

// close commits what was polled first, so the group's lag shows what the
// run consumed (autocommit alone lags one poll behind).
func (r kafkaReceiver) close() {
	if r.group {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_ = r.cl.CommitUncommittedOffsets(ctx)
		cancel()
	}
	r.cl.Close()
}

// newReceivers opens --consumers consumers: group members with --group,
// else one reader of every partition from the start.
func (p *perfFlags) newReceivers(ctx context.Context) (recvs []receiver, closeAll func(), err error) {
	var closers []func()
	closeAll = func() {
		for i := len(closers) - 1; i >= 0; i-- {
			closers[i]()
		}
	}
	defer func() {
		if err != nil {
			closeAll()
		}
	}()
	if p.k.protocol == "kafka" {
		for range p.clients {
			opts := []kgo.Opt{kgo.ConsumeTopics(p.topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart())}
			if p.group != "" {
				opts = append(opts, kgo.ConsumerGroup(p.group))
			}
			cl, err := p.k.client(ctx, p.f, opts...)
			if err != nil {
				return nil, closeAll, err
			}
			kr := kafkaReceiver{cl, p.group != ""}
			closers = append(closers, kr.close)
			recvs = append(recvs, kr)
		}
		return recvs, closeAll, p.kafkaTopicExists(ctx, recvs[0].(kafkaReceiver).cl)
	}
	cctx, cancel := context.WithTimeout(ctx, p.f.timeout)
	defer cancel()
	c, err := p.f.connect(cctx)
	if err != nil {
		return nil, closeAll, err
	}
	closers = append(closers, func() { _ = c.Close() })
	d, err := c.Admin().DescribeTopic(cctx, p.topic)
	if err != nil {
		return nil, closeAll, err
	}
	for range p.clients {
		if p.group != "" {
			k, err := c.NewConsumer(p.group, []string{p.topic}, strata.ConsumeStartOffset(strata.AtStart()))
			if err != nil {
				return nil, closeAll, err
			}
			closers = append(closers, func() {
				cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				_ = k.Close(cctx)
			})
			recvs = append(recvs, strataReceiver{k.Poll})
			continue
		}
		from := map[int32]strata.Offset{}
		for i := range d.Partitions {
			from[i] = strata.AtStart()
		}
		r, err := c.NewReader(map[string]map[int32]strata.Offset{p.topic: from})
		if err != nil {
			return nil, closeAll, err
		}
		closers = append(closers, r.Close)
		recvs = append(recvs, strataReceiver{r.Poll})
	}
	return recvs, closeAll, nil
}

func (p *perfFlags) consume(cmd *cobra.Command) error {
	if p.clients > 1 && p.group == "" {
		return fmt.Errorf("--consumers %d needs --group (without a group every consumer reads every partition)", p.clients)
	}
	ctx, stop := p.runCtx()
	defer stop()
	recvs, closeAll, err := p.newReceivers(ctx)
	if err != nil {
		return err
	}
	defer closeAll()
	stats := newPerfStats(time.Now())
	prog := startProgress(cmd.ErrOrStderr(), stats, p.records, p.interval, "received")
	var taken, lastRecord atomic.Int64 // lastRecord: unix nanos of the last poll with records
	lastRecord.Store(time.Now().UnixNano())
	var idle atomic.Bool
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	for _, r := range recvs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for ctx.Err() == nil {
				// Give up when no consumer got a record for --timeout (one
				// member may have no partition at all).
				pctx, pcancel := context.WithTimeout(ctx, p.f.timeout)
				recs, err := r.poll(pctx)
				timedOut := pctx.Err() != nil && ctx.Err() == nil
				pcancel()
				if timedOut {
					if time.Since(time.Unix(0, lastRecord.Load())) < p.f.timeout {
						continue
					}
					idle.Store(true)
					cancel()
					return
				}
				if err != nil {
					if ctx.Err() == nil {
						stats.fail(err)
						cancel()
					}
					return
				}
				now := time.Now()
				if len(recs) > 0 {
					lastRecord.Store(now.UnixNano())
				}
				for _, rec := range recs {
					if p.records > 0 && taken.Add(1) > p.records {
						cancel()
						return
					}
					stats.record(rec.size, now.Sub(rec.ts))
				}
				if p.records > 0 && taken.Load() >= p.records {
					cancel()
				}
			}
		}()
	}
	wg.Wait()
	prog.finish()
	res := stats.result(time.Now())
	if err := p.report(cmd.OutOrStdout(), res, stats, "consume"); err != nil {
		return err
	}
	if idle.Load() && (p.records == 0 || res.Records < p.records) {
		return fmt.Errorf("no records for %s after %d records (raise --timeout, or produce more)", p.f.timeout, res.Records)
	}
	return nil
}

// report prints the final figures: one line, or JSON with OMB's names.
func (p *perfFlags) report(out io.Writer, r perfResult, stats *perfStats, kind string) error {
	if p.f.json() {
		m := map[string]any{"protocol": p.k.protocol, "topic": p.topic, "records": r.Records, "bytes": r.Bytes,
			"errors": r.Errors, "elapsedSeconds": r.ElapsedSeconds}
		prefix, lat := "publish", "publishLatency"
		if kind == "consume" {
			prefix, lat = "consume", "endToEndLatency"
			m["consumers"] = p.clients
		} else {
			m["producers"] = p.clients
		}
		m[prefix+"Rate"] = r.Rate
		m[prefix+"ThroughputMBps"] = r.MBPerSec
		m[lat+"Avg"], m[lat+"50pct"], m[lat+"75pct"], m[lat+"95pct"] = r.AvgMs, r.P50, r.P75, r.P95
		m[lat+"99pct"], m[lat+"999pct"], m[lat+"Max"] = r.P99, r.P999, r.Max
		if err := printJSON(out, m); err != nil {
			return err
		}
	} else {
		verb, what := "sent", "latency"
		if kind == "consume" {
			verb, what = "received", "end-to-end latency"
		}
		fmt.Fprintf(out, "%d records %s in %.1f s, %.1f records/s (%.2f MB/s), %s avg %.2f ms, p50 %.2f ms, p95 %.2f ms, p99 %.2f ms, p99.9 %.2f ms, max %.2f ms, %d errors.\n",
			r.Records, verb, r.ElapsedSeconds, r.Rate, r.MBPerSec, what, r.AvgMs, r.P50, r.P95, r.P99, r.P999, r.Max, r.Errors)
	}
	if r.Errors > 0 {
		stats.mu.Lock()
		first := stats.firstErr
		stats.mu.Unlock()
		return fmt.Errorf("%d records failed, the first: %v", r.Errors, first)
	}
	return nil
}

func newPerfCmd() *cobra.Command {
	var f clientFlags
	cmd := &cobra.Command{Use: "perf", Short: "Measure produce and consume throughput and latency (kafka-producer-perf-test, OpenMessaging Benchmark)"}
	f.register(cmd)

	produce, _ := newPerfProduceCmd(&f)
	cmd.AddCommand(produce, newPerfConsumeCmd(&f))
	return cmd
}

// newPerfProduceCmd returns perf produce and its flags.
func newPerfProduceCmd(f *clientFlags) (*cobra.Command, *perfFlags) {
	pp := &perfFlags{f: f}
	produce := &cobra.Command{
		Use:   "produce --topic T (--records N | --duration D)",
		Short: "Produce records as fast as allowed and report records/s, MB/s and latency percentiles",
		Long: "Latency is from the producer's send to the acknowledgement. A progress line every --interval on stderr\n" +
			"(a progress bar on a terminal); the final figures on stdout, as JSON with --output json (the OpenMessaging\n" +
			"Benchmark's names: publishRate, publishLatency99pct, ...).",
		Example: "  strata perf produce --topic bench --records 1000000 --record-size 1024\n" +
			"  strata perf produce --topic bench --duration 1m --throughput 50000 --producers 4 --acks 1 --compression lz4\n" +
			"  strata perf produce --topic bench --records 100000 --protocol kafka --brokers localhost:9092 --output json",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pp.checkProduce(cmd); err != nil {
				return err
			}
			return pp.produce(cmd)
		},
	}
	pp.register(produce)
	fl := produce.Flags()
	fl.IntVar(&pp.recordSize, "record-size", defaultRecordSize, "value bytes of each record (random letters)")
	fl.StringVar(&pp.payloadFile, "payload-file", "", "file of payloads, one a line, picked at random (instead of --record-size)")
	fl.Float64Var(&pp.throughput, "throughput", -1, "records/s across all producers; -1 for no limit")
	fl.StringVar(&pp.acks, "acks", "all", "all, 1 or 0")
	fl.StringVar(&pp.compression, "compression", "none", "none, gzip, snappy, lz4 or zstd")
	fl.IntVar(&pp.batchBytes, "batch-bytes", strata.DefaultMaxBatchBytes, "largest batch (request) of records in bytes")
	fl.DurationVar(&pp.linger, "linger", strata.DefaultLinger, "how long a record waits for others to share its batch")
	fl.IntVar(&pp.clients, "producers", 1, "concurrent producers")
	return produce, pp
}

func newPerfConsumeCmd(f *clientFlags) *cobra.Command {
	pc := &perfFlags{f: f}
	consume := &cobra.Command{
		Use:   "consume --topic T (--records N | --duration D)",
		Short: "Consume a topic from the start and report records/s, MB/s and end-to-end latency percentiles",
		Long: "End-to-end latency is the time from each record's timestamp to its arrival, so run it beside perf produce\n" +
			"(or expect old records to show old ages). Without --group one consumer reads every partition from the\n" +
			"start; with --group, --consumers members share them. Stops after --records, --duration, or --timeout\n" +
			"without a record.",
		Example: "  strata perf consume --topic bench --records 1000000\n" +
			"  strata perf consume --topic bench --duration 1m --group bench-readers --consumers 3 --protocol kafka",
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if err := pc.check(); err != nil {
				return err
			}
			return pc.consume(cmd)
		},
	}
	pc.register(consume)
	consume.Flags().IntVar(&pc.clients, "consumers", 1, "concurrent consumers (more than 1 needs --group)")
	consume.Flags().StringVar(&pc.group, "group", "", "consume as this consumer group (commits offsets) instead of reading every partition")
	return consume
}
