package perf

import (
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"time"
)

// Metric is one performance requirement of FC-PERF-0001 (the FemtoClaw
// Performance Specification): what is measured, its target (SHOULD) and
// hard bound (MUST NOT pass), which way is better, and the section that
// says so. Metrics lists them all; it is the one place these numbers are
// written (a test holds it to the specification's text, kept verbatim in
// testdata/FC-PERF-0001.md, and to stats.DefaultBudgets, the runtime's
// degradation budgets).
//
// Sections 14 to 18 state requirements without numbers ("MUST scale with
// CPU cores", "MUST avoid resource leaks", "MUST NOT degrade
// unpredictably"). Their metrics are marked Derived: the target and hard
// bound are this project's reading of the words, stated in Reading, and
// every output marks them so that no one takes them for the
// specification's.
type Metric struct {
	ID      string // stable key: "startup", "overhead", "p99-drift", ...
	Name    string // the requirement in the specification's words
	Section int    // FC-PERF-0001 section number
	Heading string // that section's heading, as written
	Unit    string // UnitNs, UnitExecPerSec, UnitExecutions, UnitRatio, UnitFraction, UnitBytes
	// Target is what the runtime SHOULD reach; HardBound what it MUST NOT
	// pass. Equality meets either.
	Target, HardBound float64
	LowerIsBetter     bool
	// Derived says the specification gives no number: Target and
	// HardBound are this project's reading (see Reading).
	Derived bool
	// Statistic is what a scenario compares with the target: "p99",
	// "median of the starts", ...
	Statistic string
	// Reading says how the specification's words became these numbers.
	Reading string
}

// Units of Metric.Unit and Scenario.Unit.
const (
	UnitNs         = "ns"         // a duration in nanoseconds
	UnitExecPerSec = "exec/s"     // successful executions per second
	UnitExecutions = "executions" // a count of executions
	UnitRatio      = "ratio"      // dimensionless: one measurement over another
	UnitFraction   = "fraction"   // dimensionless, shown as a percentage: a coefficient of variation
	UnitBytes      = "bytes"      //
)

// Verdicts of Scenario.Verdict.
const (
	VerdictTarget = "meets target"      // at or better than the target
	VerdictBound  = "within hard bound" // worse than the target, at or better than the hard bound
	// VerdictOver is worse than the hard bound: above it when lower is
	// better, below it when higher is better.
	VerdictOver = "over hard bound"
	// VerdictNotMeasured is a scenario that produced no value (it failed,
	// or could not run here); its Note says why.
	VerdictNotMeasured = "not measured"
)

const (
	nsMs  = float64(time.Millisecond)
	nsUs  = float64(time.Microsecond)
	nsSec = float64(time.Second)
)

// metrics is the table; Metrics returns a copy.
var metricTable = []Metric{
	{ID: "overhead", Name: "Runtime overhead per execution cycle (excluding capability execution)", Section: 4,
		Heading: "Execution Latency Requirements", Unit: UnitNs, Target: 1 * nsMs, HardBound: 10 * nsMs, LowerIsBetter: true,
		Statistic: "p99 of total minus capability time",
		Reading:   "the cycle's latency is validation, authorization, capability execution, memory commit and telemetry; the overhead is all of it but the capability"},
	{ID: "invocation", Name: "Capability invocation overhead", Section: 5,
		Heading: "Capability Invocation Overhead", Unit: UnitNs, Target: 500 * nsUs, HardBound: 5 * nsMs, LowerIsBetter: true,
		Statistic: "p99 of the runtime's dispatch stage",
		Reading:   "ABI invocation and execution dispatch: from admission to the capability starting, and back (the runtime's dispatch figure)"},
	{ID: "authorization", Name: "Authorization decision latency", Section: 6,
		Heading: "Authorization Performance Requirements", Unit: UnitNs, Target: 200 * nsUs, HardBound: 2 * nsMs, LowerIsBetter: true,
		Statistic: "p99 of the runtime's authorize stage"},
	{ID: "validation", Name: "Protocol validation latency", Section: 7,
		Heading: "Protocol Validation Performance Requirements", Unit: UnitNs, Target: 200 * nsUs, HardBound: 2 * nsMs, LowerIsBetter: true,
		Statistic: "p99 of the runtime's validate stage"},
	{ID: "commit", Name: "Memory commit latency", Section: 8,
		Heading: "Memory Commit Performance Requirements", Unit: UnitNs, Target: 1 * nsMs, HardBound: 10 * nsMs, LowerIsBetter: true,
		Statistic: "p99 of the runtime's commit stage, journal durability always",
		Reading:   "\"MUST preserve durability guarantees\": measured with every answer waiting for its fdatasync"},
	{ID: "telemetry", Name: "Telemetry overhead", Section: 9,
		Heading: "Telemetry Performance Requirements", Unit: UnitNs, Target: 500 * nsUs, HardBound: 5 * nsMs, LowerIsBetter: true,
		Statistic: "mean latency with telemetry on minus with it off",
		Reading:   "what an execution pays for telemetry: the same load with the runtime's telemetry on and off"},
	{ID: "startup", Name: "Runtime startup time", Section: 10,
		Heading: "Startup Performance Requirements", Unit: UnitNs, Target: 100 * nsMs, HardBound: 1 * nsSec, LowerIsBetter: true,
		Statistic: "median of the starts",
		Reading:   "from process start to IDLE (FC-BENCH §5): the process is started and reports ready, with configuration, registry, policy and journal initialized and its listeners bound"},
	{ID: "shutdown", Name: "Runtime shutdown time", Section: 11,
		Heading: "Shutdown Performance Requirements", Unit: UnitNs, Target: 100 * nsMs, HardBound: 1 * nsSec, LowerIsBetter: true,
		Statistic: "SIGTERM to process exit",
		Reading:   "from the signal to the process's exit, in-flight executions drained and the journal closed"},
	{ID: "shutdown-loss", Name: "Acknowledged executions lost across shutdown", Section: 11,
		Heading: "Shutdown Performance Requirements", Unit: UnitExecutions, Target: 0, HardBound: 0, LowerIsBetter: true, Derived: true,
		Statistic: "acknowledged executions missing from the journal afterwards",
		Reading:   "\"Shutdown MUST safely persist runtime state\": every execution a client saw acknowledged is in the journal after the process exits"},
	{ID: "concurrency", Name: "Simultaneous executions", Section: 12,
		Heading: "Concurrency Performance Requirements", Unit: UnitExecutions, Target: 1000, HardBound: 10,
		Statistic: "executions running at once, every one answered successfully",
		Reading:   "10 simultaneous executions is the minimum requirement (the hard bound), 1,000+ the enterprise target"},
	{ID: "throughput", Name: "Runtime throughput", Section: 13,
		Heading: "Throughput Requirements", Unit: UnitExecPerSec, Target: 10000, HardBound: 1000,
		Statistic: "successful executions per second, closed loop",
		Reading:   "1,000 executions per second is the minimum target (§24 makes meeting it a compliance requirement: the hard bound), 10,000+ the enterprise target"},
	{ID: "scaling", Name: "Throughput scaling with CPU cores", Section: 14,
		Heading: "Scalability Requirements", Unit: UnitRatio, Target: 1.8, HardBound: 1.0, Derived: true,
		Statistic: "throughput with GOMAXPROCS=2 over GOMAXPROCS=1",
		Reading:   "\"MUST scale with CPU cores\": a second core must add throughput (ratio above 1); near-linear (1.8) is the target"},
	{ID: "memory-per-execution", Name: "Resident memory per simultaneous execution", Section: 15,
		Heading: "Resource Utilization Requirements", Unit: UnitBytes, Target: 16 << 10, HardBound: 64 << 10, LowerIsBetter: true, Derived: true,
		Statistic: "RSS growth from idle to all executions in flight, over their number",
		Reading:   "\"MUST avoid excessive resource consumption\": an execution waiting on a slow capability costs no more than a few goroutine stacks"},
	{ID: "rss-growth", Name: "Resident memory growth under sustained load", Section: 15,
		Heading: "Resource Utilization Requirements", Unit: UnitRatio, Target: 1.10, HardBound: 1.50, LowerIsBetter: true, Derived: true,
		Statistic: "RSS at the end of a soak over RSS after its first third",
		Reading:   "\"MUST avoid resource leaks\" and \"MUST remain stable under sustained load\": memory levels off once warm"},
	{ID: "p99-drift", Name: "Latency drift under sustained load", Section: 16,
		Heading: "Performance Stability Requirements", Unit: UnitRatio, Target: 1.10, HardBound: 1.50, LowerIsBetter: true, Derived: true,
		Statistic: "median per-interval p99 of a soak's last third over its first third's",
		Reading:   "\"Performance MUST NOT degrade unpredictably\" during continuous operation"},
	{ID: "isolation-throughput", Name: "Throughput beside failing capabilities", Section: 17,
		Heading: "Performance Isolation Requirements", Unit: UnitRatio, Target: 0.90, HardBound: 0.50, Derived: true,
		Statistic: "noop's throughput beside a hanging and a panicking capability over noop's alone",
		Reading:   "\"Capability failures MUST NOT degrade overall runtime performance\""},
	{ID: "isolation-p99", Name: "Latency beside failing capabilities", Section: 17,
		Heading: "Performance Isolation Requirements", Unit: UnitRatio, Target: 1.25, HardBound: 2.0, LowerIsBetter: true, Derived: true,
		Statistic: "noop's p99 beside a hanging and a panicking capability over noop's alone",
		Reading:   "\"Capability execution MUST NOT degrade runtime performance excessively\""},
	{ID: "variance", Name: "Throughput variance under steady load", Section: 18,
		Heading: "Performance Determinism Requirements", Unit: UnitFraction, Target: 0.05, HardBound: 0.20, LowerIsBetter: true, Derived: true,
		Statistic: "coefficient of variation of per-interval throughput in a soak",
		Reading:   "\"Performance MUST NOT exhibit uncontrolled variance\""},
}

// Metrics returns every FC-PERF metric, in the specification's section
// order. The slice is the caller's.
func Metrics() []Metric { return append([]Metric(nil), metricTable...) }

// MetricByID returns the metric with this ID.
func MetricByID(id string) (Metric, bool) {
	for _, m := range metricTable {
		if m.ID == id {
			return m, true
		}
	}
	return Metric{}, false
}

// Verdict compares a measured value with the metric's target and hard
// bound. NaN (nothing measured) is VerdictNotMeasured.
func (m Metric) Verdict(measured float64) string {
	better := func(limit float64) bool {
		if m.LowerIsBetter {
			return measured <= limit
		}
		return measured >= limit
	}
	switch {
	case math.IsNaN(measured):
		return VerdictNotMeasured
	case better(m.Target):
		return VerdictTarget
	case better(m.HardBound):
		return VerdictBound
	}
	return VerdictOver
}

// Scenario returns the verdict of one measurement of m, under the
// scenario id (several scenarios measure one metric: startup-empty and
// startup-journal-10m). measured NaN means it was not measured; note says
// how it was measured, or why it was not.
func (m Metric) Scenario(id string, measured float64, note string) *Scenario {
	sc := &Scenario{ID: id, Metric: m.Name, Unit: m.Unit, Target: m.Target, HardBound: m.HardBound,
		Measured: measured, LowerIsBetter: m.LowerIsBetter, Verdict: m.Verdict(measured), Note: note,
		MetricID: m.ID, Section: m.Section, Derived: m.Derived}
	if math.IsNaN(measured) {
		sc.Measured = 0 // JSON has no NaN; the verdict says it is no value
	}
	return sc
}

// FormatValue renders v in unit for people: "812 µs", "1.2 s",
// "12,345 exec/s", "1.83×", "18.5%", "152 MiB".
func FormatValue(unit string, v float64) string {
	switch unit {
	case UnitNs:
		return formatDuration(v)
	case UnitExecPerSec:
		return groupThousands(math.Round(v)) + " exec/s"
	case UnitExecutions:
		return groupThousands(math.Round(v))
	case UnitRatio:
		return strconv.FormatFloat(v, 'f', 2, 64) + "×"
	case UnitFraction:
		return trimFloat(v*100) + "%"
	case UnitBytes:
		return formatBytes(v)
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + " " + unit
}

func formatDuration(ns float64) string {
	a := math.Abs(ns)
	switch {
	case a >= nsSec:
		return trimFloat(ns/nsSec) + " s"
	case a >= nsMs:
		return trimFloat(ns/nsMs) + " ms"
	case a >= nsUs:
		return trimFloat(ns/nsUs) + " µs"
	}
	return strconv.FormatFloat(ns, 'f', 0, 64) + " ns"
}

// trimFloat prints 3 significant figures without trailing zeros.
func trimFloat(v float64) string {
	p := 2
	switch a := math.Abs(v); {
	case a >= 100:
		p = 0
	case a >= 10:
		p = 1
	}
	out := strconv.FormatFloat(v, 'f', p, 64)
	if strings.Contains(out, ".") {
		out = strings.TrimRight(strings.TrimRight(out, "0"), ".")
	}
	return out
}

func formatBytes(b float64) string {
	const (
		kib = 1 << 10
		mib = 1 << 20
		gib = 1 << 30
	)
	switch a := math.Abs(b); {
	case a >= gib:
		return trimFloat(b/gib) + " GiB"
	case a >= mib:
		return trimFloat(b/mib) + " MiB"
	case a >= kib:
		return trimFloat(b/kib) + " KiB"
	}
	return strconv.FormatFloat(b, 'f', 0, 64) + " B"
}

// groupThousands prints an integral value with comma separators.
func groupThousands(v float64) string {
	digits := strconv.FormatFloat(math.Abs(v), 'f', 0, 64)
	var b strings.Builder
	if v < 0 {
		b.WriteByte('-')
	}
	for i, c := range digits {
		if i > 0 && (len(digits)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(c)
	}
	return b.String()
}

// formatLimit renders a target or bound with its direction: "≤ 1 ms",
// "≥ 1,000 exec/s"; a derived one ends in "*".
func formatLimit(sc *Scenario, v float64, derived bool) string {
	op := "≥ "
	if sc.LowerIsBetter {
		op = "≤ "
	}
	out := op + FormatValue(sc.Unit, v)
	if derived {
		out += "*"
	}
	return out
}

// WriteScenarioLine prints sc as one line: id, target, hard bound,
// measured value, verdict, then the note. A derived target or bound is
// marked "*".
//
//	startup-empty          ≤ 100 ms     ≤ 1 s        41.2 ms      meets target       median of 5 starts …
func WriteScenarioLine(w io.Writer, sc *Scenario) {
	d := sc.Derived
	measured := FormatValue(sc.Unit, sc.Measured)
	if sc.Verdict == VerdictNotMeasured {
		measured = "—"
	}
	fmt.Fprintf(w, "%-24s %-16s %-16s %-16s %-18s %s\n", sc.ID, formatLimit(sc, sc.Target, d), formatLimit(sc, sc.HardBound, d), measured, sc.Verdict, sc.Note)
}

// WriteScenarioHeader prints the column names WriteScenarioLine fills.
func WriteScenarioHeader(w io.Writer) {
	fmt.Fprintf(w, "%-24s %-16s %-16s %-16s %-18s %s\n", "scenario", "target", "hard-bound", "measured", "verdict", "how")
}

// WriteMarkdown prints every FC-PERF metric as a Markdown table: each
// scenario that measured it, and a "not measured" row for each metric no
// scenario in scs measured, so the table always lists the whole
// specification.
func WriteMarkdown(w io.Writer, scs []*Scenario) {
	fmt.Fprintln(w, "| FC-PERF | Metric | Scenario | Target | Hard bound | Measured | Verdict | How |")
	fmt.Fprintln(w, "|---|---|---|---|---|---|---|---|")
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	for _, m := range metricTable {
		found := false
		for _, sc := range scs {
			if sc.MetricID != m.ID {
				continue
			}
			found = true
			measured := FormatValue(sc.Unit, sc.Measured)
			if sc.Verdict == VerdictNotMeasured {
				measured = "—"
			}
			fmt.Fprintf(w, "| §%d | %s | %s | %s | %s | %s | %s | %s |\n", m.Section, cell(m.Name), sc.ID,
				formatLimit(sc, sc.Target, m.Derived), formatLimit(sc, sc.HardBound, m.Derived), measured, sc.Verdict, cell(sc.Note))
		}
		if !found {
			sc := m.Scenario(m.ID, math.NaN(), "")
			fmt.Fprintf(w, "| §%d | %s | — | %s | %s | — | %s | %s |\n", m.Section, cell(m.Name),
				formatLimit(sc, m.Target, m.Derived), formatLimit(sc, m.HardBound, m.Derived), VerdictNotMeasured, cell(m.Statistic))
		}
	}
	fmt.Fprintln(w)
	fmt.Fprintln(w, "\\* FC-PERF states this requirement without a number; the target and hard bound are this project's reading of it (perf.Metrics).")
}
