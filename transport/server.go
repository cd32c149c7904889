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
	"strconv"
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

// Defaults of ServerConfig.
const (
	DefaultPort               = 4433
	DefaultMaxBodyBytes       = protocol.DefaultMaxBytes + 4<<10
	DefaultReadTimeout        = 10 * time.Second
	DefaultIdleTimeout        = 120 * time.Second
	DefaultDrainTimeout       = 5 * time.Second
	DefaultMaxIncomingStreams = 1024
	// DefaultMaxHeaderBytes bounds one request's header section (the
	// QPACK-encoded HEADERS frame, and the decoded fields).
	DefaultMaxHeaderBytes = 16 << 10
	// DefaultStreamMaxUnsentBytes bounds the answer bytes one /v1/stream
	// holds for a client that does not read them.
	DefaultStreamMaxUnsentBytes = 1 << 20
	// MaxIdempotencyKeyLen bounds the Idempotency-Key header (bytes).
	MaxIdempotencyKeyLen = 256
)

// ServerConfig configures a Server. The caller's struct is never modified.
type ServerConfig struct {
	// Addrs are the UDP addresses to serve on. If empty, defaults to
	// 127.0.0.1:4433 and [::1]:4433; the IPv6 one is skipped quietly
	// when the host has no IPv6 loopback. Port 0 picks a free port.
	Addrs []string
	// CertFile and KeyFile are the PEM certificate (chain) and key. If
	// both are empty, a self-signed ECDSA P-256 certificate is generated
	// on first start and kept in TLSDir (cert.pem, key.pem 0600), and is
	// reused on later starts, so its SPKI pin stays the same.
	CertFile, KeyFile string
	// TLSDir holds the generated certificate (the data dir's "tls").
	TLSDir string
	// ClientCAFile enables mTLS: a client certificate, when presented,
	// must verify against these CAs, and its subject CN becomes the
	// principal "mtls:"+CN (a bearer token, when also sent, wins).
	ClientCAFile string
	// Tokens are the accepted bearer tokens (hashes only).
	Tokens []Token
	// AdminPrincipals may read every execution with GET
	// /v1/executions/{id}, system records included. Any other principal
	// reads only the executions it made itself. If empty (the default),
	// no principal reads another's executions over HTTP/3; the journal
	// files remain readable on the host (`femtoclaw journal`).
	AdminPrincipals []string
	// MaxBodyBytes bounds a request body (and a /v1/stream frame); past
	// it the answer is 413. If zero, defaults to 1 MiB + 4 KiB.
	MaxBodyBytes int64
	// ReadTimeout bounds reading one request body (or one stream frame
	// once its first byte arrived): a slow or stalled client gets 408.
	// If zero, defaults to 10s.
	ReadTimeout time.Duration
	// IdleTimeout closes HTTP/3 connections with no request for this long
	// and ends a /v1/stream that sends no frame for this long. It is also
	// the QUIC idle timeout. If zero, defaults to 120s.
	IdleTimeout time.Duration
	// DrainTimeout bounds Shutdown's wait for in-flight requests (the
	// caller's ctx can shorten it). If zero, defaults to 5s.
	DrainTimeout time.Duration
	// MaxIncomingStreams is the number of concurrent request streams one
	// connection may open (quic.Config). quic-go's default of 100 caps a
	// single busy client at 100 in flight; 1 connection × 256 in flight
	// stalls with it. With MaxHeaderBytes it bounds what stalled streams
	// can pin per connection (1024 × 16 KiB = 16 MiB of header bytes). If
	// zero, defaults to 1024; see the package doc.
	MaxIncomingStreams int64
	// MaxHeaderBytes bounds a request's header section: a HEADERS frame
	// that declares more is refused before it is read. If zero, defaults
	// to 16 KiB (quic-go's own default is 1 MiB).
	MaxHeaderBytes int
	// StreamMaxUnsentBytes bounds the answer bytes a /v1/stream holds
	// that the client has not taken: past it the server stops reading
	// frames until the client reads answers. Messages still running count
	// with the size of the stream's largest answer so far (at least 4 KiB).
	// If zero, defaults to 1 MiB.
	StreamMaxUnsentBytes int64
	// Logger receives errors, security rejections and (at Debug) one
	// access line per request with its protocol. If nil, defaults to
	// slog.Default().
	Logger *slog.Logger

	// RejectionWindow and RejectionMaxSources configure how
	// unauthenticated requests are journaled when the Executor can keep a
	// pipeline.RejectionLog (pipeline.Runtime can): one aggregate record
	// per source per window, at most RejectionMaxSources sources per
	// window plus one overflow record. If zero, pipeline's defaults (one
	// minute, 1024 sources).
	RejectionWindow     time.Duration
	RejectionMaxSources int

	// testOnStreamFull, if set (tests only), runs when a /v1/stream reader
	// stops reading because StreamMaxUnsentBytes is reached.
	testOnStreamFull func()
}

func (c ServerConfig) withDefaults() ServerConfig {
	if len(c.Addrs) == 0 {
		c.Addrs = []string{"127.0.0.1:" + strconv.Itoa(DefaultPort), "[::1]:" + strconv.Itoa(DefaultPort)}
	} else {
		c.Addrs = append([]string(nil), c.Addrs...)
	}
	c.Tokens = append([]Token(nil), c.Tokens...)
	c.AdminPrincipals = append([]string(nil), c.AdminPrincipals...)
	if c.MaxBodyBytes <= 0 {
		c.MaxBodyBytes = DefaultMaxBodyBytes
	}
	if c.ReadTimeout <= 0 {
		c.ReadTimeout = DefaultReadTimeout
	}
	if c.IdleTimeout <= 0 {
		c.IdleTimeout = DefaultIdleTimeout
	}
	if c.DrainTimeout <= 0 {
		c.DrainTimeout = DefaultDrainTimeout
	}
	if c.MaxIncomingStreams <= 0 {
		c.MaxIncomingStreams = DefaultMaxIncomingStreams
	}
	if c.MaxHeaderBytes <= 0 {
		c.MaxHeaderBytes = DefaultMaxHeaderBytes
	}
	if c.StreamMaxUnsentBytes <= 0 {
		c.StreamMaxUnsentBytes = DefaultStreamMaxUnsentBytes
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	return c
}

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
