package kafka

import (
	"context"
	"encoding/binary"
	"testing"

	"github.com/twmb/franz-go/pkg/kmsg"
)

// frame encodes a request as a client does, without the size prefix.
func frame(req kmsg.Request, corr int32) []byte {
	b := binary.BigEndian.AppendUint16(nil, uint16(req.Key()))
	b = binary.BigEndian.AppendUint16(b, uint16(req.GetVersion()))
	b = binary.BigEndian.AppendUint32(b, uint32(corr))
	b = binary.BigEndian.AppendUint16(b, 4)
	b = append(b, "test"...)
	if req.IsFlexible() {
		b = append(b, 0)
	}
	return req.AppendTo(b)
}

// Every served API decodes at its lowest and highest version.
func TestParseEveryServedVersion(t *testing.T) {
	for _, a := range servedAPIs() {
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			got, err := parseRequest(frame(req, 7))
			if err != nil || got.body == nil || got.corr != 7 || got.clientID != "test" {
				t.Errorf("%s v%d: %v %+v", apiName(a.key), v, err, got)
			}
		}
	}
}

// Unknown versions of ApiVersions get UNSUPPORTED_VERSION with a v0 body.
func TestAPIVersionsTooNew(t *testing.T) {
	req := kmsg.NewPtrApiVersionsRequest()
	req.SetVersion(4)
	r, err := parseRequest(frame(req, 1))
	if err != nil || r.body != nil {
		t.Fatalf("parse: %v %+v", err, r)
	}
	s := &Server{}
	resp, err := s.dispatch(context.Background(), r)
	if err != nil {
		t.Fatal(err)
	}
	out := encodeResponse(r, resp)
	var back kmsg.ApiVersionsResponse
	back.SetVersion(0)
	if err := back.ReadFrom(out[8:]); err != nil || back.ErrorCode != 35 || len(back.ApiKeys) != len(apis) {
		t.Fatalf("decoded %v %+v", err, back)
	}
	// The registry never advertises what must not be: topic-id Fetch,
	// Produce v12+, share-group keys, KIP-890 transaction versions.
	for _, k := range back.ApiKeys {
		switch {
		case k.ApiKey == 0 && k.MaxVersion > 11, k.ApiKey == 1 && k.MaxVersion > 12,
			k.ApiKey >= 76 && k.ApiKey <= 79,
			k.ApiKey == 22 && k.MaxVersion > 4, k.ApiKey == 24 && k.MaxVersion > 3, k.ApiKey == 25 && k.MaxVersion > 3,
			k.ApiKey == 26 && k.MaxVersion > 3, k.ApiKey == 28 && k.MaxVersion > 3:
			t.Errorf("advertised %s v%d–%d", apiName(k.ApiKey), k.MinVersion, k.MaxVersion)
		}
	}
}

// FuzzParseRequest feeds arbitrary frames to the decoder: it may refuse
// them, never panic.
func FuzzParseRequest(f *testing.F) {
	for _, a := range servedAPIs() {
		for _, v := range []int16{a.min, a.max} {
			req := kmsg.RequestForKey(a.key)
			req.SetVersion(v)
			f.Add(frame(req, 1))
		}
	}
	f.Add([]byte{0, 3, 0, 9, 0, 0, 0, 1, 255, 255, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := parseRequest(b)
		if err == nil && r.body != nil {
			_ = r.body.AppendTo(nil)
		}
	})
}
