package authzanchor

import (
	"strings"
	"unicode/utf8"
)

// Go is the hand-written floor: policy.rego's 20 rules as plain Go.
type Go struct{}

func (Go) Decide(c *Call) (bool, error) { return DecideGo(c), nil }

func inOps(p string) bool      { return p == "agent-1" || p == "agent-2" }
func inResearch(p string) bool { return p == "agent-3" || p == "agent-4" }
func inAll(p string) bool      { return inOps(p) || inResearch(p) || p == "agent-5" }

func DecideGo(c *Call) bool {
	p, a := c.Principal, c.Args
	switch c.Tool {
	case "shell":
		bin, ok := a["bin"].(string)
		if !ok || bin == "git" && argvHas(a, "push") { // F5
			return false
		}
		if !argvOK(a) {
			return false
		}
		return inOps(p) && oneOf(bin, "ls", "cat", "grep", "git", "go") || // P1
			p == "agent-3" && oneOf(bin, "ls", "cat") || // P2
			p == "agent-4" && bin == "python3" // P3
	case "fs.read":
		path, ok := a["path"].(string)
		if !ok || strings.Contains(path, "..") {
			return false
		}
		if strings.HasPrefix(path, "/project/secrets/") || // F1
			strings.HasSuffix(path, ".pem") || strings.HasSuffix(path, ".key") { // F2
			return false
		}
		pre := func(s string) bool { return strings.HasPrefix(path, s) }
		return inOps(p) && (pre("/project/") || pre("/srv/data/")) || // P4
			inResearch(p) && (pre("/project/research/") || pre("/datasets/")) || // P5
			p == "agent-2" && pre("/var/log/app/") || // P6
			p == "agent-5" && pre("/public/") // P7
	case "http.get":
		url, ok := a["url"].(string)
		if !ok || p == "agent-4" || strings.Contains(url, "/admin") { // F3, F4
			return false
		}
		return inResearch(p) && hostIn(url, "api.github.com", "pypi.org", "arxiv.org") || // P8
			inOps(p) && hostIn(url, "pkg.go.dev", "mirror.example.org") || // P9
			p == "agent-1" && hostIn(url, "internal.example.com") || // P10
			p == "agent-5" && hostIn(url, "status.example.com") // P11
	case "echo":
		return inOps(p) || inResearch(p) || p == "agent-5" // P12–P14
	case "noop":
		return inAll(p) // P15
	}
	return false
}

func oneOf(s string, set ...string) bool {
	for _, x := range set {
		if s == x {
			return true
		}
	}
	return false
}

// argvOK: absent, or a list of at most 16 strings of at most 256 characters.
func argvOK(a map[string]any) bool {
	v, present := a["argv"]
	if !present {
		return true
	}
	list, ok := v.([]any)
	if !ok || len(list) > 16 {
		return false
	}
	for _, x := range list {
		s, ok := x.(string)
		if !ok || len(s) > 256 && utf8.RuneCountInString(s) > 256 {
			return false
		}
	}
	return true
}

func argvHas(a map[string]any, want string) bool {
	list, _ := a["argv"].([]any)
	for _, x := range list {
		if s, ok := x.(string); ok && s == want {
			return true
		}
	}
	return false
}

// hostIn: url is https://HOST or starts with https://HOST/ for one of hosts.
func hostIn(url string, hosts ...string) bool {
	rest, ok := strings.CutPrefix(url, "https://")
	if !ok {
		return false
	}
	for _, h := range hosts {
		if r, ok := strings.CutPrefix(rest, h); ok && (r == "" || r[0] == '/') {
			return true
		}
	}
	return false
}
