package controller

import (
	"fmt"
	"log/slog"
	"net/url"
	"sync/atomic"
	"time"

	"go.etcd.io/etcd/client/pkg/v3/transport"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/server/v3/embed"
	"go.etcd.io/etcd/server/v3/etcdserver/api/v3client"
)

// etcd limits sized for Strata's metadata: one topic creation writes every
// partition record in a single transaction.
const (
	etcdMaxTxnOps       = 2*DefaultMaxPartitionsCeiling + 64
	etcdMaxRequestBytes = 10 << 20
	etcdStartTimeout    = 60 * time.Second
)

// DefaultMaxPartitionsCeiling is the highest --max-partitions accepted.
const DefaultMaxPartitionsCeiling = 100000

// startEtcd starts the embedded etcd member and returns it with an
// in-process client (no network hop to our own member).
func startEtcd(c *Config, log *slog.Logger, closing *atomic.Bool) (*embed.Etcd, *clientv3.Client, error) {
	cfg := embed.NewConfig()
	cfg.Name = c.Name
	cfg.Dir = c.etcdDir()
	peer, err := url.Parse(c.etcdScheme() + c.EtcdPeerAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("etcd-peer-addr: %w", err)
	}
	advPeer, err := url.Parse(c.peerURL())
	if err != nil {
		return nil, nil, fmt.Errorf("etcd-advertise-peer: %w", err)
	}
	client, err := url.Parse(c.etcdScheme() + c.EtcdClientAddr)
	if err != nil {
		return nil, nil, fmt.Errorf("etcd-client-addr: %w", err)
	}
	cfg.ListenPeerUrls = []url.URL{*peer}
	cfg.AdvertisePeerUrls = []url.URL{*advPeer}
	cfg.ListenClientUrls = []url.URL{*client}
	cfg.AdvertiseClientUrls = []url.URL{*client}
	if c.TLS.Enabled() {
		// Both etcd ports take only certificates of the cluster CA; etcd
		// reads the files at each handshake, so rotation needs no restart.
		info := transport.TLSInfo{CertFile: c.TLS.CertFile, KeyFile: c.TLS.KeyFile, TrustedCAFile: c.TLS.CAFile, ClientCertAuth: true}
		cfg.ClientTLSInfo, cfg.PeerTLSInfo = info, info
	}
	cfg.InitialCluster = c.initialCluster()
	cfg.ClusterState = c.EtcdInitialClusterState
	cfg.InitialClusterToken = "strata"
	cfg.LogLevel = c.EtcdLogLevel
	cfg.ZapLoggerBuilder = embed.NewZapLoggerBuilder(newEtcdLogger(log, c.EtcdLogLevel, closing))
	cfg.AutoCompactionMode = c.EtcdAutoCompactionMode
	cfg.AutoCompactionRetention = c.EtcdAutoCompactionRetention
	cfg.QuotaBackendBytes = c.EtcdQuotaBytes
	cfg.MaxTxnOps = etcdMaxTxnOps
	cfg.MaxRequestBytes = etcdMaxRequestBytes

	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("start etcd: %w", err)
	}
	select {
	case <-e.Server.ReadyNotify():
	case err := <-e.Err():
		e.Close()
		return nil, nil, fmt.Errorf("etcd failed while starting: %w", err)
	case <-time.After(etcdStartTimeout):
		e.Server.Stop()
		e.Close()
		return nil, nil, fmt.Errorf("etcd not ready after %s (are the other controllers of --etcd-initial-cluster up?)", etcdStartTimeout)
	}
	return e, v3client.New(e.Server), nil
}
