package perf

import (
	"math"
	"strconv"
	"strings"
	"time"
)

// Number formats of the HTML report. Every figure a report page shows
// goes through one of these, so one kind of value reads the same way in
// every table and on every axis.

// FormatNanos formats nanoseconds with three significant figures and a
// unit: "812 ns", "3.29 µs", "1.63 ms", "2.10 s" (the report, fcload
// compare and the matrix table print durations with it).
func FormatNanos(v float64) string {
	if v < 0 && !math.IsNaN(v) {
		return "−" + FormatNanos(-v)
	}
	return fmtNs(v)
}

// fmtNs is FormatNanos of a non-negative figure ("—" otherwise).
func fmtNs(v float64) string {
	switch {
	case math.IsNaN(v) || v < 0:
		return "—"
	case v < 1e3:
		return strconv.FormatFloat(math.Round(v), 'f', 0, 64) + " ns"
	case v < 1e6:
		return sig3(v/1e3) + " µs"
	case v < 1e9:
		return sig3(v/1e6) + " ms"
	}
	return sig3(v/1e9) + " s"
}

// fmtTickNs formats an axis value in nanoseconds without trailing
// zeros: "500 ns", "1 µs", "2.5 ms".
func fmtTickNs(v float64) string {
	unit, div := "ns", 1.0
	switch {
	case v >= 1e9:
		unit, div = "s", 1e9
	case v >= 1e6:
		unit, div = "ms", 1e6
	case v >= 1e3:
		unit, div = "µs", 1e3
	}
	return strconv.FormatFloat(math.Round(v/div*1000)/1000, 'f', -1, 64) + " " + unit
}

func sig3(v float64) string {
	d := 0
	switch {
	case v < 10:
		d = 2
	case v < 100:
		d = 1
	}
	return strconv.FormatFloat(v, 'f', d, 64)
}

// fmtInt groups the digits of n in threes with narrow no-break spaces.
func fmtInt(n int64) string {
	s := strconv.FormatInt(n, 10)
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	if neg {
		b.WriteByte('-')
	}
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteString("\u202f")
		}
		b.WriteRune(c)
	}
	return b.String()
}

// fmtRate formats a rate in requests per second: whole numbers grouped
// from 100 up, three significant figures below.
func fmtRate(v float64) string {
	return fmtNumber(v) + "/s"
}

func fmtNumber(v float64) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "—"
	}
	if math.Abs(v) >= 100 {
		return fmtInt(int64(math.Round(v)))
	}
	return strconv.FormatFloat(v, 'g', 3, 64)
}

// fmtCompact formats an axis count: "0", "500", "4k", "12.5k", "1.2M".
func fmtCompact(v float64) string {
	switch {
	case v >= 1e6:
		return strconv.FormatFloat(v/1e6, 'f', -1, 64) + "M"
	case v >= 1e3:
		return strconv.FormatFloat(v/1e3, 'f', -1, 64) + "k"
	}
	return strconv.FormatFloat(v, 'f', -1, 64)
}

// fmtPercent formats a fraction as a percentage: "62.3 %", "4.17 %",
// "0.012 %".
func fmtPercent(f float64) string {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return "—"
	}
	p := f * 100
	switch {
	case p == 0:
		return "0 %"
	case math.Abs(p) >= 10:
		return strconv.FormatFloat(p, 'f', 1, 64) + " %"
	case math.Abs(p) >= 1:
		return strconv.FormatFloat(p, 'f', 2, 64) + " %"
	}
	return strconv.FormatFloat(p, 'g', 2, 64) + " %"
}

// fmtRatio formats a / b: as a percentage when asPercent ("62.3 %" of
// the baseline's throughput), else as a factor ("×1.84" the baseline's
// latency); "—" when b is not positive.
func fmtRatio(a, b float64, asPercent bool) string {
	if !(b > 0) || a < 0 {
		return "—"
	}
	if asPercent {
		return fmtPercent(a / b)
	}
	return "×" + strconv.FormatFloat(a/b, 'f', 2, 64)
}

// fmtBytes formats a byte count in IEC units: "812 B", "3.2 KiB",
// "312.4 MiB".
func fmtBytes(v float64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	i := 0
	for math.Abs(v) >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	if i == 0 {
		return strconv.FormatFloat(v, 'f', 0, 64) + " B"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " " + units[i]
}

// fmtUnit formats a scenario's value in its unit.
func fmtUnit(v float64, unit string) string {
	switch unit {
	case "ns":
		return fmtNs(v)
	case "bytes":
		return fmtBytes(v)
	case "exec/s":
		return fmtNumber(v) + " exec/s"
	case "ratio", "":
		return strconv.FormatFloat(v, 'g', 4, 64)
	}
	return strconv.FormatFloat(v, 'g', 4, 64) + " " + unit
}

func fmtDuration(d time.Duration) string {
	if d == 0 {
		return ""
	}
	return d.String()
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}
