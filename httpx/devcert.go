package httpx

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"time"
)

// devCertValidity is how long a DevCert is valid, counted from its
// NotBefore, one hour in the past to tolerate clock skew: under the 14 days
// that Chromium allows a certificate given to WebTransport through
// serverCertificateHashes (it refuses one valid for 15).
const devCertValidity = 13*24*time.Hour + time.Hour

// devCertHosts are the names and addresses a DevCert covers.
var devCertHosts = []string{"localhost", "127.0.0.1", "::1"}

// DevCert is a self-signed certificate for development and tests, never
// for production: an ECDSA P-256 key and a leaf for localhost, 127.0.0.1
// and ::1, valid for 13 days from an hour before [NewDevCert] made it.
// That shape is one certificate for HTTPS, HTTP/3 and WebTransport without
// a trusted CA: give clients [DevCert.ClientTLS], Chromium the flag
// --ignore-certificate-errors-spki-list=[DevCert.SPKIHash] (which, unlike
// --ignore-certificate-errors, also covers QUIC), and WebTransport's
// serverCertificateHashes [DevCert.CertHash].
//
// A DevCert is immutable and safe for concurrent use. Make a new one when
// it expires; a long-running development server can make one per start.
type DevCert struct {
	cert tls.Certificate
	spki [sha256.Size]byte
	hash [sha256.Size]byte
}

// NewDevCert makes a fresh key and a self-signed certificate for
// localhost, 127.0.0.1 and ::1. See [DevCert].
func NewDevCert() (*DevCert, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("httpx: development certificate: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 126))
	if err != nil {
		return nil, fmt.Errorf("httpx: development certificate: serial number: %w", err)
	}
	notBefore := time.Now().Add(-time.Hour).Truncate(time.Second)
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{Organization: []string{"wirespeed development"}, CommonName: "localhost"},
		NotBefore:             notBefore,
		NotAfter:              notBefore.Add(devCertValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	for _, h := range devCertHosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("httpx: development certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("httpx: development certificate: %w", err)
	}
	return &DevCert{
		cert: tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf},
		spki: sha256.Sum256(leaf.RawSubjectPublicKeyInfo),
		hash: sha256.Sum256(der),
	}, nil
}

// Certificate returns the certificate and its private key, for
// tls.Config.Certificates. Its Leaf is set.
func (c *DevCert) Certificate() tls.Certificate { return c.cert }

// Leaf returns the parsed certificate. It is shared: do not modify it.
func (c *DevCert) Leaf() *x509.Certificate { return c.cert.Leaf }

// ServerTLS returns a new server tls.Config that presents the certificate,
// for [ServerOptions].TLSConfig: TLS 1.2 or later, ALPN h2 and http/1.1 on
// TCP; a [Server] (or quic-go's http3.ConfigureTLSConfig) offers h3 on its
// QUIC socket from the same config. Each call returns a fresh config the
// caller may change.
func (c *DevCert) ServerTLS() *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{c.cert},
		NextProtos:   []string{"h2", "http/1.1"},
		MinVersion:   tls.VersionTLS12,
	}
}

// CertPool returns a new certificate pool that holds only this
// certificate.
func (c *DevCert) CertPool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert.Leaf)
	return p
}

// ClientTLS returns a new client tls.Config that trusts only this
// certificate, for [Options].TLSConfig or any Go client; HTTP/1.1, HTTP/2
// and HTTP/3 alike. Each call returns a fresh config.
func (c *DevCert) ClientTLS() *tls.Config {
	return &tls.Config{RootCAs: c.CertPool(), MinVersion: tls.VersionTLS12}
}

// CertPEM returns the certificate in PEM form, for clients outside Go:
// curl --cacert, Node's NODE_EXTRA_CA_CERTS or its ca option.
func (c *DevCert) CertPEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.cert.Leaf.Raw})
}

// SPKIHash returns the SHA-256 of the certificate's public key
// (SubjectPublicKeyInfo) in standard base64, the form Chromium's
// --ignore-certificate-errors-spki-list flag takes. With that flag
// Chromium accepts the certificate over TCP and QUIC alike; add
// --origin-to-force-quic-on=127.0.0.1:PORT to have it use HTTP/3 without
// waiting for Alt-Svc.
func (c *DevCert) SPKIHash() string { return base64.StdEncoding.EncodeToString(c.spki[:]) }

// CertHash returns the SHA-256 of the DER certificate: the value of a
// browser's WebTransport serverCertificateHashes option
// ({algorithm: "sha-256", value}), which accepts a self-signed ECDSA
// certificate valid for at most 14 days, as this one is.
func (c *DevCert) CertHash() [sha256.Size]byte { return c.hash }

// CertHashHex returns [DevCert.CertHash] in lower-case hex, as browsers'
// certificate viewers show the SHA-256 fingerprint.
func (c *DevCert) CertHashHex() string { return hex.EncodeToString(c.hash[:]) }
