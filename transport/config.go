package transport

import (
	"log/slog"
	"strconv"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

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
	MaxIdempotencyKeyLen = protocol.MaxIdempotencyKeyLen
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
