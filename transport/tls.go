package transport

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Names of the generated certificate files inside ServerConfig.TLSDir.
const (
	CertFileName = "cert.pem"
	KeyFileName  = "key.pem"
)

// selfSignedValidity is how long a generated certificate is valid. It is
// pinned by SPKI, so expiry matters only to clients that verify it as a
// CA (libcurl, Caddy); ten years keeps the pin stable.
const selfSignedValidity = 10 * 365 * 24 * time.Hour

// loadOrCreateCert returns the server certificate: from certFile/keyFile
// when given, else the self-signed pair in dir, generating it (ECDSA P-256,
// SANs localhost, 127.0.0.1, ::1) on first use. The key is written 0600.
func loadOrCreateCert(certFile, keyFile, dir string) (tls.Certificate, error) {
	switch {
	case certFile != "" && keyFile != "":
		c, err := tls.LoadX509KeyPair(certFile, keyFile)
		if err != nil {
			return tls.Certificate{}, fmt.Errorf("transport: load certificate: %w", err)
		}
		return c, nil
	case certFile != "" || keyFile != "":
		return tls.Certificate{}, errors.New("transport: CertFile and KeyFile must be given together")
	case dir == "":
		return tls.Certificate{}, errors.New("transport: no certificate: set CertFile and KeyFile, or TLSDir for a generated one")
	}
	cp, kp := filepath.Join(dir, CertFileName), filepath.Join(dir, KeyFileName)
	c, err := tls.LoadX509KeyPair(cp, kp)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return tls.Certificate{}, fmt.Errorf("transport: load generated certificate from %s: %w", dir, err)
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return tls.Certificate{}, fmt.Errorf("transport: %w", err)
	}
	certPEM, keyPEM, err := generateCert()
	if err != nil {
		return tls.Certificate{}, err
	}
	// Key first, then certificate: a crash in between leaves no cert, so
	// the next start regenerates both instead of pairing mismatched files.
	if err := writeFileAtomic(kp, keyPEM, 0o600); err != nil {
		return tls.Certificate{}, err
	}
	if err := writeFileAtomic(cp, certPEM, 0o644); err != nil {
		return tls.Certificate{}, err
	}
	return tls.X509KeyPair(certPEM, keyPEM)
}

func generateCert() (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: generate key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, nil, fmt.Errorf("transport: serial: %w", err)
	}
	now := time.Now()
	tmpl := x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "femtoclaw", Organization: []string{"FemtoClaw (self-signed)"}},
		DNSNames:              []string{"localhost"},
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(selfSignedValidity),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true, // so libcurl/Caddy can use the file itself as the trust anchor
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: create certificate: %w", err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, fmt.Errorf("transport: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}

func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("transport: %w", err)
	}
	tmp := f.Name()
	defer os.Remove(tmp)
	err = f.Chmod(perm)
	if err == nil {
		_, err = f.Write(data)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		return fmt.Errorf("transport: write %s: %w", path, err)
	}
	return nil
}

// SPKIPin returns the base64 (standard encoding) SHA-256 of a DER
// certificate's SubjectPublicKeyInfo: the format of Chromium's
// --ignore-certificate-errors-spki-list, of HPKP, and of ClientConfig.SPKIPin.
func SPKIPin(certDER []byte) (string, error) {
	c, err := x509.ParseCertificate(certDER)
	if err != nil {
		return "", fmt.Errorf("transport: parse certificate: %w", err)
	}
	return spkiPin(c), nil
}

func spkiPin(c *x509.Certificate) string {
	sum := sha256.Sum256(c.RawSubjectPublicKeyInfo)
	return base64.StdEncoding.EncodeToString(sum[:])
}

// loadCAPool reads a PEM bundle into a pool.
func loadCAPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("transport: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("transport: no PEM certificate in %s", file)
	}
	return pool, nil
}
