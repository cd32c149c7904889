package capability

import "github.com/femtoclaw/femtoclaw-go/protocol"

// Canonical is the canonical form of a call's arguments: what the
// capability will act on, spelled one way. The policy decides on it, so a
// rule cannot be passed by another spelling of the same thing
// ("/project/./secrets/db.txt", "/usr/bin/git", "/%61dmin").
type Canonical struct {
	// Args is the canonical arguments object, raw JSON, with the same
	// members and types as the arguments it canonicalizes.
	Args []byte
	// Alt, when not nil, is a JSON object of other spellings of some
	// arguments that name exactly the same thing as their canonical value
	// (shell: {"bin":"git"} when "git" is what PATH resolves to
	// "/usr/bin/git"). A policy argument constraint holds when it holds
	// for the canonical value or for its Alt spelling.
	Alt []byte
}

// Canonicalizer is implemented by a capability whose arguments have more
// than one spelling for the same action. The pipeline calls Canonicalize
// once per distinct message, after the schema check and before the policy,
// and keeps the result with the cached validation; the policy then decides
// on Canonical.Args (and Alt), and Execute receives both forms.
//
// Canonicalize must be safe for concurrent use and must not have effects.
// An error means the capability would refuse the call anyway (a binary
// that is not allowlisted, a path that escapes the root): the policy then
// decides on the arguments as received, and Execute refuses. A capability
// whose canonical form depends on the world (fs.read's symbolic links) must
// compute it again in Execute and, when it differs from Request.Canonical,
// have it authorized with Request.Authorize before acting.
type Canonicalizer interface {
	Canonicalize(args protocol.Value) (Canonical, error)
}

// authorize asks req's policy hook about c; without a hook (the
// capability is called directly, with no policy in front of it) every
// form is accepted.
func (req *Request) authorize(c Canonical) error {
	if req.Authorize == nil {
		return nil
	}
	return req.Authorize(c)
}

// sameCanonical reports whether canonical args bytes equal the canonical
// form the policy already decided on (req.Canonical).
func (req *Request) sameCanonical(args []byte) bool {
	return req.Canonical.Exists() && req.Canonical.Raw() == string(args)
}
