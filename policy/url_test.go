package policy

import "testing"

var urlSamples = []string{
	"https://api.github.com", "https://api.github.com/", "https://api.github.com/repos/x/y?a=1#frag",
	"https://pypi.org@evil.io/", "https://api.github.com.evil.io/", "https://API.github.com/",
	"HTTPS://x.io/", "https://x.io:443/", "https://[::1]/", "https://x.io/%zz", "https://x.io/a%20b",
	"https://x.io?q", "https://x.io#f", "https:/x.io", "https:x.io", "//x.io/", "x.io", "",
	"https://", "https:///path", "h2://x/", "a+b.c-d://h/", "https://x_y.io/", "https://x.io./",
	"https://-x.io/", "https://x..io/", "file:///etc/passwd", "mailto:a@b", "https://u:p@x.io/",
	"https://x.io:abc/", "ht%74ps://x.io/", "1https://x.io/", "https://é.io/", "https://x.io/é",
}

// TestParseURLFast: where the fast path decides, it agrees with net/url.
func TestParseURLFast(t *testing.T) {
	for _, s := range urlSamples {
		checkURLFast(t, s)
	}
}

func checkURLFast(t *testing.T, s string) {
	fs, fh, fok := parseURLFast(s)
	if !fok || !urlChars(s) {
		return
	}
	ss, sh, sok := parseURLSlow(s)
	if !sok || fs != ss || fh != sh {
		t.Errorf("%q: fast (%q, %q), net/url (%q, %q, %v)", s, fs, fh, ss, sh, sok)
	}
}

func FuzzParseURL(f *testing.F) {
	for _, s := range urlSamples {
		f.Add(s)
	}
	f.Fuzz(checkURLFast)
}
