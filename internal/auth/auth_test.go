package auth

import (
	"context"
	"testing"
)

func TestPrincipalParseAndContext(t *testing.T) {
	p, err := Parse("User:alice")
	if err != nil || p != User("alice") || p.String() != "User:alice" {
		t.Fatalf("Parse = %+v, %v", p, err)
	}
	for _, bad := range []string{"alice", ":alice", "User:", ""} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
	if got := FromContext(context.Background()); got != Anonymous {
		t.Fatalf("empty context: %v", got)
	}
	if got := FromContext(NewContext(context.Background(), p)); got != p {
		t.Fatalf("context carried %v", got)
	}
}
