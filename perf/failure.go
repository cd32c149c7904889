package perf

import (
	"context"
	"errors"
	"io"
	"net"
	"os"
	"syscall"
)

// The client-side error categories (see the package doc, "Error
// categories"). The server's own are its error's category and reason
// ("RUNTIME_ERROR/overloaded").
const (
	CategoryTimeout          = "timeout"           // no answer by the end of the phase or within Config.Timeout
	CategoryNotSent          = "not_sent"          // open loop: an arrival due before the end that could not be sent
	CategoryRefused          = "refused"           // connection refused
	CategoryReset            = "reset"             // connection reset, broken pipe, stream or connection aborted by the peer
	CategoryClosed           = "closed"            // the connection or client is closed, the peer is gone
	CategoryUnreachable      = "unreachable"       // no route to the server
	CategoryTransport        = "transport"         // any other transport error
	CategoryHTTP4xx          = "http_4xx"          // an HTTP 4xx status without an answer in the body
	CategoryHTTP5xx          = "http_5xx"          // an HTTP 5xx status without an answer in the body
	CategoryMalformedAnswer  = "malformed_answer"  // a body that does not parse as an answer
	CategoryEmptyAnswer      = "empty_answer"      // an empty body
	CategoryUnexpectedAnswer = "unexpected_answer" // a valid answer, not the one the mix entry expects
)

// Failure is a failed request with its category. Ops return one (Fail)
// when they know the category; CategoryOf classifies any other error.
type Failure struct {
	Category string
	Err      error
}

// Fail returns err as a *Failure of category cat.
func Fail(cat string, err error) error { return &Failure{Category: cat, Err: err} }

func (f *Failure) Error() string {
	if f.Err == nil {
		return f.Category
	}
	return f.Category + ": " + f.Err.Error()
}

// Unwrap returns the underlying error.
func (f *Failure) Unwrap() error { return f.Err }

// CategoryOf returns err's category: a *Failure's own; "timeout" for a
// context that ended (the phase's end or Config.Timeout) and any error
// that reports Timeout(); then the transport classes of the standard
// library's errors; "transport" for anything else; "" for nil.
func CategoryOf(err error) string {
	if err == nil {
		return ""
	}
	var f *Failure
	if errors.As(err, &f) {
		return f.Category
	}
	var te interface{ Timeout() bool }
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, context.Canceled),
		errors.Is(err, os.ErrDeadlineExceeded), errors.As(err, &te) && te.Timeout():
		return CategoryTimeout
	case errors.Is(err, syscall.ECONNREFUSED):
		return CategoryRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE), errors.Is(err, syscall.ECONNABORTED),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.ErrClosedPipe):
		return CategoryReset
	case errors.Is(err, net.ErrClosed), errors.Is(err, io.EOF):
		return CategoryClosed
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return CategoryUnreachable
	}
	return CategoryTransport
}

// IsTimeout reports whether a category counts as a timeout
// (Repetition.Timeouts): "timeout" and "not_sent".
func IsTimeout(cat string) bool { return cat == CategoryTimeout || cat == CategoryNotSent }
