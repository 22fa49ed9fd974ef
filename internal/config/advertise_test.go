package config

import (
	"net"
	"testing"
)

func TestAdvertiseOwnIP(t *testing.T) {
	if got := Advertise("s1:9290", "0.0.0.0:9290"); got != "s1:9290" {
		t.Fatalf("explicit: %s", got)
	}
	got := Advertise(":9290", "0.0.0.0:1234")
	host, port, err := net.SplitHostPort(got)
	if err != nil || port != "9290" || host == "" {
		t.Fatalf(":9290 advertised as %q", got)
	}
	if ip := ownIP(); ip != "" && host != ip {
		t.Fatalf("advertised %s, own IP %s", got, ip)
	}
}
