package perf

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// ResultSchema names the JSON layout of a Report. A reader refuses a
// report of another schema rather than misread it; a change that removes
// or reinterprets a member makes a new schema name.
const ResultSchema = "femtoclaw.fcload/v1"

// Report is what one fcload invocation measured: the environment, the
// workload, the server, and one Repetition per run (-count). It is the
// JSON `fcload -json FILE` writes and `fcload compare` and `fcload
// report` read.
//
//	{
//	  "schema": "femtoclaw.fcload/v1",
//	  "name": "Fcload/target=h3/op=execute/conns=1/workers=256/journal=always",
//	  "started": "2026-12-02T01:50:00Z",
//	  "environment": {...}, "workload": {...}, "server": {...},
//	  "runs": [{...}, ...],          // one per repetition
//	  "ceilings": [{...}, ...]       // optional: baselines measured in the same session
//	}
type Report struct {
	Schema      string       `json:"schema"`
	Name        string       `json:"name"` // the benchmark name, "Fcload/key=value/…"
	Started     time.Time    `json:"started"`
	Environment Environment  `json:"environment"`
	Workload    Workload     `json:"workload"`
	Server      *Server      `json:"server,omitempty"` // nil when no runtime was measured (an echo ceiling)
	Runs        []Repetition `json:"runs"`
	// Scenario, when the run is one of the specification's scenarios,
	// holds the FC-PERF metric, its target and hard bound, and the
	// measured value (see Scenario).
	Scenario *Scenario `json:"scenario,omitempty"`
	// Failure is why fcload exited non-zero ("" when the run passed): a
	// run without any OK request, or an error rate above
	// Workload.MaxErrorRate.
	Failure string `json:"failure,omitempty"`
}

// Environment is the machine and the software measured.
type Environment struct {
	Hostname   string     `json:"hostname"`
	OS         string     `json:"os"`
	Arch       string     `json:"arch"`
	CPUs       int        `json:"cpus"` // runtime.NumCPU
	GOMAXPROCS int        `json:"gomaxprocs"`
	CPUModel   string     `json:"cpu_model,omitempty"`
	Kernel     string     `json:"kernel,omitempty"`
	MemBytes   uint64     `json:"mem_bytes,omitempty"`
	LoadAvg    [3]float64 `json:"loadavg"` // at the start of the run
	GoVersion  string     `json:"go_version"`
	Version    string     `json:"version"`            // fcload's (the module's) version
	Revision   string     `json:"revision,omitempty"` // VCS revision of the build
	// Modified says the build's working tree had uncommitted changes.
	Modified bool `json:"modified,omitempty"`
	// Storage is the file system and block device under the data
	// directory the runtime journals to, as the kernel reports them
	// ("ext4 on nvme0n1 (non-rotational)", "tmpfs"; a virtual disk may
	// call itself rotational whatever backs it); "" when fcload cannot see
	// it (another host, not Linux).
	Storage string `json:"storage,omitempty"`
}

// Workload is what was offered.
type Workload struct {
	Target    string        `json:"target"`    // inproc | h3 | ipc | echo
	Transport string        `json:"transport"` // execute | stream | ring | socket | inproc
	Loop      string        `json:"loop"`      // closed | open
	Conns     int           `json:"conns,omitempty"`
	Workers   int           `json:"workers"`        // in flight (closed) or the bound on outstanding requests (open)
	Rate      float64       `json:"rate,omitempty"` // arrivals per second (open loop)
	Duration  time.Duration `json:"duration_ns"`
	Warmup    time.Duration `json:"warmup_ns"`
	Count     int64         `json:"count,omitempty"` // requests per run instead of a duration
	Timeout   time.Duration `json:"timeout_ns"`      // a request unanswered this long is a timeout (0: only the request deadline cuts one off)
	// Grace is how long the requests in flight at the end of the measured
	// phase may still be answered; the request deadline is the end plus
	// the grace.
	Grace time.Duration `json:"grace_ns"`
	Mix   []MixEntry    `json:"mix"`
	// MaxErrorRate is the error rate (errors / (ok + errors)) above which
	// the run failed.
	MaxErrorRate float64 `json:"max_error_rate"`
	// Config is the runtime's relevant settings as given (durability,
	// codec, ...): free-form key → value, printed as they are.
	Config map[string]string `json:"config,omitempty"`
}

// MixEntry is one kind of request in a weighted mix.
type MixEntry struct {
	Name   string `json:"name"`   // noop, echo-1k, denied, malformed, slow ...
	Weight int    `json:"weight"` // relative
	Bytes  int    `json:"bytes"`  // message size
	Expect string `json:"expect"` // what counts as success: "allow", "deny", "protocol_error", ...
}

// Server is the runtime measured: who it was and what it spent.
type Server struct {
	PID     int    `json:"pid,omitempty"`
	Version string `json:"version,omitempty"`
	Address string `json:"address,omitempty"`
	// CPU and memory over the measured phase of all runs, from the
	// server process (/proc/PID; ResourceScope says whose). CPUSeconds
	// sums each phase's CPU time (its grace included); CPUPerRequest is
	// that over the OK requests of all runs, in ns. RSS is read at the
	// first phase's start and the last one's end; the peak is the
	// largest of those readings and one a second during the phases.
	CPUSeconds    float64 `json:"cpu_seconds"`
	CPUPerRequest float64 `json:"cpu_per_request_ns"`
	RSSStartBytes int64   `json:"rss_start_bytes"`
	RSSEndBytes   int64   `json:"rss_end_bytes"`
	RSSPeakBytes  int64   `json:"rss_peak_bytes,omitempty"`
	// Stages is the runtime's own per-stage latency (its /v1/stats, or
	// the in-process runtime's histograms), as StagesScope says.
	Stages map[string]stats.Summary `json:"stages,omitempty"`

	// ResourceScope says whose CPU and memory the figures above are:
	// "server" (the server process, read from /proc/PID), "self" (this
	// process: an in-process runtime and the load generator together) or
	// "unknown" (all zero; ResourceNote says why).
	ResourceScope string `json:"resource_scope"`
	ResourceNote  string `json:"resource_note,omitempty"`
	// StagesScope says what Stages covers: "phases" (exactly the measured
	// phases of all runs: the in-process runtime's histograms subtracted)
	// or "since_start" (the server's figures since it started, read from
	// its admin listener's /v1/stats at the end of the last run, which
	// offers no histogram to subtract); "" without Stages.
	StagesScope string `json:"stages_scope,omitempty"`
	// StagesNote says why there are no Stages when they were wanted (no
	// admin listener, a token needed).
	StagesNote string `json:"stages_note,omitempty"`
	// Counters are the runtime's counters ("name{label=value,…}", as
	// /v1/stats spells them) over the measured phases of all runs: each
	// read at a phase's start and end, the differences summed. Counters
	// that did not move are left out.
	Counters map[string]uint64 `json:"counters,omitempty"`
}

// Repetition is one run's outcome (fcload -count N makes N).
type Repetition struct {
	Started time.Time     `json:"started"`
	Elapsed time.Duration `json:"elapsed_ns"` // the measured phase, deadline included
	// Window is the span from the phase's start to the last successful
	// answer (which may come in the grace, after Elapsed): throughput is
	// OK / Window, so a server that died halfway is not credited with
	// the time it was dead.
	Window     time.Duration    `json:"window_ns"`
	Sent       int64            `json:"sent"`
	OK         int64            `json:"ok"`
	Errors     int64            `json:"errors"` // all failures, timeouts included
	Timeouts   int64            `json:"timeouts"`
	ByCategory map[string]int64 `json:"errors_by_category,omitempty"` // the spec's category or transport reason → count
	FirstError string           `json:"first_error,omitempty"`
	// NotSent counts open-loop arrivals due in the phase that could not be
	// sent before its end (also in Errors, Timeouts and ByCategory as
	// "not_sent"): OK + Errors = Sent + NotSent.
	NotSent int64 `json:"not_sent,omitempty"`
	// Abandoned counts requests still unanswered a drain period after the
	// end (also timeouts): their answers, if any came, were ignored.
	Abandoned int64 `json:"abandoned,omitempty"`
	// ErrorExamples holds the first error message of each category.
	ErrorExamples map[string]string `json:"error_examples,omitempty"`
	Throughput    float64           `json:"throughput"` // OK / Window.Seconds()
	Latency       stats.Summary     `json:"latency"`    // of successful requests; open loop: from the intended send time
	// Histogram is the latency distribution (stats.Snapshot binary,
	// base64 in JSON): reports plot percentiles from it and merge runs.
	Histogram []byte `json:"histogram,omitempty"`
	// Intervals is the per-second series for progress lines, drift and
	// plots.
	Intervals []Interval `json:"intervals,omitempty"`
	// PerMix is the latency and outcome by mix entry name.
	PerMix map[string]MixResult `json:"per_mix,omitempty"`
	// ServerCPUSeconds and ServerRSSBytes are this run's share.
	ServerCPUSeconds float64 `json:"server_cpu_seconds,omitempty"`
	ServerRSSBytes   int64   `json:"server_rss_bytes,omitempty"`
}

// Interval is one second of a run's measured phase (the last one may be
// shorter). OK, P50 and P99 are the OK requests answered in it; Errors
// the requests that failed in it (the last one also holds the timeouts
// counted at the end).
type Interval struct {
	At     time.Duration `json:"at_ns"` // the interval's start, since the measured phase's start
	OK     int64         `json:"ok"`
	Errors int64         `json:"errors"`
	P50    int64         `json:"p50_ns"`
	P99    int64         `json:"p99_ns"`
}

// MixResult is one mix entry's share of a run.
type MixResult struct {
	OK      int64         `json:"ok"`
	Errors  int64         `json:"errors"`
	Latency stats.Summary `json:"latency"`
}

// Scenario is one FC-PERF scenario's verdict: the metric, the spec's
// target and hard bound, and what was measured (all in Unit).
type Scenario struct {
	ID        string  `json:"id"`     // e.g. "startup-empty", "shutdown-under-load", "concurrency-10k"
	Metric    string  `json:"metric"` // the FC-PERF metric name
	Unit      string  `json:"unit"`   // "ns", "bytes", "exec/s", "ratio"
	Target    float64 `json:"target"`
	HardBound float64 `json:"hard_bound"`
	Measured  float64 `json:"measured"`
	// LowerIsBetter says which way Target and HardBound point.
	LowerIsBetter bool   `json:"lower_is_better"`
	Verdict       string `json:"verdict"` // "meets target" | "within hard bound" | "over hard bound"
	Note          string `json:"note,omitempty"`

	// Filled by fcload scenario (perf.Metric.Scenario): MetricID is the
	// perf.Metrics entry measured, Section its FC-PERF-0001 section, and
	// Derived marks a target and hard bound that are this project's
	// reading of a requirement the specification states without a
	// number. Verdict may also be "not measured" (perf.VerdictNotMeasured:
	// the scenario produced no value, and Measured is 0; Note says why),
	// and Unit "executions" or "fraction" (perf.UnitExecutions,
	// perf.UnitFraction).
	MetricID string `json:"metric_id,omitempty"`
	Section  int    `json:"section,omitempty"`
	Derived  bool   `json:"derived,omitempty"`
}

// Snapshot decodes the run's histogram (nil when it has none).
func (r *Repetition) Snapshot() (*stats.Snapshot, error) {
	if len(r.Histogram) == 0 {
		return nil, nil
	}
	s := new(stats.Snapshot)
	if err := s.UnmarshalBinary(r.Histogram); err != nil {
		return nil, fmt.Errorf("perf: run histogram: %w", err)
	}
	return s, nil
}

// WriteJSON writes the report, indented, as the file format above.
func (r *Report) WriteJSON(w io.Writer) error {
	if r.Schema == "" {
		r.Schema = ResultSchema
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(r)
}

// ReadReport reads a report file, refusing another schema.
func ReadReport(path string) (*Report, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: not an fcload report: %w", path, err)
	}
	if r.Schema != ResultSchema {
		return nil, fmt.Errorf("%s: report schema %q, want %q", path, r.Schema, ResultSchema)
	}
	return &r, nil
}
