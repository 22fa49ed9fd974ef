package rest

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	streamv1 "github.com/strata-io/strata/api/strata/stream/v1"
	restv1 "github.com/strata-io/strata/gen/strata/rest/v1"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
)

// fakeConn answers StreamService.Produce with one result per record and
// remembers each call; any other call fails.
type fakeConn struct {
	mu    sync.Mutex
	calls []proto.Message
}

func (f *fakeConn) Invoke(_ context.Context, method string, args, reply any, _ ...grpc.CallOption) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls = append(f.calls, proto.Clone(args.(proto.Message)))
	if method != "/strata.stream.v1.StreamService/Produce" {
		return errors.New("unexpected call " + method)
	}
	resp := reply.(*streamv1.ProduceResponse)
	for i := range args.(*streamv1.ProduceRequest).GetRecords() {
		resp.Results = append(resp.Results, &streamv1.ProduceResult{Offset: int64(i)})
	}
	return nil
}

func (f *fakeConn) NewStream(context.Context, *grpc.StreamDesc, string, ...grpc.CallOption) (grpc.ClientStream, error) {
	return nil, errors.New("no streams")
}

func (f *fakeConn) produced(t *testing.T) []*streamv1.ProduceRequest {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []*streamv1.ProduceRequest
	for _, c := range f.calls {
		out = append(out, c.(*streamv1.ProduceRequest))
	}
	return out
}

func newServer(t *testing.T, maxBody int64) (*httptest.Server, *fakeConn) {
	t.Helper()
	conn := &fakeConn{}
	h, err := New(Config{Conn: conn, Partitions: func(string) (int32, bool) { return 3, true }, MaxBodyBytes: maxBody})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	return srv, conn
}

func post(t *testing.T, url string, body io.Reader) (int, string) {
	t.Helper()
	resp, err := http.Post(url, "application/json", body)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	out, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(out)
}

// The three forms become the bytes Produce gets: text as UTF-8, binary
// decoded, JSON compact with sorted keys and no HTML escaping; unset is
// nil and a set empty form is empty, not nil.
func TestProduceConvertsForms(t *testing.T) {
	srv, conn := newServer(t, 0)
	code, out := post(t, srv.URL+"/v1/topics/t/records", strings.NewReader(`{"acks": "ACKS_LEADER", "records": [
	  {"partition": 1, "key": {"text": "k"}, "value": {"json": {"b": [1, 2.5, "<&>"], "a": null}},
	   "headers": [{"key": "h", "value": {"binary": "AP8="}}, {"key": "n"}]},
	  {"key": {"text": ""}, "value": {"binary": ""}},
	  {}
	]}`))
	if code != http.StatusOK {
		t.Fatalf("HTTP %d: %s", code, out)
	}
	calls := conn.produced(t)
	if len(calls) != 1 {
		t.Fatalf("%d Produce calls", len(calls))
	}
	req := calls[0]
	if req.GetTopic() != "t" || req.GetAcks() != streamv1.Acks_ACKS_LEADER || len(req.GetRecords()) != 3 {
		t.Fatalf("request %v", req)
	}
	r0, r1, r2 := req.GetRecords()[0], req.GetRecords()[1], req.GetRecords()[2]
	if r0.GetPartition() != 1 || string(r0.Key) != "k" || string(r0.Value) != `{"b":[1,2.5,"<&>"],"a":null}` {
		t.Fatalf("record 0: key %q value %q", r0.Key, r0.Value)
	}
	if len(r0.Headers) != 2 || string(r0.Headers[0].Value) != "\x00\xff" || r0.Headers[1].Value != nil {
		t.Fatalf("record 0 headers %v", r0.Headers)
	}
	if r1.Key == nil || len(r1.Key) != 0 || r1.Value == nil || len(r1.Value) != 0 || r1.Partition != nil {
		t.Fatalf("record 1: key %q (nil %v) value %q (nil %v)", r1.Key, r1.Key == nil, r1.Value, r1.Value == nil)
	}
	if r2.Key != nil || r2.Value != nil {
		t.Fatalf("record 2: key %q value %q, want null", r2.Key, r2.Value)
	}
}

// A body over the limit is 413 with a JSON status, with or without a
// length, and no call is made; bad JSON is 400 with an ErrorDetail.
func TestBodyLimitAndBadJSON(t *testing.T) {
	srv, conn := newServer(t, 1024)
	big := `{"records": [{"value": {"text": "` + strings.Repeat("x", 2000) + `"}}]}`
	for name, body := range map[string]io.Reader{
		"with length":    strings.NewReader(big),
		"without length": io.MultiReader(strings.NewReader(big)),
	} {
		code, out := post(t, srv.URL+"/v1/topics/t/records", body)
		var st struct {
			Code    int
			Details []struct{ Code string }
		}
		if err := json.Unmarshal([]byte(out), &st); err != nil || code != http.StatusRequestEntityTooLarge ||
			len(st.Details) != 1 || st.Details[0].Code != "ERROR_CODE_MESSAGE_TOO_LARGE" {
			t.Fatalf("%s: HTTP %d: %s (%v)", name, code, out, err)
		}
	}
	for _, body := range []string{`{"records": [`, `{"records": [{"value": {"binary": "!"}}]}`, `{"records": [{"x": 1}]}`, `{"records": [{"value": {}}]}`} {
		code, out := post(t, srv.URL+"/v1/topics/t/records", strings.NewReader(body))
		if code != http.StatusBadRequest || !strings.Contains(out, "ERROR_CODE_INVALID_REQUEST") {
			t.Fatalf("%s: HTTP %d: %s", body, code, out)
		}
	}
	if calls := conn.produced(t); len(calls) != 0 {
		t.Fatalf("bad requests made %d calls", len(calls))
	}
	// Just under the limit is served.
	code, out := post(t, srv.URL+"/v1/topics/t/records", strings.NewReader(`{"records": [{"value": {"text": "`+strings.Repeat("y", 900)+`"}}]}`))
	if code != http.StatusOK {
		t.Fatalf("under the limit: HTTP %d: %s", code, out)
	}
}

func TestOpenAPIServed(t *testing.T) {
	srv, _ := newServer(t, 0)
	resp, err := http.Get(srv.URL + "/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var doc struct {
		Swagger string
		Paths   map[string]any
	}
	if err := json.NewDecoder(resp.Body).Decode(&doc); err != nil || doc.Swagger != "2.0" {
		t.Fatalf("openapi.json: %v, version %q", err, doc.Swagger)
	}
	for _, p := range []string{"/v1/topics/{topic}/records", "/v1/topics/{topic}/partitions/{partition}/records", "/v1/cluster", "/v1/groups"} {
		if doc.Paths[p] == nil {
			t.Errorf("openapi.json lacks %s", p)
		}
	}
}

// toData picks the asked form and falls back: json → text → binary.
func TestToData(t *testing.T) {
	cases := []struct {
		in     []byte
		format string
		want   string
	}{
		{[]byte("hi"), "", "binary"},
		{[]byte("hi"), "text", "text"},
		{[]byte("hi"), "json", "text"},
		{[]byte(`{"a":1}`), "json", "json"},
		{[]byte(`{"a":1}`), "text", "text"},
		{[]byte{0xff}, "text", "binary"},
		{[]byte{0xff}, "json", "binary"},
	}
	for _, c := range cases {
		d := toData(c.in, c.format)
		var got string
		switch d.GetKind().(type) {
		case *restv1.Data_Text:
			got = "text"
		case *restv1.Data_Binary:
			got = "binary"
		case *restv1.Data_Json:
			got = "json"
		}
		if got != c.want {
			t.Errorf("toData(%q, %q) is %s, want %s", c.in, c.format, got, c.want)
		}
		back, err := dataBytes(d)
		if err != nil || (c.want != "json" && string(back) != string(c.in)) {
			t.Errorf("dataBytes(toData(%q, %q)) = %q, %v", c.in, c.format, back, err)
		}
	}
	if toData(nil, "text") != nil {
		t.Error("toData(nil) is not nil")
	}
	b, err := jsonBytes(structpb.NewStringValue("a<b"))
	if err != nil || string(b) != `"a<b"` {
		t.Errorf(`jsonBytes("a<b") = %s, %v`, b, err)
	}
}

// A body of too many JSON values is refused before it is decoded, however
// few bytes it has.
func TestBodyValuesBounded(t *testing.T) {
	for _, c := range []struct {
		in   string
		want int
	}{
		{`{}`, 2}, {`{"a": [1, 2, {"b": "x,{["}]}`, 6}, {`"\",{"`, 1}, {`["\\", 1]`, 3},
	} {
		if got := jsonValues([]byte(c.in), 100); got != c.want {
			t.Errorf("jsonValues(%s) = %d, want %d", c.in, got, c.want)
		}
	}
	srv, conn := newServer(t, 0)
	body := `{"records": [{"value": {"json": [` + strings.Repeat("1,", MaxBodyValues) + `1]}}]}`
	code, out := post(t, srv.URL+"/v1/topics/t/records", strings.NewReader(body))
	if code != http.StatusRequestEntityTooLarge || !strings.Contains(out, "ERROR_CODE_MESSAGE_TOO_LARGE") {
		t.Fatalf("HTTP %d: %.300s", code, out)
	}
	if calls := conn.produced(t); len(calls) != 0 {
		t.Fatalf("%d calls", len(calls))
	}
}

// JSON values are stored as sent, less whitespace: key order, big numbers
// and escapes kept; a body the scan does not follow is left to protojson.
func TestInlineJSON(t *testing.T) {
	for _, c := range []struct{ in, want string }{
		{`{"records": [{"value": {"json": {"z": 12345678901234567890, "a": [1.50, "x,}"]}}}]}`,
			`{"z":12345678901234567890,"a":[1.50,"x,}"]}`},
		{`{"acks": "ACKS_ALL", "records": [{"key": {"json": "k\"}"}, "headers": [{"key": "h", "value": {"json": null}}], "value": {"text": "t"}}]}`,
			`"k\"}"|null`},
		{`{"records": [{"value": {"json": true}}, {"value": {"json": -0.5e3}}]}`, `true|-0.5e3`},
	} {
		var req restv1.ProduceRecordsRequest
		if err := jsonMarshaler.NewDecoder(strings.NewReader(c.in)).Decode(&req); err != nil {
			t.Fatalf("%s: %v", c.in, err)
		}
		var got []string
		for _, r := range req.GetRecords() {
			for _, d := range []*restv1.Data{r.GetKey(), r.GetValue()} {
				if b := d.GetBinary(); b != nil {
					got = append(got, string(b))
				}
			}
			for _, h := range r.GetHeaders() {
				got = append(got, string(h.GetValue().GetBinary()))
			}
		}
		if strings.Join(got, "|") != c.want {
			t.Errorf("%s: stored %s, want %s", c.in, strings.Join(got, "|"), c.want)
		}
	}
	// Bodies the scan leaves alone decode (or fail) as protojson says.
	for _, in := range []string{`{"records": [{"value": {"json": [1, 2}}]}`, `{"records": [{"value": {"json": }}]}`, `{"records": 3}`} {
		var req restv1.ProduceRecordsRequest
		if err := jsonMarshaler.NewDecoder(strings.NewReader(in)).Decode(&req); err == nil {
			t.Errorf("%s decoded", in)
		}
	}
	var req restv1.ProduceRecordsRequest
	if err := jsonMarshaler.NewDecoder(strings.NewReader(`{"records": [{"value": {"\u006ason": {"b": 1, "a": 2}}}]}`)).Decode(&req); err != nil ||
		req.GetRecords()[0].GetValue().GetJson() == nil {
		t.Errorf("an escaped member name: %v, %v", err, req.GetRecords())
	}
}

// A body that does not arrive within the read timeout is 408 and makes no
// call; the connection is not held.
func TestSlowBodyTimesOut(t *testing.T) {
	conn := &fakeConn{}
	h, err := New(Config{Conn: conn, Partitions: func(string) (int32, bool) { return 1, true }, BodyReadTimeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	h.Register(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)
	pr, pw := io.Pipe()
	t.Cleanup(func() { pw.Close() })
	go func() { _, _ = pw.Write([]byte(`{"records": [`)) }() // and nothing more
	began := time.Now()
	code, out := post(t, srv.URL+"/v1/topics/t/records", pr)
	if code != http.StatusRequestTimeout || !strings.Contains(out, "ERROR_CODE_REQUEST_TIMED_OUT") || time.Since(began) > 10*time.Second {
		t.Fatalf("HTTP %d after %v: %s", code, time.Since(began), out)
	}
	if calls := conn.produced(t); len(calls) != 0 {
		t.Fatalf("%d calls", len(calls))
	}
}
