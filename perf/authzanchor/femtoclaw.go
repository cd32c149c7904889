package authzanchor

import (
	_ "embed"
	"encoding/json"

	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

//go:embed anchor.yaml
var anchorYAML []byte

// FemtoClaw evaluates anchor.yaml with FemtoClaw's policy package.
type FemtoClaw struct{ P *policy.Policy }

func NewFemtoClaw() (*FemtoClaw, error) {
	p, err := policy.Parse(anchorYAML)
	if err != nil {
		return nil, err
	}
	return &FemtoClaw{p}, nil
}

// ArgsJSON is c's args as JSON text: what arrives on the wire.
func ArgsJSON(c *Call) ([]byte, error) { return json.Marshal(c.Args) }

// Input decodes args JSON with the protocol decoder (in the runtime, the
// validation stage has already done this for the whole message).
func Input(principal, tool string, argsJSON []byte) (*policy.Input, error) {
	v, err := protocol.ParseValue(argsJSON, protocol.Limits{})
	if err != nil {
		return nil, err
	}
	return &policy.Input{Principal: principal, Capability: tool, Args: v}, nil
}

func (f *FemtoClaw) Decide(c *Call) (bool, error) {
	js, err := ArgsJSON(c)
	if err != nil {
		return false, err
	}
	in, err := Input(c.Principal, c.Tool, js)
	if err != nil {
		return false, err
	}
	return f.P.Evaluate(in).Code.Allowed(), nil
}
