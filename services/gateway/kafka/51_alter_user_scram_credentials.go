package kafka

// AlterUserScramCredentials, version 0 (KIP-554): creates, replaces and
// deletes SCRAM credentials through the controller, which keeps only the
// salted keys derived from the salted password. Each user answers on its
// own: UNACCEPTABLE_CREDENTIAL (bad name, iterations outside 4096..16384, a
// salted password of the wrong length), UNSUPPORTED_SASL_MECHANISM,
// DUPLICATE_RESOURCE (one user and mechanism twice), RESOURCE_NOT_FOUND
// (deleting a credential that does not exist).

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(51, 0, 0, handleAlterUserSCRAMCredentials) }

func handleAlterUserSCRAMCredentials(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.AlterUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.AlterUserSCRAMCredentialsResponse)
	areq := &adminv1.AlterUserScramCredentialsRequest{}
	for _, d := range req.Deletions {
		areq.Deletions = append(areq.Deletions, &adminv1.ScramCredentialDeletion{User: d.Name, Mechanism: adminv1.ScramMechanism(d.Mechanism)})
	}
	for _, u := range req.Upsertions {
		areq.Upsertions = append(areq.Upsertions, &adminv1.ScramCredentialUpsertion{User: u.Name, Mechanism: adminv1.ScramMechanism(u.Mechanism),
			Iterations: u.Iterations, Salt: u.Salt, SaltedPassword: u.SaltedPassword})
	}
	var out *adminv1.AlterUserScramCredentialsResponse
	code, msg := int16(35), ptr("this gateway has no user store")
	if s.d.UserAdmin != nil {
		code, msg = adminCall(ctx, func(ctx context.Context) (err error) {
			out, err = s.d.UserAdmin.AlterUserScramCredentials(ctx, areq)
			return err
		})
	}
	if code != 0 { // the whole request failed: every user answers with it
		seen := map[string]bool{}
		add := func(name string) {
			if !seen[name] {
				seen[name] = true
				rr := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
				rr.User, rr.ErrorCode, rr.ErrorMessage = name, code, msg
				resp.Results = append(resp.Results, rr)
			}
		}
		for _, d := range req.Deletions {
			add(d.Name)
		}
		for _, u := range req.Upsertions {
			add(u.Name)
		}
		return resp, nil
	}
	for _, u := range out.GetResults() {
		rr := kmsg.NewAlterUserSCRAMCredentialsResponseResult()
		rr.User = u.GetUser()
		if e := u.GetError(); e != nil {
			m := e.GetMessage()
			rr.ErrorCode, rr.ErrorMessage = int16(e.GetKafkaErrorCode()), &m
		}
		resp.Results = append(resp.Results, rr)
	}
	return resp, nil
}

func ptr[T any](v T) *T { return &v }
