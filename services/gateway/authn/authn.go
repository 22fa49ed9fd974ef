// Package authn authenticates the gateway's clients against the user store
// the controller keeps (SCRAM credentials, salted keys only): the Kafka SASL
// listeners, and the gRPC and REST APIs (HTTP Basic, or a verified client
// certificate). Every surface ends with the same principal, User:<name>,
// put into the request's context with auth.NewContext.
package authn

import (
	"context"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"sync"
	"time"

	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/auth"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/scramcred"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/xdg-go/scram"
)

const (
	// cacheTTL is how long a successful password check is remembered, so
	// every gRPC call with Basic credentials does not run PBKDF2 and ask
	// the controller. A changed or deleted password stops working over
	// gRPC and REST within this time (SASL reads the credential on every
	// connection).
	cacheTTL = 10 * time.Second
	// maxCached bounds the remembered checks; when full, expired ones go,
	// then arbitrary ones until half are left.
	maxCached = 4096
	// maxPasswordBytes bounds a password checked (PBKDF2 cost and memory).
	maxPasswordBytes = 1024
)

// ErrBadCredentials is a failed authentication: an unknown user, a wrong
// password, or no credential for the mechanism (the caller learns no more).
var ErrBadCredentials = errors.New("authentication failed: invalid credentials")

// Store reads credentials through the controller and checks passwords.
type Store struct {
	client controllerv1.UserCredentialServiceClient
	now    func() time.Time

	mu    sync.Mutex
	cache map[[32]byte]time.Time // sha256(user, password) → when the check expires
}

// NewStore returns a store over the controller's credential service.
func NewStore(client controllerv1.UserCredentialServiceClient) *Store {
	return &Store{client: client, now: time.Now, cache: map[[32]byte]time.Time{}}
}

// Credential returns user's stored credential for m (found false: none).
func (s *Store) Credential(ctx context.Context, user string, m scramcred.Mechanism) (*controllerv1.ScramCredential, bool, error) {
	if scramcred.ValidUser(user) != nil {
		return nil, false, nil
	}
	var resp *controllerv1.GetScramCredentialResponse
	err := router.CallController(ctx, func(ctx context.Context) (err error) {
		resp, err = s.client.GetScramCredential(ctx, &controllerv1.GetScramCredentialRequest{User: user, Mechanism: m})
		return err
	})
	if err != nil {
		return nil, false, fmt.Errorf("reading the credential of %s: %w", user, err)
	}
	return resp.GetCredential(), resp.GetFound(), nil
}

// Lookup is the credential lookup of a SCRAM server conversation for m.
func (s *Store) Lookup(ctx context.Context, m scramcred.Mechanism) scram.CredentialLookup {
	return func(user string) (scram.StoredCredentials, error) {
		c, found, err := s.Credential(ctx, user, m)
		if err != nil {
			return scram.StoredCredentials{}, err
		}
		if !found {
			return scram.StoredCredentials{}, ErrBadCredentials
		}
		return scram.StoredCredentials{
			KeyFactors: scram.KeyFactors{Salt: string(c.GetSalt()), Iters: int(c.GetIterations())},
			StoredKey:  c.GetStoredKey(), ServerKey: c.GetServerKey(),
		}, nil
	}
}

// CheckPassword authenticates user with password against the user's SCRAM
// credential (SCRAM-SHA-512 if it has one, else SCRAM-SHA-256); it returns
// ErrBadCredentials when they do not match. A match is remembered for
// cacheTTL, so a repeated check within it neither runs PBKDF2 nor asks the
// controller (gRPC and REST calls).
func (s *Store) CheckPassword(ctx context.Context, user, password string) (auth.Principal, error) {
	if len(password) > maxPasswordBytes || scramcred.ValidUser(user) != nil {
		return auth.Principal{}, ErrBadCredentials
	}
	key := sha256.Sum256([]byte(user + "\x00" + password))
	if s.cached(key) {
		return auth.User(user), nil
	}
	return s.check(ctx, user, password, key)
}

// CheckPasswordFresh is CheckPassword against the credential as the
// controller has it now (SASL PLAIN: a deleted user or a changed password
// fails at once); only the PBKDF2 of a repeated match is saved.
func (s *Store) CheckPasswordFresh(ctx context.Context, user, password string) (auth.Principal, error) {
	if len(password) > maxPasswordBytes || scramcred.ValidUser(user) != nil {
		return auth.Principal{}, ErrBadCredentials
	}
	return s.check(ctx, user, password, [32]byte{})
}

func (s *Store) cached(key [32]byte) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	exp, ok := s.cache[key]
	return ok && s.now().Before(exp)
}

// check verifies password against the stored credential, remembering a
// match under ttlKey (unless zero) and under the credential's own key.
func (s *Store) check(ctx context.Context, user, password string, ttlKey [32]byte) (auth.Principal, error) {
	for _, m := range []scramcred.Mechanism{scramcred.SHA512, scramcred.SHA256} {
		c, found, err := s.Credential(ctx, user, m)
		if err != nil {
			return auth.Principal{}, err
		}
		if !found {
			continue
		}
		credKey := sha256.Sum256(append([]byte(user+"\x00"+password+"\x00"), c.GetStoredKey()...))
		if !s.cached(credKey) && !scramcred.Check(m, password, c.GetSalt(), int(c.GetIterations()), c.GetStoredKey()) {
			return auth.Principal{}, ErrBadCredentials
		}
		exp := s.now().Add(cacheTTL)
		s.remember(credKey, exp)
		if ttlKey != ([32]byte{}) {
			s.remember(ttlKey, exp)
		}
		return auth.User(user), nil
	}
	return auth.Principal{}, ErrBadCredentials
}

func (s *Store) remember(key [32]byte, exp time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.cache) >= maxCached {
		now := s.now()
		for k, e := range s.cache {
			if !now.Before(e) || len(s.cache) >= maxCached/2 {
				delete(s.cache, k)
			}
		}
	}
	s.cache[key] = exp
}

// CertPrincipal is the principal of a verified client certificate:
// User:<subject CN>. Kafka's default principal builder uses the whole
// distinguished name; Strata uses the common name so that a certificate
// for alice and the SASL user alice are the same principal. A role
// certificate (a strata:// identity, internal/certs) names no user: the
// gateway's own REST calls to its gRPC port carry one, and must not
// authenticate the REST client.
func CertPrincipal(chains [][]*x509.Certificate) (auth.Principal, bool) {
	if len(chains) == 0 || len(chains[0]) == 0 || chains[0][0].Subject.CommonName == "" {
		return auth.Principal{}, false
	}
	if _, role := certs.IdentityOf(chains[0][0]); role {
		return auth.Principal{}, false
	}
	return auth.User(chains[0][0].Subject.CommonName), true
}
