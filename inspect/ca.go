package inspect

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha1"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// File names of the CA in its directory.
const (
	CertFile = "sluice-ca.pem"
	KeyFile  = "sluice-ca-key.pem"
)

// caValidity is the CA's lifetime: long, as re-trusting a new CA in every
// browser and OS store is the user's chore.
const caValidity = 10 * 365 * 24 * time.Hour

// CA is Sluice's local certificate authority, which signs the leaf
// certificates the client leg presents.
type CA struct {
	// Cert is the CA certificate; DER its encoding.
	Cert *x509.Certificate
	DER  []byte
	key  *ecdsa.PrivateKey
	dir  string
}

// CertPath returns the file holding the CA certificate (PEM).
func (ca *CA) CertPath() string { return filepath.Join(ca.dir, CertFile) }

// PEM returns the CA certificate in PEM.
func (ca *CA) PEM() []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.DER})
}

// LoadCA reads the CA from dir. It fails with an error wrapping
// fs.ErrNotExist when there is none yet.
func LoadCA(dir string) (*CA, error) {
	certPEM, err := os.ReadFile(filepath.Join(dir, CertFile))
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(filepath.Join(dir, KeyFile))
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(certPEM)
	if cb == nil || cb.Type != "CERTIFICATE" {
		return nil, fmt.Errorf("%s holds no PEM certificate (delete it and %s to make a new CA)", filepath.Join(dir, CertFile), KeyFile)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: %w", filepath.Join(dir, CertFile), err)
	}
	kb, _ := pem.Decode(keyPEM)
	if kb == nil {
		// The error names the file, never its content.
		return nil, fmt.Errorf("%s holds no PEM key (delete it and %s to make a new CA)", filepath.Join(dir, KeyFile), CertFile)
	}
	key, err := x509.ParseECPrivateKey(kb.Bytes)
	if err != nil {
		return nil, fmt.Errorf("parse %s: not an EC private key", filepath.Join(dir, KeyFile))
	}
	if !key.PublicKey.Equal(cert.PublicKey) {
		return nil, fmt.Errorf("%s does not belong to %s (delete both to make a new CA)", KeyFile, CertFile)
	}
	return &CA{Cert: cert, DER: cb.Bytes, key: key, dir: dir}, nil
}

// LoadOrCreateCA reads the CA from dir, or makes one there if there is
// none: an ECDSA P-256 key written 0600 and a certificate valid for ten
// years whose name says Sluice and this machine.
func LoadOrCreateCA(dir string) (*CA, error) {
	ca, err := LoadCA(dir)
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return ca, err
	}
	return createCA(dir, time.Now())
}

func createCA(dir string, now time.Time) (*CA, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("make the CA dir: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("make the CA key: %w", err)
	}
	host, _ := os.Hostname()
	if host == "" {
		host = "this machine"
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, err
	}
	ski := sha1.Sum(pub)
	tmpl := &x509.Certificate{
		SerialNumber: randomSerial(),
		Subject: pkix.Name{
			CommonName:         "Sluice inspection CA (" + host + ")",
			Organization:       []string{"Sluice"},
			OrganizationalUnit: []string{host},
		},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(caValidity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
		SubjectKeyId:          ski[:],
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("make the CA certificate: %w", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	kb, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	// The key first, so a certificate never exists without its key.
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb})
	if err := writeFile(filepath.Join(dir, KeyFile), keyPEM, 0o600); err != nil {
		return nil, err
	}
	ca := &CA{Cert: cert, DER: der, key: key, dir: dir}
	if err := writeFile(ca.CertPath(), ca.PEM(), 0o644); err != nil {
		return nil, err
	}
	return ca, nil
}

// writeFile writes data to path through a temp file and a rename, so a
// crash never leaves half a key.
func writeFile(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer os.Remove(f.Name())
	if err := f.Chmod(perm); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	return nil
}

// randomSerial returns a random positive 128-bit serial number (RFC 5280
// §4.1.2.2 allows up to 20 octets; CAs must use at least 64 random bits).
func randomSerial() *big.Int {
	b := make([]byte, 16)
	rand.Read(b)
	b[0] &= 0x7f
	return new(big.Int).SetBytes(b)
}
