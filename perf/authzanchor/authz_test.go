package authzanchor

import (
	"bytes"
	"os"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

func engines(t testing.TB) map[string]Engine {
	o, err := NewOPA()
	if err != nil {
		t.Fatal(err)
	}
	c, err := NewCedar()
	if err != nil {
		t.Fatal(err)
	}
	f, err := NewFemtoClaw()
	if err != nil {
		t.Fatal(err)
	}
	return map[string]Engine{"opa": o, "cedar": c, "go": Go{}, "femtoclaw": f}
}

// TestSameDecisions: FemtoClaw, OPA, Cedar and the Go floor agree with the
// table on all 41 cases.
func TestSameDecisions(t *testing.T) {
	es := engines(t)
	for _, tc := range Cases {
		for name, e := range es {
			got, err := e.Decide(&tc.Call)
			if err != nil {
				t.Errorf("%s / %s: %v", tc.Name, name, err)
			}
			if got != tc.Allow {
				t.Errorf("%s / %s: allow=%v, want %v", tc.Name, name, got, tc.Allow)
			}
		}
		in, err := ast.InterfaceToValue(OPAInput(&tc.Call))
		if err != nil {
			t.Fatal(err)
		}
		if got, _ := es["opa"].(*OPA).DecideParsed(in); got != tc.Allow {
			t.Errorf("%s / opa-parsed: allow=%v, want %v", tc.Name, got, tc.Allow)
		}
	}
	if len(Cases) != 41 {
		t.Errorf("%d cases, want 41", len(Cases))
	}
	if !t.Failed() {
		t.Logf("%d cases x 4 engines (+ opa-parsed) agree", len(Cases))
	}
}

// TestAnchorYAMLIsCurrent: anchor.yaml is the policy package's copy.
func TestAnchorYAMLIsCurrent(t *testing.T) {
	orig, err := os.ReadFile("../../policy/testdata/anchor.yaml")
	if err != nil {
		t.Skip(err)
	}
	if !bytes.Equal(orig, anchorYAML) {
		t.Fatal("anchor.yaml differs from ../../policy/testdata/anchor.yaml: copy it again")
	}
}
