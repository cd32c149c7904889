package perf

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

// benchConfigLine is a benchstat configuration line ("key: value"): a
// table line that looked like one would relabel every result after it.
var benchConfigLine = regexp.MustCompile(`^[a-z][^\s:A-Z]*:\s`)

func testReport() *Report {
	h := stats.NewHistogram(stats.HistogramConfig{SigFigs: 3})
	for i := range 1000 {
		h.Record(int64(time.Millisecond) + int64(i)*1000)
	}
	s := h.Snapshot()
	good := Result{Name: "Fcload/x=1", Ops: 1000, Errors: 2, Sent: 1002, Timeouts: 1, Elapsed: 5 * time.Second, Window: 2 * time.Second,
		Throughput: 500, Latency: s.Summary(), Histogram: s, ByCategory: map[string]int64{"timeout": 1, "RUNTIME_ERROR/overloaded": 1},
		Examples: map[string]string{"timeout": "no answer", "RUNTIME_ERROR/overloaded": "busy\nnow"},
		PerMix:   map[string]MixResult{"noop": {OK: 900, Errors: 2}, "denied": {OK: 100}}}
	bad := Result{Name: "Fcload/x=1", Errors: 7, Sent: 7, Elapsed: time.Second, ByCategory: map[string]int64{"refused": 7}, Examples: map[string]string{"refused": "down"}}
	return &Report{Schema: ResultSchema, Name: "Fcload/x=1",
		Environment: Environment{OS: "linux", Arch: "amd64", CPUs: 2, GOMAXPROCS: 2, GoVersion: "go1.26", Version: "v"},
		Workload:    Workload{Target: "inproc", Transport: "inproc", Loop: "closed", Workers: 4, Duration: 5 * time.Second, Config: map[string]string{"journal": "always", "codec": "s2"}, Mix: []MixEntry{{Name: "noop", Weight: 9}, {Name: "denied", Weight: 1}}},
		Server: &Server{PID: 7, ResourceScope: "server", CPUSeconds: 1.5, CPUPerRequest: 1500, RSSStartBytes: 10 << 20, RSSEndBytes: 12 << 20,
			Stages: map[string]stats.Summary{"validate": s.Summary()}, StagesScope: "phases"},
		Runs:    []Repetition{good.Repetition(), bad.Repetition()},
		Failure: "run 2: no request succeeded"}
}

func TestWriteTable(t *testing.T) {
	var b bytes.Buffer
	r := testReport()
	r.WriteTable(&b)
	r.WriteBench(&b)
	out := b.String()
	for _, want := range []string{
		"Fcload/x=1  run 1 of 2", "  config    codec=s2 journal=always\n", "sent 1002, ok 1000, errors 2 (timeouts 1)", "500 exec/s over 2.000s: the last OK answer came 3.000s before the end",
		"p99.99 ", "RUNTIME_ERROR/overloaded 1: busy now", "denied     ok 100", "rate      none: no request succeeded",
		"pid 7", "1.5µs per OK request", "validate", "FAILED    run 2: no request succeeded",
		"BenchmarkFcload/x=1\t1000\t2000000.0 ns/op\t500 exec/s\t", "# BenchmarkFcload/x=1: no successful request (7 errors): no result",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	bench := 0
	for line := range strings.Lines(out) {
		if benchConfigLine.MatchString(line) {
			t.Errorf("line %q reads as a benchstat configuration line", line)
		}
		if strings.HasPrefix(line, "Benchmark") {
			bench++
		}
	}
	if bench != 1 {
		t.Errorf("%d benchmark lines, want 1 (the run without an OK request has none)", bench)
	}
}

func TestReportRoundTrip(t *testing.T) {
	r := testReport()
	path := filepath.Join(t.TempDir(), "r.json")
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(path, b.Bytes(), 0o644)
	got, err := ReadReport(path)
	if err != nil {
		t.Fatal(err)
	}
	s, err := got.Runs[0].Snapshot()
	if err != nil || s.Count() != 1000 || got.Runs[0].ErrorExamples["timeout"] != "no answer" || got.Failure != r.Failure {
		t.Fatalf("round trip: %v %v %+v", err, s, got.Runs[0])
	}
	var m map[string]any
	json.Unmarshal(b.Bytes(), &m)
	if m["schema"] != ResultSchema {
		t.Fatalf("schema %v", m["schema"])
	}
	os.WriteFile(path, bytes.Replace(b.Bytes(), []byte(ResultSchema), []byte("other/v9"), 1), 0o644)
	if _, err := ReadReport(path); err == nil {
		t.Fatal("another schema was read")
	}
}

func TestProcParsing(t *testing.T) {
	ticks, err := parseProcStat("42 (a (weird) name) S 1 42 42 0 -1 4194304 1 0 0 0 150 25 0 0 20 0 1 0 100 0 0")
	if err != nil || ticks != 175 {
		t.Fatalf("ticks %d %v, want 175", ticks, err)
	}
	if _, err := parseProcStat("42 (x) Z 1 42 42 0 -1 4194304 1 0 0 0 150 25 0 0 20 0 1 0 100 0 0"); err == nil {
		t.Fatal("a zombie was read as running")
	}
	if _, err := parseProcStat("42 (x) S 1"); err == nil {
		t.Fatal("a short line was read")
	}
	if n := statusKB("Name:\tx\nVmHWM:\t    2048 kB\nVmRSS:\t  1024 kB\n", "VmRSS:"); n != 1024*1024 {
		t.Fatalf("VmRSS %d", n)
	}
	if m := cpuModel("processor\t: 0\nmodel name\t: AMD EPYC 7763\n"); m != "AMD EPYC 7763" {
		t.Fatalf("cpu model %q", m)
	}
	if m := cpuModel("Hardware\t: BCM2835\nModel\t: Raspberry Pi 4\n"); m != "BCM2835" {
		t.Fatalf("arm cpu model %q", m)
	}
	e := CollectEnvironment("v1", t.TempDir())
	if e.Version != "v1" && !strings.HasPrefix(e.Version, "v") || e.CPUs < 1 || e.GoVersion == "" {
		t.Fatalf("%+v", e)
	}
}
