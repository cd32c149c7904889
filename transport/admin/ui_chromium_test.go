package admin

import (
	"fmt"
	"image"
	"image/color"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/internal/chromiumtest"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
)

// The admin page in a real browser: headless Chromium loads /ui from a
// loaded server, with the admin token in the URL fragment, runs the
// page's script under its Content-Security-Policy (a wrong script hash
// would leave the page blank), and the test reads the DOM it built and a
// screenshot of it.
//
// Without Chromium the test skips, unless FEMTOCLAW_TEST_REQUIRE_CHROMIUM=1
// (scripts/test.sh sets it after installing Chromium), which makes a
// missing browser a failure: CI never skips it silently (see
// internal/chromiumtest).

const (
	uiWidth, uiHeight = 1280, 1400
	uiTicks           = 30
	uiPerTick         = 20
)

func TestUIInChromium(t *testing.T) {
	b := chromiumtest.New(t, uiWidth, uiHeight)
	l := newLoadedServer(t)
	page := "http://" + l.Addr().String() + UIPath
	withToken := page + "#token=" + uiToken
	art := t.ArtifactDir()

	// Before any load: the control screenshot, plots without samples.
	empty := b.Screenshot(t, filepath.Join(art, "ui-empty.png"), withToken)
	if dom := b.DOM(t, withToken); !strings.Contains(dom, `class="badge ok"`) {
		t.Errorf("no samples yet, but the page does not say ok:\n%s", dom)
	}

	// Without the token the page gets no data.
	dom := b.DOM(t, page)
	if !strings.Contains(dom, `data-state="unauthorized"`) || strings.Contains(dom, "<polyline") {
		t.Fatalf("page without the token: not unauthorized, or plotted:\n%s", dom)
	}

	l.load(t, uiTicks, uiPerTick)
	dom = b.DOM(t, withToken)
	if !strings.Contains(dom, `data-state="live"`) {
		t.Fatalf("the page did not go live (script blocked, or /v1/stats refused):\n%s", dom)
	}
	polylines := map[string]string{} // data-series -> the element
	for _, m := range regexp.MustCompile(`<polyline [^>]*>`).FindAllString(dom, -1) {
		if s := regexp.MustCompile(`data-series="([^"]*)"`).FindStringSubmatch(m); s != nil {
			polylines[s[1]] = m
		}
	}
	attr := func(el, name string) string {
		m := regexp.MustCompile(` ` + name + `="([^"]*)"`).FindStringSubmatch(el)
		if m == nil {
			return ""
		}
		return m[1]
	}
	want := []string{"throughput", "in_flight"}
	for _, st := range []string{pipeline.StageValidate, pipeline.StageAuthorize, pipeline.StageExecute, pipeline.StageCommit, pipeline.StageOverhead, pipeline.StageTotal} {
		for _, p := range []string{"p50", "p90", "p99", "p99.9"} {
			want = append(want, st+" "+p)
		}
	}
	for _, name := range want {
		el, ok := polylines[name]
		if !ok {
			t.Errorf("no plot line %q", name)
			continue
		}
		if n := attr(el, "data-points"); n != strconv.Itoa(uiTicks) {
			t.Errorf("plot line %q has %s points, want %d", name, n, uiTicks)
		}
		// The points are where a plot puts them: x rising inside the frame.
		pts := strings.Fields(attr(el, "points"))
		lastX := -1.0
		for _, p := range pts {
			xs, ys, _ := strings.Cut(p, ",")
			x, err1 := strconv.ParseFloat(xs, 64)
			y, err2 := strconv.ParseFloat(ys, 64)
			if err1 != nil || err2 != nil || x <= lastX || x < 0 || x > 400 || y < 0 || y > 150 {
				t.Errorf("plot line %q: point %q out of order or outside the plot", name, p)
				break
			}
			lastX = x
		}
	}
	allow, deny := uiTicks*uiPerTick, uiTicks
	if !strings.Contains(dom, fmt.Sprintf(`data-allow="%d" data-deny="%d" data-error="%d"`, allow, deny, 2*uiTicks)) {
		t.Errorf("decision totals not allow %d deny %d error %d (a denial is an AUTHORIZATION_ERROR too):\n%s", allow, deny, 2*uiTicks, dom)
	}
	seq, hash := l.j.Head()
	for _, s := range []string{">" + strconv.FormatUint(seq, 10) + "<", ">" + hash + "<", ">" + l.j.HeadSegment() + "<",
		`class="badge CRITICAL"`, ">commit CRITICAL<"} {
		if !strings.Contains(dom, s) {
			t.Errorf("the page does not show %s", s)
		}
	}

	// The screenshot: the plots drew lines (pixels in the series colours)
	// that the empty page did not have.
	shot := b.Screenshot(t, filepath.Join(art, "ui.png"), withToken)
	before, after := seriesPixels(empty), seriesPixels(shot)
	t.Logf("series-coloured pixels: %d without samples, %d after the load (screenshots in %s)", before, after, art)
	if after < before+3000 {
		t.Errorf("the screenshot has %d series-coloured pixels, the empty page %d: the plots look empty", after, before)
	}
}

// seriesColours are the plot line colours of ui.html's stylesheet (p50,
// p90, p99, p99.9, throughput).
var seriesColours = []color.RGBA{{0x1f, 0x77, 0xb4, 0xff}, {0x2c, 0xa0, 0x2c, 0xff}, {0xd6, 0x27, 0x28, 0xff}, {0x94, 0x67, 0xbd, 0xff}, {0xff, 0x7f, 0x0e, 0xff}}

// seriesPixels counts the pixels of a screenshot close to a series colour.
func seriesPixels(img image.Image) int {
	return chromiumtest.CountColours(img, img.Bounds(), seriesColours, 30)
}
