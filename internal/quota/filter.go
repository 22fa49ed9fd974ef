package quota

import "fmt"

// MatchType is how a DescribeClientQuotas filter component matches.
type MatchType int8

// Kafka's match types (DescribeClientQuotas match_type).
const (
	MatchExact   MatchType = 0
	MatchDefault MatchType = 1
	MatchAny     MatchType = 2 // Kafka's MATCH_TYPE_SPECIFIED
)

// FilterComponent is one component of a DescribeClientQuotas filter.
type FilterComponent struct {
	Type  string
	Match MatchType
	// Name is the name matched, with MatchExact only.
	Name *string
}

// Filter selects entities as Kafka's ClientQuotasImage.describe does.
type Filter struct {
	exact  map[string]*Name // type → the exact part (Default for MatchDefault)
	any    map[string]bool
	strict bool
}

// FilterError is a bad filter; Unsupported marks an entity type Kafka
// answers UNSUPPORTED_VERSION (the others are INVALID_REQUEST).
type FilterError struct {
	Msg         string
	Unsupported bool
}

func (e *FilterError) Error() string { return e.Msg }

// ParseFilter checks a filter by Kafka's rules.
func ParseFilter(cs []FilterComponent, strict bool) (Filter, error) {
	f := Filter{exact: map[string]*Name{}, any: map[string]bool{}, strict: strict}
	bad := func(format string, args ...any) (Filter, error) {
		return Filter{}, &FilterError{Msg: fmt.Sprintf(format, args...)}
	}
	for _, c := range cs {
		if c.Type == "" {
			return bad("invalid empty entity type")
		}
		if _, ok := f.exact[c.Type]; ok || f.any[c.Type] {
			return bad("entity type %s cannot appear more than once in the filter", c.Type)
		}
		if c.Type != TypeUser && c.Type != TypeClientID && c.Type != TypeIP {
			return Filter{}, &FilterError{Msg: fmt.Sprintf("unsupported entity type %s", c.Type), Unsupported: true}
		}
		switch c.Match {
		case MatchExact:
			if c.Name == nil {
				return bad("request specified MATCH_TYPE_EXACT, but set match string to null")
			}
			f.exact[c.Type] = &Name{Name: *c.Name}
		case MatchDefault:
			if c.Name != nil {
				return bad("request specified MATCH_TYPE_DEFAULT, but also specified a match string")
			}
			f.exact[c.Type] = &Name{Default: true}
		case MatchAny:
			if c.Name != nil {
				return bad("request specified MATCH_TYPE_SPECIFIED, but also specified a match string")
			}
			f.any[c.Type] = true
		default:
			return bad("unknown match type %d", c.Match)
		}
	}
	_, ipExact := f.exact[TypeIP]
	if ipExact || f.any[TypeIP] {
		if len(f.exact)+len(f.any) > 1 {
			return bad("invalid entity filter component combination: the ip filter component cannot be used with user or client-id components")
		}
	}
	return f, nil
}

func (e Entity) part(typ string) *Name {
	switch typ {
	case TypeUser:
		return e.User
	case TypeClientID:
		return e.ClientID
	}
	return nil // Strata stores no ip entities
}

// Matches reports whether the filter selects e.
func (f Filter) Matches(e Entity) bool {
	if f.strict && len(e.Components()) != len(f.exact)+len(f.any) {
		return false
	}
	for typ, want := range f.exact {
		got := e.part(typ)
		if got == nil || *got != *want {
			return false
		}
	}
	for typ := range f.any {
		if e.part(typ) == nil {
			return false
		}
	}
	return true
}
