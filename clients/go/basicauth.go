package strata

import (
	"context"
	"encoding/base64"
)

// WithBasicAuth authenticates every call as user with password (HTTP
// Basic in the `authorization` metadata, checked by the gateway against its
// SCRAM user store; the principal is User:<user>). The credentials are only
// sent over TLS ([WithTLS]); [WithBasicAuthInsecure] sends them over
// plaintext too.
func WithBasicAuth(user, password string) Opt {
	return clientOpt(func(c *clientConfig) { c.perRPC = basicAuth{user: user, password: password, secure: true} })
}

// WithBasicAuthInsecure is [WithBasicAuth] without the TLS requirement: the
// password crosses the network in the clear. For loopback and tests only.
func WithBasicAuthInsecure(user, password string) Opt {
	return clientOpt(func(c *clientConfig) { c.perRPC = basicAuth{user: user, password: password} })
}

type basicAuth struct {
	user, password string
	secure         bool
}

func (b basicAuth) GetRequestMetadata(context.Context, ...string) (map[string]string, error) {
	return map[string]string{"authorization": "Basic " + base64.StdEncoding.EncodeToString([]byte(b.user+":"+b.password))}, nil
}

func (b basicAuth) RequireTransportSecurity() bool { return b.secure }
