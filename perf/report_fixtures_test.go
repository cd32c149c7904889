package perf

import (
	"bytes"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// The HTML report's fixtures are the result files in testdata/report,
// as fcload writes them, generated here rather than written by hand:
//
//   - every latency histogram is a synthetic distribution sampled at the
//     quantiles (i+0.5)/n for i = 0…n−1 (no randomness: the files are the
//     same on every run): a log-normal body with a given median and
//     spread, and a Pareto tail holding a given share of the samples,
//     starting at the body's 99.9th percentile;
//   - a run's histogram holds about throughput × duration samples (at
//     most 20 000 distinct quantiles, each counted equally often; see
//     synthLatency.snapshot), and its count is the run's OK, so OK,
//     Throughput and the histogram agree; histograms are recorded at 2
//     significant figures (fcload records 3) to keep the files small;
//   - each repetition shifts the median by 2 % and the throughput by 1 %,
//     as repeated runs do.
//
// The set: the runtime in process, over HTTP/3 (execute and stream) and
// over the shared-memory ring; a ceiling for HTTP/3 (echo) and for the
// ring (ceiling-ring-echo) and an anchor for the journal (anchor-pebble),
// each of the same transport and concurrency as one runtime report; a
// rate sweep over HTTP/3 at five offered rates, the last saturated; two
// scenario verdicts, one without runs.
//
// FEMTOCLAW_TEST_UPDATE_GOLDEN=1 go test ./perf -run TestReportFixturesAreCurrent
// rewrites them.

const fixtureDir = "testdata/report"

// synthLatency is a latency distribution to sample.
type synthLatency struct {
	median time.Duration // of the log-normal body
	sigma  float64       // the body's log-normal spread
	tail   float64       // share of the samples in the Pareto tail
	alpha  float64       // the tail's index (smaller is heavier)
}

// quantile returns the latency at quantile q in [0, 1).
func (s synthLatency) quantile(q float64) float64 {
	body := func(q float64) float64 {
		return float64(s.median) * math.Exp(s.sigma*math.Sqrt2*math.Erfinv(2*q-1))
	}
	if q < 1-s.tail {
		return body(q / (1 - s.tail))
	}
	u := (q - (1 - s.tail)) / s.tail
	return body(0.999) * math.Pow(1-u, -1/s.alpha)
}

// synthPoints bounds the distinct samples of a synthetic histogram.
const synthPoints = 20000

// snapshot samples about n latencies, scaled by scale, into a histogram:
// m ≤ synthPoints quantiles, each counted 2^k times (the snapshot merged
// with itself k times), so its count is m·2^k, n rounded up to a
// multiple of 2^k, and recording stays cheap.
func (s synthLatency) snapshot(n int64, scale float64) *stats.Snapshot {
	k := 0
	for n>>k > synthPoints {
		k++
	}
	m := (n + 1<<k - 1) >> k
	h := stats.NewHistogram(stats.HistogramConfig{SigFigs: 2, Shards: 1})
	for i := range m {
		h.Record(int64(scale * s.quantile((float64(i)+0.5)/float64(m))))
	}
	snap := h.Snapshot()
	for range k {
		snap = snap.Merge(snap)
	}
	return snap
}

// fixtureEnv is the machine every fixture was "measured" on.
var fixtureEnv = Environment{Hostname: "perf-lab-1", OS: "linux", Arch: "amd64", CPUs: 8, GOMAXPROCS: 8,
	CPUModel: "AMD EPYC 7B13 64-Core Processor", Kernel: "6.1.0-28-amd64", MemBytes: 32 << 30,
	LoadAvg: [3]float64{0.42, 0.31, 0.20}, GoVersion: "go1.26.8", Version: "v0.9.0-dev", Revision: "2b771cb"}

var fixtureStart = time.Date(2026, 12, 2, 1, 50, 0, 0, time.UTC)

// fixture describes one result file.
type fixture struct {
	file      string
	name      string
	workload  Workload
	lat       synthLatency
	tput      float64 // successful requests per second, first run
	runs      int
	errRate   float64 // share of sent requests that failed
	stages    map[string]synthLatency
	server    bool
	scenario  *Scenario
	rssStart  int64
	cpuPerReq float64 // ns
}

func closedLoop(target, transport string, conns, workers int) Workload {
	return Workload{Target: target, Transport: transport, Loop: "closed", Conns: conns, Workers: workers,
		Duration: 5 * time.Second, Warmup: time.Second, Timeout: 10 * time.Second,
		Mix: []MixEntry{{Name: "noop", Weight: 1, Bytes: 38, Expect: "allow"}}}
}

func openLoop(target, transport string, conns, workers int, rate float64) Workload {
	w := closedLoop(target, transport, conns, workers)
	w.Loop, w.Rate = "open", rate
	return w
}

func withConfig(w Workload, kv ...string) Workload {
	w.Config = map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		w.Config[kv[i]] = kv[i+1]
	}
	return w
}

// runtimeStages are a runtime's per-stage distributions with a given
// commit stage (nil: no journal) and transport-independent rest.
func runtimeStages(commit *synthLatency) map[string]synthLatency {
	m := map[string]synthLatency{
		pipeline.StageValidate:  {median: 2100, sigma: 0.3, tail: 0.002, alpha: 2.5},
		pipeline.StageAuthorize: {median: 1400, sigma: 0.3, tail: 0.002, alpha: 2.5},
		pipeline.StageAdmit:     {median: 900, sigma: 0.5, tail: 0.005, alpha: 2},
		pipeline.StageExecute:   {median: 600, sigma: 0.2, tail: 0.001, alpha: 3},
		pipeline.StageDispatch:  {median: 300, sigma: 0.2, tail: 0.001, alpha: 3},
		pipeline.StageOverhead:  {median: 5200, sigma: 0.3, tail: 0.002, alpha: 2.5},
	}
	total := synthLatency{median: 5300, sigma: 0.3, tail: 0.002, alpha: 2.5}
	if commit != nil {
		m[pipeline.StageCommit] = *commit
		total.median += commit.median
		total.sigma = commit.sigma
	}
	m[pipeline.StageTotal] = total
	return m
}

func fixtures() []fixture {
	durable := synthLatency{median: 5300 * time.Microsecond, sigma: 0.2, tail: 0.002, alpha: 3}
	interval := synthLatency{median: 80 * time.Microsecond, sigma: 0.4, tail: 0.003, alpha: 2.5}
	fs := []fixture{
		{file: "inproc-always-w256.json", name: "Fcload/target=inproc/journal=always/workers=256",
			workload: withConfig(closedLoop("inproc", "inproc", 0, 256), "durability", "always"),
			lat:      synthLatency{median: 5600 * time.Microsecond, sigma: 0.18, tail: 0.002, alpha: 3}, tput: 44000, runs: 3,
			stages: runtimeStages(&durable), server: true, rssStart: 38 << 20, cpuPerReq: 21000},
		{file: "h3-execute-c4-w256.json", name: "Fcload/target=h3/op=execute/conns=4/workers=256/journal=interval",
			workload: withConfig(closedLoop("h3", "execute", 4, 256), "durability", "interval"),
			lat:      synthLatency{median: 18 * time.Millisecond, sigma: 0.25, tail: 0.003, alpha: 2.5}, tput: 13400, runs: 3,
			errRate: 0.0004, stages: runtimeStages(&interval), server: true, rssStart: 52 << 20, cpuPerReq: 58000},
		{file: "h3-stream-c4-w256.json", name: "Fcload/target=h3/op=stream/conns=4/workers=256/journal=interval",
			workload: withConfig(closedLoop("h3", "stream", 4, 256), "durability", "interval"),
			lat:      synthLatency{median: 12 * time.Millisecond, sigma: 0.22, tail: 0.003, alpha: 2.5}, tput: 21000, runs: 3,
			stages: runtimeStages(&interval), server: true, rssStart: 51 << 20, cpuPerReq: 37000},
		{file: "ipc-ring-w1.json", name: "Fcload/target=ipc/frames=ring/workers=1/journal=none",
			workload: withConfig(closedLoop("ipc", "ring", 0, 1), "durability", "none"),
			lat:      synthLatency{median: 14 * time.Microsecond, sigma: 0.25, tail: 0.003, alpha: 2}, tput: 71000, runs: 3,
			stages: runtimeStages(nil), server: true, rssStart: 30 << 20, cpuPerReq: 9000},
		{file: "echo-c4-w256.json", name: "Fcload/target=echo/op=execute/conns=4/workers=256",
			workload: closedLoop("echo", "execute", 4, 256),
			lat:      synthLatency{median: 8200 * time.Microsecond, sigma: 0.22, tail: 0.002, alpha: 3}, tput: 31000, runs: 3},
		{file: "ceiling-ring-echo-w1.json", name: "Fcload/target=ceiling-ring-echo/workers=1",
			workload: closedLoop("ceiling-ring-echo", "ring", 0, 1),
			lat:      synthLatency{median: 5100, sigma: 0.2, tail: 0.002, alpha: 2.5}, tput: 190000, runs: 3},
		{file: "anchor-pebble-w256.json", name: "Fcload/target=anchor-pebble/sync=true/workers=256",
			workload: withConfig(closedLoop("anchor-pebble", "inproc", 0, 256), "sync", "true"),
			lat:      synthLatency{median: 4100 * time.Microsecond, sigma: 0.2, tail: 0.002, alpha: 3}, tput: 61000, runs: 3},
		{file: "scenario-startup-empty.json", name: "Fcload/scenario=startup-empty",
			workload: Workload{Target: "inproc", Transport: "inproc", Loop: "closed", Workers: 1, Count: 20},
			scenario: &Scenario{ID: "startup-empty", Metric: "runtime startup time, empty journal", Unit: "ns",
				Target: 100e6, HardBound: 1e9, Measured: 38.2e6, LowerIsBetter: true, Verdict: "meets target",
				Note: "median of 20 starts"}},
		{file: "scenario-memory-commit.json", name: "Fcload/scenario=memory-commit/target=inproc/journal=always/workers=64",
			workload: withConfig(closedLoop("inproc", "inproc", 0, 64), "durability", "always"),
			lat:      synthLatency{median: 2200 * time.Microsecond, sigma: 0.2, tail: 0.003, alpha: 2.5}, tput: 27000, runs: 1,
			stages: runtimeStages(&synthLatency{median: 2 * time.Millisecond, sigma: 0.2, tail: 0.003, alpha: 2.5}),
			server: true, rssStart: 36 << 20, cpuPerReq: 24000,
			scenario: &Scenario{ID: "memory-commit", Metric: "memory commit latency p99", Unit: "ns",
				Target: 1e6, HardBound: 10e6, Measured: 3.1e6, LowerIsBetter: true, Verdict: "within hard bound"}},
	}
	// The rate sweep: the server saturates near 13 500/s; latency grows
	// as 1/(1−ρ) below it and by the queue above it.
	for _, rate := range []float64{2000, 4000, 8000, 12000, 16000} {
		achieved := min(rate, 13300)
		rho := min(rate/13500, 0.97)
		med := time.Duration(float64(900*time.Microsecond) / (1 - rho))
		if rate > 13500 {
			med = 480 * time.Millisecond
		}
		fs = append(fs, fixture{file: fmt.Sprintf("sweep-h3-execute-rate%05.0f.json", rate),
			name:     "Fcload/target=h3/op=execute/conns=4/workers=2048/rate=" + strconv.FormatFloat(rate, 'f', -1, 64),
			workload: withConfig(openLoop("h3", "execute", 4, 2048, rate), "durability", "interval"),
			lat:      synthLatency{median: med, sigma: 0.3 + 0.5*rho, tail: 0.003, alpha: 2.5}, tput: achieved, runs: 2,
			stages: runtimeStages(&interval), server: true, rssStart: 52 << 20, cpuPerReq: 61000})
	}
	return fs
}

// report builds the fixture's Report.
func (f fixture) report(index int) *Report {
	started := fixtureStart.Add(time.Duration(index) * 2 * time.Minute)
	r := &Report{Schema: ResultSchema, Name: f.name, Started: started, Environment: fixtureEnv, Workload: f.workload, Scenario: f.scenario}
	r.Environment.LoadAvg[0] += 0.05 * float64(index%4)
	for i := range f.runs {
		scale := 1 + 0.02*float64(i)
		tput := f.tput * (1 - 0.01*float64(i))
		secs := f.workload.Duration.Seconds()
		snap := f.lat.snapshot(int64(tput*secs), scale)
		ok := int64(snap.Count())
		errs := int64(math.Round(float64(ok) * f.errRate / (1 - f.errRate)))
		hist, err := snap.MarshalBinary()
		if err != nil {
			panic(err)
		}
		run := Repetition{Started: started.Add(time.Duration(i) * 7 * time.Second), Elapsed: f.workload.Duration,
			Window: f.workload.Duration, Sent: ok + errs, OK: ok, Errors: errs, Throughput: float64(ok) / secs,
			Latency: snap.Summary(), Histogram: hist}
		if errs > 0 {
			run.ByCategory = map[string]int64{"TRANSPORT_ERROR": errs}
			run.FirstError = "h3: stream reset by the server (H3_REQUEST_CANCELLED)"
		}
		for s := range int(secs) {
			run.Intervals = append(run.Intervals, Interval{At: time.Duration(s+1) * time.Second, OK: ok / int64(secs),
				Errors: errs / int64(secs), P50: int64(scale * f.lat.quantile(0.5)), P99: int64(scale * f.lat.quantile(0.99))})
		}
		run.PerMix = map[string]MixResult{"noop": {OK: ok, Errors: errs, Latency: run.Latency}}
		if f.server {
			run.ServerCPUSeconds = float64(ok) * f.cpuPerReq / 1e9
			run.ServerRSSBytes = f.rssStart + 6<<20
		}
		r.Runs = append(r.Runs, run)
	}
	if f.server {
		srv := &Server{PID: 41000 + index, Version: fixtureEnv.Version, CPUPerRequest: f.cpuPerReq,
			RSSStartBytes: f.rssStart, RSSEndBytes: f.rssStart + 6<<20, RSSPeakBytes: f.rssStart + 9<<20,
			Stages: map[string]stats.Summary{}}
		if f.workload.Target == "h3" {
			srv.Address = "127.0.0.1:4433"
		}
		var ok int64
		for _, run := range r.Runs {
			ok += run.OK
			srv.CPUSeconds += run.ServerCPUSeconds
		}
		for name, d := range f.stages {
			srv.Stages[name] = d.snapshot(ok, 1).Summary()
		}
		r.Server = srv
	}
	return r
}

// fixtureFiles renders every fixture as the file fcload would write.
func fixtureFiles(t testing.TB) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for i, f := range fixtures() {
		var b bytes.Buffer
		if err := f.report(i).WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		out[f.file] = b.Bytes()
	}
	return out
}

func TestReportFixturesAreCurrent(t *testing.T) {
	want := fixtureFiles(t)
	if os.Getenv("FEMTOCLAW_TEST_UPDATE_GOLDEN") == "1" {
		if err := os.MkdirAll(fixtureDir, 0o755); err != nil {
			t.Fatal(err)
		}
		old, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
		for _, p := range old {
			os.Remove(p)
		}
		for name, data := range want {
			if err := os.WriteFile(filepath.Join(fixtureDir, name), data, 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	got, _ := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	var names []string
	for _, p := range got {
		names = append(names, filepath.Base(p))
	}
	var wantNames []string
	for n := range want {
		wantNames = append(wantNames, n)
	}
	slices.Sort(wantNames)
	if !slices.Equal(names, wantNames) {
		t.Fatalf("%s holds %v, the generator makes %v (FEMTOCLAW_TEST_UPDATE_GOLDEN=1 go test ./perf -run TestReportFixturesAreCurrent rewrites them)", fixtureDir, names, wantNames)
	}
	for _, n := range names {
		data, err := os.ReadFile(filepath.Join(fixtureDir, n))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(data, want[n]) {
			t.Errorf("%s/%s is not what the generator makes (FEMTOCLAW_TEST_UPDATE_GOLDEN=1 go test ./perf -run TestReportFixturesAreCurrent rewrites it)", fixtureDir, n)
		}
	}
}

// fixtureReports reads the committed fixtures as fcload report does.
func fixtureReports(t testing.TB) []ReportFile {
	t.Helper()
	paths, err := filepath.Glob(filepath.Join(fixtureDir, "*.json"))
	if err != nil || len(paths) == 0 {
		t.Fatalf("no fixtures in %s (%v)", fixtureDir, err)
	}
	files, err := ReadReportFiles(paths)
	if err != nil {
		t.Fatal(err)
	}
	return files
}
