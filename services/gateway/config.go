package gateway

import (
	"github.com/spf13/pflag"
	"github.com/strata-io/strata/internal/config"
)

// Config is the gateway role's configuration.
type Config struct {
	GRPCAddr       string
	HTTPAddr       string
	KafkaAddr      string
	AdvertiseGRPC  string
	AdvertiseKafka string
	Controllers    []string
	GatewayID      int32
}

// RegisterFlags binds the gateway's flags to c with their defaults.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.GRPCAddr, "grpc-addr", ":9191", "public gRPC API listen address (admin API, health)")
	fs.StringVar(&c.HTTPAddr, "http-addr", ":8080", "HTTP listen address for /healthz, /readyz and /metrics")
	fs.StringVar(&c.KafkaAddr, "kafka-addr", ":9092", "Kafka protocol listen address")
	fs.StringVar(&c.AdvertiseGRPC, "advertise-grpc", "", "gRPC address clients dial (default: hostname and the grpc-addr port)")
	fs.StringVar(&c.AdvertiseKafka, "advertise-kafka", "", "Kafka address advertised to Kafka clients (default: hostname and the kafka-addr port)")
	fs.StringSliceVar(&c.Controllers, "controllers", []string{"localhost:9190"}, "controller gRPC addresses, comma-separated")
	fs.Int32Var(&c.GatewayID, "id", 0, "gateway id (0: the controller assigns one)")
}

// Validate checks every field and reports each bad one.
func (c *Config) Validate() error {
	var p config.Problems
	p.Addr("grpc-addr", c.GRPCAddr)
	p.Addr("http-addr", c.HTTPAddr)
	p.Addr("kafka-addr", c.KafkaAddr)
	if c.AdvertiseGRPC != "" {
		p.Addr("advertise-grpc", c.AdvertiseGRPC)
	}
	if c.AdvertiseKafka != "" {
		p.Addr("advertise-kafka", c.AdvertiseKafka)
	}
	if len(c.Controllers) == 0 {
		p.Addf("controllers", "at least one controller address is needed")
	}
	for _, a := range c.Controllers {
		p.Addr("controllers", a)
	}
	if c.GatewayID < 0 {
		p.Addf("id", "%d is negative", c.GatewayID)
	}
	return p.Err()
}
