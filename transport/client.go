package transport

import (
	"bytes"
	"context"
	"crypto/subtle"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// ClientConfig configures a Client. The caller's struct is never modified.
type ClientConfig struct {
	// Token is the bearer token sent with every request ("" sends none,
	// for mTLS-only servers).
	Token string
	// SPKIPin, when set, is the only server identity accepted: the
	// base64 SHA-256 of the leaf certificate's SubjectPublicKeyInfo (as
	// Server.SPKIPin prints it). Chain and name are not checked; the pin
	// is the trust anchor. Takes precedence over CAFile.
	SPKIPin string
	// CAFile is a PEM bundle of CAs the server's chain must verify
	// against (name checked too). If neither SPKIPin nor CAFile is set,
	// the system roots are used.
	CAFile string
	// CertFile and KeyFile are an optional client certificate (mTLS).
	CertFile, KeyFile string
	// ServerName overrides the TLS server name (default: the URL's host).
	ServerName string
	// Timeout, if set, bounds each call whose ctx has no deadline (Stream
	// excepted). If zero, a call is bounded only by its ctx, the server's
	// capability deadlines and QUIC's idle timeout (a dead server is
	// detected within 60s). Arming a timer per call costs a few percent
	// of a client's CPU at high rates, so load generators leave it zero.
	Timeout time.Duration
	// MaxResponseBytes bounds a response body. If zero, defaults to 16 MiB.
	MaxResponseBytes int64
}

// Client is an HTTP/3 client of a Server. It holds one QUIC connection
// (opened on first use, reused by every call, reopened after it breaks)
// and is safe for concurrent use; quic-go multiplexes the calls as
// streams. Call Shutdown (let calls in flight finish) or Close (abort
// them) when done; calls after either return ErrServerClosed.
type Client struct {
	base    *url.URL
	cfg     ClientConfig
	tr      *http3.Transport
	auth    string
	calls   tracker // calls in flight and open streams
	closeMu sync.Mutex
	closed  bool
}

// NewClient returns a client for baseURL ("https://127.0.0.1:4433").
func NewClient(baseURL string, cfg ClientConfig) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("transport: base URL: %w", err)
	}
	if u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("transport: base URL %q: want https://host:port", baseURL)
	}
	u.Path = strings.TrimRight(u.Path, "/")
	if cfg.MaxResponseBytes <= 0 {
		cfg.MaxResponseBytes = 16 << 20
	}
	tc, err := clientTLS(cfg)
	if err != nil {
		return nil, err
	}
	c := &Client{base: u, cfg: cfg}
	if cfg.Token != "" {
		c.auth = "Bearer " + cfg.Token
	}
	c.tr = &http3.Transport{
		TLSClientConfig: tc,
		QUICConfig: &quic.Config{
			KeepAlivePeriod: 15 * time.Second,
			MaxIdleTimeout:  60 * time.Second,
		},
		DisableCompression: true,
	}
	return c, nil
}

func clientTLS(cfg ClientConfig) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS13, ServerName: cfg.ServerName}
	if cfg.CertFile != "" || cfg.KeyFile != "" {
		cert, err := tls.LoadX509KeyPair(cfg.CertFile, cfg.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("transport: client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	switch {
	case cfg.SPKIPin != "":
		want, err := base64.StdEncoding.DecodeString(cfg.SPKIPin)
		if err != nil || len(want) != 32 {
			return nil, fmt.Errorf("transport: SPKIPin %q: want base64 of a SHA-256 digest", cfg.SPKIPin)
		}
		// The pin replaces chain verification (self-signed servers), so
		// the standard verifier is off and VerifyConnection is the check;
		// it runs on every handshake, resumptions included.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("transport: server sent no certificate")
			}
			got, _ := base64.StdEncoding.DecodeString(spkiPin(cs.PeerCertificates[0]))
			if subtle.ConstantTimeCompare(got, want) != 1 {
				return &PinError{Want: cfg.SPKIPin, Got: spkiPin(cs.PeerCertificates[0])}
			}
			return nil
		}
	case cfg.CAFile != "":
		pool, err := loadCAPool(cfg.CAFile)
		if err != nil {
			return nil, err
		}
		tc.RootCAs = pool
	}
	return tc, nil
}

// PinError is the handshake failure when the server's key does not match
// ClientConfig.SPKIPin.
type PinError struct{ Want, Got string }

func (e *PinError) Error() string {
	return "transport: server public key pin mismatch: want " + e.Want + ", got " + e.Got
}

// StatusError is returned by Capabilities and Execution for a non-200
// answer; Body is the server's structured error.
type StatusError struct {
	Code int
	Body []byte
}

func (e *StatusError) Error() string {
	return "transport: HTTP " + strconv.Itoa(e.Code) + ": " + string(e.Body)
}

// Shutdown refuses new calls, waits within ctx for the calls in flight
// to return and the open streams to be closed, then closes the connection
// (aborting what is left). It returns ctx's error if something was still
// running, and ErrServerClosed after an earlier Shutdown or Close.
func (c *Client) Shutdown(ctx context.Context) error {
	if !c.markClosed() {
		return ErrServerClosed
	}
	werr := c.calls.wait(ctx)
	if werr != nil {
		werr = fmt.Errorf("transport: %d calls still running at the client's shutdown deadline: %w", c.calls.count(), werr)
	}
	return errors.Join(werr, c.tr.Close())
}

// Close closes the connection now, aborting calls in progress and open
// streams. It returns ErrServerClosed after an earlier Shutdown or Close.
func (c *Client) Close() error {
	if !c.markClosed() {
		return ErrServerClosed
	}
	return c.tr.Close()
}

// markClosed refuses new calls; it reports false when the client already
// was closed.
func (c *Client) markClosed() bool {
	c.closeMu.Lock()
	defer c.closeMu.Unlock()
	if c.closed {
		return false
	}
	c.closed = true
	c.calls.close()
	return true
}

func (c *Client) withTimeout(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok || c.cfg.Timeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeout(ctx, c.cfg.Timeout)
}

func (c *Client) newRequest(ctx context.Context, method, path string, body io.Reader) (*http.Request, error) {
	u := *c.base
	u.Path += path
	req, err := http.NewRequestWithContext(ctx, method, u.String(), body)
	if err != nil {
		return nil, err
	}
	if c.auth != "" {
		req.Header.Set("Authorization", c.auth)
	}
	if dl, ok := ctx.Deadline(); ok {
		if ms := time.Until(dl).Milliseconds(); ms > 0 {
			req.Header.Set("X-Femtoclaw-Timeout-Ms", strconv.FormatInt(ms, 10))
		}
	}
	return req, nil
}

func (c *Client) do(req *http.Request) (int, []byte, error) {
	if !c.calls.tryEnter() {
		return 0, nil, ErrServerClosed
	}
	defer c.calls.leave()
	resp, err := c.tr.RoundTrip(req)
	if err != nil {
		return 0, nil, err
	}
	defer resp.Body.Close()
	n := resp.ContentLength
	if n < 0 || n > c.cfg.MaxResponseBytes {
		n = 512
	}
	buf := bytes.NewBuffer(make([]byte, 0, n))
	if _, err := buf.ReadFrom(io.LimitReader(resp.Body, c.cfg.MaxResponseBytes+1)); err != nil {
		return resp.StatusCode, nil, fmt.Errorf("transport: reading response: %w", err)
	}
	if int64(buf.Len()) > c.cfg.MaxResponseBytes {
		return resp.StatusCode, nil, fmt.Errorf("transport: response larger than %d bytes", c.cfg.MaxResponseBytes)
	}
	return resp.StatusCode, buf.Bytes(), nil
}

// Execute sends one protocol message to POST /v1/execute and returns the
// HTTP status and the answer JSON (answers exist for every status; see
// StatusOf). err is set only when no answer arrived. idempotencyKey, if
// not empty, is sent as Idempotency-Key and journaled. The ctx deadline
// (or Timeout) bounds the call and is sent to the server
// (X-Femtoclaw-Timeout-Ms), which uses it as the deadline of a pooled
// (effects read/write) capability, clamped to its MaxTimeout.
func (c *Client) Execute(ctx context.Context, msg []byte, idempotencyKey string) (status int, answer []byte, err error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodPost, "/v1/execute", bytes.NewReader(msg))
	if err != nil {
		return 0, nil, err
	}
	req.ContentLength = int64(len(msg))
	req.Header.Set("Content-Type", "application/json")
	if idempotencyKey != "" {
		req.Header.Set("Idempotency-Key", idempotencyKey)
	}
	return c.do(req)
}

func (c *Client) get(ctx context.Context, path string) ([]byte, error) {
	ctx, cancel := c.withTimeout(ctx)
	defer cancel()
	req, err := c.newRequest(ctx, http.MethodGet, path, nil)
	if err != nil {
		return nil, err
	}
	code, body, err := c.do(req)
	if err != nil {
		return nil, err
	}
	if code != http.StatusOK {
		return nil, &StatusError{Code: code, Body: body}
	}
	return body, nil
}

// Capabilities returns GET /v1/capabilities.
func (c *Client) Capabilities(ctx context.Context) ([]byte, error) {
	return c.get(ctx, "/v1/capabilities")
}

// Execution returns GET /v1/executions/{id}: the journal records of one
// execution. A missing one is a *StatusError with Code 404.
func (c *Client) Execution(ctx context.Context, id string) ([]byte, error) {
	return c.get(ctx, "/v1/executions/"+url.PathEscape(id))
}
