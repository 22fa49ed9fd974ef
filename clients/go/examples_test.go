package strata_test

import (
	"context"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExamplePrograms builds the programs in examples/ and runs them, as
// their doc comments say, against strata dev: admin creates a topic,
// produce writes to it, consume reads it in a group, and admin then shows
// the group with no lag.
func TestExamplePrograms(t *testing.T) {
	addr := needDev(t)
	dir := t.TempDir()
	for _, ex := range []string{"admin", "produce", "consume"} {
		out, err := exec.Command("go", "build", "-o", filepath.Join(dir, ex), "./examples/"+ex).CombinedOutput()
		if err != nil {
			t.Fatalf("build examples/%s: %v\n%s", ex, err, out)
		}
	}
	run := func(name string, args ...string) string {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, filepath.Join(dir, name), append([]string{"-server", addr}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("%s %v: %v\n%s", name, args, err, out)
		}
		return string(out)
	}
	topic, group := "examples-orders", "examples-billing"
	if out := run("admin", "-topic", topic, "-partitions", "3"); !strings.Contains(out, "created topic "+topic) ||
		!strings.Contains(out, "3 partitions") {
		t.Fatalf("admin:\n%s", out)
	}
	if out := run("produce", "-topic", topic, "-n", "500"); !strings.Contains(out, "wrote 500 records to "+topic+" (0 failed)") {
		t.Fatalf("produce:\n%s", out)
	}
	if out := run("consume", "-topic", topic, "-group", group, "-n", "500"); !strings.Contains(out, "read 500 records of "+topic) {
		t.Fatalf("consume:\n%s", out)
	}
	if out := run("admin", "-topic", topic, "-group", group); !strings.Contains(out, "topic "+topic+" exists") ||
		!strings.Contains(out, "total lag 0") {
		t.Fatalf("admin after consuming:\n%s", out)
	}
}
