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
	"strings"
	"syscall"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
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
	flag.Parse()
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // as femtoclaw serve's default runtime.gc_percent
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
	if err := run(*dataDir, *listen, *durability, *quiet, *stdinClose, *noTelemetry); err != nil {
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
