// Package roles holds what every role (controller, storage node, gateway)
// shares: its gRPC and HTTP servers, the connection to the controllers and
// the membership (registered roles only), its background goroutines, the
// fatal error that ends it, and the order in which all of that stops.
package roles

import (
	"context"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/strata-io/strata/internal/httpserver"
	"github.com/strata-io/strata/internal/member"
	"github.com/strata-io/strata/internal/rpc"
	"google.golang.org/grpc"
)

// Base is embedded by a role; fields are set as the role starts, and Stop
// copes with any of them still unset (a start that failed half way).
type Base struct {
	Log      *slog.Logger
	Listener net.Listener
	GRPC     *rpc.Server
	HTTP     *httpserver.Server
	Conn     *grpc.ClientConn
	Member   *member.Member

	ctx       context.Context
	cancel    context.CancelFunc
	wg        sync.WaitGroup
	fatalOnce sync.Once
	fatal     chan error
}

// Fail reports an error that ends the role: launch stops the process. Only
// the first one is delivered.
func (b *Base) Fail(err error) {
	select {
	case b.fatalChan() <- err:
	default:
	}
}

// Fatal delivers the error of Fail.
func (b *Base) Fatal() <-chan error { return b.fatalChan() }

func (b *Base) fatalChan() chan error {
	b.fatalOnce.Do(func() { b.fatal = make(chan error, 1) })
	return b.fatal
}

// Context is cancelled when the role stops.
func (b *Base) Context() context.Context {
	if b.ctx == nil {
		b.ctx, b.cancel = context.WithCancel(context.Background())
	}
	return b.ctx
}

// Go runs f in the background until the role stops.
func (b *Base) Go(f func(ctx context.Context)) {
	ctx := b.Context()
	b.wg.Add(1)
	go func() {
		defer b.wg.Done()
		f(ctx)
	}()
}

// Stop shuts the role down in a fixed order: report not ready, stop the
// background work, give up the lease (so the controller sees the member
// gone at once), drain HTTP and gRPC, close the controller connection.
func (b *Base) Stop() {
	if b.GRPC != nil {
		b.GRPC.SetReady(false)
	}
	if b.cancel != nil {
		b.cancel()
	}
	b.wg.Wait()
	if b.Member != nil {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		if err := b.Member.Unregister(ctx); err != nil {
			b.Log.Debug("unregister failed; the lease will expire instead", "err", err)
		}
		cancel()
	}
	if b.HTTP != nil {
		b.HTTP.Stop(2 * time.Second)
	}
	if b.GRPC != nil {
		b.GRPC.Stop(5 * time.Second)
	} else if b.Listener != nil {
		b.Listener.Close()
	}
	if b.Conn != nil {
		b.Conn.Close()
	}
}
