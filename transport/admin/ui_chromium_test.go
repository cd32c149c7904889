package admin

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

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
// missing browser a failure: CI never skips it silently.

const (
	uiWidth, uiHeight = 1280, 1400
	uiTicks           = 30
	uiPerTick         = 20
)

func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv("FEMTOCLAW_TEST_REQUIRE_CHROMIUM") == "1" {
		t.Fatal("FEMTOCLAW_TEST_REQUIRE_CHROMIUM=1 but no chromium on PATH (scripts/install-chromium.sh installs it)")
	}
	t.Skip("no chromium on PATH (set FEMTOCLAW_TEST_REQUIRE_CHROMIUM=1 to make this a failure)")
	return ""
}

// chromium runs one headless Chromium with args after the common ones
// and returns its standard output.
func chromium(t *testing.T, bin string, args ...string) string {
	t.Helper()
	// A bound on a hung browser, not a measurement.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	common := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--user-data-dir=" + t.TempDir(),
		fmt.Sprintf("--window-size=%d,%d", uiWidth, uiHeight), "--virtual-time-budget=5000"}
	cmd := exec.CommandContext(ctx, bin, append(common, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

func TestUIInChromium(t *testing.T) {
	bin := chromiumPath(t)
	l := newLoadedServer(t)
	page := "http://" + l.Addr().String() + UIPath
	withToken := page + "#token=" + uiToken
	art := t.ArtifactDir()

	// Before any load: the control screenshot, plots without samples.
	empty := filepath.Join(art, "ui-empty.png")
	chromium(t, bin, "--screenshot="+empty, withToken)
	if dom := chromium(t, bin, "--dump-dom", withToken); !strings.Contains(dom, `class="badge ok"`) {
		t.Errorf("no samples yet, but the page does not say ok:\n%s", dom)
	}

	// Without the token the page gets no data.
	dom := chromium(t, bin, "--dump-dom", page)
	if !strings.Contains(dom, `data-state="unauthorized"`) || strings.Contains(dom, "<polyline") {
		t.Fatalf("page without the token: not unauthorized, or plotted:\n%s", dom)
	}

	l.load(t, uiTicks, uiPerTick)
	dom = chromium(t, bin, "--dump-dom", withToken)
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
	shot := filepath.Join(art, "ui.png")
	chromium(t, bin, "--screenshot="+shot, withToken)
	before, after := seriesPixels(t, empty), seriesPixels(t, shot)
	t.Logf("series-coloured pixels: %d without samples, %d after the load (screenshots in %s)", before, after, art)
	if after < before+3000 {
		t.Errorf("the screenshot has %d series-coloured pixels, the empty page %d: the plots look empty", after, before)
	}
}

// seriesColours are the plot line colours of ui.html's stylesheet (p50,
// p90, p99, p99.9, throughput).
var seriesColours = [][3]int{{0x1f, 0x77, 0xb4}, {0x2c, 0xa0, 0x2c}, {0xd6, 0x27, 0x28}, {0x94, 0x67, 0xbd}, {0xff, 0x7f, 0x0e}}

// seriesPixels decodes a screenshot, checks its size, and counts the
// pixels close to a series colour.
func seriesPixels(t *testing.T, path string) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if b := img.Bounds(); b != image.Rect(0, 0, uiWidth, uiHeight) {
		t.Fatalf("%s: %v, want %dx%d", path, b, uiWidth, uiHeight)
	}
	n := 0
	for y := range uiHeight {
		for x := range uiWidth {
			r, g, b, _ := img.At(x, y).RGBA()
			for _, c := range seriesColours {
				dr, dg, db := int(r>>8)-c[0], int(g>>8)-c[1], int(b>>8)-c[2]
				if dr*dr+dg*dg+db*db < 30*30 {
					n++
					break
				}
			}
		}
	}
	return n
}
