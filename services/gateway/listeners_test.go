package gateway

import (
	"strings"
	"testing"

	"github.com/strata-io/strata/services/gateway/kafka"
)

func TestParseListeners(t *testing.T) {
	got, err := parseListeners(
		[]string{"PLAINTEXT://127.0.0.1:9092", "client://:9094", "SASL_SSL://:9093"},
		[]string{"CLIENT://kafka.example.com:9094"},
		[]string{"CLIENT:sasl_ssl"})
	if err != nil {
		t.Fatal(err)
	}
	want := []listenerSpec{
		{name: "PLAINTEXT", protocol: kafka.Plaintext, addr: "127.0.0.1:9092"},
		{name: "CLIENT", protocol: kafka.SASLSSL, addr: ":9094", advertise: "kafka.example.com:9094"},
		{name: "SASL_SSL", protocol: kafka.SASLSSL, addr: ":9093"},
	}
	if len(got) != len(want) {
		t.Fatalf("%+v", got)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("listener %d: %+v, want %+v", i, got[i], want[i])
		}
	}
	for _, tc := range []struct {
		listeners, advertised, protocols []string
		want                             string
	}{
		{[]string{"127.0.0.1:9092"}, nil, nil, "not NAME://host:port"},
		{[]string{"PLAINTEXT://nohost"}, nil, nil, "missing port"},
		{[]string{"CLIENT://:1"}, nil, nil, "no protocol"},
		{[]string{"PLAINTEXT://:1", "PLAINTEXT://:2"}, nil, nil, "named twice"},
		{[]string{"PLAINTEXT://:1"}, []string{"SSL://h:1"}, nil, "not in --kafka-listeners"},
		{[]string{"X://:1"}, nil, []string{"X:KERBEROS"}, "unknown security protocol"},
	} {
		if _, err := parseListeners(tc.listeners, tc.advertised, tc.protocols); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v %v: %v, want %q", tc.listeners, tc.advertised, tc.protocols, err, tc.want)
		}
	}
}

func TestValidateTLSListenerNeedsCertificate(t *testing.T) {
	var c Config
	c.KafkaListeners = []string{"SASL_SSL://:9093"}
	if err := c.Validate(); err == nil || !strings.Contains(err.Error(), "needs the --tls-* block") {
		t.Fatalf("%v", err)
	}
}
