package transport

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
	"github.com/quic-go/quic-go/quicvarint"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
)

// Class 6 of the security regression suite, transport part: every
// resource is bounded.

func heapInUse() uint64 {
	runtime.GC()
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapInuse
}

// TestSecurityResourcesStreamUnreadAnswers: a /v1/stream client that
// sends small messages with big answers and reads none of them makes the
// server stop reading once StreamMaxUnsentBytes of answers wait, instead
// of holding StreamWindow answers (here 400 × 64 KiB = 25 MiB for
// 18 KB sent).
func TestSecurityResourcesStreamUnreadAnswers(t *testing.T) {
	const budget = 256 << 10
	full := make(chan struct{})
	var once sync.Once
	e := newEnv(t, envOpts{server: func(c *ServerConfig) {
		c.StreamMaxUnsentBytes = budget
		c.testOnStreamFull = func() { once.Do(func() { close(full) }) }
	}})
	bigCalls.Store(0)
	const n = 400
	msg := []byte(`{"tool_call":{"tool":"t.big","args":{}}}`)
	var body []byte
	for range n {
		body = appendFrame(body, msg)
	}
	tc, err := clientTLS(ClientConfig{SPKIPin: e.srv.SPKIPin()})
	if err != nil {
		t.Fatal(err)
	}
	// A client that reads slowly: a 16 KiB stream window, so what it
	// does not read stays on the server.
	tr := &http3.Transport{TLSClientConfig: tc, QUICConfig: &quic.Config{InitialStreamReceiveWindow: 16 << 10, MaxStreamReceiveWindow: 16 << 10}}
	defer tr.Close()
	req, _ := http.NewRequest(http.MethodPost, e.url+"/v1/stream", bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+testToken)
	before := heapInUse()
	resp, err := tr.RoundTrip(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	<-full // the server stopped reading frames
	// The heap is the process's, so the bound is coarse: with the budget
	// the server holds the answers of at most `ahead` messages (below;
	// ~70 here, each ~100 KB of result, encoded answer and record while
	// it is in flight) plus quic-go's buffers, 1–15 MB measured; without
	// it, the answers of all 400, 37–42 MB measured. The exact bound is
	// the count of messages run ahead of the reader, checked below.
	if grew := int64(heapInUse()) - int64(before); grew > 24<<20 {
		t.Errorf("heap grew by %d bytes with the client not reading (bound %d per stream)", grew, budget)
	}
	// How far the server may run ahead of the client: the messages
	// submitted before the first big answer (each reserving
	// minAnswerReserve), the budget, the client's window, one answer
	// being written, one reserved.
	ahead := int64(budget/minAnswerReserve + (budget+16<<10)/len(bigResult) + 3)
	br := bufio.NewReader(resp.Body)
	for k := range int64(n) {
		if c := bigCalls.Load(); c > k+ahead {
			t.Fatalf("after %d answers read, the server ran %d messages (at most %d ahead allowed)", k, c, ahead)
		}
		a, err := readFrame(br, nil, 1<<20)
		if err != nil {
			t.Fatalf("answer %d: %v", k, err)
		}
		if !bytes.Contains(a, []byte(`"status":"success"`)) {
			t.Fatalf("answer %d: %.200s", k, a)
		}
	}
	if _, err := readFrame(br, nil, 1<<20); !errors.Is(err, io.EOF) {
		t.Fatalf("after the last answer: %v", err)
	}
}

// dialRaw opens a QUIC connection speaking h3 to the env's server.
func dialRaw(t *testing.T, e *env) *quic.Conn {
	t.Helper()
	tc, err := clientTLS(ClientConfig{SPKIPin: e.srv.SPKIPin()})
	if err != nil {
		t.Fatal(err)
	}
	tc.NextProtos = []string{http3.NextProtoH3}
	conn, err := quic.DialAddr(context.Background(), e.srv.Addrs()[0].String(), tc, &quic.Config{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.CloseWithError(0, "") })
	return conn
}

// TestSecurityResourcesStreamsPerConnection: a connection may open at
// most MaxIncomingStreams request streams at once, the default included.
func TestSecurityResourcesStreamsPerConnection(t *testing.T) {
	for _, c := range []struct {
		name string
		set  int64
		want int
	}{{"default", 0, DefaultMaxIncomingStreams}, {"configured", 64, 64}} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOpts{quiet: true, server: func(s *ServerConfig) { s.MaxIncomingStreams = c.set }})
			conn := dialRaw(t, e)
			opened := 0
			for opened <= c.want {
				if _, err := conn.OpenStream(); err != nil {
					if !errors.Is(err, &quic.StreamLimitReachedError{}) {
						t.Fatalf("after %d streams: %v", opened, err)
					}
					break
				}
				opened++
			}
			if opened != c.want {
				t.Fatalf("opened %d concurrent streams, want at most %d", opened, c.want)
			}
		})
	}
}

// TestSecurityResourcesStalledBigHeaders: streams that announce a 1 MiB
// header section and stall after sending part of it are refused at the
// frame header (431) without the server keeping their bytes; memory is
// bounded.
func TestSecurityResourcesStalledBigHeaders(t *testing.T) {
	for _, c := range []struct {
		name     string
		declared uint64
		sent     int
	}{
		{"1 MiB declared, 128 KiB sent", 1 << 20, 128 << 10},
		{"just over the limit", DefaultMaxHeaderBytes + 1, 8 << 10},
		{"huge varint", 1 << 40, 4 << 10},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newEnv(t, envOpts{quiet: true})
			conn := dialRaw(t, e)
			const streams = 100
			frame := quicvarint.Append(quicvarint.Append(nil, 0x01), c.declared) // HEADERS
			frame = append(frame, make([]byte, c.sent)...)
			before := heapInUse()
			var wg sync.WaitGroup
			refused := make(chan bool, streams)
			for range streams {
				str, err := conn.OpenStreamSync(context.Background())
				if err != nil {
					t.Fatal(err)
				}
				wg.Go(func() {
					str.Write(frame) // may fail once the server stops reading: that is the point
					// The server answers (431) or resets: either way it
					// read no further. Wait for that, never for a timer.
					var b [1]byte
					_, err := str.Read(b[:])
					refused <- err == nil || !errors.Is(err, io.EOF)
				})
			}
			wg.Wait()
			close(refused)
			for r := range refused {
				if !r {
					t.Fatal("a stalled stream was not refused")
				}
			}
			if grew := int64(heapInUse()) - int64(before); grew > 8<<20 {
				t.Errorf("%d stalled streams with %d header bytes sent each: heap grew by %d bytes", streams, c.sent, grew)
			}
			// The connection still serves requests within the limit.
			resp, body := e.raw(http.MethodGet, "/healthz", nil, nil)
			if resp.StatusCode != 200 {
				t.Fatalf("healthz after the attack: %d %s", resp.StatusCode, body)
			}
		})
	}
	// Headers within the limit work; one byte over is 431.
	e := newEnv(t, envOpts{quiet: true})
	for _, c := range []struct {
		size int
		want int
	}{{4 << 10, 200}, {DefaultMaxHeaderBytes + 1024, http.StatusRequestHeaderFieldsTooLarge}} {
		resp, _ := e.raw(http.MethodGet, "/healthz", nil, map[string]string{"X-Pad": string(bytes.Repeat([]byte("a"), c.size))})
		if resp.StatusCode != c.want {
			t.Errorf("a %d-byte header: %d, want %d", c.size, resp.StatusCode, c.want)
		}
	}
}

// TestSecurityResourcesUnauthenticatedFlood: a flood of bad credentials
// over HTTP/3, from one host on many connections (many UDP ports), is
// journaled as one aggregate record with the exact count of each reason,
// not one record per request; the 401s all name that record.
func TestSecurityResourcesUnauthenticatedFlood(t *testing.T) {
	committed := make(chan string, 1<<16)
	e := newEnv(t, envOpts{quiet: true, keepServer: true, wrapJournal: func(j pipeline.Journal) pipeline.Journal {
		return &notifyingJournal{Journal: j, committed: committed}
	}})
	ctx := context.Background()
	msg := []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
	ids := map[string]int{}
	bad := e.newClient(ClientConfig{Token: "not-a-token", SPKIPin: e.srv.SPKIPin()})
	none := e.newClient(ClientConfig{SPKIPin: e.srv.SPKIPin()})
	const perClient = 300
	for range perClient {
		for _, c := range []*Client{bad, none} {
			status, body, err := c.Execute(ctx, msg, "")
			if err != nil || status != 401 {
				t.Fatalf("%d %v %s", status, err, body)
			}
			ids[decode(t, body).ExecutionID]++
		}
	}
	const conns = 20 // a new connection (and UDP port) each
	for range conns {
		resp, body := e.raw(http.MethodGet, "/v1/capabilities", nil, map[string]string{"Authorization": "Basic eDp5"})
		if resp.StatusCode != 401 {
			t.Fatalf("%d %s", resp.StatusCode, body)
		}
		ids[resp.Header.Get("X-Femtoclaw-Execution-Id")]++
	}
	if len(ids) != 1 {
		t.Fatalf("one source, one window: the 401s named %d execution ids", len(ids))
	}
	// An authenticated request in between is journaled on its own.
	if status, _, err := e.client.Execute(ctx, msg, ""); err != nil || status != 200 {
		t.Fatal(status, err)
	}
	if err := e.srv.Shutdown(ctx); err != nil { // journals the open window
		t.Fatal(err)
	}
	var id string
	for k := range ids {
		id = k
	}
	for got := range committed {
		if got == id {
			break
		}
	}
	var unauth []journal.Record
	if err := e.j.Scan(journal.Query{Kind: journal.KindRejection}, func(r *journal.Record) bool {
		if r.Principal == "" {
			unauth = append(unauth, *r)
		}
		return true
	}); err != nil {
		t.Fatal(err)
	}
	if len(unauth) != 1 || unauth[0].ExecutionID != id {
		t.Fatalf("%d unauthenticated records for %d rejected requests, want 1 aggregate", len(unauth), 2*perClient+conns)
	}
	var ev struct {
		Source  string            `json:"source"`
		Count   int               `json:"count"`
		First   time.Time         `json:"first"`
		Last    time.Time         `json:"last"`
		Reasons map[string]uint64 `json:"reasons"`
	}
	if err := json.Unmarshal(unauth[0].Args, &ev); err != nil {
		t.Fatal(err)
	}
	if ev.Source != "127.0.0.1" || ev.Count != 2*perClient+conns || ev.Reasons["invalid_token"] != perClient ||
		ev.Reasons["missing_credentials"] != perClient || ev.Reasons["malformed_authorization"] != conns || ev.Last.Before(ev.First) {
		t.Fatalf("aggregate %s", unauth[0].Args)
	}
}
