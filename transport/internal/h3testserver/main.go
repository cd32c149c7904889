// Command h3testserver is a minimal HTTP/3 FemtoClaw server for
// scripts/interop.sh and load tests, for use until (or besides)
// `femtoclaw serve`: the default policy (noop and echo allowed), a durable
// journal, a generated token and certificate in the data directory.
//
//	go run ./transport/internal/h3testserver -data-dir DIR -listen 127.0.0.1:0
//
// On stdout, once serving, it prints one "KEY value" line each:
//
//	PORT 43121
//	ADDR 127.0.0.1:43121
//	TOKEN fc_…            (also in DIR/token, 0600)
//	PIN <base64 SPKI sha256>
//	CERT DIR/tls/cert.pem
//	READY
//
// Every request is logged on stderr at debug level with its protocol
// ("proto=HTTP/3.0"). SIGINT/SIGTERM shut down gracefully; so does EOF on
// stdin with -stdin-close.
//
// With -echo it serves the bare quic-go HTTP/3 echo of perf/ceiling
// instead (what `ceiling h3echo` runs: run.json and token in the data
// directory, for fcload), so that both sides of compare.sh can be
// profiled alike: -cpuprofile FILE profiles the whole run, -trace FILE
// writes a runtime/trace of -trace-for (default 500ms) starting
// -trace-after (default 1s) after READY.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"runtime/pprof"
	"runtime/trace"
	"strings"
	"syscall"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/perf/ceiling"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

func main() {
	dataDir := flag.String("data-dir", "", "data directory (journal/, tls/, token); default: a new temporary directory")
	listen := flag.String("listen", "127.0.0.1:0", "UDP address(es), comma-separated")
	durability := flag.String("durability", "always", "journal durability: always | interval | none (no journal)")
	quiet := flag.Bool("quiet", false, "no access log")
	stdinClose := flag.Bool("stdin-close", false, "shut down when stdin closes")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the whole run to this file")
	noTelemetry := flag.Bool("no-telemetry", false, "pipeline.Config.DisableTelemetry (for cost comparisons)")
	echo := flag.Bool("echo", false, "serve the bare quic-go HTTP/3 echo of perf/ceiling instead of the runtime")
	traceFile := flag.String("trace", "", "write a runtime/trace to this file (see -trace-after, -trace-for)")
	traceAfter := flag.Duration("trace-after", time.Second, "start the trace this long after READY")
	traceFor := flag.Duration("trace-for", 500*time.Millisecond, "trace for this long")
	flag.Parse()
	if os.Getenv("GOGC") == "" && !*echo {
		debug.SetGCPercent(400) // as femtoclaw serve's default runtime.gc_percent (ceiling h3echo keeps Go's)
	}
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err == nil {
			err = pprof.StartCPUProfile(f)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "h3testserver:", err)
			os.Exit(1)
		}
		defer func() { pprof.StopCPUProfile(); f.Close() }()
	}
	if *traceFile != "" {
		ready = func() { go traceLater(*traceFile, *traceAfter, *traceFor) }
	}
	var err error
	if *echo {
		err = runEcho(*dataDir, *listen)
	} else {
		err = run(*dataDir, *listen, *durability, *quiet, *stdinClose, *noTelemetry)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "h3testserver:", err)
		pprof.StopCPUProfile()
		os.Exit(1)
	}
}

func run(dir, listen, durability string, quiet, stdinClose, noTelemetry bool) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "h3testserver-")
		if err != nil {
			return err
		}
		dir = d
	}
	level := slog.LevelDebug
	if quiet {
		level = slog.LevelWarn
	}
	log := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: level}))
	quietLog := slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))

	caps, err := capability.Builtins(capability.BuiltinConfig{})
	if err != nil {
		return err
	}
	reg, err := capability.NewRegistry(caps, map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}})
	if err != nil {
		return err
	}
	pcfg := pipeline.Config{Logger: quietLog, DisableTelemetry: noTelemetry}
	var j *journal.Journal
	var lookup transport.Lookup
	if durability != "none" {
		j, err = journal.Open(journal.Config{Dir: filepath.Join(dir, "journal"), Durability: journal.Durability(durability), Logger: quietLog})
		if err != nil {
			return err
		}
		pcfg.Journal, pcfg.Durable, lookup = j, durability == "always", j.Get
	}
	rt, err := pipeline.Open(pcfg, reg, policy.Default())
	if err != nil {
		return err
	}
	token, err := loadOrCreateToken(filepath.Join(dir, "token"))
	if err != nil {
		return err
	}
	srv, err := transport.NewServer(transport.ServerConfig{
		Addrs:  strings.Split(listen, ","),
		TLSDir: filepath.Join(dir, "tls"),
		Tokens: []transport.Token{{Principal: "token:default", SHA256: transport.HashToken(token)}},
		Logger: log,
	}, rt, lookup)
	if err != nil {
		return err
	}
	if err := srv.Start(); err != nil {
		return err
	}
	addr := srv.Addrs()[0].(*net.UDPAddr)
	fmt.Printf("PORT %d\nADDR %s\nTOKEN %s\nPIN %s\nCERT %s\nDATA %s\nREADY\n", addr.Port, addr, token, srv.SPKIPin(),
		filepath.Join(dir, "tls", transport.CertFileName), dir)
	ready()

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if stdinClose {
		go func() { io.Copy(io.Discard, os.Stdin); stop() }()
	}
	<-ctx.Done()
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	err = srv.Shutdown(sctx)
	if cerr := rt.Shutdown(sctx); err == nil {
		err = cerr
	}
	if j != nil {
		if cerr := j.Close(); err == nil {
			err = cerr
		}
	}
	return err
}

// ready runs once the server serves (-trace sets it).
var ready = func() {}

// traceLater writes a runtime/trace of d to file, starting after wait.
func traceLater(file string, wait, d time.Duration) {
	time.Sleep(wait)
	f, err := os.Create(file)
	if err == nil {
		err = trace.Start(f)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "h3testserver: trace:", err)
		return
	}
	time.Sleep(d)
	trace.Stop()
	f.Close()
}

// runEcho serves perf/ceiling's bare HTTP/3 echo until SIGINT/SIGTERM.
func runEcho(dir, listen string) error {
	if dir == "" {
		d, err := os.MkdirTemp("", "h3echo-")
		if err != nil {
			return err
		}
		dir = d
	}
	e, err := ceiling.StartEcho(ceiling.EchoConfig{Addr: strings.Split(listen, ",")[0], Dir: dir})
	if err != nil {
		return err
	}
	fmt.Printf("ADDR %s\nTOKEN %s\nPIN %s\nDATA %s\nREADY\n", e.Addr(), e.Token(), e.SPKIPin(), dir)
	ready()
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	<-ctx.Done()
	return e.Close()
}

func loadOrCreateToken(path string) (string, error) {
	if b, err := os.ReadFile(path); err == nil {
		return strings.TrimSpace(string(b)), nil
	}
	tok, err := transport.GenerateToken()
	if err != nil {
		return "", err
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return "", err
	}
	return tok, os.WriteFile(path, []byte(tok+"\n"), 0o600)
}
