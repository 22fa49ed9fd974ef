// Package e2e runs the real strata binary as separate processes and drives
// it through its CLI and gRPC APIs, as a user would.
package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/rpc"
	"github.com/strata-io/strata/internal/testutil"
)

// strataBin is the binary under test, built once by TestMain.
var strataBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "strata-e2e-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	strataBin = filepath.Join(dir, "strata")
	args := []string{"build", "-o", strataBin}
	if os.Getenv("STRATA_E2E_RACE") != "" {
		// make test-race: the processes under test run with the race detector.
		args = append(args, "-race")
	}
	build := exec.Command("go", append(args, "../../cmd/strata")...)
	build.Stdout, build.Stderr = os.Stdout, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building strata:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// proc is one running strata process.
type proc struct {
	t    *testing.T
	name string
	cmd  *exec.Cmd
	log  *bytes.Buffer
	done chan struct{}
}

// start runs `strata args...`; the process is killed at test cleanup and its
// output is printed if the test failed.
func start(t *testing.T, name string, args ...string) *proc {
	t.Helper()
	p := &proc{t: t, name: name, log: &bytes.Buffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(strataBin, args...)
	// If the test binary itself dies, its processes die with it.
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	out := &lockedWriter{w: p.log}
	p.cmd.Stdout, p.cmd.Stderr = out, out
	if err := p.cmd.Start(); err != nil {
		t.Fatalf("start %s: %v", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(func() {
		p.kill()
		if strings.Contains(out.String(), "WARNING: DATA RACE") {
			t.Errorf("%s reported a data race", name)
		}
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, out.String())
		}
	})
	_ = p.log
	return p
}

// kill sends SIGKILL and waits for the process to be gone.
func (p *proc) kill() { p.signal(syscall.SIGKILL) }

func (p *proc) signal(sig syscall.Signal) {
	select {
	case <-p.done:
		return
	default:
	}
	_ = p.cmd.Process.Signal(sig)
	select {
	case <-p.done:
	case <-time.After(30 * time.Second):
		_ = p.cmd.Process.Kill()
		<-p.done
	}
}

// output returns what the process printed so far.
func (p *proc) output() string { return p.cmd.Stdout.(*lockedWriter).String() }

// cli runs a strata CLI command to completion.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	return cliEnv(t, nil, args...)
}

// cliEnv runs a CLI command with extra environment variables.
func cliEnv(t *testing.T, env []string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, strataBin, args...)
	cmd.Env = append(append(os.Environ(), cliTLSEnv(args)...), env...)
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

// mustCLI runs a CLI command that must succeed.
func mustCLI(t *testing.T, args ...string) string {
	t.Helper()
	out, errOut, code := cli(t, args...)
	if code != 0 {
		t.Fatalf("strata %s: exit %d: %s", strings.Join(args, " "), code, errOut)
	}
	return out
}

// cliJSON runs a CLI command with --output json and decodes its output.
func cliJSON(t *testing.T, v any, args ...string) {
	t.Helper()
	out := mustCLI(t, append(args, "--output", "json")...)
	if err := json.Unmarshal([]byte(out), v); err != nil {
		t.Fatalf("strata %v: bad JSON %q: %v", args, out, err)
	}
}

func waitHealthy(t *testing.T, addr string, timeout time.Duration) {
	t.Helper()
	testutil.WaitFor(t, timeout, func() error {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		defer cancel()
		return rpc.CheckHealthCreds(ctx, roleCreds(addr), addr)
	})
}

func jsonUnmarshal(s string, v any) error {
	if err := json.Unmarshal([]byte(s), v); err != nil {
		return fmt.Errorf("bad JSON %q: %w", s, err)
	}
	return nil
}

// pause freezes the process (SIGSTOP) until resume; the cleanup resumes it
// so it can be killed.
func (p *proc) pause() {
	if err := p.cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		p.t.Fatalf("SIGSTOP %s: %v", p.name, err)
	}
	p.t.Cleanup(p.resume)
}

// resume continues a paused process (SIGCONT).
func (p *proc) resume() { _ = p.cmd.Process.Signal(syscall.SIGCONT) }
