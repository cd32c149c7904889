package perf

import (
	"math"
	"strconv"
	"strings"
)

// The report's plots are SVG drawn here, as coordinates in a fixed
// viewBox that the template writes out; the page scales them to its
// width. Lines are <path> elements whose d is "M x,y L x,y …" with one
// point per sample and whose data-points attribute says how many.

// plotPalette are the line colours, in order (a colour-blind-safe
// categorical set without its grey, which is the grid's); a group with
// more lines than colours repeats them dashed.
var plotPalette = []string{"#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#17becf"}

var plotDashes = []string{"", "7 4", "2 3"}

const (
	plotW, plotH = 760.0, 340.0
	// The frame the data is drawn in.
	plotFX, plotFY, plotFW, plotFH = 76.0, 14.0, 644.0, 270.0
	// plotXStep is the spacing of a percentile line's samples, in decades
	// of 1/(1−q): 20 samples per "nine".
	plotXStep = 0.05
	// plotMaxX is the percentile axis's end: 1/(1−q) = 10^6, 99.9999 %.
	plotMaxX = 6.0
)

// curve is a line to draw, in data units.
type curve struct {
	label, title string
	xs, ys       []float64
	dashed       bool // drawn from a summary, not a histogram
	marker       bool // a circle at each point
}

// linePlot is a plot as the template draws it, in viewBox units.
type linePlot struct {
	ID, Title, Kind  string
	W, H             float64
	FX, FY, FW, FH   float64
	XTicks, YTicks   []plotTick
	XLabel, YLabel   string
	XLabelX, XLabelY float64
	YLabelX, YLabelY float64
	Lines            []plotLine
}

// plotTick is a grid line from (X1,Y1) to (X2,Y2) and its label at
// (TX,TY).
type plotTick struct {
	X1, Y1, X2, Y2, TX, TY float64
	Label                  string
}

type plotLine struct {
	Label, Title, Colour, Dash, D string
	Points                        int
	Markers                       []plotPoint
}

type plotPoint struct{ X, Y float64 }

// axis maps data values to viewBox coordinates, linearly or by log10.
type axis struct {
	lo, hi float64 // data range (values, not logs)
	log    bool
	p0, p1 float64 // coordinates of lo and hi
}

func (a axis) pos(v float64) float64 {
	lo, hi := a.lo, a.hi
	if a.log {
		v = math.Log10(max(v, a.lo))
		lo, hi = math.Log10(lo), math.Log10(hi)
	}
	f := 0.0
	if hi > lo {
		f = (v - lo) / (hi - lo)
	}
	return round1(a.p0 + f*(a.p1-a.p0))
}

func round1(v float64) float64 { return math.Round(v*10) / 10 }

// logRange returns the 1-2-5 values just below lo and just above hi
// (both clamped to ≥ 1), distinct.
func logRange(lo, hi float64) (float64, float64) {
	lo, hi = max(lo, 1), max(hi, 1)
	down := math.Pow(10, math.Floor(math.Log10(lo)))
	for _, m := range []float64{5, 2, 1} {
		if m*down <= lo {
			down *= m
			break
		}
	}
	up := math.Pow(10, math.Floor(math.Log10(hi)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*up >= hi {
			up *= m
			break
		}
	}
	if up <= down {
		up = down * 2
	}
	return down, up
}

// logTicks returns the 1-2-5 values in [lo, hi], or only the powers of
// ten when that would be more than ten ticks.
func logTicks(lo, hi float64) []float64 {
	var all, decades []float64
	for d := math.Pow(10, math.Floor(math.Log10(lo))); d <= hi; d *= 10 {
		for _, m := range []float64{1, 2, 5} {
			v := m * d
			if v >= lo*(1-1e-9) && v <= hi*(1+1e-9) {
				all = append(all, v)
				if m == 1 {
					decades = append(decades, v)
				}
			}
		}
	}
	if len(all) > 10 && len(decades) >= 2 {
		return decades
	}
	return all
}

// linearTop returns a 1-2-5 step giving four to ten ticks from 0 and the
// first multiple of it at or above hi.
func linearTop(hi float64) (top, step float64) {
	if !(hi > 0) {
		return 1, 0.2
	}
	raw := hi / 6
	step = math.Pow(10, math.Floor(math.Log10(raw)))
	for _, m := range []float64{1, 2, 5, 10} {
		if m*step >= raw {
			step *= m
			break
		}
	}
	return math.Ceil(hi/step-1e-9) * step, step
}

func newLinePlot(id, title, kind string) linePlot {
	return linePlot{ID: id, Title: title, Kind: kind, W: plotW, H: plotH, FX: plotFX, FY: plotFY, FW: plotFW, FH: plotFH,
		XLabelX: plotFX + plotFW/2, XLabelY: plotH - 6, YLabelX: 16, YLabelY: plotFY + plotFH/2}
}

func (p *linePlot) xTick(pos float64, label string) {
	p.XTicks = append(p.XTicks, plotTick{X1: pos, Y1: p.FY, X2: pos, Y2: p.FY + p.FH, TX: pos, TY: p.FY + p.FH + 17, Label: label})
}

func (p *linePlot) yTick(pos float64, label string) {
	p.YTicks = append(p.YTicks, plotTick{X1: p.FX, Y1: pos, X2: p.FX + p.FW, Y2: pos, TX: p.FX - 7, TY: pos + 4, Label: label})
}

// latencyAxis is a log axis over every y of curves, with its ticks.
func (p *linePlot) latencyAxis(curves []curve) axis {
	lo, hi := math.Inf(1), 0.0
	for _, c := range curves {
		for _, y := range c.ys {
			lo, hi = min(lo, max(y, 1)), max(hi, y)
		}
	}
	if math.IsInf(lo, 1) {
		lo, hi = 1, 1
	}
	lo, hi = logRange(lo, hi)
	y := axis{lo: lo, hi: hi, log: true, p0: p.FY + p.FH, p1: p.FY}
	for _, v := range logTicks(lo, hi) {
		p.yTick(y.pos(v), fmtTickNs(v))
	}
	p.YLabel = "latency"
	return y
}

// draw adds curves as lines on the axes.
func (p *linePlot) draw(curves []curve, x, y axis) {
	for i, c := range curves {
		l := plotLine{Label: c.label, Title: c.title, Colour: plotPalette[i%len(plotPalette)], Points: len(c.xs)}
		if d := (i / len(plotPalette)) % len(plotDashes); d > 0 {
			l.Dash = plotDashes[d]
		}
		if c.dashed {
			l.Dash = "4 3"
		}
		var b strings.Builder
		for j := range c.xs {
			px, py := x.pos(c.xs[j]), y.pos(c.ys[j])
			if j == 0 {
				b.WriteByte('M')
			} else {
				b.WriteByte('L')
			}
			b.WriteString(strconv.FormatFloat(px, 'f', 1, 64))
			b.WriteByte(',')
			b.WriteString(strconv.FormatFloat(py, 'f', 1, 64))
			if c.marker {
				l.Markers = append(l.Markers, plotPoint{X: px, Y: py})
			}
		}
		l.D = b.String()
		p.Lines = append(p.Lines, l)
	}
}

// percentileLabels name the percentile axis's grid lines by their
// position, log10(1/(1−q)).
var percentileLabels = []struct {
	x     float64
	label string
}{{0, "0%"}, {math.Log10(2), "50%"}, {1, "90%"}, {2, "99%"}, {3, "99.9%"}, {4, "99.99%"}, {5, "99.999%"}, {6, "99.9999%"}}

// percentilePlot draws latency by percentile, HDR-style: x is
// log10(1/(1−q)), from 0 to the first whole decade at or past the longest
// line (at least 99 %), y the latency on a log scale.
func percentilePlot(id, title string, curves []curve) linePlot {
	p := newLinePlot(id, title, "percentiles")
	end := 2.0
	for _, c := range curves {
		if n := len(c.xs); n > 0 {
			end = max(end, math.Ceil(c.xs[n-1]-1e-9))
		}
	}
	end = min(end, plotMaxX)
	x := axis{lo: 0, hi: end, p0: p.FX, p1: p.FX + p.FW}
	for _, t := range percentileLabels {
		if t.x <= end+1e-9 {
			p.xTick(x.pos(t.x), t.label)
		}
	}
	p.XLabel = "percentile (log scale of 1/(1−q))"
	y := p.latencyAxis(curves)
	p.draw(curves, x, y)
	return p
}

// sweepPlot draws latency against achieved throughput: x linear from 0,
// y the latency on a log scale.
func sweepPlot(id, title string, curves []curve) linePlot {
	p := newLinePlot(id, title, "sweep")
	hi := 0.0
	for _, c := range curves {
		for _, v := range c.xs {
			hi = max(hi, v)
		}
	}
	top, step := linearTop(hi * 1.05)
	x := axis{lo: 0, hi: top, p0: p.FX, p1: p.FX + p.FW}
	for v := 0.0; v <= top+step/2; v += step {
		p.xTick(x.pos(v), fmtCompact(v))
	}
	p.XLabel = "achieved throughput (requests/s)"
	y := p.latencyAxis(curves)
	p.draw(curves, x, y)
	return p
}

// barPlot is the stage breakdown: one stacked horizontal bar per report,
// each stage's mean as a share of the stacked stages' sum.
type barPlot struct {
	ID               string
	W, H             float64
	FX, FW, FY, FH   float64
	XTicks           []plotTick
	Rows             []barRowView
	Legend           []legendItem
	XLabel           string
	XLabelX, XLabelY float64
}

type barRowView struct {
	Label, Sum     string
	LabelX, LabelY float64
	SumX           float64
	Y, H           float64
	Segments       []barSegView
}

type barSegView struct {
	X, W          float64
	Colour, Title string
	Name          string
}

type legendItem struct{ Name, Colour string }

// barRow is one report's bar in data units.
type barRow struct {
	label    string
	segments []barSegment
	total    float64 // the total stage's mean, 0 if none
}

type barSegment struct {
	name  string
	value float64
}

const barRowH, barH, barTop = 46.0, 20.0, 8.0

// stageColour is a stacked stage's colour: its place in stackedStages.
func stageColour(name string) string {
	for i, s := range stackedStages {
		if s == name {
			return plotPalette[i%len(plotPalette)]
		}
	}
	return plotPalette[len(plotPalette)-1]
}

func stagePlot(id string, rows []barRow) *barPlot {
	b := &barPlot{ID: id, W: plotW, FX: 16, FW: plotW - 32, FY: barTop}
	b.FH = barRowH * float64(len(rows))
	b.H = b.FY + b.FH + 44
	x := axis{lo: 0, hi: 1, p0: b.FX, p1: b.FX + b.FW}
	for v := 0.0; v <= 1+1e-9; v += 0.2 {
		px := x.pos(v)
		b.XTicks = append(b.XTicks, plotTick{X1: px, Y1: b.FY, X2: px, Y2: b.FY + b.FH, TX: px, TY: b.FY + b.FH + 16,
			Label: strconv.FormatFloat(math.Round(v*100), 'f', 0, 64) + "%"})
	}
	for i, r := range rows {
		y0 := b.FY + barRowH*float64(i)
		v := barRowView{Label: r.label, LabelX: b.FX, LabelY: y0 + 13, SumX: b.FX + b.FW, Y: y0 + 18, H: barH}
		sum := 0.0
		for _, s := range r.segments {
			sum += s.value
		}
		v.Sum = "stages " + fmtNs(sum)
		if r.total > 0 {
			v.Sum += ", total " + fmtNs(r.total)
		}
		acc := 0.0
		for _, s := range r.segments {
			x0, x1 := x.pos(acc/sum), x.pos((acc+s.value)/sum)
			acc += s.value
			v.Segments = append(v.Segments, barSegView{X: x0, W: round1(max(x1-x0, 0.5)), Colour: stageColour(s.name),
				Name: s.name, Title: s.name + ": mean " + fmtNs(s.value) + " (" + fmtPercent(s.value/sum) + ")"})
		}
		b.Rows = append(b.Rows, v)
	}
	for _, s := range stackedStages {
		b.Legend = append(b.Legend, legendItem{Name: s, Colour: stageColour(s)})
	}
	b.XLabel = "share of the stages' summed mean time per execution"
	b.XLabelX, b.XLabelY = b.FX+b.FW/2, b.H-6
	return b
}
