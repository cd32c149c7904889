// Command fcload drives load at a FemtoClaw runtime — in this process,
// over HTTP/3 (/v1/execute or /v1/stream), or over the shared-memory ring
// (or its unix socket) — and reports what it measured as a table, as a
// JSON report (perf.Report) and as benchstat lines. See usage for the
// flags and examples, and package perf for what is counted and how.
//
// fcload exits 0 when the run passed, 1 when it failed (no request
// succeeded, or the error rate is above -max-error-rate) or could not run,
// and 2 on a usage mistake.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"runtime/debug"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func main() {
	err := run(os.Args[1:], os.Stdout, os.Stderr)
	os.Exit(exitStatus(err, os.Stderr))
}

// run is fcload's whole command line: a subcommand named by the first
// word, else a load run.
func run(args []string, stdout, stderr io.Writer) error {
	if len(args) > 0 && args[0] != "" && !strings.HasPrefix(args[0], "-") {
		switch args[0] {
		case "compare":
			return compare(args[1:], stdout, stderr)
		case "report":
			return reportCommand(args[1:], stdout, stderr)
		case "scenario":
			return cmdScenario(args[1:], stdout, stderr)
			// One line per subcommand: case "NAME": return cmdNAME(args[1:], stdout, stderr),
			// the command in its own file, taking (args []string, stdout, stderr io.Writer) error.
		}
		return usagef("unknown subcommand %q: a load run takes only flags; run `fcload -h`", args[0])
	}
	return runLoad(args, stdout, stderr)
}

// usageError is a mistake on the command line: exit status 2.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// runFailed is a run that went through and failed its verdict (the
// report says why): exit status 1.
type runFailed struct{ why string }

func (e runFailed) Error() string { return "FAILED: " + e.why }

func exitStatus(err error, stderr io.Writer) int {
	var u usageError
	switch {
	case err == nil, errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &u):
		fmt.Fprintf(stderr, "fcload: %v\nrun `fcload -h` for the flags and examples\n", err)
		return 2
	}
	fmt.Fprintln(stderr, "fcload:", err)
	return 1
}

type options struct {
	target, msg, journalMode, dataDir, adminAddr, principal string
	ackedFile, socket, frames                               string
	token, tokenFile, pin, caFile, adminTokenFile           string
	mix, expect, jsonFile                                   string
	workers, conns, count                                   int
	requests                                                int64
	duration, warmup, spin, timeout, slowDelay, grace       time.Duration
	rate, maxErrorRate                                      float64
	stream, bench, progress, check                          bool
	mixGiven, durationGiven                                 bool
}

const usageText = `fcload drives load at a FemtoClaw runtime and reports what it measured.

usage: fcload [flags]                  a load run (below)
       fcload SUBCOMMAND [args]        another tool of the perf lab

Targets (-target):
  inproc        the runtime in this process, journal in a temporary directory (or -data-dir)
  h3            the HTTP/3 server DATA_DIR/run.json names: POST /v1/execute, or /v1/stream with -stream
  https://H:P   an HTTP/3 server by URL (-token-file, -pin or -ca)
  ipc           the shared-memory ring of the server DATA_DIR/run.json names (-frames socket: the
                same frames over its unix socket); -stream pipelines with Submit
The server targets read the server's data directory (-data-dir, default ./femtoclaw-data):
run.json for its addresses, pin, socket, pid and admin listener, and DATA_DIR/token.

Load: closed loop by default (-workers requests in flight); with -rate R an open loop at R
arrivals per second, at most -workers outstanding, latency measured from each arrival's due
time so that a stalled server cannot hide (coordinated omission). A -warmup (not counted) runs
first, then the measured phase of -d, or of -n requests (at most -d, default 1m with -n).
Nothing new is sent after the end; the requests in flight then have -grace to be answered,
and those still unanswered are timeouts; open-loop arrivals due before the end that could not
be sent by then are errors of category not_sent. -count N repeats the measurement.

Mix (-mix NAME[=WEIGHT],...; default: the -msg message, noop):
  noop          the noop call; must be allowed
  echo-SIZE     echo with SIZE bytes of text (echo-64, echo-1k, echo-16k); must echo it back
  denied        fs.read of a file; must be denied (fs.read is disabled by default)
  malformed     invalid JSON; must be refused with a PROTOCOL_ERROR
  slow          inproc: a test capability that waits -slow-delay; server targets: shell running
                sleep -slow-delay, which the server must allow:
                  capabilities: {shell: {enabled: true, allowed_bins: [sleep]}}
                  policy rule:  - {id: fcload-slow, effect: allow, capabilities: [shell], args: {bin: {in: [sleep]}}}
  msg           the -msg message; must get -expect (allow, deny or protocol_error)
A request whose answer is not what its entry expects is an error (unexpected_answer, or the
server's error category and reason when it failed to do the work). Before measuring, -check
sends one request of each entry and refuses to run if one is answered wrongly.

Results: a table on standard output (percentiles p50 to p99.99 and max, throughput over the
window of successful answers, errors by category, the server's CPU and memory, the machine);
-json FILE writes the report (schema femtoclaw.fcload/v1; - for standard output instead of the
table); -bench adds one benchstat line per run. A progress line goes to standard error once a
second when it is a terminal, or with -progress. fcload exits 1 when no request succeeded or
the error rate is above -max-error-rate, 2 on a usage mistake.

Examples:
  fcload -target inproc -journal always -workers 256 -d 10s
  fcload -target inproc -mix noop=8,echo-1k=1,denied=1,malformed=1,slow=1 -n 100000
  fcload -target inproc -rate 50000 -workers 512 -d 30s -json run.json
  fcload -target h3 -conns 4 -workers 256 -count 5 -bench | tee new.txt   # then: benchstat old.txt new.txt
  fcload -target h3 -data-dir /var/lib/femtoclaw -stream -workers 256
  fcload -target https://10.0.0.5:4433 -token-file agent.token -pin SPKI -conns 4 -workers 256
  fcload -target ipc -workers 1                                  # ring round trip
  fcload -target ipc -stream -workers 256                        # ring, pipelined
  fcload -target ipc -frames socket -workers 1                   # the same over the unix socket
  fcload -target h3 -rate 2000 -d 60s -max-error-rate 0.001      # a soak that may lose 0.1 %

Flags:
`

func runLoad(args []string, stdout, stderr io.Writer) error {
	var o options
	fs := flag.NewFlagSet("fcload", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.target, "target", "inproc", "what to drive: inproc, h3, ipc, or a server's base URL (https://127.0.0.1:4433)")
	fs.StringVar(&o.frames, "frames", "ring", "ipc: ring (shared memory) or socket (the same frames over the unix socket, for comparison)")
	fs.DurationVar(&o.spin, "spin", 0, "ipc: how long the client polls before parking on the futex (0: the ipc default)")
	fs.StringVar(&o.socket, "socket", "", "ipc: the server's ring socket (default: the one DATA_DIR/run.json names, else DATA_DIR/femtoclaw.sock)")
	fs.StringVar(&o.msg, "msg", perf.NoopMessage, "the protocol message of the mix entry msg, the default mix")
	fs.StringVar(&o.expect, "expect", perf.ExpectAllow, "what -msg's answer must be: allow, deny or protocol_error")
	fs.StringVar(&o.mix, "mix", "", "the requests, `NAME[=WEIGHT],...` with NAME one of noop, echo-SIZE, denied, malformed, slow, msg (default: msg when -msg is given, else noop)")
	fs.DurationVar(&o.slowDelay, "slow-delay", 10*time.Millisecond, "how long the mix entry slow takes (at least 1ms)")
	fs.StringVar(&o.journalMode, "journal", "always", "inproc: journal durability always | interval | none")
	fs.StringVar(&o.dataDir, "data-dir", "", "inproc: the data directory, the journal goes in DATA_DIR/journal (default: a temporary one, removed after); server targets: the server's data directory, whose run.json and token are read (default: ./femtoclaw-data)")
	fs.StringVar(&o.adminAddr, "admin", "", "inproc: serve metrics and /v1/stats here while running (e.g. 127.0.0.1:9465); server targets: the server's admin listener to read its stages from (default: run.json's)")
	fs.StringVar(&o.adminTokenFile, "admin-token-file", "", "server targets: the admin listener's bearer token file (listen.admin_token_file), when it asks for one")
	fs.StringVar(&o.principal, "principal", "fcload", "inproc: principal of every request")
	fs.StringVar(&o.ackedFile, "acked-file", "", "inproc: append a line \"seq execution_id state status\" to this file for every acknowledged execution (for crash tests)")
	fs.StringVar(&o.token, "token", "", "HTTP/3: bearer token (default: DATA_DIR/token's)")
	fs.StringVar(&o.tokenFile, "token-file", "", "HTTP/3: file holding the bearer token")
	fs.StringVar(&o.pin, "pin", "", "HTTP/3: SPKI pin (base64 SHA-256) of the server certificate (default: DATA_DIR/run.json's)")
	fs.StringVar(&o.caFile, "ca", "", "HTTP/3: CA file to verify the server certificate")
	fs.IntVar(&o.workers, "workers", 64, "requests in flight (closed loop) or the bound on outstanding requests (open loop)")
	fs.IntVar(&o.conns, "conns", 1, "server targets: connections the workers are spread over")
	fs.IntVar(&o.count, "count", 1, "repeat the measurement this many times (one result each)")
	fs.Int64Var(&o.requests, "n", 0, "measure this many requests per run instead of a duration (-d still bounds a run: default 1m with -n)")
	fs.DurationVar(&o.duration, "d", 5*time.Second, "measured duration of each run")
	fs.DurationVar(&o.warmup, "warmup", time.Second, "warm-up before each run, not measured (0 or negative: none)")
	fs.Float64Var(&o.rate, "rate", 0, "open loop: arrivals per second (0: closed loop)")
	fs.DurationVar(&o.grace, "grace", time.Second, "how long the requests in flight at the end of a run may still be answered; then they are timeouts (0: none)")
	fs.DurationVar(&o.timeout, "timeout", 0, "a request unanswered this long after its send is a timeout (0: none but the request deadline, the end of the run plus -grace; not with -stream)")
	fs.Float64Var(&o.maxErrorRate, "max-error-rate", 0, "fail (exit 1) when a run's errors / (ok + errors) is above this, 0 to 1")
	fs.BoolVar(&o.stream, "stream", false, "HTTP/3: use /v1/stream, -workers/-conns messages pipelined per connection; ipc: pipeline with Submit from one goroutine per connection")
	fs.BoolVar(&o.check, "check", true, "before measuring, send one request of each mix entry and refuse to run if its answer is wrong")
	fs.StringVar(&o.jsonFile, "json", "", "write the report as JSON to `FILE` (-: standard output, instead of the table)")
	fs.BoolVar(&o.bench, "bench", false, "also print one benchstat line per run on standard output")
	fs.BoolVar(&o.progress, "progress", false, "print the progress line once a second even when standard error is not a terminal")
	cpuprofile := fs.String("cpuprofile", "", "write a CPU profile of the run to this `FILE`")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			fmt.Fprint(stdout, usageText)
			fs.SetOutput(stdout)
			fs.PrintDefaults()
			return err
		}
		return usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return usagef("unexpected argument %q: a load run takes only flags", fs.Arg(0))
	}
	fs.Visit(func(f *flag.Flag) {
		switch f.Name {
		case "mix":
			o.mixGiven = true
		case "d":
			o.durationGiven = true
		case "msg":
			if o.mix == "" {
				o.mix = "msg"
			}
		}
	})
	if err := o.validate(); err != nil {
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
	return load(ctx, o, stdout, stderr)
}

// validate refuses impossible options (usage errors).
func (o *options) validate() error {
	switch {
	case o.workers < 1:
		return usagef("-workers %d: want at least 1", o.workers)
	case o.conns < 1:
		return usagef("-conns %d: want at least 1", o.conns)
	case o.count < 1:
		return usagef("-count %d: want at least 1", o.count)
	case o.requests < 0:
		return usagef("-n %d: want a positive count (or 0 for a duration)", o.requests)
	case o.duration <= 0:
		return usagef("-d %v: want a positive duration", o.duration)
	case o.rate < 0:
		return usagef("-rate %v: want a positive rate (or 0 for a closed loop)", o.rate)
	case o.grace < 0:
		return usagef("-grace %v: want a positive duration (or 0 for none)", o.grace)
	case o.timeout < 0:
		return usagef("-timeout %v: want a positive duration (or 0 for none)", o.timeout)
	case o.jsonFile == "-" && o.bench:
		return usagef("-json - writes the report on standard output: not with -bench")
	case o.timeout > 0 && o.stream:
		return usagef("-timeout applies to one request at a time: not with -stream")
	case !(o.maxErrorRate >= 0 && o.maxErrorRate <= 1):
		return usagef("-max-error-rate %v: want a fraction from 0 to 1", o.maxErrorRate)
	case o.slowDelay < time.Millisecond:
		return usagef("-slow-delay %v: want at least 1ms", o.slowDelay)
	case o.frames != "ring" && o.frames != "socket":
		return usagef("-frames %q: want ring or socket", o.frames)
	case o.journalMode != "always" && o.journalMode != "interval" && o.journalMode != "none":
		return usagef("-journal %q: want always, interval or none", o.journalMode)
	}
	if o.requests > 0 && !o.durationGiven {
		o.duration = time.Minute
	}
	if o.mix == "" {
		o.mix = "noop"
	}
	return nil
}

// isTerminal reports whether w is a character device (a terminal).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}
