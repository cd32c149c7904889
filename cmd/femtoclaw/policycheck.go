package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"

	"github.com/femtoclaw/femtoclaw-go/policy"
)

// checkResult is what `policy check --json` prints for one file.
type checkResult struct {
	File   string         `json:"file"`
	OK     bool           `json:"ok"`
	Rules  int            `json:"rules,omitempty"`
	SHA256 string         `json:"sha256,omitempty"`
	Errors []checkProblem `json:"errors,omitempty"`
	More   int            `json:"more,omitempty"` // problems beyond those listed
	policy *policy.Policy
}

type checkProblem struct {
	Line    int    `json:"line"`
	Col     int    `json:"col"`
	Message string `json:"message"`
}

func cmdPolicyCheck(args []string, stdin io.Reader, stdout io.Writer, environ []string) error {
	s := newSubcommand("check", "[flags] [FILE...]",
		"Validate policy files (YAML or JSON). Every problem is printed as FILE:LINE:COL: message,\n"+
			"up to 10 per file, with the nearest known name for a mistyped key, constraint, group or\n"+
			"type. With no FILE, the configured policy is checked (policy.file, or the embedded\n"+
			"default). --strict also reports, for a policy that compiles: capabilities that are not\n"+
			"registered, constraints on arguments a capability's schema does not have or types it does\n"+
			"not give, constraints no value satisfies, and rules that never decide (an earlier rule, or\n"+
			"a deny rule, matches every call they match). Exit status 0 when every file passes, 1 when\n"+
			"one does not, 2 for a usage mistake.",
		"  femtoclaw policy check policy.yaml\n"+
			"  femtoclaw policy check --strict --config femtoclaw.yaml\n"+
			"  femtoclaw policy check --json policies/*.yaml\n", true)
	asJSON := s.fs.Bool("json", false, "print the results as JSON: [{file, ok, rules, sha256, errors: [{line, col, message}], more}]")
	strict := s.fs.Bool("strict", false, "also check against the registry and report rules that cannot do what they seem to")
	printRules := s.fs.Bool("print", false, "print each policy's compiled rules")
	files, err := s.parse(args, stdout)
	if err != nil {
		return err
	}
	// The configuration is loaded even when FILEs are given and it is not
	// needed, so that a misspelled FEMTOCLAW_* variable or --set is refused
	// here as everywhere.
	cfg, err := s.config(environ)
	if err != nil {
		return err
	}
	var caps []policy.CapabilitySchema
	if *strict {
		reg, err := loadRegistry(cfg)
		if err != nil {
			return err
		}
		if caps, err = capabilitySchemas(reg); err != nil {
			return err
		}
	}
	type source struct {
		name string
		data []byte
		err  error
	}
	var sources []source
	if len(files) == 0 {
		name, data, err := configuredPolicy(cfg)
		sources = append(sources, source{name, data, err})
	}
	for _, f := range files {
		data, err := readSmallFile(f, policy.MaxDocumentBytes)
		sources = append(sources, source{f, data, err})
	}
	var results []checkResult
	failed := false
	for _, src := range sources {
		r := checkResult{File: src.name}
		if src.err != nil {
			r.Errors = []checkProblem{{Line: 1, Col: 1, Message: readProblem(src.err)}}
		} else {
			checkOne(&r, src.data, *strict, caps)
		}
		r.OK = len(r.Errors) == 0
		failed = failed || !r.OK
		results = append(results, r)
	}
	if *asJSON {
		out, _ := json.MarshalIndent(results, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
	} else {
		for _, r := range results {
			for _, e := range r.Errors {
				fmt.Fprintf(stdout, "%s:%d:%d: %s\n", r.File, e.Line, e.Col, e.Message)
			}
			if r.More > 0 {
				fmt.Fprintf(stdout, "%s: and %d more\n", r.File, r.More)
			}
			if r.OK {
				fmt.Fprintf(stdout, "%s: ok: %d rules, sha256 %s\n", r.File, r.Rules, r.SHA256)
			}
			if *printRules && r.policy != nil {
				fmt.Fprint(stdout, r.policy.String())
			}
		}
	}
	if failed {
		return exitError(1)
	}
	return nil
}

// checkOne parses (and with strict, lints) one document into r.
func checkOne(r *checkResult, data []byte, strict bool, caps []policy.CapabilitySchema) {
	var p *policy.Policy
	var diags []policy.Diagnostic
	var err error
	if strict {
		p, diags, err = policy.Lint(data, caps)
	} else {
		p, err = policy.Parse(data)
	}
	var pe *policy.ParseError
	switch {
	case errors.As(err, &pe):
		diags, r.More = pe.Errors, pe.More
	case err != nil:
		diags = []policy.Diagnostic{{Line: 1, Col: 1, Msg: err.Error()}}
	}
	if len(diags) > policy.MaxErrors {
		diags, r.More = diags[:policy.MaxErrors], r.More+len(diags)-policy.MaxErrors
	}
	for _, d := range diags {
		r.Errors = append(r.Errors, checkProblem{Line: d.Line, Col: d.Col, Message: d.Msg})
	}
	if p != nil {
		r.policy, r.Rules, r.SHA256 = p, len(p.Rules()), fmt.Sprintf("%x", p.Hash())
	}
}
