package certs

import (
	"encoding/binary"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// MaxClusterStorageNodes bounds WriteCluster's storage certificates.
const MaxClusterStorageNodes = 1000

// ClusterFiles are the files WriteCluster writes under its directory, by
// base name (each X has X.crt and X.key).
func ClusterFiles(storageNodes int) []string {
	names := []string{"ca", "controller", "gateway", "client"}
	for i := 1; i <= storageNodes; i++ {
		names = append(names, "storage-"+strconv.Itoa(i))
	}
	return names
}

// WriteCluster creates a development CA and one certificate per role under
// dir: controller (strata://controller), storage-1..N (strata://storage/N),
// gateway (strata://gateway) and client (no role: a user's certificate for
// the CLI and Kafka/gRPC clients). Role certificates serve hosts plus
// localhost, 127.0.0.1 and ::1, and are client certificates too. It refuses
// to overwrite an existing CA.
func WriteCluster(dir string, hosts []string, storageNodes int, validity time.Duration) error {
	if storageNodes < 0 || storageNodes > MaxClusterStorageNodes {
		return fmt.Errorf("storage nodes: %d is not between 0 and %d", storageNodes, MaxClusterStorageNodes)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", dir, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "ca.key")); err == nil {
		return fmt.Errorf("%s already holds a CA (ca.key); remove it or choose another --dir", dir)
	}
	ca, err := NewCA("Strata development CA", validity)
	if err != nil {
		return err
	}
	if err := ca.WriteFiles(dir, "ca"); err != nil {
		return err
	}
	all := append([]string{"localhost", "127.0.0.1", "::1"}, hosts...)
	leaves := []struct {
		name string
		leaf Leaf
	}{
		{"controller", Leaf{CommonName: "strata-controller", Hosts: all, Identity: Identity{Role: RoleController}}},
		{"gateway", Leaf{CommonName: "strata-gateway", Hosts: all, Identity: Identity{Role: RoleGateway}}},
		{"client", Leaf{CommonName: "strata-client", Client: true}},
	}
	for i := 1; i <= storageNodes; i++ {
		leaves = append(leaves, struct {
			name string
			leaf Leaf
		}{"storage-" + strconv.Itoa(i), Leaf{CommonName: "strata-storage-" + strconv.Itoa(i), Hosts: all,
			Identity: Identity{Role: RoleStorage, NodeID: int32(i)}}})
	}
	for _, l := range leaves {
		l.leaf.Validity = validity
		issued, err := ca.Issue(l.leaf)
		if err != nil {
			return err
		}
		if err := issued.WriteFiles(dir, l.name); err != nil {
			return err
		}
	}
	return nil
}

// SharedStorageFile is the name (without .crt/.key) of the storage
// certificate WriteSharedStorage issues.
const SharedStorageFile = "storage"

// WriteSharedStorage issues, from the CA in dir, one storage certificate
// that names no node id (strata://storage): any storage node may use it,
// for clusters whose nodes get their ids at first registration (a scaled
// Compose service). It binds a caller to the storage role only, not to a
// node id (docs/security.md). It refuses to overwrite storage.crt.
func WriteSharedStorage(dir string, hosts []string, validity time.Duration) error {
	if _, err := os.Stat(filepath.Join(dir, SharedStorageFile+".crt")); err == nil {
		return fmt.Errorf("%s already holds %s.crt", dir, SharedStorageFile)
	}
	ca, err := LoadCA(filepath.Join(dir, "ca.crt"), filepath.Join(dir, "ca.key"))
	if err != nil {
		return err
	}
	issued, err := ca.Issue(Leaf{CommonName: "strata-storage", Validity: validity,
		Hosts: append([]string{"localhost", "127.0.0.1", "::1"}, hosts...), Identity: Identity{Role: RoleStorage}})
	if err != nil {
		return err
	}
	return issued.WriteFiles(dir, SharedStorageFile)
}

// MaxExpandedHosts bounds how many addresses ExpandHosts makes of CIDRs.
const MaxExpandedHosts = 1024

// ExpandHosts replaces each IPv4 CIDR in hosts (10.0.0.0/24) by every
// address in it, so that a certificate covers a container network whose
// addresses are handed out at start. At most MaxExpandedHosts in all.
func ExpandHosts(hosts []string) ([]string, error) {
	var out []string
	for _, h := range hosts {
		if !strings.Contains(h, "/") {
			out = append(out, h)
			continue
		}
		_, n, err := net.ParseCIDR(h)
		if err != nil || n.IP.To4() == nil {
			return nil, fmt.Errorf("%q is not an IPv4 CIDR", h)
		}
		ones, bits := n.Mask.Size()
		if bits-ones > 10 {
			return nil, fmt.Errorf("%s holds more than %d addresses", h, MaxExpandedHosts)
		}
		ip := binary.BigEndian.Uint32(n.IP.To4())
		for i := uint32(0); i < 1<<(bits-ones); i++ {
			if len(out) >= MaxExpandedHosts {
				return nil, fmt.Errorf("hosts: more than %d addresses", MaxExpandedHosts)
			}
			out = append(out, net.IPv4(byte((ip+i)>>24), byte((ip+i)>>16), byte((ip+i)>>8), byte(ip+i)).String())
		}
	}
	return out, nil
}
