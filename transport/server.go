package transport

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// ErrServerClosed is the closed error of this package and of
// transport/admin: Start returns it after Shutdown or Close, and Shutdown
// and Close return it when the object (a Server, a Client, an admin
// Server) was already shut down or closed by either of them.
var ErrServerClosed = errors.New("transport: server closed")

// Executor is what the server needs from the engine; *pipeline.Runtime
// implements it.
type Executor interface {
	Execute(ctx context.Context, req *pipeline.Request) *protocol.Answer
	Submit(req *pipeline.Request, done func(*protocol.Answer))
	Registry() *capability.Registry
}

// SecurityRecorder is optionally implemented by an Executor that journals
// authentication failures, which never reach Execute (they have no
// principal). reason is "missing_credentials", "invalid_token" or
// "malformed_authorization"; remote is the client's UDP address;
// transport is "http3". The returned answer (a SECURITY_ERROR with an
// execution id) is the 401's body. An Executor that implements
// RejectionLogger (pipeline.Runtime does) is not asked: the server keeps
// a pipeline.RejectionLog instead, which journals aggregates at a bounded
// rate; a SecurityRecorder alone is called once per rejected request and
// must bound its own cost.
type SecurityRecorder interface {
	RecordSecurityRejection(reason protocol.Reason, remote, transport string) *protocol.Answer
}

// RejectionLogger is implemented by an Executor that can aggregate
// rejected unauthenticated traffic (*pipeline.Runtime). The Server makes
// one RejectionLog in NewServer and closes it in Shutdown or Close, after
// the last request and before returning, so the final window is
// journaled while the Executor is still open.
type RejectionLogger interface {
	NewRejectionLog(pipeline.RejectionLogConfig) *pipeline.RejectionLog
}

// Lookup returns the journal records of one execution
// (*journal.Journal.Get). A nil Lookup makes GET /v1/executions/{id}
// answer 404 saying lookups are not configured.
type Lookup func(executionID string) ([]journal.Record, error)

// Server is the HTTP/3 face of an Executor. Its methods are safe for
// concurrent use. Lifecycle: NewServer → Start → (serve) → Shutdown (drain
// within a context) or Close (now), one of which the owner must call; the
// Executor is the caller's and is closed after that returns.
type Server struct {
	cfg     ServerConfig
	ex      Executor
	sec     SecurityRecorder       // rej, or ex if it implements it; else nil
	rej     *pipeline.RejectionLog // nil unless ex implements RejectionLogger
	lookup  Lookup
	tokens  []tokenEntry
	log     *slog.Logger
	cert    tls.Certificate
	certPEM []byte
	pin     string
	h3      *http3.Server
	caps    atomic.Pointer[capsCache]
	debug   bool // access log enabled (Logger at Debug)

	drainCtx context.Context // cancelled when Shutdown begins
	drain    context.CancelFunc
	active   tracker // request handlers running

	mu struct {
		sync.Mutex
		started bool
		closed  bool
		conns   []net.PacketConn
	}
	serveWG sync.WaitGroup // one Serve goroutine per socket
}

// NewServer validates cfg, loads or generates the certificate and builds
// the server. It opens no socket: Start does.
func NewServer(cfg ServerConfig, ex Executor, lookup Lookup) (*Server, error) {
	if ex == nil {
		return nil, errors.New("transport: nil Executor")
	}
	cfg = cfg.withDefaults()
	tokens, err := compileTokens(cfg.Tokens)
	if err != nil {
		return nil, err
	}
	if len(tokens) == 0 && cfg.ClientCAFile == "" {
		return nil, errors.New("transport: no credentials configured: every request would be rejected (set Tokens or ClientCAFile)")
	}
	cert, err := loadOrCreateCert(cfg.CertFile, cfg.KeyFile, cfg.TLSDir)
	if err != nil {
		return nil, err
	}
	leaf := cert.Leaf
	if leaf == nil {
		if leaf, err = x509.ParseCertificate(cert.Certificate[0]); err != nil {
			return nil, fmt.Errorf("transport: parse certificate: %w", err)
		}
		cert.Leaf = leaf
	}
	s := &Server{cfg: cfg, ex: ex, lookup: lookup, tokens: tokens, log: cfg.Logger, cert: cert, pin: spkiPin(leaf)}
	for _, der := range cert.Certificate {
		s.certPEM = append(s.certPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})...)
	}
	s.debug = s.log.Enabled(context.Background(), slog.LevelDebug)
	tc := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS13}
	if cfg.ClientCAFile != "" {
		pool, err := loadCAPool(cfg.ClientCAFile)
		if err != nil {
			return nil, err
		}
		tc.ClientCAs = pool
		tc.ClientAuth = tls.VerifyClientCertIfGiven
	}
	s.drainCtx, s.drain = context.WithCancel(context.Background())
	s.h3 = &http3.Server{
		TLSConfig: http3.ConfigureTLSConfig(tc),
		QUICConfig: &quic.Config{
			MaxIncomingStreams:    cfg.MaxIncomingStreams,
			MaxIncomingUniStreams: 16,
			MaxIdleTimeout:        cfg.IdleTimeout,
			Allow0RTT:             false,
		},
		Handler:        s,
		IdleTimeout:    cfg.IdleTimeout,
		MaxHeaderBytes: cfg.MaxHeaderBytes,
		Logger:         s.log,
	}
	// Last: nothing after this can fail, so the log's goroutine always
	// has an owner that closes it.
	if rl, ok := ex.(RejectionLogger); ok {
		s.rej = rl.NewRejectionLog(pipeline.RejectionLogConfig{Window: cfg.RejectionWindow, MaxSources: cfg.RejectionMaxSources})
		s.sec = s.rej
	} else {
		s.sec, _ = ex.(SecurityRecorder)
	}
	return s, nil
}

// Start opens the UDP sockets and serves each on a goroutine the Server
// owns (Shutdown stops and waits for them). An address that cannot be
// bound is an error, except the default [::1] one on a host without IPv6.
func (s *Server) Start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return ErrServerClosed
	}
	if s.mu.started {
		return errors.New("transport: server already started")
	}
	var conns []net.PacketConn
	for _, a := range s.cfg.Addrs {
		ua, err := net.ResolveUDPAddr("udp", a)
		if err != nil {
			closeAll(conns)
			return fmt.Errorf("transport: address %q: %w", a, err)
		}
		network := "udp4"
		if ua.IP.To4() == nil && ua.IP != nil {
			network = "udp6"
		}
		pc, err := net.ListenUDP(network, ua)
		if err != nil {
			if network == "udp6" && ua.IP.IsLoopback() && noIPv6(err) {
				s.log.Debug("skipping IPv6 loopback: the host has none", "addr", a, "err", err)
				continue
			}
			closeAll(conns)
			return fmt.Errorf("transport: listen %s: %w", a, err)
		}
		conns = append(conns, pc)
	}
	if len(conns) == 0 {
		return errors.New("transport: no address could be bound")
	}
	s.mu.started = true
	s.mu.conns = conns
	for _, pc := range conns {
		s.serveWG.Add(1)
		go func() {
			defer s.serveWG.Done()
			if err := s.h3.Serve(pc); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, quic.ErrServerClosed) && s.drainCtx.Err() == nil {
				s.log.Error("HTTP/3 serve stopped", "addr", pc.LocalAddr().String(), "err", err)
			}
		}()
	}
	for _, pc := range conns {
		s.log.Info("HTTP/3 listening", "addr", pc.LocalAddr().String(), "spki_pin", s.pin)
	}
	return nil
}

// noIPv6 reports whether a listen error means the host has no IPv6.
func noIPv6(err error) bool {
	msg := err.Error()
	return strings.Contains(msg, "address family not supported") || strings.Contains(msg, "cannot assign requested address") ||
		strings.Contains(msg, "network is unreachable") || strings.Contains(msg, "protocol not supported")
}

func closeAll(cs []net.PacketConn) {
	for _, c := range cs {
		c.Close()
	}
}

// Addrs returns the bound UDP addresses (after Start).
func (s *Server) Addrs() []net.Addr {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]net.Addr, len(s.mu.conns))
	for i, c := range s.mu.conns {
		out[i] = c.LocalAddr()
	}
	return out
}

// SPKIPin returns the base64 SHA-256 of the certificate's
// SubjectPublicKeyInfo (Chromium's --ignore-certificate-errors-spki-list
// format; ClientConfig.SPKIPin).
func (s *Server) SPKIPin() string { return s.pin }

// CertPEM returns the served certificate chain, PEM-encoded.
func (s *Server) CertPEM() []byte { return append([]byte(nil), s.certPEM...) }

// lingerAfterDrain is how long Shutdown waits, once every handler has
// returned, for clients to close their connections after GOAWAY before it
// closes them: long enough for the last responses to leave the socket.
const lingerAfterDrain = 250 * time.Millisecond

// Shutdown stops the server gracefully: it stops reading new frames on
// /v1/stream, sends GOAWAY on every connection (new requests are refused
// with H3_REQUEST_REJECTED, which clients may retry elsewhere), waits
// for in-flight requests to be answered — bounded by ctx and
// DrainTimeout — then closes every connection and socket and waits for
// its goroutines. It returns ctx's error if requests were still running
// when the bound expired (they are aborted), and ErrServerClosed after an
// earlier Shutdown or Close.
func (s *Server) Shutdown(ctx context.Context) error {
	conns, ok := s.markClosed()
	if !ok {
		return ErrServerClosed
	}
	s.drain()

	ctx, cancel := context.WithTimeout(ctx, s.cfg.DrainTimeout)
	defer cancel()
	graceDone := make(chan error, 1)
	go func() { graceDone <- s.h3.Shutdown(ctx) }()

	var err error
	if werr := s.active.wait(ctx); werr != nil {
		err = fmt.Errorf("transport: %d requests still running at the drain deadline: %w", s.active.count(), werr)
	}
	graceful := false
	if err == nil {
		t := time.NewTimer(lingerAfterDrain)
		select {
		case <-graceDone:
			graceful = true
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if !graceful {
		cancel() // ends h3.Shutdown's wait; it then closes every connection
		<-graceDone
	}
	s.h3.Close()
	closeAll(conns)
	s.serveWG.Wait()
	s.closeRejections()
	return err
}

// closeRejections journals the last window of rejected requests.
func (s *Server) closeRejections() {
	if s.rej != nil {
		s.rej.Close()
	}
}

// Close stops the server now: it closes every connection (requests in
// flight are aborted, their clients see the stream reset) and socket, and
// waits for its goroutines, not for handlers. It returns ErrServerClosed
// after an earlier Shutdown or Close.
func (s *Server) Close() error {
	conns, ok := s.markClosed()
	if !ok {
		return ErrServerClosed
	}
	s.drain()
	err := s.h3.Close()
	closeAll(conns)
	s.serveWG.Wait()
	s.closeRejections()
	return err
}

// markClosed marks the server closed and returns its sockets; ok is false
// when it already was.
func (s *Server) markClosed() (conns []net.PacketConn, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.mu.closed {
		return nil, false
	}
	s.mu.closed = true
	return s.mu.conns, true
}
