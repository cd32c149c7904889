// Command fcload drives load at a FemtoClaw runtime and prints
// benchstat-compatible result lines (see package perf).
//
//	fcload -target inproc -journal always -workers 256 -d 10s     # the runtime in this process
//	fcload -target h3 -conns 4 -workers 256                        # the server ./femtoclaw-data/run.json names
//	fcload -target h3 -data-dir /var/lib/femtoclaw -stream -workers 256
//	fcload -target https://10.0.0.5:4433 -token-file agent.token -pin SPKI -conns 4 -workers 256
//	fcload -target ipc -workers 1                                  # ring round trip (run.json's socket)
//	fcload -target ipc -stream -workers 256                        # ring, pipelined
//	fcload -target ipc -frames socket -workers 1                   # the same over the unix socket
//
// The server targets (h3, ipc, a URL) find the server in its data
// directory (-data-dir, default ./femtoclaw-data): the run.json `femtoclaw
// serve` writes there names its addresses, certificate pin and ring
// socket, and DATA_DIR/token holds the bearer token; -target, -pin,
// -token-file and -socket override them. With -target inproc the runtime
// runs in this process, with a journal in a temporary directory (or
// -data-dir), and -admin serves its metrics so `femtoclaw stats --admin
// ADDR` can watch the run live.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"sync"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/stats"
	"github.com/femtoclaw/femtoclaw-go/transport/admin"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "fcload:", err)
		os.Exit(1)
	}
}

type options struct {
	target, msg, journalMode, dataDir, adminAddr, principal string
	ackedFile, socket, frames                               string
	token, tokenFile, pin, caFile                           string
	workers, conns, count                                   int
	duration, warmup, spin                                  time.Duration
	rate                                                    float64
	stream                                                  bool
}

func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] == "scenario" {
		return cmdScenario(args[1:], stdout, stderr)
	}
	var o options
	fs := flag.NewFlagSet("fcload", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.target, "target", "inproc", "inproc; h3 (the HTTP/3 server DATA_DIR/run.json names); ipc (a server's shared-memory ring); or the base URL of a server (https://127.0.0.1:4433)")
	fs.StringVar(&o.frames, "frames", "ring", "ipc: ring (shared memory) or socket (the same frames over the unix socket, for comparison)")
	fs.DurationVar(&o.spin, "spin", 0, "ipc: how long the client polls before parking on the futex (0: the ipc default)")
	fs.StringVar(&o.socket, "socket", "", "ipc: the server's ring socket (default: the one DATA_DIR/run.json names, else DATA_DIR/femtoclaw.sock)")
	fs.StringVar(&o.msg, "msg", `{"tool_call":{"tool":"noop","args":{}}}`, "protocol message to send")
	fs.StringVar(&o.journalMode, "journal", "always", "inproc: journal durability always | interval | none")
	fs.StringVar(&o.dataDir, "data-dir", "", "inproc: the data directory, the journal goes in DATA_DIR/journal (default: a temporary one, removed after); h3, ipc, URL: the server's data directory, whose run.json and token are read (default: ./femtoclaw-data)")
	fs.StringVar(&o.adminAddr, "admin", "", "inproc: serve metrics and /v1/stats here while running (e.g. 127.0.0.1:9465)")
	fs.StringVar(&o.principal, "principal", "fcload", "inproc: principal of every request")
	fs.StringVar(&o.ackedFile, "acked-file", "", "inproc: append a line \"seq execution_id state status\" to this file for every acknowledged execution (for crash tests)")
	fs.StringVar(&o.token, "token", "", "server: bearer token (default: DATA_DIR/token's)")
	fs.StringVar(&o.tokenFile, "token-file", "", "server: file holding the bearer token")
	fs.StringVar(&o.pin, "pin", "", "server: SPKI pin (base64 SHA-256) of the server certificate (default: DATA_DIR/run.json's)")
	fs.StringVar(&o.caFile, "ca", "", "server: CA file to verify the server certificate")
	fs.IntVar(&o.workers, "workers", 64, "concurrent requests in flight")
	fs.IntVar(&o.conns, "conns", 1, "server: connections the workers are spread over")
	fs.IntVar(&o.count, "count", 1, "repeat the measurement this many times (one result line each)")
	fs.DurationVar(&o.duration, "d", 5*time.Second, "measured duration of each run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each run (not measured)")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: requests per second (0: closed loop)")
	fs.BoolVar(&o.stream, "stream", false, "server: use the streaming endpoint; ipc: pipeline with Submit from one goroutine per connection")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this file")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *cpuprofile != "" {
		f, err := os.Create(*cpuprofile)
		if err != nil {
			return err
		}
		if err := pprof.StartCPUProfile(f); err != nil {
			return err
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // the load generator must not be the bottleneck
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if o.target == "inproc" {
		return runInproc(ctx, o, stdout, stderr)
	}
	if o.target == "ipc" {
		return runIPC(ctx, o, stdout, stderr)
	}
	return runRemote(ctx, o, stdout, stderr)
}

func runInproc(ctx context.Context, o options, stdout, stderr io.Writer) error {
	caps, err := capability.Builtins(capability.BuiltinConfig{})
	if err != nil {
		return err
	}
	reg, err := capability.NewRegistry(caps, map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}})
	if err != nil {
		return err
	}
	metrics := stats.NewRegistry()
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	cfg := pipeline.Config{Metrics: metrics, Logger: log, MaxInFlight: max(10000, o.workers)}
	var j *journal.Journal
	if o.journalMode != "none" {
		dir := o.dataDir
		if dir == "" {
			if dir, err = os.MkdirTemp("", "fcload-"); err != nil {
				return err
			}
			defer os.RemoveAll(dir)
		}
		lock, err := journal.LockDir(dir, "fcload -target inproc")
		if err != nil {
			return fmt.Errorf("data directory: %w", err)
		}
		defer lock.Unlock()
		dir = filepath.Join(dir, "journal")
		j, err = journal.Open(journal.Config{Dir: dir, Durability: journal.Durability(o.journalMode), Logger: log})
		if err != nil {
			return err
		}
		defer j.Close()
		cfg.Journal, cfg.Durable = j, o.journalMode == "always"
	}
	rt, err := pipeline.Open(cfg, reg, policy.Default())
	if err != nil {
		return err
	}
	defer rt.Shutdown(context.Background())
	if o.adminAddr != "" {
		a, err := admin.New(admin.Config{Addr: o.adminAddr, Metrics: metrics, Logger: log})
		if err != nil {
			return err
		}
		if err := a.Start(); err != nil {
			return err
		}
		defer a.Shutdown(context.Background())
		fmt.Fprintf(stderr, "admin listener on %s: femtoclaw stats --admin %s\n", a.Addr(), a.Addr())
	}
	msg := []byte(o.msg)
	name := fmt.Sprintf("Fcload/target=inproc/journal=%s/workers=%d", o.journalMode, o.workers)
	var acked *ackLog
	if o.ackedFile != "" {
		if acked, err = openAckLog(o.ackedFile); err != nil {
			return err
		}
		defer acked.close()
	}
	for range o.count {
		r := perf.Run(ctx, perf.Config{Name: name, Workers: o.workers, Duration: o.duration, Warmup: o.warmup, Rate: o.rate}, func(int) perf.Op {
			req := &pipeline.Request{Message: msg, Principal: o.principal, Transport: "inproc"}
			return func(ctx context.Context) error {
				a := rt.Execute(ctx, req)
				if a.Error != nil {
					return a.Error
				}
				if cfg.Journal != nil && a.Journal.Seq == 0 {
					return fmt.Errorf("answer without a journal sequence")
				}
				if acked != nil {
					acked.add(a)
				}
				return nil
			}
		})
		r.WriteBench(stdout)
		if r.FirstError != nil {
			fmt.Fprintf(stderr, "first error: %v\n", r.FirstError)
		}
		if ctx.Err() != nil {
			break
		}
	}
	if j != nil {
		st := j.Stats()
		fmt.Fprintf(stderr, "journal: %+v\n", st)
	}
	return nil
}

// ackLog appends one line per acknowledged execution to a file, with one
// write(2) each: the page cache keeps every line across a SIGKILL of this
// process, so a crash test can check each acknowledged record, by seq,
// execution id and content, against the journal after a restart.
type ackLog struct {
	mu  sync.Mutex
	f   *os.File
	buf []byte
}

func openAckLog(path string) (*ackLog, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	return &ackLog{f: f}, nil
}

func (l *ackLog) add(a *protocol.Answer) {
	l.mu.Lock()
	l.buf = fmt.Appendf(l.buf[:0], "%d %s %s %s\n", a.Journal.Seq, a.ExecutionID, a.State, a.Status)
	l.f.Write(l.buf)
	l.mu.Unlock()
}

func (l *ackLog) close() { l.f.Close() }

// readToken returns the token from -token or -token-file.
func readToken(o options) (string, error) {
	if o.token != "" || o.tokenFile == "" {
		return o.token, nil
	}
	b, err := os.ReadFile(o.tokenFile)
	if err != nil {
		return "", err
	}
	return strings.TrimSpace(string(b)), nil
}
