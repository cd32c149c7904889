package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// policyCommand is one `femtoclaw policy` subcommand.
type policyCommand struct {
	name, args, about string
	run               func(args []string, stdin io.Reader, stdout io.Writer, environ []string) error
}

// policyCommands lists the policy subcommands, in the order help shows
// them. A subcommand is one line here and a file of its own.
func policyCommands() []policyCommand {
	return []policyCommand{
		{"check", "[FILE...]", "validate policies: every problem at FILE:LINE:COL; --strict also checks them against the registry", cmdPolicyCheck},
		{"test", "FILE...", "run policy test files (cases of principal, message and wanted decision)", cmdPolicyTest},
		{"fmt", "[FILE...]", "write policies in the canonical layout (-l lists those that differ, -w rewrites them)", cmdPolicyFmt},
		{"eval", "[MESSAGE|-]", "decide one call as serve would and print the decision and rule", cmdPolicyEval},
		{"diff", "[--candidate FILE] [--from T] [--to T] [--json]", "where a shadow candidate policy decides otherwise, from the journal (--candidate FILE: replay)",
			func(args []string, _ io.Reader, stdout io.Writer, environ []string) error {
				return cmdPolicyDiff(args, stdout, environ)
			}},
	}
}

func policyUsage() string {
	var b strings.Builder
	b.WriteString("usage: femtoclaw policy <command> [flags] [args]\n\ncommands:\n")
	for _, c := range policyCommands() {
		fmt.Fprintf(&b, "  %-22s %s\n", c.name+" "+c.args, c.about)
	}
	b.WriteString("\nRun femtoclaw policy <command> --help for its flags and examples. The policy format is\n" +
		"documented in policy/doc.go; its JSON Schema is schema/policy.schema.json.\n")
	return b.String()
}

func cmdPolicy(args []string, stdin io.Reader, stdout io.Writer, environ []string) error {
	if len(args) == 0 {
		return usagef("a policy command is required\n\n%s", policyUsage())
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		fmt.Fprint(stdout, policyUsage())
		return nil
	}
	cmds := policyCommands()
	for _, c := range cmds {
		if c.name == args[0] {
			return c.run(args[1:], stdin, stdout, environ)
		}
	}
	names := make([]string, len(cmds))
	for i, c := range cmds {
		names[i] = c.name
	}
	return usagef("unknown policy command %q%s\n\n%s", args[0], suggest.Hint(args[0], names), policyUsage())
}

// subcommand is the flag set of one policy subcommand and its help.
type subcommand struct {
	fs                              *flag.FlagSet
	name, synopsis, about, examples string
	common                          commonFlags
}

// newSubcommand returns the flag set of `femtoclaw policy NAME`, with
// the common flags (--config, --set) when withConfig.
func newSubcommand(name, synopsis, about, examples string, withConfig bool) *subcommand {
	s := &subcommand{name: name, synopsis: synopsis, about: about, examples: examples}
	if withConfig {
		s.fs = newFlagSet("policy "+name, &s.common)
	} else {
		s.fs = flag.NewFlagSet("policy "+name, flag.ContinueOnError)
	}
	s.fs.SetOutput(io.Discard)
	return s
}

// usage is the subcommand's --help text.
func (s *subcommand) usage() string {
	var b strings.Builder
	fmt.Fprintf(&b, "usage: femtoclaw policy %s %s\n\n%s\n\nflags:\n", s.name, s.synopsis, s.about)
	s.fs.SetOutput(&b)
	s.fs.PrintDefaults()
	s.fs.SetOutput(io.Discard)
	fmt.Fprintf(&b, "\nexamples:\n%s", s.examples)
	return b.String()
}

// parse parses args (flags may stand among the positional arguments) and
// returns the positional ones. --help prints the usage to stdout and
// returns flag.ErrHelp (exit 0); a mistake is a usage error (exit 2).
func (s *subcommand) parse(args []string, stdout io.Writer) ([]string, error) {
	pos, err := parseArgs(s.fs, args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		fmt.Fprint(stdout, s.usage())
		return nil, err
	case err != nil:
		return nil, flagUsageError(s.fs, err)
	}
	return pos, nil
}

// config loads the configuration the common flags name.
func (s *subcommand) config(environ []string) (*Config, error) {
	return loadConfig(s.common.config, environ, s.common.sets)
}

// embeddedPolicyName names the embedded default policy in messages.
const embeddedPolicyName = "(embedded default policy)"

// configuredPolicy returns the configured policy's file name and text:
// policy.file, or the embedded default.
func configuredPolicy(cfg *Config) (name string, data []byte, err error) {
	if cfg.Policy.File == "" {
		return embeddedPolicyName, policy.DefaultDocument(), nil
	}
	data, err = readSmallFile(cfg.Policy.File, policy.MaxDocumentBytes)
	return cfg.Policy.File, data, err
}

// capabilitySchemas describes every registered capability's arguments
// for policy.Lint, from its JSON Schema.
func capabilitySchemas(reg *capability.Registry) ([]policy.CapabilitySchema, error) {
	var out []policy.CapabilitySchema
	for _, e := range reg.Entries() {
		var s struct {
			Properties map[string]struct {
				Type json.RawMessage `json:"type"`
			} `json:"properties"`
			AdditionalProperties json.RawMessage `json:"additionalProperties"`
		}
		if err := json.Unmarshal(e.Cap.Schema(), &s); err != nil {
			return nil, fmt.Errorf("capability %s: schema: %w", e.Cap.Name(), err)
		}
		cs := policy.CapabilitySchema{Name: e.Cap.Name(), Args: map[string][]string{},
			Open: len(s.AdditionalProperties) > 0 && string(bytes.TrimSpace(s.AdditionalProperties)) != "false"}
		for name, p := range s.Properties {
			var types []string
			var one string
			if json.Unmarshal(p.Type, &one) == nil {
				types = []string{one}
			} else {
				_ = json.Unmarshal(p.Type, &types) // absent: any type
			}
			cs.Args[name] = types
		}
		out = append(out, cs)
	}
	return out, nil
}

// readProblem says why a file could not be read, without the Go
// operation's name: "cannot read: no such file or directory".
func readProblem(err error) string {
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	return "cannot read: " + err.Error()
}

// readMessage returns the MESSAGE argument, or standard input for none
// or "-".
func readMessage(pos []string, stdin io.Reader) ([]byte, error) {
	if len(pos) == 0 || pos[0] == "-" {
		return io.ReadAll(io.LimitReader(stdin, 16<<20))
	}
	return []byte(pos[0]), nil
}

func cmdPolicyEval(args []string, stdin io.Reader, stdout io.Writer, environ []string) error {
	s := newSubcommand("eval", "[--policy FILE] --principal P [MESSAGE | -]",
		"Decide one tool call as serve would, and print the decision, the deciding rule and why: the\n"+
			"registry first (the capability must be registered, its arguments valid, the capability\n"+
			"enabled), then the policy, on the capability's canonical form of the arguments (a path\n"+
			"resolved inside fs.read's root, shell's bin as the path it executes, a normalized URL).\n"+
			"The registry comes from the configuration (--config, --set). Exit status 0 when the call\n"+
			"is authorized, 1 otherwise.",
		"  femtoclaw policy eval --principal agent-1 '{\"tool_call\":{\"tool\":\"echo\",\"args\":{\"text\":\"hi\"}}}'\n"+
			"  femtoclaw policy eval --policy policy.yaml --principal agent-1 - < call.json\n", true)
	file := s.fs.String("policy", "", "policy file (default: the configured policy)")
	principal := s.fs.String("principal", "", "principal to decide for (required)")
	pos, err := s.parse(args, stdout)
	if err != nil {
		return err
	}
	if *principal == "" {
		return usagef("--principal is required (see femtoclaw policy eval --help)")
	}
	if len(pos) > 1 {
		return usagef("one MESSAGE at most, got %d (see femtoclaw policy eval --help)", len(pos))
	}
	cfg, err := s.config(environ)
	if err != nil {
		return err
	}
	var p *policy.Policy
	if *file != "" {
		data, err := readSmallFile(*file, policy.MaxDocumentBytes)
		if err != nil {
			return fmt.Errorf("--policy %s: %s", *file, readProblem(err))
		}
		if p, err = policy.Parse(data); err != nil {
			return policyFileError(*file, err)
		}
	} else if p, _, err = loadPolicy(cfg); err != nil {
		return err
	}
	reg, err := loadRegistry(cfg)
	if err != nil {
		return err
	}
	raw, err := readMessage(pos, stdin)
	if err != nil {
		return err
	}
	m, err := protocol.Decode(raw, protocol.Limits{})
	if err != nil {
		return err
	}
	d, canonical, err := pipeline.Decide(nil, reg, p, *principal, m)
	if err != nil {
		return err
	}
	out := map[string]any{
		"principal": *principal, "capability": m.Tool, "decision": d.Code, "rule": d.Rule,
		"reason": d.Reason, "policy_sha256": fmt.Sprintf("%x", p.Hash()),
	}
	if canonical != nil {
		out["canonical_args"] = json.RawMessage(canonical)
	}
	js, _ := json.MarshalIndent(out, "", "  ")
	fmt.Fprintf(stdout, "%s\n", js)
	if !d.Code.Allowed() {
		return exitError(1)
	}
	return nil
}

// policyFileError names the file in a policy's ParseError, one problem
// per line as FILE:LINE:COL: message.
func policyFileError(file string, err error) error {
	var pe *policy.ParseError
	if errors.As(err, &pe) {
		return errors.New("invalid policy:\n" + strings.TrimSuffix(pe.Format(file), "\n"))
	}
	return fmt.Errorf("%s: %w", file, err)
}
