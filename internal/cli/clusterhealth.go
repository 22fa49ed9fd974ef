package cli

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"syscall"
	"time"

	"github.com/spf13/cobra"
	strata "github.com/strata-io/strata/clients/go"
)

// cluster health: the cluster's replication and storage state, checked the
// way an operator reads kafka-topics --under-replicated-partitions, plus a
// data-path canary (a record produced and fetched back).

// defaultCanaryTopic is created on first use, one partition on
// min(3, storage nodes) replicas.
const defaultCanaryTopic = "__strata_canary"

// maxCanaryPartitions bounds the records one canary writes (one per
// partition) on a large --canary-topic.
const maxCanaryPartitions = 64

type canaryJSON struct {
	Topic      string  `json:"topic"`
	Partitions int     `json:"partitions"`
	OK         bool    `json:"ok"`
	LatencyMs  float64 `json:"latency_ms"`
	Error      string  `json:"error,omitempty"`
}

type healthJSON struct {
	Healthy      bool        `json:"healthy"`
	Problems     []string    `json:"problems"`
	StorageNodes int         `json:"storage_nodes"`
	Topics       int         `json:"topics"`
	Partitions   int         `json:"partitions"`
	Canary       *canaryJSON `json:"canary,omitempty"`
}

type healthFlags struct {
	watch, exitWhenHealthy, noCanary bool
	interval                         time.Duration
	canaryTopic                      string
}

// checkHealth runs one round: cluster and topics, then the canary.
func checkHealth(ctx context.Context, c *strata.Client, hf healthFlags) (healthJSON, error) {
	h := healthJSON{Problems: []string{}}
	cl, err := c.Admin().DescribeCluster(ctx)
	if err != nil {
		return h, err
	}
	h.StorageNodes = len(cl.StorageNodes)
	alive := 0
	for _, n := range cl.StorageNodes {
		switch {
		case !n.Alive && n.Replicas > 0:
			h.Problems = append(h.Problems, fmt.Sprintf("storage node %d (%s) is down and holds %d replicas", n.ID, n.Address, n.Replicas))
		case n.OfflineReplicas > 0:
			h.Problems = append(h.Problems, fmt.Sprintf("storage node %d (%s): log dir %s has %d offline replicas", n.ID, n.Address, orUnknown(n.LogDir), n.OfflineReplicas))
		}
		if n.Alive {
			alive++
		}
	}
	if alive == 0 {
		h.Problems = append(h.Problems, "no storage node is alive")
	}
	topics, err := c.Admin().ListTopics(ctx)
	if err != nil {
		return h, err
	}
	h.Topics = len(topics)
	for _, t := range topics {
		d, err := c.Admin().DescribeTopic(ctx, t.Name)
		if errors.Is(err, strata.ErrUnknownTopic) {
			continue // deleted since the listing
		}
		if err != nil {
			return h, err
		}
		for _, p := range d.PartitionDetails {
			h.Partitions++
			switch {
			case p.Leader < 0:
				h.Problems = append(h.Problems, fmt.Sprintf("partition %s-%d is offline: no leader (replicas %s, ISR %s)", t.Name, p.Partition, joinInts(p.Replicas), orNone(p.ISR)))
			case len(p.ISR) < len(p.Replicas):
				h.Problems = append(h.Problems, fmt.Sprintf("partition %s-%d is under-replicated: ISR %s of replicas %s", t.Name, p.Partition, orNone(p.ISR), joinInts(p.Replicas)))
			}
			if len(p.OfflineReplicas) > 0 {
				h.Problems = append(h.Problems, fmt.Sprintf("partition %s-%d has offline replicas on nodes %s", t.Name, p.Partition, joinInts(p.OfflineReplicas)))
			}
		}
	}
	if !hf.noCanary {
		cj := runCanary(ctx, c, hf.canaryTopic, alive)
		h.Canary = &cj
		if !cj.OK {
			h.Problems = append(h.Problems, fmt.Sprintf("canary on %s failed: %s", cj.Topic, cj.Error))
		}
	}
	sort.Strings(h.Problems)
	h.Healthy = len(h.Problems) == 0
	return h, nil
}

func orNone(s []int32) string {
	if len(s) == 0 {
		return "none"
	}
	return joinInts(s)
}

func orUnknown(s string) string {
	if s == "" {
		return "(unknown)"
	}
	return s
}

// runCanary writes one record to each partition of topic (creating the
// default canary topic if missing) and reads each back.
func runCanary(ctx context.Context, c *strata.Client, topic string, alive int) canaryJSON {
	cj := canaryJSON{Topic: topic}
	fail := func(err error) canaryJSON { cj.Error = err.Error(); return cj }
	ctx, cancel := context.WithTimeout(ctx, 15*time.Second)
	defer cancel()
	start := time.Now()
	d, err := c.Admin().DescribeTopic(ctx, topic)
	if errors.Is(err, strata.ErrUnknownTopic) && topic == defaultCanaryTopic {
		d, err = c.Admin().CreateTopic(ctx, topic, 1, int32(min(3, max(alive, 1))), nil)
		if errors.Is(err, strata.ErrTopicExists) { // created meanwhile by another check
			d, err = c.Admin().DescribeTopic(ctx, topic)
		}
	}
	if err != nil {
		return fail(err)
	}
	parts := int(min(d.Partitions, maxCanaryPartitions))
	cj.Partitions = parts
	p, err := c.NewProducer(strata.WithPartitioner(strata.ManualPartitioner()), strata.DeliveryTimeout(10*time.Second))
	if err != nil {
		return fail(err)
	}
	defer p.Close()
	var nonce [8]byte
	_, _ = rand.Read(nonce[:])
	value := []byte("canary " + hex.EncodeToString(nonce[:]))
	recs := make([]*strata.Record, parts)
	for i := range recs {
		recs[i] = &strata.Record{Topic: topic, Partition: int32(i), Value: value}
	}
	if err := p.ProduceSync(ctx, recs...); err != nil {
		return fail(fmt.Errorf("produce: %w", err))
	}
	from := map[string]map[int32]strata.Offset{topic: {}}
	for _, r := range recs {
		from[topic][r.Partition] = strata.At(r.Offset)
	}
	rd, err := c.NewReader(from, strata.FetchMaxWait(time.Second))
	if err != nil {
		return fail(err)
	}
	defer rd.Close()
	seen := map[int32]bool{}
	for len(seen) < parts {
		fs, err := rd.Poll(ctx)
		if err != nil {
			return fail(fmt.Errorf("fetch back %d of %d records: %w", parts-len(seen), parts, err))
		}
		for _, fp := range fs {
			if fp.Err != nil {
				return fail(fmt.Errorf("fetch %s-%d: %w", topic, fp.Partition, fp.Err))
			}
			for _, r := range fp.Records {
				if string(r.Value) == string(value) {
					seen[r.Partition] = true
					rd.Pause(topic, r.Partition)
				}
			}
		}
	}
	cj.OK = true
	cj.LatencyMs = float64(time.Since(start).Microseconds()) / 1000
	return cj
}

func printHealth(out io.Writer, h healthJSON) {
	canary := ""
	if h.Canary != nil && h.Canary.OK {
		canary = fmt.Sprintf(", canary on %s ok in %.1f ms", h.Canary.Topic, h.Canary.LatencyMs)
	}
	if h.Healthy {
		fmt.Fprintf(out, "%s healthy: %d storage nodes, %d topics, %d partitions%s.\n", time.Now().Format(time.TimeOnly), h.StorageNodes, h.Topics, h.Partitions, canary)
		return
	}
	fmt.Fprintf(out, "%s unhealthy: %d problems (%d storage nodes, %d topics, %d partitions%s):\n", time.Now().Format(time.TimeOnly), len(h.Problems), h.StorageNodes, h.Topics, h.Partitions, canary)
	for _, p := range h.Problems {
		fmt.Fprintf(out, "  %s\n", p)
	}
}

// errUnhealthy makes the exit code non-zero after the problems are printed.
var errUnhealthy = errors.New("the cluster is unhealthy")

func newClusterHealthCmd(f *clientFlags) *cobra.Command {
	var hf healthFlags
	cmd := &cobra.Command{
		Use:   "health",
		Short: "Check every partition has a leader and a full ISR, no log dir is offline, and a canary record makes the round trip",
		Long: "Exits 0 when healthy. Exits 1, printing each problem, when a partition is under-replicated, offline or\n" +
			"leaderless, a storage node holding replicas is down, a log dir is offline, or the canary (one record\n" +
			"produced to and fetched from each partition of --canary-topic) fails. --watch checks every --interval;\n" +
			"--exit-when-healthy waits (up to --timeout) for a healthy round, for scripts and compose healthchecks.",
		Example: "  strata cluster health\n  strata cluster health --exit-when-healthy --timeout 2m\n  strata cluster health --watch --interval 5s",
		Args:    cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if hf.interval <= 0 {
				return fmt.Errorf("--interval %s must be positive", hf.interval)
			}
			if hf.canaryTopic == "" {
				return fmt.Errorf("--canary-topic is empty")
			}
			ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
			defer stop()
			if hf.exitWhenHealthy {
				// --timeout bounds the whole wait.
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, f.timeout)
				defer cancel()
			}
			if !hf.watch && !hf.exitWhenHealthy {
				return f.withClient(func(ctx context.Context, c *strata.Client) error {
					h, err := checkHealth(ctx, c, hf)
					if err != nil {
						return err
					}
					return f.reportHealth(h)
				})
			}
			return f.healthLoop(ctx, hf)
		},
	}
	cmd.Flags().BoolVar(&hf.watch, "watch", false, "check again every --interval until interrupted")
	cmd.Flags().BoolVar(&hf.exitWhenHealthy, "exit-when-healthy", false, "check every --interval until healthy (exit 0) or --timeout passes (exit 1)")
	cmd.Flags().DurationVar(&hf.interval, "interval", 2*time.Second, "time between checks with --watch or --exit-when-healthy")
	cmd.Flags().StringVar(&hf.canaryTopic, "canary-topic", defaultCanaryTopic, "topic the canary writes to and reads from ("+defaultCanaryTopic+" is created on demand)")
	cmd.Flags().BoolVar(&hf.noCanary, "no-canary", false, "skip the data-path canary")
	return cmd
}

func (f *clientFlags) reportHealth(h healthJSON) error {
	if f.json() {
		if err := printJSON(f.out, h); err != nil {
			return err
		}
	} else {
		printHealth(f.out, h)
	}
	if !h.Healthy {
		return errUnhealthy
	}
	return nil
}

// healthLoop checks every interval, reconnecting as needed, until ctx ends
// or (with --exit-when-healthy) a round is healthy.
func (f *clientFlags) healthLoop(ctx context.Context, hf healthFlags) error {
	var last error = errUnhealthy
	var lastH *healthJSON // the last round, printed if the wait times out
	timedOut := func(err error) error {
		if lastH != nil && !hf.watch {
			_ = f.reportHealth(*lastH)
		}
		return fmt.Errorf("not healthy within %s: %w", f.timeout, err)
	}
	for {
		err := f.withClientCtx(ctx, func(ctx context.Context, c *strata.Client) error {
			for {
				rctx, cancel := context.WithTimeout(ctx, max(hf.interval, 10*time.Second))
				h, err := checkHealth(rctx, c, hf)
				cancel()
				if err != nil {
					if ctx.Err() != nil {
						return ctx.Err()
					}
					return err
				}
				last, lastH = nil, &h
				if !h.Healthy {
					last = errUnhealthy
				}
				if hf.watch || h.Healthy {
					if err := f.reportHealth(h); err != nil && !errors.Is(err, errUnhealthy) {
						return err
					}
				}
				if h.Healthy && hf.exitWhenHealthy {
					return nil
				}
				if !sleepOrDone(ctx, hf.interval) {
					return ctx.Err()
				}
			}
		})
		switch {
		case err == nil:
			return nil
		case ctx.Err() != nil:
			if hf.exitWhenHealthy && errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return timedOut(cmpErr(err, last))
			}
			return last
		}
		if hf.watch {
			fmt.Fprintf(f.out, "%s check failed: %v\n", time.Now().Format(time.TimeOnly), err)
		}
		last, lastH = err, nil
		if !sleepOrDone(ctx, hf.interval) {
			if hf.exitWhenHealthy {
				return timedOut(last)
			}
			return last
		}
	}
}

// cmpErr prefers a more telling error than a context one.
func cmpErr(err, last error) error {
	if last != nil && (errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled)) {
		return last
	}
	return err
}

func sleepOrDone(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-ctx.Done():
		return false
	}
}
