package main

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/journal"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

const policyDiffUsage = "usage: femtoclaw policy diff [--data-dir D] [--from T] [--to T] [--json] [--candidate FILE [--policy FILE]]"

// maxDiffExamples is how many example executions each group shows.
const maxDiffExamples = 3

// cmdPolicyDiff summarizes where a candidate policy decides differently
// from the active one, from the journal:
//
//   - without --candidate, the shadow verdicts serve journaled
//     (policy.shadow_file): every record whose candidate verdict differed;
//   - with --candidate FILE, every journaled call a policy decided is
//     decided again, offline, by the configured policy (or --policy) and
//     by FILE, and the two verdicts are compared: what turning FILE on
//     would change, before it is turned on.
//
// It exits 0 when nothing differs and 1 when something does (like
// diff(1)).
func cmdPolicyDiff(args []string, stdout io.Writer, environ []string) error {
	s := newSubcommand("diff", "[--data-dir D] [--from T] [--to T] [--json] [--candidate FILE [--policy FILE]]",
		"Summarize where a candidate policy decides otherwise than the active one, from the journal:\n"+
			"without --candidate, the shadow verdicts serve journaled (policy.shadow_file); with\n"+
			"--candidate FILE, every journaled call is decided again, offline, by the configured policy\n"+
			"(or --policy) and by FILE. Differences are grouped by capability and change (deny->allow\n"+
			"first), with the principals and example executions. Exit status 0 when nothing differs, 1\n"+
			"when something does, 2 for a usage mistake.",
		"  femtoclaw policy diff\n"+
			"  femtoclaw policy diff --from 2026-01-01T00:00:00Z --json\n"+
			"  femtoclaw policy diff --candidate candidate.yaml --data-dir /var/lib/femtoclaw\n", true)
	fs, c := s.fs, &s.common
	c.keyFlag(fs, "data-dir", "data_dir", "data directory `DIR` whose journal is read (default: the configured data_dir)")
	from := fs.String("from", "", "only records committed at or after this time (RFC 3339)")
	to := fs.String("to", "", "only records committed before this time (RFC 3339)")
	asJSON := fs.Bool("json", false, "print the summary as JSON")
	candFile := fs.String("candidate", "", "replay the journaled calls against this candidate policy `FILE` instead of reading journaled shadow verdicts")
	polFile := fs.String("policy", "", "with --candidate: the policy `FILE` to compare it with (default: the configured policy)")
	pos, err := s.parse(args, stdout)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usagef("%s: unexpected argument %q", policyDiffUsage, pos[0])
	}
	if *polFile != "" && *candFile == "" {
		return usagef("%s: --policy applies only with --candidate", policyDiffUsage)
	}
	cfg, err := c.load(environ)
	if err != nil {
		return err
	}
	q := journal.Query{}
	for _, t := range []struct {
		flag, s string
		dst     *time.Time
	}{{"--from", *from, &q.From}, {"--to", *to, &q.To}} {
		if t.s != "" {
			v, err := time.Parse(time.RFC3339Nano, t.s)
			if err != nil {
				return usagef("%s %q: want an RFC 3339 time such as 2025-01-02T15:04:05Z", t.flag, t.s)
			}
			*t.dst = v
		}
	}
	d := &policyDiff{report: diffReport{Journal: cfg.path("journal"), From: *from, To: *to, Skipped: map[string]int{}}}
	if *candFile != "" {
		if err := d.openReplay(cfg, *polFile, *candFile); err != nil {
			return err
		}
	}
	if fi, err := os.Stat(d.report.Journal); err != nil || !fi.IsDir() {
		return fmt.Errorf("no journal directory %s (is data_dir %s the server's?)", d.report.Journal, cfg.DataDir)
	}
	if err := journal.Scan(d.report.Journal, q, d.add); err != nil {
		return fmt.Errorf("reading the journal: %w", err)
	}
	rep := d.finish()
	if *asJSON {
		out, _ := json.MarshalIndent(rep, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		rep.print(stdout)
	}
	if rep.Differences > 0 {
		return exitError(1)
	}
	return nil
}

// diffReport is policy diff's summary (its JSON is the --json output).
type diffReport struct {
	Journal string `json:"journal"`
	From    string `json:"from,omitempty"`
	To      string `json:"to,omitempty"`
	// Mode is "journal" (shadow verdicts serve journaled) or "replay"
	// (--candidate: decided again offline).
	Mode string `json:"mode"`
	// Replay only: the two policies compared.
	Policy          string `json:"policy,omitempty"`
	PolicySHA256    string `json:"policy_sha256,omitempty"`
	CandidateFile   string `json:"candidate,omitempty"`
	CandidateSHA256 string `json:"candidate_sha256,omitempty"`
	Records         int    `json:"records"`
	// Replayed counts the calls decided again (replay only); Skipped
	// those that could not be, by reason.
	Replayed int            `json:"replayed,omitempty"`
	Skipped  map[string]int `json:"skipped,omitempty"`
	// Stale counts replayed calls whose journaled decision is not the
	// compared policy's today: the policy or the registry has changed
	// since (replay only).
	Stale       int             `json:"stale,omitempty"`
	Differences int             `json:"differences"`
	Candidates  []diffCandidate `json:"candidates"`
	Principals  []diffCount     `json:"principals"`
}

// diffCandidate is the differences of one candidate policy (a journal may
// hold verdicts of several, one after another).
type diffCandidate struct {
	PolicySHA256 string       `json:"policy_sha256"`
	Differences  int          `json:"differences"`
	Groups       []*diffGroup `json:"groups"`
}

// diffGroup is the calls of one capability on which the two policies'
// verdicts differed in the same way.
type diffGroup struct {
	Capability string      `json:"capability"`
	Change     string      `json:"change"` // active->candidate: deny->allow, allow->deny, allow->allow, deny->deny
	Active     diffVerdict `json:"active"`
	Candidate  diffVerdict `json:"candidate"`
	Count      int         `json:"count"`
	Principals []diffCount `json:"principals"`
	Examples   []diffEx    `json:"examples"`

	principals map[string]int
}

type diffVerdict struct {
	Decision string `json:"decision"`
	Rule     string `json:"rule"`
}

type diffCount struct {
	Principal string `json:"principal"`
	Count     int    `json:"count"`
}

// diffEx is one example execution, its arguments as the journal stores
// them (secret values redacted).
type diffEx struct {
	ExecutionID   string          `json:"execution_id"`
	Seq           uint64          `json:"seq"`
	Time          string          `json:"ts"`
	Principal     string          `json:"principal"`
	Args          json.RawMessage `json:"args"`
	CanonicalArgs json.RawMessage `json:"canonical_args,omitempty"`
}

// policyDiff accumulates a diffReport over a journal scan.
type policyDiff struct {
	report diffReport
	cands  map[string]map[diffKey]*diffGroup
	order  []string // candidate hashes in the order first seen
	princ  map[string]int

	// replay (--candidate) only
	reg       *capability.Registry
	pol, cand *policy.Policy
}

type diffKey struct {
	capability        string
	active, candidate diffVerdict
}

// openReplay loads what a replay needs: the registry (for the canonical
// form of each call's arguments), the policy compared with and the
// candidate.
func (d *policyDiff) openReplay(cfg *Config, polFile, candFile string) error {
	reg, err := loadRegistry(cfg)
	if err != nil {
		return err
	}
	src := "embedded default"
	var pol *policy.Policy
	if polFile != "" {
		if pol, err = readPolicyFlag("--policy", polFile); err != nil {
			return err
		}
		src = polFile
	} else if pol, src, err = loadPolicy(cfg); err != nil {
		return err
	}
	cand, err := readPolicyFlag("--candidate", candFile)
	if err != nil {
		return err
	}
	d.reg, d.pol, d.cand = reg, pol, cand
	d.report.Policy, d.report.PolicySHA256 = src, fmt.Sprintf("%x", pol.Hash())
	d.report.CandidateFile, d.report.CandidateSHA256 = candFile, fmt.Sprintf("%x", cand.Hash())
	return nil
}

// readPolicyFlag compiles the policy file a flag names. The error names
// the flag when the file cannot be read, and is every problem of the
// policy at FILE:LINE:COL (a *configError) when it does not compile.
func readPolicyFlag(flag, file string) (*policy.Policy, error) {
	data, err := readSmallFile(file, policy.MaxDocumentBytes)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %s", flag, file, readProblem(err))
	}
	p, err := policy.Parse(data)
	if err != nil {
		return nil, &configError{policyProblems(file, err)}
	}
	return p, nil
}

// decided reports whether r is the final record of a call a policy
// decided: an execution, outcome or rejection with a decision that is not
// the registry's (unknown or disabled capabilities never reach a policy).
// Intents are followed by their outcome; replays were not decided again.
func decided(r *journal.Record) bool {
	switch r.Kind {
	case journal.KindExecution, journal.KindOutcome, journal.KindRejection:
		return r.Capability != "" && r.Decision != "" && r.Rule != "registry"
	}
	return false
}

// add takes one journal record (journal.Scan's callback).
func (d *policyDiff) add(r *journal.Record) bool {
	d.report.Records++
	if d.cand == nil {
		if r.Shadow != nil && decided(r) {
			d.count(fmt.Sprintf("%x", r.Shadow.PolicyHash), r, diffVerdict{r.Decision, r.Rule}, diffVerdict{r.Shadow.Decision, r.Shadow.Rule})
		}
		return true
	}
	if !decided(r) {
		return true
	}
	switch {
	case r.Args == nil:
		d.report.Skipped["arguments not journaled"]++
		return true
	case strings.Contains(string(r.Args), pipeline.SecretMarker):
		d.report.Skipped["secret arguments redacted in the journal"]++
		return true
	}
	tool, _ := json.Marshal(r.Capability)
	msg := make([]byte, 0, len(r.Args)+len(tool)+32)
	msg = append(append(append(append(append(msg, `{"tool_call":{"tool":`...), tool...), `,"args":`...), r.Args...), `}}`...)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	m, err := protocol.Decode(msg, protocol.Limits{})
	if err != nil {
		d.report.Skipped["not a valid call under the configured registry"]++
		return true
	}
	a, _, err := pipeline.Decide(log, d.reg, d.pol, r.Principal, m)
	if err != nil {
		d.report.Skipped["not a valid call under the configured registry"]++
		return true
	}
	c, _, _ := pipeline.Decide(log, d.reg, d.cand, r.Principal, m)
	d.report.Replayed++
	if string(a.Code) != r.Decision || a.Rule != r.Rule {
		d.report.Stale++
	}
	if a.Code != c.Code || a.Rule != c.Rule {
		d.count(d.report.CandidateSHA256, r, diffVerdict{string(a.Code), a.Rule}, diffVerdict{string(c.Code), c.Rule})
	}
	return true
}

// count adds one differing call to its group.
func (d *policyDiff) count(candHash string, r *journal.Record, active, cand diffVerdict) {
	if d.cands == nil {
		d.cands, d.princ = map[string]map[diffKey]*diffGroup{}, map[string]int{}
	}
	groups := d.cands[candHash]
	if groups == nil {
		groups = map[diffKey]*diffGroup{}
		d.cands[candHash] = groups
		d.order = append(d.order, candHash)
	}
	k := diffKey{r.Capability, active, cand}
	g := groups[k]
	if g == nil {
		g = &diffGroup{Capability: r.Capability, Active: active, Candidate: cand, principals: map[string]int{},
			Change: verdictWord(active.Decision) + "->" + verdictWord(cand.Decision)}
		groups[k] = g
	}
	g.Count++
	g.principals[r.Principal]++
	d.princ[r.Principal]++
	d.report.Differences++
	if len(g.Examples) < maxDiffExamples {
		ex := diffEx{ExecutionID: r.ExecutionID, Seq: r.Seq, Time: time.Unix(0, r.TimeUnixNs).UTC().Format(time.RFC3339Nano),
			Principal: r.Principal, Args: rawJSON(r.Args)}
		if len(r.CanonicalArgs) > 0 {
			ex.CanonicalArgs = rawJSON(r.CanonicalArgs)
		}
		g.Examples = append(g.Examples, ex)
	}
}

// verdictWord is the metric label of a decision: allow or deny.
func verdictWord(decision string) string {
	if decision == "AUTHORIZED" {
		return "allow"
	}
	return "deny"
}

// rawJSON embeds journaled JSON as is; nil becomes null and invalid bytes
// a JSON string.
func rawJSON(p []byte) json.RawMessage {
	if len(p) == 0 {
		return json.RawMessage("null")
	}
	if !json.Valid(p) {
		q, _ := json.Marshal(string(p))
		return q
	}
	return append(json.RawMessage(nil), p...)
}

// changeOrder lists the most consequential change first: what the
// candidate would newly allow.
var changeOrder = map[string]int{"deny->allow": 0, "allow->deny": 1, "allow->allow": 2, "deny->deny": 3}

func (d *policyDiff) finish() diffReport {
	rep := d.report
	rep.Mode = "journal"
	if d.cand != nil {
		rep.Mode = "replay"
	}
	if len(rep.Skipped) == 0 {
		rep.Skipped = nil
	}
	rep.Candidates, rep.Principals = []diffCandidate{}, counts(d.princ)
	for _, h := range d.order {
		dc := diffCandidate{PolicySHA256: h}
		for _, g := range d.cands[h] {
			g.Principals = counts(g.principals)
			dc.Groups = append(dc.Groups, g)
			dc.Differences += g.Count
		}
		slices.SortFunc(dc.Groups, func(a, b *diffGroup) int {
			switch {
			case changeOrder[a.Change] != changeOrder[b.Change]:
				return changeOrder[a.Change] - changeOrder[b.Change]
			case a.Count != b.Count:
				return b.Count - a.Count
			}
			return strings.Compare(a.Capability+"\x00"+a.Active.Rule+"\x00"+a.Candidate.Rule, b.Capability+"\x00"+b.Active.Rule+"\x00"+b.Candidate.Rule)
		})
		rep.Candidates = append(rep.Candidates, dc)
	}
	return rep
}

// counts sorts a principal count map, largest first.
func counts(m map[string]int) []diffCount {
	out := make([]diffCount, 0, len(m))
	for p, n := range m {
		out = append(out, diffCount{p, n})
	}
	slices.SortFunc(out, func(a, b diffCount) int {
		if a.Count != b.Count {
			return b.Count - a.Count
		}
		return strings.Compare(a.Principal, b.Principal)
	})
	return out
}

func (rep *diffReport) print(w io.Writer) {
	window := ""
	if rep.From != "" || rep.To != "" {
		window = fmt.Sprintf(" [%s, %s)", orDash(rep.From), orDash(rep.To))
	}
	if rep.Mode == "replay" {
		fmt.Fprintf(w, "journal %s%s: %d records; %d decided calls replayed under policy %s (sha256 %s) and candidate %s (sha256 %s)\n",
			rep.Journal, window, rep.Records, rep.Replayed, rep.Policy, shortHash(rep.PolicySHA256), rep.CandidateFile, shortHash(rep.CandidateSHA256))
		for _, reason := range slices.Sorted(maps.Keys(rep.Skipped)) {
			fmt.Fprintf(w, "skipped %d: %s\n", rep.Skipped[reason], reason)
		}
		if rep.Stale > 0 {
			fmt.Fprintf(w, "note: %d replayed calls were journaled with another decision than %s gives them today (the policy or the registry changed since)\n", rep.Stale, rep.Policy)
		}
	} else {
		fmt.Fprintf(w, "journal %s%s: %d records; shadow verdicts journaled by serve (calls on which the policies agreed are not journaled)\n", rep.Journal, window, rep.Records)
	}
	if rep.Differences == 0 {
		fmt.Fprintln(w, "no differences")
		return
	}
	for _, c := range rep.Candidates {
		fmt.Fprintf(w, "\ncandidate sha256 %s: %s decided differently\n", c.PolicySHA256, plural(c.Differences, "call"))
		for _, g := range c.Groups {
			fmt.Fprintf(w, "  %-12s %-12s %s (%s) -> %s (%s): %d\n", g.Change, g.Capability, g.Active.Decision, g.Active.Rule, g.Candidate.Decision, g.Candidate.Rule, g.Count)
			fmt.Fprintf(w, "      principals: %s\n", countList(g.Principals))
			for _, ex := range g.Examples {
				fmt.Fprintf(w, "      %s  seq %d  %s  %s\n", ex.ExecutionID, ex.Seq, ex.Principal, ex.Args)
			}
		}
	}
	fmt.Fprintf(w, "\nprincipals affected: %s\n", countList(rep.Principals))
}

func countList(cs []diffCount) string {
	parts := make([]string, len(cs))
	for i, c := range cs {
		parts[i] = fmt.Sprintf("%s %d", c.Principal, c.Count)
	}
	return strings.Join(parts, ", ")
}

func shortHash(h string) string {
	if len(h) > 16 {
		return h[:16] + "…"
	}
	return h
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}
