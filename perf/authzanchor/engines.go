// Package authzanchor measures FemtoClaw's policy engine side by side with
// what a user would pick instead, on one 20-rule policy written four ways:
// FemtoClaw's format (anchor.yaml, a copy of policy/testdata/anchor.yaml),
// OPA Rego, Cedar and plain Go (the floor). policy.rego, policy.cedar,
// gofloor.go, cases.go and the OPA/Cedar adapters below are copies of the
// project's harness in ../shared/anchors/authz.
package authzanchor

import (
	"context"
	_ "embed"
	"fmt"
	"unicode/utf8"

	cedar "github.com/cedar-policy/cedar-go"
	"github.com/open-policy-agent/opa/v1/ast"
	"github.com/open-policy-agent/opa/v1/rego"
)

// Call is a decoded tool call, {"tool_call":{"tool":NAME,"args":{...}}}, plus
// the authenticated principal. Args hold what encoding/json gives for an
// any: string, float64, bool, nil, []any, map[string]any.
type Call struct {
	Principal string
	Tool      string
	Args      map[string]any
}

// Engine decides one call: true = allow.
type Engine interface {
	Decide(c *Call) (bool, error)
}

//go:embed policy.rego
var regoSrc string

//go:embed policy.cedar
var cedarSrc []byte

// OPA evaluates policy.rego in process with a prepared query.
type OPA struct{ q rego.PreparedEvalQuery }

func NewOPA() (*OPA, error) {
	q, err := rego.New(
		rego.Query("data.femtoclaw.authz.allow"),
		rego.Module("policy.rego", regoSrc),
	).PrepareForEval(context.Background())
	if err != nil {
		return nil, err
	}
	return &OPA{q}, nil
}

// OPAInput is the OPA input document for c (what a user passes to EvalInput).
func OPAInput(c *Call) map[string]any {
	return map[string]any{"principal": c.Principal, "tool": c.Tool, "args": c.Args}
}

func (o *OPA) Decide(c *Call) (bool, error) {
	rs, err := o.q.Eval(context.Background(), rego.EvalInput(OPAInput(c)))
	if err != nil {
		return false, err
	}
	return rs.Allowed(), nil
}

// DecideParsed evaluates an input that was converted to an ast.Value
// beforehand: OPA's evaluation cost without the Go-to-AST conversion.
func (o *OPA) DecideParsed(in ast.Value) (bool, error) {
	rs, err := o.q.Eval(context.Background(), rego.EvalParsedInput(in))
	if err != nil {
		return false, err
	}
	return rs.Allowed(), nil
}

// Cedar evaluates policy.cedar with cedar-go.
type Cedar struct {
	ps       *cedar.PolicySet
	entities cedar.EntityMap
}

func NewCedar() (*Cedar, error) {
	ps, err := cedar.NewPolicySetFromBytes("policy.cedar", cedarSrc)
	if err != nil {
		return nil, err
	}
	if n := len(ps.Map()); n != 20 {
		return nil, fmt.Errorf("policy.cedar has %d policies, want 20", n)
	}
	group := func(id string) cedar.EntityUID { return cedar.NewEntityUID("Group", cedar.String(id)) }
	em := cedar.EntityMap{}
	for _, g := range []string{"ops", "research", "all"} {
		em[group(g)] = cedar.Entity{UID: group(g)}
	}
	member := map[string][]string{
		"agent-1": {"ops", "all"}, "agent-2": {"ops", "all"},
		"agent-3": {"research", "all"}, "agent-4": {"research", "all"},
		"agent-5": {"all"},
	}
	for a, gs := range member {
		uid := cedar.NewEntityUID("Agent", cedar.String(a))
		var parents []cedar.EntityUID
		for _, g := range gs {
			parents = append(parents, group(g))
		}
		em[uid] = cedar.Entity{UID: uid, Parents: cedar.NewEntityUIDSet(parents...)}
	}
	return &Cedar{ps, em}, nil
}

// Request is the adapter a Cedar user has to write: Cedar cannot measure a
// string or a set and has no lists, so argc/argmax are computed here.
func (cd *Cedar) Request(c *Call) cedar.Request {
	ctx := cedar.RecordMap{}
	for _, k := range []string{"bin", "path", "url"} {
		if s, ok := c.Args[k].(string); ok {
			ctx[cedar.String(k)] = cedar.String(s)
		}
	}
	if argv, ok := argvStrings(c.Args); ok {
		vals := make([]cedar.Value, len(argv))
		longest := 0
		for i, a := range argv {
			vals[i] = cedar.String(a)
			longest = max(longest, utf8.RuneCountInString(a))
		}
		ctx["argv"] = cedar.NewSet(vals...)
		ctx["argc"] = cedar.Long(len(argv))
		ctx["argmax"] = cedar.Long(longest)
	}
	return cedar.Request{
		Principal: cedar.NewEntityUID("Agent", cedar.String(c.Principal)),
		Action:    cedar.NewEntityUID("Action", cedar.String(c.Tool)),
		Resource:  cedar.NewEntityUID("Runtime", "femtoclaw"),
		Context:   cedar.NewRecord(ctx),
	}
}

func (cd *Cedar) Decide(c *Call) (bool, error) {
	return cd.DecideRequest(cd.Request(c))
}

// DecideRequest is Cedar's authorization alone, on a prebuilt request.
func (cd *Cedar) DecideRequest(r cedar.Request) (bool, error) {
	d, diag := cd.ps.IsAuthorized(cd.entities, r)
	if len(diag.Errors) > 0 {
		return false, fmt.Errorf("cedar: %v", diag.Errors)
	}
	return d == cedar.Allow, nil
}

// argvStrings returns argv as strings; absent counts as empty, and ok is
// false when argv is present but not a list of strings.
func argvStrings(args map[string]any) (argv []string, ok bool) {
	v, present := args["argv"]
	if !present {
		return nil, true
	}
	list, isList := v.([]any)
	if !isList {
		return nil, false
	}
	argv = make([]string, len(list))
	for i, x := range list {
		if argv[i], ok = x.(string); !ok {
			return nil, false
		}
	}
	return argv, true
}
