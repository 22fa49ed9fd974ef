package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
)

// JSON shapes of group describe and group seek.
type cliGroup struct {
	Group   string `json:"group"`
	State   string `json:"state"`
	Members []struct {
		MemberID   string             `json:"member_id"`
		ClientID   string             `json:"client_id"`
		Protocol   string             `json:"protocol"`
		Assignment map[string][]int32 `json:"assignment"`
	} `json:"members"`
	Partitions []struct {
		Topic           string `json:"topic"`
		Partition       int32  `json:"partition"`
		CommittedOffset int64  `json:"committed_offset"`
		LogStartOffset  int64  `json:"log_start_offset"`
		LogEndOffset    int64  `json:"log_end_offset"`
		Lag             int64  `json:"lag"`
	} `json:"partitions"`
	TotalLag int64 `json:"total_lag"`
}

type cliSeek struct {
	DryRun bool `json:"dry_run"`
	Plan   []struct {
		Topic         string `json:"topic"`
		Partition     int32  `json:"partition"`
		CurrentOffset int64  `json:"current_offset"`
		NewOffset     int64  `json:"new_offset"`
		Error         string `json:"error"`
	} `json:"plan"`
}

// committed returns a described group's committed offsets by partition.
func (g cliGroup) committed() map[int32]int64 {
	out := map[int32]int64{}
	for _, p := range g.Partitions {
		out[p.Partition] = p.CommittedOffset
	}
	return out
}

// TestCLIOperations drives group, perf and cluster health through the real
// binary against one cluster (health last: it stops a storage node).
func TestCLIOperations(t *testing.T) {
	c := kafkaCluster(t, map[string]int{"orders": 3, "bench": 3})
	t.Run("group", func(t *testing.T) { testCLIGroup(t, c) })
	t.Run("perf", func(t *testing.T) { testCLIPerf(t, c) })
	t.Run("docs", func(t *testing.T) { testCLIOpsDocs(t, c) })
	t.Run("health", func(t *testing.T) { testCLIHealth(t, c) })
}

func testCLIGroup(t *testing.T, c *cluster) {
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	describe := func() cliGroup {
		var g cliGroup
		c.adminJSON(&g, "group", "describe", "billing")
		return g
	}
	produceValues(t, c, "orders", "a", 30)
	cons, err := kgo.NewClient(kgo.SeedBrokers(c.kafka), kgo.ConsumerGroup("billing"), kgo.ConsumeTopics("orders"),
		kgo.ClientID("billing-1"), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	if err != nil {
		t.Fatal(err)
	}
	defer cons.Close()
	consumeN(t, cons, 30, 30*time.Second)
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	produceValues(t, c, "orders", "b", 5) // lag 5 on purpose

	testutil.WaitFor(t, 20*time.Second, func() error {
		g := describe()
		var sum int64
		for _, p := range g.Partitions {
			if p.Lag != p.LogEndOffset-p.CommittedOffset || p.LogStartOffset != 0 {
				return fmt.Errorf("partition %+v: lag is not log end - committed", p)
			}
			sum += p.Lag
		}
		if g.State != "Stable" || len(g.Members) != 1 || g.Members[0].ClientID != "billing-1" || g.Members[0].Protocol != "kafka" ||
			len(g.Members[0].Assignment["orders"]) != 3 || len(g.Partitions) != 3 || g.TotalLag != 5 || sum != 5 {
			return fmt.Errorf("describe: %+v", g)
		}
		return nil
	})
	if out := c.admin("group", "describe", "billing"); !strings.Contains(out, "Total lag: 5") || !strings.Contains(out, "billing-1") {
		t.Fatalf("describe table:\n%s", out)
	}
	if out := c.admin("group", "list"); !strings.Contains(out, "billing") {
		t.Fatalf("list:\n%s", out)
	}
	if e := c.adminFails("group", "seek", "billing", "--to-earliest", "--topic", "orders", "--execute"); !strings.Contains(e, "active members") {
		t.Fatalf("seek with an active member: %s", e)
	}
	if e := c.adminFails("group", "delete", "billing"); !strings.Contains(e, "active members") {
		t.Fatalf("delete with an active member: %s", e)
	}

	// A gRPC member of another group shows as grpc.
	sc, err := strata.NewClient(ctx, c.gateway.grpc)
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	gm, err := sc.NewConsumer("grpc-readers", []string{"orders"}, strata.ClientID("reader-1"))
	if err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 20*time.Second, func() error {
		var g cliGroup
		c.adminJSON(&g, "group", "describe", "grpc-readers")
		if len(g.Members) != 1 || g.Members[0].Protocol != "grpc" || g.Members[0].ClientID != "reader-1" || len(g.Members[0].Assignment["orders"]) != 3 {
			return fmt.Errorf("describe: %+v", g)
		}
		return nil
	})
	_ = gm.Close(ctx)

	// Consuming the rest brings the lag to zero.
	consumeN(t, cons, 5, 30*time.Second)
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	testutil.WaitFor(t, 10*time.Second, func() error {
		if g := describe(); g.TotalLag != 0 {
			return fmt.Errorf("total lag %d", g.TotalLag)
		}
		return nil
	})
	cons.Close()
	testutil.WaitFor(t, 20*time.Second, func() error {
		if g := describe(); g.State != "Empty" || len(g.Members) != 0 {
			return fmt.Errorf("after close: %+v", g)
		}
		return nil
	})
	before := describe().committed()

	// A dry run changes nothing; --execute changes exactly what it printed.
	var dry, done cliSeek
	c.adminJSON(&dry, "group", "seek", "billing", "--to-earliest", "--topic", "orders")
	if !dry.DryRun || len(dry.Plan) != 3 {
		t.Fatalf("dry run: %+v", dry)
	}
	for _, p := range dry.Plan {
		if p.Error != "" || p.NewOffset != 0 || p.CurrentOffset != before[p.Partition] {
			t.Fatalf("dry run plan %+v, committed %v", p, before)
		}
	}
	if after := describe().committed(); fmt.Sprint(after) != fmt.Sprint(before) {
		t.Fatalf("dry run moved offsets: %v → %v", before, after)
	}
	c.adminJSON(&done, "group", "seek", "billing", "--to-earliest", "--topic", "orders", "--execute")
	if done.DryRun || fmt.Sprint(done.Plan) != fmt.Sprint(dry.Plan) {
		t.Fatalf("executed plan %+v, dry run %+v", done.Plan, dry.Plan)
	}
	g := describe()
	for _, p := range done.Plan {
		if g.committed()[p.Partition] != p.NewOffset {
			t.Fatalf("after execute: committed %v, plan %+v", g.committed(), done.Plan)
		}
	}
	if g.TotalLag != 35 {
		t.Fatalf("after seek to earliest: total lag %d, want 35", g.TotalLag)
	}
	// One partition only, relative (clamped to the log end).
	before = g.committed()
	want1 := int64(2)
	for _, p := range g.Partitions {
		if p.Partition == 1 {
			want1 = min(want1, p.LogEndOffset)
		}
	}
	c.adminJSON(&done, "group", "seek", "billing", "--shift-by", "2", "--topic", "orders:1", "--execute")
	after := describe().committed()
	if len(done.Plan) != 1 || after[1] != want1 || after[0] != before[0] || after[2] != before[2] {
		t.Fatalf("shift-by 2 of partition 1: plan %+v, %v → %v", done.Plan, before, after)
	}

	// Bad input: one line, non-zero exit, nothing written.
	for _, args := range [][]string{
		{"group", "seek", "billing", "--to-offset", "-1", "--all-topics", "--execute"},
		{"group", "seek", "billing", "--to-earliest", "--to-latest", "--all-topics", "--execute"},
		{"group", "seek", "billing", "--to-earliest", "--topic", "orders:x", "--execute"},
		{"group", "seek", "billing", "--to-datetime", "yesterday", "--all-topics", "--execute"},
		{"group", "seek", "billing", "--to-latest", "--execute"},
		{"group", "describe", "no-such-group"},
		{"group", "list", "--output", "yaml"},
		{"group", "seek", "billing", "--to-latest", "--all-topics", "--execute", "--bogus"},
	} {
		c.adminFails(args...)
	}
	if now := describe().committed(); fmt.Sprint(now) != fmt.Sprint(after) {
		t.Fatalf("bad input moved offsets: %v → %v", after, now)
	}

	dead := testutil.FreeAddr(t) // nothing listens there
	for _, args := range [][]string{
		{"group", "list", "--server", dead, "--timeout", "2s"},
		{"perf", "produce", "--topic", "orders", "--records", "10", "--protocol", "kafka", "--brokers", dead, "--timeout", "2s"},
	} {
		out, errOut, code := cli(t, args...)
		if code == 0 || out != "" || strings.Count(strings.TrimSpace(errOut), "\n") != 0 || !strings.Contains(errOut, dead) {
			t.Errorf("strata %v with nothing at %s: exit %d, stdout %q, stderr %q", args, dead, code, out, errOut)
		}
	}

	c.admin("group", "delete", "billing")
	if out := c.admin("group", "list"); strings.Contains(out, "billing") {
		t.Fatalf("billing listed after delete:\n%s", out)
	}
}

func testCLIPerf(t *testing.T, c *cluster) {
	var produced int64
	for _, proto := range []string{"grpc", "kafka"} {
		out, errOut, code := cli(t, "perf", "produce", "--topic", "bench", "--records", "50000", "--record-size", "100",
			"--protocol", proto, "--brokers", c.kafka, "--server", c.gateway.grpc, "--output", "json")
		if code != 0 {
			t.Fatalf("perf produce --protocol %s: exit %d: %s", proto, code, errOut)
		}
		var r map[string]any
		if err := json.Unmarshal([]byte(out), &r); err != nil {
			t.Fatalf("perf produce JSON %q: %v", out, err)
		}
		p50, p99, max := r["publishLatency50pct"].(float64), r["publishLatency99pct"].(float64), r["publishLatencyMax"].(float64)
		if r["records"] != 50000.0 || r["bytes"] != 5e6 || r["errors"] != 0.0 || r["publishRate"].(float64) <= 0 ||
			!(0 < p50 && p50 <= p99 && p99 <= max && max < 60000) {
			t.Fatalf("perf produce --protocol %s: %v", proto, r)
		}
		produced += 50000
	}
	var topic struct {
		Partitions []struct {
			LogEndOffset int64 `json:"log_end_offset"`
		} `json:"partitions"`
	}
	c.adminJSON(&topic, "topic", "describe", "bench")
	var leo int64
	for _, p := range topic.Partitions {
		leo += p.LogEndOffset
	}
	if leo != produced {
		t.Fatalf("bench holds %d records, perf reported %d", leo, produced)
	}
	for _, args := range [][]string{
		{"--protocol", "grpc"},
		{"--protocol", "grpc", "--group", "perf-grpc-readers"},
		{"--protocol", "kafka", "--group", "perf-readers", "--consumers", "2"},
	} {
		var r map[string]any
		cliJSON(t, &r, append([]string{"perf", "consume", "--topic", "bench", "--records", fmt.Sprint(produced),
			"--brokers", c.kafka, "--server", c.gateway.grpc}, args...)...)
		if r["records"] != float64(produced) || r["errors"] != 0.0 || r["consumeRate"].(float64) <= 0 || r["endToEndLatencyMax"].(float64) <= 0 {
			t.Fatalf("perf consume %v: %v", args, r)
		}
	}
	for _, group := range []string{"perf-readers", "perf-grpc-readers"} {
		var g cliGroup
		c.adminJSON(&g, "group", "describe", group)
		if g.TotalLag != 0 || len(g.Partitions) != 3 {
			t.Fatalf("%s after consuming everything: %+v", group, g)
		}
	}
	// Throttled for a duration, with progress lines on stderr.
	out, errOut, code := cli(t, "perf", "produce", "--topic", "bench", "--duration", "2s", "--throughput", "500", "--interval", "500ms",
		"--server", c.gateway.grpc)
	if code != 0 || !strings.Contains(errOut, "records sent") || !strings.Contains(out, "p99.9") {
		t.Fatalf("throttled perf produce: exit %d\nstdout %s\nstderr %s", code, out, errOut)
	}
	var sent int
	if _, err := fmt.Sscanf(out, "%d records sent", &sent); err != nil || sent < 500 || sent > 1100 {
		t.Fatalf("2 s at 500 records/s sent %d (%v): %s", sent, err, out)
	}
	for _, args := range [][]string{
		{"perf", "produce", "--topic", "no-such-topic", "--records", "10"},
		{"perf", "produce", "--topic", "no-such-topic", "--records", "10", "--protocol", "kafka", "--brokers", c.kafka},
		{"perf", "produce", "--topic", "bench", "--records", "10", "--acks", "2"},
		{"perf", "consume", "--topic", "bench"},
	} {
		c.adminFails(args...)
	}
}

func testCLIHealth(t *testing.T, c *cluster) {
	if out := c.admin("cluster", "health"); !strings.Contains(out, "healthy: 3 storage nodes") || !strings.Contains(out, "canary on __strata_canary ok") {
		t.Fatalf("health:\n%s", out)
	}
	type health struct {
		Healthy  bool     `json:"healthy"`
		Problems []string `json:"problems"`
		Canary   struct {
			OK bool `json:"ok"`
		} `json:"canary"`
	}
	var h health
	c.adminJSON(&h, "cluster", "health")
	if !h.Healthy || !h.Canary.OK || len(h.Problems) != 0 {
		t.Fatalf("health: %+v", h)
	}
	c.admin("cluster", "health", "--canary-topic", "orders")

	c.storage[2].kill()
	testutil.WaitFor(t, 30*time.Second, func() error {
		out, errOut, code := cli(t, "cluster", "health", "--server", c.gateway.grpc, "--output", "json")
		if code == 0 {
			return fmt.Errorf("healthy with a storage node stopped: %s", out)
		}
		if err := jsonUnmarshal(out, &h); err != nil {
			return err
		}
		joined := strings.Join(h.Problems, "\n")
		if h.Healthy || !strings.Contains(joined, "under-replicated") || !strings.Contains(joined, "is down") ||
			strings.TrimSpace(errOut) != "strata: the cluster is unhealthy" {
			return fmt.Errorf("health: %+v, stderr %q", h, errOut)
		}
		return nil
	})
	c.storage[2].restart(t)
	out, errOut, code := cli(t, "cluster", "health", "--exit-when-healthy", "--interval", "500ms", "--timeout", "50s", "--server", c.gateway.grpc)
	if code != 0 || !strings.Contains(out, "healthy: 3 storage nodes") {
		t.Fatalf("health after the node returned: exit %d\n%s\n%s", code, out, errOut)
	}
}

// Every "$ strata" line of docs/operations.md runs, in order, through the
// documented env vars, against the state its examples describe: the group
// orders-app committed 2000 of 3000 records of orders and has no member.
func testCLIOpsDocs(t *testing.T, c *cluster) {
	doc, err := os.ReadFile("../../docs/operations.md")
	if err != nil {
		t.Fatal(err)
	}
	var commands [][]string
	for _, line := range strings.Split(string(doc), "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ strata "); ok {
			cmd, _, _ = strings.Cut(cmd, "  #")
			commands = append(commands, strings.Fields(cmd))
		}
	}
	if len(commands) < 15 {
		t.Fatalf("docs/operations.md has %d strata commands, want the group, health and perf examples", len(commands))
	}
	produceValues(t, c, "orders", "docs", 3000)
	cons := franzClient(t, c, kgo.ConsumerGroup("orders-app"), kgo.ConsumeTopics("orders"),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.DisableAutoCommit())
	consumeN(t, cons, 2000, 30*time.Second)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cons.CommitUncommittedOffsets(ctx); err != nil {
		t.Fatal(err)
	}
	cons.Close()
	env := []string{"STRATA_SERVER=" + c.gateway.grpc, "STRATA_BROKERS=" + c.kafka}
	for _, args := range commands {
		if out, errOut, code := cliEnv(t, env, args...); code != 0 {
			t.Errorf("strata %s: exit %d: %s\n%s", strings.Join(args, " "), code, errOut, out)
		}
	}
}

// clusterHealth runs `strata cluster health -o json` and returns its exit
// code and problems.
func clusterHealth(t *testing.T, c *cluster) (code int, problems []string) {
	t.Helper()
	out, errOut, code := cli(t, "cluster", "health", "--server", c.gateway.grpc, "--output", "json")
	var h struct {
		Healthy  bool     `json:"healthy"`
		Problems []string `json:"problems"`
	}
	if err := jsonUnmarshal(out, &h); err != nil {
		t.Fatalf("cluster health: exit %d, %v, stderr %q", code, err, errOut)
	}
	if h.Healthy != (code == 0) || h.Healthy != (len(h.Problems) == 0) {
		t.Fatalf("cluster health: exit %d but %+v", code, h)
	}
	return code, h.Problems
}
