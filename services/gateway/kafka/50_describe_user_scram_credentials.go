package kafka

// DescribeUserScramCredentials, version 0 (KIP-554): the SCRAM mechanisms
// and iteration counts of the named users (null or empty: every user), read
// through the controller. An unknown user is RESOURCE_NOT_FOUND, a user named
// twice DUPLICATE_RESOURCE, in its own result, as from Kafka.

import (
	"context"

	adminv1 "github.com/strata-io/strata/api/strata/admin/v1"
	"github.com/twmb/franz-go/pkg/kmsg"
)

func init() { register(50, 0, 0, handleDescribeUserSCRAMCredentials) }

func handleDescribeUserSCRAMCredentials(ctx context.Context, s *Server, r *request) (kmsg.Response, error) {
	req := r.body.(*kmsg.DescribeUserSCRAMCredentialsRequest)
	resp := req.ResponseKind().(*kmsg.DescribeUserSCRAMCredentialsResponse)
	areq := &adminv1.DescribeUserScramCredentialsRequest{}
	for _, u := range req.Users {
		areq.Users = append(areq.Users, u.Name)
	}
	if s.d.UserAdmin == nil {
		msg := "this gateway has no user store"
		resp.ErrorCode, resp.ErrorMessage = 35, &msg
		return resp, nil
	}
	var out *adminv1.DescribeUserScramCredentialsResponse
	resp.ErrorCode, resp.ErrorMessage = adminCall(ctx, func(ctx context.Context) (err error) {
		out, err = s.d.UserAdmin.DescribeUserScramCredentials(ctx, areq)
		return err
	})
	for _, u := range out.GetResults() {
		rr := kmsg.NewDescribeUserSCRAMCredentialsResponseResult()
		rr.User = u.GetUser()
		if e := u.GetError(); e != nil {
			msg := e.GetMessage()
			rr.ErrorCode, rr.ErrorMessage = int16(e.GetKafkaErrorCode()), &msg
		}
		for _, c := range u.GetCredentials() {
			ci := kmsg.NewDescribeUserSCRAMCredentialsResponseResultCredentialInfo()
			ci.Mechanism, ci.Iterations = int8(c.GetMechanism()), c.GetIterations()
			rr.CredentialInfos = append(rr.CredentialInfos, ci)
		}
		resp.Results = append(resp.Results, rr)
	}
	return resp, nil
}
