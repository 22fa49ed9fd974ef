package controller

// SASL/SCRAM users (KIP-554): one UserRecord per user under /strata/users/,
// holding only salted keys. AlterUserScramCredentials derives StoredKey and
// ServerKey from the salted password the caller sends; gateways read a
// credential with GetScramCredential to authenticate a client.

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	controllerv1 "github.com/strata-io/strata/gen/strata/controller/v1"
	"github.com/strata-io/strata/internal/errs"
	"github.com/strata-io/strata/internal/scramcred"
	"github.com/strata-io/strata/services/controller/mdstore"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// maxUserAlterations bounds the changes of one AlterUserScramCredentials.
const maxUserAlterations = 500

// Kafka's error codes for credential changes.
const (
	kafkaUnsupportedSASLMechanism = 33
	kafkaResourceNotFound         = 91
	kafkaDuplicateResource        = 92
	kafkaUnacceptableCredential   = 93
)

func kafkaErr(code int16, format string, args ...any) *commonv1.ErrorDetail {
	return errs.FromKafkaCode(code, fmt.Sprintf(format, args...)).Detail
}

type userHandler struct {
	controllerv1.UnimplementedUserCredentialServiceServer
	adminv1.UnimplementedUserServiceServer
	c *Controller
}

func (h *userHandler) user(ctx context.Context, name string) (*controllerv1.UserRecord, int64, error) {
	got, err := h.c.cli.Get(ctx, mdstore.UserKey(name))
	if err != nil {
		return nil, 0, readErr(err)
	}
	rec := &controllerv1.UserRecord{Name: name}
	if len(got.Kvs) == 0 {
		return rec, 0, nil
	}
	if err := mdstore.Unmarshal(got.Kvs[0].Value, rec); err != nil {
		return nil, 0, fmt.Errorf("user %s: %w", name, err)
	}
	return rec, got.Kvs[0].ModRevision, nil
}

func (h *userHandler) GetScramCredential(ctx context.Context, req *controllerv1.GetScramCredentialRequest) (*controllerv1.GetScramCredentialResponse, error) {
	if scramcred.ValidUser(req.GetUser()) != nil {
		return &controllerv1.GetScramCredentialResponse{}, nil
	}
	rec, _, err := h.user(ctx, req.GetUser())
	if err != nil {
		return nil, err
	}
	for _, c := range rec.GetCredentials() {
		if c.GetMechanism() == req.GetMechanism() {
			return &controllerv1.GetScramCredentialResponse{Found: true, Credential: c}, nil
		}
	}
	return &controllerv1.GetScramCredentialResponse{}, nil
}

func (h *userHandler) DescribeUserScramCredentials(ctx context.Context, req *adminv1.DescribeUserScramCredentialsRequest) (*adminv1.DescribeUserScramCredentialsResponse, error) {
	resp := &adminv1.DescribeUserScramCredentialsResponse{}
	describe := func(rec *controllerv1.UserRecord) *adminv1.UserScramCredentials {
		out := &adminv1.UserScramCredentials{User: rec.GetName()}
		for _, c := range rec.GetCredentials() {
			out.Credentials = append(out.Credentials, &adminv1.ScramCredentialInfo{Mechanism: c.GetMechanism(), Iterations: c.GetIterations()})
		}
		return out
	}
	if len(req.GetUsers()) == 0 {
		recs, err := list[controllerv1.UserRecord](ctx, h.c.cli, mdstore.UsersPrefix)
		if err != nil {
			return nil, err
		}
		sort.Slice(recs, func(i, j int) bool { return recs[i].GetName() < recs[j].GetName() })
		for _, r := range recs {
			resp.Results = append(resp.Results, describe(r))
		}
		return resp, nil
	}
	if n := len(req.GetUsers()); n > maxUserAlterations {
		return nil, errs.New(errs.InvalidRequest, "%d users in one request, at most %d", n, maxUserAlterations).Field("users", "too many")
	}
	seen := map[string]int{}
	for _, u := range req.GetUsers() {
		seen[u]++
	}
	for _, u := range req.GetUsers() {
		switch {
		case seen[u] > 1: // named twice: one error result, as Kafka answers
			resp.Results = append(resp.Results, &adminv1.UserScramCredentials{User: u, Error: kafkaErr(kafkaDuplicateResource, "cannot describe SCRAM credentials for the same user twice in a single request: %s", u)})
			seen[u] = -1
			continue
		case seen[u] < 0:
			continue
		}
		if scramcred.ValidUser(u) != nil {
			resp.Results = append(resp.Results, &adminv1.UserScramCredentials{User: u, Error: kafkaErr(kafkaResourceNotFound, "attempt to describe a user credential that does not exist: %s", u)})
			continue
		}
		rec, _, err := h.user(ctx, u)
		if err != nil {
			return nil, err
		}
		if len(rec.GetCredentials()) == 0 {
			resp.Results = append(resp.Results, &adminv1.UserScramCredentials{User: u, Error: kafkaErr(kafkaResourceNotFound, "attempt to describe a user credential that does not exist: %s", u)})
			continue
		}
		resp.Results = append(resp.Results, describe(rec))
	}
	return resp, nil
}

// userChange is every change a request makes to one user.
type userChange struct {
	result  *adminv1.AlterUserScramCredentialsResult
	deletes []adminv1.ScramMechanism
	upserts []*controllerv1.ScramCredential
}

func (h *userHandler) AlterUserScramCredentials(ctx context.Context, req *adminv1.AlterUserScramCredentialsRequest) (*adminv1.AlterUserScramCredentialsResponse, error) {
	if n := len(req.GetDeletions()) + len(req.GetUpsertions()); n > maxUserAlterations {
		return nil, errs.New(errs.InvalidRequest, "%d credential changes in one request, at most %d", n, maxUserAlterations).Field("upsertions", "too many")
	}
	resp := &adminv1.AlterUserScramCredentialsResponse{}
	byUser := map[string]*userChange{}
	var order []string
	change := func(u string) *userChange {
		ch, ok := byUser[u]
		if !ok {
			ch = &userChange{result: &adminv1.AlterUserScramCredentialsResult{User: u}}
			byUser[u] = ch
			order = append(order, u)
			resp.Results = append(resp.Results, ch.result)
		}
		return ch
	}
	fail := func(ch *userChange, d *commonv1.ErrorDetail) {
		if ch.result.Error == nil {
			ch.result.Error = d
		}
	}
	seen := map[string]bool{}
	check := func(ch *userChange, u string, m adminv1.ScramMechanism) bool {
		if err := scramcred.ValidUser(u); err != nil {
			fail(ch, kafkaErr(kafkaUnacceptableCredential, "%v", err))
			return false
		}
		if scramcred.Hash(m) == nil {
			fail(ch, kafkaErr(kafkaUnsupportedSASLMechanism, "unknown SCRAM mechanism %v", m))
			return false
		}
		k := u + "\x00" + m.String()
		if seen[k] {
			fail(ch, kafkaErr(kafkaDuplicateResource, "a user credential cannot be altered twice in the same request: %s %s", u, scramcred.Name(m)))
			return false
		}
		seen[k] = true
		return true
	}
	for _, d := range req.GetDeletions() {
		ch := change(d.GetUser())
		if check(ch, d.GetUser(), d.GetMechanism()) {
			ch.deletes = append(ch.deletes, d.GetMechanism())
		}
	}
	for _, u := range req.GetUpsertions() {
		ch := change(u.GetUser())
		if !check(ch, u.GetUser(), u.GetMechanism()) {
			continue
		}
		m := u.GetMechanism()
		switch it := u.GetIterations(); {
		case it < scramcred.MinIterations || it > scramcred.MaxIterations:
			fail(ch, kafkaErr(kafkaUnacceptableCredential, "iterations %d is outside %d..%d", it, scramcred.MinIterations, scramcred.MaxIterations))
			continue
		case len(u.GetSalt()) == 0 || len(u.GetSalt()) > 1024:
			fail(ch, kafkaErr(kafkaUnacceptableCredential, "salt must be 1 to 1024 bytes"))
			continue
		case len(u.GetSaltedPassword()) != scramcred.Hash(m)().Size():
			fail(ch, kafkaErr(kafkaUnacceptableCredential, "salted password must be %d bytes for %s", scramcred.Hash(m)().Size(), scramcred.Name(m)))
			continue
		}
		stored, server := scramcred.Keys(m, u.GetSaltedPassword())
		ch.upserts = append(ch.upserts, &controllerv1.ScramCredential{Mechanism: m, Salt: u.GetSalt(), Iterations: u.GetIterations(), StoredKey: stored, ServerKey: server})
	}
	for _, u := range order {
		ch := byUser[u]
		if ch.result.Error != nil {
			continue
		}
		if d, err := h.applyUser(ctx, u, ch); err != nil {
			return nil, err
		} else if d != nil {
			ch.result.Error = d
			continue
		}
		h.c.log.Info("user SCRAM credentials altered", "user", u, "upserted", len(ch.upserts), "deleted", len(ch.deletes))
	}
	return resp, nil
}

var errUserRace = errors.New("user changed concurrently")

// applyUser writes one user's changes, retrying a concurrent update; a
// deletion of a credential that does not exist answers RESOURCE_NOT_FOUND.
func (h *userHandler) applyUser(ctx context.Context, u string, ch *userChange) (*commonv1.ErrorDetail, error) {
	for attempt := 0; attempt < 3; attempt++ {
		rec, rev, err := h.user(ctx, u)
		if err != nil {
			return nil, err
		}
		byMech := map[adminv1.ScramMechanism]*controllerv1.ScramCredential{}
		for _, c := range rec.GetCredentials() {
			byMech[c.GetMechanism()] = c
		}
		for _, m := range ch.deletes {
			if byMech[m] == nil {
				return kafkaErr(kafkaResourceNotFound, "attempt to delete a user credential that does not exist: %s %s", u, scramcred.Name(m)), nil
			}
			delete(byMech, m)
		}
		for _, c := range ch.upserts {
			byMech[c.GetMechanism()] = c
		}
		rec = &controllerv1.UserRecord{Name: u}
		for _, m := range scramcred.Mechanisms {
			if c := byMech[m]; c != nil {
				rec.Credentials = append(rec.Credentials, c)
			}
		}
		key := mdstore.UserKey(u)
		op := clientv3.OpPut(key, string(mdstore.Marshal(rec)))
		if len(rec.Credentials) == 0 {
			op = clientv3.OpDelete(key)
		}
		applied, err := h.c.write(ctx, []clientv3.Cmp{clientv3.Compare(clientv3.ModRevision(key), "=", rev)}, op)
		if err != nil {
			return nil, err
		}
		if applied {
			return nil, nil
		}
	}
	return nil, errs.New(errs.ConcurrentUpdate, "%v: %s; retry", errUserRace, strings.TrimSpace(u))
}
