package acl

import (
	"strings"
	"sync"

	"github.com/strata-io/strata/internal/auth"
)

// Source gives the current bindings and a generation that changes
// whenever they do (the metadata cache), so the Authorizer rebuilds its
// index only after a change and a check is a memory lookup.
type Source interface {
	ACLGen() uint64
	ACLs() []Binding
}

// Config configures an Authorizer.
type Config struct {
	// Enabled turns authorization on; off, every request is allowed (the
	// default, so development clusters need no ACLs).
	Enabled bool
	// SuperUsers are principals allowed everything (super.users).
	SuperUsers []auth.Principal
}

// Authorizer answers whether a principal may run an operation on a
// resource. A nil *Authorizer allows everything.
type Authorizer struct {
	cfg    Config
	supers map[auth.Principal]bool
	src    Source

	mu  sync.RWMutex
	gen uint64
	idx *index
}

// New returns an authorizer over the bindings of src.
func New(cfg Config, src Source) *Authorizer {
	a := &Authorizer{cfg: cfg, supers: map[auth.Principal]bool{}, src: src}
	for _, p := range cfg.SuperUsers {
		a.supers[p] = true
	}
	return a
}

// Enabled reports whether requests are checked at all.
func (a *Authorizer) Enabled() bool { return a != nil && a.cfg.Enabled }

// ParseSuperUsers reads super.users: principals separated by ';'.
func ParseSuperUsers(s string) ([]auth.Principal, error) {
	var out []auth.Principal
	for _, f := range strings.Split(s, ";") {
		if f = strings.TrimSpace(f); f == "" {
			continue
		}
		p, err := auth.Parse(f)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	return out, nil
}

// index holds the bindings by resource type: literal ones by name, the
// prefixed ones in a list.
type index struct {
	literal  map[ResourceType]map[string][]Binding
	prefixed map[ResourceType][]Binding
}

func buildIndex(bs []Binding) *index {
	ix := &index{literal: map[ResourceType]map[string][]Binding{}, prefixed: map[ResourceType][]Binding{}}
	for _, b := range bs {
		if b.PatternType == PatternPrefixed {
			ix.prefixed[b.ResourceType] = append(ix.prefixed[b.ResourceType], b)
			continue
		}
		m := ix.literal[b.ResourceType]
		if m == nil {
			m = map[string][]Binding{}
			ix.literal[b.ResourceType] = m
		}
		m[b.ResourceName] = append(m[b.ResourceName], b)
	}
	return ix
}

func (a *Authorizer) current() *index {
	gen := a.src.ACLGen()
	a.mu.RLock()
	ix, ok := a.idx, a.gen == gen && a.idx != nil
	a.mu.RUnlock()
	if ok {
		return ix
	}
	ix = buildIndex(a.src.ACLs())
	a.mu.Lock()
	a.gen, a.idx = gen, ix
	a.mu.Unlock()
	return ix
}

// matching calls f for every binding whose pattern applies to the resource.
func (ix *index) matching(rt ResourceType, name string, f func(Binding)) {
	for _, n := range []string{name, Wildcard} {
		for _, b := range ix.literal[rt][n] {
			f(b)
		}
		if name == Wildcard {
			break
		}
	}
	for _, b := range ix.prefixed[rt] {
		if strings.HasPrefix(name, b.ResourceName) {
			f(b)
		}
	}
}

func principalMatches(b Binding, p auth.Principal) bool {
	return b.Principal == p.String() || b.Principal == p.Type+":"+Wildcard
}

func hostMatches(b Binding, host string) bool { return b.Host == Wildcard || b.Host == host }

// implies reports whether an ALLOW of have grants want: ALL grants all,
// READ, WRITE, DELETE and ALTER grant DESCRIBE, ALTER_CONFIGS grants
// DESCRIBE_CONFIGS (Kafka's AclAuthorizer).
func implies(have, want Operation) bool {
	if have == want || have == OpAll {
		return true
	}
	switch want {
	case OpDescribe:
		return have == OpRead || have == OpWrite || have == OpDelete || have == OpAlter
	case OpDescribeConfigs:
		return have == OpAlterConfigs
	}
	return false
}

// Authorize reports whether p, connecting from host (an IP address), may
// run op on the resource rt/name. DENY wins over ALLOW, and only ALL or
// the operation itself denies (a DENY of READ does not deny DESCRIBE).
func (a *Authorizer) Authorize(p auth.Principal, host string, op Operation, rt ResourceType, name string) bool {
	if !a.Enabled() || a.supers[p] {
		return true
	}
	allowed, denied := false, false
	a.current().matching(rt, name, func(b Binding) {
		if denied || !principalMatches(b, p) || !hostMatches(b, host) {
			return
		}
		switch b.Permission {
		case PermDeny:
			if b.Operation == op || b.Operation == OpAll {
				denied = true
			}
		case PermAllow:
			if implies(b.Operation, op) {
				allowed = true
			}
		}
	})
	return allowed && !denied
}

// AuthorizeAny reports whether p may run op on some resource of type rt,
// as Kafka's authorizeByResourceType (an idempotent producer may write
// with WRITE on any topic instead of IDEMPOTENT_WRITE on the cluster): an
// ALLOW for p and host on a pattern that no matching DENY covers.
func (a *Authorizer) AuthorizeAny(p auth.Principal, host string, op Operation, rt ResourceType) bool {
	if !a.Enabled() || a.supers[p] {
		return true
	}
	ix := a.current()
	var allows, denies []Binding
	collect := func(b Binding) {
		if !principalMatches(b, p) || !hostMatches(b, host) {
			return
		}
		switch {
		case b.Permission == PermDeny && (b.Operation == op || b.Operation == OpAll):
			denies = append(denies, b)
		case b.Permission == PermAllow && implies(b.Operation, op):
			allows = append(allows, b)
		}
	}
	for _, m := range ix.literal[rt] {
		for _, b := range m {
			collect(b)
		}
	}
	for _, b := range ix.prefixed[rt] {
		collect(b)
	}
	for _, al := range allows {
		if !coveredBy(al, denies) {
			return true
		}
	}
	return false
}

// coveredBy reports whether a DENY applies to every resource al allows.
func coveredBy(al Binding, denies []Binding) bool {
	for _, d := range denies {
		switch {
		case d.PatternType == PatternLiteral && d.ResourceName == Wildcard:
			return true
		case d.PatternType == PatternPrefixed && strings.HasPrefix(al.ResourceName, d.ResourceName):
			return true
		case d.PatternType == PatternLiteral && al.PatternType == PatternLiteral && d.ResourceName == al.ResourceName:
			return true
		}
	}
	return false
}

// StaticSource is a fixed list of bindings, for tests and tools.
type StaticSource []Binding

// ACLGen is always 1: the list never changes.
func (s StaticSource) ACLGen() uint64 { return 1 }

// ACLs returns the list.
func (s StaticSource) ACLs() []Binding { return s }
