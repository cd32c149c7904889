package ceiling

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/femtoclaw/femtoclaw-go/internal/runfile"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// EchoConfig configures StartEcho. The zero value is usable.
type EchoConfig struct {
	// Addr is the UDP address to listen on. If empty, defaults to
	// 127.0.0.1:0 (a free port; Addr reports it).
	Addr string
	// Dir, if not empty, receives what `femtoclaw serve` leaves for its
	// clients: run.json (the bound address, the certificate's SPKI pin,
	// this process's pid) and token (the bearer token, mode 0600), so
	// `fcload -target h3 -data-dir Dir` finds the echo. run.json is removed
	// by Close.
	Dir string
	// Answer, if not nil, is the body of every answer (and of every
	// /v1/stream answer frame). If nil, each answer is the next numbered
	// noop answer (AppendNoopAnswer).
	Answer []byte
}

// EchoServer is a bare quic-go HTTP/3 server with the runtime's routes and
// none of its work: POST /v1/execute reads the body and answers a noop
// answer (numbered: unique execution id, increasing journal sequence);
// POST /v1/stream reads length-prefixed frames (the runtime's framing)
// and answers each with one answer frame, in order, flushing when it has
// caught up, from a reader and a writer goroutine per stream as the
// runtime does. Both check the bearer token in constant time. Its TLS and
// QUIC settings are those of package transport's server: TLS 1.3, a
// self-signed ECDSA P-256 certificate, 1024 concurrent streams per
// connection, 120 s idle timeout, no 0-RTT.
//
// Close must be called once; the other methods are safe for concurrent
// use.
type EchoServer struct {
	cfg      EchoConfig
	pc       net.PacketConn
	h3       *http3.Server
	pin      string
	token    string
	bearer   []byte
	requests atomic.Int64
	done     chan struct{}
	serveErr error
}

// StartEcho listens and serves on a goroutine the server owns.
func StartEcho(cfg EchoConfig) (*EchoServer, error) {
	if cfg.Addr == "" {
		cfg.Addr = "127.0.0.1:0"
	}
	cert, err := selfSigned()
	if err != nil {
		return nil, err
	}
	pin, err := transport.SPKIPin(cert.Certificate[0])
	if err != nil {
		return nil, err
	}
	var tok [32]byte
	if _, err := rand.Read(tok[:]); err != nil {
		return nil, err
	}
	s := &EchoServer{cfg: cfg, pin: pin, token: base64.RawURLEncoding.EncodeToString(tok[:]), done: make(chan struct{})}
	s.bearer = []byte("Bearer " + s.token)
	ua, err := net.ResolveUDPAddr("udp", cfg.Addr)
	if err != nil {
		return nil, fmt.Errorf("ceiling: echo address %q: %w", cfg.Addr, err)
	}
	pc, err := net.ListenUDP("udp", ua)
	if err != nil {
		return nil, fmt.Errorf("ceiling: echo: %w", err)
	}
	s.pc = pc
	mux := http.NewServeMux()
	mux.HandleFunc("POST /v1/execute", s.execute)
	mux.HandleFunc("POST /v1/stream", s.stream)
	s.h3 = &http3.Server{
		TLSConfig: http3.ConfigureTLSConfig(&tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}),
		QUICConfig: &quic.Config{
			MaxIncomingStreams:    transport.DefaultMaxIncomingStreams,
			MaxIncomingUniStreams: 16,
			MaxIdleTimeout:        transport.DefaultIdleTimeout,
			Allow0RTT:             false,
		},
		Handler:        mux,
		IdleTimeout:    transport.DefaultIdleTimeout,
		MaxHeaderBytes: transport.DefaultMaxHeaderBytes,
	}
	if cfg.Dir != "" {
		if err := s.describe(); err != nil {
			pc.Close()
			return nil, err
		}
	}
	go func() {
		defer close(s.done)
		if err := s.h3.Serve(pc); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) {
			s.serveErr = err
		}
	}()
	return s, nil
}

// describe writes Dir/token and Dir/run.json.
func (s *EchoServer) describe() error {
	dir, err := filepath.Abs(s.cfg.Dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("ceiling: echo: %w", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "token"), []byte(s.token+"\n"), 0o600); err != nil {
		return fmt.Errorf("ceiling: echo: %w", err)
	}
	return runfile.Write(dir, &runfile.Info{
		PID: os.Getpid(), Version: "h3echo", Started: time.Now().UTC(), DataDir: dir,
		HTTP3: []string{s.Addr()}, SPKIPin: s.pin,
	})
}

// Addr is the bound UDP address, host:port.
func (s *EchoServer) Addr() string { return s.pc.LocalAddr().String() }

// URL is the base URL a transport.Client dials.
func (s *EchoServer) URL() string { return "https://" + s.Addr() }

// SPKIPin is the pin of the server's certificate (transport.ClientConfig.SPKIPin).
func (s *EchoServer) SPKIPin() string { return s.pin }

// Token is the bearer token the server accepts.
func (s *EchoServer) Token() string { return s.token }

// Requests is the number of answers made (execute answers and stream
// frames).
func (s *EchoServer) Requests() int64 { return s.requests.Load() }

// Close stops serving at once, removes Dir/run.json and waits for the
// serving goroutine.
func (s *EchoServer) Close() error {
	err := s.h3.Close()
	<-s.done
	if s.cfg.Dir != "" {
		if rerr := runfile.Remove(s.cfg.Dir); err == nil {
			err = rerr
		}
	}
	if err == nil {
		err = s.serveErr
	}
	return err
}

func (s *EchoServer) authorized(w http.ResponseWriter, r *http.Request) bool {
	if subtle.ConstantTimeCompare([]byte(r.Header.Get("Authorization")), s.bearer) == 1 {
		return true
	}
	http.Error(w, "unauthorized", http.StatusUnauthorized)
	return false
}

var bodyPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func (s *EchoServer) execute(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	buf := bodyPool.Get().(*bytes.Buffer)
	buf.Reset()
	_, err := buf.ReadFrom(io.LimitReader(r.Body, transport.DefaultMaxBodyBytes))
	if err != nil {
		bodyPool.Put(buf)
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	ans := s.answer(buf.Bytes()[:0])
	w.Write(ans)
	bodyPool.Put(buf)
}

// answer appends the next answer to b (counting it).
func (s *EchoServer) answer(b []byte) []byte {
	n := s.requests.Add(1)
	if s.cfg.Answer != nil {
		return append(b, s.cfg.Answer...)
	}
	return AppendNoopAnswer(b, uint64(n))
}

// streamWindow bounds the frames read and not yet answered on one stream,
// as transport.StreamWindow does in the runtime.
const streamWindow = transport.StreamWindow

func (s *EchoServer) stream(w http.ResponseWriter, r *http.Request) {
	if !s.authorized(w, r) {
		return
	}
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "application/x-femtoclaw-frames")
	w.WriteHeader(http.StatusOK)
	if err := rc.Flush(); err != nil {
		return
	}
	pending := make(chan struct{}, streamWindow)
	writerDone := make(chan struct{})
	go func() {
		defer close(writerDone)
		broken := false
		frame := make([]byte, 0, 512)
		for range pending {
			if broken {
				continue // drain: the reader stops at its next frame
			}
			frame = s.answer(frame[:4])
			binary.BigEndian.PutUint32(frame, uint32(len(frame)-4))
			if _, err := w.Write(frame); err != nil {
				broken = true
				continue
			}
			if len(pending) == 0 {
				if err := rc.Flush(); err != nil {
					broken = true
				}
			}
		}
	}()
	var hdr [4]byte
	buf := make([]byte, 0, 4096)
	for {
		if _, err := io.ReadFull(r.Body, hdr[:]); err != nil {
			break // io.EOF: the client closed its side
		}
		n := binary.BigEndian.Uint32(hdr[:])
		if n == 0 || int64(n) > transport.DefaultMaxBodyBytes {
			break
		}
		if cap(buf) < int(n) {
			buf = make([]byte, n)
		}
		if _, err := io.ReadFull(r.Body, buf[:n]); err != nil {
			break
		}
		pending <- struct{}{}
	}
	close(pending)
	<-writerDone
}

// selfSigned makes a certificate like the runtime's generated one: ECDSA
// P-256, SANs localhost, 127.0.0.1 and ::1.
func selfSigned() (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return tls.Certificate{}, err
	}
	now := time.Now()
	tmpl := x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: "h3echo"},
		DNSNames:     []string{"localhost"},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1), net.IPv6loopback},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(30 * 24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, &tmpl, &tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}
