package rpc

import (
	"sync"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials"
)

// Pool keeps one client connection per address, for roles that talk to
// many peers (storage nodes, the active controller). The zero value is
// ready to use.
type Pool struct {
	// Creds are the transport credentials of new connections (nil:
	// plaintext); set before first use.
	Creds credentials.TransportCredentials

	mu    sync.Mutex
	conns map[string]*grpc.ClientConn
}

// Get returns the connection to addr, dialing it on first use.
func (p *Pool) Get(addr string) (*grpc.ClientConn, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if c, ok := p.conns[addr]; ok {
		return c, nil
	}
	c, err := DialCreds(p.Creds, addr)
	if err != nil {
		return nil, err
	}
	if p.conns == nil {
		p.conns = map[string]*grpc.ClientConn{}
	}
	p.conns[addr] = c
	return c, nil
}

// Close closes every connection; the pool can be used again afterwards.
func (p *Pool) Close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, c := range p.conns {
		c.Close()
	}
	p.conns = nil
}
