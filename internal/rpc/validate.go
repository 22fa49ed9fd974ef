package rpc

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"

	validatepb "buf.build/gen/go/bufbuild/protovalidate/protocolbuffers/go/buf/validate"
	"buf.build/go/protovalidate"
	pvmw "github.com/grpc-ecosystem/go-grpc-middleware/v2/interceptors/protovalidate"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"

	commonv1 "github.com/strata-io/strata/api/strata/common/v1"
	"github.com/strata-io/strata/internal/errs"
)

// Request rules live in the .proto files as buf.validate options;
// go-grpc-middleware's protovalidate interceptors check every request
// against them before a handler runs, and the interceptors below turn the
// violations into Strata's error model: INVALID_ARGUMENT with an
// ErrorDetail (INVALID_REQUEST) naming each bad field.

var validator = sync.OnceValues(func() (protovalidate.Validator, error) { return protovalidate.New() })

// Validate checks m against its rules, for messages a handler checks itself
// (a stream request whose violation is answered in the stream rather than
// by ending it).
func Validate(m proto.Message) *errs.Error {
	v, err := validator()
	if err == nil {
		err = v.Validate(m)
	}
	var ve *protovalidate.ValidationError
	switch {
	case err == nil:
		return nil
	case errors.As(err, &ve):
		return violations(ve.ToProto().GetViolations())
	default:
		return errs.New(commonv1.ErrorCode_ERROR_CODE_UNSPECIFIED, "validating %s: %v", m.ProtoReflect().Descriptor().FullName(), err)
	}
}

// validationInterceptors check requests against their rules; messages
// named in skip are left to their handlers.
func validationInterceptors(skip ...protoreflect.MessageType) (grpc.UnaryServerInterceptor, grpc.StreamServerInterceptor) {
	v, err := validator()
	if err != nil {
		panic(fmt.Sprintf("protovalidate: %v", err)) // only with broken rules compiled in
	}
	opt := pvmw.WithIgnoreMessages(skip...)
	check, checkStream := pvmw.UnaryServerInterceptor(v, opt), pvmw.StreamServerInterceptor(v, opt)
	unary := func(ctx context.Context, req any, info *grpc.UnaryServerInfo, handler grpc.UnaryHandler) (any, error) {
		resp, err := check(ctx, req, info, handler)
		return resp, toErrorDetail(err)
	}
	stream := func(srv any, ss grpc.ServerStream, info *grpc.StreamServerInfo, handler grpc.StreamHandler) error {
		return checkStream(srv, ss, info, func(srv any, checked grpc.ServerStream) error {
			return handler(srv, convertingStream{checked})
		})
	}
	return unary, stream
}

// convertingStream gives a stream handler violations in Strata's error
// model when a received message breaks its rules.
type convertingStream struct{ grpc.ServerStream }

func (s convertingStream) RecvMsg(m any) error { return toErrorDetail(s.ServerStream.RecvMsg(m)) }

// toErrorDetail rewrites the middleware's INVALID_ARGUMENT status (which
// carries buf.validate.Violations) as a Strata error; others pass through.
func toErrorDetail(err error) error {
	st, ok := status.FromError(err)
	if !ok || st.Code() != codes.InvalidArgument {
		return err
	}
	for _, d := range st.Details() {
		if v, ok := d.(*validatepb.Violations); ok {
			return violations(v.GetViolations())
		}
	}
	return err
}

func violations(vs []*validatepb.Violation) *errs.Error {
	if len(vs) == 0 {
		return errs.New(errs.InvalidRequest, "invalid request")
	}
	msgs := make([]string, len(vs))
	for i, v := range vs {
		msgs[i] = fieldPath(v) + ": " + v.GetMessage()
	}
	e := errs.New(errs.InvalidRequest, "%s", strings.Join(msgs, "; "))
	for _, v := range vs {
		e.Field(fieldPath(v), v.GetMessage())
	}
	return e
}

// fieldPath names the bad field as the request spells it
// ("records[2].headers[1].key"; a oneof by its name).
func fieldPath(v *validatepb.Violation) string {
	return protovalidate.FieldPathString(v.GetField())
}
