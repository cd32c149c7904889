package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/perf"
)

// `fcload scenario NAME…|all` runs the specification's scenarios: each
// measures one or more FC-PERF-0001 metrics (perf.Metrics) and prints one
// line per result with the target and hard bound beside the measured
// value and the verdict:
//
//	fcload scenario all -quick                # everything in about two minutes
//	fcload scenario startup shutdown -json out/ -md
//	fcload scenario stability -soak 30m
//
// The in-process scenarios run the runtime in this process
// (pipeline.Open with a real journal in a temporary directory); startup,
// shutdown and throughput-h3 start the femtoclaw binary (-femtoclaw, by
// default the one beside fcload) as `femtoclaw serve` on free loopback
// ports. scenarioDefs lists what each scenario measures and how.

// scenarioConfig is the scale of a scenario run. The zero value is not
// usable: scenarioScale fills it.
type scenarioConfig struct {
	Quick          bool
	Duration       time.Duration // the measured phase of each load run
	Warmup         time.Duration // before each load run, not measured
	Rate           float64       // the standard load's arrivals per second (open loop)
	Workers        int           // closed-loop workers of the throughput and scaling loads
	Starts         int           // process starts (and stops) per startup and shutdown scenario
	JournalRecords int           // the records of the large-journal startup
	Concurrency    int           // simultaneous slow executions
	SlowFor        time.Duration // how long each slow execution's capability sleeps
	Soak           time.Duration // the stability soak
	SoakInterval   time.Duration // one interval of the soak (its p99, throughput and RSS)
	LoadFor        time.Duration // load before the SIGTERM of shutdown-load
	Femtoclaw      string        // the femtoclaw binary
	Cache          string        // where the large journal is kept
	// self starts this program as a child with these arguments to its
	// scenario command (the scaling scenario's GOMAXPROCS runs).
	self func(args ...string) *exec.Cmd
}

// scenarioScale returns the full or the -quick scale.
func scenarioScale(quick bool) scenarioConfig {
	c := scenarioConfig{Quick: quick, Duration: 5 * time.Second, Warmup: time.Second, Rate: 1000, Workers: 256, Starts: 5,
		JournalRecords: 10_000_000, Concurrency: 10_000, SlowFor: time.Second, Soak: 10 * time.Minute, LoadFor: 3 * time.Second}
	if quick {
		c.Duration, c.Warmup, c.Starts, c.JournalRecords, c.Soak, c.LoadFor = 2*time.Second, 500*time.Millisecond, 3, 1_000_000, 20*time.Second, time.Second
	}
	return c
}

// soakInterval is the soak's interval: a sixtieth of it, at least a
// second.
func (c scenarioConfig) soakInterval() time.Duration {
	if c.SoakInterval > 0 {
		return c.SoakInterval
	}
	return max(time.Second, (c.Soak / 60).Round(time.Second))
}

// scenarioDef is one scenario: the rows it produces and how.
type scenarioDef struct {
	name string
	what string // for the usage text
	rows func(c scenarioConfig) []scenarioRow
	run  func(ctx context.Context, s *scenarioRun) ([]scenarioResult, error)
}

// scenarioRow is one line of output: a scenario id and the metric it
// measures.
type scenarioRow struct{ id, metric string }

// scenarioResult is one row's outcome: the verdict and what a JSON report
// holds beside it.
type scenarioResult struct {
	sc       *perf.Scenario
	started  time.Time // when its scenario began
	workload perf.Workload
	server   *perf.Server
	runs     []perf.Repetition
}

// scenarioDefs is every scenario, in the order `all` runs them.
func scenarioDefs() []scenarioDef {
	return []scenarioDef{
		{"startup", "process start to ready (the runtime's \"femtoclaw ready\": IDLE), empty data directory and a large journal",
			func(c scenarioConfig) []scenarioRow {
				return []scenarioRow{{"startup-empty", "startup"}, {"startup-journal-" + shortCount(c.JournalRecords), "startup"}}
			}, scenarioStartup},
		{"shutdown", "SIGTERM to exit, idle and under HTTP/3 load; then every acknowledged execution is looked up in the journal",
			func(scenarioConfig) []scenarioRow {
				return []scenarioRow{{"shutdown-idle", "shutdown"}, {"shutdown-load", "shutdown"}, {"shutdown-loss", "shutdown-loss"}}
			}, scenarioShutdown},
		{"validation", "the validate stage's p99 under the standard load", stageRows("validation"), stageScenario("validation")},
		{"authorization", "the authorize stage's p99 under the standard load", stageRows("authorization"), stageScenario("authorization")},
		{"invocation", "the dispatch stage's p99 under the standard load", stageRows("invocation"), stageScenario("invocation")},
		{"commit", "the commit stage's p99 under the standard load (durability always)", stageRows("commit"), stageScenario("commit")},
		{"overhead", "p99 of an execution's total minus its capability time under the standard load", stageRows("overhead"), stageScenario("overhead")},
		{"telemetry", "mean latency with telemetry on minus off (closed loop, one worker)", stageRows("telemetry"), scenarioTelemetry},
		{"concurrency", "simultaneous slow executions: how many ran at once, overhead p99, memory per execution",
			func(c scenarioConfig) []scenarioRow {
				return []scenarioRow{{"concurrency-" + shortCount(c.Concurrency), "concurrency"}, {"concurrency-overhead", "overhead"}, {"concurrency-memory", "memory-per-execution"}}
			}, scenarioConcurrency},
		{"throughput", "closed-loop noop executions per second, in process and over HTTP/3",
			func(scenarioConfig) []scenarioRow {
				return []scenarioRow{{"throughput-inproc", "throughput"}, {"throughput-h3", "throughput"}}
			}, scenarioThroughput},
		{"scaling", "in-process throughput with GOMAXPROCS=2 over GOMAXPROCS=1 (child processes)", stageRows("scaling"), scenarioScaling},
		{"stability", "a soak (-soak): p99 drift, RSS growth, throughput variance",
			func(scenarioConfig) []scenarioRow {
				return []scenarioRow{{"stability-p99-drift", "p99-drift"}, {"stability-rss-growth", "rss-growth"}, {"stability-variance", "variance"}}
			}, scenarioStability},
		{"isolation", "noop's throughput and p99 beside a hanging and a panicking capability, over noop's alone",
			func(scenarioConfig) []scenarioRow {
				return []scenarioRow{{"isolation-throughput", "isolation-throughput"}, {"isolation-p99", "isolation-p99"}}
			}, scenarioIsolation},
	}
}

// stageRows is the single row of a scenario named after its metric.
func stageRows(metric string) func(scenarioConfig) []scenarioRow {
	return func(scenarioConfig) []scenarioRow { return []scenarioRow{{metric, metric}} }
}

// shortCount names a count in an id: 10000 → "10k", 10000000 → "10m".
func shortCount(n int) string {
	switch {
	case n >= 1_000_000 && n%1_000_000 == 0:
		return fmt.Sprintf("%dm", n/1_000_000)
	case n >= 1000 && n%1000 == 0:
		return fmt.Sprintf("%dk", n/1000)
	}
	return fmt.Sprint(n)
}

// scenarioRun is the state of one `fcload scenario` invocation.
type scenarioRun struct {
	cfg      scenarioConfig
	progress io.Writer // what is running; results go to stdout
	env      perf.Environment
	std      *standardLoad // the standard load's outcome, shared by the stage scenarios
	stdErr   error
}

func cmdScenario(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fcload scenario", flag.ContinueOnError)
	fs.SetOutput(stderr)
	quick := fs.Bool("quick", false, "a smaller scale: every scenario together in about two minutes (a 1M-record journal, a 20 s soak)")
	jsonDir := fs.String("json", "", "write one report per result to `DIR`/<scenario>.json (perf.Report with its scenario verdict)")
	md := fs.Bool("md", false, "end with a Markdown table of every FC-PERF metric, target, hard bound and measured value")
	soak := fs.Duration("soak", 0, "length of the stability soak (default 10m; -quick 20s)")
	dur := fs.Duration("d", 0, "measured phase of each load run (default 5s; -quick 2s)")
	warmup := fs.Duration("warmup", 0, "warm-up before each load run (default 1s; -quick 500ms)")
	workers := fs.Int("workers", 0, "closed-loop workers of the throughput and scaling loads (default 256)")
	concurrency := fs.Int("concurrency", 0, "simultaneous slow executions of the concurrency scenario (default 10000)")
	records := fs.Int("records", 0, "records of the large-journal startup (default 10000000; -quick 1000000)")
	femtoclaw := fs.String("femtoclaw", "", "the femtoclaw `BINARY` started by startup, shutdown and throughput-h3 (default: femtoclaw beside fcload)")
	cache := fs.String("cache", "", "`DIR` keeping the large journal between runs (default: the system's temporary directory)")
	child := fs.String("child", "", "(internal) run one measurement for a parent scenario and print it as JSON")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "usage: fcload scenario [flags] NAME… | all\n\nScenarios (FC-PERF-0001 metrics; a * on a target or bound marks this project's reading of a requirement stated without a number):\n")
		for _, d := range scenarioDefs() {
			fmt.Fprintf(stderr, "  %-14s %s\n", d.name, d.what)
		}
		fmt.Fprintf(stderr, "\nFlags:\n")
		fs.PrintDefaults()
	}
	// Flags may follow the names: fcload scenario all -quick.
	var names []string
	for rest := args; ; {
		if err := fs.Parse(rest); err != nil {
			return err
		}
		if rest = fs.Args(); len(rest) == 0 {
			break
		}
		names, rest = append(names, rest[0]), rest[1:]
	}
	cfg := scenarioScale(*quick)
	for _, o := range []struct {
		d   *time.Duration
		set time.Duration
	}{{&cfg.Soak, *soak}, {&cfg.Duration, *dur}, {&cfg.Warmup, *warmup}} {
		if o.set > 0 {
			*o.d = o.set
		}
	}
	for _, o := range []struct{ d, set *int }{{&cfg.Workers, workers}, {&cfg.Concurrency, concurrency}, {&cfg.JournalRecords, records}} {
		if *o.set > 0 {
			*o.d = *o.set
		}
	}
	cfg.Femtoclaw, cfg.Cache = *femtoclaw, *cache
	if cfg.Cache == "" {
		cfg.Cache = os.TempDir()
	}
	cfg.self = selfCommand
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(400) // as fcload's runs: the load generator must not be the bottleneck
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if *child != "" {
		return runScenarioChild(ctx, *child, cfg, stdout)
	}
	defs, err := selectScenarios(names)
	if err != nil {
		fs.Usage()
		return err
	}
	results := runScenarios(ctx, cfg, defs, stdout, stderr)
	if *jsonDir != "" {
		if err := writeScenarioReports(*jsonDir, results); err != nil {
			return err
		}
	}
	if *md {
		fmt.Fprintln(stdout)
		scs := make([]*perf.Scenario, len(results))
		for i, r := range results {
			scs[i] = r.sc
		}
		perf.WriteMarkdown(stdout, scs)
	}
	return ctx.Err()
}

// selectScenarios resolves the names given ("all", or scenario names).
func selectScenarios(names []string) ([]scenarioDef, error) {
	defs := scenarioDefs()
	var known []string
	for _, d := range defs {
		known = append(known, d.name)
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("scenario: name a scenario (%s) or all", strings.Join(known, ", "))
	}
	if slices.Contains(names, "all") {
		return defs, nil
	}
	var out []scenarioDef
	for _, n := range names {
		i := slices.Index(known, n)
		if i < 0 {
			return nil, fmt.Errorf("scenario: unknown scenario %q%s", n, suggest.Hint(n, append(known, "all")))
		}
		if !slices.ContainsFunc(out, func(d scenarioDef) bool { return d.name == n }) {
			out = append(out, defs[i])
		}
	}
	return out, nil
}

// runScenarios runs defs in order, printing each result line as it
// comes, and returns every row: a row a scenario did not produce (it
// failed, or was interrupted) is "not measured" with the reason.
func runScenarios(ctx context.Context, cfg scenarioConfig, defs []scenarioDef, stdout, stderr io.Writer) []scenarioResult {
	s := &scenarioRun{cfg: cfg, progress: stderr, env: scenarioEnvironment()}
	perf.WriteScenarioHeader(stdout)
	var all []scenarioResult
	for _, d := range defs {
		rows := d.rows(cfg)
		var got []scenarioResult
		var err error
		started := time.Now()
		if ctx.Err() != nil {
			err = ctx.Err()
		} else {
			fmt.Fprintf(stderr, "scenario %s: %s\n", d.name, d.what)
			got, err = d.run(ctx, s)
		}
		for _, row := range rows {
			i := slices.IndexFunc(got, func(r scenarioResult) bool { return r.sc.ID == row.id })
			var r scenarioResult
			if i >= 0 {
				r = got[i]
			} else {
				m, _ := perf.MetricByID(row.metric)
				reason := "the scenario produced no value"
				if err != nil {
					reason = err.Error()
				}
				r = scenarioResult{sc: m.Scenario(row.id, math.NaN(), reason)}
			}
			r.started = started
			perf.WriteScenarioLine(stdout, r.sc)
			all = append(all, r)
		}
	}
	return all
}

// writeScenarioReports writes one perf.Report per result.
func writeScenarioReports(dir string, results []scenarioResult) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	env := scenarioEnvironment()
	for _, r := range results {
		rep := perf.Report{Schema: perf.ResultSchema, Name: "Scenario/id=" + r.sc.ID, Started: r.started.UTC(), Environment: env,
			Workload: r.workload, Server: r.server, Runs: r.runs, Scenario: r.sc}
		if rep.Runs == nil {
			rep.Runs = []perf.Repetition{}
		}
		f, err := os.Create(filepath.Join(dir, r.sc.ID+".json"))
		if err != nil {
			return err
		}
		err = rep.WriteJSON(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// scenarioEnvironment describes this machine and build for the reports
// (the same collector as a load run's).
func scenarioEnvironment() perf.Environment {
	return perf.CollectEnvironment(version, os.TempDir())
}

// selfCommand runs this executable's scenario command with args.
func selfCommand(args ...string) *exec.Cmd {
	exe, err := os.Executable()
	if err != nil {
		exe = os.Args[0]
	}
	return exec.Command(exe, append([]string{"scenario"}, args...)...)
}

// notMeasured is a row that produced no value, with the reason.
func notMeasured(id, metric string, err error) scenarioResult {
	m, _ := perf.MetricByID(metric)
	return scenarioResult{sc: m.Scenario(id, math.NaN(), err.Error())}
}

// measuredRow is a row with its value and how it was measured.
func measuredRow(id, metric string, v float64, note string) scenarioResult {
	m, ok := perf.MetricByID(metric)
	if !ok {
		panic("fcload: no FC-PERF metric " + metric)
	}
	return scenarioResult{sc: m.Scenario(id, v, note)}
}

// errNoValue is a measurement that ran and produced no value.
var errNoValue = errors.New("no successful execution to measure")

// repetition is one perf.Run's outcome as a report's run.
func repetition(r perf.Result, started time.Time) perf.Repetition {
	rep := perf.Repetition{Started: started.UTC(), Elapsed: r.Elapsed, Window: r.Elapsed, Sent: r.Ops + r.Errors, OK: r.Ops,
		Errors: r.Errors, Throughput: r.Throughput, Latency: r.Latency}
	if r.FirstError != nil {
		rep.FirstError = r.FirstError.Error()
	}
	return rep
}

// fmtDur prints a duration for a note: "41.2 ms".
func fmtDur(d time.Duration) string { return perf.FormatValue(perf.UnitNs, float64(d)) }

// fmtNs prints nanoseconds for a note.
func fmtNs(v float64) string { return perf.FormatValue(perf.UnitNs, v) }
