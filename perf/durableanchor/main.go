// Command durableanchor measures the durable-store anchor: Pebble (v2),
// `Set(key, 200-byte record, pebble.Sync)` from W goroutines, each
// waiting for its record, driven by the same code (ceiling.RunDurable)
// and records as `ceiling durable -store journal` and `-store loop`, so
// the journal's figures at W writers can be read against what a user
// would pick instead. A separate module, so Pebble never enters the
// runtime's dependency graph.
//
//	go build -o durableanchor . && ./durableanchor -writers 16 -d 2s -count 5 -dir /var/tmp -json pebble.json
package main

import (
	"context"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/perf/ceiling"
)

func main() {
	if err := run(os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "durableanchor:", err)
		os.Exit(1)
	}
}

func run(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("durableanchor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	writers := fs.Int("writers", 16, "concurrent writers, each waiting for its record")
	d := fs.Duration("d", 2*time.Second, "measured duration of each run")
	warmup := fs.Duration("warmup", 500*time.Millisecond, "warm-up before each run (not measured)")
	count := fs.Int("count", 1, "runs (a fresh store each)")
	maxOps := fs.Int64("max-ops", 0, "end each run after this many records (0: by duration)")
	dir := fs.String("dir", "", "directory on the disk to measure (default: the system's temporary directory)")
	jsonOut := fs.String("json", "", "write the report (every run) to this file")
	name := fs.String("name", "", "the benchmark name (default: Durable/store=pebble/durability=always/writers=W)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if *name == "" {
		*name = fmt.Sprintf("Durable/store=pebble/durability=always/writers=%d", *writers)
	}
	r := ceiling.NewReport(*name, perf.Workload{Target: "durable", Transport: "pebble", Loop: "closed", Workers: *writers,
		Duration: *d, Warmup: *warmup, Config: map[string]string{"durability": "always", "record_bytes": fmt.Sprint(ceiling.RecordBytes), "pebble": pebbleVersion()}})
	r.Server = &perf.Server{Version: "pebble " + pebbleVersion()}
	var ok, errs int64
	for range *count {
		scratch, err := os.MkdirTemp(*dir, "durableanchor-")
		if err != nil {
			return err
		}
		rep, err := pebbleRun(ctx, filepath.Join(scratch, "pebble"), ceiling.DurableConfig{Writers: *writers, Duration: *d, Warmup: *warmup, MaxOps: *maxOps})
		os.RemoveAll(scratch)
		if err != nil {
			return err
		}
		perf.Result{Name: *name, Ops: rep.OK, Errors: rep.Errors, Elapsed: rep.Elapsed, Throughput: rep.Throughput, Latency: rep.Latency}.WriteBench(stdout)
		r.Runs = append(r.Runs, rep)
		r.Server.CPUSeconds += rep.ServerCPUSeconds
		ok, errs = ok+rep.OK, errs+rep.Errors
	}
	if ok > 0 {
		r.Server.CPUPerRequest = r.Server.CPUSeconds * 1e9 / float64(ok)
	}
	if *jsonOut != "" {
		f, err := os.Create(*jsonOut)
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
	if errs > 0 {
		return fmt.Errorf("%d errors (first: %s)", errs, r.Runs[0].FirstError)
	}
	return nil
}

// pebbleRun opens a fresh Pebble store in dir and drives it: each record
// is Set under its sequence number (big endian) with pebble.Sync, which
// group-commits concurrent syncs into one WAL fdatasync.
func pebbleRun(ctx context.Context, dir string, cfg ceiling.DurableConfig) (perf.Repetition, error) {
	db, err := pebble.Open(dir, &pebble.Options{Logger: quiet{}})
	if err != nil {
		return perf.Repetition{}, err
	}
	rep := ceiling.RunDurable(ctx, cfg, func(_ int, seq int64, rec []byte) error {
		var key [8]byte
		binary.BigEndian.PutUint64(key[:], uint64(seq))
		return db.Set(key[:], rec, pebble.Sync)
	})
	if err := db.Close(); err != nil {
		return rep, errors.Join(errors.New("pebble close"), err)
	}
	return rep, nil
}

// quiet drops Pebble's informational log lines.
type quiet struct{}

func (quiet) Infof(string, ...any)      {}
func (quiet) Errorf(f string, a ...any) { fmt.Fprintf(os.Stderr, f+"\n", a...) }
func (quiet) Fatalf(f string, a ...any) { panic(fmt.Sprintf(f, a...)) }
