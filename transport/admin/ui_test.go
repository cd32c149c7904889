package admin

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/stats"
)

const uiToken = "admin-ui-token-0123456789"

// loadedServer is an admin Server (admin token uiToken) over a real
// runtime with a journal, on an injected clock; load runs executions
// through it and ticks its monitor. Its detector watches only the commit
// stage, with a budget of 1 ns: the commit stage is CRITICAL as soon as
// it has 10 samples.
type loadedServer struct {
	*Server
	rt  *pipeline.Runtime
	j   *journal.Journal
	clk *fakeClock
}

func newLoadedServer(t *testing.T) *loadedServer {
	t.Helper()
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	j, err := journal.Open(journal.Config{Dir: filepath.Join(t.TempDir(), "journal"), Durability: journal.DurabilityInterval, Logger: quiet})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { j.Close() })
	caps, err := capability.Builtins(capability.BuiltinConfig{})
	if err != nil {
		t.Fatal(err)
	}
	creg, err := capability.NewRegistry(caps, map[string]capability.Settings{"noop": {Enabled: true}, "echo": {Enabled: true}})
	if err != nil {
		t.Fatal(err)
	}
	reg := stats.NewRegistry()
	rt, err := pipeline.Open(pipeline.Config{Logger: quiet, Metrics: reg, Journal: j}, creg, policy.Default())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rt.Close() })
	sum := sha256.Sum256([]byte(uiToken))
	clk := &fakeClock{}
	clk.advance(time.Duration(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).UnixNano()))
	// A commit budget every commit exceeds: the degradation the page
	// shows does not depend on how fast this machine is.
	det := stats.NewDetector(stats.DetectorConfig{Budgets: []stats.Budget{{Stage: pipeline.StageCommit, CriticalP99: time.Nanosecond}},
		MinSamples: 10, Now: clk.now})
	s, err := New(Config{Addr: "127.0.0.1:0", Metrics: reg, Now: clk.now, Tick: time.Hour, Logger: quiet, Detector: det,
		TokenSHA256: hex.EncodeToString(sum[:]), Build: Build{Version: "1.2.3-test"},
		JournalHead: func() JournalHead {
			seq, hash := j.Head()
			return JournalHead{Seq: seq, Hash: hash, Segment: j.HeadSegment()}
		}})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Shutdown(context.Background()) })
	return &loadedServer{Server: s, rt: rt, j: j, clk: clk}
}

// load runs ticks seconds of executions, ticking the monitor after each
// second: perTick allowed echo calls, one call of a disabled capability
// (a denial) and one malformed message (a protocol error).
func (l *loadedServer) load(t *testing.T, ticks, perTick int) {
	t.Helper()
	ctx := context.Background()
	for range ticks { // Start took the first tick
		for range perTick {
			if a := l.rt.Execute(ctx, &pipeline.Request{Message: []byte(`{"tool_call":{"tool":"echo","args":{"text":"ui"}}}`), Principal: "tester", Transport: "inproc"}); a.Error != nil {
				t.Fatalf("echo: %+v", a.Error)
			}
		}
		l.rt.Execute(ctx, &pipeline.Request{Message: []byte(`{"tool_call":{"tool":"shell","args":{"bin":"ls"}}}`), Principal: "tester", Transport: "inproc"})
		l.rt.Execute(ctx, &pipeline.Request{Message: []byte(`{"tool_call":`), Principal: "tester", Transport: "inproc"})
		l.clk.advance(time.Second)
		l.Tick()
	}
}

func (l *loadedServer) get(t *testing.T, path, token string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", "http://"+l.Addr().String()+path, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return resp, body
}

// TestUIPageIsSelfContained: /ui is one document that loads nothing, and
// its Content-Security-Policy allows nothing but its own inline script
// and stylesheet (hashed here independently of ui.go) and connections to
// its own origin.
func TestUIPageIsSelfContained(t *testing.T) {
	l := newLoadedServer(t)
	resp, body := l.get(t, UIPath, "") // no token: the page needs none
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("/ui: %d %v", resp.StatusCode, resp.Header)
	}
	page := string(body)
	for _, bad := range []string{"src=", "href=", "@import", "url(", "<link", "<iframe", "<object", "<embed", "<img"} {
		if strings.Contains(page, bad) {
			t.Errorf("the page contains %q: it must load nothing", bad)
		}
	}
	// The only URL in it is the SVG namespace, an identifier that is never fetched.
	if urls := regexp.MustCompile(`(?i)(https?:)?//[a-z0-9.-]+\.[a-z]{2,}`).FindAllString(page, -1); len(slices.DeleteFunc(urls, func(u string) bool { return u == "http://www.w3.org" })) > 0 {
		t.Errorf("the page names other origins: %v", urls)
	}
	hash := func(tag string) string {
		m := regexp.MustCompile(`(?s)<`+tag+`>(.*?)</`+tag+`>`).FindAllStringSubmatch(page, -1)
		if len(m) != 1 {
			t.Fatalf("%d <%s> elements, want one", len(m), tag)
		}
		sum := sha256.Sum256([]byte(m[0][1]))
		return "'sha256-" + base64.StdEncoding.EncodeToString(sum[:]) + "'"
	}
	csp := map[string]string{}
	for _, d := range strings.Split(resp.Header.Get("Content-Security-Policy"), ";") {
		name, val, _ := strings.Cut(strings.TrimSpace(d), " ")
		csp[name] = val
	}
	want := map[string]string{"default-src": "'none'", "script-src": hash("script"), "style-src": hash("style"),
		"connect-src": "'self'", "base-uri": "'none'", "form-action": "'none'", "frame-ancestors": "'none'"}
	if len(csp) != len(want) {
		t.Errorf("CSP directives %v, want %v", csp, want)
	}
	for k, v := range want {
		if csp[k] != v {
			t.Errorf("CSP %s = %q, want %q", k, csp[k], v)
		}
	}
	for k, v := range map[string]string{"X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"} {
		if got := resp.Header.Get(k); got != v {
			t.Errorf("%s: %q, want %q", k, got, v)
		}
	}
	if strings.Contains(page, "style=") {
		t.Error("a style attribute: the CSP (hashes, no 'unsafe-inline') blocks it")
	}
}

// TestUIKeepsTheGuard: the page itself needs no token, carries no
// runtime data, and is behind the Host check; the data it shows still
// needs the token.
func TestUIKeepsTheGuard(t *testing.T) {
	l := newLoadedServer(t)
	l.load(t, 2, 5)
	if resp, body := l.get(t, UIPath, ""); resp.StatusCode != 200 || string(body) != string(uiPage) {
		t.Fatalf("/ui without a token: %d, or not the constant page", resp.StatusCode)
	}
	for _, p := range []string{"/v1/stats", "/metrics", "/readyz", UIPath + "/", UIPath + "/x", "/ui.html"} {
		if resp, _ := l.get(t, p, ""); resp.StatusCode != 401 {
			t.Errorf("%s without a token: %d, want 401", p, resp.StatusCode)
		}
	}
	if resp, _ := l.get(t, "/v1/stats", uiToken); resp.StatusCode != 200 {
		t.Errorf("/v1/stats with the token: %d", resp.StatusCode)
	}
	if got := rawGet(t, l.Server, UIPath, "attacker.example:"+portOf(l.Server)); got != 421 {
		t.Errorf("/ui with a foreign Host: %d, want 421", got)
	}
	// The token is read from the fragment, which browsers never send, and
	// sent as a header; the page never puts it in a URL.
	if strings.Contains(string(uiPage), "?token") || !strings.Contains(string(uiPage), "location.hash") || !strings.Contains(string(uiPage), "'Bearer '") {
		t.Error("the page's token handling changed: fragment in, Authorization header out")
	}
}

func portOf(s *Server) string {
	_, port, _ := strings.Cut(s.Addr().String(), "127.0.0.1:")
	return port
}

// TestUIDataContract: every /v1/stats member the page reads exists in the
// report of a loaded server, with data in it; the page's stage list is
// pipeline.Stages.
func TestUIDataContract(t *testing.T) {
	l := newLoadedServer(t)
	l.load(t, 5, 10)
	resp, body := l.get(t, "/v1/stats", uiToken)
	if resp.StatusCode != 200 {
		t.Fatalf("/v1/stats: %d %s", resp.StatusCode, body)
	}
	var rep map[string]any
	if err := json.Unmarshal(body, &rep); err != nil {
		t.Fatal(err)
	}
	script := string(uiPage)
	reads := func(re string) []string {
		var out []string
		for _, m := range regexp.MustCompile(re).FindAllStringSubmatch(script, -1) {
			if !slices.Contains(out, m[1]) {
				out = append(out, m[1])
			}
		}
		return out
	}
	obj := func(v any, what string) map[string]any {
		m, ok := v.(map[string]any)
		if !ok {
			t.Fatalf("%s is %T, not an object", what, v)
		}
		return m
	}
	has := func(m map[string]any, keys []string, what string, min int) {
		t.Helper()
		if len(keys) < min {
			t.Errorf("the page reads %d members of %s (%v): the names the test looks for changed", len(keys), what, keys)
		}
		for _, k := range keys {
			if _, ok := m[k]; !ok {
				t.Errorf("the page reads %s.%s; /v1/stats has no such member", what, k)
			}
		}
	}
	has(rep, reads(`\brep\.(\w+)`), "report", 10)
	has(obj(rep["journal"], "journal"), reads(`\brep\.journal\.(\w+)`), "journal", 3)
	has(obj(rep["build"], "build"), reads(`\brep\.build\.(\w+)`), "build", 1)
	has(obj(rep["throughput_per_second"], "throughput"), reads(`\btput\['(\w+)'\]`), "throughput_per_second", 3)
	ser := obj(rep["series"], "series")
	has(ser, reads(`\bser\.(\w+)`), "series", 4)
	stages := obj(ser["stages"], "series.stages")
	commit := obj(stages[pipeline.StageCommit], "series.stages.commit")
	has(commit, append(reads(`\bstg\.(\w+)`), reads(`'(\w+_ns)'`)...), "stage series", 5)
	var deg map[string]any
	b, _ := json.Marshal(Degradation{})
	json.Unmarshal(b, &deg)
	has(deg, reads(`\bdeg\.(\w+)`), "degraded[]", 4)

	// The page's stage list is the pipeline's.
	m := regexp.MustCompile(`var STAGES = \[([^\]]*)\]`).FindStringSubmatch(script)
	if m == nil {
		t.Fatal("no STAGES list in the page")
	}
	var pageStages []string
	for _, s := range strings.Split(m[1], ",") {
		pageStages = append(pageStages, strings.Trim(strings.TrimSpace(s), "'"))
	}
	if !slices.Equal(pageStages, pipeline.Stages()) {
		t.Errorf("page stages %v, pipeline.Stages %v", pageStages, pipeline.Stages())
	}

	// And the data is there: five intervals of every stage the load ran
	// through, the decisions by code, the journal head.
	var r Report
	if err := json.Unmarshal(body, &r); err != nil {
		t.Fatal(err)
	}
	if n := len(r.Series.TimeUnixMs); n != 5 || len(r.Series.Throughput) != n || len(r.Series.InFlight) != n {
		t.Fatalf("series: %d intervals %+v", n, r.Series)
	}
	for _, st := range []string{pipeline.StageValidate, pipeline.StageAuthorize, pipeline.StageExecute, pipeline.StageCommit, pipeline.StageOverhead, pipeline.StageTotal} {
		ss, ok := r.Series.Stages[st]
		if !ok || len(ss.P99) != 5 || ss.P50[4] <= 0 || ss.P999[4] < ss.P99[4] || ss.P99[4] < ss.P90[4] || ss.P90[4] < ss.P50[4] {
			t.Errorf("stage %s series %+v", st, ss)
		}
	}
	if c := r.Series.Stages[pipeline.StageTotal].Count; c[4] != 12 { // 10 echo, 1 denial, 1 malformed
		t.Errorf("total counts %v, want 12 per interval", c)
	}
	if r.Series.Throughput[4] != 12 {
		t.Errorf("throughput series %v, want 12/s", r.Series.Throughput)
	}
	if r.Decisions["AUTHORIZED"] != 50 || r.Decisions["DENIED_CAPABILITY_DISABLED"] != 5 || len(r.Decisions) != 5 {
		t.Errorf("decisions %v", r.Decisions)
	}
	if r.Errors["PROTOCOL_ERROR"] != 5 || r.Outcomes["success"] != 50 || r.Outcomes["denied"] != 5 || r.Outcomes["rejected"] != 5 {
		t.Errorf("errors %v outcomes %v", r.Errors, r.Outcomes)
	}
	seq, hash := l.j.Head()
	if r.Journal == nil || r.Journal.Seq != seq || seq < 60 || r.Journal.Hash != hash || r.Journal.Segment != "00000000000000000000.seg" {
		t.Errorf("journal %+v, head %d %s", r.Journal, seq, hash)
	}
	if r.Degradation != stats.SeverityCritical || len(r.Degraded) != 1 || r.Degraded[0].Stage != pipeline.StageCommit || r.Build.Version != "1.2.3-test" || r.Build.GoVersion == "" {
		t.Errorf("degradation %q %+v build %+v", r.Degradation, r.Degraded, r.Build)
	}
	var stageNames []string
	for _, st := range r.Stages {
		if st.Stage != "" && pipeline.StageFamily(st.Stage) != st.Name {
			t.Errorf("stage %q reported for family %s", st.Stage, st.Name)
		}
		stageNames = append(stageNames, st.Stage)
	}
	if !slices.Contains(stageNames, pipeline.StageCommit) {
		t.Errorf("no commit stage in %v", stageNames)
	}
}
