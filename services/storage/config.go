package storage

import (
	"github.com/spf13/pflag"
	"github.com/strata-io/strata/internal/config"
)

// Config is the storage role's configuration.
type Config struct {
	DataDir       string
	GRPCAddr      string
	AdvertiseAddr string
	HTTPAddr      string
	Controllers   []string
	Rack          string
}

// RegisterFlags binds the storage role's flags to c with their defaults.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.DataDir, "data-dir", "./strata-data/storage", "directory for partition data and the node id")
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9290", "gRPC listen address (storage API, replication, health)")
	fs.StringVar(&c.AdvertiseAddr, "advertise-addr", "", "gRPC address other roles dial (default: hostname and the grpc-addr port)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8091", "HTTP listen address for /healthz, /readyz and /metrics")
	fs.StringSliceVar(&c.Controllers, "controllers", []string{"localhost:9190"}, "controller gRPC addresses, comma-separated")
	fs.StringVar(&c.Rack, "rack", "", "rack or zone of this node; replicas of a partition spread over racks")
}

// Validate checks every field and reports each bad one.
func (c *Config) Validate() error {
	var p config.Problems
	if c.DataDir == "" {
		p.Addf("data-dir", "must not be empty")
	}
	p.Addr("grpc-addr", c.GRPCAddr)
	p.Addr("http-addr", c.HTTPAddr)
	if c.AdvertiseAddr != "" {
		p.Addr("advertise-addr", c.AdvertiseAddr)
	}
	if len(c.Controllers) == 0 {
		p.Addf("controllers", "at least one controller address is needed")
	}
	for _, a := range c.Controllers {
		p.Addr("controllers", a)
	}
	if len(c.Rack) > 64 {
		p.Addf("rack", "longer than 64 bytes")
	}
	return p.Err()
}
