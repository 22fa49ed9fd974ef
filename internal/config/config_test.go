package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/spf13/pflag"
)

func newFlags() (*pflag.FlagSet, *string, *int, *[]string) {
	fs := pflag.NewFlagSet("t", pflag.ContinueOnError)
	addr := fs.String("grpc-addr", ":9191", "")
	ttl := fs.Int("lease-ttl", 10, "")
	peers := fs.StringSlice("controllers", []string{"a:1"}, "")
	fs.String("config", "", "")
	return fs, addr, ttl, peers
}

func writeFile(t *testing.T, body string) string {
	p := filepath.Join(t.TempDir(), "c.yaml")
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestPrecedenceFlagEnvFileDefault(t *testing.T) {
	fs, addr, ttl, peers := newFlags()
	path := writeFile(t, "grpc-addr: ':1'\nlease-ttl: 5\ncontrollers: [x:1, y:2]\n")
	if err := fs.Parse([]string{"--grpc-addr", ":3"}); err != nil {
		t.Fatal(err)
	}
	t.Setenv("STRATA_LEASE_TTL", "7")
	if err := Load(fs, path); err != nil {
		t.Fatal(err)
	}
	if *addr != ":3" || *ttl != 7 || strings.Join(*peers, ",") != "x:1,y:2" {
		t.Fatalf("got addr=%s ttl=%d peers=%v", *addr, *ttl, *peers)
	}
}

func TestUnknownAndBadFieldsAreEachReported(t *testing.T) {
	fs, _, _, _ := newFlags()
	path := writeFile(t, "grpc-adr: ':1'\nlease-ttl: soon\n")
	err := Load(fs, path)
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{`unknown field "grpc-adr"`, "lease-ttl"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %q", err, want)
		}
	}
}

func TestProblems(t *testing.T) {
	var p Problems
	p.Addr("grpc-addr", "nonsense")
	p.Addr("http-addr", "127.0.0.1:8080")
	p.Addf("lease-ttl", "must be positive")
	err := p.Err()
	if err == nil || strings.Count(err.Error(), "\n") != 2 || !strings.Contains(err.Error(), "grpc-addr") {
		t.Fatalf("err = %v", err)
	}
}
