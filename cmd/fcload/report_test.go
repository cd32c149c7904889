package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// The report fixtures perf's tests generate (perf/testdata/report).
func reportFixtures(t *testing.T) []string {
	t.Helper()
	paths, err := filepath.Glob("../../perf/testdata/report/*.json")
	if err != nil || len(paths) < 3 {
		t.Fatalf("report fixtures: %v, %v", paths, err)
	}
	return paths
}

func TestReportCommand(t *testing.T) {
	paths := reportFixtures(t)
	out := filepath.Join(t.TempDir(), "report.html")
	// Files first, flags after them, as in `fcload report *.json -o report.html`.
	args := append([]string{"report"}, paths[:2]...)
	args = append(args, "-o", out, "-title", "lab <run 7>")
	args = append(args, paths[2:]...)
	var stdout, stderr bytes.Buffer
	if err := run(args, &stdout, &stderr); err != nil {
		t.Fatalf("fcload report: %v\n%s", err, stderr.String())
	}
	if stdout.Len() != 0 || !strings.Contains(stderr.String(), out) {
		t.Errorf("stdout %q, stderr %q: want the page in %s and its name on stderr", stdout.String(), stderr.String(), out)
	}
	page, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(page), "<title>lab &lt;run 7&gt;</title>") {
		t.Errorf("the page lacks the escaped title")
	}
	for _, p := range paths {
		if !strings.Contains(string(page), ">"+filepath.Base(p)+"<") {
			t.Errorf("the page does not name %s", filepath.Base(p))
		}
	}

	// Without -o the page goes to standard output.
	stdout.Reset()
	if err := run([]string{"report", paths[0]}, &stdout, &stderr); err != nil || !strings.HasPrefix(stdout.String(), "<!DOCTYPE html>") {
		t.Errorf("report to stdout: %v, %.40q", err, stdout.String())
	}
}

func TestReportCommandRefuses(t *testing.T) {
	paths := reportFixtures(t)
	dir := t.TempDir()
	out := filepath.Join(dir, "report.html")
	if err := os.WriteFile(out, []byte("the previous page"), 0o644); err != nil {
		t.Fatal(err)
	}
	bench := filepath.Join(dir, "bench.txt")
	os.WriteFile(bench, []byte("BenchmarkFcload/target=h3 1000 812 ns/op\n"), 0o644)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"report", "-o", out}, "no result files"},
		{[]string{"report", paths[0], bench, "-o", out}, bench + ": not an fcload report"},
		{[]string{"report", filepath.Join(dir, "missing.json"), "-o", out}, "missing.json"},
		{[]string{"report", "-x", paths[0]}, "flag provided but not defined: -x"},
	} {
		var stdout, stderr bytes.Buffer
		err := run(c.args, &stdout, &stderr)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: %v, want an error with %q", c.args[1:], err, c.want)
		}
		if stdout.Len() != 0 {
			t.Errorf("%v: wrote %d bytes to stdout", c.args[1:], stdout.Len())
		}
	}
	if b, _ := os.ReadFile(out); string(b) != "the previous page" {
		t.Errorf("a refused run replaced %s: %.40q", out, b)
	}
	if m, _ := filepath.Glob(filepath.Join(dir, ".report.html.*")); len(m) != 0 {
		t.Errorf("temporary files left: %v", m)
	}
}
