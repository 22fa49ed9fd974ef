// Package certs issues the X.509 certificates a Strata cluster uses: a CA,
// and leaf certificates for servers, clients and roles. A role's identity
// (controller, storage node N, gateway) travels in a URI SAN,
// strata://<role>[/<id>], so a peer can tell who is calling from the
// certificate alone. Only crypto/x509: no openssl is needed.
package certs

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// Roles a certificate can name.
const (
	RoleController = "controller"
	RoleStorage    = "storage"
	RoleGateway    = "gateway"
)

// Identity is the role (and for storage nodes the node id) a certificate
// names.
type Identity struct {
	Role string
	// NodeID is the storage node id; 0 for other roles, or a storage
	// certificate not tied to one id.
	NodeID int32
}

func (id Identity) String() string {
	if id.NodeID != 0 {
		return id.Role + "/" + strconv.Itoa(int(id.NodeID))
	}
	return id.Role
}

// URI is the SAN that carries id.
func (id Identity) URI() *url.URL {
	u := &url.URL{Scheme: "strata", Host: id.Role}
	if id.NodeID != 0 {
		u.Path = "/" + strconv.Itoa(int(id.NodeID))
	}
	return u
}

// IdentityOf reads the role identity from a certificate's URI SANs.
func IdentityOf(cert *x509.Certificate) (Identity, bool) {
	for _, u := range cert.URIs {
		if u.Scheme != "strata" {
			continue
		}
		switch u.Host {
		case RoleController, RoleStorage, RoleGateway:
		default:
			continue
		}
		id := Identity{Role: u.Host}
		if p := strings.TrimPrefix(u.Path, "/"); p != "" {
			n, err := strconv.ParseInt(p, 10, 32)
			if err != nil || n <= 0 {
				continue
			}
			id.NodeID = int32(n)
		}
		return id, true
	}
	return Identity{}, false
}

// CA is a certificate authority that can issue leaves.
type CA struct {
	Cert *x509.Certificate
	Key  *ecdsa.PrivateKey
	// CertPEM is Cert, PEM-encoded.
	CertPEM []byte
}

// NewCA creates a self-signed CA valid for validity.
func NewCA(commonName string, validity time.Duration) (*CA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("generate CA key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: commonName, Organization: []string{"Strata"}},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("create CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", der)}, nil
}

// LoadCA reads a CA's certificate and key from PEM files.
func LoadCA(certFile, keyFile string) (*CA, error) {
	pair, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	key, ok := pair.PrivateKey.(*ecdsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("load CA: %s: only ECDSA keys are supported", keyFile)
	}
	cert, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return nil, fmt.Errorf("load CA: %w", err)
	}
	if !cert.IsCA {
		return nil, fmt.Errorf("load CA: %s is not a CA certificate", certFile)
	}
	return &CA{Cert: cert, Key: key, CertPEM: pemBlock("CERTIFICATE", pair.Certificate[0])}, nil
}

// Leaf describes a certificate to issue.
type Leaf struct {
	CommonName string
	// Hosts are DNS names or IP addresses the certificate serves.
	Hosts []string
	// Identity, when its Role is set, is written as a URI SAN.
	Identity Identity
	// Server and Client choose the extended key usages (both when neither).
	Server, Client bool
	Validity       time.Duration
}

// Issued is a leaf certificate and its key, PEM-encoded.
type Issued struct {
	CertPEM, KeyPEM []byte
}

// TLSCertificate parses the pair for crypto/tls.
func (i Issued) TLSCertificate() (tls.Certificate, error) {
	return tls.X509KeyPair(i.CertPEM, i.KeyPEM)
}

// Issue signs a new leaf certificate.
func (ca *CA) Issue(l Leaf) (Issued, error) {
	if l.CommonName == "" {
		return Issued{}, errors.New("issue certificate: a common name is required")
	}
	if l.Validity <= 0 {
		l.Validity = 365 * 24 * time.Hour
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return Issued{}, fmt.Errorf("generate key: %w", err)
	}
	serial, err := newSerial()
	if err != nil {
		return Issued{}, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: l.CommonName, Organization: []string{"Strata"}},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(l.Validity),
		KeyUsage:     x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
	}
	if l.Server || !l.Client {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageServerAuth)
	}
	if l.Client || !l.Server {
		tmpl.ExtKeyUsage = append(tmpl.ExtKeyUsage, x509.ExtKeyUsageClientAuth)
	}
	for _, h := range l.Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	if l.Identity.Role != "" {
		tmpl.URIs = []*url.URL{l.Identity.URI()}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, &key.PublicKey, ca.Key)
	if err != nil {
		return Issued{}, fmt.Errorf("sign certificate for %s: %w", l.CommonName, err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return Issued{}, err
	}
	return Issued{CertPEM: pemBlock("CERTIFICATE", der), KeyPEM: pemBlock("EC PRIVATE KEY", kder)}, nil
}

// Pool is a cert pool holding only the CA.
func (ca *CA) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(ca.Cert)
	return p
}

// WriteFiles writes name.crt and name.key under dir; keys are private to
// the owner.
func (i Issued) WriteFiles(dir, name string) error {
	if err := writeFile(filepath.Join(dir, name+".crt"), i.CertPEM, 0o644); err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, name+".key"), i.KeyPEM, 0o600)
}

// WriteFiles writes the CA as name.crt and name.key under dir.
func (ca *CA) WriteFiles(dir, name string) error {
	kder, err := x509.MarshalECPrivateKey(ca.Key)
	if err != nil {
		return err
	}
	return Issued{CertPEM: ca.CertPEM, KeyPEM: pemBlock("EC PRIVATE KEY", kder)}.WriteFiles(dir, name)
}

func writeFile(path string, data []byte, mode os.FileMode) error {
	if err := os.WriteFile(path, data, mode); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

func pemBlock(typ string, der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der})
}

func newSerial() (*big.Int, error) {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("certificate serial: %w", err)
	}
	return n, nil
}
