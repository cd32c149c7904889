package transport

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quic-go/quic-go/http3"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// testCap is a configurable capability.
type testCap struct {
	name    string
	effects capability.Effects
	schema  string
	fn      func(ctx context.Context, req *capability.Request) ([]byte, error)
}

func (c *testCap) Name() string        { return c.name }
func (c *testCap) Version() string     { return "1.0.0" }
func (c *testCap) Description() string { return "test capability " + c.name }
func (c *testCap) Schema() []byte {
	if c.schema != "" {
		return []byte(c.schema)
	}
	return []byte(`{"type":"object","properties":{"n":{"type":"integer"}}}`)
}
func (c *testCap) Effects() capability.Effects { return c.effects }
func (c *testCap) Execute(ctx context.Context, req *capability.Request) ([]byte, error) {
	return c.fn(ctx, req)
}

const testPolicy = `
version: 1
default: deny
rules:
  - id: allow-noop-echo
    effect: allow
    capabilities: [noop, echo]
  - id: allow-tests
    effect: allow
    principals: [tester, "mtls:client1"]
    capabilities: [t.fail, t.block, t.slow, t.whoami, t.pooled, t.off, t.big]
  - id: small-n-only
    effect: allow
    principals: [tester]
    capabilities: [t.arg]
    args:
      n: {range: [0, 99]}
`

const testToken = "test-token-1"

// bigResult is t.big's answer: a JSON string of 64 KiB.
var bigResult = []byte(`{"s":"` + strings.Repeat("x", 64<<10) + `"}`)

// bigCalls counts t.big's calls (tests using it do not run in parallel).
var bigCalls atomic.Int64

// blocker coordinates t.block: each call signals started, then waits for
// release (or its deadline).
type blocker struct {
	started chan struct{}
	release chan struct{}
}

// env is a runtime behind a started Server, with a Client for principal
// "tester".
type env struct {
	t      testing.TB
	dir    string
	rt     *pipeline.Runtime
	j      *journal.Journal
	srv    *Server
	url    string
	client *Client
	blk    *blocker
	logs   *syncBuffer
}

type envOpts struct {
	pipeline func(*pipeline.Config)
	server   func(*ServerConfig)
	pjournal pipeline.Journal // overrides the real journal
	// wrapJournal, if set, wraps the real journal as the pipeline sees it
	// (lookups still read the real one).
	wrapJournal func(pipeline.Journal) pipeline.Journal
	noJournal   bool
	dir         string // reuse a data directory (restart)
	keepServer  bool   // the test shuts the server down itself
	quiet       bool   // no access log (benchmarks)
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func testCaps(blk *blocker) []capability.Capability {
	return []capability.Capability{
		capability.NewNoop(), capability.NewEcho(),
		&testCap{name: "t.fail", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) {
			return nil, &capability.Error{Type: capability.ErrExecution, Msg: "t.fail always fails"}
		}},
		&testCap{name: "t.block", effects: capability.EffectsRead, fn: func(ctx context.Context, _ *capability.Request) ([]byte, error) {
			blk.started <- struct{}{}
			select {
			case <-blk.release:
				return []byte(`{"released":true}`), nil
			case <-ctx.Done():
				return nil, ctx.Err()
			}
		}},
		// pooled, so the pipeline arms its deadline
		&testCap{name: "t.slow", effects: capability.EffectsRead, fn: func(ctx context.Context, _ *capability.Request) ([]byte, error) {
			<-ctx.Done()
			return nil, ctx.Err()
		}},
		&testCap{name: "t.whoami", effects: capability.EffectsNone, fn: func(_ context.Context, req *capability.Request) ([]byte, error) {
			return json.Marshal(map[string]string{"principal": req.Principal})
		}},
		&testCap{name: "t.pooled", effects: capability.EffectsRead, fn: func(_ context.Context, req *capability.Request) ([]byte, error) {
			return req.Args.RawBytes(), nil
		}},
		&testCap{name: "t.arg", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) {
			return []byte(`{}`), nil
		}},
		&testCap{name: "t.off", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) {
			return []byte(`{}`), nil
		}},
		// a small request with a big answer (64 KiB), counting its calls
		&testCap{name: "t.big", effects: capability.EffectsNone, fn: func(context.Context, *capability.Request) ([]byte, error) {
			bigCalls.Add(1)
			return bigResult, nil
		}},
	}
}

func testSettings() map[string]capability.Settings {
	on := capability.Settings{Enabled: true}
	return map[string]capability.Settings{
		"noop": on, "echo": on, "t.fail": on, "t.block": on, "t.whoami": on, "t.pooled": on, "t.arg": on, "t.big": on,
		"t.slow": {Enabled: true, Timeout: 30 * time.Millisecond, MaxTimeout: time.Second},
		"t.off":  {Enabled: false},
	}
}

func newEnv(t testing.TB, o envOpts) *env {
	t.Helper()
	e := &env{t: t, dir: o.dir, blk: &blocker{started: make(chan struct{}, 16), release: make(chan struct{})}, logs: &syncBuffer{}}
	if e.dir == "" {
		e.dir = t.TempDir()
	}
	reg, err := capability.NewRegistry(testCaps(e.blk), testSettings())
	if err != nil {
		t.Fatal(err)
	}
	pol, err := policy.Parse([]byte(testPolicy))
	if err != nil {
		t.Fatal(err)
	}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	pcfg := pipeline.Config{Logger: quiet}
	var lookup Lookup
	switch {
	case o.pjournal != nil:
		pcfg.Journal = o.pjournal
	case !o.noJournal:
		j, err := journal.Open(journal.Config{Dir: filepath.Join(e.dir, "journal"), Logger: quiet})
		if err != nil {
			t.Fatal(err)
		}
		e.j = j
		pcfg.Journal, pcfg.Durable = j, true
		if o.wrapJournal != nil {
			pcfg.Journal = o.wrapJournal(j)
		}
		lookup = j.Get
	}
	if o.pipeline != nil {
		o.pipeline(&pcfg)
	}
	rt, err := pipeline.Open(pcfg, reg, pol)
	if err != nil {
		t.Fatal(err)
	}
	e.rt = rt
	scfg := ServerConfig{
		Addrs:  []string{"127.0.0.1:0"},
		TLSDir: filepath.Join(e.dir, "tls"),
		Tokens: []Token{{Principal: "tester", SHA256: HashToken(testToken)}, {Principal: "other", SHA256: HashToken("other-token")}},
		Logger: slog.New(slog.NewTextHandler(e.logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
	}
	if o.quiet {
		scfg.Logger = quiet
	}
	if o.server != nil {
		o.server(&scfg)
	}
	srv, err := NewServer(scfg, rt, lookup)
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(); err != nil {
		t.Fatal(err)
	}
	e.srv = srv
	e.url = "https://" + srv.Addrs()[0].String()
	e.client = e.newClient(ClientConfig{Token: testToken, SPKIPin: srv.SPKIPin()})
	t.Cleanup(func() {
		if !o.keepServer {
			srv.Shutdown(context.Background())
		}
		rt.Shutdown(context.Background())
		if e.j != nil {
			e.j.Close()
		}
	})
	return e
}

func (e *env) newClient(cfg ClientConfig) *Client {
	e.t.Helper()
	c, err := NewClient(e.url, cfg)
	if err != nil {
		e.t.Fatal(err)
	}
	e.t.Cleanup(func() { c.Close() })
	return c
}

// raw sends one request with a plain http3.Transport (pinned) and returns
// the response (body read) so tests can check headers.
func (e *env) raw(method, path string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	e.t.Helper()
	tc, err := clientTLS(ClientConfig{SPKIPin: e.srv.SPKIPin()})
	if err != nil {
		e.t.Fatal(err)
	}
	tr := &http3.Transport{TLSClientConfig: tc}
	defer tr.Close()
	req, err := http.NewRequest(method, e.url+path, body)
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := tr.RoundTrip(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return resp, b
}

// decode parses an answer with protocol.ParseAnswer.
func decode(t testing.TB, b []byte) *protocol.Answer {
	t.Helper()
	a, err := protocol.ParseAnswer(b)
	if err != nil {
		t.Fatalf("not an answer: %v: %s", err, b)
	}
	return a
}

// writeTestCA writes a CA and a client certificate (CN cn) signed by it
// into dir and returns the CA file, client cert and key files.
func writeTestCA(t testing.TB, dir, cn string) (caFile, certFile, keyFile string) {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true,
		BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: cn},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	kder, _ := x509.MarshalPKCS8PrivateKey(key)
	caFile, certFile, keyFile = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	write := func(p, typ string, b []byte) {
		if err := os.WriteFile(p, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: b}), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(caFile, "CERTIFICATE", caDER)
	write(certFile, "CERTIFICATE", der)
	write(keyFile, "PRIVATE KEY", kder)
	return
}

// notifyingJournal reports the execution id of every record whose
// asynchronous append completed (after the pipeline's own callback ran),
// as long as committed has room.
type notifyingJournal struct {
	pipeline.Journal
	committed chan string
}

func (n *notifyingJournal) AppendAsync(r *journal.Record, done func(uint64, error)) {
	id := r.ExecutionID
	n.Journal.AppendAsync(r, func(seq uint64, err error) {
		done(seq, err)
		select {
		case n.committed <- id:
		default: // nobody is listening any more: never block the journal
		}
	})
}

// failingJournal fails every append (journal_failed).
type failingJournal struct{}

var errDiskGone = errors.New("disk gone")

func (failingJournal) Append(*journal.Record) (uint64, error) { return 0, errDiskGone }
func (failingJournal) AppendAsync(_ *journal.Record, done func(uint64, error)) {
	done(0, errDiskGone)
}
func (failingJournal) Ready() bool { return false }
func (failingJournal) Sync() error { return errDiskGone }

func pemDecode(b []byte) ([]byte, error) {
	p, _ := pem.Decode(b)
	if p == nil {
		return nil, errors.New("no PEM block")
	}
	return p.Bytes, nil
}
