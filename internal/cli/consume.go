package cli

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"slices"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	strata "github.com/strata-io/strata/clients/go"
)

type consumeCmd struct {
	f          clientFlags
	k          kafkaFlags
	offset     string
	partitions []int32
	group      string
	max        int
	exitAtEnd  bool
	format     string
}

func newConsumeCmd() *cobra.Command {
	var c consumeCmd
	cmd := &cobra.Command{
		Use:   "consume TOPIC...",
		Short: "Read records from topics and print them",
		Long: `Read records from topics and print them, one per line (--format), or as NDJSON (--output json).

Without --group, every partition (or those of --partition) is read from --offset:
  start, end          the oldest record kept, or only new records
  47                  an exact offset
  +N, -N              N after the start, N before the end
  @TIME, @-DURATION   the first record at or after a time (RFC 3339 or Unix ms), or that long ago
An offset beyond the end starts at the end. With --group G the command is a member of group G:
it reads from the committed offsets (or --offset start|end where none is committed), commits
what it printed, and leaves the group at once on Ctrl-C or SIGTERM.

Templates: %t topic, %p partition, %o offset, %k key, %v value, %T timestamp (Unix ms, or
%T{rfc3339}), %h headers (k=v,...), %% a percent sign; %k, %v and %h take {base64} or {hex};
\n, \t, \r and \\ are escapes.`,
		Example: `  strata consume orders -o start -e
  strata consume orders -o -3 -n 3 --format '%p/%o %k=%v\n'
  strata consume orders -o @-1h --output json
  strata consume orders --partition 0 -o 47 --format '%v{hex}\n'
  strata consume orders --group billing
  strata consume orders -o start -e --protocol kafka --brokers localhost:9092`,
		Args: func(cmd *cobra.Command, args []string) error {
			if len(args) == 0 {
				return fmt.Errorf("%s takes one or more topics; see `%s --help`", cmd.CommandPath(), cmd.CommandPath())
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error { return c.run(cmd, args) },
	}
	c.f.registerFlags(cmd, "", "text", "output format: text (the --format template) or json (NDJSON)")
	cmd.ValidArgsFunction = completeTopics(&c.f, 0)
	c.k.register(cmd)
	fl := cmd.Flags()
	fl.StringVarP(&c.offset, "offset", "o", "start", "where to start: start, end, 47, +N, -N, @TIME or @-DURATION")
	fl.Int32SliceVarP(&c.partitions, "partition", "p", nil, "read only these partitions (comma-separated or repeated)")
	fl.StringVarP(&c.group, "group", "g", "", "consume as a member of this consumer group")
	fl.IntVarP(&c.max, "max-messages", "n", 0, "stop after this many records (0: no limit)")
	fl.BoolVarP(&c.exitAtEnd, "exit-at-end", "e", false, "stop at the end of every partition (as it was at start)")
	fl.StringVarP(&c.format, "format", "f", `%v\n`, "template of each record")
	return cmd
}

// source is where consume reads: a clients/go reader or group member, or
// a Kafka client.
type source interface {
	// poll returns the next records; none when wait passed first.
	poll(ctx context.Context, wait time.Duration) ([]*strata.Record, error)
	// mark notes a record as printed (a group commits it).
	mark(r *strata.Record)
	// atEnd says whether every partition read reached its end offset.
	atEnd(ctx context.Context) (bool, error)
	// end is the end offset a partition had at start.
	end(topic string, partition int32) int64
	close(ctx context.Context) error
}

// partitionRange is one partition to read: where it starts and the end it
// had at start.
type partitionRange struct {
	topic      string
	partition  int32
	start, end int64
}

func (c *consumeCmd) run(cmd *cobra.Command, topics []string) error {
	spec, err := parseOffsetSpec(c.offset, time.Now())
	if err != nil {
		return err
	}
	var tmpl *template
	if tmpl, err = parseTemplate(c.format, outputVerbs); err != nil {
		return fmt.Errorf("invalid --format: %w", err)
	}
	switch c.f.output {
	case "text", "json":
	default:
		return fmt.Errorf("--output must be text or json, not %q", c.f.output)
	}
	if c.max < 0 {
		return fmt.Errorf("--max-messages must be 0 or more, not %d", c.max)
	}
	for _, p := range c.partitions {
		if p < 0 {
			return fmt.Errorf("--partition must be 0 or more, not %d", p)
		}
	}
	if c.group != "" {
		if len(c.partitions) > 0 {
			return errors.New("--partition and --group do not go together: a group assigns the partitions")
		}
		if spec.kind != specStart && spec.kind != specEnd {
			return fmt.Errorf("with --group, --offset must be start or end (where the group starts without a committed offset), not %q", c.offset)
		}
	}
	useKafka, err := c.k.kafka()
	if err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	var src source
	if useKafka {
		src, err = c.kafkaSource(ctx, topics, spec)
	} else {
		src, err = c.grpcSource(ctx, topics, spec)
	}
	if err != nil {
		return err
	}
	w := bufio.NewWriterSize(cmd.OutOrStdout(), 64<<10)
	var buf []byte
	n := 0
	runErr := func() error {
		wait := time.Duration(0)
		if c.exitAtEnd {
			wait = time.Second
		}
		for ctx.Err() == nil {
			if c.exitAtEnd {
				done, err := src.atEnd(ctx)
				if err != nil || done {
					return err
				}
			}
			recs, err := src.poll(ctx, wait)
			if ctx.Err() != nil {
				return nil
			}
			if err != nil {
				return err
			}
			for _, r := range recs {
				if c.exitAtEnd && r.Offset >= src.end(r.Topic, r.Partition) {
					continue // written after the command started
				}
				buf = buf[:0]
				if c.f.json() {
					buf = appendJSON(buf, r)
				} else {
					buf = tmpl.format(buf, r)
				}
				if _, err := w.Write(buf); err != nil {
					return err
				}
				src.mark(r)
				if n++; c.max > 0 && n >= c.max {
					return w.Flush()
				}
			}
			if err := w.Flush(); err != nil {
				return err
			}
		}
		return nil
	}()
	flushErr := w.Flush()
	stop() // a second Ctrl-C kills a close that hangs
	cctx, cancel := context.WithTimeout(context.Background(), min(c.f.timeout, 10*time.Second))
	defer cancel()
	closeErr := src.close(cctx)
	if runErr != nil {
		return runErr
	}
	if flushErr != nil {
		return flushErr
	}
	if closeErr != nil {
		return fmt.Errorf("leaving: %s", oneLine(closeErr))
	}
	return nil
}

// ranges resolves spec in the partitions to read (only: all when empty)
// of every topic, with count and list looking partitions and offsets up.
func ranges(ctx context.Context, topics []string, only []int32, spec offsetSpec,
	count func(ctx context.Context, topic string) (int32, error),
	list func(ctx context.Context, topic string, partitions []int32, o strata.Offset) (map[int32]int64, error),
) ([]partitionRange, error) {
	var out []partitionRange
	for _, topic := range topics {
		n, err := count(ctx, topic)
		if err != nil {
			return nil, err
		}
		parts := only
		if len(parts) == 0 {
			for p := range n {
				parts = append(parts, p)
			}
		}
		for _, p := range parts {
			if p >= n {
				return nil, fmt.Errorf("topic %s has %d partitions: there is no partition %d", topic, n, p)
			}
		}
		parts = slices.Compact(slices.Sorted(slices.Values(parts)))
		starts, err := list(ctx, topic, parts, strata.AtStart())
		if err != nil {
			return nil, err
		}
		ends, err := list(ctx, topic, parts, strata.AtEnd())
		if err != nil {
			return nil, err
		}
		var times map[int32]int64
		if spec.kind == specTime {
			if times, err = list(ctx, topic, parts, strata.AtTime(spec.at)); err != nil {
				return nil, err
			}
		}
		for _, p := range parts {
			s, e := starts[p], ends[p]
			out = append(out, partitionRange{topic: topic, partition: p, start: spec.resolve(s, e, times[p]), end: e})
		}
	}
	return out, nil
}

func (c *consumeCmd) grpcSource(ctx context.Context, topics []string, spec offsetSpec) (source, error) {
	cl, err := c.f.connect(ctx)
	if err != nil {
		return nil, err
	}
	count := func(ctx context.Context, topic string) (int32, error) {
		return topicPartitions(ctx, cl, topic, c.f.timeout)
	}
	list := func(ctx context.Context, topic string, parts []int32, o strata.Offset) (map[int32]int64, error) {
		lctx, cancel := context.WithTimeout(ctx, c.f.timeout)
		defer cancel()
		res, err := cl.ListOffsets(lctx, topic, parts, o)
		if err != nil {
			return nil, errors.New(oneLine(err))
		}
		out := map[int32]int64{}
		for _, r := range res {
			if r.Err != nil {
				return nil, errors.New(oneLine(r.Err))
			}
			out[r.Partition] = r.Offset
		}
		return out, nil
	}
	if c.group != "" {
		return c.grpcGroup(ctx, cl, topics, spec, count, list)
	}
	rs, err := ranges(ctx, topics, c.partitions, spec, count, list)
	if err != nil {
		cl.Close()
		return nil, err
	}
	pos := map[string]map[int32]strata.Offset{}
	for _, r := range rs {
		if pos[r.topic] == nil {
			pos[r.topic] = map[int32]strata.Offset{}
		}
		pos[r.topic][r.partition] = strata.At(r.start)
	}
	wait := 5 * time.Second
	if c.exitAtEnd {
		wait = 500 * time.Millisecond // within poll's wait
	}
	rd, err := cl.NewReader(pos, strata.FetchMaxWait(wait))
	if err != nil {
		cl.Close()
		return nil, err
	}
	return &readerSource{cl: cl, r: rd, ranges: rs, ends: endsOf(rs)}, nil
}

func endsOf(rs []partitionRange) map[string]map[int32]int64 {
	out := map[string]map[int32]int64{}
	for _, r := range rs {
		if out[r.topic] == nil {
			out[r.topic] = map[int32]int64{}
		}
		out[r.topic][r.partition] = r.end
	}
	return out
}

type readerSource struct {
	cl     *strata.Client
	r      *strata.Reader
	ranges []partitionRange
	ends   map[string]map[int32]int64
}

func (s *readerSource) end(topic string, partition int32) int64 { return s.ends[topic][partition] }

func (s *readerSource) poll(ctx context.Context, wait time.Duration) ([]*strata.Record, error) {
	return pollWithin(ctx, wait, s.r.Poll)
}

// pollWithin polls once, waiting at most wait (0: until ctx ends); nothing
// within wait is no records and no error.
func pollWithin(ctx context.Context, wait time.Duration, poll func(context.Context) (strata.Fetches, error)) ([]*strata.Record, error) {
	if wait > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, wait)
		defer cancel()
	}
	fs, err := poll(ctx)
	if err != nil {
		if wait > 0 && errors.Is(err, context.DeadlineExceeded) {
			return nil, nil
		}
		return nil, errors.New(oneLine(err))
	}
	if errs := fs.Errors(); len(errs) > 0 {
		return nil, errors.New(oneLine(errs[0]))
	}
	return fs.Records(), nil
}

func (s *readerSource) mark(*strata.Record) {}

func (s *readerSource) atEnd(context.Context) (bool, error) {
	for _, r := range s.ranges {
		o, _ := s.r.Position(r.topic, r.partition)
		if n, ok := o.Exact(); !ok || n < r.end {
			return false, nil
		}
	}
	return true, nil
}

func (s *readerSource) close(context.Context) error {
	s.r.Close()
	return s.cl.Close()
}

func (c *consumeCmd) grpcGroup(ctx context.Context, cl *strata.Client, topics []string, spec offsetSpec,
	count func(ctx context.Context, topic string) (int32, error),
	list func(ctx context.Context, topic string, partitions []int32, o strata.Offset) (map[int32]int64, error),
) (source, error) {
	// Every topic must exist, and --exit-at-end needs the ends.
	rs, err := ranges(ctx, topics, nil, spec, count, list)
	if err != nil {
		cl.Close()
		return nil, err
	}
	start := strata.AtStart()
	if spec.kind == specEnd {
		start = strata.AtEnd()
	}
	k, err := cl.NewConsumer(c.group, topics, strata.ConsumeStartOffset(start), strata.ManualMarking(),
		strata.ClientID("strata-cli"), strata.AutoCommitInterval(time.Second))
	if err != nil {
		cl.Close()
		return nil, err
	}
	s := &groupSource{cl: cl, k: k, group: c.group, timeout: c.f.timeout, ranges: map[string]map[int32]partitionRange{},
		pos: map[string]map[int32]int64{}}
	for _, r := range rs {
		if s.ranges[r.topic] == nil {
			s.ranges[r.topic] = map[int32]partitionRange{}
			s.pos[r.topic] = map[int32]int64{}
		}
		s.ranges[r.topic][r.partition] = r
	}
	return s, nil
}

type groupSource struct {
	cl      *strata.Client
	k       *strata.Consumer
	group   string
	timeout time.Duration
	ranges  map[string]map[int32]partitionRange // start: where the group starts without a commit
	pos     map[string]map[int32]int64          // next offset, per partition read or looked up
}

func (s *groupSource) poll(ctx context.Context, wait time.Duration) ([]*strata.Record, error) {
	recs, err := pollWithin(ctx, wait, s.k.Poll)
	if err != nil {
		return nil, err
	}
	for _, r := range recs {
		s.pos[r.Topic][r.Partition] = r.Offset + 1
	}
	return recs, nil
}

func (s *groupSource) mark(r *strata.Record) { s.k.MarkCommit(r) }

func (s *groupSource) end(topic string, partition int32) int64 { return s.ranges[topic][partition].end }

// atEnd says whether the member holds partitions and has read each to
// the end it had at start; a partition it has not read yet is where the
// group's committed offset (or the start offset) puts it.
func (s *groupSource) atEnd(ctx context.Context) (bool, error) {
	assigned := s.k.Assignment()
	if len(assigned) == 0 {
		return false, nil
	}
	missing := map[string][]int32{}
	for t, ps := range assigned {
		for _, p := range ps {
			if _, ok := s.pos[t][p]; !ok {
				missing[t] = append(missing[t], p)
			}
		}
	}
	if len(missing) > 0 {
		fctx, cancel := context.WithTimeout(ctx, s.timeout)
		defer cancel()
		offs, err := s.cl.Admin().FetchOffsets(fctx, s.group, missing)
		if err != nil {
			return false, errors.New(oneLine(err))
		}
		for _, o := range offs {
			if o.Err != nil {
				return false, errors.New(oneLine(o.Err))
			}
			if o.Offset < 0 {
				o.Offset = s.ranges[o.Topic][o.Partition].start
			}
			s.pos[o.Topic][o.Partition] = o.Offset
		}
	}
	for t, ps := range assigned {
		for _, p := range ps {
			if s.pos[t][p] < s.ranges[t][p].end {
				return false, nil
			}
		}
	}
	return true, nil
}

func (s *groupSource) close(ctx context.Context) error {
	err := s.k.Close(ctx)
	s.cl.Close()
	return err
}
