// Package devcert makes self-signed TLS certificates for development, tests
// and the showcase.
//
// A certificate from [New] is an ECDSA P-256 leaf for localhost, 127.0.0.1
// and ::1, valid for 13 days and one hour. That shape is what Chromium's
// WebTransport accepts through serverCertificateHashes (ECDSA, at most 14
// days of validity), so one certificate serves HTTPS, HTTP/3 and
// WebTransport without a trusted CA. Never use it in production.
package devcert

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// Validity is how long a certificate from [New] stays valid, counted from
// its NotBefore (one hour in the past, to tolerate clock skew). It stays
// under the 14 days that WebTransport's serverCertificateHashes allows.
const Validity = 13*24*time.Hour + time.Hour

// Hosts are the names and addresses every certificate from [New] covers.
var Hosts = []string{"localhost", "127.0.0.1", "::1"}

// Cert is a self-signed certificate and its key. It is immutable after [New]
// and safe for concurrent use.
type Cert struct {
	// TLS is the certificate and key, ready for tls.Config.Certificates.
	TLS tls.Certificate
	// Leaf is the parsed certificate.
	Leaf *x509.Certificate
	// Hash is the SHA-256 of the DER certificate: the value a browser's
	// WebTransport serverCertificateHashes option expects.
	Hash [sha256.Size]byte
}

// New makes a fresh key and a self-signed certificate for [Hosts].
func New() (*Cert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("devcert: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("devcert: serial: %w", err)
	}
	notBefore := time.Now().Add(-time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"wirespeed development"}, CommonName: "localhost"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(Validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range Hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("devcert: create certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("devcert: parse certificate: %w", err)
	}
	return &Cert{
		TLS:  tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		Leaf: leaf,
		Hash: sha256.Sum256(der),
	}, nil
}

// HashHex is [Cert.Hash] in lower-case hex.
func (c *Cert) HashHex() string { return hex.EncodeToString(c.Hash[:]) }

// ServerTLS returns a new server tls.Config that presents the certificate,
// offers HTTP/2 and HTTP/1.1 through ALPN and requires TLS 1.2 or later.
// Callers may change the returned config; each call returns a fresh one.
func (c *Cert) ServerTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.TLS},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
}

// Pool returns a certificate pool that trusts only this certificate, for
// clients in tests and examples.
func (c *Cert) Pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.Leaf)
	return p
}

// ClientTLS returns a new client tls.Config that trusts only this
// certificate. Each call returns a fresh config.
func (c *Cert) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.Pool(), MinVersion: tls.VersionTLS12}
}

// CertPEM returns the certificate in PEM form, for tools such as curl
// (--cacert) or Node clients.
func (c *Cert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Leaf.Raw})
}
