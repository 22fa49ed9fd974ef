package rpc

import (
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/resolver"
	"google.golang.org/grpc/resolver/manual"

	"github.com/strata-io/strata/internal/limits"
)

var schemeSeq atomic.Int64

// Dial returns a lazily connecting client for one or more equivalent
// addresses (comma-separated or several arguments). With several, the
// connection uses the first that answers and moves on when it fails, so a
// list of controllers survives the loss of any of them.
func Dial(addrs ...string) (*grpc.ClientConn, error) { return DialCreds(nil, addrs...) }

// DialCreds is Dial with transport credentials (nil: plaintext), such as
// the client side of a role's TLS block (tlsconf.TLS.ClientCreds).
func DialCreds(creds credentials.TransportCredentials, addrs ...string) (*grpc.ClientConn, error) {
	return DialWith(creds, addrs)
}

// DialWith is DialCreds with more dial options (per-call credentials, say).
func DialWith(creds credentials.TransportCredentials, addrs []string, extra ...grpc.DialOption) (*grpc.ClientConn, error) {
	if creds == nil {
		creds = insecure.NewCredentials()
	}
	var list []string
	for _, a := range addrs {
		for _, p := range strings.Split(a, ",") {
			if p = strings.TrimSpace(p); p != "" {
				list = append(list, p)
			}
		}
	}
	if len(list) == 0 {
		return nil, fmt.Errorf("dial: no address given")
	}
	opts := []grpc.DialOption{
		grpc.WithTransportCredentials(creds),
		grpc.WithKeepaliveParams(keepalive.ClientParameters{Time: 10 * time.Second, Timeout: 5 * time.Second, PermitWithoutStream: true}),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(MaxMessageBytes), grpc.MaxCallSendMsgSize(MaxMessageBytes)),
		grpc.WithInitialWindowSize(limits.GRPCStreamWindowBytes),
		grpc.WithInitialConnWindowSize(limits.GRPCConnWindowBytes),
	}
	opts = append(opts, extra...)
	target := "passthrough:///" + list[0]
	if len(list) > 1 {
		r := manual.NewBuilderWithScheme(fmt.Sprintf("strata%d", schemeSeq.Add(1)))
		state := resolver.State{}
		for _, a := range list {
			// The TLS server name of each address is its own host, not
			// the made-up target.
			host, _, _ := net.SplitHostPort(a)
			state.Addresses = append(state.Addresses, resolver.Address{Addr: a, ServerName: host})
		}
		r.InitialState(state)
		opts = append(opts, grpc.WithResolvers(r))
		target = r.Scheme() + ":///peers"
	}
	conn, err := grpc.NewClient(target, opts...)
	if err != nil {
		return nil, fmt.Errorf("dial %s: %w", strings.Join(list, ","), err)
	}
	return conn, nil
}

// ValidateAddress checks that addr is a dialable host:port.
func ValidateAddress(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if host == "" {
		return fmt.Errorf("%q has no host", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n <= 0 || n > 65535 {
		return fmt.Errorf("%q has an invalid port", addr)
	}
	return nil
}
