package controller

import (
	"testing"

	"github.com/spf13/pflag"
)

// The consumer-protocol flags are checked at startup.
func TestConsumerGroupConfigValidation(t *testing.T) {
	for _, args := range [][]string{
		{"--consumer-group-session-timeout", "0s"},
		{"--consumer-group-heartbeat-interval", "45s"},
		{"--consumer-group-heartbeat-interval", "-1s"},
		{"--consumer-group-assignors", "sticky"},
		{"--consumer-group-assignors", ""},
		{"--consumer-group-migration-policy", "sideways"},
	} {
		var cfg Config
		fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
		cfg.RegisterFlags(fs)
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		if err := cfg.Validate(); err == nil {
			t.Errorf("%v: valid, want an error", args)
		}
	}
	var cfg Config
	fs := pflag.NewFlagSet("controller", pflag.ContinueOnError)
	cfg.RegisterFlags(fs)
	if err := fs.Parse([]string{"--consumer-group-assignors", "range,uniform", "--consumer-group-session-timeout", "6s", "--consumer-group-heartbeat-interval", "500ms"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil {
		t.Errorf("valid consumer group flags: %v", err)
	}
	if cc := cfg.consumerGroups(); cc.Assignors[0] != "range" || cc.SessionTimeout.Seconds() != 6 || cc.MigrationPolicy != "bidirectional" {
		t.Errorf("consumer config %+v", cc)
	}
	if err := fs.Parse([]string{"--consumer-group-migration-policy", "disabled"}); err != nil {
		t.Fatal(err)
	}
	if err := cfg.Validate(); err != nil || cfg.consumerGroups().MigrationPolicy != "disabled" {
		t.Errorf("--consumer-group-migration-policy disabled: %v, %+v", err, cfg.consumerGroups())
	}
}
