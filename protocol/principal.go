package protocol

import (
	"fmt"
	"strings"
)

// MTLSPrincipalPrefix starts every principal an mTLS client certificate
// authenticates ("mtls:"+subject CN, transport). Only a verified
// certificate yields such a principal.
const MTLSPrincipalPrefix = "mtls:"

// CheckAssignedPrincipal says why p cannot be the principal configuration
// assigns to a credential of another kind (a bearer token, a local uid or
// gid on the ring): it is empty, or it lies in the mTLS namespace, so a
// token or a local user could pass for a certificate.
func CheckAssignedPrincipal(p string) error {
	switch {
	case p == "":
		return fmt.Errorf("empty principal")
	case strings.HasPrefix(p, MTLSPrincipalPrefix):
		return fmt.Errorf("principal %q starts with %q, which only an mTLS client certificate authenticates", p, MTLSPrincipalPrefix)
	}
	return nil
}
