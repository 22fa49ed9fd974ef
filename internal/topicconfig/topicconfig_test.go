package topicconfig

import (
	"fmt"
	"math"
	"strconv"
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

// outside returns values just past each end of an integer spec's range,
// as strings: past MaxInt64 is a number that does not parse as int64.
func outside(s Spec) []string {
	below := strconv.FormatInt(s.Min-1, 10)
	above := strconv.FormatInt(s.Max+1, 10)
	if s.Max == math.MaxInt64 {
		above = "9223372036854775808"
	}
	return []string{below, above}
}

func TestIntegerRanges(t *testing.T) {
	n := 0
	for _, s := range All() {
		if !s.Integer {
			continue
		}
		n++
		rng := fmt.Sprintf("[%d, %d]", s.Min, s.Max)
		for _, v := range []int64{s.Min, s.Max} {
			if err := Validate(map[string]string{s.Name: strconv.FormatInt(v, 10)}); err != nil {
				t.Errorf("%s=%d refused: %v", s.Name, v, err)
			}
			if err := CheckInt(s.Name, v); err != nil {
				t.Errorf("CheckInt(%s, %d): %v", s.Name, v, err)
			}
		}
		for _, v := range append(outside(s), "12x", "") {
			err := Validate(map[string]string{s.Name: v})
			if err == nil {
				t.Errorf("%s=%s accepted", s.Name, v)
				continue
			}
			if msg := err.Error(); !strings.HasPrefix(msg, s.Name+": ") || !strings.Contains(msg, rng) {
				t.Errorf("%s=%s: error %q does not name the key and %s", s.Name, v, msg, rng)
			}
		}
		if s.Min > math.MinInt64 {
			if err := CheckInt(s.Name, s.Min-1); err == nil || !strings.Contains(err.Error(), rng) {
				t.Errorf("CheckInt(%s, %d) = %v", s.Name, s.Min-1, err)
			}
		}
	}
	if n < 14 {
		t.Errorf("only %d integer configs", n)
	}
}

func TestSegmentIndexBytesMessage(t *testing.T) {
	err := Validate(map[string]string{"segment.index.bytes": "8"})
	want := fmt.Sprintf("segment.index.bytes: 8 is outside [48, %d]", MaxSegmentIndexBytes)
	if err == nil || err.Error() != want {
		t.Fatalf("got %v, want %s", err, want)
	}
}

func TestOtherConfigs(t *testing.T) {
	for k, vs := range map[string][2][]string{
		"min.cleanable.dirty.ratio":      {{"0", "1", "0.5", "0.01"}, {"-0.1", "1.01", "NaN", "x"}},
		"compression.type":               {{"producer"}, {"gzip", "zstd", "uncompressed", ""}},
		"message.timestamp.type":         {{"CreateTime", "LogAppendTime"}, {"createtime", ""}},
		"cleanup.policy":                 {{"delete", "compact", "compact,delete", "delete,compact"}, {"compact,compact", "none"}},
		"unclean.leader.election.enable": {{"true", "false"}, {"yes"}},
	} {
		for _, v := range vs[0] {
			if err := Check(k, v); err != nil {
				t.Errorf("%s=%q: %v", k, v, err)
			}
		}
		for _, v := range vs[1] {
			if err := Check(k, v); err == nil || !strings.HasPrefix(err.Error(), k+": ") {
				t.Errorf("%s=%q: %v", k, v, err)
			}
		}
	}
	if err := Check("compression.type", "gzip"); !strings.Contains(err.Error(), "recompression is not supported") {
		t.Error(err)
	}
}
