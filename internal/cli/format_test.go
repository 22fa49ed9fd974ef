package cli

import (
	"bufio"
	"io"
	"os"
	"strings"
	"testing"
	"time"

	strata "github.com/strata-io/strata/clients/go"
)

func TestOutputTemplate(t *testing.T) {
	r := &strata.Record{Topic: "orders", Partition: 2, Offset: 47, Key: []byte("k1"), Value: []byte("v\x00"),
		Headers:   []strata.Header{{Key: "a", Value: []byte("1")}, {Key: "b", Value: []byte("2")}},
		Timestamp: time.UnixMilli(1700000000123)}
	for tmpl, want := range map[string]string{
		`%t %p %o %k %T\n`:             "orders 2 47 k1 1700000000123\n",
		`%k{hex}|%v{base64}|%v{hex}\t`: "6b31|dgA=|7600\t",
		`%h;%h{hex}`:                   "a=1,b=2;a=31,b=32",
		`100%% %T{rfc3339}\\`:          `100% 2023-11-14T22:13:20.123Z\`,
		`%k{text}`:                     "k1",
	} {
		tp, err := parseTemplate(tmpl, outputVerbs)
		if err != nil {
			t.Fatalf("%s: %v", tmpl, err)
		}
		if got := string(tp.format(nil, r)); got != want {
			t.Errorf("%s: got %q, want %q", tmpl, got, want)
		}
	}
	for _, bad := range []string{`%z`, `%`, `\`, `\q`, `%k{b64}`, `%T{hex}`, `%p{hex}`, `%v{hex`} {
		if _, err := parseTemplate(bad, outputVerbs); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}

func TestRecordJSON(t *testing.T) {
	r := &strata.Record{Topic: "t", Partition: 1, Offset: 3, Key: nil, Value: []byte{0xff, 0x00},
		Headers: []strata.Header{{Key: "h", Value: []byte("x")}, {Key: "n"}}, Timestamp: time.UnixMilli(5)}
	want := `{"topic":"t","partition":1,"offset":3,"key":null,"value":"/wA=","value_base64":true,` +
		`"headers":[{"key":"h","value":"x"},{"key":"n","value":null}],"timestamp":5}` + "\n"
	if got := string(appendJSON(nil, r)); got != want {
		t.Errorf("got  %s\nwant %s", got, want)
	}
}

func TestInputTemplate(t *testing.T) {
	type kv struct{ k, v string }
	for _, c := range []struct {
		tmpl, in string
		want     []kv
	}{
		{`%v\n`, "a\nb\n\nc", []kv{{"", "a"}, {"", "b"}, {"", ""}, {"", "c"}}},
		{`%k %v\n`, "k1 v 1\nk2 v2", []kv{{"k1", "v 1"}, {"k2", "v2"}}},
		{`%k{hex}:%v{base64}\n`, "6b31:djE=\n", []kv{{"k1", "v1"}}},
		{`[%k] %v;`, "[a] b;[c] d;", []kv{{"a", "b"}, {"c", "d"}}},
		{`%v`, "all of it\nand more", []kv{{"", "all of it\nand more"}}},
		{`%k::%v\r\n`, "a::b\r\nc::d\r\n", []kv{{"a", "b"}, {"c", "d"}}},
		{`%k\n`, "a\nb\n", []kv{{"a", ""}, {"b", ""}}},
	} {
		it, err := parseInputTemplate(c.tmpl, 1<<10)
		if err != nil {
			t.Fatalf("%s: %v", c.tmpl, err)
		}
		br := bufio.NewReader(strings.NewReader(c.in))
		var got []kv
		for {
			k, v, err := it.read(br)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("%s on %q: %v", c.tmpl, c.in, err)
			}
			got = append(got, kv{string(k), string(v)})
		}
		if len(got) != len(c.want) {
			t.Fatalf("%s on %q: got %q, want %q", c.tmpl, c.in, got, c.want)
		}
		for i := range got {
			if got[i] != c.want[i] {
				t.Errorf("%s on %q: record %d is %q, want %q", c.tmpl, c.in, i, got[i], c.want[i])
			}
		}
	}
	for _, bad := range []string{`abc`, `%k%v\n`, `%v %v`, `%t %v`, `%k %k %v`} {
		if _, err := parseInputTemplate(bad, 10); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
	// Input that does not fit, and a field over the bound.
	it, _ := parseInputTemplate(`%k %v\n`, 8)
	for _, in := range []string{"nospace", "k 0123456789abcdef\n"} {
		if _, _, err := it.read(bufio.NewReader(strings.NewReader(in))); err == nil || err == io.EOF {
			t.Errorf("%q: %v, want an error", in, err)
		}
	}
	it, _ = parseInputTemplate(`%k{hex} %v\n`, 64)
	if _, _, err := it.read(bufio.NewReader(strings.NewReader("zz v\n"))); err == nil {
		t.Error("bad hex: no error")
	}
}

func TestOffsetSpec(t *testing.T) {
	now := time.Date(2026, 11, 30, 12, 0, 0, 0, time.UTC)
	// A partition whose log is [10, 100), and whose records from the time
	// looked up start at 60.
	for in, want := range map[string]int64{
		"start": 10, "oldest": 10, "end": 100, "newest": 100,
		"47": 47, "5": 10, "500": 100, "+2": 12, "+200": 100, "-3": 97, "-300": 10,
		"@2026-11-30T10:00:00Z": 60, "@1700000000000": 60, "@-1h": 60,
	} {
		o, err := parseOffsetSpec(in, now)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		if got := o.resolve(10, 100, 60); got != want {
			t.Errorf("%s: %d, want %d", in, got, want)
		}
	}
	o, _ := parseOffsetSpec("@-90m", now)
	if !o.at.Equal(now.Add(-90 * time.Minute)) {
		t.Errorf("@-90m is %s", o.at)
	}
	o, _ = parseOffsetSpec("@2026-11-30T10:00:00Z", now)
	if got := o.resolve(10, 100, -1); got != 100 {
		t.Errorf("a time after every record: %d, want the end 100", got)
	}
	for _, bad := range []string{"", "x", "+", "-", "+-1", "--1", "1.5", "@", "@yesterday", "@-", "@--1h", "-1h", " 1", "0x10", "start:end"} {
		if _, err := parseOffsetSpec(bad, now); err == nil {
			t.Errorf("%q: parsed", bad)
		}
	}
}

func TestConnectErrorIsOneLineWithAHint(t *testing.T) {
	msg := `connection error: desc = "transport: Error while dialing: dial tcp 127.0.0.1:1: connect: connection refused"`
	if got := dialCause(msg); got != "connection refused" {
		t.Errorf("dialCause = %q", got)
	}
	if got := dialCause("gateway is NOT_SERVING"); got != "gateway is NOT_SERVING" {
		t.Errorf("dialCause kept %q", got)
	}
}

func TestColourOnlyOnATerminal(t *testing.T) {
	t.Setenv("NO_COLOR", "")
	var b strings.Builder
	if colour(&b, nil) {
		t.Error("colour to a buffer")
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if colour(f, nil) {
		t.Error("colour to a file")
	}
	if colour(os.Stderr, []string{"consume", "t", "--output", "json"}) || colour(os.Stderr, []string{"--output=json"}) {
		t.Error("colour with --output json")
	}
}
