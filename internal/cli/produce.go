package cli

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	strata "github.com/strata-io/strata/clients/go"
)

// maxInputRecord bounds one record read from the input (a key or value).
const maxInputRecord = 16 << 20

type produceCmd struct {
	f            clientFlags
	k            kafkaFlags
	file         string
	keySep       string
	format       string
	outFormat    string
	headers      []string
	partition    int32
	acks         string
	compression  string
	tombstone    bool
	quiet        bool
	noIdempotent bool
}

func newProduceCmd() *cobra.Command {
	var p produceCmd
	cmd := &cobra.Command{
		Use:   "produce TOPIC",
		Short: "Write records to a topic, one per line of stdin or --file",
		Long: `Write records to a topic, one per line of stdin or --file (idempotent, acks=all by default).

Each delivery prints a line (--output-format, or --output json for NDJSON; --quiet for none),
and a summary goes to stderr at the end. The exit code is non-zero if any record failed.

Input templates (--format) read %k (key) and %v (value), separated by literals; %k and %v
take {base64} or {hex} to decode. Output templates (--output-format) take %t %p %o %k %v %T %h.`,
		Example: `  echo hello | strata produce orders
  strata produce orders --file lines.txt --key-separator : --header source=cli
  strata produce orders --format '%k %v\n' < keyed.txt
  strata produce orders --partition 0 --acks 1 --compression zstd --quiet < lines.txt
  echo customer-42 | strata produce orders --format '%k\n' --tombstone
  echo hello | strata produce orders --protocol kafka --brokers localhost:9092`,
		Args: exactArgs(1, "TOPIC"),
		RunE: func(cmd *cobra.Command, args []string) error { return p.run(cmd, args[0]) },
	}
	p.f.registerFlags(cmd, "o", "text", "output format: text (the --output-format template) or json (NDJSON)")
	cmd.ValidArgsFunction = completeTopics(&p.f, 1)
	p.k.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&p.file, "file", "F", "", "read records from this file instead of stdin")
	fl.StringVar(&p.keySep, "key-separator", "", "split each line into key and value at the first SEP")
	fl.StringVarP(&p.format, "format", "f", "", "input template, e.g. '%k %v\\n' (default: one value per line)")
	fl.StringVar(&p.outFormat, "output-format", "Produced to partition %p at offset %o\\n", "template of each delivery line")
	fl.StringArrayVarP(&p.headers, "header", "H", nil, "header KEY=VALUE on every record (repeatable)")
	fl.Int32VarP(&p.partition, "partition", "p", -1, "write to this partition (default: Kafka's partitioner: by key, else sticky)")
	fl.StringVar(&p.acks, "acks", "all", "acknowledgement: 0, 1 or all")
	fl.StringVarP(&p.compression, "compression", "z", "none", "compression: none, gzip, snappy, lz4 or zstd")
	fl.BoolVar(&p.tombstone, "tombstone", false, "an empty value is a null value (a tombstone)")
	fl.BoolVarP(&p.quiet, "quiet", "q", false, "print no delivery lines")
	fl.BoolVar(&p.noIdempotent, "no-idempotence", false, "do not use an idempotent producer session")
	return cmd
}

// exactArgs is cobra.ExactArgs with a readable error.
func exactArgs(n int, names string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return fmt.Errorf("%s takes %s (got %d arguments); see `%s --help`", cmd.CommandPath(), names, len(args), cmd.CommandPath())
		}
		return nil
	}
}

// produceSettings are the validated flags.
type produceSettings struct {
	acks        strata.Acks
	compression strata.Compression
	headers     []strata.Header
	input       *inputTemplate
	keySep      []byte
	out         *template
}

func (p *produceCmd) settings() (*produceSettings, error) {
	s := &produceSettings{}
	var err error
	if s.acks, err = parseAcks(p.acks); err != nil {
		return nil, err
	}
	if s.compression, err = parseCompression(p.compression); err != nil {
		return nil, err
	}
	for _, h := range p.headers {
		k, v, ok := strings.Cut(h, "=")
		if !ok || k == "" {
			return nil, fmt.Errorf("--header %q: want KEY=VALUE with a non-empty key", h)
		}
		s.headers = append(s.headers, strata.Header{Key: k, Value: []byte(v)})
	}
	if p.partition < -1 {
		return nil, fmt.Errorf("--partition must be 0 or more, not %d", p.partition)
	}
	if p.format != "" && p.keySep != "" {
		return nil, errors.New("--format and --key-separator do not go together: use '%k<SEP>%v\\n' in --format")
	}
	if p.keySep != "" {
		s.keySep = []byte(p.keySep)
	}
	format := p.format
	if format == "" {
		format = `%v\n`
	}
	if s.input, err = parseInputTemplate(format, maxInputRecord); err != nil {
		return nil, fmt.Errorf("invalid --format: %w", err)
	}
	if s.out, err = parseTemplate(p.outFormat, outputVerbs); err != nil {
		return nil, fmt.Errorf("invalid --output-format: %w", err)
	}
	switch p.f.output {
	case "text", "json":
	default:
		return nil, fmt.Errorf("--output must be text or json, not %q", p.f.output)
	}
	return s, nil
}

// readRecord reads the next key and value of the input.
func (s *produceSettings) readRecord(br *bufio.Reader) (key, value []byte, err error) {
	if s.keySep == nil {
		return s.input.read(br)
	}
	line, err := readUntil(br, []byte{'\n'}, maxInputRecord)
	if err == io.EOF && len(line) == 0 {
		return nil, nil, io.EOF
	}
	if err != nil && err != io.EOF {
		if err == errTooLong {
			return nil, nil, fmt.Errorf("a line is longer than %d bytes", maxInputRecord)
		}
		return nil, nil, err
	}
	k, v, ok := bytes.Cut(line, s.keySep)
	if !ok {
		return nil, nil, recordErr{fmt.Errorf("line %q has no key separator %q", line, s.keySep)}
	}
	return k, v, nil
}

// sink is where produce writes: a clients/go producer or a Kafka client.
type sink interface {
	Produce(ctx context.Context, r *strata.Record, promise func(*strata.Record, error))
	Flush(ctx context.Context) error
	Close() error
}

type produceStats struct {
	mu               sync.Mutex
	records, errored int64
	bytes            int64
}

func (p *produceCmd) run(cmd *cobra.Command, topic string) error {
	s, err := p.settings()
	if err != nil {
		return err
	}
	useKafka, err := p.k.kafka()
	if err != nil {
		return err
	}
	in := cmd.InOrStdin()
	if p.file != "" {
		fh, err := os.Open(p.file)
		if err != nil {
			return fmt.Errorf("cannot read --file: %w", err)
		}
		defer fh.Close()
		in = fh
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var out sink
	if useKafka {
		out, err = p.kafkaSink(ctx, topic, s)
	} else {
		out, err = p.grpcSink(ctx, topic, s)
	}
	if err != nil {
		return err
	}

	stdout, stderr := cmd.OutOrStdout(), cmd.ErrOrStderr()
	var st produceStats
	var outMu sync.Mutex
	promise := func(r *strata.Record, err error) {
		st.mu.Lock()
		if err != nil {
			st.errored++
		} else {
			st.records++
			st.bytes += int64(recordBytes(r))
		}
		st.mu.Unlock()
		outMu.Lock()
		defer outMu.Unlock()
		if err != nil {
			fmt.Fprintf(stderr, "strata: record not written: %s\n", oneLine(err))
			return
		}
		if p.quiet {
			return
		}
		if p.f.json() {
			stdout.Write(appendJSON(nil, r))
		} else {
			stdout.Write(s.out.format(nil, r))
		}
	}

	// The input is read in its own goroutine so that a signal ends the run
	// even while stdin blocks.
	type item struct {
		key, value []byte
		err        error
	}
	items := make(chan item, 64)
	go func() {
		defer close(items)
		br := bufio.NewReaderSize(in, 64<<10)
		for n := 1; ; n++ {
			k, v, err := s.readRecord(br)
			if err == io.EOF {
				return
			}
			if err != nil {
				err = fmt.Errorf("record %d of the input: %w", n, err)
			}
			select {
			case items <- item{k, v, err}:
			case <-ctx.Done():
				return
			}
			if err != nil && !isRecordErr(err) {
				return
			}
		}
	}()
	var readErr error
loop:
	for {
		select {
		case <-ctx.Done():
			break loop
		case it, ok := <-items:
			if !ok {
				break loop
			}
			if it.err != nil {
				if !isRecordErr(it.err) {
					readErr = it.err
					break loop
				}
				promise(nil, it.err)
				continue
			}
			r := &strata.Record{Topic: topic, Key: it.key, Value: it.value, Headers: s.headers}
			if p.partition >= 0 {
				r.Partition = p.partition
			}
			if r.Value == nil {
				r.Value = []byte{} // a template without %v: empty, not null
			}
			if p.tombstone && len(r.Value) == 0 {
				r.Value = nil
			}
			out.Produce(ctx, r, promise)
		}
	}
	stop() // a second Ctrl-C kills a flush that hangs
	fctx, cancel := context.WithTimeout(context.Background(), p.f.timeout)
	flushErr := out.Flush(fctx)
	cancel()
	out.Close()
	st.mu.Lock()
	defer st.mu.Unlock()
	fmt.Fprintf(stderr, "Produced %s (%d bytes), %d failed.\n", plural(st.records, "record"), st.bytes, st.errored)
	switch {
	case readErr != nil:
		return readErr
	case flushErr != nil:
		return fmt.Errorf("not every record was delivered within --timeout %s: %s", p.f.timeout, oneLine(flushErr))
	case st.errored > 0:
		return fmt.Errorf("%d of %d records failed", st.errored, st.errored+st.records)
	}
	return nil
}

// recordErr is bad input that spoils one record only (a line without the
// key separator): it counts as a failed record and reading goes on. Any
// other read error (input that does not fit the --format template, a line
// over the bound, a failing file) ends the input.
type recordErr struct{ error }

func isRecordErr(err error) bool { return errors.As(err, new(recordErr)) }

func recordBytes(r *strata.Record) int {
	n := len(r.Key) + len(r.Value)
	for _, h := range r.Headers {
		n += len(h.Key) + len(h.Value)
	}
	return n
}

func (p *produceCmd) grpcSink(ctx context.Context, topic string, s *produceSettings) (sink, error) {
	c, err := p.f.connect(ctx)
	if err != nil {
		return nil, err
	}
	if err := p.checkTopic(ctx, c, topic); err != nil {
		c.Close()
		return nil, err
	}
	opts := []strata.ProducerOpt{strata.RequiredAcks(s.acks), strata.ProducerCompression(s.compression),
		strata.DeliveryTimeout(p.f.timeout)}
	if p.partition >= 0 {
		opts = append(opts, strata.WithPartitioner(strata.ManualPartitioner()))
	}
	if p.noIdempotent {
		opts = append(opts, strata.DisableIdempotence())
	}
	pr, err := c.NewProducer(opts...)
	if err != nil {
		c.Close()
		return nil, err
	}
	return &grpcSink{Producer: pr, c: c}, nil
}

type grpcSink struct {
	*strata.Producer
	c *strata.Client
}

func (g *grpcSink) Close() error {
	err := g.Producer.Close()
	g.c.Close()
	return err
}

// checkTopic fails before anything is read when the topic or the
// partition does not exist.
func (p *produceCmd) checkTopic(ctx context.Context, c *strata.Client, topic string) error {
	partitions, err := topicPartitions(ctx, c, topic, p.f.timeout)
	if err != nil {
		return err
	}
	if p.partition >= partitions {
		return fmt.Errorf("topic %s has %d partitions: there is no partition %d", topic, partitions, p.partition)
	}
	return nil
}

// topicPartitions returns the topic's partition count, or an error that
// names the topic when it does not exist.
func topicPartitions(ctx context.Context, c *strata.Client, topic string, timeout time.Duration) (int32, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	t, err := c.Admin().DescribeTopic(ctx, topic)
	if errors.Is(err, strata.ErrUnknownTopic) {
		return 0, fmt.Errorf("topic %q does not exist — create it with `strata topic create %s`", topic, topic)
	}
	if err != nil {
		return 0, errors.New(oneLine(err))
	}
	return t.Partitions, nil
}

// oneLine is an error's message on one line.
func oneLine(err error) string { return strings.Join(strings.Fields(err.Error()), " ") }

func plural(n int64, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}
