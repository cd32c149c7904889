package perf

import (
	"bytes"
	"encoding/base64"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
	"golang.org/x/net/html"
)

var reportTime = time.Date(2026, 12, 2, 3, 0, 0, 0, time.UTC)

func renderHTML(t *testing.T, files []ReportFile) string {
	t.Helper()
	var b bytes.Buffer
	if err := WriteHTML(&b, HTMLConfig{Title: "perf lab", Generated: reportTime}, files); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// section returns the HTML of the <section> with the given data-section.
func section(t *testing.T, page, name string) string {
	t.Helper()
	i := strings.Index(page, `data-section="`+name+`"`)
	if i < 0 {
		t.Fatalf("no section %q", name)
	}
	j := strings.Index(page[i:], "</section>")
	return page[i : i+j]
}

// externalRefs parses the page and returns everything in it that would
// make a browser fetch or run something: elements that load or run
// (script, link, img, iframe, object, embed, SVG image and use),
// attributes naming a resource (src, href, srcset, action, …), event
// handlers, and url() or @import in a style sheet or style attribute.
func externalRefs(t *testing.T, page string) []string {
	t.Helper()
	var refs []string
	z := html.NewTokenizer(strings.NewReader(page))
	inStyle := false
	for {
		switch z.Next() {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatalf("the page does not parse: %v", z.Err())
			}
			return refs
		case html.TextToken:
			if inStyle {
				if css := strings.ToLower(string(z.Text())); strings.Contains(css, "url(") || strings.Contains(css, "@import") {
					refs = append(refs, "style sheet: "+css)
				}
			}
		case html.EndTagToken:
			inStyle = false
		case html.StartTagToken, html.SelfClosingTagToken:
			tok := z.Token()
			inStyle = tok.Data == "style"
			switch tok.Data {
			case "script", "link", "img", "iframe", "object", "embed", "image", "use", "audio", "video", "source", "base", "form":
				refs = append(refs, "<"+tok.Data+">")
			}
			for _, a := range tok.Attr {
				key := strings.ToLower(a.Key)
				if a.Namespace != "" {
					key = a.Namespace + ":" + key
				}
				switch {
				case slices.Contains([]string{"src", "href", "xlink:href", "srcset", "action", "formaction", "poster", "background", "data", "ping"}, key):
					refs = append(refs, "<"+tok.Data+" "+key+"="+a.Val+">")
				case strings.HasPrefix(key, "on"):
					refs = append(refs, "<"+tok.Data+" "+key+"=…>")
				case strings.Contains(strings.ToLower(a.Val), "url("):
					refs = append(refs, "<"+tok.Data+" "+key+"="+a.Val+">")
				}
			}
		}
	}
}

func TestReportHTMLIsSelfContained(t *testing.T) {
	page := renderHTML(t, fixtureReports(t))
	if refs := externalRefs(t, page); len(refs) > 0 {
		t.Errorf("the page refers to outside resources: %q", refs)
	}
	for _, s := range []string{"http://", "https://", "@import", "url("} {
		if strings.Contains(page, s) {
			t.Errorf("the page contains %q", s)
		}
	}
	if !strings.HasPrefix(page, "<!DOCTYPE html>") || !strings.Contains(page, `<meta charset="utf-8">`) || !strings.Contains(page, "<title>perf lab</title>") {
		t.Errorf("not a complete page:\n%.300s", page)
	}
	// The check above sees what it looks for.
	if refs := externalRefs(t, `<style>@import "x.css";</style><p style="background:url(http://x/)"><svg><image href="x.png"/></svg><a href="https://x/">x</a><b onclick="f()">`); len(refs) != 6 {
		t.Errorf("the external reference check found %q in a page with six (the image twice: element and href)", refs)
	}
}

func TestReportHTMLEscapesReportText(t *testing.T) {
	r := fixtures()[0].report(0)
	r.Name = `Fcload/target=<script>alert(1)</script>`
	r.Workload.Target = `"><img src=https://evil.example/x.png>`
	r.Server.Address = "https://evil.example/"
	r.Runs[0].FirstError = `</code><script src="https://evil.example/x.js"></script>`
	r.Runs[0].Errors = 1
	r.Scenario = &Scenario{ID: "<b>id</b>", Metric: "m", Unit: "ns", Verdict: `<i onmouseover="x()">`}
	page := renderHTML(t, []ReportFile{{Path: `dir/<evil>.json`, Report: r}})
	if refs := externalRefs(t, page); len(refs) > 0 {
		t.Errorf("text from a report became markup: %q", refs)
	}
	for _, s := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;evil&gt;.json", "&lt;b&gt;id&lt;/b&gt;", "&lt;i onmouseover="} {
		if !strings.Contains(page, s) {
			t.Errorf("the page does not show %q escaped", s)
		}
	}
}

func TestReportHTMLSections(t *testing.T) {
	files := fixtureReports(t)
	page := renderHTML(t, files)
	for _, name := range []string{"results", "percentiles", "sweep", "stages", "ratios", "scenarios", "environment"} {
		if s := section(t, page, name); strings.Contains(s, `class="omitted"`) {
			t.Errorf("section %s omitted for the fixtures:\n%s", name, s)
		}
	}
	if n := strings.Count(section(t, page, "results"), `data-report="`); n != len(files) {
		t.Errorf("%d result rows, want %d", n, len(files))
	}

	// One percentile plot per transport, one line per report with runs.
	perc := section(t, page, "percentiles")
	transports := map[string]bool{}
	lines := 0
	for _, f := range files {
		if len(f.Report.Runs) > 0 {
			transports[f.Report.Workload.Transport] = true
			lines++
		}
	}
	if n := strings.Count(perc, `data-kind="percentiles"`); n != len(transports) {
		t.Errorf("%d percentile plots, want one per transport (%d)", n, len(transports))
	}
	if n := strings.Count(perc, `<path class="line"`); n != lines {
		t.Errorf("%d percentile lines, want %d", n, lines)
	}
	if !strings.Contains(perc, "Not plotted (no successful request): scenario=startup-empty.") {
		t.Errorf("the report without runs is not named as left out")
	}

	// The sweep: five rates, p50 and p99, the last point saturated.
	sweep := section(t, page, "sweep")
	if n := strings.Count(sweep, `data-points="5"`); n != 2 {
		t.Errorf("sweep: %d lines of 5 points, want p50 and p99", n)
	}
	if n := strings.Count(sweep, "saturated</td>"); n != 1 || !regexp.MustCompile(`16\x{202f}000/s</td><td class="n">[^<]*</td><td class="n bad">`).MatchString(sweep) {
		t.Errorf("sweep: want exactly the 16 000/s point saturated:\n%s", sweep)
	}

	// Stages: a bar and a table for each report with Server.Stages.
	stages := section(t, page, "stages")
	withStages := 0
	for _, f := range files {
		if f.Report.Server != nil && len(f.Report.Server.Stages) > 0 {
			withStages++
		}
	}
	if n := strings.Count(stages, "<h3>"); n != withStages {
		t.Errorf("%d stage tables, want %d", n, withStages)
	}
	if n := strings.Count(stages, `data-stage="commit"`); n != withStages-1 {
		t.Errorf("%d commit segments, want %d (the ring runs without a journal)", n, withStages-1)
	}

	// Ratios: each runtime beside the baseline of its shape, and only
	// those; the share is the runs' mean throughput over the baseline's.
	ratios := section(t, page, "ratios")
	byFile := map[string]*Report{}
	for _, f := range files {
		byFile[filepath.Base(f.Path)] = f.Report
	}
	meanTput := func(r *Report) float64 {
		s := 0.0
		for _, run := range r.Runs {
			s += run.Throughput
		}
		return s / float64(len(r.Runs))
	}
	pairs := [][2]string{{"h3-execute-c4-w256.json", "echo-c4-w256.json"}, {"inproc-always-w256.json", "anchor-pebble-w256.json"}, {"ipc-ring-w1.json", "ceiling-ring-echo-w1.json"}}
	if n := strings.Count(ratios, "<tr><td"); n != len(pairs) {
		t.Errorf("%d ratio rows, want %d", n, len(pairs))
	}
	for _, p := range pairs {
		rt, bl := byFile[p[0]], byFile[p[1]]
		share := strconv.FormatFloat(100*meanTput(rt)/meanTput(bl), 'f', 1, 64) + " %"
		row := regexp.MustCompile(`<tr><td class="name">` + regexp.QuoteMeta(strings.TrimPrefix(rt.Name, "Fcload/")) + `</td><td class="name">` +
			regexp.QuoteMeta(strings.TrimPrefix(bl.Name, "Fcload/")) + `<span class="kind">(ceiling|anchor)</span>.*<b>` + regexp.QuoteMeta(share) + `</b>`)
		if !row.MatchString(ratios) {
			t.Errorf("no ratio row %s against %s with share %s:\n%s", p[0], p[1], share, ratios)
		}
	}

	scen := section(t, page, "scenarios")
	for _, s := range []string{`<td class="ok">meets target</td>`, `<td class="warn">within hard bound</td>`, "<b>38.2 ms</b>", "100 ms", "1.00 s"} {
		if !strings.Contains(scen, s) {
			t.Errorf("scenarios: no %q", s)
		}
	}

	env := section(t, page, "environment")
	for _, s := range []string{"AMD EPYC 7B13 64-Core Processor", "6.1.0-28-amd64", "go1.26.8", "v0.9.0-dev (2b771cb)", "32.0 GiB",
		"2026-12-02 01:50:00 UTC", "0.42 0.31 0.20", "21.0 µs", "38.0 MiB", "noop ×1 (38 B, expect allow)", "durability=always",
		"No runtime measured (no server figures): target=anchor-pebble"} {
		if !strings.Contains(env, s) {
			t.Errorf("environment: no %q", s)
		}
	}
	if n := strings.Count(env, `<td>m1</td>`); n != len(files)+1 {
		t.Errorf("environment: machine m1 named %d times, want once in the machines and once per report (%d)", n, len(files))
	}
}

// TestReportMissingPieces: a report lacking every optional member, and
// one whose runs carry summaries but no histograms, still make a page;
// each empty section says why.
func TestReportMissingPieces(t *testing.T) {
	bare := &Report{Schema: ResultSchema, Name: "Fcload/target=h3/workers=1", Workload: Workload{Target: "h3", Transport: "execute", Loop: "closed", Workers: 1}}
	summaryOnly := &Report{Schema: ResultSchema, Name: "Fcload/target=h3/workers=2", Workload: Workload{Target: "h3", Transport: "execute", Loop: "closed", Workers: 2}}
	for i := range 3 {
		s := synthLatency{median: time.Millisecond, sigma: 0.3, tail: 0.002, alpha: 2.5}.snapshot(5000, 1+float64(i)/10)
		summaryOnly.Runs = append(summaryOnly.Runs, Repetition{Sent: 5000, OK: 5000, Throughput: 1000, Latency: s.Summary()})
	}
	page := renderHTML(t, []ReportFile{{Path: "bare.json", Report: bare}, {Path: "summary.json", Report: summaryOnly}})
	if m := regexp.MustCompile(`\b(NaN|Inf)\b`).FindString(page); m != "" {
		t.Errorf("the page shows %s", m)
	}
	for name, note := range map[string]string{
		"sweep":     "No rate sweep among the reports",
		"stages":    "No report carries the runtime",
		"ratios":    "No ceiling or anchor among the reports",
		"scenarios": "No report is one of the specification",
	} {
		s := section(t, page, name)
		if !strings.Contains(s, `class="omitted"`) || !strings.Contains(s, note) {
			t.Errorf("section %s: not omitted with %q:\n%s", name, note, s)
		}
	}
	perc := section(t, page, "percentiles")
	// The summary's points: min, p50, p90, p99, p99.9, p99.99 and the
	// max at log10(15000) ≈ 4.18.
	if !strings.Contains(perc, `data-points="7"`) || !strings.Contains(perc, `stroke-dasharray="4 3"`) {
		t.Errorf("the report without histograms is not drawn dashed from its summary:\n%s", perc)
	}
	if !strings.Contains(section(t, page, "results"), "median of the runs&#39; summaries") {
		t.Errorf("the results do not say where the latency came from")
	}
	if !strings.Contains(page, "no runs in this report") {
		t.Errorf("the bare report's row does not say it has no runs")
	}
}

// TestReportStagesWithoutTime: stage figures with no time in the
// stacked stages (only the total; a zero mean) make a table, no bar, and
// no NaN.
func TestReportStagesWithoutTime(t *testing.T) {
	r := &Report{Schema: ResultSchema, Name: "Fcload/target=inproc", Workload: Workload{Target: "inproc", Transport: "inproc"},
		Server: &Server{Stages: map[string]stats.Summary{"total": {Count: 10, Mean: 5000, P50: 5000}, "admit": {Count: 10}, "custom": {Count: 3, Mean: 7}}}}
	page := renderHTML(t, []ReportFile{{Path: "r.json", Report: r}})
	st := section(t, page, "stages")
	if strings.Contains(st, `class="omitted"`) || strings.Contains(st, "<svg") || strings.Contains(st, "NaN") {
		t.Errorf("stages: want a table without a bar:\n%s", st)
	}
	if !strings.Contains(st, "No time in the stages an execution passes through, so no bar: target=inproc.") {
		t.Errorf("stages: the missing bar is not explained:\n%s", st)
	}
	// Known stages in the pipeline's order, others after them.
	if a, b, c := strings.Index(st, ">admit"), strings.Index(st, ">total"), strings.Index(st, ">custom"); a < 0 || !(a < b && b < c) {
		t.Errorf("stage rows not in the pipeline's order, unknown last:\n%s", st)
	}
}

func TestReadReportFilesRefusesByName(t *testing.T) {
	dir := t.TempDir()
	good := fixtures()[4].report(0)
	write := func(name string, r *Report) string {
		p := filepath.Join(dir, name)
		var b bytes.Buffer
		if err := r.WriteJSON(&b); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, b.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	okPath := write("good.json", good)
	bad := *good
	bad.Runs = slices.Clone(good.Runs)
	bad.Runs[1].Histogram = []byte{0xFC, 1, 9}
	badHist := write("bad-histogram.json", &bad)
	other := *good
	other.Schema = "other/v9"
	otherSchema := write("other-schema.json", &other)
	notJSON := filepath.Join(dir, "not-json.json")
	os.WriteFile(notJSON, []byte("BenchmarkFcload 1 2 ns/op\n"), 0o644)
	missing := filepath.Join(dir, "missing.json")

	if files, err := ReadReportFiles([]string{okPath, okPath}); err != nil || len(files) != 2 || files[0].Path != okPath {
		t.Fatalf("good files: %v, %v", files, err)
	}
	for _, c := range []struct{ path, want string }{
		{badHist, "run 2: perf: run histogram"},
		{otherSchema, `report schema "other/v9"`},
		{notJSON, "not an fcload report"},
		{missing, "no such file"},
	} {
		_, err := ReadReportFiles([]string{okPath, c.path})
		if err == nil || !strings.Contains(err.Error(), c.path) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want the file's name and %q", filepath.Base(c.path), err, c.want)
		}
	}
	// WriteHTML refuses an undecodable histogram too, by name, and
	// writes nothing.
	var b bytes.Buffer
	err := WriteHTML(&b, HTMLConfig{}, []ReportFile{{Path: "in-memory.json", Report: &bad}})
	if err == nil || !strings.Contains(err.Error(), "in-memory.json: run 2") || b.Len() != 0 {
		t.Errorf("WriteHTML with a bad histogram: %v, %d bytes written", err, b.Len())
	}
}

func TestBaselineKind(t *testing.T) {
	for _, c := range []struct {
		target, name, want string
	}{
		{"echo", "Fcload/target=echo/conns=1", "ceiling"},
		{"ceiling-ring-echo", "", "ceiling"},
		{"ceiling-group-commit", "", "ceiling"},
		{"anchor-pebble", "", "anchor"},
		{"", "Fcload/target=anchor-pebble/workers=256", "anchor"},
		{"", "Fcload/target=echo", "ceiling"},
		{"inproc", "Fcload/ceiling=group-commit/workers=256", "ceiling"},
		{"inproc", "Fcload/anchor=pebble", "anchor"},
		{"h3", "Fcload/target=h3/op=echo", ""}, // an echo capability on the runtime is the runtime
		{"inproc", "Fcload/target=inproc/journal=always", ""},
		{"ipc", "", ""},
		{"h3", "Matrix/h3-execute/journal=always/inflight=1/side=h3echo", "ceiling"},
		{"inproc", "Matrix/journal-only/journal=always/writers=256/side=pebble", "anchor"},
		{"h3", "Matrix/h3-execute/journal=always/inflight=1/side=runtime", ""},
	} {
		r := &Report{Name: c.name, Workload: Workload{Target: c.target}}
		if got := baselineKind(r); got != c.want {
			t.Errorf("target %q name %q: %q, want %q", c.target, c.name, got, c.want)
		}
	}
}

// TestPercentileCurve checks a line of the HDR plot against the
// snapshot's own percentiles.
func TestPercentileCurve(t *testing.T) {
	h := stats.NewHistogram(stats.HistogramConfig{})
	const n = 100000
	for i := range n {
		h.Record(int64(1000 + i))
	}
	s := h.Snapshot()
	xs, ys := percentileCurve(s)
	if len(xs) != len(ys) || len(xs) != 101 {
		t.Fatalf("%d x, %d y: want 101 points (0 to 5 in steps of 0.05)", len(xs), len(ys))
	}
	if xs[0] != 0 || xs[len(xs)-1] != 5 || ys[len(ys)-1] != float64(s.Max()) || ys[0] != float64(s.Min()) {
		t.Errorf("ends (%g, %g) … (%g, %g), want (0, min %d) … (5, max %d)", xs[0], ys[0], xs[len(xs)-1], ys[len(ys)-1], s.Min(), s.Max())
	}
	for i := 1; i < len(xs); i++ {
		if xs[i] <= xs[i-1] || ys[i] < ys[i-1] {
			t.Fatalf("point %d (%g, %g) after (%g, %g): not rising", i, xs[i], ys[i], xs[i-1], ys[i-1])
		}
	}
	for _, c := range []struct {
		i int
		q float64
	}{{20, 90}, {40, 99}, {60, 99.9}, {80, 99.99}} {
		if math.Abs(xs[c.i]-float64(c.i)*plotXStep) > 1e-9 || ys[c.i] != float64(s.Percentile(c.q)) {
			t.Errorf("point %d: (%g, %g), want (%g, p%g = %d)", c.i, xs[c.i], ys[c.i], float64(c.i)*plotXStep, c.q, s.Percentile(c.q))
		}
	}
	// Beyond 1/(1−q) = 10^6 the axis ends.
	h2 := stats.NewHistogram(stats.HistogramConfig{})
	for i := range 2_000_000 {
		h2.Record(int64(i % 5000))
	}
	if xs, _ := percentileCurve(h2.Snapshot()); xs[len(xs)-1] != plotMaxX {
		t.Errorf("2e6 samples end at x = %g, want %g", xs[len(xs)-1], plotMaxX)
	}
}

func TestPlotAxes(t *testing.T) {
	for _, c := range []struct{ lo, hi, wantLo, wantHi float64 }{
		{1600, 84e6, 1000, 1e8}, {4200, 1.4e6, 2000, 2e6}, {3, 3, 2, 5}, {0, 0, 1, 2}, {5000, 5000, 5000, 10000},
	} {
		if lo, hi := logRange(c.lo, c.hi); lo != c.wantLo || hi != c.wantHi {
			t.Errorf("logRange(%g, %g) = %g, %g, want %g, %g", c.lo, c.hi, lo, hi, c.wantLo, c.wantHi)
		}
	}
	if got := logTicks(1000, 1e8); !slices.Equal(got, []float64{1e3, 1e4, 1e5, 1e6, 1e7, 1e8}) {
		t.Errorf("logTicks over five decades: %v, want the decades", got)
	}
	if got := logTicks(2000, 2e5); !slices.Equal(got, []float64{2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5}) {
		t.Errorf("logTicks over two decades: %v, want 1-2-5", got)
	}
	for _, c := range []struct{ hi, top, step float64 }{{13970, 15000, 5000}, {99, 100, 20}, {1, 1, 0.2}, {0, 1, 0.2}} {
		if top, step := linearTop(c.hi); math.Abs(top-c.top) > 1e-9 || math.Abs(step-c.step) > 1e-9 {
			t.Errorf("linearTop(%g) = %g, %g, want %g, %g", c.hi, top, step, c.top, c.step)
		}
	}
	for _, c := range []struct {
		got, want string
	}{
		{fmtNs(812), "812 ns"}, {fmtNs(3290), "3.29 µs"}, {fmtNs(1.63e6), "1.63 ms"}, {fmtNs(2.1e9), "2.10 s"},
		{fmtTickNs(2500), "2.5 µs"}, {fmtTickNs(1e9), "1 s"}, {fmtInt(1234567), "1\u202f234\u202f567"}, {fmtRate(13266.4), "13\u202f266/s"},
		{fmtPercent(0.4317), "43.2 %"}, {fmtPercent(0.0004), "0.04 %"}, {fmtRatio(2, 1, false), "×2.00"}, {fmtRatio(1, 0, true), "—"},
		{fmtBytes(38 << 20), "38.0 MiB"}, {fmtCompact(12500), "12.5k"}, {fmtUnit(38.2e6, "ns"), "38.2 ms"}, {fmtUnit(13400, "exec/s"), "13\u202f400 exec/s"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

// A report read back from its JSON plots the same as the one written:
// the histogram survives base64 in the file.
func TestReportHistogramRoundTrip(t *testing.T) {
	r := fixtures()[3].report(0)
	var b bytes.Buffer
	if err := r.WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), base64.StdEncoding.EncodeToString(r.Runs[0].Histogram)) {
		t.Fatal("the histogram is not base64 in the file")
	}
	p := filepath.Join(t.TempDir(), "r.json")
	os.WriteFile(p, b.Bytes(), 0o644)
	files, err := ReadReportFiles([]string{p})
	if err != nil {
		t.Fatal(err)
	}
	a, c := renderHTML(t, []ReportFile{{Path: p, Report: r}}), renderHTML(t, files)
	if a != c {
		t.Error("the page of the report read back differs from the page of the report written")
	}
}
