package transport

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
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

// ErrServerClosed is returned by Start after Shutdown, and by Shutdown
// when called twice.
var ErrServerClosed = errors.New("transport: server closed")

// Defaults of ServerConfig.
const (
	DefaultPort               = 4433
	DefaultMaxBodyBytes       = protocol.DefaultMaxBytes + 4<<10
	DefaultReadTimeout        = 10 * time.Second
	DefaultIdleTimeout        = 120 * time.Second
	DefaultDrainTimeout       = 5 * time.Second
	DefaultMaxIncomingStreams = 4096
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
	// stalls with it. If zero, defaults to 4096; see the package doc.
	MaxIncomingStreams int64
	// Logger receives errors, security rejections and (at Debug) one
	// access line per request with its protocol. If nil, slog.Default().
	Logger *slog.Logger
}

func (c ServerConfig) withDefaults() ServerConfig {
	if len(c.Addrs) == 0 {
		c.Addrs = []string{"127.0.0.1:" + strconv.Itoa(DefaultPort), "[::1]:" + strconv.Itoa(DefaultPort)}
	} else {
		c.Addrs = append([]string(nil), c.Addrs...)
	}
	c.Tokens = append([]Token(nil), c.Tokens...)
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
// principal); *pipeline.Runtime implements it. reason is
// "missing_credentials", "invalid_token" or "malformed_authorization";
// remote is the client's UDP address; transport is "http3". The returned
// answer (a SECURITY_ERROR with an execution id) is the 401's body.
type SecurityRecorder interface {
	RecordSecurityRejection(reason protocol.Reason, remote, transport string) *protocol.Answer
}

// Lookup returns the journal records of one execution
// (*journal.Journal.Get). A nil Lookup makes GET /v1/executions/{id}
// answer 404 saying lookups are not configured.
type Lookup func(executionID string) ([]journal.Record, error)

// Server is the HTTP/3 face of an Executor. Its methods are safe for
// concurrent use. Lifecycle: NewServer → Start → (serve) → Shutdown,
// which the owner must call; the Executor is the caller's and is closed
// after Shutdown returns.
type Server struct {
	cfg     ServerConfig
	ex      Executor
	sec     SecurityRecorder // nil unless ex implements it
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
	s.sec, _ = ex.(SecurityRecorder)
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
		Handler:     s,
		IdleTimeout: cfg.IdleTimeout,
		Logger:      s.log,
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
// when the bound expired (they are aborted), and ErrServerClosed when
// called again.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	if s.mu.closed {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.mu.closed = true
	conns := s.mu.conns
	s.mu.Unlock()
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
	return err
}

// tracker counts running handlers so Shutdown can wait for zero.
type tracker struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil when nobody waits
}

func (t *tracker) enter() {
	t.mu.Lock()
	t.n++
	t.mu.Unlock()
}

func (t *tracker) leave() {
	t.mu.Lock()
	t.n--
	if t.n == 0 && t.idle != nil {
		close(t.idle)
		t.idle = nil
	}
	t.mu.Unlock()
}

func (t *tracker) count() int {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.n
}

func (t *tracker) wait(ctx context.Context) error {
	t.mu.Lock()
	if t.n == 0 {
		t.mu.Unlock()
		return nil
	}
	if t.idle == nil {
		t.idle = make(chan struct{})
	}
	ch := t.idle
	t.mu.Unlock()
	select {
	case <-ch:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// capsCache is the encoded GET /v1/capabilities body for one registry.
type capsCache struct {
	reg  *capability.Registry
	body []byte
}

// bufPool recycles request and answer buffers.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 1024); return &b }}

func getBuf() *[]byte { return bufPool.Get().(*[]byte) }

func putBuf(b *[]byte) {
	if cap(*b) > 64<<10 {
		return // let large buffers go
	}
	*b = (*b)[:0]
	bufPool.Put(b)
}

// newErrorID returns a random "err-…" id for errors the transport itself
// reports (no execution exists for them).
func newErrorID() string {
	var b [12]byte
	rand.Read(b[:])
	return "err-" + hex.EncodeToString(b[:])
}

// transportError builds the answer-shaped body of an error the transport
// answers itself (401, 404, 408, 413, …): state ERROR, status error, no
// execution id, decision null, and the error object.
func transportError(cat protocol.Category, reason protocol.Reason, msg string) []byte {
	a := protocol.Answer{State: protocol.StateError, Status: protocol.StatusError, Error: &protocol.Error{
		ID: newErrorID(), Category: cat, Severity: protocol.SeverityError, Subsystem: "transport",
		Message: msg, Reason: reason, Timestamp: time.Now(),
	}}
	return a.AppendJSON(nil)
}

func setCommonHeaders(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("X-Femtoclaw-Proto", r.Proto)
}

func writeJSON(w http.ResponseWriter, r *http.Request, status int, body []byte) {
	setCommonHeaders(w, r)
	if status == http.StatusServiceUnavailable {
		w.Header().Set("Retry-After", RetryAfterSeconds)
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(status)
	w.Write(body)
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, status int, cat protocol.Category, reason protocol.Reason, msg string) {
	writeJSON(w, r, status, transportError(cat, reason, msg))
}

// ServeHTTP routes one HTTP/3 request. It is the http3.Server's handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.active.enter()
	defer s.active.leave()
	if s.debug {
		aw := &accessWriter{ResponseWriter: w, status: http.StatusOK}
		start := time.Now()
		defer func() {
			s.log.Debug("request", "proto", r.Proto, "method", r.Method, "path", r.URL.Path, "status", aw.status,
				"remote", r.RemoteAddr, "dur", time.Since(start))
		}()
		w = aw
	}
	if r.ProtoMajor != 3 {
		s.writeError(w, r, http.StatusHTTPVersionNotSupported, protocol.CategoryProtocol, protocol.ReasonHTTP3Required, "this server speaks HTTP/3 only")
		return
	}
	path := r.URL.Path
	if path == "/healthz" {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			s.methodNotAllowed(w, r, "GET, HEAD")
			return
		}
		writeJSON(w, r, http.StatusOK, []byte(`{"status":"ok"}`))
		return
	}
	var route func(http.ResponseWriter, *http.Request, string)
	method := http.MethodPost
	switch {
	case path == "/v1/execute":
		route = s.handleExecute
	case path == "/v1/stream":
		route = s.handleStream
	case path == "/v1/capabilities":
		route, method = s.handleCapabilities, http.MethodGet
	case strings.HasPrefix(path, "/v1/executions/"):
		route, method = s.handleExecution, http.MethodGet
	default:
		s.writeError(w, r, http.StatusNotFound, protocol.CategoryProtocol, protocol.ReasonNotFound, "no such endpoint: "+path)
		return
	}
	if r.Method != method {
		s.methodNotAllowed(w, r, method)
		return
	}
	principal, fail := s.authenticate(r)
	if fail != "" {
		s.log.Warn("unauthenticated request rejected", "category", string(protocol.CategorySecurity), "reason", string(fail),
			"remote", r.RemoteAddr, "path", path)
		w.Header().Set("WWW-Authenticate", `Bearer realm="femtoclaw"`)
		if s.sec != nil {
			if ans := s.sec.RecordSecurityRejection(fail, r.RemoteAddr, "http3"); ans != nil && ans.Error != nil {
				w.Header().Set("X-Femtoclaw-Execution-Id", ans.ExecutionID)
				writeJSON(w, r, http.StatusUnauthorized, ans.AppendJSON(nil))
				return
			}
		}
		s.writeError(w, r, http.StatusUnauthorized, protocol.CategorySecurity, fail, authMessage(fail))
		return
	}
	route(w, r, principal)
}

func authMessage(f authFailure) string {
	switch f {
	case authBadToken:
		return "the bearer token is not valid"
	case authMalformed:
		return "the Authorization header is not \"Bearer <token>\""
	}
	return "authentication required: send Authorization: Bearer <token> or a client certificate"
}

func (s *Server) methodNotAllowed(w http.ResponseWriter, r *http.Request, allow string) {
	w.Header().Set("Allow", allow)
	s.writeError(w, r, http.StatusMethodNotAllowed, protocol.CategoryProtocol, protocol.ReasonMethodNotAllowed, r.Method+" is not allowed here; use "+allow)
}

// accessWriter records the status for the access log. Unwrap keeps
// http.ResponseController (deadlines, Flush) working through it.
type accessWriter struct {
	http.ResponseWriter
	status int
}

func (a *accessWriter) WriteHeader(code int) {
	a.status = code
	a.ResponseWriter.WriteHeader(code)
}

func (a *accessWriter) Flush() {
	if f, ok := a.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (a *accessWriter) Unwrap() http.ResponseWriter { return a.ResponseWriter }

// readBody reads the whole body into buf under MaxBodyBytes and
// ReadTimeout. It returns the HTTP status and message of a failure.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request, buf []byte) ([]byte, int, string) {
	rc := http.NewResponseController(w)
	rc.SetReadDeadline(time.Now().Add(s.cfg.ReadTimeout))
	defer rc.SetReadDeadline(time.Time{})
	if r.ContentLength > s.cfg.MaxBodyBytes {
		discardBody(r)
		return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body of %d bytes exceeds the limit of %d", r.ContentLength, s.cfg.MaxBodyBytes)
	}
	body := http.MaxBytesReader(w, r.Body, s.cfg.MaxBodyBytes)
	if r.ContentLength > 0 && int64(cap(buf)) < r.ContentLength {
		buf = make([]byte, 0, r.ContentLength)
	}
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := body.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, 0, ""
		}
		if err != nil {
			var mbe *http.MaxBytesError
			switch {
			case errors.As(err, &mbe):
				discardBody(r)
				return nil, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds the limit of %d bytes", s.cfg.MaxBodyBytes)
			case isTimeout(err):
				return nil, http.StatusRequestTimeout, fmt.Sprintf("request body not received within %s", s.cfg.ReadTimeout)
			}
			return nil, http.StatusBadRequest, "reading the request body: " + err.Error()
		}
	}
}

// maxDiscard bounds how much of an oversized body the server reads and
// drops before answering 413. quic-go stops the request stream with
// H3_NO_ERROR after an early response, as RFC 9114 §4.1 allows, but
// Chromium's fetch() never resolves when that happens mid-upload; reading
// the rest (under ReadTimeout) lets every client see the 413.
const maxDiscard = 8 << 20

func discardBody(r *http.Request) {
	io.CopyN(io.Discard, r.Body, maxDiscard)
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

// requestTimeout reads X-Femtoclaw-Timeout-Ms (the client's remaining
// deadline) into a capability timeout.
func requestTimeout(r *http.Request) time.Duration {
	v := r.Header.Get("X-Femtoclaw-Timeout-Ms")
	if v == "" {
		return 0
	}
	ms, err := strconv.ParseInt(v, 10, 64)
	if err != nil || ms <= 0 {
		return 0
	}
	return time.Duration(ms) * time.Millisecond
}

func (s *Server) handleExecute(w http.ResponseWriter, r *http.Request, principal string) {
	key := r.Header.Get("Idempotency-Key")
	if len(key) > MaxIdempotencyKeyLen {
		s.writeError(w, r, http.StatusBadRequest, protocol.CategoryProtocol, protocol.ReasonInvalidHeader,
			fmt.Sprintf("Idempotency-Key is longer than %d bytes", MaxIdempotencyKeyLen))
		return
	}
	bp := getBuf()
	defer putBuf(bp)
	msg, status, text := s.readBody(w, r, (*bp)[:0])
	if status != 0 {
		reason := protocol.ReasonBodyReadFailed
		switch status {
		case http.StatusRequestEntityTooLarge:
			reason = protocol.ReasonTooLarge
		case http.StatusRequestTimeout:
			reason = "read_timeout"
		}
		s.writeError(w, r, status, protocol.CategoryProtocol, reason, text)
		return
	}
	*bp = msg[:0]
	req := pipeline.Request{Message: msg, Principal: principal, IdempotencyKey: key, Transport: "http3", Timeout: requestTimeout(r)}
	// No timer here: req.Timeout becomes the capability deadline of pooled
	// (read/write) capabilities inside the pipeline; effects-none ones are
	// bounded computations no timer could interrupt. A per-request
	// context.WithTimeout cost ~9% of the server's CPU per request.
	ans := s.ex.Execute(r.Context(), &req)
	op := getBuf()
	defer putBuf(op)
	out := ans.AppendJSON((*op)[:0])
	*op = out[:0]
	w.Header().Set("X-Femtoclaw-Execution-Id", ans.ExecutionID)
	writeJSON(w, r, StatusOf(ans), out)
}

func (s *Server) handleCapabilities(w http.ResponseWriter, r *http.Request, _ string) {
	reg := s.ex.Registry()
	c := s.caps.Load()
	if c == nil || c.reg != reg {
		c = &capsCache{reg: reg, body: encodeCapabilities(reg)}
		s.caps.Store(c)
	}
	writeJSON(w, r, http.StatusOK, c.body)
}

// encodeCapabilities renders {"capabilities":[{name, version,
// description, effects, enabled, schema}, …]} sorted by name.
func encodeCapabilities(reg *capability.Registry) []byte {
	b := []byte(`{"capabilities":[`)
	for i, e := range reg.Entries() {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"name":`...)
		b = protocol.AppendString(b, e.Cap.Name())
		b = append(b, `,"version":`...)
		b = protocol.AppendString(b, e.Cap.Version())
		b = append(b, `,"description":`...)
		b = protocol.AppendString(b, e.Cap.Description())
		b = append(b, `,"effects":`...)
		b = protocol.AppendString(b, string(e.Cap.Effects()))
		b = append(b, `,"enabled":`...)
		b = strconv.AppendBool(b, e.Settings.Enabled)
		b = append(b, `,"timeout_ms":`...)
		b = strconv.AppendInt(b, e.Settings.Timeout.Milliseconds(), 10)
		b = append(b, `,"schema":`...)
		b = append(b, e.Cap.Schema()...)
		b = append(b, '}')
	}
	return append(b, "]}"...)
}

func (s *Server) handleExecution(w http.ResponseWriter, r *http.Request, _ string) {
	id := strings.TrimPrefix(r.URL.Path, "/v1/executions/")
	if id == "" || strings.Contains(id, "/") || len(id) > 128 {
		s.writeError(w, r, http.StatusNotFound, protocol.CategoryProtocol, protocol.ReasonNotFound, "no such execution id: "+strconv.Quote(id))
		return
	}
	if s.lookup == nil {
		s.writeError(w, r, http.StatusNotFound, protocol.CategoryMemory, protocol.ReasonLookupUnavailable, "execution lookups are not configured on this server (no journal)")
		return
	}
	recs, err := s.lookup(id)
	if err != nil {
		s.log.Error("execution lookup failed", "category", string(protocol.CategoryMemory), "execution_id", id, "err", err)
		s.writeError(w, r, http.StatusServiceUnavailable, protocol.CategoryMemory, protocol.ReasonJournalReadFailed, "reading the journal failed: "+err.Error())
		return
	}
	if len(recs) == 0 {
		s.writeError(w, r, http.StatusNotFound, protocol.CategoryProtocol, protocol.ReasonNotFound, "no journal record for execution "+id)
		return
	}
	b := []byte(`{"execution_id":`)
	b = protocol.AppendString(b, id)
	b = append(b, `,"records":[`...)
	for i := range recs {
		if i > 0 {
			b = append(b, ',')
		}
		rb, err := recs[i].MarshalJSON()
		if err != nil {
			s.writeError(w, r, http.StatusInternalServerError, protocol.CategoryMemory, protocol.ReasonEncodeFailed, err.Error())
			return
		}
		b = append(b, rb...)
	}
	b = append(b, "]}"...)
	writeJSON(w, r, http.StatusOK, b)
}
