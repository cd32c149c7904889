package perf

import (
	"image"
	"image/color"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/femtoclaw/femtoclaw-go/internal/chromiumtest"
)

// The HTML report in a real browser: headless Chromium renders the
// fixtures' report.html from a file, with no network and no script, and
// the test checks the plots it drew: every line in the DOM has the points
// the page computed, inside its frame, and every plot area of the
// screenshot has pixels of each of its lines' colours. report.html and
// the screenshot are left in the test's artifact directory.
//
// The plots' positions on the page come from a probe: a copy of the page
// with a script appended that writes each plot's bounding box into the
// DOM (the report itself has no script); the layout is the same, as the
// script draws nothing.
//
// Without Chromium the test skips, unless FEMTOCLAW_TEST_REQUIRE_CHROMIUM=1
// (see internal/chromiumtest).

const reportWidth = 1280

const probeScript = `<script>
document.querySelectorAll("svg[data-plot]").forEach(function (s) {
  var r = s.getBoundingClientRect();
  s.setAttribute("data-rect", [r.left + scrollX, r.top + scrollY, r.width, r.height].map(Math.round).join(" "));
});
document.body.setAttribute("data-height", String(document.documentElement.scrollHeight));
</script>`

func TestReportInChromium(t *testing.T) {
	b := chromiumtest.New(t, reportWidth, 1000)
	art := t.ArtifactDir()
	page := renderHTML(t, fixtureReports(t))
	report := filepath.Join(art, "report.html")
	if err := os.WriteFile(report, []byte(page), 0o644); err != nil {
		t.Fatal(err)
	}
	probe := filepath.Join(t.TempDir(), "probe.html")
	if err := os.WriteFile(probe, []byte(strings.Replace(page, "</body>", probeScript+"</body>", 1)), 0o644); err != nil {
		t.Fatal(err)
	}

	dom := b.DOM(t, "file://"+probe)
	m := regexp.MustCompile(`<body data-height="(\d+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("the probe did not run:\n%.2000s", dom)
	}
	height, _ := strconv.Atoi(m[1])
	if height < 2000 || height > 16000 {
		t.Fatalf("the page is %d px tall", height)
	}

	plots := regexp.MustCompile(`(?s)<svg class="plot" data-plot="([^"]+)" data-kind="([^"]+)"[^>]*data-rect="(\d+) (\d+) (\d+) (\d+)"[^>]*>(.*?)</svg>`).FindAllStringSubmatch(dom, -1)
	kinds := map[string]int{}
	for _, p := range plots {
		kinds[p[2]]++
	}
	if kinds["percentiles"] != 4 || kinds["sweep"] != 1 || kinds["stages"] != 1 {
		t.Fatalf("plots in the DOM by kind: %v, want 4 percentiles (one per transport), 1 sweep, 1 stages", kinds)
	}

	b.Height = height
	shot := b.Screenshot(t, filepath.Join(art, "report.png"), "file://"+report)
	t.Logf("report.html and report.png (%dx%d) in %s", reportWidth, height, art)

	pathRe := regexp.MustCompile(`<path class="line" data-series="([^"]*)" data-points="(\d+)" d="([^"]*)" stroke="(#[0-9a-f]{6})"`)
	segRe := regexp.MustCompile(`<rect class="seg" data-stage="([^"]*)" [^>]*fill="(#[0-9a-f]{6})"`)
	for _, p := range plots {
		id, kind, body := p[1], p[2], p[7]
		var rect image.Rectangle
		for i, v := range p[3:7] {
			n, _ := strconv.Atoi(v)
			switch i {
			case 0:
				rect.Min.X = n
			case 1:
				rect.Min.Y = n
			case 2:
				rect.Max.X = rect.Min.X + n
			case 3:
				rect.Max.Y = rect.Min.Y + n
			}
		}
		if rect.Dx() < 600 || rect.Dy() < 100 {
			t.Errorf("%s: drawn %v, too small to read", id, rect)
		}
		colours := map[string]string{} // colour → what drew it
		if kind == "stages" {
			for _, s := range segRe.FindAllStringSubmatch(body, -1) {
				colours[s[2]] = s[1]
			}
			if len(colours) != len(stackedStages) {
				t.Errorf("%s: segments in %d colours, want one per stacked stage (%d)", id, len(colours), len(stackedStages))
			}
		} else {
			lines := pathRe.FindAllStringSubmatch(body, -1)
			if len(lines) == 0 {
				t.Errorf("%s: no lines", id)
			}
			for _, l := range lines {
				colours[l[4]] = l[1]
				checkLine(t, id, kind, l[1], l[2], l[3])
			}
		}
		for hex, what := range colours {
			c := parseColour(t, hex)
			if n := chromiumtest.CountColours(shot, rect, []color.RGBA{c}, 40); n < 150 {
				t.Errorf("%s: %d pixels of %s's colour %s in the plot area %v: not drawn", id, n, what, hex, rect)
			}
		}
	}
	// The control: the page's header, above every plot, has none of the
	// plot colours.
	var palette []color.RGBA
	for _, hex := range plotPalette {
		palette = append(palette, parseColour(t, hex))
	}
	if n := chromiumtest.CountColours(shot, image.Rect(0, 0, reportWidth, 60), palette, 40); n != 0 {
		t.Errorf("the page's header has %d pixels of plot colours: the colour count sees what is not drawn", n)
	}
}

// checkLine checks a line's path data: the points it says it has, at
// least a percentile line's share of them, all inside the frame, x rising.
func checkLine(t *testing.T, plot, kind, series, points, d string) {
	t.Helper()
	want, _ := strconv.Atoi(points)
	pts := regexp.MustCompile(`[ML]([0-9.]+),([0-9.]+)`).FindAllStringSubmatch(d, -1)
	if len(pts) != want {
		t.Errorf("%s %q: %d points in d, data-points says %d", plot, series, len(pts), want)
	}
	min := 40 // a percentile line: 20 per decade of 1/(1−q), to 99 % at least
	if kind == "sweep" {
		min = 5 // the fixtures' five rates
	}
	if len(pts) < min {
		t.Errorf("%s %q: %d points, want ≥ %d", plot, series, len(pts), min)
	}
	lastX := -1.0
	for _, p := range pts {
		x, _ := strconv.ParseFloat(p[1], 64)
		y, _ := strconv.ParseFloat(p[2], 64)
		if x <= lastX || x < plotFX || x > plotFX+plotFW || y < plotFY || y > plotFY+plotFH {
			t.Errorf("%s %q: point (%g, %g) out of order or outside the frame", plot, series, x, y)
			return
		}
		lastX = x
	}
}

func parseColour(t *testing.T, hex string) color.RGBA {
	t.Helper()
	v, err := strconv.ParseUint(strings.TrimPrefix(hex, "#"), 16, 32)
	if err != nil {
		t.Fatalf("colour %q: %v", hex, err)
	}
	return color.RGBA{R: uint8(v >> 16), G: uint8(v >> 8), B: uint8(v), A: 0xff}
}
