package ceiling

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

// The matrix's manifest (scripts/bench-matrix.sh writes it as it goes):
// one line per measured repetition file,
//
//	CELL <TAB> SIDE <TAB> FILE
//
// where CELL names the matrix cell ("h3 execute, always, 16 in flight"),
// SIDE is "runtime" or the name of what it is held against ("h3echo",
// "loop", "pebble"), and FILE is a report (relative to the manifest's
// directory). The files of one cell and side are merged into one sample;
// each non-runtime side of a cell makes one row of the table: the runtime
// against it.

// Side is one cell's side: its merged report.
type Side struct {
	Name   string
	Report *perf.Report
}

// Cell is one cell of the matrix: the runtime and what it is held against.
type Cell struct {
	Name    string
	Runtime *perf.Report
	Refs    []Side
}

// ReadManifest reads a manifest and merges each cell's and side's reports.
func ReadManifest(path string) ([]*Cell, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	dir := filepath.Dir(path)
	type key struct{ cell, side string }
	files := map[key][]*perf.Report{}
	var order []key
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		t := strings.TrimSpace(sc.Text())
		if t == "" || strings.HasPrefix(t, "#") {
			continue
		}
		parts := strings.Split(t, "\t")
		if len(parts) != 3 {
			return nil, fmt.Errorf("%s:%d: want CELL<TAB>SIDE<TAB>FILE", path, line)
		}
		p := parts[2]
		if !filepath.IsAbs(p) {
			p = filepath.Join(dir, p)
		}
		r, err := perf.ReadReport(p)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %w", path, line, err)
		}
		k := key{parts[0], parts[1]}
		if _, seen := files[k]; !seen {
			order = append(order, k)
		}
		files[k] = append(files[k], r)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	var cells []*Cell
	byName := map[string]*Cell{}
	for _, k := range order {
		m, err := perf.MergeReports(files[k])
		if err != nil {
			return nil, fmt.Errorf("%s: cell %q side %q: %w", path, k.cell, k.side, err)
		}
		c := byName[k.cell]
		if c == nil {
			c = &Cell{Name: k.cell}
			byName[k.cell] = c
			cells = append(cells, c)
		}
		if k.side == "runtime" {
			c.Runtime = m
		} else {
			c.Refs = append(c.Refs, Side{k.side, m})
		}
	}
	return cells, nil
}

// Failures lists every repetition of every cell that had errors or no
// success at all: a matrix with any is not a result.
func Failures(cells []*Cell) []string {
	var out []string
	check := func(cell, side string, r *perf.Report) {
		if r == nil {
			out = append(out, fmt.Sprintf("%s: no %s runs", cell, side))
			return
		}
		for i, rep := range r.Runs {
			if rep.Errors > 0 || rep.OK == 0 {
				msg := fmt.Sprintf("%s, %s run %d: %d ok, %d errors", cell, side, i+1, rep.OK, rep.Errors)
				if rep.FirstError != "" {
					msg += ": " + rep.FirstError
				}
				out = append(out, msg)
			}
		}
	}
	for _, c := range cells {
		check(c.Name, "runtime", c.Runtime)
		for _, s := range c.Refs {
			check(c.Name, s.Name, s.Report)
		}
	}
	return out
}

// WriteTable writes the ratio table in Markdown: for each cell and each
// reference, the median throughput of both and their ratio (runtime ÷
// reference), the added p50 and p99 latency and server CPU per request
// (runtime − reference), the repetitions, and whether the throughput
// difference is significant (perf.Compare).
func WriteTable(w io.Writer, cells []*Cell) {
	fmt.Fprintln(w, "| cell | against | runtime | reference | ratio | p50 runtime | +p50 | p99 runtime | +p99 | +CPU/req | runs | throughput difference |")
	fmt.Fprintln(w, "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|--:|---|")
	for _, c := range cells {
		if c.Runtime == nil {
			continue
		}
		for _, ref := range c.Refs {
			ds := perf.Compare(ref.Report, c.Runtime, perf.CompareConfig{})
			get := func(name string) (perf.Delta, bool) {
				for _, d := range ds {
					if d.Figure.Name == name {
						return d, true
					}
				}
				return perf.Delta{}, false
			}
			cols := []string{c.Name, ref.Name}
			tp, ok := get("throughput")
			if ok {
				cols = append(cols, rate(tp.NewMedian), rate(tp.OldMedian), ratio(tp.NewMedian, tp.OldMedian))
			} else {
				cols = append(cols, "—", "—", "—")
			}
			for _, m := range []string{"p50", "p99"} {
				if d, ok := get(m); ok {
					cols = append(cols, nanos(d.NewMedian), signedNanos(d.NewMedian-d.OldMedian))
				} else {
					cols = append(cols, "—", "—")
				}
			}
			if d, ok := get("cpu/req"); ok {
				cols = append(cols, signedNanos(d.NewMedian-d.OldMedian))
			} else {
				cols = append(cols, "—")
			}
			cols = append(cols, fmt.Sprintf("%d+%d", len(c.Runtime.Runs), len(ref.Report.Runs)))
			switch {
			case !ok:
				cols = append(cols, "—")
			case !tp.Tested:
				cols = append(cols, "~ (need ≥4 runs)")
			case tp.Significant:
				cols = append(cols, fmt.Sprintf("significant (p=%.3f)", tp.P))
			default:
				cols = append(cols, fmt.Sprintf("~ (p=%.3f)", tp.P))
			}
			fmt.Fprintln(w, "| "+strings.Join(cols, " | ")+" |")
		}
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "—"
	}
	return fmt.Sprintf("%.2f×", a/b)
}

func rate(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.2fM/s", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.1fk/s", v/1e3)
	}
	return fmt.Sprintf("%.0f/s", v)
}

func nanos(v float64) string { return perf.FormatNanos(v) }

func signedNanos(v float64) string {
	if v >= 0 {
		return "+" + nanos(v)
	}
	return "−" + nanos(-v)
}

// ParseBenchLines reads fcload's benchstat lines (perf.Result.WriteBench)
// into one report per benchmark name, one repetition per line, for an
// fcload that writes no JSON report. What the lines do not carry (p90,
// the histogram, intervals, server figures) stays zero.
func ParseBenchLines(r io.Reader, w perf.Workload) ([]*perf.Report, error) {
	var out []*perf.Report
	byName := map[string]*perf.Report{}
	sc := bufio.NewScanner(r)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 2 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := strings.TrimPrefix(f[0], "Benchmark")
		rep := perf.Repetition{}
		n, err := strconv.ParseInt(f[1], 10, 64)
		if err != nil {
			return nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
		}
		rep.OK = n
		var nsPerOp float64
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				return nil, fmt.Errorf("benchmark line %q: %w", sc.Text(), err)
			}
			switch f[i+1] {
			case "ns/op":
				nsPerOp = v
			case "exec/s":
				rep.Throughput = v
			case "p50-ns":
				rep.Latency.P50 = int64(v)
			case "p99-ns":
				rep.Latency.P99 = int64(v)
			case "p99.9-ns":
				rep.Latency.P999 = int64(v)
			case "max-ns":
				rep.Latency.Max = int64(v)
			case "errors":
				rep.Errors = int64(v)
			}
		}
		rep.Latency.Count = uint64(rep.OK)
		rep.Sent = rep.OK + rep.Errors
		if rep.Throughput > 0 {
			rep.Window = secondsDuration(float64(rep.OK) / rep.Throughput)
		}
		rep.Elapsed = secondsDuration(nsPerOp * float64(rep.OK) / 1e9)
		rp := byName[name]
		if rp == nil {
			rp = NewReport(name, w)
			byName[name] = rp
			out = append(out, rp)
		}
		rp.Runs = append(rp.Runs, rep)
	}
	return out, sc.Err()
}

// WriteMerged writes each cell's merged sides into dir, one report per
// side, named "Matrix/CELL/side=SIDE" (files CELL~SIDE.json with / made
// _), so that `fcload compare OLD NEW` pairs two matrices' cells by name
// and `fcload report` reads every side.
func WriteMerged(dir string, cells []*Cell) error {
	write := func(cell, side string, r *perf.Report) error {
		m := *r
		m.Name = "Matrix/" + cell + "/side=" + side
		file := strings.NewReplacer("/", "_", " ", "_", ",", "").Replace(cell) + "~" + side + ".json"
		f, err := os.Create(filepath.Join(dir, file))
		if err != nil {
			return err
		}
		err = m.WriteJSON(f)
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		return err
	}
	for _, c := range cells {
		if c.Runtime != nil {
			if err := write(c.Name, "runtime", c.Runtime); err != nil {
				return err
			}
		}
		for _, s := range c.Refs {
			if err := write(c.Name, s.Name, s.Report); err != nil {
				return err
			}
		}
	}
	return nil
}
