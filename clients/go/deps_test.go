package strata_test

import (
	"os/exec"
	"strings"
	"testing"
)

// TestNoServerDependencies keeps the client module light: `go get` of it
// must pull nothing of the server (its module, etcd, franz-go, Prometheus).
func TestNoServerDependencies(t *testing.T) {
	out, err := exec.Command("go", "list", "-m", "all").CombinedOutput()
	if err != nil {
		t.Fatalf("go list -m all: %v\n%s", err, out)
	}
	forbidden := []string{"go.etcd.io/", "github.com/twmb/franz-go", "github.com/prometheus/"}
	for _, line := range strings.Split(string(out), "\n") {
		mod := strings.Fields(line)
		if len(mod) == 0 {
			continue
		}
		if mod[0] == "github.com/strata-io/strata" {
			t.Errorf("the client module depends on the server module: %s", line)
		}
		for _, f := range forbidden {
			if strings.HasPrefix(mod[0], f) {
				t.Errorf("the client module depends on %s", line)
			}
		}
	}
}
