package perf

import (
	"math"
	"math/rand/v2"
	"testing"
)

func near(a, b, tol float64) bool { return math.Abs(a-b) <= tol }

// Known exact two-sided p-values: completely separated samples of n and
// n give 2 / C(2n, n); the last is the example of R's wilcox.test
// documentation (W = 35, one-sided p = 0.1272, so two-sided 0.2544).
func TestMannWhitneyUKnownValues(t *testing.T) {
	cases := []struct {
		name string
		x, y []float64
		u, p float64
	}{
		{"3+3 separated", []float64{1, 2, 3}, []float64{4, 5, 6}, 0, 2.0 / 20},
		{"4+4 separated", []float64{1, 2, 3, 4}, []float64{5, 6, 7, 8}, 0, 2.0 / 70},
		{"5+5 separated", []float64{10, 11, 12, 13, 14}, []float64{1, 2, 3, 4, 5}, 25, 2.0 / 252},
		{"R wilcox.test example",
			[]float64{0.80, 0.83, 1.89, 1.04, 1.45, 1.38, 1.91, 1.64, 0.73, 1.46},
			[]float64{1.15, 0.88, 0.90, 0.74, 1.21}, 35, 0.2544},
		{"identical", []float64{7, 7, 7, 7}, []float64{7, 7, 7, 7}, 8, 1},
		{"one element each", []float64{1}, []float64{2}, 0, 1},
		{"empty", nil, []float64{1, 2}, 0, 1},
	}
	for _, c := range cases {
		u, p := MannWhitneyU(c.x, c.y)
		if u != c.u || !near(p, c.p, 5e-5) {
			t.Errorf("%s: U, p = %v, %.5f; want %v, %.5f", c.name, u, p, c.u, c.p)
		}
	}
}

// With ties the exact p-value is the permutation distribution of the
// mid-rank statistic: {1,2,2,3} against {2,3,3,4} has U = 3 (pairs below
// counted by hand) and 20 of the 70 splits lie as far from 8 or further
// (counted by the brute force below, which shares no code with
// MannWhitneyU).
func TestMannWhitneyUTies(t *testing.T) {
	x, y := []float64{1, 2, 2, 3}, []float64{2, 3, 3, 4}
	u, p := MannWhitneyU(x, y)
	if u != 3 {
		t.Fatalf("U = %v, want 3", u)
	}
	if want := bruteForceP(x, y); !near(p, want, 1e-12) {
		t.Fatalf("p = %v, brute force %v", p, want)
	}
}

// bruteForceP is the two-sided permutation p-value of U computed the
// slow way: every split of the pooled values, U counted pair by pair.
func bruteForceP(x, y []float64) float64 {
	pool := append(append([]float64(nil), x...), y...)
	n, N := len(x), len(x)+len(y)
	countU := func(a, b []float64) float64 {
		var u float64
		for _, ai := range a {
			for _, bj := range b {
				switch {
				case ai > bj:
					u++
				case ai == bj:
					u += 0.5
				}
			}
		}
		return u
	}
	mean := float64(len(x)*len(y)) / 2
	obs := math.Abs(countU(x, y) - mean)
	var hits, total int
	for mask := 0; mask < 1<<N; mask++ {
		if popcount(mask) != n {
			continue
		}
		var a, b []float64
		for i, v := range pool {
			if mask&(1<<i) != 0 {
				a = append(a, v)
			} else {
				b = append(b, v)
			}
		}
		total++
		if math.Abs(countU(a, b)-mean) >= obs-1e-9 {
			hits++
		}
	}
	return float64(hits) / float64(total)
}

func popcount(v int) int {
	c := 0
	for ; v != 0; v &= v - 1 {
		c++
	}
	return c
}

// The exact p-value against the brute force on random small samples,
// with and without ties, and symmetry: swapping the samples keeps p and
// turns U into nm − U.
func TestMannWhitneyUAgainstBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 200 {
		n, m := 1+rng.IntN(6), 1+rng.IntN(6)
		levels := 1000
		if i%2 == 0 {
			levels = 4 // many ties
		}
		x, y := make([]float64, n), make([]float64, m)
		for k := range x {
			x[k] = float64(rng.IntN(levels))
		}
		for k := range y {
			y[k] = float64(rng.IntN(levels) + rng.IntN(2))
		}
		u, p := MannWhitneyU(x, y)
		if want := bruteForceP(x, y); !near(p, want, 1e-12) {
			t.Fatalf("x=%v y=%v: p = %v, brute force %v", x, y, p, want)
		}
		u2, p2 := MannWhitneyU(y, x)
		if u+u2 != float64(n*m) || !near(p, p2, 1e-12) {
			t.Fatalf("x=%v y=%v: swapped gives U %v+%v (want sum %d), p %v vs %v", x, y, u, u2, n*m, p, p2)
		}
	}
}

// Past the exact limit the normal approximation is used: z = (|U − nm/2|
// − ½) / σ, p = erfc(z/√2). Without ties, x = 1..15 against y = 6.5..20.5:
// U = 45 (9+8+…+1), σ² = nm(N+1)/12 = 581.25, z = 2.7790, p = 0.005452
// (the exact p is 0.004266). With ties, x = ⌊i/2⌋ against ⌊i/2⌋+3 for
// i = 1..15, σ² = nm/12 · ((N+1) − Σ(t³−t)/(N(N−1))) = 574.91: U = 41,
// z = 2.9611, p = 0.003065 (the exact p with ties is 0.002122).
func TestMannWhitneyUNormalApproximation(t *testing.T) {
	var x, y, tx, ty []float64
	for i := 1; i <= 15; i++ {
		x = append(x, float64(i))
		y = append(y, float64(i)+5.5)
		tx = append(tx, float64(i/2))
		ty = append(ty, float64(i/2+3))
	}
	if u, p := MannWhitneyU(x, y); u != 45 || !near(p, 0.005452, 1e-6) {
		t.Errorf("no ties: U, p = %v, %.6f; want 45, 0.005452", u, p)
	}
	if u, p := MannWhitneyU(tx, ty); u != 41 || !near(p, 0.003065, 1e-6) {
		t.Errorf("ties: U, p = %v, %.6f; want 41, 0.003065", u, p)
	}
	// Identical samples far past the limit: p = 1, not NaN.
	if _, p := MannWhitneyU(make([]float64, 30), make([]float64, 30)); p != 1 {
		t.Fatalf("identical large samples: p = %v, want 1", p)
	}
}

func TestBinomial(t *testing.T) {
	for _, c := range []struct {
		n, k int
		want int64
	}{{8, 4, 70}, {10, 5, 252}, {20, 10, 184756}, {15, 5, 3003}, {5, 0, 1}, {5, 6, 0}} {
		if got, ok := binomial(c.n, c.k); !ok || got != c.want {
			t.Errorf("C(%d,%d) = %d, %v; want %d", c.n, c.k, got, ok, c.want)
		}
	}
	if _, ok := binomial(200, 100); ok {
		t.Error("C(200,100) fits in int64?")
	}
}

func TestMedianNoise(t *testing.T) {
	m, n := medianNoise([]float64{90, 100, 100, 110, 130})
	if m != 100 || !near(n, 0.30, 1e-12) {
		t.Fatalf("median %v noise %v, want 100 and 0.30", m, n)
	}
	if m, n := medianNoise([]float64{1, 3}); m != 2 || !near(n, 0.5, 1e-12) {
		t.Fatalf("even count: median %v noise %v, want 2 and 0.5", m, n)
	}
	if m, n := medianNoise([]float64{0, 0}); m != 0 || n != 0 {
		t.Fatalf("zeros: median %v noise %v", m, n)
	}
}

// report builds a report whose repetitions have these throughputs, p99s
// (µs) and error counts.
func report(name string, tput []float64, p99us []int64, errs []int64) *Report {
	r := &Report{Schema: ResultSchema, Name: name}
	for i := range tput {
		rep := Repetition{OK: 1000, Throughput: tput[i]}
		rep.Latency.Count = 1000
		rep.Latency.P99 = p99us[i] * 1000
		rep.Latency.P50 = p99us[i] * 100
		if errs != nil {
			rep.Errors = errs[i]
		}
		r.Runs = append(r.Runs, rep)
	}
	return r
}

func deltaOf(t *testing.T, ds []Delta, name string) Delta {
	t.Helper()
	for _, d := range ds {
		if d.Figure.Name == name {
			return d
		}
	}
	t.Fatalf("no %s in %d deltas", name, len(ds))
	return Delta{}
}

func TestCompare(t *testing.T) {
	old := report("A", []float64{100, 102, 98, 101, 99}, []int64{50, 52, 51, 49, 50}, []int64{0, 0, 0, 0, 0})
	slower := report("B", []float64{80, 81, 79, 82, 80}, []int64{70, 71, 69, 72, 70}, []int64{0, 2, 0, 1, 3})
	ds := Compare(old, slower, CompareConfig{})

	tp := deltaOf(t, ds, "throughput")
	if !tp.Tested || !tp.Significant || !tp.Worse || !near(tp.Change, -0.20, 1e-12) || !near(tp.P, 2.0/252, 1e-12) {
		t.Errorf("throughput: %+v", tp)
	}
	if !tp.Regression(10) || tp.Regression(25) {
		t.Errorf("throughput −20%%: Regression(10) %v, Regression(25) %v; want true, false", tp.Regression(10), tp.Regression(25))
	}
	if !near(tp.OldNoise, 0.02, 1e-12) {
		t.Errorf("throughput noise %v, want 0.02", tp.OldNoise)
	}
	p99 := deltaOf(t, ds, "p99")
	if !p99.Significant || !p99.Worse || !near(p99.Change, 0.4, 1e-12) {
		t.Errorf("p99: %+v", p99)
	}
	errs := deltaOf(t, ds, "errors")
	if !math.IsInf(errs.Change, 1) || !errs.Worse {
		t.Errorf("errors 0 → 1: %+v", errs)
	}
	// The reports have no p90 (zero): no such row.
	for _, d := range ds {
		if d.Figure.Name == "p90" {
			t.Errorf("p90 compared without figures: %+v", d)
		}
	}
	// No server CPU in either report: no such row.
	for _, d := range ds {
		if d.Figure.Name == "cpu/req" {
			t.Errorf("cpu/req compared without figures: %+v", d)
		}
	}

	// Improvements are not worse; the reverse comparison is.
	rev := deltaOf(t, Compare(slower, old, CompareConfig{}), "throughput")
	if rev.Worse || !rev.Significant || rev.Regression(0) {
		t.Errorf("reverse: %+v", rev)
	}

	// Three runs a side: not tested, never significant, never a regression.
	few := Compare(report("A", []float64{100, 101, 99}, []int64{1, 1, 1}, nil),
		report("B", []float64{10, 11, 9}, []int64{9, 9, 9}, nil), CompareConfig{})
	for _, d := range few {
		if d.Tested || d.Significant || !math.IsNaN(d.P) || d.Regression(0) {
			t.Errorf("%s with 3+3 runs: %+v", d.Figure.Name, d)
		}
	}
	// Overlapping samples: tested, not significant.
	same := deltaOf(t, Compare(old, report("C", []float64{101, 99, 100, 103, 97}, []int64{50, 50, 50, 50, 50}, nil), CompareConfig{}), "throughput")
	if !same.Tested || same.Significant {
		t.Errorf("overlapping: %+v", same)
	}
}

func TestCPUPerRequest(t *testing.T) {
	r := &Report{Runs: []Repetition{{OK: 1000, ServerCPUSeconds: 0.002}, {OK: 500}}, Server: &Server{CPUPerRequest: 3000}}
	v := Figures[6].Values(r)
	if Figures[6].Name != "cpu/req" || len(v) != 2 || v[0] != 2000 || v[1] != 3000 {
		t.Fatalf("cpu/req values %v, want [2000 3000]", v)
	}
}

func TestMergeReports(t *testing.T) {
	a := report("X", []float64{1, 2}, []int64{1, 1}, nil)
	a.Server = &Server{CPUSeconds: 1}
	b := report("X", []float64{3}, []int64{1}, nil)
	b.Server = &Server{CPUSeconds: 2}
	m, err := MergeReports([]*Report{a, b})
	if err != nil {
		t.Fatal(err)
	}
	if len(m.Runs) != 3 || m.Runs[2].Throughput != 3 || m.Server.CPUSeconds != 3 || m.Server.CPUPerRequest != 1e6 {
		t.Fatalf("merged: %d runs, server %+v", len(m.Runs), m.Server)
	}
	if len(a.Runs) != 2 || a.Server.CPUSeconds != 1 {
		t.Fatal("MergeReports modified its input")
	}
	if _, err := MergeReports([]*Report{a, report("Y", nil, nil, nil)}); err == nil {
		t.Fatal("merged reports of different names")
	}
}
