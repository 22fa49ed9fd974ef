// Package auth names who is calling: the principal that SASL, a client
// certificate or gRPC credentials established, carried in a request's
// context to the one place that authorizes it.
package auth

import (
	"context"
	"fmt"
	"strings"
)

// Principal is Kafka's KafkaPrincipal: a type and a name, written
// "User:alice".
type Principal struct {
	Type string
	Name string
}

// UserType is the principal type of SASL users and certificate subjects.
const UserType = "User"

// Anonymous is the principal of an unauthenticated connection.
var Anonymous = Principal{Type: UserType, Name: "ANONYMOUS"}

// User is the principal User:name.
func User(name string) Principal { return Principal{Type: UserType, Name: name} }

func (p Principal) String() string { return p.Type + ":" + p.Name }

// Parse reads "Type:name"; the type is required, as in Kafka's ACL tools.
func Parse(s string) (Principal, error) {
	typ, name, ok := strings.Cut(s, ":")
	if !ok || typ == "" || name == "" {
		return Principal{}, fmt.Errorf("principal %q is not Type:name (e.g. User:alice)", s)
	}
	return Principal{Type: typ, Name: name}, nil
}

type principalKey struct{}

// NewContext returns ctx carrying p.
func NewContext(ctx context.Context, p Principal) context.Context {
	return context.WithValue(ctx, principalKey{}, p)
}

// FromContext returns the principal ctx carries, or Anonymous.
func FromContext(ctx context.Context) Principal {
	if p, ok := ctx.Value(principalKey{}).(Principal); ok {
		return p
	}
	return Anonymous
}
