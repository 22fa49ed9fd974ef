package quota

// Lookup returns the quotas set on the entity at path (Entity.Path), nil
// when none are.
type Lookup func(path string) map[string]float64

// Match is the quota that applies to a connection for one key.
type Match struct {
	// Bound is the quota (bytes or requests per second).
	Bound float64
	// Entity is where the quota is set.
	Entity Entity
	// Sensor names the rate the quota is measured against: connections
	// whose user and client id give the same sensor share one rate, as
	// Kafka's quota metric tags do (a quota on users/alice is shared by
	// every client of alice; one on clients/<default> is per client id).
	Sensor string
}

// precedence is Kafka's order (DefaultQuotaCallback, docs "Quotas"):
//
//	/config/users/<user>/clients/<client-id>
//	/config/users/<user>/clients/<default>
//	/config/users/<user>
//	/config/users/<default>/clients/<client-id>
//	/config/users/<default>/clients/<default>
//	/config/users/<default>
//	/config/clients/<client-id>
//	/config/clients/<default>
//
// with, for each, whether the sensor is tagged by the user and by the
// client id.
func precedence(user, clientID string) [8]struct {
	e            Entity
	byUser, byID bool
} {
	u, du := &Name{Name: user}, &Name{Default: true}
	c, dc := &Name{Name: clientID}, &Name{Default: true}
	type p = struct {
		e            Entity
		byUser, byID bool
	}
	return [8]p{
		{Entity{User: u, ClientID: c}, true, true},
		{Entity{User: u, ClientID: dc}, true, true},
		{Entity{User: u}, true, false},
		{Entity{User: du, ClientID: c}, true, true},
		{Entity{User: du, ClientID: dc}, true, true},
		{Entity{User: du}, true, false},
		{Entity{ClientID: c}, false, true},
		{Entity{ClientID: dc}, false, true},
	}
}

// Resolve finds, for each key, the first entity in Kafka's order of
// precedence that sets it. Keys without a quota are left out.
func Resolve(lookup Lookup, user, clientID string, keys ...string) map[string]Match {
	var out map[string]Match
	for _, p := range precedence(user, clientID) {
		if p.e.ClientID != nil && !p.e.ClientID.Default && clientID == "" {
			continue // an empty client id names no entity
		}
		qs := lookup(p.e.Path())
		if len(qs) == 0 {
			continue
		}
		for _, k := range keys {
			v, ok := qs[k]
			if !ok {
				continue
			}
			if _, done := out[k]; done {
				continue
			}
			if out == nil {
				out = make(map[string]Match, len(keys))
			}
			su, sc := "", ""
			if p.byUser {
				su = user
			}
			if p.byID {
				sc = clientID
			}
			out[k] = Match{Bound: v, Entity: p.e, Sensor: k + "\x00" + su + "\x00" + sc}
		}
	}
	return out
}
