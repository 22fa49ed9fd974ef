package quota

import (
	"testing"
	"time"
)

func TestPathRoundTrip(t *testing.T) {
	for _, e := range []Entity{
		{User: &Name{Name: "alice/x y"}},
		{ClientID: &Name{Default: true}},
		{User: &Name{Default: true}, ClientID: &Name{Name: "<default>"}},
	} {
		got, err := ParsePath(e.Path())
		if err != nil || got.String() != e.String() || got.Path() != e.Path() {
			t.Fatalf("%s: path %q parsed to %v, %v", e, e.Path(), got, err)
		}
	}
	if _, err := ParsePath("users/a/clients"); err == nil {
		t.Fatal("bad path parsed")
	}
}

func TestParseEntityAndValue(t *testing.T) {
	bad := [][]Component{
		nil,
		{{Type: "group", Name: "g"}},
		{{Type: TypeUser, Name: "a"}, {Type: TypeUser, Name: "b"}},
		{{Type: TypeClientID}},
		{{Type: TypeIP, Name: "1.2.3.4"}},
	}
	for _, cs := range bad {
		if _, err := ParseEntity(cs); err == nil {
			t.Errorf("%v accepted", cs)
		}
	}
	if _, err := ParseEntity([]Component{{Type: TypeUser, Default: true}, {Type: TypeClientID, Name: "app"}}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key string
		v   float64
		ok  bool
	}{
		{ProducerByteRate, 1024, true}, {ProducerByteRate, 0, false}, {ProducerByteRate, -5, false},
		{ConsumerByteRate, 1.5, false}, {RequestRate, 2.5, true}, {"request_percentage", 50, false}, {"nope", 1, false},
	} {
		if err := ValidateValue(c.key, c.v); (err == nil) != c.ok {
			t.Errorf("%s=%v: %v", c.key, c.v, err)
		}
	}
}

func TestResolvePrecedence(t *testing.T) {
	set := map[string]map[string]float64{}
	lookup := func(p string) map[string]float64 { return set[p] }
	path := func(cs ...Component) string {
		e, err := ParseEntity(cs)
		if err != nil {
			t.Fatal(err)
		}
		return e.Path()
	}
	// From the lowest to the highest precedence: each new entity wins.
	steps := []string{
		path(Component{Type: TypeClientID, Default: true}),
		path(Component{Type: TypeClientID, Name: "app"}),
		path(Component{Type: TypeUser, Default: true}),
		path(Component{Type: TypeUser, Default: true}, Component{Type: TypeClientID, Default: true}),
		path(Component{Type: TypeUser, Default: true}, Component{Type: TypeClientID, Name: "app"}),
		path(Component{Type: TypeUser, Name: Anonymous}),
		path(Component{Type: TypeUser, Name: Anonymous}, Component{Type: TypeClientID, Default: true}),
		path(Component{Type: TypeUser, Name: Anonymous}, Component{Type: TypeClientID, Name: "app"}),
	}
	for i, p := range steps {
		set[p] = map[string]float64{ProducerByteRate: float64(i + 1)}
		m := Resolve(lookup, Anonymous, "app", ProducerByteRate, ConsumerByteRate)
		if got := m[ProducerByteRate]; got.Bound != float64(i+1) || got.Entity.Path() != p {
			t.Fatalf("step %d: got %+v, want %s", i, got, p)
		}
		if _, ok := m[ConsumerByteRate]; ok {
			t.Fatal("consumer quota resolved without one set")
		}
	}
	// A user quota is shared by the user's clients; a default client-id
	// quota is per client id.
	a := Resolve(lookup, Anonymous, "a", ProducerByteRate)[ProducerByteRate]
	b := Resolve(lookup, Anonymous, "b", ProducerByteRate)[ProducerByteRate]
	if a.Entity.Path() != steps[6] || a.Sensor == b.Sensor {
		t.Fatalf("users/ANONYMOUS/clients/<default>: %+v %+v", a, b)
	}
	delete(set, steps[6])
	a = Resolve(lookup, Anonymous, "a", ProducerByteRate)[ProducerByteRate]
	b = Resolve(lookup, Anonymous, "b", ProducerByteRate)[ProducerByteRate]
	if a.Entity.Path() != steps[5] || a.Sensor != b.Sensor {
		t.Fatalf("users/ANONYMOUS: %+v %+v", a, b)
	}
}

func TestFilter(t *testing.T) {
	app := "app"
	es := []Entity{
		{User: &Name{Name: "u"}},
		{User: &Name{Name: "u"}, ClientID: &Name{Name: "app"}},
		{ClientID: &Name{Default: true}},
		{ClientID: &Name{Name: "app"}},
	}
	count := func(cs []FilterComponent, strict bool) int {
		f, err := ParseFilter(cs, strict)
		if err != nil {
			t.Fatal(err)
		}
		n := 0
		for _, e := range es {
			if f.Matches(e) {
				n++
			}
		}
		return n
	}
	if n := count(nil, false); n != 4 {
		t.Fatalf("empty filter: %d", n)
	}
	if n := count(nil, true); n != 0 {
		t.Fatalf("empty strict filter: %d", n)
	}
	if n := count([]FilterComponent{{Type: TypeClientID, Match: MatchExact, Name: &app}}, false); n != 2 {
		t.Fatalf("exact app: %d", n)
	}
	if n := count([]FilterComponent{{Type: TypeClientID, Match: MatchExact, Name: &app}}, true); n != 1 {
		t.Fatalf("strict exact app: %d", n)
	}
	if n := count([]FilterComponent{{Type: TypeClientID, Match: MatchAny}}, true); n != 2 {
		t.Fatalf("strict any client: %d", n)
	}
	if n := count([]FilterComponent{{Type: TypeClientID, Match: MatchDefault}}, false); n != 1 {
		t.Fatalf("default client: %d", n)
	}
	for _, cs := range [][]FilterComponent{
		{{Type: "", Match: MatchAny}},
		{{Type: TypeUser, Match: MatchAny}, {Type: TypeUser, Match: MatchAny}},
		{{Type: TypeUser, Match: MatchExact}},
		{{Type: TypeUser, Match: MatchDefault, Name: &app}},
		{{Type: TypeIP, Match: MatchAny}, {Type: TypeUser, Match: MatchAny}},
	} {
		if _, err := ParseFilter(cs, false); err == nil {
			t.Errorf("%+v accepted", cs)
		}
	}
	_, err := ParseFilter([]FilterComponent{{Type: "group", Match: MatchAny}}, false)
	if fe, ok := err.(*FilterError); !ok || !fe.Unsupported {
		t.Fatalf("unknown type: %v", err)
	}
}

// TestThrottleTime follows Kafka's arithmetic: 11 one-second samples, a
// 1000 B/s quota; 20000 bytes at once are measured over the 10 s minimum
// window (2000 B/s), so the throttle is (2000-1000)/1000 × 10 s.
func TestThrottleTime(t *testing.T) {
	now := time.UnixMilli(1_000_000)
	m := NewManager(11, time.Second, nil, nil)
	m.now = func() time.Time { return now }
	q := Match{Bound: 1000, Sensor: "s"}
	if d := m.Record(q, 5000); d != 0 {
		t.Fatalf("within quota: throttled %v", d)
	}
	if d := m.Record(q, 15000); d != 10*time.Second {
		t.Fatalf("throttle %v, want 10s", d)
	}
	m.Unrecord(q, 15000)
	now = now.Add(30 * time.Second) // every sample expired
	if d := m.Record(q, 9000); d != 0 {
		t.Fatalf("after the window: throttled %v", d)
	}
	if got := m.MaxValueInWindow(q); got != 10000 {
		t.Fatalf("max value in window %v", got)
	}
}

// The manager keeps a connection's resolved quotas until the generation
// moves.
func TestManagerMemo(t *testing.T) {
	set := map[string]map[string]float64{"clients/app": {RequestRate: 5}}
	lookups, gen := 0, uint64(1)
	m := NewManager(0, 0, func(p string) map[string]float64 { lookups++; return set[p] }, func() uint64 { return gen })
	if q := m.Quotas(Anonymous, "app")[RequestRate]; q.Bound != 5 {
		t.Fatalf("first: %+v", q)
	}
	n := lookups
	m.Quotas(Anonymous, "app")
	if lookups != n {
		t.Fatalf("resolved again without a change (%d lookups, then %d)", n, lookups)
	}
	set["clients/app"] = map[string]float64{RequestRate: 7}
	gen++
	if q := m.Quotas(Anonymous, "app")[RequestRate]; q.Bound != 7 {
		t.Fatalf("after a change: %+v", q)
	}
}
