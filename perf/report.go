package perf

import (
	"bytes"
	_ "embed"
	"fmt"
	"html/template"
	"io"
	"math"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

// The HTML report: `fcload report RESULTS… -o report.html` turns result
// files (Report, schema femtoclaw.fcload/v1) into one self-contained page,
// with these sections in this order:
//
//   - Results: one row per report: runs, requests, errors, throughput, the
//     latency summary of all runs merged.
//   - Latency by percentile: HDR-style plots, one per transport
//     (Workload.Transport, so a runtime and its ceilings share one), one
//     line per report: x is the percentile on a log scale of 1/(1−q)
//     (50 %, 90 %, 99 %, 99.9 % … evenly spaced), y the latency on a log
//     scale. Each line is computed from the report's histograms (every
//     run's Repetition.Histogram merged), sampled every 0.05 of a decade
//     of 1/(1−q) up to 1/(1−q) = n (beyond which every percentile is the
//     maximum), so a line has tens of points, not the summary's six. A
//     report whose runs carry no histogram is drawn, dashed, from its
//     summary's points.
//   - Throughput and latency: from a rate sweep, the reports of an open
//     loop (Workload.Loop "open", Workload.Rate > 0) whose names are equal
//     but for a rate=… element and whose target and transport are equal;
//     two or more rates make a sweep. x is the achieved throughput, y the
//     p50 and p99.
//   - Stages: Server.Stages, the runtime's own per-stage latency: a
//     stacked bar of the cycle stages' means (validate, authorize, admit,
//     execute, commit: they follow one another, so their means add up to
//     about the total's) with the total's mean marked, and a table of
//     every stage's summary.
//   - Against ceilings and anchors: each runtime report beside each
//     baseline of the same workload shape (see baselineKind and
//     pairKey), with the throughput and latency ratios.
//   - Scenarios: each report's Scenario, target, hard bound, measured
//     value and verdict as recorded.
//   - Environment: the machine and versions, load average and date of
//     each report; its workload; the server's CPU per request and RSS.
//
// A section with nothing to show is kept with a note saying why, never
// an error. The page loads nothing: its style is inline, its plots are
// SVG drawn here, it has no script, and every string from a report is
// escaped by html/template.

//go:embed report_template.html
var reportTemplateText string

var reportTemplate = template.Must(template.New("report").Parse(reportTemplateText))

// ReportFile is a Report and the file it was read from (the page names
// the file beside the report).
type ReportFile struct {
	Path   string
	Report *Report
}

// ReadReportFiles reads each path with ReadReport, in order. The first
// file that cannot be read, is not a report, or holds a run histogram
// that does not decode is refused, by name.
func ReadReportFiles(paths []string) ([]ReportFile, error) {
	files := make([]ReportFile, 0, len(paths))
	for _, p := range paths {
		r, err := ReadReport(p)
		if err != nil {
			return nil, err
		}
		for i := range r.Runs {
			if _, err := r.Runs[i].Snapshot(); err != nil {
				return nil, fmt.Errorf("%s: run %d: %w", p, i+1, err)
			}
		}
		files = append(files, ReportFile{Path: p, Report: r})
	}
	return files, nil
}

// HTMLConfig configures WriteHTML. The zero value is usable.
type HTMLConfig struct {
	// Title heads the page. If empty, defaults to "fcload report".
	Title string
	// Generated is the time the page says it was made. If zero,
	// defaults to time.Now().
	Generated time.Time
}

func (c HTMLConfig) withDefaults() HTMLConfig {
	if c.Title == "" {
		c.Title = "fcload report"
	}
	if c.Generated.IsZero() {
		c.Generated = time.Now()
	}
	return c
}

// WriteHTML writes the HTML report of files to w (see the description
// above). Nothing is written when it fails: a histogram that does not
// decode is refused with its file's name. It does not modify the
// reports and is safe for concurrent use.
func WriteHTML(w io.Writer, cfg HTMLConfig, files []ReportFile) error {
	cfg = cfg.withDefaults()
	p, err := buildPage(cfg, files)
	if err != nil {
		return err
	}
	var buf bytes.Buffer
	if err := reportTemplate.Execute(&buf, p); err != nil {
		return fmt.Errorf("perf: report template: %w", err)
	}
	_, err = w.Write(buf.Bytes())
	return err
}

// digest is one report and what the page derives from it.
type digest struct {
	ID     string // "r1", "r2", … in input order
	Path   string
	File   string // base name of Path
	Label  string // unique among the inputs: the name without "Fcload/"
	Report *Report

	merged    *stats.Snapshot // every run's histogram merged; nil if none has one
	withHist  int             // runs that carry a histogram
	latency   stats.Summary   // of merged, else per-member medians of the runs' summaries
	fromHist  bool
	sent      int64
	ok        int64
	errors    int64
	timeouts  int64
	tputMean  float64
	tputMin   float64
	tputMax   float64
	firstErr  string
	baseline  string // "ceiling", "anchor" or ""
	nameElems []string
}

func newDigest(i int, f ReportFile) (*digest, error) {
	r := f.Report
	d := &digest{ID: "r" + strconv.Itoa(i+1), Path: f.Path, File: filepath.Base(f.Path), Report: r}
	if d.File == "." || d.File == "" {
		d.File = d.ID
	}
	d.nameElems = nameElements(r.Name)
	d.baseline = baselineKind(r)
	var sums []stats.Summary
	for j := range r.Runs {
		run := &r.Runs[j]
		d.sent += run.Sent
		d.ok += run.OK
		d.errors += run.Errors
		d.timeouts += run.Timeouts
		if d.firstErr == "" {
			d.firstErr = run.FirstError
		}
		if j == 0 || run.Throughput < d.tputMin {
			d.tputMin = run.Throughput
		}
		d.tputMax = max(d.tputMax, run.Throughput)
		d.tputMean += run.Throughput / float64(len(r.Runs))
		s, err := run.Snapshot()
		if err != nil {
			return nil, fmt.Errorf("%s: run %d: %w", f.Path, j+1, err)
		}
		if s != nil {
			d.merged = d.merged.Merge(s)
			d.withHist++
		}
		sums = append(sums, run.Latency)
	}
	if d.merged != nil && d.merged.Count() > 0 {
		d.latency, d.fromHist = d.merged.Summary(), true
	} else {
		d.merged = nil
		d.latency = medianSummary(sums)
	}
	return d, nil
}

// medianSummary is the member-by-member median of the runs' summaries
// (Count is their sum): the figure a report without histograms can still
// give.
func medianSummary(sums []stats.Summary) stats.Summary {
	if len(sums) == 0 {
		return stats.Summary{}
	}
	med := func(get func(stats.Summary) float64) float64 {
		v := make([]float64, len(sums))
		for i, s := range sums {
			v[i] = get(s)
		}
		slices.Sort(v)
		if len(v)%2 == 1 {
			return v[len(v)/2]
		}
		return (v[len(v)/2-1] + v[len(v)/2]) / 2
	}
	var out stats.Summary
	for _, s := range sums {
		out.Count += s.Count
		out.ErrorBound = max(out.ErrorBound, s.ErrorBound)
	}
	out.Mean = med(func(s stats.Summary) float64 { return s.Mean })
	i64 := func(get func(stats.Summary) int64) int64 {
		return int64(med(func(s stats.Summary) float64 { return float64(get(s)) }))
	}
	out.Min = i64(func(s stats.Summary) int64 { return s.Min })
	out.P50 = i64(func(s stats.Summary) int64 { return s.P50 })
	out.P90 = i64(func(s stats.Summary) int64 { return s.P90 })
	out.P99 = i64(func(s stats.Summary) int64 { return s.P99 })
	out.P999 = i64(func(s stats.Summary) int64 { return s.P999 })
	out.P9999 = i64(func(s stats.Summary) int64 { return s.P9999 })
	out.Max = i64(func(s stats.Summary) int64 { return s.Max })
	return out
}

// nameElements splits a benchmark name "Fcload/key=value/…" into its
// elements after the first.
func nameElements(name string) []string {
	parts := strings.Split(name, "/")
	if len(parts) <= 1 {
		return nil
	}
	return parts[1:]
}

// nameValue returns the value of the name element key=value, if any.
func nameValue(elems []string, key string) (string, bool) {
	for _, e := range elems {
		if k, v, ok := strings.Cut(e, "="); ok && k == key {
			return v, true
		}
	}
	return "", false
}

// baselineKind says whether a report measured a baseline rather than the
// runtime: "ceiling" (the most the same client and transport can do with
// no runtime behind them), "anchor" (another system doing comparable
// work), or "" (the runtime). A report is a baseline when its
// Workload.Target, or the target=… element of its name, is "echo" or
// begins with "ceiling" (a ceiling) or "anchor" (an anchor), or when its
// name has a ceiling=… or anchor=… element:
//
//	Workload.Target "echo", "ceiling-ring-echo", "ceiling-group-commit" → ceiling
//	Workload.Target "anchor-pebble"                                      → anchor
//	Name "Fcload/target=echo/…", "Fcload/anchor=pebble/…"                → ceiling, anchor
func baselineKind(r *Report) string {
	kindOf := func(target string) string {
		switch {
		case target == "echo" || strings.HasPrefix(target, "ceiling"):
			return "ceiling"
		case strings.HasPrefix(target, "anchor"):
			return "anchor"
		}
		return ""
	}
	if k := kindOf(r.Workload.Target); k != "" {
		return k
	}
	elems := nameElements(r.Name)
	if v, ok := nameValue(elems, "target"); ok {
		if k := kindOf(v); k != "" {
			return k
		}
	}
	for _, k := range []string{"ceiling", "anchor"} {
		if _, ok := nameValue(elems, k); ok {
			return k
		}
	}
	// scripts/bench-matrix.sh names each cell's sides "side=runtime" and
	// "side=BASELINE" (perf/ceiling's merged matrix reports): pebble is the anchor, the
	// other baselines are ceilings.
	if v, ok := nameValue(elems, "side"); ok && v != "runtime" {
		if v == "pebble" {
			return "anchor"
		}
		return "ceiling"
	}
	return ""
}

// pairKey is what a runtime report and a baseline must share to be
// compared: the transport and the concurrency (connections, workers) and
// the loop (closed, or open at the same rate).
func pairKey(w Workload) string {
	return fmt.Sprintf("%s|%s|%d|%d|%g", w.Transport, w.Loop, w.Conns, w.Workers, w.Rate)
}

// page is what the template renders.
type page struct {
	Title     string
	Generated string
	Files     []pageFile
	Results   []resultRow

	Percentiles     []linePlot
	PercentilesNote string
	PercentilesLeft []string // reports without latency, not plotted

	Sweeps    []sweepView
	SweepNote string

	Stages        *barPlot // nil when no report has time in a stacked stage
	StageTables   []stageTable
	StagesNote    string
	StagesOmitted bool

	Ratios     []ratioRow
	RatiosNote string

	Scenarios     []scenarioRow
	ScenariosNote string

	Machines    []machineRow
	Environment []envRow
	Workloads   []workloadRow
	Servers     []serverRow
	ServersNote string
}

type pageFile struct {
	ID, File, Path, Name, Started, Kind string
}

func buildPage(cfg HTMLConfig, files []ReportFile) (*page, error) {
	ds := make([]*digest, 0, len(files))
	for i, f := range files {
		if f.Report == nil {
			return nil, fmt.Errorf("%s: no report", f.Path)
		}
		d, err := newDigest(i, f)
		if err != nil {
			return nil, err
		}
		ds = append(ds, d)
	}
	uniqueLabels(ds)
	p := &page{Title: cfg.Title, Generated: cfg.Generated.UTC().Format(time.RFC3339)}
	for _, d := range ds {
		p.Files = append(p.Files, pageFile{ID: d.ID, File: d.File, Path: d.Path, Name: d.Report.Name,
			Started: fmtTime(d.Report.Started), Kind: d.baseline})
		p.Results = append(p.Results, newResultRow(d))
	}
	p.percentiles(ds)
	p.sweeps(ds)
	p.stages(ds)
	p.ratios(ds)
	p.scenarios(ds)
	p.environment(ds)
	return p, nil
}

// uniqueLabels gives each digest its name without the "Fcload/" prefix,
// or its file name when it has none, and appends the file name to labels
// that two inputs share.
func uniqueLabels(ds []*digest) {
	count := map[string]int{}
	for _, d := range ds {
		d.Label = strings.Join(d.nameElems, "/")
		if d.Label == "" {
			d.Label = d.Report.Name
		}
		if d.Label == "" {
			d.Label = d.File
		}
		count[d.Label]++
	}
	for _, d := range ds {
		if count[d.Label] > 1 {
			d.Label += " (" + d.File + ")"
		}
	}
}

// groupLabels labels each member of a group by the name elements that
// differ within the group (all of the label when none does), with the
// file name added to labels that are still equal.
func groupLabels(ds []*digest) []string {
	differs := map[string]bool{}
	for _, d := range ds {
		for _, e := range d.nameElems {
			for _, o := range ds {
				if !slices.Contains(o.nameElems, e) {
					differs[e] = true
				}
			}
		}
	}
	labels := make([]string, len(ds))
	count := map[string]int{}
	for i, d := range ds {
		var parts []string
		for _, e := range d.nameElems {
			if differs[e] {
				parts = append(parts, e)
			}
		}
		labels[i] = strings.Join(parts, "/")
		if labels[i] == "" {
			labels[i] = d.Label
		}
		count[labels[i]]++
	}
	for i, d := range ds {
		if count[labels[i]] > 1 && !strings.HasSuffix(labels[i], "("+d.File+")") {
			labels[i] += " (" + d.File + ")"
		}
	}
	return labels
}

// resultRow is one report's line in the results table.
type resultRow struct {
	ID, Label, Kind                              string
	Runs                                         int
	Sent, OK, Errors, Timeouts, ErrorRate, ByCat string
	Throughput, ThroughputRange                  string
	P50, P90, P99, P999, Max, Source, FirstErr   string
	Bad                                          bool
}

func newResultRow(d *digest) resultRow {
	r := resultRow{ID: d.ID, Label: d.Label, Kind: d.baseline, Runs: len(d.Report.Runs), FirstErr: d.firstErr}
	if r.Runs == 0 {
		return r
	}
	r.Sent, r.OK, r.Errors, r.Timeouts = fmtInt(d.sent), fmtInt(d.ok), fmtInt(d.errors), fmtInt(d.timeouts)
	if d.sent > 0 {
		r.ErrorRate = fmtPercent(float64(d.errors) / float64(d.sent))
	}
	cats := map[string]int64{}
	for _, run := range d.Report.Runs {
		for k, v := range run.ByCategory {
			cats[k] += v
		}
	}
	var parts []string
	for _, k := range sortedKeys(cats) {
		parts = append(parts, k+" "+fmtInt(cats[k]))
	}
	r.ByCat = strings.Join(parts, ", ")
	r.Bad = d.errors > 0 || d.ok == 0
	r.Throughput = fmtRate(d.tputMean)
	if r.Runs > 1 {
		r.ThroughputRange = fmtRate(d.tputMin) + " – " + fmtRate(d.tputMax)
	}
	if d.latency.Count > 0 {
		l := d.latency
		r.P50, r.P90, r.P99, r.P999, r.Max = fmtNs(float64(l.P50)), fmtNs(float64(l.P90)), fmtNs(float64(l.P99)), fmtNs(float64(l.P999)), fmtNs(float64(l.Max))
	}
	switch {
	case d.fromHist && d.withHist == r.Runs:
		r.Source = "histogram"
	case d.fromHist:
		r.Source = fmt.Sprintf("histogram of %d of %d runs", d.withHist, r.Runs)
	default:
		r.Source = "median of the runs' summaries"
	}
	return r
}

// percentiles builds one HDR plot per target and transport.
func (p *page) percentiles(ds []*digest) {
	type group struct {
		key string
		ds  []*digest
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, d := range ds {
		if d.latency.Count == 0 {
			p.PercentilesLeft = append(p.PercentilesLeft, d.Label)
			continue
		}
		w := d.Report.Workload
		key := w.Transport
		g := byKey[key]
		if g == nil {
			g = &group{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.ds = append(g.ds, d)
	}
	if len(groups) == 0 {
		p.PercentilesNote = "No report has a successful request's latency: nothing to plot."
		return
	}
	for i, g := range groups {
		labels := groupLabels(g.ds)
		var curves []curve
		for j, d := range g.ds {
			c := curve{label: labels[j], title: d.Report.Name + " — " + d.File}
			if d.merged != nil {
				c.xs, c.ys = percentileCurve(d.merged)
			} else {
				c.xs, c.ys = summaryCurvePoints(d.latency)
				c.dashed = true
				c.title += " (no histogram: the summary's points)"
			}
			curves = append(curves, c)
		}
		var targets []string
		for _, d := range g.ds {
			if t := d.Report.Workload.Target; !slices.Contains(targets, t) {
				targets = append(targets, t)
			}
		}
		title := "transport " + g.key + ": " + strings.Join(targets, ", ")
		p.Percentiles = append(p.Percentiles, percentilePlot(fmt.Sprintf("percentiles-%d", i+1), title, curves))
	}
}

// percentileCurve samples s at x = log10(1/(1−q)) every plotXStep from 0
// up to log10(n) (capped at plotMaxX), where it ends with the maximum.
func percentileCurve(s *stats.Snapshot) (xs, ys []float64) {
	n := float64(s.Count())
	end := min(math.Log10(n), plotMaxX)
	var qs []float64
	for x := 0.0; x < end-plotXStep/2; x += plotXStep {
		xs = append(xs, x)
		qs = append(qs, 100*(1-math.Pow(10, -x)))
	}
	xs = append(xs, end)
	qs = append(qs, 100)
	for _, v := range s.Percentiles(qs...) {
		ys = append(ys, float64(v))
	}
	return xs, ys
}

// summaryCurvePoints is a summary's points on the percentile axis: min,
// p50, p90, p99, p99.9, p99.99 where the count reaches them, and the max
// at log10(count).
func summaryCurvePoints(l stats.Summary) (xs, ys []float64) {
	end := min(math.Log10(float64(max(l.Count, 1))), plotMaxX)
	add := func(x float64, v int64) {
		if x <= end {
			xs, ys = append(xs, x), append(ys, float64(v))
		}
	}
	add(0, l.Min)
	add(math.Log10(2), l.P50)
	add(1, l.P90)
	add(2, l.P99)
	add(3, l.P999)
	add(4, l.P9999)
	if len(xs) == 0 || xs[len(xs)-1] < end {
		xs, ys = append(xs, end), append(ys, float64(l.Max))
	}
	return xs, ys
}

// sweepView is one rate sweep: its plot and its points.
type sweepView struct {
	Plot   linePlot
	Points []sweepPoint
}

type sweepPoint struct {
	Label, Rate, Throughput, Share, P50, P99 string
	Saturated                                bool
}

func (p *page) sweeps(ds []*digest) {
	type group struct {
		key string
		ds  []*digest
	}
	var groups []*group
	byKey := map[string]*group{}
	for _, d := range ds {
		w := d.Report.Workload
		if w.Loop != "open" || w.Rate <= 0 || d.latency.Count == 0 {
			continue
		}
		var rest []string
		for _, e := range d.nameElems {
			if !strings.HasPrefix(e, "rate=") {
				rest = append(rest, e)
			}
		}
		key := strings.Join(rest, "/") + "|" + w.Target + "|" + w.Transport
		g := byKey[key]
		if g == nil {
			g = &group{key: key}
			byKey[key] = g
			groups = append(groups, g)
		}
		g.ds = append(g.ds, d)
	}
	n := 0
	for _, g := range groups {
		rates := map[float64]bool{}
		for _, d := range g.ds {
			rates[d.Report.Workload.Rate] = true
		}
		if len(rates) < 2 {
			continue
		}
		sort.SliceStable(g.ds, func(i, j int) bool { return g.ds[i].Report.Workload.Rate < g.ds[j].Report.Workload.Rate })
		n++
		var v sweepView
		p50 := curve{label: "p50", marker: true}
		p99 := curve{label: "p99", marker: true}
		for _, d := range g.ds {
			x := d.tputMean
			p50.xs, p50.ys = append(p50.xs, x), append(p50.ys, float64(d.latency.P50))
			p99.xs, p99.ys = append(p99.xs, x), append(p99.ys, float64(d.latency.P99))
			rate := d.Report.Workload.Rate
			v.Points = append(v.Points, sweepPoint{Label: d.Label, Rate: fmtRate(rate), Throughput: fmtRate(x),
				Share: fmtPercent(x / rate), P50: fmtNs(float64(d.latency.P50)), P99: fmtNs(float64(d.latency.P99)),
				Saturated: x < 0.95*rate})
		}
		w := g.ds[0].Report.Workload
		title := fmt.Sprintf("%s / %s: %s", w.Target, w.Transport, strings.SplitN(g.key, "|", 2)[0])
		v.Plot = sweepPlot(fmt.Sprintf("sweep-%d", n), title, []curve{p50, p99})
		p.Sweeps = append(p.Sweeps, v)
	}
	if len(p.Sweeps) == 0 {
		p.SweepNote = "No rate sweep among the reports (open-loop reports of one workload at two or more rates): no throughput–latency curve."
	}
}

// stageTable is one report's per-stage summaries.
type stageTable struct {
	Label string
	Rows  []stageRow
}

type stageRow struct {
	Stage, Count, Mean, P50, P99, P999, Max, Share string
	Note                                           string // "derived", "whole execution" or ""
}

// stackedStages are the stages that follow one another in an execution,
// so their means add up; the derived figures overlap them.
var stackedStages = []string{pipeline.StageValidate, pipeline.StageAuthorize, pipeline.StageAdmit, pipeline.StageExecute, pipeline.StageCommit}

func stageOrder(m map[string]stats.Summary) []string {
	var out []string
	for _, s := range pipeline.Stages() {
		if _, ok := m[s]; ok {
			out = append(out, s)
		}
	}
	for _, s := range sortedKeys(m) {
		if !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	return out
}

func (p *page) stages(ds []*digest) {
	var rows []barRow
	var without, unstacked []string
	for _, d := range ds {
		srv := d.Report.Server
		if srv == nil || len(srv.Stages) == 0 {
			if d.baseline == "" {
				without = append(without, d.Label)
			}
			continue
		}
		total, hasTotal := srv.Stages[pipeline.StageTotal]
		t := stageTable{Label: d.Label}
		for _, s := range stageOrder(srv.Stages) {
			sum := srv.Stages[s]
			row := stageRow{Stage: s, Count: fmtInt(int64(sum.Count)), Mean: fmtNs(sum.Mean), P50: fmtNs(float64(sum.P50)),
				P99: fmtNs(float64(sum.P99)), P999: fmtNs(float64(sum.P999)), Max: fmtNs(float64(sum.Max))}
			switch s {
			case pipeline.StageDispatch, pipeline.StageOverhead:
				row.Note = "derived"
			case pipeline.StageTotal:
				row.Note = "whole execution"
			}
			if hasTotal && total.Mean > 0 && s != pipeline.StageTotal {
				row.Share = fmtPercent(sum.Mean / total.Mean)
			}
			t.Rows = append(t.Rows, row)
		}
		p.StageTables = append(p.StageTables, t)
		br := barRow{label: d.Label}
		stacked := 0.0
		for _, s := range stackedStages {
			if sum, ok := srv.Stages[s]; ok && sum.Count > 0 && sum.Mean > 0 {
				br.segments = append(br.segments, barSegment{name: s, value: sum.Mean})
				stacked += sum.Mean
			}
		}
		if hasTotal && total.Count > 0 {
			br.total = total.Mean
		}
		if stacked > 0 {
			rows = append(rows, br)
		} else {
			unstacked = append(unstacked, d.Label)
		}
	}
	if len(p.StageTables) == 0 {
		p.StagesOmitted = true
		p.StagesNote = "No report carries the runtime's per-stage figures (Server.Stages): no stage breakdown."
		return
	}
	if len(rows) > 0 {
		p.Stages = stagePlot("stages", rows)
	}
	var notes []string
	if len(unstacked) > 0 {
		notes = append(notes, "No time in the stages an execution passes through, so no bar: "+strings.Join(unstacked, ", ")+".")
	}
	if len(without) > 0 {
		notes = append(notes, "Without per-stage figures: "+strings.Join(without, ", ")+".")
	}
	p.StagesNote = strings.Join(notes, " ")
}

// ratioRow is a runtime report beside a baseline of the same shape.
type ratioRow struct {
	Runtime, Baseline, Kind, Shape              string
	RuntimeTput, BaselineTput, TputRatio        string
	RuntimeP50, BaselineP50, P50Ratio           string
	RuntimeP99, BaselineP99, P99Ratio, CPURatio string
}

func (p *page) ratios(ds []*digest) {
	var baselines, runtimes []*digest
	for _, d := range ds {
		if len(d.Report.Runs) == 0 {
			continue
		}
		if d.baseline != "" {
			baselines = append(baselines, d)
		} else {
			runtimes = append(runtimes, d)
		}
	}
	for _, r := range runtimes {
		for _, b := range baselines {
			if pairKey(r.Report.Workload) != pairKey(b.Report.Workload) {
				continue
			}
			w := r.Report.Workload
			shape := fmt.Sprintf("%s, %s loop, %d workers", w.Transport, w.Loop, w.Workers)
			if w.Conns > 0 {
				shape += fmt.Sprintf(", %d conns", w.Conns)
			}
			if w.Rate > 0 {
				shape += ", rate " + fmtRate(w.Rate)
			}
			row := ratioRow{Runtime: r.Label, Baseline: b.Label, Kind: b.baseline, Shape: shape,
				RuntimeTput: fmtRate(r.tputMean), BaselineTput: fmtRate(b.tputMean), TputRatio: fmtRatio(r.tputMean, b.tputMean, true),
				RuntimeP50: fmtNs(float64(r.latency.P50)), BaselineP50: fmtNs(float64(b.latency.P50)),
				P50Ratio:   fmtRatio(float64(r.latency.P50), float64(b.latency.P50), false),
				RuntimeP99: fmtNs(float64(r.latency.P99)), BaselineP99: fmtNs(float64(b.latency.P99)),
				P99Ratio: fmtRatio(float64(r.latency.P99), float64(b.latency.P99), false)}
			if rs, bs := r.Report.Server, b.Report.Server; rs != nil && bs != nil {
				row.CPURatio = fmtRatio(rs.CPUPerRequest, bs.CPUPerRequest, false)
			}
			p.Ratios = append(p.Ratios, row)
		}
	}
	switch {
	case len(p.Ratios) > 0:
	case len(baselines) == 0:
		p.RatiosNote = "No ceiling or anchor among the reports (a target of echo, ceiling-… or anchor-…): no ratios."
	default:
		p.RatiosNote = "No runtime report shares a ceiling's or anchor's transport, loop, connections and workers: no ratios."
	}
}

// scenarioRow is one FC-PERF scenario's verdict, as recorded.
type scenarioRow struct {
	ID, Metric, Target, HardBound, Measured, Verdict, Class, Direction, Note, Report string
}

func (p *page) scenarios(ds []*digest) {
	for _, d := range ds {
		s := d.Report.Scenario
		if s == nil {
			continue
		}
		row := scenarioRow{ID: s.ID, Metric: s.Metric, Target: fmtUnit(s.Target, s.Unit), HardBound: fmtUnit(s.HardBound, s.Unit),
			Measured: fmtUnit(s.Measured, s.Unit), Verdict: s.Verdict, Note: s.Note, Report: d.Label, Direction: "higher is better"}
		if s.LowerIsBetter {
			row.Direction = "lower is better"
		}
		switch s.Verdict {
		case "meets target":
			row.Class = "ok"
		case "within hard bound":
			row.Class = "warn"
		case "over hard bound":
			row.Class = "bad"
		}
		p.Scenarios = append(p.Scenarios, row)
	}
	if len(p.Scenarios) == 0 {
		p.ScenariosNote = "No report is one of the specification's scenarios: no verdicts."
	}
}

// machineRow is one machine and software build the reports ran on.
type machineRow struct {
	ID, Host, OSArch, CPU, CPUs, Kernel, Mem, Go, Version string
	Reports                                               int
}

// envRow is when a report ran, where, and how loaded the machine was.
type envRow struct {
	Label, Started, Machine, LoadAvg string
}

type workloadRow struct {
	Label, Target, Transport, Loop, Conns, Workers, Rate, Duration, Warmup, Count, Timeout, Mix, Config string
}

type serverRow struct {
	Label, Version, Address, CPUSeconds, CPUPerRequest, RSSStart, RSSEnd, RSSPeak string
}

func (p *page) environment(ds []*digest) {
	var without []string
	for _, d := range ds {
		r := d.Report
		e := r.Environment
		m := machineRow{Host: e.Hostname, OSArch: join("/", e.OS, e.Arch), CPU: e.CPUModel, Kernel: e.Kernel, Go: e.GoVersion, Version: e.Version}
		if e.CPUs > 0 || e.GOMAXPROCS > 0 {
			m.CPUs = fmt.Sprintf("%d (GOMAXPROCS %d)", e.CPUs, e.GOMAXPROCS)
		}
		if e.MemBytes > 0 {
			m.Mem = fmtBytes(float64(e.MemBytes))
		}
		if e.Revision != "" {
			m.Version = join(" ", e.Version, "("+e.Revision+")")
		}
		// The same machine: equal in everything but the ID and count.
		i := slices.IndexFunc(p.Machines, func(o machineRow) bool { o.ID, o.Reports = "", 0; return o == m })
		if i < 0 {
			m.ID = "m" + strconv.Itoa(len(p.Machines)+1)
			p.Machines = append(p.Machines, m)
			i = len(p.Machines) - 1
		}
		p.Machines[i].Reports++
		p.Environment = append(p.Environment, envRow{Label: d.Label, Started: fmtTime(r.Started), Machine: p.Machines[i].ID,
			LoadAvg: fmt.Sprintf("%.2f %.2f %.2f", e.LoadAvg[0], e.LoadAvg[1], e.LoadAvg[2])})

		w := r.Workload
		wr := workloadRow{Label: d.Label, Target: w.Target, Transport: w.Transport, Loop: w.Loop,
			Workers: strconv.Itoa(w.Workers), Duration: fmtDuration(w.Duration), Warmup: fmtDuration(w.Warmup), Timeout: fmtDuration(w.Timeout)}
		if w.Conns > 0 {
			wr.Conns = strconv.Itoa(w.Conns)
		}
		if w.Rate > 0 {
			wr.Rate = fmtRate(w.Rate)
		}
		if w.Count > 0 {
			wr.Count = fmtInt(w.Count)
		}
		var mix []string
		for _, m := range w.Mix {
			mix = append(mix, fmt.Sprintf("%s ×%d (%d B, expect %s)", m.Name, m.Weight, m.Bytes, m.Expect))
		}
		wr.Mix = strings.Join(mix, "; ")
		var conf []string
		for _, k := range sortedKeys(w.Config) {
			conf = append(conf, k+"="+w.Config[k])
		}
		wr.Config = strings.Join(conf, " ")
		p.Workloads = append(p.Workloads, wr)

		s := r.Server
		if s == nil {
			without = append(without, d.Label)
			continue
		}
		sr := serverRow{Label: d.Label, Version: s.Version, Address: s.Address, CPUSeconds: strconv.FormatFloat(s.CPUSeconds, 'f', 2, 64) + " s",
			CPUPerRequest: fmtNs(s.CPUPerRequest), RSSStart: fmtBytes(float64(s.RSSStartBytes)), RSSEnd: fmtBytes(float64(s.RSSEndBytes))}
		if s.RSSPeakBytes > 0 {
			sr.RSSPeak = fmtBytes(float64(s.RSSPeakBytes))
		}
		p.Servers = append(p.Servers, sr)
	}
	if len(without) > 0 {
		p.ServersNote = "No runtime measured (no server figures): " + strings.Join(without, ", ") + "."
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

func join(sep string, parts ...string) string {
	var out []string
	for _, p := range parts {
		if p != "" {
			out = append(out, p)
		}
	}
	return strings.Join(out, sep)
}
