package scramcred

import (
	"bytes"
	"testing"

	"github.com/xdg-go/scram"
)

// The keys derived from a salted password are the ones a SCRAM client
// derives from the password (xdg-go/scram), so the stored credential
// authenticates real clients.
func TestKeysMatchSCRAMClient(t *testing.T) {
	for _, m := range Mechanisms {
		salt := Salt()
		salted, err := SaltPassword(m, "pässword", salt, MinIterations)
		if err != nil {
			t.Fatal(err)
		}
		stored, server := Keys(m, salted)
		cl, err := Hash(m).NewClient("alice", "pässword", "")
		if err != nil {
			t.Fatal(err)
		}
		want := cl.GetStoredCredentials(scram.KeyFactors{Salt: string(salt), Iters: MinIterations})
		if !bytes.Equal(stored, want.StoredKey) || !bytes.Equal(server, want.ServerKey) {
			t.Fatalf("%s: keys differ from the SCRAM client's", Name(m))
		}
		if !Check(m, "pässword", salt, MinIterations, stored) || Check(m, "password", salt, MinIterations, stored) {
			t.Fatalf("%s: Check", Name(m))
		}
		if Check(m, "pässword", salt, MaxIterations+1, stored) {
			t.Fatalf("%s: Check accepted out-of-range iterations", Name(m))
		}
	}
}

func TestParseAndValidUser(t *testing.T) {
	if m, ok := Parse("scram-sha-512"); !ok || m != SHA512 {
		t.Fatal("Parse")
	}
	if _, ok := Parse("PLAIN"); ok {
		t.Fatal("Parse PLAIN")
	}
	for _, bad := range []string{"", "a b", "a,b", "a=b", "a:b", string(make([]byte, 300))} {
		if ValidUser(bad) == nil {
			t.Errorf("ValidUser(%q) accepted", bad)
		}
	}
	if err := ValidUser("alice@example.com"); err != nil {
		t.Fatal(err)
	}
}
