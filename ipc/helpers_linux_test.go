package ipc

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// childEnv selects a child-process role (see TestMain).
const childEnv = "FEMTOCLAW_TEST_IPC_CHILD"

func TestMain(m *testing.M) {
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(runChild(role, os.Getenv("FEMTOCLAW_TEST_IPC_SOCK"), os.Args))
	}
	os.Exit(m.Run())
}

// recorder is the runtime, counting the security rejections it journals.
type recorder struct {
	*pipeline.Runtime
	rejections atomic.Int64
	lastRemote atomic.Value
}

func (r *recorder) RecordSecurityRejection(reason protocol.Reason, remote, transport string) *protocol.Answer {
	r.rejections.Add(1)
	r.lastRemote.Store(string(reason) + " " + remote + " " + transport)
	return r.Runtime.RecordSecurityRejection(reason, remote, transport)
}

// idleFlush is the runtime's telemetry poll period in these tests. The
// runtime's exporter polls its queue every 50 ms by default, which alone
// costs ~0.5% of a core on the project's machine; TestIdleCPU measures
// the ring, so the runtime here polls once a second.
const idleFlush = time.Second

func newRuntime(t testing.TB) *recorder {
	t.Helper()
	caps, err := capability.Builtins(capability.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	reg, err := capability.NewRegistry(caps, map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	rt, err := pipeline.Open(pipeline.Config{Logger: slog.New(slog.NewTextHandler(io.Discard, nil)), DisableTelemetry: true,
		Telemetry: pipeline.TelemetryConfig{FlushEvery: idleFlush}}, reg, policy.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	return &recorder{Runtime: rt}
}

type testServer struct {
	*Server
	rt   *recorder
	path string
}

// startServer starts a server on a fresh socket in a temporary directory.
func startServer(t testing.TB, cfg ServerConfig) *testServer {
	t.Helper()
	if cfg.Path == "" {
		cfg.Path = filepath.Join(t.TempDir(), "fc.sock")
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	rt := newRuntime(t)
	s, err := NewServer(cfg, rt)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return &testServer{Server: s, rt: rt, path: cfg.Path}
}

func dial(t testing.TB, path string) *Client {
	t.Helper()
	c, err := Dial(context.Background(), path, ClientConfig{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

const noop = `{"tool_call":{"tool":"noop","args":{}}}`

func echoMsg(text string) []byte {
	return []byte(`{"tool_call":{"tool":"echo","args":{"text":` + string(protocol.AppendString(nil, text)) + `}}}`)
}

// child is a test binary re-executed in another role.
type child struct {
	cmd    *exec.Cmd
	out    *bufio.Scanner
	stdout io.ReadCloser
}

// startChild runs this test binary as a child in role, connected to sock.
func startChild(t *testing.T, role, sock string, configure func(*exec.Cmd), args ...string) *child {
	t.Helper()
	cmd := exec.Command(os.Args[0], append([]string{"-test.run=^$"}, args...)...)
	cmd.Env = append(os.Environ(), childEnv+"="+role, "FEMTOCLAW_TEST_IPC_SOCK="+sock)
	cmd.Stderr = os.Stderr
	if configure != nil {
		configure(cmd)
	}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	return &child{cmd: cmd, out: bufio.NewScanner(out), stdout: out}
}

// line returns the child's next line of output ("" at EOF).
func (c *child) line() string {
	if c.out.Scan() {
		return c.out.Text()
	}
	return ""
}

// expect reads lines until one starts with prefix, failing on EOF.
func (c *child) expect(t *testing.T, prefix string) string {
	t.Helper()
	for {
		l := c.line()
		if l == "" {
			t.Fatalf("child ended before printing %q", prefix)
		}
		if strings.HasPrefix(l, prefix) {
			return l
		}
	}
}

// wait waits for the child to exit and returns its exit error.
func (c *child) wait() error {
	io.Copy(io.Discard, c.stdout)
	return c.cmd.Wait()
}

// runChild is the child side. It prints progress lines on stdout for the
// parent; its exit status is its verdict.
func runChild(role, sock string, args []string) int {
	ctx := context.Background()
	fail := func(format string, a ...any) int {
		fmt.Fprintf(os.Stderr, "child %s: "+format+"\n", append([]any{role}, a...)...)
		return 1
	}
	c, err := Dial(ctx, sock, ClientConfig{})
	if err != nil {
		fmt.Printf("dial-error %v\n", err)
		if role == "refused" {
			return 0
		}
		return fail("dial: %v", err)
	}
	defer c.Close()
	switch role {
	case "order": // pipelined echoes from one goroutine come back in order, intact
		const n = 5000
		got := make(chan string, n)
		for i := range n {
			text := fmt.Sprintf("%d-%s", i, strings.Repeat("x", i%3000))
			if err := c.Submit(echoMsg(text), func(a []byte, err error) {
				if err != nil {
					got <- "error: " + err.Error()
					return
				}
				got <- string(a)
			}); err != nil {
				return fail("submit %d: %v", i, err)
			}
		}
		for i := range n {
			a := <-got
			want := fmt.Sprintf(`"result":{"text":"%d-%s"}`, i, strings.Repeat("x", i%3000))
			if !strings.Contains(a, want) || !strings.Contains(a, `"status":"success"`) {
				return fail("answer %d out of order or wrong: %.200s", i, a)
			}
		}
		fmt.Println("ok", n)
	case "large": // messages near the max frame, and one over it
		for _, n := range []int{0, 1, 15, 16, 17, 16000, capability.EchoMaxText} {
			a, err := c.Execute(ctx, echoMsg(strings.Repeat("é", n/2)))
			if err != nil || !strings.Contains(string(a), `"status":"success"`) {
				return fail("echo of %d bytes: %v %.200s", n, err, a)
			}
		}
		big := make([]byte, c.MaxFrame()+1)
		if _, err := c.Execute(ctx, big); !errors.Is(err, ErrTooLarge) {
			return fail("over the max frame: %v", err)
		}
		fmt.Println("ok large")
	case "idle": // connect, do one request, then nothing
		if _, err := c.Execute(ctx, []byte(noop)); err != nil {
			return fail("execute: %v", err)
		}
		fmt.Println("connected")
		var b [1]byte
		os.Stdin.Read(b[:]) // until the parent closes our stdin
	case "wait": // connect, say so, then do requests until the server goes away
		fmt.Println("connected", c.Principal())
		for {
			a, err := c.Execute(ctx, []byte(noop))
			if err != nil {
				fmt.Printf("error %v\n", err)
				if IsClosed(err) {
					return 0
				}
				return 1
			}
			if !strings.Contains(string(a), `"status":"success"`) {
				return fail("answer: %s", a)
			}
		}
	case "midframe": // write a frame header and half its payload, never publish, wait to be killed
		p := c.req.data
		binaryPut(p[0:], 1000, 0, 1)
		copy(p[16:], `{"tool_call":{"tool":"noop"`)
		fmt.Println("written")
		select {}
	case "hostile": // scribble over the whole region, forever
		fmt.Println("scribbling")
		x := uint64(0x9e3779b97f4a7c15)
		mem := c.mem
		for i := 0; ; i++ {
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
			off := x % uint64(len(mem)-8)
			if i%4 == 0 { // aim at the header often: indices, bells, lengths
				off = x % headerSize
			}
			mem[off] = byte(x >> 32)
			if i%1024 == 0 {
				c.peer.wake()
			}
		}
	case "stall": // fill the rings, never read an answer
		for i := 0; ; i++ {
			if err := c.Submit([]byte(noop), func([]byte, error) { select {} }); err != nil {
				return fail("submit: %v", err)
			}
			if i == 10 {
				fmt.Println("stalling")
			}
		}
	}
	return 0
}

func binaryPut(b []byte, length, flags uint32, id uint64) {
	b[0], b[1], b[2], b[3] = byte(length), byte(length>>8), byte(length>>16), byte(length>>24)
	b[4], b[5], b[6], b[7] = byte(flags), byte(flags>>8), byte(flags>>16), byte(flags>>24)
	for i := range 8 {
		b[8+i] = byte(id >> (8 * i))
	}
}

// rawClient is a handshake and a mapping, with no goroutines: the test
// plays the client by hand (and may lie).
type rawClient struct {
	uc         *net.UnixConn
	mem        []byte
	req, resp  *ring
	serverBell doorbell
}

func rawDial(t *testing.T, path string) *rawClient {
	t.Helper()
	nc, err := net.Dial("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	uc := nc.(*net.UnixConn)
	uc.Write(encodeHello(FeatureDoorbells))
	status, text, fd, err := readReply(uc)
	if err != nil || status != statusAccepted {
		t.Fatalf("handshake: %d %q %v", status, text, err)
	}
	mem, g, err := mapRegion(fd)
	unix.Close(fd)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { uc.Close(); unix.Munmap(mem) })
	return &rawClient{uc: uc, mem: mem, req: newRing(mem, g.reqCtl, g.reqData, g.reqSize, g.maxFrame),
		resp: newRing(mem, g.respCtl, g.respData, g.respSize, g.maxFrame), serverBell: newDoorbell(mem, offServerBell)}
}
