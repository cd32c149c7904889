package perf

import (
	"math"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/stats"
)

func TestVerdict(t *testing.T) {
	lower := Metric{Target: 100, HardBound: 1000, LowerIsBetter: true}
	higher := Metric{Target: 10000, HardBound: 1000}
	zero := Metric{Target: 0, HardBound: 0, LowerIsBetter: true}
	for _, c := range []struct {
		m        Metric
		measured float64
		want     string
	}{
		{lower, 0, VerdictTarget},
		{lower, 99, VerdictTarget},
		{lower, 100, VerdictTarget}, // equality meets
		{lower, 101, VerdictBound},
		{lower, 1000, VerdictBound},
		{lower, 1001, VerdictOver},
		{lower, math.Inf(1), VerdictOver},
		{lower, math.NaN(), VerdictNotMeasured},
		{higher, 20000, VerdictTarget},
		{higher, 10000, VerdictTarget},
		{higher, 9999, VerdictBound},
		{higher, 1000, VerdictBound},
		{higher, 999, VerdictOver},
		{higher, 0, VerdictOver},
		{higher, math.NaN(), VerdictNotMeasured},
		{zero, 0, VerdictTarget},
		{zero, 1, VerdictOver},
	} {
		if got := c.m.Verdict(c.measured); got != c.want {
			t.Errorf("%+v measured %v: verdict %q, want %q", c.m, c.measured, got, c.want)
		}
	}
	sc := higher.Scenario("x", math.NaN(), "could not run")
	if sc.Verdict != VerdictNotMeasured || sc.Measured != 0 || sc.Note != "could not run" {
		t.Errorf("not measured: %+v", sc)
	}
}

// specSections reads the specification kept verbatim in testdata: section
// number → heading and body.
func specSections(t *testing.T) map[int][2]string {
	t.Helper()
	b, err := os.ReadFile("testdata/FC-PERF-0001.md")
	if err != nil {
		t.Fatal(err)
	}
	heading := regexp.MustCompile(`(?m)^# (\d+)\. (.+)$`)
	text := string(b)
	locs := heading.FindAllStringSubmatchIndex(text, -1)
	if len(locs) < 20 {
		t.Fatalf("testdata/FC-PERF-0001.md: %d numbered sections, want the specification's 26", len(locs))
	}
	out := map[int][2]string{}
	for i, l := range locs {
		n, _ := strconv.Atoi(text[l[2]:l[3]])
		end := len(text)
		if i+1 < len(locs) {
			end = locs[i+1][0]
		}
		out[n] = [2]string{strings.TrimSpace(text[l[4]:l[5]]), text[l[1]:end]}
	}
	return out
}

// specPhrase is how the specification writes a value: "200 microseconds",
// "1 second", "10,000".
func specPhrase(t *testing.T, unit string, v float64) string {
	t.Helper()
	if unit != UnitNs {
		return groupThousands(v)
	}
	d := time.Duration(v)
	for _, u := range []struct {
		d    time.Duration
		name string
	}{{time.Second, "second"}, {time.Millisecond, "millisecond"}, {time.Microsecond, "microsecond"}} {
		if d >= u.d && d%u.d == 0 {
			n := int64(d / u.d)
			if n != 1 {
				return strconv.FormatInt(n, 10) + " " + u.name + "s"
			}
			return "1 " + u.name
		}
	}
	t.Fatalf("%v: no unit the specification uses", d)
	return ""
}

// TestMetricsMatchSpecification holds the table to the specification's
// text: each metric's section exists under its heading, each number the
// specification states is written there in its words (a changed number on
// either side fails), and every requirement section from §4 to §18 has a
// metric.
func TestMetricsMatchSpecification(t *testing.T) {
	secs := specSections(t)
	ids := map[string]bool{}
	covered := map[int]bool{}
	for _, m := range Metrics() {
		if ids[m.ID] {
			t.Errorf("metric id %q twice", m.ID)
		}
		ids[m.ID] = true
		covered[m.Section] = true
		sec, ok := secs[m.Section]
		if !ok {
			t.Errorf("%s: FC-PERF has no section %d", m.ID, m.Section)
			continue
		}
		if sec[0] != m.Heading {
			t.Errorf("%s: section %d is %q, the table says %q", m.ID, m.Section, sec[0], m.Heading)
		}
		if m.Name == "" || m.Statistic == "" || m.Unit == "" {
			t.Errorf("%s: name, statistic and unit are required: %+v", m.ID, m)
		}
		if m.Derived {
			if m.Reading == "" {
				t.Errorf("%s: a derived metric must say how its numbers were read from the text", m.ID)
			}
			continue
		}
		for _, v := range []float64{m.Target, m.HardBound} {
			p := specPhrase(t, m.Unit, v)
			re := regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(p) + `(\+|\s)`)
			if !re.MatchString(sec[1]) {
				t.Errorf("%s: §%d does not state %q (target %v, hard bound %v)", m.ID, m.Section, p, m.Target, m.HardBound)
			}
		}
		if (m.Target < m.HardBound) != m.LowerIsBetter {
			t.Errorf("%s: target %v and hard bound %v disagree with LowerIsBetter %v", m.ID, m.Target, m.HardBound, m.LowerIsBetter)
		}
	}
	for n := 4; n <= 18; n++ {
		if !covered[n] {
			t.Errorf("FC-PERF §%d (%s) has no metric", n, secs[n][0])
		}
	}
}

// TestMetricsMatchDegradationBudgets: the runtime's degradation detector
// budgets (stats.DefaultBudgets) are the same FC-PERF numbers.
func TestMetricsMatchDegradationBudgets(t *testing.T) {
	byStage := map[string]string{"validate": "validation", "authorize": "authorization", "dispatch": "invocation",
		"commit": "commit", "telemetry": "telemetry", "overhead": "overhead"}
	for _, b := range stats.DefaultBudgets() {
		id, ok := byStage[b.Stage]
		if !ok {
			t.Errorf("budget for stage %q: no metric mapped", b.Stage)
			continue
		}
		m, _ := MetricByID(id)
		if float64(b.TargetP99) != m.Target || float64(b.CriticalP99) != m.HardBound {
			t.Errorf("stage %s budget %v/%v, metric %s %v/%v", b.Stage, b.TargetP99, b.CriticalP99, id, m.Target, m.HardBound)
		}
	}
}

func TestFormatValue(t *testing.T) {
	for _, c := range []struct {
		unit string
		v    float64
		want string
	}{
		{UnitNs, 812, "812 ns"},
		{UnitNs, 41_230, "41.2 µs"},
		{UnitNs, 1_000_000, "1 ms"},
		{UnitNs, 123_456_789, "123 ms"},
		{UnitNs, 1.5e9, "1.5 s"},
		{UnitExecPerSec, 12345.4, "12,345 exec/s"},
		{UnitExecutions, 10000, "10,000"},
		{UnitExecutions, 0, "0"},
		{UnitRatio, 1.834, "1.83×"},
		{UnitFraction, 0.185, "18.5%"},
		{UnitFraction, 0.05, "5%"},
		{UnitBytes, 16 << 10, "16 KiB"},
		{UnitBytes, 152.4 * (1 << 20), "152 MiB"},
		{UnitBytes, 1.5 * (1 << 30), "1.5 GiB"},
	} {
		if got := FormatValue(c.unit, c.v); got != c.want {
			t.Errorf("FormatValue(%s, %v) = %q, want %q", c.unit, c.v, got, c.want)
		}
	}
}

func TestScenarioOutputs(t *testing.T) {
	m, _ := MetricByID("startup")
	sc := m.Scenario("startup-empty", 41.2e6, "median of 5 starts")
	var line strings.Builder
	WriteScenarioLine(&line, sc)
	for _, want := range []string{"startup-empty", "≤ 100 ms", "≤ 1 s", "41.2 ms", VerdictTarget, "median of 5 starts"} {
		if !strings.Contains(line.String(), want) {
			t.Errorf("line %q lacks %q", line.String(), want)
		}
	}
	d, _ := MetricByID("scaling")
	var md strings.Builder
	WriteMarkdown(&md, []*Scenario{sc, d.Scenario("scaling", 1.2, "")})
	out := md.String()
	for _, m := range Metrics() {
		if !strings.Contains(out, "| §"+strconv.Itoa(m.Section)+" | "+m.Name+" |") {
			t.Errorf("markdown lacks metric %s:\n%s", m.ID, out)
		}
	}
	if !strings.Contains(out, "| startup-empty | ≤ 100 ms | ≤ 1 s | 41.2 ms | meets target |") ||
		!strings.Contains(out, "| scaling | ≥ 1.80×* | ≥ 1.00×* | 1.20× | within hard bound |") ||
		!strings.Contains(out, "| Runtime shutdown time | — | ≤ 100 ms | ≤ 1 s | — | not measured |") {
		t.Errorf("markdown rows:\n%s", out)
	}
}
