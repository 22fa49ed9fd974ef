package rpc

import (
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"

	"github.com/strata-io/strata/internal/limits"
)

// A Strata client's first frames announce its receive windows: the
// stream's in SETTINGS, the connection's as a WINDOW_UPDATE of stream 0
// above HTTP/2's initial 65,535 bytes.
func TestDialAnnouncesWindows(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	conn, err := Dial(ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.Connect()
	_ = ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	peer, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer peer.Close()
	_ = peer.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadFull(peer, make([]byte, len(http2.ClientPreface))); err != nil {
		t.Fatal(err)
	}
	fr := http2.NewFramer(nil, peer)
	want := map[string]uint32{"stream": limits.GRPCStreamWindowBytes, "connection": limits.GRPCConnWindowBytes}
	got := map[string]uint32{}
	for len(got) < len(want) {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("windows seen %v: %v", got, err)
		}
		if s, ok := f.(*http2.SettingsFrame); ok {
			if v, ok := s.Value(http2.SettingInitialWindowSize); ok {
				got["stream"] = v
			}
		}
		if w, ok := f.(*http2.WindowUpdateFrame); ok && w.StreamID == 0 {
			got["connection"] = 65535 + w.Increment
		}
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s window %d, want %d", k, got[k], v)
		}
	}
}
