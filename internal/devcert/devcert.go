// Package devcert is httpx's development certificate, [httpx.DevCert],
// under the names this repository's tests, benchmarks and showcase used
// before it was public. New code calls [httpx.NewDevCert].
package devcert

import (
	"crypto/x509"

	"github.com/wirespeed/wirespeed/httpx"
)

// Cert is an [httpx.DevCert]: its methods (ServerTLS, ClientTLS, SPKIHash,
// CertHash, CertPEM, …) are promoted.
type Cert struct {
	*httpx.DevCert
}

// New makes a fresh development certificate; see [httpx.NewDevCert].
func New() (*Cert, error) {
	d, err := httpx.NewDevCert()
	if err != nil {
		return nil, err
	}
	return &Cert{d}, nil
}

// Wrap returns d under this package's name, for code that takes a *Cert.
func Wrap(d *httpx.DevCert) *Cert { return &Cert{d} }

// HashHex is [httpx.DevCert.CertHashHex].
func (c *Cert) HashHex() string { return c.CertHashHex() }

// Pool is [httpx.DevCert.CertPool].
func (c *Cert) Pool() *x509.CertPool { return c.CertPool() }
