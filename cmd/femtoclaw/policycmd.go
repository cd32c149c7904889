package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func cmdPolicy(args []string, stdin io.Reader, stdout io.Writer, environ []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: femtoclaw policy check FILE | policy eval --policy FILE --principal P MESSAGE")
	}
	switch args[0] {
	case "diff":
		return cmdPolicyDiff(args[1:], stdout, environ)
	case "check":
		if len(args) != 2 {
			return fmt.Errorf("usage: femtoclaw policy check FILE")
		}
		data, err := os.ReadFile(args[1])
		if err != nil {
			return err
		}
		p, err := policy.Parse(data)
		if err != nil {
			return err
		}
		fmt.Fprint(stdout, p.String())
		fmt.Fprintf(stdout, "ok: %d rules, sha256 %x\n", len(p.Rules()), p.Hash())
		return nil
	case "eval":
		var c commonFlags
		fs := newFlagSet("policy eval", &c)
		file := fs.String("policy", "", "policy file (default: the configured policy)")
		principal := fs.String("principal", "", "principal to decide for (required)")
		pos, err := parseArgs(fs, args[1:])
		if err != nil {
			return err
		}
		if *principal == "" || len(pos) > 1 {
			return fmt.Errorf("usage: femtoclaw policy eval [--policy FILE] --principal P [MESSAGE | -]")
		}
		var p *policy.Policy
		if *file != "" {
			data, err := os.ReadFile(*file)
			if err != nil {
				return err
			}
			if p, err = policy.Parse(data); err != nil {
				return err
			}
		} else {
			cfg, err := loadConfig(c.config, environ, c.sets)
			if err != nil {
				return err
			}
			if p, _, err = loadPolicy(cfg); err != nil {
				return err
			}
		}
		var msg []byte
		if len(pos) == 0 || pos[0] == "-" {
			b, err := io.ReadAll(io.LimitReader(stdin, 16<<20))
			if err != nil {
				return err
			}
			msg = b
		} else {
			msg = []byte(pos[0])
		}
		m, err := protocol.Decode(msg, protocol.Limits{})
		if err != nil {
			return err
		}
		if m.Form != protocol.FormToolCall {
			return fmt.Errorf("a message-form input is never executed, so there is nothing to decide")
		}
		d := p.Evaluate(&policy.Input{Principal: *principal, Capability: m.Tool, Args: m.Args})
		out, _ := json.MarshalIndent(map[string]any{
			"principal": *principal, "capability": m.Tool, "decision": d.Code, "rule": d.Rule,
			"reason": d.Reason, "policy_sha256": fmt.Sprintf("%x", p.Hash()),
		}, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
		if !d.Code.Allowed() {
			return exitError(1)
		}
		return nil
	}
	return fmt.Errorf("unknown policy command %q (check, eval)", args[0])
}
