// Command ceiling runs the baselines the runtime is held against
// (package perf/ceiling) and assembles the matrix's ratio table; it is
// what scripts/bench-matrix.sh drives.
//
//	ceiling h3echo -data-dir DIR              # bare quic-go HTTP/3 echo; then: fcload -target h3 -data-dir DIR
//	ceiling ring -inflight 256 -d 2s -json ring.json
//	ceiling durable -store loop -writers 16 -dir /var/tmp -json loop.json
//	ceiling durable -store journal -durability interval -writers 16 -json journal.json
//	ceiling table -merged DIR MANIFEST        # the Markdown ratio table (see perf/ceiling/table.go)
//	ceiling benchlines -json out.json < fcload-output.txt
//
// Results print as benchstat lines on stdout and, with -json FILE, as one
// fcload report (perf.Report) holding every repetition.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/perf/ceiling"
)

func main() {
	if err := run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "ceiling:", err)
		os.Exit(1)
	}
}

const usage = `usage: ceiling COMMAND [flags]

commands:
  h3echo      serve the bare HTTP/3 echo until SIGINT/SIGTERM (writes DATA_DIR/run.json and token)
  ring        the shared-memory ring echo: requests in flight, round-trip latency, throughput
  durable     W writers appending 200-byte records to a store (loop, journal) and waiting for each
  table       the Markdown ratio table of a matrix manifest
  benchlines  fcload's benchstat lines on stdin → a JSON report
`

func run(args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return errors.New("no command")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	cmd, args := args[0], args[1:]
	switch cmd {
	case "h3echo":
		return h3echo(ctx, args, stderr)
	case "ring":
		return ring(ctx, args, stdout, stderr)
	case "ring-echo": // the ring's child process (RunRing starts it)
		return ceiling.ServeRing(os.NewFile(3, "ring"))
	case "durable":
		return durable(ctx, args, stdout, stderr)
	case "table":
		return table(args, stdout, stderr)
	case "benchlines":
		return benchlines(args, stdin, stderr)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	}
	fmt.Fprint(stderr, usage)
	return fmt.Errorf("unknown command %q", cmd)
}

func newFlags(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet("ceiling "+name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	return fs
}

func h3echo(ctx context.Context, args []string, stderr io.Writer) error {
	fs := newFlags("h3echo", stderr)
	dir := fs.String("data-dir", "", "write run.json and token here (required: fcload -target h3 -data-dir DIR reads them)")
	addr := fs.String("addr", "127.0.0.1:0", "UDP address to listen on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return errors.New("h3echo: -data-dir is required")
	}
	s, err := ceiling.StartEcho(ceiling.EchoConfig{Addr: *addr, Dir: *dir})
	if err != nil {
		return err
	}
	fmt.Fprintf(stderr, "h3echo listening on %s (pin %s): fcload -target h3 -data-dir %s\n", s.Addr(), s.SPKIPin(), *dir)
	<-ctx.Done()
	n := s.Requests()
	err = s.Close()
	fmt.Fprintf(stderr, "h3echo stopped after %d answers\n", n)
	return err
}

// common are the flags of the measuring commands.
type common struct {
	d, warmup time.Duration
	count     int
	maxOps    int64
	jsonOut   string
	name      string
}

func (c *common) register(fs *flag.FlagSet) {
	fs.DurationVar(&c.d, "d", 2*time.Second, "measured duration of each run")
	fs.DurationVar(&c.warmup, "warmup", 500*time.Millisecond, "warm-up before each run (not measured)")
	fs.IntVar(&c.count, "count", 1, "runs")
	fs.Int64Var(&c.maxOps, "max-ops", 0, "end each run after this many operations (0: by duration)")
	fs.StringVar(&c.jsonOut, "json", "", "write the report (every run) to this file")
	fs.StringVar(&c.name, "name", "", "the benchmark name (default: from the parameters)")
}

// finish prints each run as a benchstat line and writes the report.
func (c *common) finish(r *perf.Report, stdout io.Writer) error {
	if c.jsonOut != "" {
		f, err := os.Create(c.jsonOut)
		if err != nil {
			return err
		}
		err = r.WriteJSON(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	var errs int64
	for _, rep := range r.Runs {
		errs += rep.Errors
	}
	if errs > 0 {
		return fmt.Errorf("%s: %d errors (first: %s)", r.Name, errs, r.Runs[0].FirstError)
	}
	return nil
}

func writeBench(stdout io.Writer, name string, rep perf.Repetition) {
	perf.Result{Name: name, Ops: rep.OK, Errors: rep.Errors, Elapsed: rep.Elapsed, Throughput: rep.Throughput, Latency: rep.Latency}.WriteBench(stdout)
}

func ring(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("ring", stderr)
	var c common
	c.register(fs)
	inflight := fs.Int("inflight", 1, "requests in flight (one submitting goroutine)")
	spin := fs.Duration("spin", 30*time.Microsecond, "poll an empty ring this long before parking on the futex")
	skip := fs.Bool("skip-check", false, "do not parse answers (by default each is checked as fcload checks one)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	self, err := os.Executable()
	if err != nil {
		return err
	}
	name := c.name
	if name == "" {
		name = fmt.Sprintf("Ceiling/ring/inflight=%d", *inflight)
	}
	r := ceiling.NewReport(name, perf.Workload{Target: "echo", Transport: "ring", Loop: "closed", Workers: *inflight,
		Duration: c.d, Warmup: c.warmup, Mix: []perf.MixEntry{{Name: "noop", Weight: 1, Bytes: len(ceiling.NoopMessage), Expect: "allow"}}})
	r.Server = &perf.Server{Version: "ring echo"}
	for range c.count {
		rep, err := ceiling.RunRing(ctx, ceiling.RingConfig{InFlight: *inflight, Duration: c.d, Warmup: c.warmup, Spin: *spin,
			MaxOps: c.maxOps, SkipCheck: *skip, Child: []string{self, "ring-echo"}})
		if err != nil {
			return err
		}
		writeBench(stdout, name, rep)
		r.Runs = append(r.Runs, rep)
		r.Server.CPUSeconds += rep.ServerCPUSeconds
	}
	setCPUPerRequest(r)
	return c.finish(r, stdout)
}

func setCPUPerRequest(r *perf.Report) {
	var ok int64
	for _, rep := range r.Runs {
		ok += rep.OK
	}
	if ok > 0 && r.Server != nil && r.Server.CPUSeconds > 0 {
		r.Server.CPUPerRequest = r.Server.CPUSeconds * 1e9 / float64(ok)
	}
}

func durable(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := newFlags("durable", stderr)
	var c common
	c.register(fs)
	store := fs.String("store", "loop", "loop (the bare group-commit loop) | journal")
	mode := fs.String("durability", "always", "always (acknowledge after fdatasync) | interval (after write; fdatasync every 10 ms)")
	writers := fs.Int("writers", 16, "concurrent writers, each waiting for its record")
	dir := fs.String("dir", "", "directory on the disk to measure (default: the system's temporary directory)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *mode != "always" && *mode != "interval" {
		return fmt.Errorf("durable: -durability %q: want always or interval", *mode)
	}
	name := c.name
	if name == "" {
		name = fmt.Sprintf("Durable/store=%s/durability=%s/writers=%d", *store, *mode, *writers)
	}
	r := ceiling.NewReport(name, perf.Workload{Target: "durable", Transport: *store, Loop: "closed", Workers: *writers,
		Duration: c.d, Warmup: c.warmup, Config: map[string]string{"durability": *mode, "record_bytes": fmt.Sprint(ceiling.RecordBytes)}})
	r.Server = &perf.Server{Version: *store}
	for range c.count {
		scratch, err := os.MkdirTemp(*dir, "ceiling-durable-")
		if err != nil {
			return err
		}
		rep, err := durableRun(ctx, *store, *mode, scratch, ceiling.DurableConfig{Writers: *writers, Duration: c.d, Warmup: c.warmup, MaxOps: c.maxOps})
		os.RemoveAll(scratch)
		if err != nil {
			return err
		}
		writeBench(stdout, name, rep)
		r.Runs = append(r.Runs, rep)
		r.Server.CPUSeconds += rep.ServerCPUSeconds
	}
	setCPUPerRequest(r)
	return c.finish(r, stdout)
}

// syncInterval is the interval mode's fdatasync period: the journal's
// default.
const syncInterval = 10 * time.Millisecond

func durableRun(ctx context.Context, store, mode, dir string, cfg ceiling.DurableConfig) (perf.Repetition, error) {
	switch store {
	case "loop":
		var lc ceiling.LoopConfig
		if mode == "interval" {
			lc.SyncInterval = syncInterval
		}
		l, err := ceiling.OpenLoop(filepath.Join(dir, "loop"), lc)
		if err != nil {
			return perf.Repetition{}, err
		}
		rep := ceiling.RunDurable(ctx, cfg, func(_ int, _ int64, rec []byte) error { return l.Append(rec) })
		return rep, l.Close()
	case "journal":
		j, err := journal.Open(journal.Config{Dir: filepath.Join(dir, "journal"), Durability: journal.Durability(mode), SyncInterval: syncInterval})
		if err != nil {
			return perf.Repetition{}, err
		}
		s := ceiling.NewJournalStore(j, cfg.Writers)
		rep := ceiling.RunDurable(ctx, cfg, s.Append)
		return rep, j.Close()
	}
	return perf.Repetition{}, fmt.Errorf("durable: -store %q: want loop or journal (Pebble is perf/durableanchor)", store)
}

func table(args []string, stdout, stderr io.Writer) error {
	fs := newFlags("table", stderr)
	allowErrors := fs.Bool("allow-errors", false, "print the table even when runs had errors (still exits 1)")
	merged := fs.String("merged", "", "also write each cell's merged sides as reports into this directory")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() != 1 {
		return errors.New("table: want one manifest file")
	}
	cells, err := ceiling.ReadManifest(fs.Arg(0))
	if err != nil {
		return err
	}
	if *merged != "" {
		if err := ceiling.WriteMerged(*merged, cells); err != nil {
			return err
		}
	}
	fails := ceiling.Failures(cells)
	if len(fails) == 0 || *allowErrors {
		ceiling.WriteTable(stdout, cells)
	}
	if len(fails) > 0 {
		return fmt.Errorf("%d runs failed:\n  %s", len(fails), strings.Join(fails, "\n  "))
	}
	return nil
}

func benchlines(args []string, stdin io.Reader, stderr io.Writer) error {
	fs := newFlags("benchlines", stderr)
	out := fs.String("json", "", "write the report here (required)")
	target := fs.String("target", "", "the workload's target (inproc, h3, ipc)")
	transport := fs.String("transport", "", "the workload's transport (execute, stream, ring, inproc)")
	workers := fs.Int("workers", 0, "the workload's concurrency")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *out == "" {
		return errors.New("benchlines: -json is required")
	}
	rs, err := ceiling.ParseBenchLines(stdin, perf.Workload{Target: *target, Transport: *transport, Loop: "closed", Workers: *workers})
	if err != nil {
		return err
	}
	if len(rs) != 1 {
		return fmt.Errorf("benchlines: %d benchmark names on stdin, want one", len(rs))
	}
	f, err := os.Create(*out)
	if err != nil {
		return err
	}
	err = rs[0].WriteJSON(f)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	return err
}
