package protocol

import "testing"

func TestCheckAssignedPrincipal(t *testing.T) {
	for p, ok := range map[string]bool{
		"": false, "mtls:": false, "mtls:ops": false, "mtls:a:b": false,
		"agent-7": true, "MTLS:ops": true, "x-mtls:ops": true, "local-admin": true,
	} {
		if err := CheckAssignedPrincipal(p); (err == nil) != ok {
			t.Errorf("%q: %v, want ok=%v", p, err, ok)
		}
	}
}
