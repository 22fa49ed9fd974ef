package httpserver

import (
	"net/http"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func get(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// Profiles are served only when STRATA_PPROF=1 asks for them.
func TestProfilesOnlyWhenAskedFor(t *testing.T) {
	for _, tc := range []struct {
		env  string
		want int
	}{{"", http.StatusNotFound}, {"1", http.StatusOK}} {
		t.Setenv("STRATA_PPROF", tc.env)
		s, err := Start("127.0.0.1:0", prometheus.NewRegistry(), func() error { return nil }, nil)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Stop(time.Second) })
		if got := get(t, "http://"+s.Addr()+"/debug/pprof/"); got != tc.want {
			t.Errorf("STRATA_PPROF=%q: /debug/pprof/ answered %d, want %d", tc.env, got, tc.want)
		}
		if got := get(t, "http://"+s.Addr()+"/healthz"); got != http.StatusOK {
			t.Errorf("/healthz answered %d", got)
		}
	}
}
