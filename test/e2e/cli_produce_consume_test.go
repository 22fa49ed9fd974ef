package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
	"github.com/strata-io/strata/internal/testutil"
)

// `strata produce` and `strata consume` against one real cluster: the
// README's "Using the CLI" block, a round trip through the CLI, the Kafka
// protocol and kcat, bad input, and a group member leaving on Ctrl-C.
func TestCLIProduceConsume(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	// (With STRATA_E2E_TLS=1 the gateway's gRPC port is TLS and Kafka
	// stays plaintext.)
	env := append([]string{"STRATA_SERVER=" + c.gateway.grpc, "STRATA_BROKERS=" + c.kafka, "NO_COLOR=1"},
		cliTLSEnv([]string{"--server", c.gateway.grpc})...)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	var opts []strata.Opt
	if creds := roleCreds(c.gateway.grpc); creds != nil {
		opts = append(opts, strata.WithTransportCredentials(creds))
	}
	client, err := strata.NewClient(ctx, c.gateway.grpc, opts...)
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()

	t.Run("readme", func(t *testing.T) { runReadmeCLI(t, c, env) })

	mustCLI(t, "topic", "create", "rt", "--partitions", "3", "--replication-factor", "1", "--server", c.gateway.grpc)
	mustCLI(t, "topic", "create", "rtk", "--partitions", "3", "--replication-factor", "1", "--server", c.gateway.grpc)
	type rec struct {
		key, value string
		headers    []string // k=v
	}
	var want []rec
	var input strings.Builder
	for i, v := range []string{"plain", "with spaces", "ünïcødé ✓", "a=b,c", "", "last"} {
		k := fmt.Sprintf("key-%d", i)
		fmt.Fprintf(&input, "%s\t%s\n", k, v)
		want = append(want, rec{k, v, []string{"source=cli", "trace=id"}})
	}
	file := filepath.Join(t.TempDir(), "in.tsv")
	if err := os.WriteFile(file, []byte(input.String()), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("roundtrip", func(t *testing.T) {
		for topic, proto := range map[string]string{"rt": "grpc", "rtk": "kafka"} {
			out, errOut, code := cliIn(t, env, "", "produce", topic, "--file", file, "--key-separator", "\t",
				"-H", "source=cli", "-H", "trace=id", "--protocol", proto, "--output-format", `%p %o %k\n`)
			if code != 0 || strings.Count(out, "\n") != len(want) || !strings.Contains(errOut, fmt.Sprintf("Produced %d records", len(want))) {
				t.Fatalf("produce %s over %s: exit %d\n%s%s", topic, proto, code, out, errOut)
			}
		}
		check := func(what string, got []rec) {
			t.Helper()
			slices.SortFunc(got, func(a, b rec) int { return strings.Compare(a.key, b.key) })
			if len(got) != len(want) {
				t.Fatalf("%s: %d records, want %d: %q", what, len(got), len(want), got)
			}
			for i := range want {
				if got[i].key != want[i].key || got[i].value != want[i].value || !slices.Equal(got[i].headers, want[i].headers) {
					t.Errorf("%s: record %d is %q, want %q", what, i, got[i], want[i])
				}
			}
		}
		for _, topic := range []string{"rt", "rtk"} {
			for _, proto := range []string{"grpc", "kafka"} {
				out, errOut, code := cliIn(t, env, "", "consume", topic, "-o", "start", "-e", "--output", "json", "--protocol", proto)
				if code != 0 {
					t.Fatalf("consume %s: exit %d: %s", topic, code, errOut)
				}
				var got []rec
				for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
					var j struct {
						Topic, Key, Value string
						Headers           []struct{ Key, Value string }
					}
					if err := json.Unmarshal([]byte(line), &j); err != nil || j.Topic != topic {
						t.Fatalf("consume %s: line %q: %v", topic, line, err)
					}
					r := rec{key: j.Key, value: j.Value}
					for _, h := range j.Headers {
						r.headers = append(r.headers, h.Key+"="+h.Value)
					}
					got = append(got, r)
				}
				check(fmt.Sprintf("consume %s --output json --protocol %s", topic, proto), got)
			}
			if !haveKcat {
				t.Log("kcat (librdkafka) is not installed: apt-get install kcat; skipping its part")
				continue
			}
			kc := exec.Command("kcat", "-C", "-b", c.kafka, "-t", topic, "-e", "-q", "-f", `%k\t%s\t%h\n`)
			out, err := kc.Output()
			if err != nil {
				t.Fatalf("kcat: %v", err)
			}
			var got []rec
			for _, line := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
				f := strings.Split(line, "\t")
				if len(f) != 3 {
					t.Fatalf("kcat line %q", line)
				}
				got = append(got, rec{f[0], f[1], strings.Split(f[2], ",")})
			}
			check("kcat "+topic, got)
		}
	})

	t.Run("completion", func(t *testing.T) {
		// What the shell scripts of `strata completion` ask for a topic.
		// Topics so far: events, rt and rtk; rt is already on the line.
		out, errOut, code := cliIn(t, env, "", "__complete", "consume", "rt", "")
		if got, _, _ := strings.Cut(out, "\n:"); code != 0 || got != "events\nrtk" {
			t.Errorf("topic completion: exit %d, %q %s; want events and rtk", code, out, errOut)
		}
		for _, sh := range []string{"bash", "zsh", "fish"} {
			if out := mustCLI(t, "completion", sh); !strings.Contains(out, "strata") {
				t.Errorf("completion %s: %q", sh, out)
			}
		}
	})

	t.Run("bad-input", func(t *testing.T) {
		ends := func() []int64 {
			res, err := client.ListOffsets(ctx, "rt", []int32{0, 1, 2}, strata.AtEnd())
			if err != nil {
				t.Fatal(err)
			}
			var out []int64
			for _, r := range res {
				out = append(out, r.Offset)
			}
			return out
		}
		before := ends()
		closed := testutil.FreeAddr(t)
		for _, args := range [][]string{
			{"consume", "rt", "--bogus"},
			{"consume", "rt", "-o", "yesterday"},
			{"consume", "rt", "--format", "%z"},
			{"consume", "nope"},
			{"consume", "nope", "--group", "bad-g"},
			{"consume", "nope", "--group", "bad-g", "--protocol", "kafka"},
			{"consume", "rt", "--group", "bad-g", "-o", "+1"},
			{"consume", "rt", "--partition", "7"},
			{"consume", "rt", "--server", closed},
			{"consume", "rt", "--protocol", "kafka", "--brokers", closed, "--timeout", "2s"},
			{"produce", "rt", "--bogus"},
			{"produce", "rt", "--format", "%k %k\n"},
			{"produce", "rt", "--output-format", "%q"},
			{"produce", "rt", "--acks", "2"},
			{"produce", "rt", "--header", "novalue"},
			{"produce", "nope"},
			{"produce", "rt", "--server", closed},
			{"produce", "rt", "--protocol", "kafka", "--brokers", closed, "--timeout", "2s"},
			{"produce", "rt", "--protocol", "carrier-pigeon"},
		} {
			out, errOut, code := cliIn(t, env, "x\ny\n", args...)
			if code == 0 || out != "" || strings.Count(errOut, "\n") != 1 || !strings.HasPrefix(errOut, "strata: ") {
				t.Errorf("strata %s: exit %d, stdout %q, stderr %q; want exit 1, no stdout and one line", strings.Join(args, " "), code, out, errOut)
			} else {
				t.Logf("strata %s: %s", strings.Join(args, " "), strings.TrimSpace(errOut))
			}
		}
		if after := ends(); !slices.Equal(before, after) {
			t.Errorf("bad input wrote records: ends %v, then %v", before, after)
		}
		groups, err := client.Admin().ListGroups(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, g := range groups {
			if g.ID == "bad-g" {
				t.Errorf("bad input made group %+v", g)
			}
		}
	})

	t.Run("offsets", func(t *testing.T) {
		mustCLI(t, "topic", "create", "offs", "--partitions", "1", "--replication-factor", "1", "--server", c.gateway.grpc)
		before := time.Now().Add(-time.Second).UnixMilli()
		if out, errOut, code := cliIn(t, env, "0\n1\n2\n3\n4\n5\n6\n7\n8\n9\n", "produce", "offs", "--quiet"); code != 0 {
			t.Fatalf("produce: %d %s%s", code, out, errOut)
		}
		for spec, want := range map[string]string{
			"start": "0 1 2 3 4 5 6 7 8 9", "+7": "7 8 9", "-2": "8 9", "4": "4 5 6 7 8 9", "end": "",
			"99": "", "+99": "", "-99": "0 1 2 3 4 5 6 7 8 9",
			fmt.Sprintf("@%d", before): "0 1 2 3 4 5 6 7 8 9", "@-1h": "0 1 2 3 4 5 6 7 8 9",
			"@" + time.Now().Add(time.Hour).UTC().Format(time.RFC3339): "",
		} {
			for _, proto := range []string{"grpc", "kafka"} {
				out, errOut, code := cliIn(t, env, "", "consume", "offs", "-o", spec, "-e", "--format", `%v `, "--protocol", proto)
				if code != 0 || strings.TrimSpace(out) != want {
					t.Errorf("-o %s -e --protocol %s: exit %d, %q%s; want %q", spec, proto, code, out, errOut, want)
				}
			}
		}
		if out := mustCLI(t, "consume", "offs", "-o", "+3", "-n", "2", "--format", `%p/%o=%v,`, "--server", c.gateway.grpc); out != "0/3=3,0/4=4," {
			t.Errorf("-o +3 -n 2: %q", out)
		}
		// A group reads to the end and commits it; run again, it has nothing.
		for _, proto := range []string{"grpc", "kafka"} {
			for i, want := range []string{"0 1 2 3 4 5 6 7 8 9", ""} {
				out, errOut, code := cliIn(t, env, "", "consume", "offs", "--group", "offs-g-"+proto, "-o", "start", "-e",
					"--format", `%v `, "--protocol", proto)
				if code != 0 || strings.TrimSpace(out) != want {
					t.Errorf("run %d of --group -e --protocol %s: exit %d, %q%s; want %q", i+1, proto, code, out, errOut, want)
				}
			}
		}
	})

	t.Run("failed-records", func(t *testing.T) {
		mustCLI(t, "topic", "create", "small", "--partitions", "1", "--replication-factor", "1",
			"--config", "max.message.bytes=200", "--server", c.gateway.grpc)
		// (A request fails as a whole, as a Kafka batch does: one record.)
		out, errOut, code := cliIn(t, env, strings.Repeat("x", 1000)+"\n", "produce", "small", "--format", `%v\n`, "--partition", "0")
		if code != 1 || out != "" || !strings.Contains(errOut, "MESSAGE_TOO_LARGE") || !strings.Contains(errOut, "Produced 0 records (0 bytes), 1 failed.") {
			t.Errorf("a record over max.message.bytes: exit %d, stdout %q, stderr %q; want exit 1 and a summary of 1 failed", code, out, errOut)
		}
		out, errOut, code = cliIn(t, env, "a\nb\n", "produce", "small", "--acks", "0", "--output", "json")
		if code != 0 || strings.Count(out, `"offset":-1`) != 2 {
			t.Errorf("--acks 0: exit %d, %q %s; want two deliveries at offset -1", code, out, errOut)
		}
	})

	for _, proto := range []string{"grpc", "kafka"} {
		// Ctrl-C over gRPC, SIGTERM (docker stop, kill) over Kafka.
		sig := map[string]syscall.Signal{"grpc": syscall.SIGINT, "kafka": syscall.SIGTERM}[proto]
		t.Run("group-interrupt-"+proto, func(t *testing.T) { groupInterrupt(t, client, env, proto, sig) })
		t.Run("produce-interrupt-"+proto, func(t *testing.T) { produceInterrupt(t, env, proto) })
	}
}

// produceInterrupt feeds produce lines on a stdin that stays open, sends
// SIGINT once they are delivered, and checks it ends at once, exit 0, with
// the summary.
func produceInterrupt(t *testing.T, env []string, proto string) {
	cmd := exec.Command(strataBin, "produce", "rt", "--protocol", proto)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	defer stdin.Close()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	if _, err := io.WriteString(stdin, "one\ntwo\nthree\n"); err != nil {
		t.Fatal(err)
	}
	lines, done := make(chan string, 3), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		done <- cmd.Wait()
	}()
	for i := range 3 {
		select {
		case <-lines:
		case <-time.After(30 * time.Second):
			t.Fatalf("produce delivered %d of 3 records in 30 s: %s", i, stderr.String())
		}
	}
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil || !strings.Contains(stderr.String(), "Produced 3 records") {
			t.Errorf("produce after Ctrl-C: %v, stderr %q; want exit 0 and the summary", err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("produce did not stop within 10 s of SIGINT while stdin stays open")
	}
}

// groupInterrupt runs consume --group until it printed every record of a
// topic of its own, sends sig, and checks the member left at once,
// committing what it printed.
func groupInterrupt(t *testing.T, client *strata.Client, env []string, proto string, sig syscall.Signal) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	topic, group := "grp-"+proto, "cli-int-"+proto
	if _, err := client.Admin().CreateTopic(ctx, topic, 3, 1, nil); err != nil {
		t.Fatal(err)
	}
	const want = 5
	if out, errOut, code := cliIn(t, env, "a:1\nb:2\nc:3\nd:4\ne:5\n", "produce", topic, "--key-separator", ":", "-q"); code != 0 {
		t.Fatalf("produce: exit %d: %s%s", code, out, errOut)
	}
	cmd := exec.Command(strataBin, "consume", topic, "--group", group, "-o", "start", "--format", `%k\n`, "--protocol", proto)
	cmd.Env = append(os.Environ(), env...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	stderr := &lockedWriter{w: &bytes.Buffer{}}
	cmd.Stderr = stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = cmd.Process.Kill() })
	lines, done := make(chan string, want), make(chan error, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		done <- cmd.Wait()
	}()
	for i := range want {
		select {
		case <-lines:
		case err := <-done:
			t.Fatalf("consume --group ended after %d records: %v: %s", i, err, stderr.String())
		case <-time.After(30 * time.Second):
			t.Fatalf("consume --group printed %d of %d records in 30 s: %s", i, want, stderr.String())
		}
	}
	g, err := client.Admin().DescribeGroup(ctx, group)
	if err != nil || len(g.Members) != 1 {
		t.Fatalf("group while consuming: %+v, %v; want one member", g, err)
	}
	start := time.Now()
	if err := cmd.Process.Signal(sig); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("consume --group after %s: %v: %s", sig, err, stderr.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("consume --group did not stop within 10 s of %s", sig)
	}
	took := time.Since(start)
	g, err = client.Admin().DescribeGroup(ctx, group)
	if err != nil {
		t.Fatal(err)
	}
	var committed int64
	for _, p := range g.Partitions {
		committed += p.CommittedOffset
	}
	if len(g.Members) != 0 || committed != want {
		t.Errorf("right after %s (%s): group %s has %d members and %d records committed; want none and %d",
			sig, took, g.State, len(g.Members), committed, want)
	}
}

var haveKcat = func() bool {
	_, err := exec.LookPath("kcat")
	return err == nil
}()

// cliIn runs a CLI command with stdin and extra environment variables.
func cliIn(t *testing.T, env []string, stdin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, strataBin, args...)
	cmd.Env = append(os.Environ(), env...)
	cmd.Stdin = strings.NewReader(stdin)
	var o, e bytes.Buffer
	cmd.Stdout, cmd.Stderr = &o, &e
	err := cmd.Run()
	if ee, ok := err.(*exec.ExitError); ok {
		return o.String(), e.String(), ee.ExitCode()
	} else if err != nil {
		t.Fatalf("run strata %v: %v", args, err)
	}
	return o.String(), e.String(), 0
}

// runReadmeCLI runs every command of README.md's "Using the CLI" console
// block in a shell, in order, and checks it prints the lines shown under
// it (in any order: partitions are read concurrently; <ms> is a number)
// and fails exactly when they show an error.
func runReadmeCLI(t *testing.T, c *cluster, env []string) {
	doc, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(doc), "\n## Using the CLI\n")
	if !ok {
		t.Fatal(`README.md has no "## Using the CLI" section`)
	}
	_, block, ok := strings.Cut(section, "```console\n")
	if !ok {
		t.Fatal(`"Using the CLI" has no console block`)
	}
	block, _, _ = strings.Cut(block, "```")
	type example struct {
		cmd  string
		want []string
	}
	var examples []example
	for _, line := range strings.Split(strings.TrimSuffix(block, "\n"), "\n") {
		if cmd, ok := strings.CutPrefix(line, "$ "); ok {
			examples = append(examples, example{cmd: cmd})
		} else if len(examples) > 0 {
			examples[len(examples)-1].want = append(examples[len(examples)-1].want, line)
		}
	}
	if len(examples) < 8 {
		t.Fatalf("the block has %d commands", len(examples))
	}
	dir := t.TempDir()
	path := filepath.Dir(strataBin) + string(os.PathListSeparator) + os.Getenv("PATH")
	for _, ex := range examples {
		if strings.HasPrefix(ex.cmd, "kcat ") && !haveKcat {
			t.Logf("kcat (librdkafka) is not installed: apt-get install kcat; skipping %s", ex.cmd)
			continue
		}
		cmd := strings.ReplaceAll(ex.cmd, "localhost:9092", c.kafka)
		sh := exec.Command("bash", "-o", "pipefail", "-c", cmd)
		sh.Dir = dir
		sh.Env = append(os.Environ(), append(env, "PATH="+path)...)
		out, err := sh.CombinedOutput()
		t.Logf("$ %s\n%s", ex.cmd, out)
		wantErr := len(ex.want) > 0 && strings.HasPrefix(ex.want[0], "strata: ")
		if (err != nil) != wantErr {
			t.Fatalf("%s: %v (want an error: %v)\n%s", ex.cmd, err, wantErr, out)
		}
		var got []string
		for _, l := range strings.Split(strings.TrimSuffix(string(out), "\n"), "\n") {
			if l = strings.TrimRight(l, " "); l != "" || len(out) > 0 {
				got = append(got, l)
			}
		}
		if len(out) == 0 {
			got = nil
		}
		if len(got) != len(ex.want) {
			t.Fatalf("%s: printed %d lines, the README shows %d:\n%s", ex.cmd, len(got), len(ex.want), out)
		}
		for _, w := range ex.want {
			re := regexp.MustCompile("^" + strings.ReplaceAll(regexp.QuoteMeta(strings.TrimRight(w, " ")), "<ms>", `\d+`) + "$")
			i := slices.IndexFunc(got, re.MatchString)
			if i < 0 {
				t.Fatalf("%s: no line matches the README's %q:\n%s", ex.cmd, w, out)
			}
			got = slices.Delete(got, i, i+1)
		}
	}
}
