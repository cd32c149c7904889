package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/internal/yamlerr"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// A policy test file (YAML):
//
//	policy: hardened.yaml        # optional: relative to this file; --policy overrides; default: the configured policy
//	cases:
//	  - name: ops may sort       # optional; default cases[i]
//	    principal: agent-1
//	    message: {tool_call: {tool: shell, args: {bin: sort, argv: [-n]}}}   # or the JSON text, as a string
//	    want: {decision: AUTHORIZED, rule: sort}                            # rule is optional
//
// want.decision is one of the decision codes, or PROTOCOL_ERROR for a call
// the registry refuses before any decision (an unknown capability,
// arguments its schema rejects).

// protocolErrorWant is want.decision for a call refused by validation.
const protocolErrorWant = "PROTOCOL_ERROR"

var decisionCodes = []string{string(protocol.DecisionAuthorized), string(protocol.DecisionPolicyViolation),
	string(protocol.DecisionArgumentInvalid), string(protocol.DecisionDisabled), string(protocol.DecisionNotFound), protocolErrorWant}

type testFile struct {
	path   string
	policy string // as written, relative to the file
	cases  []testCase
}

type testCase struct {
	name, principal string
	message         []byte
	decision, rule  string
	line            int
}

func cmdPolicyTest(args []string, stdin io.Reader, stdout io.Writer, environ []string) error {
	s := newSubcommand("test", "[flags] FILE...",
		"Run policy test files. Each case is a principal, a protocol message and the decision (and\n"+
			"optionally the rule) wanted; it is decided as serve would decide it (policy eval): the\n"+
			"registry first, then the policy on the capability's canonical form of the arguments. The\n"+
			"policy is the test file's policy: key (relative to the file), else --policy, else the\n"+
			"configured one; the registry (which capabilities are enabled, shell's allowlist, fs.read's\n"+
			"root) is the configuration's (--config, --set). Every case prints PASS or FAIL, a failure\n"+
			"with what was got and wanted, then \"N passed, M failed\". Exit status 0 when every case\n"+
			"passes, 1 otherwise.\n\n"+
			"A test file:\n\n"+
			"  policy: policy.yaml\n"+
			"  cases:\n"+
			"    - name: ops may list\n"+
			"      principal: agent-1\n"+
			"      message: {tool_call: {tool: shell, args: {bin: ls}}}\n"+
			"      want: {decision: AUTHORIZED, rule: ops-shell}",
		"  femtoclaw policy test policy_test.yaml\n"+
			"  femtoclaw policy test --config femtoclaw.yaml tests/*.yaml\n"+
			"  femtoclaw policy test --policy candidate.yaml --run 'git' policy_test.yaml\n", true)
	polFlag := s.fs.String("policy", "", "the policy to test, for files that name none (default: the configured policy)")
	run := s.fs.String("run", "", "run only the cases whose name matches this regular expression")
	files, err := s.parse(args, stdout)
	if err != nil {
		return err
	}
	if len(files) == 0 {
		return usagef("a test FILE is required (see femtoclaw policy test --help)")
	}
	var filter *regexp.Regexp
	if *run != "" {
		if filter, err = regexp.Compile(*run); err != nil {
			return usagef("--run: %s", policy.RegexpProblem(err))
		}
	}
	cfg, err := s.config(environ)
	if err != nil {
		return err
	}
	reg, err := loadRegistry(cfg)
	if err != nil {
		return err
	}
	policies := map[string]*policy.Policy{} // by file name
	loadPol := func(name string, data []byte, readErr error) (*policy.Policy, error) {
		if p := policies[name]; p != nil {
			return p, nil
		}
		if readErr != nil {
			return nil, fmt.Errorf("policy %s: %s", name, readProblem(readErr))
		}
		p, err := policy.Parse(data)
		if err != nil {
			return nil, policyFileError(name, err)
		}
		policies[name] = p
		return p, nil
	}
	passed, failed, broken := 0, 0, 0
	for _, f := range files {
		tf, err := readTestFile(f)
		if err != nil {
			fmt.Fprintln(stdout, strings.TrimSuffix(err.Error(), "\n"))
			broken++
			continue
		}
		var p *policy.Policy
		switch {
		case tf.policy != "":
			name := tf.policy
			if !filepath.IsAbs(name) {
				name = filepath.Join(filepath.Dir(f), name)
			}
			data, rerr := os.ReadFile(name)
			p, err = loadPol(name, data, rerr)
		case *polFlag != "":
			data, rerr := os.ReadFile(*polFlag)
			p, err = loadPol(*polFlag, data, rerr)
		default:
			name, data, rerr := configuredPolicy(cfg)
			p, err = loadPol(name, data, rerr)
		}
		if err != nil {
			fmt.Fprintf(stdout, "%s: %v\n", f, err)
			broken++
			continue
		}
		for _, c := range tf.cases {
			if filter != nil && !filter.MatchString(c.name) {
				continue
			}
			got, gotRule, why := decideCase(reg, p, &c)
			if got == c.decision && (c.rule == "" || gotRule == c.rule) {
				passed++
				fmt.Fprintf(stdout, "PASS %s:%d: %s\n", f, c.line, c.name)
				continue
			}
			failed++
			fmt.Fprintf(stdout, "FAIL %s:%d: %s\n", f, c.line, c.name)
			fmt.Fprintf(stdout, "     got  %s\n", describeOutcome(got, gotRule, why))
			fmt.Fprintf(stdout, "     want %s\n", describeOutcome(c.decision, c.rule, ""))
		}
	}
	fmt.Fprintf(stdout, "%d passed, %d failed\n", passed, failed+broken)
	if failed+broken > 0 {
		return exitError(1)
	}
	return nil
}

// decideCase decides one case: the decision code (or PROTOCOL_ERROR), the
// rule and the reason.
func decideCase(reg *capability.Registry, p *policy.Policy, c *testCase) (decision, rule, why string) {
	m, err := protocol.Decode(c.message, protocol.Limits{})
	if err == nil {
		var d protocol.Verdict
		if d, _, err = pipeline.Decide(nil, reg, p, c.principal, m); err == nil {
			return string(d.Code), d.Rule, d.Reason
		}
	}
	var pe *protocol.Error
	if errors.As(err, &pe) && pe.Category == protocol.CategoryProtocol {
		return protocolErrorWant, "", pe.Message
	}
	return "ERROR", "", err.Error()
}

func describeOutcome(decision, rule, why string) string {
	s := decision
	if rule != "" {
		s += " by rule " + rule
	}
	if why != "" {
		s += " (" + why + ")"
	}
	return s
}

// readTestFile reads and checks a test file; its error lists every
// problem as FILE:LINE:COL: message.
func readTestFile(file string) (*testFile, error) {
	data, err := readSmallFile(file, policy.MaxDocumentBytes)
	if err != nil {
		return nil, fmt.Errorf("%s: %s", file, readProblem(err))
	}
	tf := &testFile{path: file}
	var probs []string
	fail := func(n *yaml.Node, format string, args ...any) {
		probs = append(probs, fmt.Sprintf("%s:%d:%d: ", file, n.Line, max(n.Column, 1))+fmt.Sprintf(format, args...))
	}
	var doc yaml.Node
	if err := yaml.Unmarshal(data, &doc); err != nil {
		line, msg := yamlerr.Locate(data, err)
		return nil, fmt.Errorf("%s:%d:1: %s", file, line, msg)
	}
	if len(doc.Content) == 0 || doc.Content[0].Kind != yaml.MappingNode {
		return nil, fmt.Errorf("%s:1:1: want a mapping with cases (see femtoclaw policy test --help)", file)
	}
	root := doc.Content[0]
	eachKey(root, []string{"policy", "cases"}, fail, func(k string, v *yaml.Node) {
		switch k {
		case "policy":
			tf.policy = scalarString(v, "policy", fail)
		case "cases":
			if v.Kind != yaml.SequenceNode {
				fail(v, "cases: want a list of cases")
				return
			}
			for i, cn := range v.Content {
				tf.cases = append(tf.cases, readCase(i, cn, fail))
			}
		}
	})
	if len(tf.cases) == 0 && len(probs) == 0 {
		fail(root, "no cases")
	}
	if len(probs) > 0 {
		if len(probs) > policy.MaxErrors {
			probs = append(probs[:policy.MaxErrors], fmt.Sprintf("%s: and %d more", file, len(probs)-policy.MaxErrors))
		}
		return nil, errors.New(strings.Join(probs, "\n"))
	}
	return tf, nil
}

func readCase(i int, n *yaml.Node, fail func(*yaml.Node, string, ...any)) testCase {
	c := testCase{name: "cases[" + strconv.Itoa(i) + "]", line: n.Line}
	where := c.name
	if n.Kind != yaml.MappingNode {
		fail(n, "%s: want a mapping (name, principal, message, want)", where)
		return c
	}
	seen := map[string]bool{}
	eachKey(n, []string{"name", "principal", "message", "want"}, fail, func(k string, v *yaml.Node) {
		seen[k] = true
		switch k {
		case "name":
			c.name = scalarString(v, where+".name", fail)
		case "principal":
			c.principal = scalarString(v, where+".principal", fail)
		case "message":
			if v.Kind == yaml.ScalarNode && v.ShortTag() == "!!str" {
				c.message = []byte(v.Value)
				return
			}
			js, err := nodeJSON(v)
			if err != nil {
				fail(v, "%s.message: %v", where, err)
			}
			c.message = js
		case "want":
			if v.Kind != yaml.MappingNode {
				fail(v, "%s.want: want a mapping {decision, rule}", where)
				return
			}
			eachKey(v, []string{"decision", "rule"}, fail, func(k string, w *yaml.Node) {
				switch k {
				case "decision":
					c.decision = scalarString(w, where+".want.decision", fail)
					if !slices.Contains(decisionCodes, c.decision) {
						fail(w, "%s.want.decision: %q is not a decision%s (%s)", where, c.decision, suggest.Hint(c.decision, decisionCodes), strings.Join(decisionCodes, ", "))
					}
				case "rule":
					c.rule = scalarString(w, where+".want.rule", fail)
				}
			})
			if c.decision == "" {
				fail(v, "%s.want: decision is required", where)
			}
		}
	})
	for _, k := range []string{"principal", "message", "want"} {
		if !seen[k] {
			fail(n, "%s: %s is required", where, k)
		}
	}
	return c
}

// eachKey calls fn for every key of mapping n, reporting unknown and
// duplicate keys.
func eachKey(n *yaml.Node, known []string, fail func(*yaml.Node, string, ...any), fn func(string, *yaml.Node)) {
	seen := map[string]bool{}
	for i := 0; i+1 < len(n.Content); i += 2 {
		k, v := n.Content[i], n.Content[i+1]
		switch {
		case !slices.Contains(known, k.Value):
			fail(k, "unknown key %q%s", k.Value, suggest.Hint(k.Value, known))
		case seen[k.Value]:
			fail(k, "key %q already defined", k.Value)
		default:
			seen[k.Value] = true
			fn(k.Value, v)
		}
	}
}

func scalarString(n *yaml.Node, where string, fail func(*yaml.Node, string, ...any)) string {
	if n.Kind != yaml.ScalarNode || n.ShortTag() == "!!null" {
		fail(n, "%s: want a string", where)
		return ""
	}
	return n.Value
}

// maxTestMessage bounds the JSON text of one test case's message: aliases
// can repeat a subtree, and a few nested ones would expand without end.
const maxTestMessage = 16 << 20

// nodeJSON writes a YAML value as JSON text, numbers as written.
func nodeJSON(n *yaml.Node) ([]byte, error) {
	var b []byte
	var walk func(*yaml.Node, int) error
	walk = func(n *yaml.Node, depth int) error {
		if depth > 64 {
			return errors.New("nested too deeply")
		}
		if len(b) > maxTestMessage {
			return fmt.Errorf("expands to more than %d MiB of JSON (aliases repeating a value?)", maxTestMessage>>20)
		}
		switch n.Kind {
		case yaml.AliasNode:
			return walk(n.Alias, depth+1)
		case yaml.MappingNode:
			b = append(b, '{')
			for i := 0; i+1 < len(n.Content); i += 2 {
				if i > 0 {
					b = append(b, ',')
				}
				b = protocol.AppendString(b, n.Content[i].Value)
				b = append(b, ':')
				if err := walk(n.Content[i+1], depth+1); err != nil {
					return err
				}
			}
			b = append(b, '}')
		case yaml.SequenceNode:
			b = append(b, '[')
			for i, c := range n.Content {
				if i > 0 {
					b = append(b, ',')
				}
				if err := walk(c, depth+1); err != nil {
					return err
				}
			}
			b = append(b, ']')
		case yaml.ScalarNode:
			switch n.ShortTag() {
			case "!!null":
				b = append(b, "null"...)
			case "!!bool":
				var v bool
				if err := n.Decode(&v); err != nil {
					return err
				}
				b = strconv.AppendBool(b, v)
			case "!!int", "!!float":
				if js, err := json.Marshal(json.Number(n.Value)); err == nil && json.Valid(js) {
					b = append(b, n.Value...)
					return nil
				}
				var f float64
				if err := n.Decode(&f); err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
					return fmt.Errorf("%q is not a JSON number", n.Value)
				}
				b = strconv.AppendFloat(b, f, 'g', -1, 64)
			default:
				b = protocol.AppendString(b, n.Value)
			}
		}
		return nil
	}
	err := walk(n, 0)
	return b, err
}
