package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

const (
	diffPolicyActive = `rules:
  - {id: echo-for-ops, effect: allow, principals: [ops], capabilities: [echo]}
  - {id: noop-for-all, effect: allow, capabilities: [noop]}
`
	// diffPolicyCandidate: interns may echo (deny->allow), ops echo by another
	// rule (allow->allow), guests may not noop (allow->deny); everyone
	// else's noop is decided alike.
	diffPolicyCandidate = `rules:
  - {id: echo-for-ops-and-interns, effect: allow, principals: [ops, intern], capabilities: [echo]}
  - {id: noop-for-all, effect: allow, capabilities: [noop]}
  - {id: no-noop-for-guests, effect: deny, principals: [guest], capabilities: [noop]}
`
	// diffPolicyCandidate2 denies ops their echo (allow->deny).
	diffPolicyCandidate2 = `rules:
  - {id: noop-for-all, effect: allow, capabilities: [noop]}
`
)

type diffCall struct{ principal, msg, change string }

var diffCalls = []diffCall{
	{"intern", `{"tool_call":{"tool":"echo","args":{"text":"from intern"}}}`, "deny->allow"},
	{"ops", `{"tool_call":{"tool":"echo","args":{"text":"from ops"}}}`, "allow->allow"},
	{"guest", `{"tool_call":{"tool":"noop","args":{}}}`, "allow->deny"},
	{"anyone", `{"tool_call":{"tool":"noop","args":{}}}`, ""},
}

// TestServeShadowPolicy runs a node the way serve builds it, with an
// active policy and a shadow candidate: answers follow the active policy
// (an intern's echo, which only the candidate allows, is denied), the
// differing calls are counted on /metrics and /v1/stats and journaled, a
// reload with a broken candidate keeps the old pair, a good one swaps the
// candidate; then `policy diff` summarizes the journal, and `policy diff
// --candidate` replays it offline.
func TestServeShadowPolicy(t *testing.T) {
	dir := t.TempDir()
	activeFile, candFile := filepath.Join(dir, "active.yaml"), filepath.Join(dir, "candidate.yaml")
	write := func(file, text string) {
		t.Helper()
		if err := os.WriteFile(file, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	write(activeFile, diffPolicyActive)
	write(candFile, diffPolicyCandidate)
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_POLICY_FILE=" + activeFile, "FEMTOCLAW_POLICY_SHADOW_FILE=" + candFile}
	cfg, err := loadConfig("", env, []string{"listen.admin=127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	var logBuf syncBuffer
	log := slog.New(slog.NewJSONHandler(&logBuf, nil))
	n, err := openNode(cfg, log, true, nil)
	if err != nil {
		t.Fatal(err)
	}
	closed := false
	defer func() {
		if !closed {
			n.close(context.Background())
		}
	}()
	if err := n.startAdmin(); err != nil {
		t.Fatal(err)
	}
	cand1 := n.rt.Shadow()
	if cand1 == nil || !strings.Contains(logBuf.String(), "shadow policy loaded") {
		t.Fatalf("no shadow candidate loaded:\n%s", logBuf.String())
	}
	active1 := n.rt.Policy().Hash()
	exec := func(principal, msg string) *protocol.Answer {
		return n.rt.Execute(context.Background(), &pipeline.Request{Message: []byte(msg), Principal: principal, Transport: "test"})
	}
	ids := map[string][]string{} // change -> execution ids
	for range 2 {
		for _, c := range diffCalls {
			a := exec(c.principal, c.msg)
			if allowed := c.principal != "intern"; a.Decision.Allowed() != allowed {
				t.Fatalf("%s %s: %s by %s; the answer must follow the active policy", c.principal, c.msg, a.Decision, a.Rule)
			}
			ids[c.change] = append(ids[c.change], a.ExecutionID)
		}
	}

	metrics := adminGet(t, n.adminAddr, "/metrics")
	for _, want := range []string{
		pipeline.MetricPolicyShadowEvaluationsTotal + " 8\n",
		pipeline.MetricPolicyShadowDifferencesTotal + `{active="deny",candidate="allow"} 2` + "\n",
		pipeline.MetricPolicyShadowDifferencesTotal + `{active="allow",candidate="deny"} 2` + "\n",
		pipeline.MetricPolicyShadowDifferencesTotal + `{active="allow",candidate="allow"} 2` + "\n",
		pipeline.MetricPolicyShadowLoaded + " 1\n",
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	var st struct {
		Counters map[string]uint64 `json:"counters"`
		Gauges   map[string]float64
	}
	if err := json.Unmarshal([]byte(adminGet(t, n.adminAddr, "/v1/stats")), &st); err != nil {
		t.Fatal(err)
	}
	if got := st.Counters[pipeline.MetricPolicyShadowDifferencesTotal+"{active=deny,candidate=allow}"]; got != 2 {
		t.Errorf("/v1/stats deny->allow differences %d, want 2: %v", got, st.Counters)
	}
	if st.Counters[pipeline.MetricPolicyShadowEvaluationsTotal] != 8 || st.Gauges[pipeline.MetricPolicyShadowLoaded] != 1 {
		t.Errorf("/v1/stats: %v %v", st.Counters, st.Gauges)
	}

	// A reload whose candidate does not compile changes nothing, not even
	// the active policy that did.
	write(activeFile, diffPolicyActive+"  - {id: extra, effect: allow, principals: [x], capabilities: [echo]}\n")
	write(candFile, "rules: [{id: broken, effect: maybe}]\n")
	n.reloadPolicy(log)
	if n.rt.Policy().Hash() != active1 || n.rt.Shadow() != cand1 || !strings.Contains(logBuf.String(), "the previous policy and shadow policy stay") {
		t.Fatalf("a broken candidate was half installed:\n%s", logBuf.String())
	}
	write(activeFile, diffPolicyActive)
	write(candFile, diffPolicyCandidate2)
	n.reloadPolicy(log)
	cand2 := n.rt.Shadow()
	if cand2 == nil || cand2 == cand1 || n.rt.Policy().Hash() != active1 {
		t.Fatalf("the reload did not swap the candidate:\n%s", logBuf.String())
	}
	a := exec("ops", diffCalls[1].msg)
	if !a.Decision.Allowed() {
		t.Fatalf("ops echo after the reload: %s", a.Decision)
	}
	closed = true
	if err := n.close(context.Background()); err != nil {
		t.Fatal(err)
	}

	// policy diff over the journal: each candidate's groups, the
	// security-critical direction first.
	code, out, errOut := runCLI(t, env, "", "policy", "diff")
	if code != 1 {
		t.Fatalf("policy diff: exit %d (want 1: differences)\n%s%s", code, out, errOut)
	}
	for _, want := range []string{
		fmt.Sprintf("candidate sha256 %x: 6 calls decided differently", cand1.Hash()),
		"deny->allow  echo         DENIED_POLICY_VIOLATION (default-deny) -> AUTHORIZED (echo-for-ops-and-interns): 2",
		"allow->deny  noop         AUTHORIZED (noop-for-all) -> DENIED_POLICY_VIOLATION (no-noop-for-guests): 2",
		"allow->allow echo         AUTHORIZED (echo-for-ops) -> AUTHORIZED (echo-for-ops-and-interns): 2",
		"principals: intern 2",
		ids["deny->allow"][0] + "  seq ",
		`intern  {"text":"from intern"}`,
		fmt.Sprintf("candidate sha256 %x: 1 call decided differently", cand2.Hash()),
		"allow->deny  echo         AUTHORIZED (echo-for-ops) -> DENIED_POLICY_VIOLATION (default-deny): 1",
		"principals affected: ops 3, guest 2, intern 2",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("policy diff output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "anyone") || strings.Index(out, "deny->allow") > strings.Index(out, "allow->deny") {
		t.Errorf("agreeing calls shown, or groups out of order:\n%s", out)
	}

	code, out, _ = runCLI(t, env, "", "policy", "diff", "--json")
	var rep diffReport
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil {
		t.Fatalf("policy diff --json: exit %d %v\n%s", code, err, out)
	}
	if rep.Mode != "journal" || rep.Differences != 7 || len(rep.Candidates) != 2 || rep.Candidates[0].PolicySHA256 != fmt.Sprintf("%x", cand1.Hash()) {
		t.Fatalf("report %+v", rep)
	}
	g := rep.Candidates[0].Groups[0]
	if g.Change != "deny->allow" || g.Capability != "echo" || g.Count != 2 || len(g.Principals) != 1 || g.Principals[0] != (diffCount{"intern", 2}) ||
		len(g.Examples) != 2 || g.Examples[0].ExecutionID != ids["deny->allow"][0] || g.Examples[1].ExecutionID != ids["deny->allow"][1] ||
		compactJSON(g.Examples[0].Args) != `{"text":"from intern"}` {
		t.Fatalf("first group %+v", g)
	}

	// A window after every record: nothing differs.
	code, out, _ = runCLI(t, env, "", "policy", "diff", "--from", time.Now().Add(time.Hour).UTC().Format(time.RFC3339))
	if code != 0 || !strings.Contains(out, "no differences") {
		t.Fatalf("empty window: exit %d\n%s", code, out)
	}

	// Offline replay against the first candidate: the same 7 calls, now
	// decided again (the one after the reload included), and the active
	// policy against itself agrees everywhere.
	write(candFile, diffPolicyCandidate)
	code, out, _ = runCLI(t, env, "", "policy", "diff", "--candidate", candFile, "--json")
	rep = diffReport{}
	if err := json.Unmarshal([]byte(out), &rep); code != 1 || err != nil {
		t.Fatalf("policy diff --candidate: exit %d %v\n%s", code, err, out)
	}
	if rep.Mode != "replay" || rep.Replayed != 9 || rep.Stale != 0 || rep.Differences != 7 || len(rep.Candidates) != 1 ||
		rep.CandidateSHA256 != fmt.Sprintf("%x", cand1.Hash()) || rep.Candidates[0].Groups[0].Change != "deny->allow" || rep.Candidates[0].Groups[0].Count != 2 {
		t.Fatalf("replay report %+v", rep)
	}
	code, out, _ = runCLI(t, env, "", "policy", "diff", "--candidate", activeFile)
	if code != 0 || !strings.Contains(out, "9 decided calls replayed under policy "+activeFile) || !strings.Contains(out, "no differences") {
		t.Fatalf("replay of the active policy: exit %d\n%s", code, out)
	}
	// Against another active policy (--policy), the journaled decisions
	// are stale: the command says so.
	code, out, _ = runCLI(t, env, "", "policy", "diff", "--candidate", activeFile, "--policy", filepath.Join(dir, "candidate.yaml"))
	if code != 1 || !strings.Contains(out, "note: 7 replayed calls were journaled with another decision") {
		t.Fatalf("replay with --policy: exit %d\n%s", code, out)
	}

	for _, args := range [][]string{{"policy", "diff", "extra"}, {"policy", "diff", "--policy", activeFile}, {"policy", "diff", "--from", "yesterday"}} {
		if code, _, _ := runCLI(t, env, "", args...); code != 2 {
			t.Errorf("%v: exit %d, want 2 (usage)", args, code)
		}
	}
}

// TestServeRefusesBrokenShadowPolicy: serve does not start with a
// candidate that does not compile, and says which file and key.
func TestServeRefusesBrokenShadowPolicy(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "candidate.yaml")
	if err := os.WriteFile(bad, []byte("rules: [{id: broken, effect: maybe}]\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := []string{"FEMTOCLAW_DATA_DIR=" + dir, "FEMTOCLAW_LISTEN_HTTP3=127.0.0.1:0", "FEMTOCLAW_LISTEN_ADMIN=127.0.0.1:0", "FEMTOCLAW_POLICY_SHADOW_FILE=" + bad}
	code, _, errOut := runCLI(t, env, "", "serve")
	if code != 1 || !strings.Contains(errOut, bad+":1:30: policy.shadow_file: rules[0] (id \"broken\"): effect: \"maybe\" is not allow or deny") {
		t.Fatalf("serve with a broken candidate: exit %d\n%s", code, errOut)
	}
	if strings.Contains(errOut, "femtoclaw ready") {
		t.Fatal("serve became ready")
	}
}

func compactJSON(p []byte) string {
	var b bytes.Buffer
	if err := json.Compact(&b, p); err != nil {
		return string(p)
	}
	return b.String()
}

func adminGet(t *testing.T, addr, path string) string {
	t.Helper()
	resp, err := http.Get("http://" + addr + path)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		t.Fatalf("%s: %d %s", path, resp.StatusCode, body)
	}
	return string(body)
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestPolicyDiffReplaySkips: a replay decides again only the calls a
// policy decided, and skips, by reason, those it cannot decide faithfully.
func TestPolicyDiffReplaySkips(t *testing.T) {
	cfg, err := loadConfig("", nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := loadRegistry(cfg)
	if err != nil {
		t.Fatal(err)
	}
	d := &policyDiff{report: diffReport{Skipped: map[string]int{}}, reg: reg, pol: policy.Default(), cand: policy.Default()}
	d.report.CandidateSHA256 = fmt.Sprintf("%x", d.cand.Hash())
	const deny, allow = "DENIED_POLICY_VIOLATION", "AUTHORIZED"
	for _, r := range []journal.Record{
		{Kind: journal.KindExecution, Capability: "echo", Principal: "p", Decision: allow, Rule: "default.noop-echo", Args: []byte(`{"text":"x"}`)},
		{Kind: journal.KindRejection, Capability: "echo", Principal: "p", Decision: deny, Rule: "r", Args: []byte(`{"text":"` + pipeline.SecretMarker + `0123456789abcdef]"}`)},
		{Kind: journal.KindRejection, Capability: "echo", Principal: "p", Decision: deny, Rule: "r"},
		{Kind: journal.KindRejection, Capability: "gone", Principal: "p", Decision: deny, Rule: "r", Args: []byte(`{}`)},
		{Kind: journal.KindRejection, Capability: "shell", Principal: "p", Decision: "DENIED_CAPABILITY_DISABLED", Rule: "registry", Args: []byte(`{}`)},
		{Kind: journal.KindIntent, Capability: "echo", Principal: "p", Decision: allow, Rule: "r", Args: []byte(`{}`)},
		{Kind: journal.KindRejection, Capability: "echo", Principal: "p", Args: []byte(`{"bad":1}`)}, // a protocol error: no decision
		{Kind: journal.KindSystem, Principal: "runtime"},
	} {
		d.add(&r)
	}
	rep := d.finish()
	want := map[string]int{"secret arguments redacted in the journal": 1, "arguments not journaled": 1, "not a valid call under the configured registry": 1}
	if rep.Records != 8 || rep.Replayed != 1 || rep.Differences != 0 || fmt.Sprint(rep.Skipped) != fmt.Sprint(want) {
		t.Fatalf("report %+v", rep)
	}
}
