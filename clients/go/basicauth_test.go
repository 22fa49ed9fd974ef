package strata_test

import (
	"context"
	"crypto/pbkdf2"
	"crypto/rand"
	"crypto/sha512"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	strata "github.com/strata-io/strata/clients/go"
	"google.golang.org/grpc/codes"
)

// Basic credentials reach the gateway's user store: the right password
// works, a wrong one is UNAUTHENTICATED, and WithBasicAuth will not send
// them over plaintext.
func TestBasicAuth(t *testing.T) {
	addr := needDev(t)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	user := fmt.Sprintf("basic-%d", time.Now().UnixNano())
	salt := make([]byte, 16)
	_, _ = rand.Read(salt)
	salted, err := pbkdf2.Key(sha512.New, "pw", salt, 4096, sha512.Size)
	if err != nil {
		t.Fatal(err)
	}
	anon := newClient(t, addr)
	res, err := adminv1.NewUserServiceClient(anon.Conn()).AlterUserScramCredentials(ctx, &adminv1.AlterUserScramCredentialsRequest{
		Upsertions: []*adminv1.ScramCredentialUpsertion{{User: user, Mechanism: adminv1.ScramMechanism_SCRAM_MECHANISM_SCRAM_SHA_512,
			Iterations: 4096, Salt: salt, SaltedPassword: salted}}})
	if err != nil || res.GetResults()[0].GetError() != nil {
		t.Fatalf("create user: %v %v", err, res)
	}
	good := newClient(t, addr, strata.WithBasicAuthInsecure(user, "pw"))
	if _, err := good.Admin().ListTopics(ctx); err != nil {
		t.Fatalf("right password: %v", err)
	}
	bad := newClient(t, addr, strata.WithBasicAuthInsecure(user, "wrong"), strata.WithoutReadyWait(), strata.WithRetries(0))
	var se *strata.Error
	if _, err := bad.Admin().ListTopics(ctx); !errors.As(err, &se) || se.GRPCCode != codes.Unauthenticated {
		t.Fatalf("wrong password: %v", err)
	}
	if c, err := strata.NewClient(ctx, addr, strata.WithBasicAuth(user, "pw")); err == nil || !strings.Contains(err.Error(), "transport level security") {
		if c != nil {
			c.Close()
		}
		t.Fatalf("WithBasicAuth over plaintext: %v", err)
	}
}
