package stats

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Label is one name="value" pair attached to a metric.
type Label struct{ Name, Value string }

// metric kinds, as named in the Prometheus TYPE line.
const (
	kindCounter   = "counter"
	kindGauge     = "gauge"
	kindHistogram = "histogram"
)

// Registry holds named metric families and writes them in the Prometheus
// text exposition format, version 0.0.4. It is safe for concurrent use:
// registering takes a mutex, recording into the returned metrics does not
// touch the registry at all.
//
// Registering is get-or-create: asking again for the same name and label
// set returns the same metric, so callers need not keep their own map.
// Registering a name with a different kind or help text, an invalid metric
// or label name, or a histogram name not ending in "_seconds" or a counter
// name not ending in "_total" is a programming error and panics, like
// regexp.MustCompile: metric names are constants fixed at build time.
// Label values may be anything; they are escaped on output.
type Registry struct {
	mu struct {
		sync.Mutex
		families map[string]*family
	}
}

type family struct {
	name, help, kind string
	metrics          map[string]*entry // by canonical label string
}

type entry struct {
	labels []Label // as given, and sorted by name
	key    string  // canonical rendering: {a="x",b="y"} or ""
	m      any     // *Counter, *Gauge, *Histogram, func() float64, counterFunc or func() Buckets
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	r := &Registry{}
	r.mu.families = make(map[string]*family)
	return r
}

// Histogram returns the latency histogram of the family name with labels,
// creating it with the default HistogramConfig. Values are recorded in ns
// and exposed in seconds; name must end in "_seconds" (by convention
// femtoclaw_<stage>_seconds) and no label may be called "le".
func (r *Registry) Histogram(name, help string, labels ...Label) *Histogram {
	if !strings.HasSuffix(name, "_seconds") {
		panic(fmt.Sprintf("stats: histogram %q: name must end in _seconds", name))
	}
	for _, l := range labels {
		if l.Name == "le" {
			panic(fmt.Sprintf("stats: histogram %q: label name le is reserved", name))
		}
	}
	return r.register(name, help, kindHistogram, labels, func() any {
		return NewHistogram(HistogramConfig{})
	}).(*Histogram)
}

// Counter returns the counter of the family name with labels, creating it at
// 0. name must end in "_total".
func (r *Registry) Counter(name, help string, labels ...Label) *Counter {
	if !strings.HasSuffix(name, "_total") {
		panic(fmt.Sprintf("stats: counter %q: name must end in _total", name))
	}
	return r.register(name, help, kindCounter, labels, func() any { return new(Counter) }).(*Counter)
}

// Gauge returns the gauge of the family name with labels, creating it at 0.
func (r *Registry) Gauge(name, help string, labels ...Label) *Gauge {
	return r.register(name, help, kindGauge, labels, func() any { return new(Gauge) }).(*Gauge)
}

// GaugeFunc registers a gauge whose value is fn(), called on every
// WritePrometheus and Each (from the caller's goroutine; fn must be safe
// for concurrent use and fast). Registering the same name and labels again
// replaces fn.
func (r *Registry) GaugeFunc(name, help string, fn func() float64, labels ...Label) {
	e := r.registerEntry(name, help, kindGauge, labels, func() any { return fn })
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := e.m.(func() float64); !ok {
		panic(fmt.Sprintf("stats: gauge %q%s registered both as Gauge and GaugeFunc", name, e.key))
	}
	e.m = fn
}

// CounterFunc registers a counter whose value is fn(), for totals kept
// elsewhere (CPU seconds, bytes written by the journal). fn is called like
// a GaugeFunc's and must never decrease. name must end in "_total".
// Registering the same name and labels again replaces fn.
func (r *Registry) CounterFunc(name, help string, fn func() float64, labels ...Label) {
	if !strings.HasSuffix(name, "_total") {
		panic(fmt.Sprintf("stats: counter %q: name must end in _total", name))
	}
	e := r.registerEntry(name, help, kindCounter, labels, func() any { return counterFunc(fn) })
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := e.m.(counterFunc); !ok {
		panic(fmt.Sprintf("stats: counter %q%s registered both as Counter and CounterFunc", name, e.key))
	}
	e.m = counterFunc(fn)
}

// counterFunc tells a CounterFunc's fn from a GaugeFunc's.
type counterFunc func() float64

// Buckets is a histogram kept elsewhere, in fixed buckets, as a
// HistogramFunc reports it (the journal's fsync histogram, for one).
// Counts[i] is the number of observations at or under Upper[i] and over
// the bound before it (per bucket, not cumulative); Counts[len(Upper)],
// if present, is the number over the last bound. Missing counts are
// zero; counts past that one are added to it.
type Buckets struct {
	Upper  []float64 // ascending upper bounds in seconds, without +Inf
	Counts []uint64  // per bucket; len(Upper)+1 with the open-ended one
	Sum    float64   // sum of the observations, in seconds
}

// HistogramFunc registers a histogram whose buckets are fn(), for
// latencies recorded elsewhere in buckets of their own. fn is called like
// a GaugeFunc's (on every WritePrometheus and Each, from the caller's
// goroutine) and its counts must never decrease. It is exposed with its
// own bounds plus +Inf, _sum and _count (the total of Counts). name must
// end in "_seconds" and no label may be called "le". Registering the same
// name and labels again replaces fn.
func (r *Registry) HistogramFunc(name, help string, fn func() Buckets, labels ...Label) {
	if !strings.HasSuffix(name, "_seconds") {
		panic(fmt.Sprintf("stats: histogram %q: name must end in _seconds", name))
	}
	for _, l := range labels {
		if l.Name == "le" {
			panic(fmt.Sprintf("stats: histogram %q: label name le is reserved", name))
		}
	}
	e := r.registerEntry(name, help, kindHistogram, labels, func() any { return fn })
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := e.m.(func() Buckets); !ok {
		panic(fmt.Sprintf("stats: histogram %q%s registered both as Histogram and HistogramFunc", name, e.key))
	}
	e.m = fn
}

func (r *Registry) register(name, help, kind string, labels []Label, create func() any) any {
	e := r.registerEntry(name, help, kind, labels, create)
	r.mu.Lock()
	defer r.mu.Unlock()
	return e.m
}

func (r *Registry) registerEntry(name, help, kind string, labels []Label, create func() any) *entry {
	if !validMetricName(name) {
		panic(fmt.Sprintf("stats: invalid metric name %q", name))
	}
	sorted := slices.Clone(labels)
	slices.SortFunc(sorted, func(a, b Label) int { return strings.Compare(a.Name, b.Name) })
	for i, l := range sorted {
		if !validLabelName(l.Name) {
			panic(fmt.Sprintf("stats: metric %q: invalid label name %q", name, l.Name))
		}
		if i > 0 && sorted[i-1].Name == l.Name {
			panic(fmt.Sprintf("stats: metric %q: duplicate label %q", name, l.Name))
		}
	}
	key := labelString(sorted, "")

	r.mu.Lock()
	defer r.mu.Unlock()
	f := r.mu.families[name]
	if f == nil {
		f = &family{name: name, help: help, kind: kind, metrics: make(map[string]*entry)}
		r.mu.families[name] = f
	}
	if f.kind != kind {
		panic(fmt.Sprintf("stats: metric %q registered as %s and %s", name, f.kind, kind))
	}
	if f.help != help {
		panic(fmt.Sprintf("stats: metric %q registered with two help texts", name))
	}
	e := f.metrics[key]
	if e == nil {
		e = &entry{labels: sorted, key: key, m: create()}
		f.metrics[key] = e
	}
	return e
}

// Each calls fn for every registered metric, families in name order and
// metrics in label order, with m one of *Counter, *Gauge, *Histogram,
// func() float64 (a GaugeFunc or CounterFunc) or func() Buckets (a
// HistogramFunc). fn must not register metrics. The labels
// slice is sorted by name and must not be modified.
func (r *Registry) Each(fn func(name string, labels []Label, m any)) {
	for _, f := range r.families() {
		for _, e := range f.entries {
			m := e.m
			if cf, ok := m.(counterFunc); ok {
				m = (func() float64)(cf)
			}
			fn(f.name, e.labels, m)
		}
	}
}

type familyView struct {
	name, help, kind string
	entries          []entry
}

// families copies the registry's contents in output order, so that writing
// (and calling GaugeFuncs) happens without the lock held.
func (r *Registry) families() []familyView {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]familyView, 0, len(r.mu.families))
	for _, f := range r.mu.families {
		v := familyView{name: f.name, help: f.help, kind: f.kind, entries: make([]entry, 0, len(f.metrics))}
		for _, e := range f.metrics {
			v.entries = append(v.entries, *e)
		}
		slices.SortFunc(v.entries, func(a, b entry) int { return strings.Compare(a.key, b.key) })
		out = append(out, v)
	}
	slices.SortFunc(out, func(a, b familyView) int { return strings.Compare(a.name, b.name) })
	return out
}

// ContentType is the HTTP Content-Type of WritePrometheus output.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// WritePrometheus writes every family in the text exposition format 0.0.4
// (Content-Type "text/plain; version=0.0.4; charset=utf-8"): families
// sorted by name, each with one HELP and one TYPE line, metrics sorted by
// labels. Histograms are snapshotted and written in seconds as cumulative
// _bucket lines for the bounds of ExpositionBounds plus +Inf, then _sum and
// _count. It returns the first write error.
func (r *Registry) WritePrometheus(w io.Writer) error {
	bw := bufio.NewWriter(w)
	var buf []byte
	for _, f := range r.families() {
		buf = buf[:0]
		buf = append(buf, "# HELP "...)
		buf = append(buf, f.name...)
		buf = append(buf, ' ')
		buf = appendEscaped(buf, f.help, false)
		buf = append(buf, "\n# TYPE "...)
		buf = append(buf, f.name...)
		buf = append(buf, ' ')
		buf = append(buf, f.kind...)
		buf = append(buf, '\n')
		for _, e := range f.entries {
			buf = appendMetric(buf, f.name, e)
		}
		if _, err := bw.Write(buf); err != nil {
			return err
		}
	}
	return bw.Flush()
}

func appendMetric(buf []byte, name string, e entry) []byte {
	switch m := e.m.(type) {
	case *Counter:
		buf = appendSample(buf, name, "", e.key)
		buf = strconv.AppendUint(buf, m.Load(), 10)
	case *Gauge:
		buf = appendSample(buf, name, "", e.key)
		buf = strconv.AppendInt(buf, m.Load(), 10)
	case func() float64:
		buf = appendSample(buf, name, "", e.key)
		buf = appendFloat(buf, m())
	case counterFunc:
		buf = appendSample(buf, name, "", e.key)
		buf = appendFloat(buf, m())
	case *Histogram:
		s := m.Snapshot()
		s.Buckets(func(upperNs int64, cum uint64) {
			le := "+Inf"
			if upperNs != math.MaxInt64 {
				le = strconv.FormatFloat(float64(upperNs)/1e9, 'g', -1, 64)
			}
			buf = appendSample(buf, name, "_bucket", labelString(e.labels, le))
			buf = strconv.AppendUint(buf, cum, 10)
			buf = append(buf, '\n')
		})
		buf = appendSample(buf, name, "_sum", e.key)
		buf = appendFloat(buf, s.SumSeconds())
		buf = append(buf, '\n')
		buf = appendSample(buf, name, "_count", e.key)
		buf = strconv.AppendUint(buf, s.Count(), 10)
	case func() Buckets:
		b := m()
		var cum uint64
		for i, upper := range b.Upper {
			if i < len(b.Counts) {
				cum += b.Counts[i]
			}
			buf = appendSample(buf, name, "_bucket", labelString(e.labels, strconv.FormatFloat(upper, 'g', -1, 64)))
			buf = strconv.AppendUint(buf, cum, 10)
			buf = append(buf, '\n')
		}
		for i := len(b.Upper); i < len(b.Counts); i++ {
			cum += b.Counts[i]
		}
		buf = appendSample(buf, name, "_bucket", labelString(e.labels, "+Inf"))
		buf = strconv.AppendUint(buf, cum, 10)
		buf = append(buf, '\n')
		buf = appendSample(buf, name, "_sum", e.key)
		buf = appendFloat(buf, b.Sum)
		buf = append(buf, '\n')
		buf = appendSample(buf, name, "_count", e.key)
		buf = strconv.AppendUint(buf, cum, 10)
	}
	return append(buf, '\n')
}

func appendSample(buf []byte, name, suffix, labels string) []byte {
	buf = append(buf, name...)
	buf = append(buf, suffix...)
	buf = append(buf, labels...)
	return append(buf, ' ')
}

func appendFloat(buf []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(buf, "NaN"...)
	case math.IsInf(f, 1):
		return append(buf, "+Inf"...)
	case math.IsInf(f, -1):
		return append(buf, "-Inf"...)
	}
	return strconv.AppendFloat(buf, f, 'g', -1, 64)
}

// labelString renders sorted labels as {a="x",b="y"}, with le="…" appended
// when le is not empty; "" when there are none.
func labelString(labels []Label, le string) string {
	if len(labels) == 0 && le == "" {
		return ""
	}
	var b []byte
	b = append(b, '{')
	for i, l := range labels {
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, l.Name...)
		b = append(b, `="`...)
		b = appendEscaped(b, l.Value, true)
		b = append(b, '"')
	}
	if le != "" {
		if len(labels) > 0 {
			b = append(b, ',')
		}
		b = append(b, `le="`...)
		b = append(b, le...)
		b = append(b, '"')
	}
	return string(append(b, '}'))
}

// appendEscaped escapes backslash and newline (HELP text), and also the
// double quote in label values. Invalid UTF-8 becomes U+FFFD.
func appendEscaped(b []byte, s string, quote bool) []byte {
	s = strings.ToValidUTF8(s, "\uFFFD")
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c == '\\':
			b = append(b, `\\`...)
		case c == '\n':
			b = append(b, `\n`...)
		case c == '"' && quote:
			b = append(b, `\"`...)
		default:
			b = append(b, c)
		}
	}
	return b
}

func validMetricName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c == ':' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}

func validLabelName(s string) bool {
	if s == "" || strings.HasPrefix(s, "__") {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || i > 0 && '0' <= c && c <= '9') {
			return false
		}
	}
	return true
}
