package main

import (
	"bytes"
	"context"
	"fmt"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/protocol"
	"github.com/femtoclaw/femtoclaw-go/transport"
)

// cmdTokenCreate prints a new bearer token and the auth.tokens entry
// that makes a server accept it for a principal. The token is printed
// once, alone on the first line; nothing is stored.
func cmdTokenCreate(_ context.Context, inv *invocation, args []string) error {
	fs := inv.flags(nil)
	principal := fs.String("principal", "", "the principal `P` the token authenticates (required)")
	pos, err := inv.parse(fs, args)
	if err != nil {
		return err
	}
	if err := inv.noArgs(pos); err != nil {
		return err
	}
	if *principal == "" {
		return usagef("missing --principal P")
	}
	if err := protocol.CheckAssignedPrincipal(*principal); err != nil {
		return usagef("--principal: %v", err)
	}
	tok := newBearerToken()
	// The server keeps transport.HashToken of each token and compares the
	// hash of the presented one (transport/auth.go).
	var snippet struct {
		Auth struct {
			Tokens []TokenConfig `yaml:"tokens"`
		} `yaml:"auth"`
	}
	snippet.Auth.Tokens = []TokenConfig{{Principal: *principal, SHA256: transport.HashToken(tok)}}
	var b bytes.Buffer
	enc := yaml.NewEncoder(&b)
	enc.SetIndent(2)
	if err := enc.Encode(&snippet); err != nil {
		return err
	}
	enc.Close()
	fmt.Fprintf(inv.stdout, "%s\n\n# The token above authenticates principal %q. It is shown once: the runtime keeps\n"+
		"# only its SHA-256. Add this entry under auth.tokens in the configuration (beside\n"+
		"# the entries already there) and restart the server:\n%s", tok, *principal, b.String())
	return nil
}
