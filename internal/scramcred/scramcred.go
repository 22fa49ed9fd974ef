// Package scramcred derives and checks SCRAM credentials (RFC 5802): the
// salted keys Strata stores for a user instead of a password. The CLI salts a
// password before it leaves the machine, the controller turns the salted
// password into StoredKey and ServerKey, and the gateway checks SASL SCRAM
// conversations, SASL PLAIN and HTTP Basic passwords against those keys.
package scramcred

import (
	"crypto/hmac"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha256"
	"crypto/sha512"
	"crypto/subtle"
	"fmt"
	"hash"
	"strings"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/xdg-go/scram"
)

// Iteration bounds and default, as Kafka's (ScramMechanism.minIterations 4096,
// its tools' maximum 16384).
const (
	MinIterations     = 4096
	MaxIterations     = 16384
	DefaultIterations = 8192
	// SaltBytes is the length of a generated salt.
	SaltBytes = 24
	// maxUserBytes bounds a user name.
	maxUserBytes = 256
)

// Mechanism is a SCRAM mechanism.
type Mechanism = adminv1.ScramMechanism

const (
	SHA256 = adminv1.ScramMechanism_SCRAM_MECHANISM_SCRAM_SHA_256
	SHA512 = adminv1.ScramMechanism_SCRAM_MECHANISM_SCRAM_SHA_512
)

// Mechanisms lists the supported mechanisms.
var Mechanisms = []Mechanism{SHA256, SHA512}

// Name is the SASL name of m ("SCRAM-SHA-256").
func Name(m Mechanism) string {
	switch m {
	case SHA256:
		return "SCRAM-SHA-256"
	case SHA512:
		return "SCRAM-SHA-512"
	}
	return "UNKNOWN"
}

// Parse reads a SASL mechanism name, case-insensitively.
func Parse(s string) (Mechanism, bool) {
	for _, m := range Mechanisms {
		if strings.EqualFold(s, Name(m)) {
			return m, true
		}
	}
	return 0, false
}

// Hash is m's hash function (nil for an unknown mechanism).
func Hash(m Mechanism) scram.HashGeneratorFcn {
	switch m {
	case SHA256:
		return scram.SHA256
	case SHA512:
		return scram.SHA512
	}
	return nil
}

func newHash(m Mechanism) func() hash.Hash {
	if m == SHA512 {
		return sha512.New
	}
	return sha256.New
}

// ValidUser checks a user name: non-empty, bounded, printable, no ','
// or '=' (SCRAM escapes them; Kafka refuses them too).
func ValidUser(name string) error {
	if name == "" || len(name) > maxUserBytes {
		return fmt.Errorf("user name must be 1 to %d bytes", maxUserBytes)
	}
	for _, r := range name {
		if r < 0x21 || r == 0x7f || r == ',' || r == '=' || r == ':' {
			return fmt.Errorf("user name %q contains %q (no spaces, control characters, ',', '=' or ':')", name, r)
		}
	}
	return nil
}

// Salt returns a new random salt.
func Salt() []byte {
	b := make([]byte, SaltBytes)
	_, _ = rand.Read(b)
	return b
}

// SaltPassword is PBKDF2(password, salt, iterations) with m's hash: what
// AlterUserScramCredentials carries.
func SaltPassword(m Mechanism, password string, salt []byte, iterations int) ([]byte, error) {
	if Hash(m) == nil {
		return nil, fmt.Errorf("unknown SCRAM mechanism %v", m)
	}
	h := newHash(m)
	return pbkdf2.Key(h, password, salt, iterations, h().Size())
}

// Keys derives StoredKey and ServerKey from a salted password.
func Keys(m Mechanism, salted []byte) (storedKey, serverKey []byte) {
	h := newHash(m)
	clientKey := mac(h, salted, "Client Key")
	sum := h()
	sum.Write(clientKey)
	return sum.Sum(nil), mac(h, salted, "Server Key")
}

func mac(h func() hash.Hash, key []byte, msg string) []byte {
	m := hmac.New(h, key)
	m.Write([]byte(msg))
	return m.Sum(nil)
}

// Check reports whether password matches a stored credential (SASL PLAIN,
// HTTP Basic): it salts the password and compares the derived StoredKey.
func Check(m Mechanism, password string, salt []byte, iterations int, storedKey []byte) bool {
	if iterations < MinIterations || iterations > MaxIterations {
		return false
	}
	salted, err := SaltPassword(m, password, salt, iterations)
	if err != nil {
		return false
	}
	sk, _ := Keys(m, salted)
	return subtle.ConstantTimeCompare(sk, storedKey) == 1
}
