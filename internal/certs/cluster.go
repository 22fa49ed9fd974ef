package certs

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
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
