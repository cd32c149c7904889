// Package protocol is the wire vocabulary of FemtoClaw: the strict decoder
// for the two protocol forms an agent may emit, and the names every other
// package speaks — error categories, severities, decision codes, state
// names, the error object and the one answer shape.
//
// # The two forms
//
//	{"message":{"content":"Disk usage is 41% on /var."}}
//	{"tool_call":{"tool":"shell","args":{"bin":"df","argv":["-h","/var"]}}}
//
// Decode accepts exactly these and rejects everything else with a *Error
// of category PROTOCOL_ERROR whose Reason names the rule broken: invalid
// UTF-8, invalid JSON (a markdown fence included), trailing data, a
// non-object top level, both forms or neither, any unknown key in the
// envelope (top level, "message", "tool_call"), keys differing only in
// case, duplicate keys at any depth, empty content or tool, args that are
// not an object, and messages over the configured Limits (bytes, nesting
// depth, number of args, number of values). Numbers keep their literal
// text, so big integers keep their precision.
//
// The decoder is hand-written (see json.go for why encoding/json will not
// do): one copy of the input and one node slice per message, ~0.5 µs for a
// 300-byte call. Decoded values are read through Value, a small read-only
// handle whose accessors never allocate.
//
// # Numbers
//
// Decimal (ParseDecimal, CompareDecimal) compares JSON number literals
// exactly, without float64 and without allocating: 1.0 == 1, 1e2 == 100,
// -0 == 0, and 9007199254740993 != 9007199254740992. It is the one number
// comparison of the project: the capability schema's enum and bounds and
// the policy's in and range constraints all use it.
//
// # Errors
//
// Error is the specification's error object; its Is method lets callers
// test categories with errors.Is(err, protocol.ErrProtocol) and reasons
// with errors.Is(err, &protocol.Error{Category: …, Reason: …}).
//
// # Answers
//
// Answer is what every transport returns for every input, allowed or not;
// Answer.AppendJSON writes it without reflection.
//
// Everything in this package is safe for concurrent use; decoded messages
// are immutable.
package protocol
