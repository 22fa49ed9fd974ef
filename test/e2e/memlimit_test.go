package e2e

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
)

// A role started with --memory-limit-mib runs under that soft memory limit
// with GOGC off (the limit is its only collection trigger), as the Go
// collector reports them; a negative limit is refused with the flag's name.
func TestRoleMemoryLimitFlag(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1, storageArgs: []string{"--memory-limit-mib", "64"}})
	n := c.storage[0]
	testutil.WaitFor(t, 10*time.Second, func() error {
		resp, err := http.Get("http://" + flagValue(n.args, "--http-addr") + "/metrics")
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if !regexp.MustCompile(`(?m)^go_gc_gomemlimit_bytes 6\.7108864e\+07$`).Match(body) {
			return fmt.Errorf("no 64 MiB memory limit in the storage node's metrics")
		}
		if !regexp.MustCompile(`(?m)^go_gc_gogc_percent 1\.8446744073709552e\+19$`).Match(body) {
			return fmt.Errorf("GOGC is not off in the storage node's metrics")
		}
		return nil
	})
	_, errOut, code := cli(t, "gateway", "--memory-limit-mib", "-1")
	if code == 0 || !strings.Contains(errOut, "memory-limit-mib") {
		t.Fatalf("gateway with --memory-limit-mib -1: exit %d, %q", code, errOut)
	}
}
