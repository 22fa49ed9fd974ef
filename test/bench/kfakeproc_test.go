package bench

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kfake"
)

// serveKfakeEnv makes the benchmark binary serve a kfake cluster instead
// of running benchmarks: a broker in its own process, as Strata's are.
const serveKfakeEnv = "STRATA_BENCH_SERVE_KFAKE"

func TestMain(m *testing.M) {
	if os.Getenv(serveKfakeEnv) != "" {
		os.Exit(serveKfake())
	}
	os.Exit(m.Run())
}

// serveKfake runs a three-broker kfake cluster, prints its first address
// and serves until stdin closes (the benchmark ended or died).
func serveKfake() int {
	c, err := kfake.NewCluster(kfake.NumBrokers(3))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer c.Close()
	fmt.Println("kfake", c.ListenAddrs()[0])
	_, _ = io.Copy(io.Discard, os.Stdin)
	return 0
}

// startKfakeProc runs kfake in a child process and returns its address.
func startKfakeProc(b *testing.B) string {
	b.Helper()
	exe, err := os.Executable()
	if err != nil {
		b.Fatal(err)
	}
	cmd := exec.Command(exe)
	cmd.Env = append(os.Environ(), serveKfakeEnv+"=1")
	cmd.Stderr = os.Stderr
	stdin, err := cmd.StdinPipe()
	if err != nil {
		b.Fatal(err)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		b.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() {
		_ = stdin.Close()
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if addr, ok := strings.CutPrefix(sc.Text(), "kfake "); ok {
			return addr
		}
	}
	b.Fatal("kfake child exited before it was up")
	return ""
}
