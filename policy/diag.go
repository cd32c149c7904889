package policy

import (
	"cmp"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"go.yaml.in/yaml/v3"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// MaxErrors is how many problems a ParseError lists; the rest are only
// counted (ParseError.More).
const MaxErrors = 10

// A Diagnostic is one problem in a policy document, at the place it was
// written. Msg names the place in the document's own terms as well
// (`rules[2] (id "P3"): args.bin.max_len: want an integer, got the string
// "ten"`); a caller that knows the file name prints FILE:LINE:COL: Msg.
type Diagnostic struct {
	Line int    // 1-based
	Col  int    // 1-based; 1 where YAML's syntax error names only the line
	Msg  string // the problem, with its place in the document
}

// String returns "LINE:COL: Msg".
func (d Diagnostic) String() string {
	return strconv.Itoa(d.Line) + ":" + strconv.Itoa(d.Col) + ": " + d.Msg
}

// ParseError is the error of Parse and Engine.Reload for a document that
// does not compile: every problem found, in document order (the first
// MaxErrors of them; More counts the others). Problems of shape (unknown
// or duplicate keys, wrong types) are reported first; rules whose shape
// is wrong are not compiled further, so one mistake is reported once.
//
// It unwraps to a *protocol.Error of category CONFIGURATION_ERROR whose
// message holds the same list on one line, so errors.Is(err,
// protocol.ErrConfiguration) holds and errors.As finds the spec's error
// object.
type ParseError struct {
	Errors []Diagnostic
	More   int
	perr   *protocol.Error
}

// Error is the CONFIGURATION_ERROR's text:
// `CONFIGURATION_ERROR: policy: 3:7: rules[0]: effect is required; … (and 2 more)`.
func (e *ParseError) Error() string { return e.perr.Error() }

// Unwrap returns the CONFIGURATION_ERROR.
func (e *ParseError) Unwrap() error { return e.perr }

// Format returns the problems one per line as FILE:LINE:COL: message,
// then "FILE: and N more" when there were more than MaxErrors.
func (e *ParseError) Format(file string) string {
	var b strings.Builder
	for _, d := range e.Errors {
		fmt.Fprintf(&b, "%s:%d:%d: %s\n", file, d.Line, d.Col, d.Msg)
	}
	if e.More > 0 {
		fmt.Fprintf(&b, "%s: and %d more\n", file, e.More)
	}
	return b.String()
}

// newParseError sorts diags by position and keeps the first MaxErrors.
func newParseError(diags []Diagnostic) *ParseError {
	slices.SortStableFunc(diags, func(a, b Diagnostic) int {
		return cmp.Or(cmp.Compare(a.Line, b.Line), cmp.Compare(a.Col, b.Col))
	})
	e := &ParseError{Errors: diags}
	if len(diags) > MaxErrors {
		e.Errors, e.More = diags[:MaxErrors:MaxErrors], len(diags)-MaxErrors
	}
	parts := make([]string, len(e.Errors))
	for i, d := range e.Errors {
		parts[i] = d.String()
	}
	msg := "policy: " + strings.Join(parts, "; ")
	if e.More > 0 {
		msg += " (and " + strconv.Itoa(e.More) + " more)"
	}
	e.perr = protocol.NewError(protocol.CategoryConfiguration, "policy", msg)
	return e
}

// docErr is one problem at a node of the document, found while decoding
// or compiling it. A nil node takes the position of the enclosing rule or
// document (see place).
type docErr struct {
	n      *yaml.Node
	msg    string
	inRule bool // found while decoding a rule, which is then not compiled
}

func (e *docErr) Error() string { return e.msg }

// errAt builds a docErr at n.
func errAt(n *yaml.Node, format string, args ...any) *docErr {
	return &docErr{n: n, msg: fmt.Sprintf(format, args...)}
}

// place gives every error without a node the node def.
func place(errs []*docErr, def *yaml.Node) []*docErr {
	for _, e := range errs {
		if e.n == nil {
			e.n = def
		}
	}
	return errs
}

// diagnostics turns docErrs into Diagnostics.
func diagnostics(errs []*docErr) []Diagnostic {
	out := make([]Diagnostic, len(errs))
	for i, e := range errs {
		d := Diagnostic{Line: 1, Col: 1, Msg: e.msg}
		if e.n != nil && e.n.Line > 0 {
			d.Line, d.Col = e.n.Line, max(e.n.Column, 1)
		}
		out[i] = d
	}
	return out
}
