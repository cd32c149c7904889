package chromiumtest

import (
	"image"
	"image/color"
	"testing"
)

func TestCountColours(t *testing.T) {
	img := image.NewRGBA(image.Rect(0, 0, 20, 10))
	blue := color.RGBA{0x1f, 0x77, 0xb4, 0xff}
	for x := range 20 {
		img.Set(x, 2, blue)                               // a line
		img.Set(x, 5, color.RGBA{0x2a, 0x80, 0xbc, 0xff}) // its anti-aliased edge: distance 16
		img.Set(x, 8, color.RGBA{0xe6, 0xe6, 0xe6, 0xff}) // a grey grid line
	}
	colours := []color.RGBA{blue}
	for _, c := range []struct {
		r         image.Rectangle
		tolerance int
		want      int
	}{
		{img.Bounds(), 30, 40},
		{img.Bounds(), 10, 20},               // the edge is too far off
		{image.Rect(0, 0, 10, 10), 30, 20},   // the left half
		{image.Rect(-5, -5, 100, 3), 30, 20}, // clipped to the image: the line only
		{image.Rect(0, 6, 20, 10), 200, 0},   // the grid is far from every colour
	} {
		if got := CountColours(img, c.r, colours, c.tolerance); got != c.want {
			t.Errorf("CountColours(%v, tolerance %d) = %d, want %d", c.r, c.tolerance, got, c.want)
		}
	}
}
