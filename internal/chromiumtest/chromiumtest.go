// Package chromiumtest runs headless Chromium for the tests of pages the
// project serves or writes (the admin listener's /ui, fcload's HTML
// report): it finds the browser, takes a screenshot or dumps the DOM a
// page built, and counts the pixels of given colours in a region of a
// screenshot, so a test can tell a drawn plot from an empty frame.
//
// Without Chromium on PATH a test that asks for it is skipped, unless
// FEMTOCLAW_TEST_REQUIRE_CHROMIUM=1 (scripts/test.sh sets it after
// scripts/install-chromium.sh), which makes a missing browser a failure:
// CI never skips a browser test silently.
//
//	b := chromiumtest.New(t, 1280, 1400)
//	dom := b.DOM(t, url)                    // the DOM after the page's scripts ran
//	img := b.Screenshot(t, shotPath, url)   // written to shotPath, decoded
//	n := chromiumtest.CountColours(img, img.Bounds(), colours, 30)
//
// Every browser runs with a fresh profile in a temporary directory and a
// bound of two minutes on a hung process (a bound, not a measurement).
// A Browser is plain data: use it from one test goroutine at a time.
package chromiumtest

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"os"
	"os/exec"
	"testing"
	"time"
)

// RequireEnv is the variable that turns a missing Chromium from a skip
// into a failure when it is "1".
const RequireEnv = "FEMTOCLAW_TEST_REQUIRE_CHROMIUM"

// Browser is a headless Chromium binary and the window it renders into.
type Browser struct {
	// Path is the browser binary.
	Path string
	// Width and Height are the window size in CSS pixels, which is also
	// the screenshot's size in pixels (the device scale factor is 1).
	Width, Height int
}

// Find returns the path of a Chromium on PATH (chromium,
// chromium-browser or google-chrome). Without one it skips t, or fails it
// when FEMTOCLAW_TEST_REQUIRE_CHROMIUM=1.
func Find(t testing.TB) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatal(RequireEnv + "=1 but no chromium on PATH (scripts/install-chromium.sh installs it)")
	}
	t.Skip("no chromium on PATH (set " + RequireEnv + "=1 to make this a failure)")
	return ""
}

// New finds Chromium (see Find) and returns a Browser with a window of
// width × height.
func New(t testing.TB, width, height int) *Browser {
	t.Helper()
	return &Browser{Path: Find(t), Width: width, Height: height}
}

// Run runs one headless Chromium with args after the common ones and
// returns its standard output. A failing browser fails t with its
// standard error.
func (b *Browser) Run(t testing.TB, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	common := []string{"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
		"--no-default-browser-check", "--disable-extensions", "--hide-scrollbars", "--force-device-scale-factor=1",
		"--user-data-dir=" + t.TempDir(), fmt.Sprintf("--window-size=%d,%d", b.Width, b.Height), "--virtual-time-budget=5000"}
	cmd := exec.CommandContext(ctx, b.Path, append(common, args...)...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %v: %v\n%s", args, err, errb.String())
	}
	return out.String()
}

// DOM returns the serialized DOM of url after its scripts ran
// (--dump-dom).
func (b *Browser) DOM(t testing.TB, url string) string {
	t.Helper()
	return b.Run(t, "--dump-dom", url)
}

// Screenshot writes a PNG screenshot of url's window to path and returns
// it decoded, failing t unless it is Width × Height.
func (b *Browser) Screenshot(t testing.TB, path, url string) image.Image {
	t.Helper()
	b.Run(t, "--screenshot="+path, url)
	img := DecodePNG(t, path)
	if got := img.Bounds(); got != image.Rect(0, 0, b.Width, b.Height) {
		t.Fatalf("%s: %v, want %dx%d", path, got, b.Width, b.Height)
	}
	return img
}

// DecodePNG reads a PNG file, failing t if it cannot.
func DecodePNG(t testing.TB, path string) image.Image {
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
	return img
}

// CountColours counts the pixels of img inside r (clipped to the image)
// whose colour is within tolerance of one of colours: the Euclidean
// distance of the 8-bit red, green and blue values, so anti-aliased edges
// of a line still count while a grey grid or text does not.
func CountColours(img image.Image, r image.Rectangle, colours []color.RGBA, tolerance int) int {
	r = r.Intersect(img.Bounds())
	n := 0
	for y := r.Min.Y; y < r.Max.Y; y++ {
		for x := r.Min.X; x < r.Max.X; x++ {
			if matches(img.At(x, y), colours, tolerance) {
				n++
			}
		}
	}
	return n
}

func matches(c color.Color, colours []color.RGBA, tolerance int) bool {
	r, g, b, _ := c.RGBA()
	for _, want := range colours {
		dr, dg, db := int(r>>8)-int(want.R), int(g>>8)-int(want.G), int(b>>8)-int(want.B)
		if dr*dr+dg*dg+db*db < tolerance*tolerance {
			return true
		}
	}
	return false
}
