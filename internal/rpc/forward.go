package rpc

import (
	"context"
	"fmt"
	"strings"

	"google.golang.org/grpc"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/reflect/protoreflect"
	"google.golang.org/protobuf/reflect/protoregistry"
)

// Forward sends a unary call received by this server unchanged to conn and
// returns the response, so a proxy needs no per-method code.
func Forward(ctx context.Context, conn grpc.ClientConnInterface, fullMethod string, req any) (proto.Message, error) {
	out, err := newResponse(fullMethod)
	if err != nil {
		return nil, err
	}
	if err := conn.Invoke(ctx, fullMethod, req, out); err != nil {
		return nil, err
	}
	return out, nil
}

// newResponse makes an empty response message for a full gRPC method name,
// found in the registry of generated descriptors.
func newResponse(fullMethod string) (proto.Message, error) {
	svc, method, ok := strings.Cut(strings.TrimPrefix(fullMethod, "/"), "/")
	if !ok {
		return nil, fmt.Errorf("bad method %q", fullMethod)
	}
	d, err := protoregistry.GlobalFiles.FindDescriptorByName(protoreflect.FullName(svc))
	if err != nil {
		return nil, fmt.Errorf("unknown service %q", svc)
	}
	sd, ok := d.(protoreflect.ServiceDescriptor)
	if !ok {
		return nil, fmt.Errorf("%q is not a service", svc)
	}
	md := sd.Methods().ByName(protoreflect.Name(method))
	if md == nil {
		return nil, fmt.Errorf("unknown method %q", fullMethod)
	}
	mt, err := protoregistry.GlobalTypes.FindMessageByName(md.Output().FullName())
	if err != nil {
		return nil, fmt.Errorf("no type for %s", md.Output().FullName())
	}
	return mt.New().Interface(), nil
}
