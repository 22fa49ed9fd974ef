package topicconfig

import (
	"strings"
	"testing"
)

func TestValidateName(t *testing.T) {
	good := []string{"orders", "a", "A.b_c-9", strings.Repeat("x", 249)}
	bad := []string{"", ".", "..", strings.Repeat("x", 250), "has space", "slash/", "ünï"}
	for _, n := range good {
		if err := ValidateName(n); err != nil {
			t.Errorf("%q: %v", n, err)
		}
	}
	for _, n := range bad {
		if err := ValidateName(n); err == nil {
			t.Errorf("%q accepted", n)
		}
	}
}

func TestValidateConfigs(t *testing.T) {
	if err := Validate(map[string]string{"retention.ms": "1000", "cleanup.policy": "compact,delete"}); err != nil {
		t.Fatal(err)
	}
	err := Validate(map[string]string{"retention.mss": "1", "min.insync.replicas": "0", "cleanup.policy": "never"})
	for _, want := range []string{`unknown config "retention.mss"`, "min.insync.replicas", "cleanup.policy"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not mention %s", err, want)
		}
	}
}

func TestDefaultsAreValid(t *testing.T) {
	for _, s := range All() {
		if err := s.Validate(s.Default); err != nil {
			t.Errorf("%s default %q: %v", s.Name, s.Default, err)
		}
	}
}
