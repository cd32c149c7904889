package main

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

// durable writes a report of -count runs and prints a benchstat line each;
// benchlines turns such lines back into a report.
func TestDurableAndBenchlines(t *testing.T) {
	dir := t.TempDir()
	for _, store := range []string{"loop", "journal"} {
		out := filepath.Join(dir, store+".json")
		var stdout, stderr bytes.Buffer
		err := run([]string{"durable", "-store", store, "-writers", "4", "-count", "2", "-d", "10m", "-warmup", "-1ns",
			"-max-ops", "100", "-dir", dir, "-json", out}, nil, &stdout, &stderr)
		if err != nil {
			t.Fatalf("%s: %v\n%s", store, err, stderr.String())
		}
		r, err := perf.ReadReport(out)
		if err != nil {
			t.Fatal(err)
		}
		if r.Name != "Durable/store="+store+"/durability=always/writers=4" || len(r.Runs) != 2 || r.Runs[1].OK < 100 {
			t.Fatalf("%s: %s, %d runs", store, r.Name, len(r.Runs))
		}
		if n := strings.Count(stdout.String(), "BenchmarkDurable/store="+store); n != 2 {
			t.Fatalf("%s: %d benchmark lines:\n%s", store, n, stdout.String())
		}
		conv := filepath.Join(dir, store+"-lines.json")
		if err := run([]string{"benchlines", "-json", conv}, &stdout, &bytes.Buffer{}, &stderr); err != nil {
			t.Fatal(err)
		}
		c, err := perf.ReadReport(conv)
		if err != nil || len(c.Runs) != 2 || c.Runs[0].OK != r.Runs[0].OK {
			t.Fatalf("benchlines: %v %+v", err, c)
		}
	}
	var stderr bytes.Buffer
	if err := run([]string{"durable", "-store", "sqlite", "-max-ops", "1", "-dir", dir}, nil, &bytes.Buffer{}, &stderr); err == nil {
		t.Fatal("unknown store accepted")
	}
	if err := run([]string{"nonsense"}, nil, &bytes.Buffer{}, &stderr); err == nil {
		t.Fatal("unknown command accepted")
	}
}
