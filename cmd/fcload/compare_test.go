package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

// writeReport writes a report of name whose repetitions have these
// throughputs (p50 = 1e9/throughput ns, so latency moves with them).
func writeReport(t *testing.T, path, name string, tput ...float64) {
	t.Helper()
	r := &perf.Report{Name: name}
	for _, v := range tput {
		rep := perf.Repetition{OK: 1000, Throughput: v}
		rep.Latency.Count = 1000
		rep.Latency.P50 = int64(1e9 / v)
		rep.Latency.P99 = 2 * int64(1e9/v)
		r.Runs = append(r.Runs, rep)
	}
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := r.WriteJSON(f); err != nil {
		t.Fatal(err)
	}
}

func TestCompareCommand(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a.json"), filepath.Join(dir, "b.json")
	writeReport(t, a, "Fcload/x", 1000, 1010, 990, 1005, 995)
	writeReport(t, b, "Fcload/y", 800, 810, 790, 805, 795)
	var out, errOut bytes.Buffer
	if err := run([]string{"compare", a, b}, &out, &errOut); err != nil {
		t.Fatalf("compare: %v\n%s", err, errOut.String())
	}
	s := out.String()
	for _, want := range []string{"old Fcload/x", "new Fcload/y", "throughput", "1.0k/s", "800/s", "-20.00%", "worse (p=0.008 n=5+5)", "p99"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
	// A 20 % drop fails -fail-on-regression 10, not 25.
	err := run([]string{"compare", "-fail-on-regression", "10", a, b}, &out, &errOut)
	if err == nil || !strings.Contains(err.Error(), "Fcload/y throughput -20.00%") {
		t.Fatalf("-fail-on-regression 10: err = %v", err)
	}
	if err := run([]string{"compare", "-fail-on-regression", "25", a, b}, &out, &errOut); err != nil {
		t.Fatalf("-fail-on-regression 25: %v", err)
	}
	// The better direction is never a regression.
	if err := run([]string{"compare", "-fail-on-regression", "0", b, a}, &out, &errOut); err != nil {
		t.Fatalf("improvement flagged: %v", err)
	}
}

// Directories: reports of one name are merged (two files of two runs
// make one sample of four) and paired by name with the other side.
func TestCompareDirectories(t *testing.T) {
	old, new := t.TempDir(), t.TempDir()
	writeReport(t, filepath.Join(old, "p1.json"), "Fcload/same", 100, 101)
	writeReport(t, filepath.Join(old, "p2.json"), "Fcload/same", 99, 100)
	writeReport(t, filepath.Join(old, "gone.json"), "Fcload/gone", 5)
	writeReport(t, filepath.Join(new, "n.json"), "Fcload/same", 100, 102, 98)
	writeReport(t, filepath.Join(new, "x.json"), "Fcload/added", 5)
	var out, errOut bytes.Buffer
	if err := run([]string{"compare", old, new}, &out, &errOut); err != nil {
		t.Fatalf("compare: %v\n%s", err, errOut.String())
	}
	s := out.String()
	for _, want := range []string{"Fcload/gone: only in old", "Fcload/added: only in new", "~ (need ≥4 runs: n=4+3)"} {
		if !strings.Contains(s, want) {
			t.Errorf("output lacks %q:\n%s", want, s)
		}
	}
}

func TestCompareRefuses(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.json")
	os.WriteFile(bad, []byte(`{"schema":"other/v9","name":"x"}`), 0o644)
	good := filepath.Join(dir, "good.json")
	writeReport(t, good, "Fcload/x", 1)
	var out, errOut bytes.Buffer
	for _, args := range [][]string{
		{"compare", good},                // one report
		{"compare", good, bad},           // another schema
		{"compare", good, dir + "/none"}, // missing
		{"compare", "-alpha", "2", good, good},
	} {
		if err := run(args, &out, &errOut); err == nil {
			t.Errorf("%v: no error", args)
		}
	}
}
