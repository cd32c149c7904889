package main

import (
	"bytes"
	"context"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

// childEnv carries the arguments of a scenario child process (the scaling
// scenario's) run by the test binary itself (TestScenarioChildProcess).
const childEnv = "FEMTOCLAW_TEST_SCENARIO_CHILD"

// TestScenarioChildProcess is not a test: it is the child process the
// smoke test's scaling scenario starts, the test binary standing in for
// fcload.
func TestScenarioChildProcess(t *testing.T) {
	v := os.Getenv(childEnv)
	if v == "" {
		t.Skip("the scaling scenario's child process, started by TestScenarioSmoke")
	}
	var args []string
	if err := json.Unmarshal([]byte(v), &args); err != nil {
		t.Fatal(err)
	}
	if err := cmdScenario(args, os.Stdout, os.Stderr); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(1)
	}
	os.Exit(0)
}

// buildFemtoclaw builds the femtoclaw binary the process scenarios start.
func buildFemtoclaw(t *testing.T) string {
	t.Helper()
	gobin, err := exec.LookPath("go")
	if err != nil {
		gobin = filepath.Join(runtime.GOROOT(), "bin", "go")
	}
	bin := filepath.Join(t.TempDir(), "femtoclaw")
	if runtime.GOOS == "windows" {
		bin += ".exe"
	}
	out, err := exec.Command(gobin, "build", "-o", bin, "github.com/femtoclaw/femtoclaw-go/cmd/femtoclaw").CombinedOutput()
	if err != nil {
		t.Fatalf("go build ./cmd/femtoclaw: %v\n%s", err, out)
	}
	return bin
}

// TestScenarioSmoke runs every scenario at a tiny scale and checks that
// each row the scenario promises came out with a measured value and a
// verdict, in the line output, the JSON reports and the Markdown table.
// It never judges the values: they are timings of a shared machine.
// -short leaves out the large-journal startup and the soak.
func TestScenarioSmoke(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the scenarios read resident memory from /proc and stop the server with SIGTERM")
	}
	cfg := scenarioConfig{Quick: true, Duration: 150 * time.Millisecond, Warmup: 50 * time.Millisecond, Rate: 1000, Workers: 8,
		Starts: 1, JournalRecords: 2000, Concurrency: 200, SlowFor: 200 * time.Millisecond, Soak: 600 * time.Millisecond,
		SoakInterval: 100 * time.Millisecond, LoadFor: 300 * time.Millisecond, Cache: t.TempDir(), Femtoclaw: buildFemtoclaw(t)}
	cfg.self = func(args ...string) *exec.Cmd {
		b, _ := json.Marshal(args)
		cmd := exec.Command(os.Args[0], "-test.run=^TestScenarioChildProcess$")
		cmd.Env = append(os.Environ(), childEnv+"="+string(b))
		return cmd
	}
	defs := scenarioDefs()
	if testing.Short() {
		cfg.JournalRecords = 0
		defs = slices.DeleteFunc(defs, func(d scenarioDef) bool { return d.name == "stability" })
	}
	var out, progress bytes.Buffer
	results := runScenarios(context.Background(), cfg, defs, &out, &progress)

	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	var want []scenarioRow
	for _, d := range defs {
		want = append(want, d.rows(cfg)...)
	}
	if len(results) != len(want) || len(lines) != len(want)+1 {
		t.Fatalf("%d results, %d lines for %d rows:\n%s", len(results), len(lines), len(want), out.String())
	}
	verdicts := []string{perf.VerdictTarget, perf.VerdictBound, perf.VerdictOver}
	for i, row := range want {
		r := results[i]
		sc := r.sc
		if sc.ID != row.id || sc.MetricID != row.metric || !strings.HasPrefix(lines[i+1], row.id+" ") {
			t.Errorf("row %d: %+v, line %q; want %s (%s)", i, sc, lines[i+1], row.id, row.metric)
			continue
		}
		if row.id == "startup-journal-0" {
			if sc.Verdict != perf.VerdictNotMeasured {
				t.Errorf("%s: skipped, yet %q", row.id, sc.Verdict)
			}
			continue
		}
		if !slices.Contains(verdicts, sc.Verdict) || math.IsNaN(sc.Measured) || math.IsInf(sc.Measured, 0) || sc.Note == "" {
			t.Errorf("%s: no measured value: %q %v %q", row.id, sc.Verdict, sc.Measured, sc.Note)
		}
		if !strings.Contains(lines[i+1], sc.Verdict) {
			t.Errorf("%s: line %q lacks the verdict", row.id, lines[i+1])
		}
		if r.started.IsZero() {
			t.Errorf("%s: no start time", row.id)
		}
	}
	if t.Failed() {
		t.Logf("output:\n%s\nprogress:\n%s", out.String(), progress.String())
	}

	dir := t.TempDir()
	if err := writeScenarioReports(dir, results); err != nil {
		t.Fatal(err)
	}
	for _, r := range results {
		rep, err := perf.ReadReport(filepath.Join(dir, r.sc.ID+".json"))
		if err != nil {
			t.Fatal(err)
		}
		if rep.Scenario == nil || *rep.Scenario != *r.sc || rep.Name != "Scenario/id="+r.sc.ID || rep.Environment.GoVersion == "" {
			t.Errorf("%s: report %+v", r.sc.ID, rep)
		}
	}
}

// TestScenarioArgs: names and flags in any order, all, unknown names with
// a suggestion.
func TestScenarioArgs(t *testing.T) {
	defs, err := selectScenarios([]string{"startup", "all"})
	if err != nil || len(defs) != len(scenarioDefs()) {
		t.Fatalf("all: %d %v", len(defs), err)
	}
	defs, err = selectScenarios([]string{"isolation", "startup", "isolation"})
	if err != nil || len(defs) != 2 || defs[0].name != "isolation" || defs[1].name != "startup" {
		t.Fatalf("two names: %v %v", defs, err)
	}
	var stderr bytes.Buffer
	err = cmdScenario([]string{"-quick", "startp", "-md"}, &bytes.Buffer{}, &stderr)
	if err == nil || !strings.Contains(err.Error(), `unknown scenario "startp" (did you mean "startup"?)`) {
		t.Fatalf("unknown name: %v", err)
	}
	if err := cmdScenario([]string{"-quick"}, &bytes.Buffer{}, &stderr); err == nil || !strings.Contains(err.Error(), "name a scenario") {
		t.Fatalf("no name: %v", err)
	}
	// A flag after the names is parsed, not taken for a name.
	if err := cmdScenario([]string{"isolation", "-bogus"}, &bytes.Buffer{}, &stderr); err == nil || !strings.Contains(err.Error(), "-bogus") {
		t.Fatalf("flag after a name: %v", err)
	}
	// Every row names a metric of the table, and ids are unique.
	seen := map[string]bool{}
	for _, d := range scenarioDefs() {
		for _, row := range d.rows(scenarioScale(false)) {
			if _, ok := perf.MetricByID(row.metric); !ok || seen[row.id] {
				t.Errorf("scenario %s: row %+v", d.name, row)
			}
			seen[row.id] = true
		}
	}
	// Every metric is measured by some scenario.
	for _, m := range perf.Metrics() {
		found := false
		for _, d := range scenarioDefs() {
			for _, row := range d.rows(scenarioScale(false)) {
				found = found || row.metric == m.ID
			}
		}
		if !found {
			t.Errorf("no scenario measures %s", m.ID)
		}
	}
}
