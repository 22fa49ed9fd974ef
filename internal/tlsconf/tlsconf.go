// Package tlsconf is the one TLS setup of every Strata listener and
// internal dial: a certificate and key, a CA bundle, a client-auth mode and
// TLS 1.2 at least. The files are read again when they change, so a
// rotated certificate is served (and presented) without a restart.
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"sync"

	"github.com/spf13/pflag"
	"github.com/strata-io/strata/internal/certs"
	"github.com/strata-io/strata/internal/config"
)

// Client-auth modes of --tls-client-auth.
const (
	AuthNone    = "none"
	AuthRequest = "request"
	AuthRequire = "require"
)

// Config is a role's TLS block, from its flags.
type Config struct {
	CertFile   string
	KeyFile    string
	CAFile     string
	ClientAuth string
}

// RegisterFlags binds the TLS flags every role shares.
func (c *Config) RegisterFlags(fs *pflag.FlagSet) {
	fs.StringVar(&c.CertFile, "tls-cert", "", "PEM certificate this role serves and presents to other roles (enables TLS; reloaded when the file changes)")
	fs.StringVar(&c.KeyFile, "tls-key", "", "PEM private key of --tls-cert")
	fs.StringVar(&c.CAFile, "tls-ca", "", "PEM CA bundle that signs the cluster's certificates: verifies servers this role dials and client certificates it is shown")
	fs.StringVar(&c.ClientAuth, "tls-client-auth", AuthNone,
		"client certificates on the client-facing listeners: none, request (verified when sent) or require; internal gRPC always requires one from --tls-ca")
}

// Enabled reports whether TLS is configured.
func (c Config) Enabled() bool { return c.CertFile != "" || c.KeyFile != "" || c.CAFile != "" }

// Validate records each problem of the block in p.
func (c Config) Validate(p *config.Problems) {
	switch c.ClientAuth {
	case AuthNone, AuthRequest, AuthRequire:
	default:
		p.Addf("tls-client-auth", "%q is not none, request or require", c.ClientAuth)
	}
	if !c.Enabled() {
		if c.ClientAuth != AuthNone {
			p.Addf("tls-client-auth", "needs --tls-cert, --tls-key and --tls-ca")
		}
		return
	}
	for _, f := range []struct{ name, v string }{{"tls-cert", c.CertFile}, {"tls-key", c.KeyFile}, {"tls-ca", c.CAFile}} {
		if f.v == "" {
			p.Addf(f.name, "is required when any --tls-* file is set")
		}
	}
}

// TLS is a loaded block. A nil *TLS means plaintext: its methods return
// nil configurations and insecure credentials.
type TLS struct {
	files      *files
	clientAuth tls.ClientAuthType
}

// Load reads the files of c; it returns nil, nil when TLS is off.
func Load(c Config) (*TLS, error) {
	if !c.Enabled() {
		return nil, nil
	}
	var p config.Problems
	c.Validate(&p)
	if err := p.Err(); err != nil {
		return nil, err
	}
	f := &files{certFile: c.CertFile, keyFile: c.KeyFile, caFile: c.CAFile}
	if _, err := f.load(); err != nil {
		return nil, err
	}
	t := &TLS{files: f, clientAuth: tls.NoClientCert}
	switch c.ClientAuth {
	case AuthRequest:
		t.clientAuth = tls.VerifyClientCertIfGiven
	case AuthRequire:
		t.clientAuth = tls.RequireAndVerifyClientCert
	}
	return t, nil
}

// Paths are the files, for components that read them themselves (etcd).
func (t *TLS) Paths() (cert, key, ca string) {
	return t.files.certFile, t.files.keyFile, t.files.caFile
}

// Identity is the role identity of this process's own certificate.
func (t *TLS) Identity() (certs.Identity, bool) {
	if t == nil {
		return certs.Identity{}, false
	}
	m := t.files.current()
	if m.leaf == nil {
		return certs.Identity{}, false
	}
	return certs.IdentityOf(m.leaf)
}

// Server is the configuration of a client-facing listener (Kafka, public
// gRPC, HTTP): client certificates as --tls-client-auth says.
func (t *TLS) Server() *tls.Config {
	if t == nil {
		return nil
	}
	return t.server(t.clientAuth)
}

// InternalServer is the configuration of an internal listener: a client
// certificate signed by the CA is required.
func (t *TLS) InternalServer() *tls.Config {
	if t == nil {
		return nil
	}
	return t.server(tls.RequireAndVerifyClientCert)
}

// server answers each handshake with the certificate and CA as they are
// on disk now.
func (t *TLS) server(auth tls.ClientAuthType) *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		GetConfigForClient: func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
			return t.serverNow(auth, hello.SupportedProtos), nil
		},
	}
}

func (t *TLS) serverNow(auth tls.ClientAuthType, alpn []string) *tls.Config {
	m := t.files.current()
	cfg := &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{m.pair},
		ClientCAs:    m.pool,
		ClientAuth:   auth,
	}
	// Offer back what the client asked for that we speak (h2 for gRPC,
	// http/1.1 for REST), as the listener's own config would.
	for _, p := range alpn {
		if p == "h2" || p == "http/1.1" {
			cfg.NextProtos = append(cfg.NextProtos, p)
		}
	}
	return cfg
}

// Client is the configuration for dialing serverName with this role's
// certificate as client certificate.
func (t *TLS) Client(serverName string) *tls.Config {
	if t == nil {
		return nil
	}
	m := t.files.current()
	return &tls.Config{
		MinVersion: tls.VersionTLS12,
		ServerName: serverName,
		RootCAs:    m.pool,
		GetClientCertificate: func(*tls.CertificateRequestInfo) (*tls.Certificate, error) {
			pair := t.files.current().pair
			return &pair, nil
		},
	}
}

// files caches the parsed certificate, key and CA, and parses them again
// when one of the files changes (its size, modification time or inode).
type files struct {
	certFile, keyFile, caFile string

	mu    sync.Mutex
	stamp [3]os.FileInfo
	mat   material
}

type material struct {
	pair tls.Certificate
	leaf *x509.Certificate
	pool *x509.CertPool
}

// current returns the material as on disk now; when the files are being
// replaced and do not parse, the last good material is kept.
func (f *files) current() material {
	m, _ := f.load()
	return m
}

func (f *files) load() (material, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var stamp [3]os.FileInfo
	changed := f.mat.leaf == nil
	for i, name := range []string{f.certFile, f.keyFile, f.caFile} {
		fi, err := os.Stat(name)
		if err != nil {
			if f.mat.leaf != nil {
				return f.mat, nil
			}
			return material{}, fmt.Errorf("tls: %w", err)
		}
		stamp[i] = fi
		if old := f.stamp[i]; old == nil || !os.SameFile(old, fi) || old.Size() != fi.Size() || !old.ModTime().Equal(fi.ModTime()) {
			changed = true
		}
	}
	if !changed {
		return f.mat, nil
	}
	m, err := readMaterial(f.certFile, f.keyFile, f.caFile)
	if err != nil {
		if f.mat.leaf != nil {
			return f.mat, nil // half-written files: keep serving the old pair
		}
		return material{}, err
	}
	f.stamp, f.mat = stamp, m
	return m, nil
}

func readMaterial(certFile, keyFile, caFile string) (material, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return material{}, fmt.Errorf("tls: load %s and %s: %w", certFile, keyFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return material{}, fmt.Errorf("tls: parse %s: %w", certFile, err)
	}
	pair.Leaf = leaf
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return material{}, fmt.Errorf("tls: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return material{}, fmt.Errorf("tls: %s holds no PEM certificate", caFile)
	}
	return material{pair: pair, leaf: leaf, pool: pool}, nil
}

// ClientFiles is the client configuration of the CLI and tools: the server
// verified against caFile (the system roots when empty), certFile and
// keyFile as client certificate when given.
func ClientFiles(caFile, certFile, keyFile string) (*tls.Config, error) {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls-ca: %w", err)
		}
		cfg.RootCAs = x509.NewCertPool()
		if !cfg.RootCAs.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls-ca: %s holds no PEM certificate", caFile)
		}
	}
	if (certFile == "") != (keyFile == "") {
		return nil, fmt.Errorf("tls-cert and tls-key go together")
	}
	if certFile != "" {
		pair, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return nil, fmt.Errorf("tls-cert: %w", err)
		}
		cfg.Certificates = []tls.Certificate{pair}
	}
	return cfg, nil
}
