package ipc

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// gone returns a hook that counts freed client regions, and a function
// that waits for the count to reach n (failing after a generous bound:
// it guards against a hang, it measures nothing).
func gone() (hook func(), waitFor func(t *testing.T, n int64)) {
	var count atomic.Int64
	ch := make(chan struct{}, 1024)
	hook = func() { count.Add(1); ch <- struct{}{} }
	waitFor = func(t *testing.T, n int64) {
		t.Helper()
		guard := time.NewTimer(30 * time.Second)
		defer guard.Stop()
		for count.Load() < n {
			select {
			case <-ch:
			case <-guard.C:
				t.Fatalf("%d of %d client regions freed", count.Load(), n)
			}
		}
	}
	return hook, waitFor
}

func answerOf(t *testing.T, b []byte) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(b, &v); err != nil {
		t.Fatalf("answer is not JSON: %v: %s", err, b)
	}
	return v
}

func TestExecute(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.path)
	if c.Principal() != DefaultOwnerPrincipal {
		t.Fatalf("principal %q, want the owner's %q", c.Principal(), DefaultOwnerPrincipal)
	}
	b, err := c.Execute(context.Background(), []byte(noop))
	if err != nil {
		t.Fatal(err)
	}
	a := answerOf(t, b)
	if a["status"] != "success" || a["state"] != "COMPLETED" || !strings.HasPrefix(a["execution_id"].(string), "exec-") {
		t.Fatalf("answer %s", b)
	}
	// The same answer shape as every transport: a protocol error is an answer too.
	b, err = c.Execute(context.Background(), []byte(`{"tool_call":`))
	if err != nil {
		t.Fatal(err)
	}
	if a := answerOf(t, b); a["state"] != "ERROR" || a["error"].(map[string]any)["category"] != "PROTOCOL_ERROR" {
		t.Fatalf("malformed message: %s", b)
	}
	if fi, err := os.Stat(s.path); err != nil || fi.Mode().Perm() != DefaultMode {
		t.Fatalf("socket mode: %v %v", fi.Mode(), err)
	}
}

// TestSharedClient: many goroutines on one Client, Execute and Submit
// mixed, every answer delivered to its own caller.
func TestSharedClient(t *testing.T) {
	s := startServer(t, ServerConfig{MaxInFlight: 16, RequestRing: 8192, ResponseRing: 8192, MaxFrame: 2048})
	c := dial(t, s.path)
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 300 {
				text := fmt.Sprintf("g%d-%d", g, i)
				if i%2 == 0 {
					b, err := c.Execute(context.Background(), echoMsg(text))
					if err != nil || !strings.Contains(string(b), `"text":"`+text+`"`) {
						t.Errorf("%s: %v %s", text, err, b)
						return
					}
					continue
				}
				done := make(chan struct{})
				err := c.Submit(echoMsg(text), func(b []byte, err error) {
					if err != nil || !strings.Contains(string(b), `"text":"`+text+`"`) {
						t.Errorf("%s: %v %s", text, err, b)
					}
					close(done)
				})
				if err != nil {
					t.Error(err)
					return
				}
				<-done
			}
		})
	}
	wg.Wait()
	if n := c.InFlight(); n != 0 {
		t.Fatalf("%d requests still in flight", n)
	}
}

func TestCrossProcessOrder(t *testing.T) {
	s := startServer(t, ServerConfig{RequestRing: 64 << 10, ResponseRing: 64 << 10, MaxFrame: 20000})
	ch := startChild(t, "order", s.path, nil)
	ch.expect(t, "ok 5000")
	if err := ch.wait(); err != nil {
		t.Fatal(err)
	}
}

func TestCrossProcessLargeFrames(t *testing.T) {
	s := startServer(t, ServerConfig{RequestRing: 64 << 10, ResponseRing: 64 << 10, MaxFrame: 20000})
	ch := startChild(t, "large", s.path, nil)
	ch.expect(t, "ok large")
	if err := ch.wait(); err != nil {
		t.Fatal(err)
	}
}

// TestClientKilledMidFrame: a client SIGKILLed with half a frame written
// (never published) leaves nothing behind: the region is freed, nothing
// was submitted, and the next client is served.
func TestClientKilledMidFrame(t *testing.T) {
	hook, waitFor := gone()
	s := startServer(t, ServerConfig{onClientGone: hook})
	ch := startChild(t, "midframe", s.path, nil)
	ch.expect(t, "written")
	if err := ch.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	ch.wait()
	waitFor(t, 1)
	if st := s.Stats(); st.Clients != 0 || st.Accepted != 1 {
		t.Fatalf("after the kill: %+v", st)
	}
	if n := s.rt.InFlight(); n != 0 {
		t.Fatalf("%d executions in flight from a frame that was never published", n)
	}
	c := dial(t, s.path)
	if _, err := c.Execute(context.Background(), []byte(noop)); err != nil {
		t.Fatal(err)
	}
}

// TestServerRestart: clients of a server that goes away fail fast with
// ErrPeerGone, and a new server on the same path serves new clients.
func TestServerRestart(t *testing.T) {
	path := filepath.Join(t.TempDir(), "fc.sock")
	s1 := startServer(t, ServerConfig{Path: path})
	ch := startChild(t, "wait", path, nil)
	ch.expect(t, "connected "+DefaultOwnerPrincipal)
	inproc := dial(t, path)
	if err := s1.Close(); err != nil {
		t.Fatal(err)
	}
	if l := ch.expect(t, "error"); !strings.Contains(l, ErrPeerGone.Error()) {
		t.Fatalf("child: %s", l)
	}
	if err := ch.wait(); err != nil {
		t.Fatalf("child exit: %v", err)
	}
	_, err := inproc.Execute(context.Background(), []byte(noop))
	for err == nil { // the watcher may not have read the EOF yet; it will
		_, err = inproc.Execute(context.Background(), []byte(noop))
	}
	if !errors.Is(err, ErrPeerGone) || !IsClosed(err) {
		t.Fatalf("in-process client after the server closed: %v", err)
	}
	if err := s1.Close(); err != ErrClosed {
		t.Fatalf("second Close: %v", err)
	}
	s2 := startServer(t, ServerConfig{Path: path})
	c := dial(t, s2.path)
	if _, err := c.Execute(context.Background(), []byte(noop)); err != nil {
		t.Fatal(err)
	}
}

// TestUnmappedUIDRefused runs a client as another uid (nobody): the
// handshake is refused with a clear error and journaled.
func TestUnmappedUIDRefused(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("running a client as another uid needs root (setuid in the child); run the tests as root to cover it")
	}
	dir, err := os.MkdirTemp("", "ipc-uid-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	os.Chmod(dir, 0o755) // the child, as nobody, must reach the binary and the socket
	bin := filepath.Join(dir, "ipc.test")
	src, err := os.ReadFile(os.Args[0])
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, src, 0o755); err != nil {
		t.Fatal(err)
	}
	s := startServer(t, ServerConfig{Path: filepath.Join(dir, "fc.sock"), Mode: 0o666})
	ch := startChild(t, "refused", s.path, func(cmd *exec.Cmd) {
		cmd.Path = bin
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	})
	l := ch.expect(t, "dial-error")
	if !strings.Contains(l, ErrRefused.Error()) || !strings.Contains(l, "uid=65534") {
		t.Fatalf("child: %s", l)
	}
	if err := ch.wait(); err != nil {
		t.Fatal(err)
	}
	if n := s.rt.rejections.Load(); n != 1 {
		t.Fatalf("%d security rejections journaled, want 1", n)
	}
	if r := s.rt.lastRemote.Load().(string); !strings.HasPrefix(r, string(protocol.ReasonUnmappedPeer)+" uid=65534 gid=65534") || !strings.HasSuffix(r, " ring") {
		t.Fatalf("rejection recorded as %q", r)
	}
	// Mapping the uid lets the same binary in.
	s.Close()
	s = startServer(t, ServerConfig{Path: filepath.Join(dir, "fc.sock"), Mode: 0o666, UIDs: map[uint32]string{65534: "nobody-agent"}})
	ch = startChild(t, "wait", s.path, func(cmd *exec.Cmd) {
		cmd.Path = bin
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: 65534, Gid: 65534}}
	})
	ch.expect(t, "connected nobody-agent")
}

// TestHostileClient: a client scribbling random bytes over its whole
// region, while a well-behaved client keeps working. The server survives,
// drops the hostile client at its first provable violation (or keeps
// answering its garbage), and the good client sees only good answers.
func TestHostileClient(t *testing.T) {
	hook, waitFor := gone()
	s := startServer(t, ServerConfig{onClientGone: hook, RequestRing: 16 << 10, ResponseRing: 16 << 10, MaxFrame: 4096})
	good := dial(t, s.path)
	var hostiles []*child
	for range 3 {
		h := startChild(t, "hostile", s.path, nil)
		h.expect(t, "scribbling")
		hostiles = append(hostiles, h)
	}
	for i := range 3000 {
		b, err := good.Execute(context.Background(), echoMsg(fmt.Sprint(i)))
		if err != nil || !strings.Contains(string(b), fmt.Sprintf(`"text":"%d"`, i)) {
			t.Fatalf("good client, request %d: %v %s", i, err, b)
		}
	}
	for _, h := range hostiles {
		h.cmd.Process.Kill()
		h.wait()
	}
	waitFor(t, 3)
	if st := s.Stats(); st.Clients != 1 {
		t.Fatalf("after the hostile clients: %+v", st)
	}
	if _, err := good.Execute(context.Background(), []byte(noop)); err != nil {
		t.Fatal(err)
	}
}

// TestHostileFrames: lies a client can tell through the rings, one by one.
func TestHostileFrames(t *testing.T) {
	t.Run("oversize frame is skipped and answered", func(t *testing.T) {
		s := startServer(t, ServerConfig{MaxFrame: 1024, RequestRing: 4096, ResponseRing: 4096})
		c := dial(t, s.path)
		// Bypass the client's own check: write a 300-byte frame directly.
		got := make(chan []byte, 1)
		c.slots[1].Store(&call{id: 1, done: func(b []byte, err error) { got <- b }})
		c.inflight.Add(1)
		c.ids.Store(1)
		if ok, err := c.req.write(1, 0, make([]byte, 1500)); !ok || err != nil {
			t.Fatal(ok, err)
		}
		c.req.publish()
		c.peer.wake()
		b := <-got
		if a := answerOf(t, b); a["error"].(map[string]any)["reason"] != string(protocol.ReasonTooLarge) {
			t.Fatalf("oversize: %s", b)
		}
		if _, err := c.Execute(context.Background(), []byte(noop)); err != nil {
			t.Fatalf("after an oversize frame: %v", err)
		}
	})
	lies := map[string]func(r *rawClient){
		"length beyond head": func(r *rawClient) {
			binaryPut(r.req.data, 3000, 0, 9)
			r.req.head.Store(32)
		},
		"misaligned head":      func(r *rawClient) { r.req.head.Store(24) },
		"head beyond the ring": func(r *rawClient) { r.req.head.Store(1 << 40) },
		"response tail ahead of head": func(r *rawClient) {
			r.resp.tail.Store(1 << 20) // noticed when the answers fill the ring
			for i := range 40 {
				r.req.write(uint64(i), 0, []byte(noop))
			}
			r.req.publish()
		},
		// A tail that goes back is refused when the server sees it (ring_test.go);
		// one it never saw is the same as a client that stopped reading.
	}
	for name, lie := range lies {
		t.Run(name, func(t *testing.T) {
			hook, waitFor := gone()
			s := startServer(t, ServerConfig{onClientGone: hook, MaxFrame: 1024, RequestRing: 4096, ResponseRing: 4096})
			r := rawDial(t, s.path)
			lie(r)
			r.serverBell.wake()
			waitFor(t, 1)
			var b [1]byte
			if _, err := r.uc.Read(b[:]); err == nil {
				t.Fatalf("after %s the server should have closed the socket", name)
			}
			if v := s.Stats().Violations; v != 1 {
				t.Fatalf("%d violations counted, want 1", v)
			}
			other := dial(t, s.path)
			if _, err := other.Execute(context.Background(), []byte(noop)); err != nil {
				t.Fatalf("another client after %s: %v", name, err)
			}
		})
	}
}

// TestStalledClient: a client that stops reading answers fills its
// response ring and stalls only itself.
func TestStalledClient(t *testing.T) {
	s := startServer(t, ServerConfig{RequestRing: 8192, ResponseRing: 8192, MaxFrame: 2048, MaxInFlight: 64})
	st := startChild(t, "stall", s.path, nil)
	st.expect(t, "stalling")
	c := dial(t, s.path)
	for i := range 2000 {
		if _, err := c.Execute(context.Background(), []byte(noop)); err != nil {
			t.Fatalf("request %d beside a stalled client: %v", i, err)
		}
	}
}

// TestShutdown: Shutdown answers what was read, refuses the rest with
// shutting_down or ErrPeerGone, and a second call returns ErrClosed.
func TestShutdown(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c := dial(t, s.path)
	var answered, refused atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		if err := c.Submit([]byte(noop), func(b []byte, err error) {
			defer wg.Done()
			switch {
			case err != nil:
				refused.Add(1)
			case strings.Contains(string(b), `"status":"success"`):
				answered.Add(1)
			case strings.Contains(string(b), string(protocol.ReasonShuttingDown)):
				refused.Add(1)
			default:
				t.Errorf("answer %s", b)
			}
		}); err != nil {
			wg.Done()
			refused.Add(1)
		}
	}
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
	if answered.Load()+refused.Load() != 200 {
		t.Fatalf("answered %d refused %d of 200", answered.Load(), refused.Load())
	}
	if err := s.Shutdown(context.Background()); err != ErrClosed {
		t.Fatalf("second Shutdown: %v", err)
	}
	if _, err := os.Stat(s.path); !os.IsNotExist(err) {
		t.Fatalf("socket file left after shutdown: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); err != ErrClosed {
		t.Fatalf("second client Close: %v", err)
	}
	if _, err := c.Execute(context.Background(), []byte(noop)); !IsClosed(err) {
		t.Fatalf("Execute after Close: %v", err)
	}
}

// TestHandshakeRefusals: a wrong version and a non-hello are refused with
// a reason; a live socket is not stolen by a second server.
func TestHandshakeRefusals(t *testing.T) {
	s := startServer(t, ServerConfig{MaxClients: 1})
	raw := func(hello []byte) (uint16, string) {
		nc, err := net.Dial("unix", s.path)
		if err != nil {
			t.Fatal(err)
		}
		defer nc.Close()
		nc.Write(hello)
		status, text, fd, err := readReply(nc.(*net.UnixConn))
		if err != nil || fd >= 0 {
			t.Fatalf("reply: %v fd %d", err, fd)
		}
		return status, text
	}
	h := encodeHello(knownFeatures)
	h[4] = 9
	if st, text := raw(h); st != statusVersion || !strings.Contains(text, "version 9") {
		t.Fatalf("version 9: %d %q", st, text)
	}
	if st, _ := raw([]byte("GET / HTTP/1.1\r\n")); st != statusMalformed {
		t.Fatalf("not a hello: %d", st)
	}
	c := dial(t, s.path)
	if _, err := Dial(context.Background(), s.path, ClientConfig{}); !errors.Is(err, ErrRefused) || !strings.Contains(err.Error(), "maximum") {
		t.Fatalf("second client over MaxClients: %v", err)
	}
	c.Close()
	second, err := NewServer(ServerConfig{Path: s.path}, s.rt)
	if err != nil {
		t.Fatal(err)
	}
	if err := second.Start(); err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("a second server on a live socket: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []ServerConfig{
		{},
		{Path: "x", RequestRing: 5000},
		{Path: "x", MaxFrame: 3 << 20},
		{Path: "x", UIDs: map[uint32]string{5: ""}},
		// A local user may not pass for an mTLS client certificate.
		{Path: "x", UIDs: map[uint32]string{5: "mtls:ops"}},
		{Path: "x", GIDs: map[uint32]string{5: "mtls:"}},
		{Path: "x", OwnerPrincipal: "mtls:root"},
		{Path: "x", Mode: 0o4777},
	} {
		if _, err := NewServer(cfg, &recorder{}); err == nil {
			t.Errorf("%+v accepted", cfg)
		}
	}
}

// TestSocketFrames: the same client over the socket alone (no region):
// concurrent callers, large frames, over-max refused, server gone.
func TestSocketFrames(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, err := Dial(context.Background(), s.path, ClientConfig{SocketFrames: true})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				text := fmt.Sprintf("g%d-%d-%s", g, i, strings.Repeat("y", i*40))
				b, err := c.Execute(context.Background(), echoMsg(text))
				if err != nil || !strings.Contains(string(b), `"text":"`+text+`"`) {
					t.Errorf("%d/%d: %v %.100s", g, i, err, b)
					return
				}
			}
		})
	}
	wg.Wait()
	if _, err := c.Execute(context.Background(), make([]byte, c.MaxFrame()+1)); !errors.Is(err, ErrTooLarge) {
		t.Fatalf("over the max frame: %v", err)
	}
	s.Close()
	for err == nil {
		_, err = c.Execute(context.Background(), []byte(noop))
	}
	if !errors.Is(err, ErrPeerGone) {
		t.Fatalf("after the server closed: %v", err)
	}
}

// TestExecuteAbandoned: a context that ends first abandons the wait; the
// slot is freed and the late answer dropped, and the client goes on.
func TestExecuteAbandoned(t *testing.T) {
	s := startServer(t, ServerConfig{})
	c, err := Dial(context.Background(), s.path, ClientConfig{MaxInFlight: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	for range 10 { // each abandons (or, raced, completes) and frees the only slot
		if _, err := c.Execute(ctx, []byte(noop)); err != nil && !errors.Is(err, context.Canceled) {
			t.Fatal(err)
		}
	}
	for range 10 {
		if _, err := c.Execute(context.Background(), []byte(noop)); err != nil {
			t.Fatalf("after abandoned requests: %v", err)
		}
	}
}
