package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

const compareUsage = `usage: fcload compare [flags] OLD NEW [NEWER…]

Compares fcload reports (the files -json writes): for each metric
(throughput, p50, p90, p99, p99.9, max, server CPU per request, errors) the
median of OLD's repetitions and of NEW's, each with its noise (± the largest
distance of a repetition from the median), the change, and whether it is
significant: a two-sided Mann–Whitney U test at -alpha, which needs at least
4 repetitions a side (fcload -count 4, or several reports of one benchmark),
else "~ (need ≥4 runs)". Each argument is a report file or a directory of
them; reports of one benchmark name within an argument are merged (their
repetitions pooled). Two single reports are compared whatever their names;
otherwise reports are paired by name. With more than two arguments each is
compared with the first.

  fcload compare old.json new.json
  fcload compare -fail-on-regression 5 baseline/ candidate/    # exit 1 on a significant regression over 5 %

flags:
`

// compare is `fcload compare`.
func compare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fcload compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	alpha := fs.Float64("alpha", 0.05, "significance level of the two-sided test")
	failPct := fs.Float64("fail-on-regression", -1, "exit 1 when a metric is significantly worse by more than this many percent (-1: never)")
	fs.Usage = func() {
		fmt.Fprint(stderr, compareUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() < 2 {
		fs.Usage()
		return errors.New("compare: want at least two reports (OLD NEW)")
	}
	if *alpha <= 0 || *alpha >= 1 {
		return fmt.Errorf("compare: -alpha %v: want a level between 0 and 1", *alpha)
	}
	sets := make([][]*perf.Report, fs.NArg())
	for i, arg := range fs.Args() {
		rs, err := loadReports(arg)
		if err != nil {
			return fmt.Errorf("compare: %w", err)
		}
		sets[i] = rs
	}
	cfg := perf.CompareConfig{Alpha: *alpha}
	var regressions []string
	for i := 1; i < len(sets); i++ {
		if i > 1 {
			fmt.Fprintln(stdout)
		}
		fmt.Fprintf(stdout, "old: %s\nnew: %s\n", fs.Arg(0), fs.Arg(i))
		for _, p := range pairReports(sets[0], sets[i]) {
			fmt.Fprintln(stdout)
			switch {
			case p.new == nil:
				fmt.Fprintf(stdout, "%s: only in old\n", p.old.Name)
				continue
			case p.old == nil:
				fmt.Fprintf(stdout, "%s: only in new\n", p.new.Name)
				continue
			}
			ds := perf.Compare(p.old, p.new, cfg)
			writeDeltas(stdout, p.old, p.new, ds)
			if *failPct >= 0 {
				for _, d := range ds {
					if d.Regression(*failPct) {
						regressions = append(regressions, fmt.Sprintf("%s %s %s", p.new.Name, d.Figure.Name, formatChange(d.Change)))
					}
				}
			}
		}
	}
	if len(regressions) > 0 {
		return fmt.Errorf("compare: %d significant regression(s) over %g%%: %s", len(regressions), *failPct, strings.Join(regressions, "; "))
	}
	return nil
}

// loadReports reads a report file, or every *.json report in a
// directory, and merges reports of the same name (in the order each name
// first appears).
func loadReports(path string) ([]*perf.Report, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, err
	}
	files := []string{path}
	if st.IsDir() {
		if files, err = filepath.Glob(filepath.Join(path, "*.json")); err != nil {
			return nil, err
		}
		slices.Sort(files)
		if len(files) == 0 {
			return nil, fmt.Errorf("%s: no *.json report in the directory", path)
		}
	}
	byName := map[string][]*perf.Report{}
	var order []string
	for _, f := range files {
		r, err := perf.ReadReport(f)
		if err != nil {
			return nil, err
		}
		if _, seen := byName[r.Name]; !seen {
			order = append(order, r.Name)
		}
		byName[r.Name] = append(byName[r.Name], r)
	}
	out := make([]*perf.Report, 0, len(order))
	for _, name := range order {
		m, err := perf.MergeReports(byName[name])
		if err != nil {
			return nil, err
		}
		out = append(out, m)
	}
	return out, nil
}

type reportPair struct{ old, new *perf.Report }

// pairReports pairs two single reports directly, else by name: the old
// side's order, then names only the new side has.
func pairReports(old, new []*perf.Report) []reportPair {
	if len(old) == 1 && len(new) == 1 {
		return []reportPair{{old[0], new[0]}}
	}
	var ps []reportPair
	seen := map[string]bool{}
	for _, o := range old {
		p := reportPair{old: o}
		for _, n := range new {
			if n.Name == o.Name {
				p.new = n
				seen[n.Name] = true
				break
			}
		}
		ps = append(ps, p)
	}
	for _, n := range new {
		if !seen[n.Name] {
			ps = append(ps, reportPair{new: n})
		}
	}
	return ps
}

func writeDeltas(w io.Writer, old, new *perf.Report, ds []perf.Delta) {
	if old.Name == new.Name {
		fmt.Fprintln(w, old.Name)
	} else {
		fmt.Fprintf(w, "old %s\nnew %s\n", old.Name, new.Name)
	}
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintf(tw, "%-10s\told\t±\tnew\t±\tdelta\t\t\n", "metric")
	for _, d := range ds {
		fmt.Fprintf(tw, "%-10s\t%s\t%s\t%s\t%s\t%s\t \t%s\n", d.Figure.Name,
			formatValue(d.Figure.Unit, d.OldMedian), formatNoise(d.Old, d.OldNoise),
			formatValue(d.Figure.Unit, d.NewMedian), formatNoise(d.New, d.NewNoise),
			formatChange(d.Change), deltaVerdict(d))
	}
	tw.Flush()
}

// verdict is the significance column: "worse"/"better" with the p-value
// when significant, "~" otherwise, and why when it was not tested.
func deltaVerdict(d perf.Delta) string {
	n := fmt.Sprintf("n=%d+%d", len(d.Old), len(d.New))
	switch {
	case !d.Tested:
		return "~ (need ≥4 runs: " + n + ")"
	case !d.Significant:
		return fmt.Sprintf("~ (p=%.3f %s)", d.P, n)
	case d.Worse:
		return fmt.Sprintf("worse (p=%.3f %s)", d.P, n)
	}
	return fmt.Sprintf("better (p=%.3f %s)", d.P, n)
}

func formatChange(c float64) string {
	switch {
	case math.IsInf(c, 1):
		return "+∞"
	case math.IsInf(c, -1):
		return "-∞"
	case c == 0:
		return "0%"
	}
	return fmt.Sprintf("%+.2f%%", c*100)
}

func formatNoise(vals []float64, noise float64) string {
	if len(vals) < 2 {
		return ""
	}
	return fmt.Sprintf("%.0f%%", noise*100)
}

// formatValue prints v in its unit: a rate with k/M, a duration in ns,
// µs, ms or s, a count as an integer.
func formatValue(unit string, v float64) string {
	switch unit {
	case "exec/s":
		switch {
		case v >= 1e6:
			return fmt.Sprintf("%.2fM/s", v/1e6)
		case v >= 1e3:
			return fmt.Sprintf("%.1fk/s", v/1e3)
		}
		return fmt.Sprintf("%.0f/s", v)
	case "ns", "ns/req":
		return formatNs(v)
	}
	return fmt.Sprintf("%.0f", v)
}

func formatNs(v float64) string { return perf.FormatNanos(v) }
