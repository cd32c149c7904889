package stats

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite testdata golden files")

// testRegistry builds a registry with every kind of metric and awkward label
// values.
func testRegistry() *Registry {
	r := NewRegistry()
	v := r.Histogram("femtoclaw_validate_seconds", "Protocol validation latency.")
	for _, ns := range []int64{80, 120, 300, 900, 1500, 4000, 12_000, 2_000_000} {
		v.Record(ns)
	}
	for _, c := range []string{"echo", "noop"} {
		h := r.Histogram("femtoclaw_capability_seconds", "Capability execution latency, per capability.", Label{"capability", c})
		h.Record(int64(len(c)) * int64(time.Microsecond))
	}
	r.Histogram("femtoclaw_commit_seconds", "Journal commit latency\n(durable).")
	r.HistogramFunc("femtoclaw_sync_seconds", "Syncs, bucketed elsewhere.", func() Buckets {
		return Buckets{Upper: []float64{1e-6, 2e-6, 0.5}, Counts: []uint64{1, 0, 5, 2}, Sum: 1.25}
	})
	r.Counter("femtoclaw_finished_total", "Finished runs by outcome.", Label{"outcome", "success"}).Add(41)
	r.Counter("femtoclaw_finished_total", "Finished runs by outcome.", Label{"outcome", "error"}).Inc()
	r.Counter("femtoclaw_decisions_total", `Decisions by code, with a \ in help.`,
		Label{"code", `weird "quoted" \ value` + "\nnewline"}, Label{"a_first", "x"}).Add(3)
	r.Gauge("femtoclaw_inflight_executions", "Executions in flight.").Set(-2)
	r.GaugeFunc("femtoclaw_goroutines", "Goroutines.", func() float64 { return 17 })
	r.GaugeFunc("femtoclaw_cpu_ratio", "Odd values.", func() float64 { return math.NaN() }, Label{"v", "nan"})
	r.GaugeFunc("femtoclaw_cpu_ratio", "Odd values.", func() float64 { return math.Inf(1) }, Label{"v", "inf"})
	r.GaugeFunc("femtoclaw_cpu_ratio", "Odd values.", func() float64 { return 0.25 }, Label{"v", "quarter"})
	return r
}

func TestWritePrometheusGolden(t *testing.T) {
	var buf bytes.Buffer
	if err := testRegistry().WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "metrics.golden")
	if *update {
		if err := os.WriteFile(golden, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test ./stats -run Golden -update to create it)", err)
	}
	if !bytes.Equal(buf.Bytes(), want) {
		t.Fatalf("output differs from %s (if intended, rerun with -update):\n%s", golden, buf.String())
	}
	// Deterministic: a second write is byte-identical.
	var again bytes.Buffer
	testRegistry().WritePrometheus(&again)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Fatal("output is not deterministic")
	}
}

// sample is one parsed exposition line.
type sample struct {
	name   string
	labels map[string]string
	value  float64
}

// parseExposition is a strict reader of the subset of text format 0.0.4
// that WritePrometheus emits. It checks structure as it goes.
func parseExposition(t *testing.T, text string) (types map[string]string, samples []sample) {
	t.Helper()
	types = map[string]string{}
	helps := map[string]bool{}
	var family string
	sc := bufio.NewScanner(strings.NewReader(text))
	for sc.Scan() {
		line := sc.Text()
		switch {
		case strings.HasPrefix(line, "# HELP "):
			name, _, _ := strings.Cut(strings.TrimPrefix(line, "# HELP "), " ")
			if helps[name] {
				t.Fatalf("HELP twice for %s", name)
			}
			helps[name] = true
			family = name
		case strings.HasPrefix(line, "# TYPE "):
			name, typ, _ := strings.Cut(strings.TrimPrefix(line, "# TYPE "), " ")
			if name != family || types[name] != "" {
				t.Fatalf("TYPE %s not right after its HELP, or twice", name)
			}
			types[name] = typ
		case line == "" || strings.HasPrefix(line, "#"):
			t.Fatalf("unexpected line %q", line)
		default:
			s := parseSample(t, line)
			base := s.name
			if types[family] == "histogram" {
				for _, suf := range []string{"_bucket", "_sum", "_count"} {
					if b, ok := strings.CutSuffix(s.name, suf); ok {
						base = b
					}
				}
			}
			if base != family {
				t.Fatalf("sample %s outside its family %s", s.name, family)
			}
			samples = append(samples, s)
		}
	}
	return types, samples
}

func parseSample(t *testing.T, line string) sample {
	t.Helper()
	s := sample{labels: map[string]string{}}
	i := strings.IndexAny(line, "{ ")
	s.name, line = line[:i], line[i:]
	if line[0] == '{' {
		line = line[1:]
		for line[0] != '}' {
			eq := strings.Index(line, `="`)
			name := line[:eq]
			line = line[eq+2:]
			var val strings.Builder
			for line[0] != '"' {
				if line[0] == '\\' {
					switch line[1] {
					case '\\':
						val.WriteByte('\\')
					case '"':
						val.WriteByte('"')
					case 'n':
						val.WriteByte('\n')
					default:
						t.Fatalf("bad escape in %q", line)
					}
					line = line[2:]
					continue
				}
				val.WriteByte(line[0])
				line = line[1:]
			}
			s.labels[name] = val.String()
			line = strings.TrimPrefix(line[1:], ",")
		}
		line = line[1:]
	}
	v, err := strconv.ParseFloat(strings.TrimPrefix(line, " "), 64)
	if err != nil || !strings.HasPrefix(line, " ") {
		t.Fatalf("bad value in %q: %v", line, err)
	}
	s.value = v
	return s
}

func TestWritePrometheusParsesBack(t *testing.T) {
	var buf bytes.Buffer
	testRegistry().WritePrometheus(&buf)
	types, samples := parseExposition(t, buf.String())
	if types["femtoclaw_validate_seconds"] != "histogram" || types["femtoclaw_finished_total"] != "counter" ||
		types["femtoclaw_goroutines"] != "gauge" {
		t.Fatalf("types: %v", types)
	}
	// Histograms: cumulative buckets never decrease, end with +Inf, and
	// _count equals the +Inf bucket.
	type series struct {
		lastLe  float64
		lastCum float64
		inf     float64
		count   float64
		sawInf  bool
	}
	hs := map[string]*series{}
	key := func(s sample) string {
		var parts []string
		for k, v := range s.labels {
			if k != "le" {
				parts = append(parts, k+"="+v)
			}
		}
		slices.Sort(parts)
		return strings.Join(parts, ",")
	}
	for _, s := range samples {
		base, ok := strings.CutSuffix(s.name, "_bucket")
		if ok {
			k := base + key(s)
			st := hs[k]
			if st == nil {
				st = &series{lastLe: math.Inf(-1)}
				hs[k] = st
			}
			le, err := strconv.ParseFloat(s.labels["le"], 64)
			if err != nil || le <= st.lastLe || s.value < st.lastCum {
				t.Fatalf("%s: le %q after %v, cum %v after %v", k, s.labels["le"], st.lastLe, s.value, st.lastCum)
			}
			st.lastLe, st.lastCum = le, s.value
			if math.IsInf(le, 1) {
				st.inf, st.sawInf = s.value, true
			}
		}
		if base, ok := strings.CutSuffix(s.name, "_count"); ok {
			hs[base+key(s)].count = s.value
		}
	}
	if len(hs) != 5 {
		t.Fatalf("%d histogram series, want 5", len(hs))
	}
	for k, st := range hs {
		if !st.sawInf || st.inf != st.count {
			t.Errorf("%s: +Inf bucket %v, _count %v", k, st.inf, st.count)
		}
	}
	// Label escaping round-trips.
	for _, s := range samples {
		if s.name == "femtoclaw_decisions_total" {
			if s.labels["code"] != `weird "quoted" \ value`+"\nnewline" || s.value != 3 {
				t.Errorf("escaped label read back as %q = %v", s.labels["code"], s.value)
			}
		}
	}
}

func TestPromtoolCheckMetrics(t *testing.T) {
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Skip("promtool not installed (apt-get install prometheus)")
	}
	var buf bytes.Buffer
	testRegistry().WritePrometheus(&buf)
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = &buf
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool check metrics: %v\n%s", err, out)
	}
}

func TestRegistryGetOrCreate(t *testing.T) {
	r := NewRegistry()
	a := r.Counter("x_total", "h", Label{"a", "1"}, Label{"b", "2"})
	b := r.Counter("x_total", "h", Label{"b", "2"}, Label{"a", "1"})
	if a != b {
		t.Fatal("same name and labels in another order gave a new counter")
	}
	if r.Counter("x_total", "h", Label{"a", "2"}, Label{"b", "2"}) == a {
		t.Fatal("other labels gave the same counter")
	}
	var seen []string
	r.Each(func(name string, labels []Label, m any) {
		if _, ok := m.(*Counter); !ok {
			t.Errorf("%s: %T", name, m)
		}
		seen = append(seen, fmt.Sprint(name, labels))
	})
	if want := []string{"x_total[{a 1} {b 2}]", "x_total[{a 2} {b 2}]"}; !slices.Equal(seen, want) {
		t.Errorf("Each: %v, want %v", seen, want)
	}
}

func TestRegistryMisusePanics(t *testing.T) {
	for name, fn := range map[string]func(r *Registry){
		"histogram suffix": func(r *Registry) { r.Histogram("x_ns", "h") },
		"counter suffix":   func(r *Registry) { r.Counter("x", "h") },
		"bad name":         func(r *Registry) { r.Gauge("9x", "h") },
		"bad label":        func(r *Registry) { r.Gauge("x", "h", Label{"a-b", "v"}) },
		"reserved label":   func(r *Registry) { r.Gauge("x", "h", Label{"__a", "v"}) },
		"le label":         func(r *Registry) { r.Histogram("x_seconds", "h", Label{"le", "v"}) },
		"duplicate label":  func(r *Registry) { r.Gauge("x", "h", Label{"a", "1"}, Label{"a", "2"}) },
		"kind conflict":    func(r *Registry) { r.Gauge("x_total", "h"); r.Counter("x_total", "h") },
		"help conflict":    func(r *Registry) { r.Gauge("x", "h"); r.Gauge("x", "other") },
		"gauge vs func":    func(r *Registry) { r.Gauge("x", "h"); r.GaugeFunc("x", "h", func() float64 { return 0 }) },
		"counter vs func": func(r *Registry) {
			r.Counter("x_total", "h")
			r.CounterFunc("x_total", "h", func() float64 { return 0 })
		},
		"counterfunc name": func(r *Registry) { r.CounterFunc("x", "h", func() float64 { return 0 }) },
		"histogram vs func": func(r *Registry) {
			r.Histogram("x_seconds", "h")
			r.HistogramFunc("x_seconds", "h", func() Buckets { return Buckets{} })
		},
		"histogramfunc name": func(r *Registry) { r.HistogramFunc("x", "h", func() Buckets { return Buckets{} }) },
		"histogramfunc le": func(r *Registry) {
			r.HistogramFunc("x_seconds", "h", func() Buckets { return Buckets{} }, Label{"le", "v"})
		},
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s: no panic", name)
				}
			}()
			fn(NewRegistry())
		}()
	}
}

func TestRegistryConcurrent(t *testing.T) {
	r := NewRegistry()
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 200 {
				r.Counter("c_total", "h", Label{"g", strconv.Itoa(i % 7)}).Inc()
				r.Histogram("h_seconds", "h").Record(int64(i * g))
				if i%50 == 0 {
					r.WritePrometheus(&bytes.Buffer{})
				}
			}
		})
	}
	wg.Wait()
	var total uint64
	r.Each(func(name string, _ []Label, m any) {
		if c, ok := m.(*Counter); ok {
			total += c.Load()
		}
	})
	if total != 800 {
		t.Fatalf("counted %d, want 800", total)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, os.ErrClosed }

func TestWritePrometheusError(t *testing.T) {
	if err := testRegistry().WritePrometheus(failWriter{}); err == nil {
		t.Fatal("write error not returned")
	}
}

func TestProcessMetrics(t *testing.T) {
	r := NewRegistry()
	RegisterProcessMetrics(r)
	RegisterProcessMetrics(r) // harmless twice
	got := map[string]float64{}
	r.Each(func(name string, _ []Label, m any) {
		got[name] = m.(func() float64)()
	})
	if got["go_goroutines"] < 1 || got["process_cpu_seconds_total"] <= 0 || got["go_gomaxprocs"] < 1 {
		t.Errorf("process metrics: %v", got)
	}
	if _, err := os.Stat("/proc/self/statm"); err == nil && (got["process_resident_memory_bytes"] <= 0 || got["process_open_fds"] < 1) {
		t.Errorf("process metrics from /proc: %v", got)
	}
	var buf bytes.Buffer
	if err := r.WritePrometheus(&buf); err != nil {
		t.Fatal(err)
	}
	types, _ := parseExposition(t, buf.String())
	if types["process_cpu_seconds_total"] != "counter" {
		t.Errorf("types: %v", types)
	}
	if promtool, err := exec.LookPath("promtool"); err == nil {
		cmd := exec.Command(promtool, "check", "metrics")
		cmd.Stdin = &buf
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("promtool: %v\n%s", err, out)
		}
	}
}
