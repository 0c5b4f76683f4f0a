package inspect

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"net"
	"time"
)

// leafValidity is a leaf's lifetime, within the 397 days (398 less a
// day's margin) Chromium and Safari accept for a server certificate.
const leafValidity = 397 * 24 * time.Hour

// leafSkew backdates a leaf, for clients whose clocks run behind.
const leafSkew = time.Hour

// issuer signs leaves. All leaves share one key, made when the issuer is
// (mitmproxy does the same): a leaf then costs one signature rather than
// a key generation and a signature, and the key never leaves memory.
type issuer struct {
	ca  *CA
	key *ecdsa.PrivateKey
	// ski is the shared key's Subject Key Identifier.
	ski []byte
}

func newIssuer(ca *CA) (*issuer, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make the leaf key: %w", err)
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(pub)
	return &issuer{ca: ca, key: key, ski: ski[:]}, nil
}

// issue makes a leaf for host, a DNS name or an IP address, which is its
// only subject alternative name: browsers check only SANs (RFC 6125).
func (is *issuer) issue(host string, now time.Time) (*tls.Certificate, error) {
	notAfter := now.Add(-leafSkew + leafValidity)
	if ca := is.ca.Cert.NotAfter; notAfter.After(ca) {
		notAfter = ca
	}
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject:      pkix.Name{CommonName: host, Organization: []string{"Sluice inspection"}},
		NotBefore:    now.Add(-leafSkew),
		NotAfter:     notAfter,
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		SubjectKeyId: is.ski,
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, is.ca.Cert, &is.key.PublicKey, is.ca.key)
	if err != nil {
		return nil, fmt.Errorf("sign a certificate for %s: %w", host, err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &tls.Certificate{Certificate: [][]byte{der, is.ca.DER}, PrivateKey: is.key, Leaf: leaf}, nil
}
