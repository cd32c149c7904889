package perf

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Comparison of two reports (fcload compare): every metric of every
// repetition on each side becomes a sample; each sample is summarised by
// its median and its noise (the largest distance of a repetition from the
// median, as a fraction of it: the ± benchstat prints), and the two
// samples are tested with a two-sided Mann–Whitney U test. The test makes
// no assumption about the distribution, which suits latency and
// throughput on a shared machine; its price is that it needs repetitions:
// with fewer than four a side no difference can reach α = 0.05 (three and
// three at best give p = 0.1), so a comparison with fewer says so instead
// of guessing.

// Figure is one figure a comparison reports for each repetition.
type Figure struct {
	Name string // throughput, p50, p90, p99, p99.9, max, cpu/req, errors
	Unit string // exec/s, ns, ns/req, count
	// HigherIsBetter says which direction of change is an improvement.
	HigherIsBetter bool
	// value returns the repetition's figure, or false when the report does
	// not have it (a server CPU figure of an in-process run).
	value func(r *Report, rep *Repetition) (float64, bool)
}

// Figures are the figures Compare reports, in this order.
var Figures = []Figure{
	{Name: "throughput", Unit: "exec/s", HigherIsBetter: true, value: func(_ *Report, rep *Repetition) (float64, bool) {
		return rep.Throughput, true
	}},
	latencyFigure("p50", func(rep *Repetition) int64 { return rep.Latency.P50 }),
	latencyFigure("p90", func(rep *Repetition) int64 { return rep.Latency.P90 }),
	latencyFigure("p99", func(rep *Repetition) int64 { return rep.Latency.P99 }),
	latencyFigure("p99.9", func(rep *Repetition) int64 { return rep.Latency.P999 }),
	latencyFigure("max", func(rep *Repetition) int64 { return rep.Latency.Max }),
	{Name: "cpu/req", Unit: "ns/req", value: cpuPerRequest},
	{Name: "errors", Unit: "count", value: func(_ *Report, rep *Repetition) (float64, bool) {
		return float64(rep.Errors), true
	}},
}

func latencyFigure(name string, get func(*Repetition) int64) Figure {
	return Figure{Name: name, Unit: "ns", value: func(_ *Report, rep *Repetition) (float64, bool) {
		// Nothing succeeded: no latency to compare; a zero figure of a run
		// that had successes was not measured (a report converted from
		// benchstat lines has no p90).
		v := get(rep)
		return float64(v), v > 0 && (rep.OK > 0 || rep.Latency.Count > 0)
	}}
}

// cpuPerRequest is the server's CPU time per successful request: the
// repetition's own share when it has one, else the report's figure over
// all repetitions.
func cpuPerRequest(r *Report, rep *Repetition) (float64, bool) {
	if rep.ServerCPUSeconds > 0 && rep.OK > 0 {
		return rep.ServerCPUSeconds * 1e9 / float64(rep.OK), true
	}
	if r.Server != nil && r.Server.CPUPerRequest > 0 {
		return r.Server.CPUPerRequest, true
	}
	return 0, false
}

// Values returns the metric's figure for every repetition of r that has
// it.
func (m Figure) Values(r *Report) []float64 {
	var v []float64
	for i := range r.Runs {
		if x, ok := m.value(r, &r.Runs[i]); ok && !math.IsNaN(x) {
			v = append(v, x)
		}
	}
	return v
}

// CompareConfig tunes Compare. The zero value is usable.
type CompareConfig struct {
	// Alpha is the significance level of the two-sided test. If zero,
	// defaults to 0.05.
	Alpha float64
	// MinRuns is the repetitions each side needs before a difference is
	// tested. If zero, defaults to 4 (the fewest with which the test can
	// reach 0.05); clamped to at least 2.
	MinRuns int
}

func (c CompareConfig) withDefaults() CompareConfig {
	if c.Alpha <= 0 {
		c.Alpha = 0.05
	}
	if c.MinRuns == 0 {
		c.MinRuns = 4
	}
	c.MinRuns = max(c.MinRuns, 2)
	return c
}

// Delta is one metric compared between two reports.
type Delta struct {
	Figure   Figure
	Old, New []float64 // the repetitions' values, sorted
	// OldMedian, NewMedian and their noise: the largest distance of a
	// value from the median, as a fraction of the median (0 when the
	// median is 0).
	OldMedian, NewMedian float64
	OldNoise, NewNoise   float64
	// Change is (NewMedian − OldMedian) / OldMedian: +0.10 is 10 % more.
	// +Inf when only the new side is non-zero; 0 when both are zero.
	Change float64
	// P is the two-sided Mann–Whitney U p-value; NaN when the samples
	// were too small to test (Tested false).
	P      float64
	Tested bool
	// Significant: tested and P < Alpha.
	Significant bool
	// Worse: the change is in the metric's bad direction (less
	// throughput, more latency, CPU or errors), whether or not it is
	// significant.
	Worse bool
}

// Regression reports whether d is a significant change for the worse by
// more than pct percent.
func (d Delta) Regression(pct float64) bool {
	return d.Significant && d.Worse && math.Abs(d.Change)*100 > pct
}

// Compare compares every metric both reports have.
func Compare(old, new *Report, cfg CompareConfig) []Delta {
	cfg = cfg.withDefaults()
	var ds []Delta
	for _, m := range Figures {
		a, b := m.Values(old), m.Values(new)
		if len(a) == 0 || len(b) == 0 {
			continue
		}
		ds = append(ds, compareSamples(m, a, b, cfg))
	}
	return ds
}

func compareSamples(m Figure, a, b []float64, cfg CompareConfig) Delta {
	a, b = slices.Clone(a), slices.Clone(b)
	slices.Sort(a)
	slices.Sort(b)
	d := Delta{Figure: m, Old: a, New: b, P: math.NaN()}
	d.OldMedian, d.OldNoise = medianNoise(a)
	d.NewMedian, d.NewNoise = medianNoise(b)
	switch {
	case d.OldMedian == d.NewMedian:
		d.Change = 0
	case d.OldMedian == 0:
		d.Change = math.Inf(1)
		if d.NewMedian < 0 {
			d.Change = math.Inf(-1)
		}
	default:
		d.Change = (d.NewMedian - d.OldMedian) / math.Abs(d.OldMedian)
	}
	if m.HigherIsBetter {
		d.Worse = d.Change < 0
	} else {
		d.Worse = d.Change > 0
	}
	if len(a) >= cfg.MinRuns && len(b) >= cfg.MinRuns {
		_, d.P = MannWhitneyU(a, b)
		d.Tested = true
		d.Significant = d.P < cfg.Alpha
	}
	return d
}

// medianNoise returns the median of sorted values and the largest
// distance of a value from it, as a fraction of the median.
func medianNoise(sorted []float64) (median, noise float64) {
	n := len(sorted)
	if n == 0 {
		return math.NaN(), math.NaN()
	}
	if n%2 == 1 {
		median = sorted[n/2]
	} else {
		median = (sorted[n/2-1] + sorted[n/2]) / 2
	}
	if median == 0 {
		return 0, 0
	}
	dev := max(math.Abs(sorted[n-1]-median), math.Abs(median-sorted[0]))
	return median, dev / math.Abs(median)
}

// exactLimit bounds the number of rank arrangements MannWhitneyU
// enumerates for an exact p-value (C(20,10) = 184,756 fits; it takes a
// few milliseconds). Larger samples use the normal approximation.
const exactLimit = 200_000

// MannWhitneyU returns the Mann–Whitney U statistic of x against y (the
// number of pairs (xi, yj) with xi > yj, ties counting one half) and the
// two-sided p-value of the hypothesis that both come from the same
// distribution. For small samples the p-value is exact: the share of all
// C(n+m, n) ways of splitting the pooled ranks (mid-ranks for ties) into
// groups of n and m whose U is at least as far from nm/2 as the observed
// one. For larger samples it is the normal approximation with the tie
// correction and a continuity correction. Empty samples give p = 1.
func MannWhitneyU(x, y []float64) (u, p float64) {
	n, m := len(x), len(y)
	if n == 0 || m == 0 {
		return 0, 1
	}
	// Pooled mid-ranks, doubled so that they are integers.
	type obs struct {
		v   float64
		grp int
	}
	all := make([]obs, 0, n+m)
	for _, v := range x {
		all = append(all, obs{v, 0})
	}
	for _, v := range y {
		all = append(all, obs{v, 1})
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].v < all[j].v })
	rank2 := make([]int64, len(all)) // 2 × mid-rank
	var tieTerm float64              // Σ (t³ − t) over tie groups
	for i := 0; i < len(all); {
		j := i
		for j < len(all) && all[j].v == all[i].v {
			j++
		}
		for k := i; k < j; k++ {
			rank2[k] = int64(i + 1 + j) // (i+1 + j) / 2 × 2
		}
		t := float64(j - i)
		tieTerm += t*t*t - t
		i = j
	}
	var r2x int64 // 2 × rank sum of x
	for k, o := range all {
		if o.grp == 0 {
			r2x += rank2[k]
		}
	}
	// 2U = 2R − n(n+1)
	u2 := r2x - int64(n*(n+1))
	u = float64(u2) / 2
	nm := int64(n) * int64(m)
	if c, ok := binomial(n+m, n); ok && c <= exactLimit {
		return u, exactP(rank2, n, u2, nm)
	}
	// Normal approximation.
	N := float64(n + m)
	mean := float64(nm) / 2
	variance := float64(nm) / 12 * ((N + 1) - tieTerm/(N*(N-1)))
	if variance <= 0 {
		return u, 1 // every value equal
	}
	z := math.Abs(u-mean) - 0.5
	if z < 0 {
		z = 0
	}
	z /= math.Sqrt(variance)
	return u, math.Min(1, math.Erfc(z/math.Sqrt2))
}

// exactP enumerates every choice of n of the pooled (doubled) ranks and
// returns the share whose doubled U is at least as far from nm (the
// doubled mean) as u2.
func exactP(rank2 []int64, n int, u2, nm int64) float64 {
	dist := abs64(u2 - nm)
	base := int64(n * (n + 1))
	var hits, total int64
	var walk func(start, left int, sum int64)
	walk = func(start, left int, sum int64) {
		if left == 0 {
			total++
			if abs64(sum-base-nm) >= dist {
				hits++
			}
			return
		}
		for i := start; i <= len(rank2)-left; i++ {
			walk(i+1, left-1, sum+rank2[i])
		}
	}
	walk(0, n, 0)
	return float64(hits) / float64(total)
}

func abs64(v int64) int64 {
	if v < 0 {
		return -v
	}
	return v
}

// binomial returns C(n, k), or false when it exceeds int64.
func binomial(n, k int) (int64, bool) {
	if k < 0 || k > n {
		return 0, true
	}
	k = min(k, n-k)
	var c int64 = 1
	for i := 1; i <= k; i++ {
		// c × (n−k+i) / i stays exact: c is C(n−k+i−1, i−1).
		f := int64(n - k + i)
		if c > math.MaxInt64/f {
			return 0, false
		}
		c = c * f / int64(i)
	}
	return c, true
}

// MergeReports folds reports of one benchmark (separate invocations, as
// an alternating A/B run makes them) into one whose Runs are all of
// theirs in order; the first report's environment, workload and server
// are kept, and the server's CPU figures are summed over all of them. It
// refuses reports of different names.
func MergeReports(rs []*Report) (*Report, error) {
	if len(rs) == 0 {
		return nil, fmt.Errorf("perf: no report to merge")
	}
	out := *rs[0]
	out.Runs = slices.Clone(rs[0].Runs)
	if rs[0].Server != nil {
		s := *rs[0].Server
		out.Server = &s
	}
	for _, r := range rs[1:] {
		if r.Name != out.Name {
			return nil, fmt.Errorf("perf: merge %q with %q: not the same benchmark", out.Name, r.Name)
		}
		out.Runs = append(out.Runs, r.Runs...)
		if r.Started.Before(out.Started) {
			out.Started = r.Started
		}
		if r.Server != nil && out.Server != nil {
			out.Server.CPUSeconds += r.Server.CPUSeconds
			out.Server.RSSPeakBytes = max(out.Server.RSSPeakBytes, r.Server.RSSPeakBytes)
			out.Server.RSSEndBytes = r.Server.RSSEndBytes
		}
	}
	if out.Server != nil && len(rs) > 1 {
		var ok int64
		for _, rep := range out.Runs {
			ok += rep.OK
		}
		if ok > 0 && out.Server.CPUSeconds > 0 {
			out.Server.CPUPerRequest = out.Server.CPUSeconds * 1e9 / float64(ok)
		}
	}
	return &out, nil
}
