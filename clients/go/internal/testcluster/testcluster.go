// Package testcluster starts real strata processes for the client's tests:
// the binary is built from the repository's root (the server module), run
// on free loopback ports in temporary directories, and killed at cleanup.
// It imports nothing of the server.
package testcluster

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
	buildDir  string
)

// Binary returns the strata binary: $STRATA_BIN when set, else one built
// once per test process from the repository root (found by walking up to
// cmd/strata). Call Cleanup from TestMain to remove it.
func Binary() (string, error) {
	buildOnce.Do(func() {
		if b := os.Getenv("STRATA_BIN"); b != "" {
			binPath = b
			return
		}
		root, err := repoRoot()
		if err != nil {
			buildErr = err
			return
		}
		buildDir, err = os.MkdirTemp("", "strata-client-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(buildDir, "strata")
		cmd := exec.Command("go", "build", "-o", binPath, "./cmd/strata")
		cmd.Dir = root
		out, err := cmd.CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build ./cmd/strata in %s: %v\n%s", root, err, out)
		}
	})
	return binPath, buildErr
}

// Cleanup removes the binary Binary built.
func Cleanup() {
	if buildDir != "" {
		os.RemoveAll(buildDir)
	}
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if st, err := os.Stat(filepath.Join(dir, "cmd", "strata")); err == nil && st.IsDir() {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("no cmd/strata above the working directory: set STRATA_BIN")
		}
		dir = parent
	}
}

var (
	portsMu sync.Mutex
	given   = map[int]bool{}
)

// FreeAddr returns a loopback address whose port was free a moment ago
// and has not been handed out before in this process.
func FreeAddr(t testing.TB) string {
	t.Helper()
	portsMu.Lock()
	defer portsMu.Unlock()
	for range 1000 {
		port := 15000 + rand.IntN(17000)
		if given[port] {
			continue
		}
		ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", port))
		if err != nil {
			continue
		}
		ln.Close()
		given[port] = true
		return ln.Addr().String()
	}
	t.Fatal("no free port")
	return ""
}

// Proc is one running strata process.
type Proc struct {
	Name string
	cmd  *exec.Cmd
	out  *lockedBuffer
	done chan struct{}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// Start runs `strata args...`; it is killed at cleanup, and its output is
// logged if the test failed.
func Start(t testing.TB, name string, args ...string) *Proc {
	t.Helper()
	p, err := startProc(name, args...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		p.Kill()
		if t.Failed() {
			t.Logf("--- output of %s ---\n%s", name, tail(p.out.String(), 200))
		}
	})
	return p
}

func startProc(name string, args ...string) (*Proc, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	p := &Proc{Name: name, out: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(bin, args...)
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	p.cmd.Stdout, p.cmd.Stderr = p.out, p.out
	if err := p.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", name, err)
	}
	go func() {
		_ = p.cmd.Wait()
		close(p.done)
	}()
	return p, nil
}

// SharedDev starts `strata dev` outside any test (from TestMain, shared by
// a package's tests) and returns its gRPC address and a stop function that
// kills it and removes its data.
func SharedDev() (addr string, stop func(), err error) {
	dir, err := os.MkdirTemp("", "strata-client-dev")
	if err != nil {
		return "", nil, err
	}
	free := func() string {
		for {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err == nil {
				a := ln.Addr().String()
				ln.Close()
				portsMu.Lock()
				_, port, _ := net.SplitHostPort(a)
				var n int
				fmt.Sscan(port, &n)
				taken := given[n]
				given[n] = true
				portsMu.Unlock()
				if !taken {
					return a
				}
			}
		}
	}
	// A port picked free may be taken by another process before strata dev
	// binds it (busy machines, parallel test binaries): then it exits at
	// once, and is started again on fresh ports.
	for attempt := 1; ; attempt++ {
		addr = free()
		p, err := startProc("strata-dev", "dev", "--data-dir", dir, "--grpc-addr", addr, "--http-addr", free(),
			"--kafka-addr", free(), "--log-level", "warn")
		if err != nil {
			os.RemoveAll(dir)
			return "", nil, err
		}
		stop = func() {
			p.Kill()
			os.RemoveAll(dir)
		}
		err = waitHealthy(addr, 90*time.Second, p.done)
		if err == nil {
			return addr, stop, nil
		}
		out := tail(p.Output(), 50)
		p.Kill()
		if errors.Is(err, errExited) && attempt < 3 && strings.Contains(out, "address already in use") {
			continue
		}
		os.RemoveAll(dir)
		return "", nil, fmt.Errorf("strata dev: %w\n%s", err, out)
	}
}

// errExited: the process ended before it was healthy.
var errExited = errors.New("exited before it was ready")

func waitHealthy(addr string, timeout time.Duration, exited <-chan struct{}) error {
	conn, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		return err
	}
	defer conn.Close()
	h := healthpb.NewHealthClient(conn)
	deadline := time.Now().Add(timeout)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := h.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err == nil && resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
			err = fmt.Errorf("%s is %s", addr, resp.GetStatus())
		}
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("not ready within %v: %w", timeout, err)
		}
		select {
		case <-exited:
			return errExited
		case <-time.After(50 * time.Millisecond):
		}
	}
}

func tail(s string, lines int) string {
	l := strings.Split(s, "\n")
	if len(l) > lines {
		l = l[len(l)-lines:]
	}
	return strings.Join(l, "\n")
}

// Kill sends SIGKILL and waits until the process is gone.
func (p *Proc) Kill() { p.Signal(syscall.SIGKILL) }

// Signal sends sig and waits (at most 30s, then SIGKILL) for the exit.
func (p *Proc) Signal(sig syscall.Signal) {
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

// Output is what the process printed so far.
func (p *Proc) Output() string { return p.out.String() }

// WaitHealthy polls the gRPC health service at addr until SERVING.
func WaitHealthy(t testing.TB, addr string, timeout time.Duration) {
	t.Helper()
	if err := waitHealthy(addr, timeout, nil); err != nil {
		t.Fatal(err)
	}
}

// WaitFor polls f every 50ms until it returns nil or timeout passes, then
// fails the test with f's last error.
func WaitFor(t testing.TB, timeout time.Duration, f func() error) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		err := f()
		if err == nil {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %v: %v", timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Cluster is a running cluster: Addr is the gateway's gRPC address.
type Cluster struct {
	t           testing.TB
	Addr        string
	Dir         string
	Dev         *Proc   // set for Dev
	Controllers []*Proc // set for Multi
	Storage     []*Proc
	// StorageAddrs are the storage nodes' gRPC addresses, as
	// DescribeCluster reports them, in the order of Storage.
	StorageAddrs []string
	Gateway      *Proc
	gatewayArgs  []string
	controllers  string
}

// Dev starts `strata dev` (controller, storage nodes, gateway in one
// process) on free ports and waits until its gateway is ready.
func Dev(t testing.TB) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Addr: FreeAddr(t), Dir: t.TempDir()}
	c.Dev = Start(t, "strata-dev", "dev", "--data-dir", c.Dir, "--grpc-addr", c.Addr, "--http-addr", FreeAddr(t),
		"--kafka-addr", FreeAddr(t), "--log-level", "warn")
	WaitHealthy(t, c.Addr, 90*time.Second)
	return c
}

// Multi starts one controller, storage storage nodes and a gateway as
// separate processes (so one storage node can be killed) and waits until
// every one is ready.
func Multi(t testing.TB, storage int) *Cluster {
	t.Helper()
	c := &Cluster{t: t, Dir: t.TempDir()}
	grpcAddr, peer := FreeAddr(t), FreeAddr(t)
	c.controllers = grpcAddr
	c.Controllers = append(c.Controllers, Start(t, "c1", "controller", "--name", "c1", "--data-dir", filepath.Join(c.Dir, "c1"),
		"--grpc-addr", grpcAddr, "--http-addr", FreeAddr(t), "--etcd-peer-addr", peer, "--etcd-client-addr", FreeAddr(t),
		"--etcd-initial-cluster", "c1=http://"+peer, "--member-lease-ttl", "3s", "--election-ttl", "2s",
		"--group-initial-rebalance-delay", "500ms", "--log-level", "warn"))
	WaitHealthy(t, grpcAddr, 60*time.Second)
	var addrs []string
	for i := range storage {
		a := FreeAddr(t)
		addrs = append(addrs, a)
		c.Storage = append(c.Storage, Start(t, fmt.Sprintf("storage-%d", i+1), "storage",
			"--data-dir", filepath.Join(c.Dir, fmt.Sprintf("storage-%d", i+1)), "--grpc-addr", a, "--http-addr", FreeAddr(t),
			"--controllers", grpcAddr, "--replica-lag-time-max", "2s", "--log-level", "warn"))
	}
	for _, a := range addrs {
		WaitHealthy(t, a, 30*time.Second)
	}
	c.StorageAddrs = addrs
	c.Addr = FreeAddr(t)
	kafka := FreeAddr(t)
	c.gatewayArgs = []string{"gateway", "--grpc-addr", c.Addr, "--http-addr", FreeAddr(t), "--kafka-addr", kafka,
		"--advertise-kafka", kafka, "--controllers", grpcAddr, "--log-level", "warn"}
	c.Gateway = Start(t, "gateway", c.gatewayArgs...)
	WaitHealthy(t, c.Addr, 30*time.Second)
	return c
}

// RestartGateway starts the gateway of a Multi cluster again, on the same
// addresses, after it was killed; it waits until it is ready.
func (c *Cluster) RestartGateway() {
	c.t.Helper()
	c.Gateway.Kill()
	c.Gateway = Start(c.t, "gateway", c.gatewayArgs...)
	WaitHealthy(c.t, c.Addr, 30*time.Second)
}

// CLI runs a strata CLI command against the cluster's gateway and returns
// its output; it fails the test when the command fails.
func (c *Cluster) CLI(args ...string) string {
	c.t.Helper()
	bin, err := Binary()
	if err != nil {
		c.t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, append(args, "--server", c.Addr)...).CombinedOutput()
	if err != nil {
		c.t.Fatalf("strata %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}
