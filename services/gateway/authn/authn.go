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
	"github.com/strata-io/strata/internal/scramcred"
	"github.com/strata-io/strata/services/gateway/router"
	"github.com/xdg-go/scram"
)

const (
	// cacheTTL is how long a successful password check is remembered, so
	// every gRPC call with Basic credentials does not run PBKDF2 and ask
	// the controller. A changed or deleted password stops working over
	// gRPC and REST within this time (SASL checks on every connection).
	cacheTTL = 10 * time.Second
	// maxCached bounds the remembered checks; past it the oldest half goes.
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
// ErrBadCredentials when they do not match.
func (s *Store) CheckPassword(ctx context.Context, user, password string) (auth.Principal, error) {
	if len(password) > maxPasswordBytes || scramcred.ValidUser(user) != nil {
		return auth.Principal{}, ErrBadCredentials
	}
	key := sha256.Sum256([]byte(user + "\x00" + password))
	now := s.now()
	s.mu.Lock()
	exp, ok := s.cache[key]
	s.mu.Unlock()
	if ok && now.Before(exp) {
		return auth.User(user), nil
	}
	for _, m := range []scramcred.Mechanism{scramcred.SHA512, scramcred.SHA256} {
		c, found, err := s.Credential(ctx, user, m)
		if err != nil {
			return auth.Principal{}, err
		}
		if !found {
			continue
		}
		if !scramcred.Check(m, password, c.GetSalt(), int(c.GetIterations()), c.GetStoredKey()) {
			return auth.Principal{}, ErrBadCredentials
		}
		s.remember(key, now.Add(cacheTTL))
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
// for alice and the SASL user alice are the same principal.
func CertPrincipal(chains [][]*x509.Certificate) (auth.Principal, bool) {
	if len(chains) == 0 || len(chains[0]) == 0 || chains[0][0].Subject.CommonName == "" {
		return auth.Principal{}, false
	}
	return auth.User(chains[0][0].Subject.CommonName), true
}
