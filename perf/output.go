package perf

import (
	"fmt"
	"io"
	"sort"
	"strings"
	"time"
)

// WriteBench prints one benchstat line per repetition (see
// Result.WriteBench for the line).
func (r *Report) WriteBench(w io.Writer) {
	for i := range r.Runs {
		benchLine(w, r.Name, &r.Runs[i])
	}
}

func benchLine(w io.Writer, name string, rep *Repetition) {
	if rep.OK == 0 {
		fmt.Fprintf(w, "# Benchmark%s: no successful request (%d errors): no result\n", name, rep.Errors)
		return
	}
	nsPerOp := float64(rep.Window.Nanoseconds()) / float64(rep.OK)
	l := rep.Latency
	fmt.Fprintf(w, "Benchmark%s\t%d\t%.1f ns/op\t%.0f exec/s\t%d p50-ns\t%d p99-ns\t%d p99.9-ns\t%d p99.99-ns\t%d max-ns\t%d errors\n",
		name, rep.OK, nsPerOp, rep.Throughput, l.P50, l.P99, l.P999, l.P9999, l.Max, rep.Errors)
}

// ErrorRate is errors / (ok + errors), 0 for an empty run.
func (rep *Repetition) ErrorRate() float64 {
	if n := rep.OK + rep.Errors; n > 0 {
		return float64(rep.Errors) / float64(n)
	}
	return 0
}

// WriteTable prints the report for a reader: per run the load, the
// requests and their outcome, the throughput and its window, the latency
// percentiles, the errors by category with an example each, and the
// mix; then the server's CPU and memory, its stages, the machine and the
// software. Every line but the first of each run is indented, so that no
// line reads as a benchstat configuration line when the table and the
// benchmark lines share a file.
func (r *Report) WriteTable(w io.Writer) {
	wl := &r.Workload
	for i := range r.Runs {
		rep := &r.Runs[i]
		fmt.Fprintf(w, "%s  run %d of %d\n", r.Name, i+1, len(r.Runs))
		fmt.Fprintf(w, "  load      %s\n", describeLoad(wl))
		if len(wl.Config) > 0 {
			keys := make([]string, 0, len(wl.Config))
			for k := range wl.Config {
				keys = append(keys, k)
			}
			sort.Strings(keys)
			for j, k := range keys {
				keys[j] = k + "=" + wl.Config[k]
			}
			fmt.Fprintf(w, "  config    %s\n", strings.Join(keys, " "))
		}
		fmt.Fprintf(w, "  requests  sent %d, ok %d, errors %d", rep.Sent, rep.OK, rep.Errors)
		if rep.Timeouts > 0 {
			fmt.Fprintf(w, " (timeouts %d", rep.Timeouts)
			if rep.NotSent > 0 {
				fmt.Fprintf(w, ", of which never sent %d", rep.NotSent)
			}
			fmt.Fprint(w, ")")
		}
		fmt.Fprintf(w, ", error rate %s\n", percent(rep.ErrorRate()))
		if rep.OK == 0 {
			fmt.Fprintf(w, "  rate      none: no request succeeded in the %s phase\n", FormatDuration(int64(rep.Elapsed)))
		} else {
			fmt.Fprintf(w, "  rate      %.0f exec/s over %s", rep.Throughput, FormatDuration(int64(rep.Window)))
			if gap := rep.Elapsed - rep.Window; gap > rep.Elapsed/100 {
				fmt.Fprintf(w, ": the last OK answer came %s before the end of the %s phase", FormatDuration(int64(gap)), FormatDuration(int64(rep.Elapsed)))
			}
			fmt.Fprintln(w)
			l := rep.Latency
			fmt.Fprintf(w, "  latency   min %s  p50 %s  p90 %s  p99 %s  p99.9 %s  p99.99 %s  max %s  mean %s  (±%s", FormatDuration(l.Min),
				FormatDuration(l.P50), FormatDuration(l.P90), FormatDuration(l.P99), FormatDuration(l.P999), FormatDuration(l.P9999),
				FormatDuration(l.Max), FormatDuration(int64(l.Mean)), percent(l.ErrorBound))
			if wl.Loop == "open" {
				fmt.Fprint(w, "; from each request's due time")
			}
			fmt.Fprintln(w, ")")
		}
		label := "errors"
		for _, c := range sortedByCount(rep.ByCategory) {
			fmt.Fprintf(w, "  %-9s %s %d", label, c, rep.ByCategory[c])
			if ex := rep.ErrorExamples[c]; ex != "" {
				fmt.Fprintf(w, ": %s", oneLine(ex, 200))
			}
			fmt.Fprintln(w)
			label = ""
		}
		if len(rep.PerMix) > 1 {
			label = "mix"
			for _, m := range wl.Mix {
				mr, ok := rep.PerMix[m.Name]
				if !ok {
					continue
				}
				fmt.Fprintf(w, "  %-9s %-10s ok %d  errors %d", label, m.Name, mr.OK, mr.Errors)
				if mr.OK > 0 {
					fmt.Fprintf(w, "  p50 %s  p99 %s  max %s", FormatDuration(mr.Latency.P50), FormatDuration(mr.Latency.P99), FormatDuration(mr.Latency.Max))
				}
				fmt.Fprintln(w)
				label = ""
			}
		}
	}
	if r.Server != nil {
		writeServer(w, r.Server)
	}
	e := &r.Environment
	fmt.Fprintf(w, "  machine   %s/%s, %d CPUs (GOMAXPROCS %d)", e.OS, e.Arch, e.CPUs, e.GOMAXPROCS)
	if e.CPUModel != "" {
		fmt.Fprintf(w, ", %s", e.CPUModel)
	}
	if e.MemBytes > 0 {
		fmt.Fprintf(w, ", %s", bytesIEC(int64(e.MemBytes)))
	}
	if e.Kernel != "" {
		fmt.Fprintf(w, ", kernel %s", e.Kernel)
	}
	fmt.Fprintf(w, ", load %.2f %.2f %.2f", e.LoadAvg[0], e.LoadAvg[1], e.LoadAvg[2])
	if e.Storage != "" {
		fmt.Fprintf(w, ", storage %s", e.Storage)
	}
	fmt.Fprintf(w, "\n  software  %s, fcload %s", e.GoVersion, e.Version)
	if e.Revision != "" {
		rev := e.Revision
		if len(rev) > 12 {
			rev = rev[:12]
		}
		fmt.Fprintf(w, " (revision %s", rev)
		if e.Modified {
			fmt.Fprint(w, ", modified")
		}
		fmt.Fprint(w, ")")
	}
	fmt.Fprintln(w)
	if r.Failure != "" {
		fmt.Fprintf(w, "  FAILED    %s\n", r.Failure)
	}
}

func writeServer(w io.Writer, s *Server) {
	fmt.Fprint(w, "  server    ")
	var who []string
	if s.PID != 0 {
		who = append(who, fmt.Sprintf("pid %d", s.PID))
	}
	if s.Version != "" {
		who = append(who, "version "+s.Version)
	}
	if s.Address != "" {
		who = append(who, s.Address)
	}
	if len(who) > 0 {
		fmt.Fprint(w, strings.Join(who, ", ")+": ")
	}
	switch s.ResourceScope {
	case "unknown", "":
		fmt.Fprintf(w, "cpu and memory unknown")
		if s.ResourceNote != "" {
			fmt.Fprintf(w, " (%s)", s.ResourceNote)
		}
	default:
		fmt.Fprintf(w, "cpu %.2f s", s.CPUSeconds)
		if s.CPUPerRequest > 0 {
			fmt.Fprintf(w, ", %s per OK request", FormatDuration(int64(s.CPUPerRequest)))
		}
		fmt.Fprintf(w, "; rss %s → %s", bytesIEC(s.RSSStartBytes), bytesIEC(s.RSSEndBytes))
		if s.RSSPeakBytes > 0 {
			fmt.Fprintf(w, ", peak %s", bytesIEC(s.RSSPeakBytes))
		}
		if s.ResourceScope == "self" {
			fmt.Fprint(w, " (this process: the runtime and the load generator)")
		}
	}
	fmt.Fprintln(w)
	if len(s.Stages) == 0 {
		if s.StagesNote != "" {
			fmt.Fprintf(w, "  stages    unknown: %s\n", s.StagesNote)
		}
		return
	}
	scope := "over the measured phases"
	if s.StagesScope == "since_start" {
		scope = "since the server started (its /v1/stats at the end)"
	}
	fmt.Fprintf(w, "  stages    %s\n", scope)
	names := make([]string, 0, len(s.Stages))
	width := 0
	for n := range s.Stages {
		names = append(names, n)
		width = max(width, len(n))
	}
	sort.Strings(names)
	for _, n := range names {
		st := s.Stages[n]
		fmt.Fprintf(w, "            %-*s  count %-9d p50 %-9s p99 %-9s p99.9 %-9s max %s\n", width, n, st.Count,
			FormatDuration(st.P50), FormatDuration(st.P99), FormatDuration(st.P999), FormatDuration(st.Max))
	}
}

func describeLoad(wl *Workload) string {
	var b strings.Builder
	if wl.Loop == "open" {
		fmt.Fprintf(&b, "open loop at %.0f/s, at most %d outstanding", wl.Rate, wl.Workers)
	} else {
		fmt.Fprintf(&b, "closed loop, %d in flight", wl.Workers)
	}
	switch {
	case wl.Conns == 1:
		fmt.Fprint(&b, " over 1 connection")
	case wl.Conns > 1:
		fmt.Fprintf(&b, " over %d connections", wl.Conns)
	}
	if wl.Count > 0 {
		fmt.Fprintf(&b, ", %d requests (at most %s)", wl.Count, FormatDuration(int64(wl.Duration)))
	} else {
		fmt.Fprintf(&b, ", %s", FormatDuration(int64(wl.Duration)))
	}
	if wl.Warmup > 0 {
		fmt.Fprintf(&b, " after a %s warm-up", FormatDuration(int64(wl.Warmup)))
	}
	if wl.Timeout > 0 {
		fmt.Fprintf(&b, ", timeout %s", FormatDuration(int64(wl.Timeout)))
	}
	parts := make([]string, len(wl.Mix))
	for i, m := range wl.Mix {
		parts[i] = fmt.Sprintf("%s=%d", m.Name, m.Weight)
	}
	fmt.Fprintf(&b, "; mix %s; %s over %s", strings.Join(parts, ","), wl.Target, wl.Transport)
	return b.String()
}

// FormatProgress is the live progress line for one interval: the OK
// answers per second, the interval's p99, and the errors so far.
func FormatProgress(iv Interval, errorsSoFar int64) string {
	p99 := "-"
	if iv.OK > 0 {
		p99 = FormatDuration(iv.P99)
	}
	return fmt.Sprintf("fcload %4ds  %9d ok/s  p99 %-9s  errors %d", int64((iv.At+time.Second)/time.Second), iv.OK, p99, errorsSoFar)
}

// FormatDuration prints ns with three or four significant figures.
func FormatDuration(ns int64) string {
	d := float64(ns)
	switch {
	case ns < 1000:
		return fmt.Sprintf("%dns", ns)
	case ns < int64(time.Millisecond):
		return fmt.Sprintf("%.1fµs", d/1e3)
	case ns < int64(time.Second):
		return fmt.Sprintf("%.2fms", d/1e6)
	}
	return fmt.Sprintf("%.3fs", d/1e9)
}

func percent(f float64) string {
	switch {
	case f == 0:
		return "0%"
	case f < 0.0001:
		return fmt.Sprintf("%.4f%%", f*100)
	case f < 0.01:
		return fmt.Sprintf("%.3f%%", f*100)
	}
	return fmt.Sprintf("%.1f%%", f*100)
}

func bytesIEC(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

func sortedByCount(m map[string]int64) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool {
		if m[keys[i]] != m[keys[j]] {
			return m[keys[i]] > m[keys[j]]
		}
		return keys[i] < keys[j]
	})
	return keys
}

func oneLine(s string, n int) string {
	s = strings.Join(strings.Fields(s), " ")
	if len(s) > n {
		s = s[:n] + "…"
	}
	return s
}
