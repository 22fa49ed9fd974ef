package e2e

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/strata-io/strata/internal/testutil"
	"github.com/twmb/franz-go/pkg/kgo"
	"gopkg.in/yaml.v3"
)

// The REST API (docs/rest.md) against real processes, over real HTTP.

// restClient calls a gateway's REST API.
type restClient struct {
	t    *testing.T
	base string
	hc   *http.Client
}

func newRestClient(t *testing.T, c *cluster) *restClient {
	return &restClient{t: t, base: "http://" + c.http, hc: &http.Client{Timeout: 60 * time.Second}}
}

// call sends body (nil for none; a string, []byte or io.Reader as is;
// anything else as JSON) and returns the status and the response body.
func (r *restClient) call(method, path string, body any) (int, []byte) {
	r.t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	case io.Reader:
		rd = b
	default:
		js, err := json.Marshal(b)
		if err != nil {
			r.t.Fatal(err)
		}
		rd = bytes.NewReader(js)
	}
	req, err := http.NewRequest(method, r.base+path, rd)
	if err != nil {
		r.t.Fatal(err)
	}
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := r.hc.Do(req)
	if err != nil {
		r.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		r.t.Fatalf("%s %s: reading the response: %v", method, path, err)
	}
	return resp.StatusCode, out
}

// ok calls and decodes a 200 answer into v (nil to drop it).
func (r *restClient) ok(method, path string, body, v any) {
	r.t.Helper()
	code, out := r.call(method, path, body)
	if code != http.StatusOK {
		r.t.Fatalf("%s %s: HTTP %d: %s", method, path, code, out)
	}
	if v != nil {
		if err := json.Unmarshal(out, v); err != nil {
			r.t.Fatalf("%s %s: %v in %s", method, path, err, out)
		}
	}
}

// fails calls, expects HTTP status want and returns the error it carries.
func (r *restClient) fails(method, path string, body any, want int) restStatus {
	r.t.Helper()
	code, out := r.call(method, path, body)
	var st restStatus
	if err := json.Unmarshal(out, &st); err != nil {
		r.t.Fatalf("%s %s: HTTP %d, not a JSON status (%v): %s", method, path, code, err, out)
	}
	if code != want {
		r.t.Fatalf("%s %s: HTTP %d, want %d: %s", method, path, code, want, out)
	}
	if st.Code == 0 || st.Message == "" {
		r.t.Fatalf("%s %s: status without code or message: %s", method, path, out)
	}
	return st
}

// restStatus is a google.rpc.Status as JSON, with the ErrorDetail.
type restStatus struct {
	Code    int    `json:"code"`
	Message string `json:"message"`
	Details []struct {
		Type            string `json:"@type"`
		Code            string `json:"code"`
		KafkaErrorCode  int    `json:"kafkaErrorCode"`
		FieldViolations []struct {
			Field string `json:"field"`
		} `json:"fieldViolations"`
	} `json:"details"`
}

func (s restStatus) detailCode() string {
	for _, d := range s.Details {
		if d.Type == "type.googleapis.com/strata.common.v1.ErrorDetail" {
			return d.Code
		}
	}
	return ""
}

type restError struct {
	Code    string `json:"code"`
	Message string `json:"message"`
}

type restProduced struct {
	Results []struct {
		Partition   int32      `json:"partition"`
		Offset      int64      `json:"offset,string"`
		TimestampMs int64      `json:"timestampMs,string"`
		Error       *restError `json:"error"`
	} `json:"results"`
}

// restData is a key, value or header value: one of text, binary, json.
type restData struct {
	Text   *string         `json:"text,omitempty"`
	Binary []byte          `json:"binary,omitempty"`
	JSON   json.RawMessage `json:"json,omitempty"`
}

func (d *restData) String() string {
	switch {
	case d == nil:
		return "null"
	case d.Text != nil:
		return "text:" + *d.Text
	case d.JSON != nil:
		var buf bytes.Buffer
		_ = json.Compact(&buf, d.JSON)
		return "json:" + buf.String()
	default:
		return fmt.Sprintf("binary:%q", d.Binary)
	}
}

type restRead struct {
	Records []struct {
		Offset        int64     `json:"offset,string"`
		TimestampMs   int64     `json:"timestampMs,string"`
		TimestampType string    `json:"timestampType"`
		Key           *restData `json:"key"`
		Value         *restData `json:"value"`
		Headers       []struct {
			Key   string    `json:"key"`
			Value *restData `json:"value"`
		} `json:"headers"`
	} `json:"records"`
	NextOffset     int64 `json:"nextOffset,string"`
	HighWatermark  int64 `json:"highWatermark,string"`
	LogStartOffset int64 `json:"logStartOffset,string"`
}

type restOffsets struct {
	Partitions []struct {
		Partition int32      `json:"partition"`
		Offset    int64      `json:"offset,string"`
		Error     *restError `json:"error"`
	} `json:"partitions"`
}

func b64(s string) string { return base64.StdEncoding.EncodeToString([]byte(s)) }

// Produce in every form of key and value, with headers, read back over
// REST in each format, then over Kafka (franz-go, kcat) the other way
// round: same keys, values, headers, timestamps and offsets.
func TestRestRecords(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	c.admin("topic", "create", "rest", "--partitions", "3", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"rest": 3})
	rc := newRestClient(t, c)

	var prod restProduced
	rc.ok("POST", "/v1/topics/rest/records", `{
	  "records": [
	    {"partition": 0, "key": {"text": "customer-42"}, "value": {"text": "hello"}, "timestampMs": "1700000000000",
	     "headers": [{"key": "source", "value": {"text": "curl"}}, {"key": "raw", "value": {"binary": "AP8="}}, {"key": "none"}]},
	    {"partition": 0, "key": {"binary": "AAH+"}, "value": {"json": {"ok": true, "amount": 12.5, "items": ["a", "<b>"]}}},
	    {"partition": 0},
	    {"partition": 0, "key": {"text": ""}, "value": {"binary": ""}},
	    {"partition": 0, "value": {"json": "a string"}},
	    {"key": {"text": "k1"}, "value": {"json": 42}}
	  ]}`, &prod)
	if len(prod.Results) != 6 {
		t.Fatalf("got %d results, want 6", len(prod.Results))
	}
	for i, r := range prod.Results[:5] {
		if r.Error != nil || r.Partition != 0 || r.Offset != int64(i) {
			t.Fatalf("result %d: %+v, want partition 0 offset %d", i, r, i)
		}
	}
	if r := prod.Results[5]; r.Error != nil || r.Partition != kafkaPartition([]byte("k1"), 3) {
		t.Fatalf("keyed result %+v, want partition %d (murmur2)", r, kafkaPartition([]byte("k1"), 3))
	}
	if prod.Results[0].TimestampMs != 1700000000000 || prod.Results[1].TimestampMs < 1700000000000 {
		t.Fatalf("timestamps %d, %d", prod.Results[0].TimestampMs, prod.Results[1].TimestampMs)
	}
	// A JSON value is stored as sent, less whitespace; read as JSON it is
	// a google.protobuf.Value, whose keys come out sorted.
	storedValue1 := `{"ok":true,"amount":12.5,"items":["a","<b>"]}`
	readValue1 := `{"amount":12.5,"items":["a","<b>"],"ok":true}`

	// Each format.
	want := map[string][]string{
		"binary": {`binary:"customer-42" binary:"hello" source=binary:"curl" raw=binary:"\x00\xff" none=null`,
			`binary:"\x00\x01\xfe" binary:"` + strings.ReplaceAll(storedValue1, `"`, `\"`) + `"`,
			`null null`, `binary:"" binary:""`, `null binary:"\"a string\""`},
		"text": {`text:customer-42 text:hello source=text:curl raw=binary:"\x00\xff" none=null`,
			`binary:"\x00\x01\xfe" text:` + storedValue1, `null null`, `text: text:`, `null text:"a string"`},
		"json": {`text:customer-42 text:hello source=text:curl raw=binary:"\x00\xff" none=null`,
			`binary:"\x00\x01\xfe" json:` + readValue1, `null null`, `text: text:`, `null json:"a string"`},
	}
	for _, format := range []string{"binary", "text", "json"} {
		var rd restRead
		rc.ok("GET", "/v1/topics/rest/partitions/0/records?offset=0&max_wait=1s&format="+format, nil, &rd)
		if len(rd.Records) != 5 || rd.NextOffset != 5 || rd.HighWatermark != 5 || rd.LogStartOffset != 0 {
			t.Fatalf("%s: %d records, next %d, hw %d, log start %d", format, len(rd.Records), rd.NextOffset, rd.HighWatermark, rd.LogStartOffset)
		}
		for i, r := range rd.Records {
			got := r.Key.String() + " " + r.Value.String()
			for _, h := range r.Headers {
				got += " " + h.Key + "=" + h.Value.String()
			}
			if got != want[format][i] {
				t.Errorf("%s: record %d is %s\nwant %s", format, i, got, want[format][i])
			}
			if r.Offset != int64(i) || r.TimestampMs != prod.Results[i].TimestampMs || r.TimestampType != "TIMESTAMP_TYPE_CREATE_TIME" {
				t.Errorf("%s: record %d: offset %d timestamp %d (%s), want %d and %d", format, i, r.Offset, r.TimestampMs,
					r.TimestampType, i, prod.Results[i].TimestampMs)
			}
		}
	}
	// max_records, and a read from the middle; without an offset, from the log start.
	var rd restRead
	rc.ok("GET", "/v1/topics/rest/partitions/0/records?offset=3&max_records=1", nil, &rd)
	if len(rd.Records) != 1 || rd.Records[0].Offset != 3 || rd.NextOffset != 4 {
		t.Fatalf("offset=3 max_records=1: %+v", rd)
	}
	rc.ok("GET", "/v1/topics/rest/partitions/0/records?max_records=2", nil, &rd)
	if len(rd.Records) != 2 || rd.Records[0].Offset != 0 {
		t.Fatalf("no offset: %+v", rd)
	}

	// Offsets of every partition.
	p5 := prod.Results[5].Partition
	var offs restOffsets
	rc.ok("GET", "/v1/topics/rest/offsets?at=latest", nil, &offs)
	for _, p := range offs.Partitions {
		wantEnd := int64(0)
		switch {
		case p.Partition == 0 && p5 == 0:
			wantEnd = 6
		case p.Partition == 0:
			wantEnd = 5
		case p.Partition == p5:
			wantEnd = 1
		}
		if p.Error != nil || p.Offset != wantEnd {
			t.Fatalf("latest offsets: %+v, want %d for partition %d", offs, wantEnd, p.Partition)
		}
	}
	rc.ok("GET", "/v1/topics/rest/offsets?at=earliest", nil, &offs)
	if len(offs.Partitions) != 3 || offs.Partitions[0].Offset != 0 {
		t.Fatalf("earliest offsets: %+v", offs)
	}
	rc.ok("GET", "/v1/topics/rest/offsets?at=1700000000001", nil, &offs)
	if offs.Partitions[0].Offset != 1 {
		t.Fatalf("offsets at 1700000000001: %+v, want 1 in partition 0", offs)
	}

	// franz-go reads what REST wrote.
	cl := franzClient(t, c, kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{"rest": {0: kgo.NewOffset().At(0)}}))
	recs := consumeN(t, cl, 5, 30*time.Second)
	r0 := recs[0]
	if string(r0.Key) != "customer-42" || string(r0.Value) != "hello" || r0.Offset != 0 || r0.Timestamp.UnixMilli() != 1700000000000 ||
		len(r0.Headers) != 3 || r0.Headers[0].Key != "source" || string(r0.Headers[0].Value) != "curl" ||
		!bytes.Equal(r0.Headers[1].Value, []byte{0, 0xff}) || r0.Headers[2].Key != "none" || r0.Headers[2].Value != nil {
		t.Fatalf("franz-go read record 0 as %+v", r0)
	}
	if r1 := recs[1]; !bytes.Equal(r1.Key, []byte{0, 1, 0xfe}) || string(r1.Value) != storedValue1 || r1.Offset != 1 ||
		r1.Timestamp.UnixMilli() != prod.Results[1].TimestampMs {
		t.Fatalf("franz-go read record 1 as %+v", r1)
	}
	if r2 := recs[2]; r2.Key != nil || r2.Value != nil {
		t.Fatalf("franz-go read the null record as key %q value %q", r2.Key, r2.Value)
	}
	if r3 := recs[3]; r3.Key == nil || len(r3.Key) != 0 || r3.Value == nil || len(r3.Value) != 0 {
		t.Fatalf("franz-go read the empty record as key %q (nil %v) value %q (nil %v)", r3.Key, r3.Key == nil, r3.Value, r3.Value == nil)
	}
	if r4 := recs[4]; string(r4.Value) != `"a string"` {
		t.Fatalf("franz-go read the JSON string as %q", r4.Value)
	}

	// REST reads what franz-go wrote.
	pcl := franzClient(t, c, kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ts := time.UnixMilli(1750000000000)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	fr := &kgo.Record{Topic: "rest", Partition: 1, Key: []byte("fk"), Value: []byte(`{"x": 1}`), Timestamp: ts,
		Headers: []kgo.RecordHeader{{Key: "h", Value: []byte("v")}}}
	if err := pcl.ProduceSync(ctx, fr).FirstErr(); err != nil {
		t.Fatal(err)
	}
	rc.ok("GET", fmt.Sprintf("/v1/topics/rest/partitions/1/records?offset=%d&format=json", fr.Offset), nil, &rd)
	if len(rd.Records) != 1 {
		t.Fatalf("REST read %d records of franz-go's one", len(rd.Records))
	}
	got := rd.Records[0]
	if got.Key.String() != "text:fk" || got.Value.String() != `json:{"x":1}` || got.Offset != fr.Offset || got.TimestampMs != ts.UnixMilli() ||
		len(got.Headers) != 1 || got.Headers[0].Key != "h" || got.Headers[0].Value.String() != "text:v" {
		t.Fatalf("REST read franz-go's record as %+v", got)
	}

	// A deadline (Grpc-Timeout) bounds the gRPC call behind a route: a
	// long poll past the end answers before it, with no records.
	req, err := http.NewRequest("GET", rc.base+"/v1/topics/rest/partitions/1/records?offset="+fmt.Sprint(fr.Offset+1)+"&max_wait=60s", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Grpc-Timeout", "1S")
	began := time.Now()
	resp, err := rc.hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if took := time.Since(began); resp.StatusCode != http.StatusOK || took > 20*time.Second || !strings.Contains(string(body), `"records":[]`) {
		t.Fatalf("long poll with a 1s deadline: HTTP %d after %v: %s", resp.StatusCode, took, body)
	}
	// REST calls are counted in the gRPC server's metrics.
	code, metrics := rc.call("GET", "/metrics", nil)
	if code != http.StatusOK || !regexp.MustCompile(`grpc_server_handled_total\{grpc_code="OK",grpc_method="Produce",grpc_service="strata.stream.v1.StreamService",grpc_type="unary"\} [1-9]`).Match(metrics) {
		t.Fatalf("/metrics lacks the REST produce calls (HTTP %d)", code)
	}

	t.Run("kcat", func(t *testing.T) {
		kcat, err := exec.LookPath("kcat")
		if err != nil {
			t.Skip("kcat (librdkafka) is not installed: apt-get install kcat (.ci/run does); skipping the kcat interop check")
		}
		rc := newRestClient(t, c)
		rc.ok("POST", "/v1/topics/rest/records", `{"records": [{"partition": 2, "key": {"text": "kc-key"},
		  "value": {"text": "kc-value"}, "timestampMs": "1760000000000", "headers": [{"key": "kh", "value": {"text": "kv"}}]}]}`, &prod)
		off := prod.Results[0].Offset
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		out, err := exec.CommandContext(ctx, kcat, "-b", c.kafka, "-C", "-t", "rest", "-p", "2", "-o", fmt.Sprint(off), "-c", "1", "-e",
			"-f", `%k|%s|%h|%T|%o\n`).CombinedOutput()
		if err != nil {
			t.Fatalf("kcat -C: %v: %s", err, out)
		}
		if want := fmt.Sprintf("kc-key|kc-value|kh=kv|1760000000000|%d", off); !strings.Contains(string(out), want) {
			t.Fatalf("kcat read %q, want %q", out, want)
		}
		prodCmd := exec.CommandContext(ctx, kcat, "-b", c.kafka, "-P", "-t", "rest", "-p", "2", "-K", ":", "-H", "from=kcat")
		prodCmd.Stdin = strings.NewReader("kk:vv\n")
		if out, err := prodCmd.CombinedOutput(); err != nil {
			t.Fatalf("kcat -P: %v: %s", err, out)
		}
		var rd restRead
		testutil.WaitFor(t, 30*time.Second, func() error {
			rc.ok("GET", fmt.Sprintf("/v1/topics/rest/partitions/2/records?offset=%d&format=text&max_wait=1s", off+1), nil, &rd)
			if len(rd.Records) != 1 {
				return fmt.Errorf("read %d records after kcat's produce", len(rd.Records))
			}
			return nil
		})
		got := rd.Records[0]
		if got.Key.String() != "text:kk" || got.Value.String() != "text:vv" || got.Offset != off+1 ||
			len(got.Headers) != 1 || got.Headers[0].Key != "from" || got.Headers[0].Value.String() != "text:kcat" {
			t.Fatalf("REST read kcat's record as %+v", got)
		}
	})
}

// Bad input is a JSON google.rpc.Status with the right HTTP status and
// ErrorDetail, and writes nothing.
func TestRestBadInput(t *testing.T) {
	const limit = 64 << 10
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1, gatewayArgs: []string{"--rest-max-body-bytes", fmt.Sprint(limit)}})
	c.admin("topic", "create", "bad", "--partitions", "2", "--replication-factor", "1")
	waitTopicsReady(t, c, map[string]int{"bad": 2})
	rc := newRestClient(t, c)
	big := `{"records": [{"value": {"text": "` + strings.Repeat("x", limit) + `"}}]}`
	cases := []struct {
		name, method, path string
		body               any
		status             int
		code               string // the ErrorDetail's code
		field              string // a field violation, when one is named
	}{
		{"invalid JSON", "POST", "/v1/topics/bad/records", `{"records": [`, 400, "ERROR_CODE_INVALID_REQUEST", ""},
		{"not an object", "POST", "/v1/topics/bad/records", `[1, 2]`, 400, "ERROR_CODE_INVALID_REQUEST", ""},
		{"invalid base64", "POST", "/v1/topics/bad/records", `{"records": [{"value": {"binary": "!!not base64"}}]}`, 400, "ERROR_CODE_INVALID_REQUEST", ""},
		{"unknown field", "POST", "/v1/topics/bad/records", `{"records": [{"vaule": {"text": "x"}}]}`, 400, "ERROR_CODE_INVALID_REQUEST", ""},
		{"two forms", "POST", "/v1/topics/bad/records", `{"records": [{"value": {"text": "x", "binary": "eA=="}}]}`, 400, "ERROR_CODE_INVALID_REQUEST", ""},
		{"no form", "POST", "/v1/topics/bad/records", `{"records": [{"value": {}}]}`, 400, "ERROR_CODE_INVALID_REQUEST", "records[0].value.kind"},
		{"no header form", "POST", "/v1/topics/bad/records", `{"records": [{"headers": [{"key": "h", "value": {}}]}]}`,
			400, "ERROR_CODE_INVALID_REQUEST", "records[0].headers[0].value.kind"},
		{"too many records", "POST", "/v1/topics/bad/records", `{"records": [` + strings.TrimSuffix(strings.Repeat(`{},`, 10001), ",") + `]}`,
			400, "ERROR_CODE_INVALID_REQUEST", "records"},
		{"negative partition", "POST", "/v1/topics/bad/records", `{"records": [{"partition": -1}]}`, 404, "ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION", "records[0].partition"},
		{"no records", "POST", "/v1/topics/bad/records", `{"records": []}`, 400, "ERROR_CODE_INVALID_REQUEST", "records"},
		{"empty header key", "POST", "/v1/topics/bad/records", `{"records": [{"value": {"text": "x"}, "headers": [{"key": ""}]}]}`,
			400, "ERROR_CODE_INVALID_REQUEST", "records[0].headers[0].key"},
		{"negative timestamp", "POST", "/v1/topics/bad/records", `{"records": [{"value": {"text": "x"}, "timestampMs": "-1"}]}`,
			400, "ERROR_CODE_INVALID_TIMESTAMP", "records[0].timestamp_ms"},
		{"unknown acks", "POST", "/v1/topics/bad/records", `{"acks": "ACKS_SOME", "records": [{"value": {"text": "x"}}]}`, 400, "ERROR_CODE_INVALID_REQUEST", ""},
		{"missing topic", "POST", "/v1/topics/nope/records", `{"records": [{"value": {"text": "x"}}]}`, 404, "ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION", "topic"},
		{"invalid topic name", "POST", "/v1/topics/bad%20name/records", `{"records": [{"value": {"text": "x"}}]}`, 400, "ERROR_CODE_INVALID_TOPIC", "topic"},
		{"unknown partition", "POST", "/v1/topics/bad/records", `{"records": [{"partition": 7, "value": {"text": "x"}}]}`,
			404, "ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION", "records[0].partition"},
		{"oversize body", "POST", "/v1/topics/bad/records", big, 413, "ERROR_CODE_MESSAGE_TOO_LARGE", ""},
		{"oversize chunked body", "POST", "/v1/topics/bad/records", io.MultiReader(strings.NewReader(big)), 413, "ERROR_CODE_MESSAGE_TOO_LARGE", ""},
		{"read missing topic", "GET", "/v1/topics/nope/partitions/0/records", nil, 404, "ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION", "partitions[0].topic"},
		{"read unknown partition", "GET", "/v1/topics/bad/partitions/9/records", nil, 404, "ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION", "partitions[0].partition"},
		{"read negative offset", "GET", "/v1/topics/bad/partitions/0/records?offset=-1", nil, 400, "ERROR_CODE_INVALID_REQUEST", "offset"},
		{"read offset past the end", "GET", "/v1/topics/bad/partitions/0/records?offset=5", nil, 400, "ERROR_CODE_OFFSET_OUT_OF_RANGE", ""},
		{"read partition not a number", "GET", "/v1/topics/bad/partitions/x/records", nil, 400, "ERROR_CODE_INVALID_REQUEST", ""},
		{"read bad format", "GET", "/v1/topics/bad/partitions/0/records?format=xml", nil, 400, "ERROR_CODE_INVALID_REQUEST", "format"},
		{"read max_wait too long", "GET", "/v1/topics/bad/partitions/0/records?max_wait=301s", nil, 400, "ERROR_CODE_INVALID_REQUEST", "max_wait"},
		{"offsets bad at", "GET", "/v1/topics/bad/offsets?at=yesterday", nil, 400, "ERROR_CODE_INVALID_REQUEST", "at"},
		{"offsets missing topic", "GET", "/v1/topics/nope/offsets", nil, 404, "ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION", "topic"},
		{"describe missing topic", "GET", "/v1/topics/nope", nil, 404, "ERROR_CODE_UNKNOWN_TOPIC_OR_PARTITION", ""},
		{"commit negative offset", "POST", "/v1/groups/g/offsets", `{"offsets": [{"topic": "bad", "partition": 0, "offset": "-3"}]}`,
			400, "ERROR_CODE_INVALID_REQUEST", "offsets[0].offset"},
		{"reset without target", "POST", "/v1/groups/g/offsets:reset", `{}`, 400, "ERROR_CODE_INVALID_REQUEST", ""},
	}
	for _, tc := range cases {
		st := rc.fails(tc.method, tc.path, tc.body, tc.status)
		if got := st.detailCode(); got != tc.code {
			t.Errorf("%s: ErrorDetail code %q, want %q (%s)", tc.name, got, tc.code, st.Message)
		}
		if tc.field != "" {
			var fields []string
			for _, d := range st.Details {
				for _, v := range d.FieldViolations {
					fields = append(fields, v.Field)
				}
			}
			if !slices.Contains(fields, tc.field) {
				t.Errorf("%s: field violations %v, want %s (%s)", tc.name, fields, tc.field, st.Message)
			}
		}
		t.Logf("%s: %s", tc.name, st.Message)
	}
	// An unknown route and a wrong method are JSON errors too.
	rc.fails("GET", "/v1/nothing-here", nil, 404)
	rc.fails("PUT", "/v1/topics/bad/records", `{}`, 405)

	// Nothing was written.
	var offs restOffsets
	rc.ok("GET", "/v1/topics/bad/offsets", nil, &offs)
	for _, p := range offs.Partitions {
		if p.Offset != 0 {
			t.Fatalf("partition %d has end offset %d after bad requests only", p.Partition, p.Offset)
		}
	}
	// A body just under the limit is served.
	under := `{"records": [{"value": {"text": "` + strings.Repeat("y", limit-100) + `"}}]}`
	var prod restProduced
	rc.ok("POST", "/v1/topics/bad/records", under, &prod)
	if len(prod.Results) != 1 || prod.Results[0].Error != nil || prod.Results[0].Offset != 0 {
		t.Fatalf("produce under the limit: %+v", prod)
	}
}

// Topic admin, the cluster and consumer groups over REST, and the OpenAPI
// document listing every route.
func TestRestAdminAndGroups(t *testing.T) {
	c := newCluster(t, clusterSpec{controllers: 1, storage: 1})
	rc := newRestClient(t, c)

	type topic struct {
		Name              string            `json:"name"`
		PartitionCount    int               `json:"partitionCount"`
		ReplicationFactor int               `json:"replicationFactor"`
		Configs           map[string]string `json:"configs"`
	}
	var created struct{ Topic topic }
	rc.ok("POST", "/v1/topics", `{"name": "admin", "partitions": 2, "replicationFactor": 1, "configs": {"retention.ms": "3600000"}}`, &created)
	if created.Topic.Name != "admin" || created.Topic.PartitionCount != 2 || created.Topic.Configs["retention.ms"] != "3600000" {
		t.Fatalf("created %+v", created.Topic)
	}
	if st := rc.fails("POST", "/v1/topics", `{"name": "admin", "partitions": 1, "replicationFactor": 1}`, 409); st.detailCode() != "ERROR_CODE_TOPIC_ALREADY_EXISTS" {
		t.Fatalf("create twice: %+v", st)
	}
	var list struct{ Topics []topic }
	rc.ok("GET", "/v1/topics", nil, &list)
	if len(list.Topics) != 1 || list.Topics[0].Name != "admin" {
		t.Fatalf("topics %+v", list.Topics)
	}
	var configs struct {
		Configs []struct{ Name, Value, Source string }
	}
	rc.ok("GET", "/v1/topics/admin/configs", nil, &configs)
	found := false
	for _, e := range configs.Configs {
		if e.Name == "retention.ms" {
			found = e.Value == "3600000" && e.Source == "CONFIG_SOURCE_TOPIC"
		}
	}
	if !found {
		t.Fatalf("configs lack retention.ms=3600000 set on the topic: %+v", configs)
	}
	var altered struct{ Configs map[string]string }
	rc.ok("PATCH", "/v1/topics/admin/configs", `{"set": {"retention.ms": "7200000"}}`, &altered)
	if altered.Configs["retention.ms"] != "7200000" {
		t.Fatalf("altered configs %+v", altered)
	}
	rc.ok("POST", "/v1/topics/admin/partitions", `{"totalCount": 3}`, nil)
	var described struct{ Topic topic }
	rc.ok("GET", "/v1/topics/admin", nil, &described)
	if described.Topic.PartitionCount != 3 || described.Topic.Configs["retention.ms"] != "7200000" {
		t.Fatalf("described %+v", described.Topic)
	}
	var cl struct {
		ClusterID    string `json:"clusterId"`
		StorageNodes []struct{ State string }
		Gateways     []struct{ HTTPAddress string }
	}
	rc.ok("GET", "/v1/cluster", nil, &cl)
	if cl.ClusterID == "" || len(cl.StorageNodes) != 1 || cl.StorageNodes[0].State != "NODE_STATE_ALIVE" || len(cl.Gateways) != 1 {
		t.Fatalf("cluster %+v", cl)
	}

	// Groups: a simple-consumer commit creates the group.
	waitTopicsReady(t, c, map[string]int{"admin": 3})
	records := strings.Repeat(`{"partition": 0, "value": {"text": "v"}},`, 10)
	rc.ok("POST", "/v1/topics/admin/records", `{"records": [`+strings.TrimSuffix(records, ",")+`]}`, nil)
	type partResult struct {
		Topic     string
		Partition int32
		Error     *restError
	}
	var committed struct{ Results []partResult }
	rc.ok("POST", "/v1/groups/billing/offsets", `{"offsets": [{"topic": "admin", "partition": 0, "offset": "4"}]}`, &committed)
	if len(committed.Results) != 1 || committed.Results[0].Error != nil {
		t.Fatalf("commit %+v", committed)
	}
	var groups struct {
		Groups []struct{ GroupID, State string }
	}
	rc.ok("GET", "/v1/groups", nil, &groups)
	if len(groups.Groups) != 1 || groups.Groups[0].GroupID != "billing" {
		t.Fatalf("groups %+v", groups)
	}
	var group struct {
		GroupID    string
		State      string
		Partitions []struct {
			Topic           string
			Partition       int32
			CommittedOffset int64 `json:"committedOffset,string"`
			LogEndOffset    int64 `json:"logEndOffset,string"`
			Lag             int64 `json:"lag,string"`
		}
		TotalLag int64 `json:"totalLag,string"`
	}
	rc.ok("GET", "/v1/groups/billing", nil, &group)
	if len(group.Partitions) != 1 || group.Partitions[0].CommittedOffset != 4 || group.Partitions[0].LogEndOffset != 10 ||
		group.Partitions[0].Lag != 6 || group.TotalLag != 6 {
		t.Fatalf("group %+v", group)
	}
	type offsets struct {
		Offsets []struct {
			Topic     string
			Partition int32
			Offset    int64 `json:"offset,string"`
		}
	}
	var got offsets
	rc.ok("GET", "/v1/groups/billing/offsets", nil, &got)
	if len(got.Offsets) != 1 || got.Offsets[0].Offset != 4 {
		t.Fatalf("offsets %+v", got)
	}
	type plan struct {
		Plan []struct {
			Partition     int32
			CurrentOffset int64 `json:"currentOffset,string"`
			NewOffset     int64 `json:"newOffset,string"`
		}
		Executed bool
	}
	var dry plan
	rc.ok("POST", "/v1/groups/billing/offsets:reset", `{"toEarliest": true}`, &dry)
	if dry.Executed || len(dry.Plan) != 1 || dry.Plan[0].CurrentOffset != 4 || dry.Plan[0].NewOffset != 0 {
		t.Fatalf("dry run %+v", dry)
	}
	rc.ok("GET", "/v1/groups/billing/offsets", nil, &got)
	if got.Offsets[0].Offset != 4 {
		t.Fatalf("a dry run moved the offset: %+v", got)
	}
	var done plan
	rc.ok("POST", "/v1/groups/billing/offsets:reset", `{"shiftBy": "2", "execute": true}`, &done)
	if !done.Executed || done.Plan[0].NewOffset != 6 {
		t.Fatalf("reset %+v", done)
	}
	rc.ok("GET", "/v1/groups/billing/offsets", nil, &got)
	if got.Offsets[0].Offset != 6 {
		t.Fatalf("after the reset: %+v", got)
	}
	var deleted struct{ Results []partResult }
	rc.ok("POST", "/v1/groups/billing/offsets:delete", `{"topics": [{"topic": "admin", "partitions": [0]}]}`, &deleted)
	if len(deleted.Results) != 1 || deleted.Results[0].Error != nil {
		t.Fatalf("delete offsets %+v", deleted)
	}
	rc.ok("DELETE", "/v1/groups/billing", nil, nil)
	rc.ok("GET", "/v1/groups", nil, &groups)
	if len(groups.Groups) != 0 {
		t.Fatalf("groups after the delete: %+v", groups)
	}

	rc.ok("DELETE", "/v1/topics/admin", nil, nil)
	testutil.WaitFor(t, 10*time.Second, func() error {
		if code, out := rc.call("GET", "/v1/topics/admin", nil); code != 404 {
			return fmt.Errorf("describe a deleted topic: HTTP %d: %s", code, out)
		}
		return nil
	})

	// /openapi.json lists every route of the HTTP rules.
	var doc struct {
		Swagger string
		Paths   map[string]map[string]any
	}
	rc.ok("GET", "/openapi.json", nil, &doc)
	if doc.Swagger != "2.0" {
		t.Fatalf("OpenAPI document version %q", doc.Swagger)
	}
	routes := restRoutes(t)
	if len(routes) < 18 {
		t.Fatalf("rest.yaml has %d routes", len(routes))
	}
	param := regexp.MustCompile(`\{[^}]*\}`)
	listed := map[string]bool{}
	for path, ops := range doc.Paths {
		for method := range ops {
			listed[strings.ToUpper(method)+" "+param.ReplaceAllString(path, "{}")] = true
		}
	}
	for _, r := range routes {
		if !listed[param.ReplaceAllString(r, "{}")] {
			t.Errorf("/openapi.json lacks %s", r)
		}
	}
	if len(listed) != len(routes) {
		t.Errorf("/openapi.json has %d operations, rest.yaml %d routes", len(listed), len(routes))
	}
}

// restRoutes lists "METHOD /path" of every rule in rest.yaml.
func restRoutes(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile("../../proto/strata/rest/v1/rest.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		HTTP struct {
			Rules []map[string]string `yaml:"rules"`
		} `yaml:"http"`
	}
	if err := yaml.Unmarshal(raw, &cfg); err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, rule := range cfg.HTTP.Rules {
		for _, m := range []string{"get", "post", "put", "patch", "delete"} {
			if p, ok := rule[m]; ok {
				out = append(out, strings.ToUpper(m)+" "+p)
			}
		}
	}
	return out
}
