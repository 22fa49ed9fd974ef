package strata

import (
	"context"
	"io"
	"net"
	"testing"
	"time"

	"golang.org/x/net/http2"
)

// The client announces receive windows that let the gateway send a
// Consume stream's credit without waiting on flow control: SETTINGS
// carries the stream window and a WINDOW_UPDATE on the connection raises
// its window, as the first frames a gateway sees.
func TestClientAnnouncesLargeWindows(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	c, err := NewClient(context.Background(), ln.Addr().String(), WithoutReadyWait())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	c.conn.Connect()
	ln.(*net.TCPListener).SetDeadline(time.Now().Add(10 * time.Second))
	conn, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	preface := make([]byte, len(http2.ClientPreface))
	if _, err := io.ReadFull(conn, preface); err != nil || string(preface) != http2.ClientPreface {
		t.Fatalf("preface %q: %v", preface, err)
	}
	fr := http2.NewFramer(nil, conn)
	var stream uint32
	var connIncrement uint32
	for stream == 0 || connIncrement == 0 {
		f, err := fr.ReadFrame()
		if err != nil {
			t.Fatalf("after stream window %d, connection increment %d: %v", stream, connIncrement, err)
		}
		switch f := f.(type) {
		case *http2.SettingsFrame:
			if v, ok := f.Value(http2.SettingInitialWindowSize); ok {
				stream = v
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				connIncrement = f.Increment
			}
		}
	}
	if stream != streamWindowBytes {
		t.Errorf("stream window %d, want %d", stream, streamWindowBytes)
	}
	// A connection starts with HTTP/2's 65,535 bytes.
	if got := connIncrement + 65535; got != connWindowBytes {
		t.Errorf("connection window %d, want %d", got, connWindowBytes)
	}
}
