package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
)

func TestDevClusterRestartKeepsTopicsAndStopsCleanly(t *testing.T) {
	dir := t.TempDir()
	grpcAddr, httpAddr := testutil.FreeAddr(t), testutil.FreeAddr(t)
	args := []string{"dev", "--data-dir", dir, "--grpc-addr", grpcAddr, "--http-addr", httpAddr, "--kafka-addr", testutil.FreeAddr(t)}

	dev := start(t, "dev", args...)
	waitHealthy(t, grpcAddr, 60*time.Second)
	if !strings.Contains(dev.output(), grpcAddr) {
		t.Errorf("dev did not print its gRPC endpoint: %q", dev.output())
	}
	resp, err := http.Get("http://" + httpAddr + "/readyz")
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("/readyz: %v %v", resp, err)
	}
	resp.Body.Close()
	metrics, err := http.Get("http://" + httpAddr + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(metrics.Body)
	metrics.Body.Close()
	if !strings.Contains(string(body), "grpc_server_handled_total") {
		t.Errorf("/metrics lacks gRPC server metrics")
	}

	mustCLI(t, "topic", "create", "orders", "--partitions", "6", "--replication-factor", "3", "--server", grpcAddr)
	var before topicInfo
	cliJSON(t, &before, "topic", "describe", "orders", "--server", grpcAddr)
	leaders := map[int32]bool{}
	for _, p := range before.Partitions {
		leaders[p.Leader] = true
	}
	if len(before.Partitions) != 6 || len(leaders) != 3 {
		t.Fatalf("6 partitions with leaders on all 3 nodes expected: %+v", before)
	}

	dev.signal(syscall.SIGINT)
	if code := dev.cmd.ProcessState.ExitCode(); code != 0 {
		t.Fatalf("dev exited %d after Ctrl-C", code)
	}
	for _, bad := range []string{"level=ERROR", "level=WARN", "panic"} {
		if strings.Contains(dev.output(), bad) {
			t.Errorf("clean shutdown printed %q:\n%s", bad, dev.output())
		}
	}

	dev = start(t, "dev-restarted", args...)
	waitHealthy(t, grpcAddr, 60*time.Second)
	var after topicInfo
	cliJSON(t, &after, "topic", "describe", "orders", "--server", grpcAddr)
	if fmt.Sprint(after.Partitions) != fmt.Sprint(before.Partitions) {
		t.Fatalf("topic changed across restart:\nbefore %+v\nafter  %+v", before.Partitions, after.Partitions)
	}
	var cl clusterInfo
	cliJSON(t, &cl, "cluster", "describe", "--server", grpcAddr)
	if len(cl.StorageNodes) != 3 {
		t.Fatalf("restart registered new storage nodes instead of keeping ids: %+v", cl.StorageNodes)
	}
	for _, n := range cl.StorageNodes {
		if n.State != "alive" {
			t.Errorf("node %d is %s after restart", n.ID, n.State)
		}
	}
	dev.signal(syscall.SIGINT)
}

func TestBadConfigFileNamesEveryBadField(t *testing.T) {
	path := filepath.Join(t.TempDir(), "storage.yaml")
	body := "grpc-addr: nonsense\ncontrollers: []\nrack: r1\nunknown-key: 1\n"
	if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code := cli(t, "storage", "--config", path, "--data-dir", t.TempDir())
	if code == 0 {
		t.Fatal("storage started with a bad config")
	}
	if !strings.Contains(errOut, `unknown field "unknown-key"`) {
		t.Errorf("error does not name the unknown field: %q", errOut)
	}

	if err := os.WriteFile(path, []byte("grpc-addr: nonsense\ncontrollers: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, errOut, code = cli(t, "storage", "--config", path, "--data-dir", t.TempDir())
	if code == 0 {
		t.Fatal("storage started with a bad config")
	}
	for _, want := range []string{"grpc-addr", "controllers"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("error does not name %s: %q", want, errOut)
		}
	}

	// An environment variable overrides the file.
	cmdOut, errOut, code := cliEnv(t, []string{"STRATA_GRPC_ADDR=also-bad"}, "gateway", "--config", path)
	if code == 0 || !strings.Contains(errOut, `"also-bad"`) {
		t.Errorf("STRATA_GRPC_ADDR did not override the file: %q %q", cmdOut, errOut)
	}
}
