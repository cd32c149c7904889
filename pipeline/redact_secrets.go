package pipeline

import (
	"bytes"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"unsafe"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Redaction is total: a secret argument — a value its capability's schema
// marks "x-femtoclaw-secret", or every argument of a capability with
// Settings.RedactArgs — never leaves the runtime as written. Wherever it
// would be stored or exported, the runtime shows its keyed digest,
//
//	[secret:hmac-sha256:<first 16 hex digits of HMAC-SHA256(key, value)>]
//
// where value is the string's text (or, for another type, its JSON
// literal) and key is Config.RedactionKey (per data directory: the same
// secret gets the same digest across restarts, and nobody without the key
// can test a guess against it). What is covered:
//   - the journal's args (intent, execution and rejection records): secret
//     values are replaced in place; with RedactArgs the args are omitted.
//     ArgsDigest is then HMAC-SHA256 of the raw args, not SHA-256;
//   - a call refused for bad args: its args follow the schema as far as
//     they match it;
//   - a message that could not be decoded: never stored; the record holds
//     {"length":N,"digest":"[secret:…]"} and the keyed ArgsDigest;
//   - the answer's and the record's error message (validation errors, the
//     policy's denial reason, capability errors) and result: every
//     occurrence of a secret (as decoded, JSON-escaped or Go-quoted, and the
//     80-byte prefix capability messages cut long values at) is replaced;
//     a result that is no longer valid JSON afterwards becomes
//     {"redacted":"[secret:…]"}. Events carry no argument-derived text.
//
// Not guaranteed: secrets shorter than minSecretScan bytes are replaced
// where they are arguments but not searched in free text (they would
// match everywhere); a capability that transforms a secret (encodes,
// hashes, splits it) before echoing it defeats the scan; a message-form
// request has no capability and no schema, so its content is journaled as
// sent: never put secrets in message form.
const minSecretScan = 4

// SecretMarker begins the shown form of every secret value,
// "[secret:hmac-sha256:<16 hex>]": journaled args that contain it lack
// the values it stands for (policy diff --candidate cannot replay them).
const SecretMarker = "[secret:hmac-sha256:"

// redactor computes keyed digests. Immutable; safe for concurrent use.
type redactor struct{ key []byte }

func newRedactor(key []byte) *redactor {
	if len(key) == 0 {
		key = make([]byte, 32)
		_, _ = rand.Read(key)
	}
	return &redactor{key: append([]byte(nil), key...)}
}

func (r *redactor) mac(b []byte) []byte {
	m := hmac.New(sha256.New, r.key)
	m.Write(b)
	return m.Sum(nil)
}

// Digest is the shown form of a secret value.
func (r *redactor) Digest(b []byte) string {
	return SecretMarker + hex.EncodeToString(r.mac(b)[:8]) + "]"
}

// secretSet is one call's secrets: the values and their digests.
type secretSet struct {
	args   protocol.Value
	vals   []protocol.Value
	shown  []string   // digest of vals[i]
	needle [][]string // forms of vals[i]'s leaves to scan for in free text, with the digest to show
}

// secretsOf returns the secret values of a call to e with args, or nil
// when it has none. Cheap when the capability has no secrets: two checks.
func (rt *Runtime) secretsOf(e *capability.Entry, args protocol.Value) *secretSet {
	if e == nil || !args.Exists() || (!e.Settings.RedactArgs && !e.Schema.HasSecrets()) {
		return nil
	}
	s := &secretSet{args: args}
	if e.Settings.RedactArgs {
		for m := args.First(); m.Exists(); m = m.Next() {
			s.vals = append(s.vals, m)
		}
	} else {
		s.vals = e.Schema.Secrets(args, nil)
	}
	for _, v := range s.vals {
		s.shown = append(s.shown, rt.redact.Digest(valueBytes(v)))
		s.needle = append(s.needle, nil)
		i := len(s.needle) - 1
		leaves(v, func(l protocol.Value) {
			s.needle[i] = append(s.needle[i], scanForms(l)...)
		})
	}
	return s
}

// valueBytes is what a digest covers: a string's text, else the literal.
func valueBytes(v protocol.Value) []byte {
	if v.Kind() == protocol.KindString {
		return []byte(v.Str())
	}
	return v.RawBytes()
}

func leaves(v protocol.Value, fn func(protocol.Value)) {
	switch v.Kind() {
	case protocol.KindObject, protocol.KindArray:
		for it := v.First(); it.Exists(); it = it.Next() {
			leaves(it, fn)
		}
	case protocol.KindString, protocol.KindNumber:
		fn(v)
	}
}

// scanForms lists the spellings of a leaf value to look for in text.
func scanForms(v protocol.Value) []string {
	var forms []string
	add := func(f string) {
		if len(f) >= minSecretScan {
			forms = append(forms, f)
		}
	}
	if v.Kind() != protocol.KindString {
		add(v.Raw())
		return forms
	}
	str := v.Str()
	add(str)
	js := string(protocol.AppendString(nil, str))
	add(js[1 : len(js)-1])
	q := strconv.Quote(str)
	add(q[1 : len(q)-1])
	if len(str) > 80 {
		add(str[:80]) // capability messages cut long values at 80 bytes
	}
	return forms
}

// text replaces every secret in t.
func (s *secretSet) text(t string) string {
	for i, forms := range s.needle {
		for _, f := range forms {
			t = strings.ReplaceAll(t, f, s.shown[i])
		}
	}
	return t
}

// result replaces every secret in a JSON result, keeping it valid JSON.
func (s *secretSet) result(res []byte, r *redactor) []byte {
	out := res
	changed := false
	for i, forms := range s.needle {
		for _, f := range forms {
			if bytes.Contains(out, []byte(f)) {
				out = bytes.ReplaceAll(out, []byte(f), []byte(s.shown[i]))
				changed = true
			}
		}
	}
	if !changed {
		return res
	}
	if !json.Valid(out) {
		return []byte(`{"redacted":` + strconv.Quote(r.Digest(res)) + `}`)
	}
	return out
}

// rawArgs is the call's raw args with every secret value replaced by its
// digest as a JSON string, or nil when every argument is secret.
func (s *secretSet) rawArgs(redactAll bool) []byte {
	if redactAll {
		return nil
	}
	raw := s.args.Raw()
	base := uintptr(unsafe.Pointer(unsafe.StringData(raw)))
	out := make([]byte, 0, len(raw))
	last := 0
	for i, v := range s.vals {
		lit := v.Raw()
		off := int(uintptr(unsafe.Pointer(unsafe.StringData(lit))) - base)
		if off < last || off+len(lit) > len(raw) {
			continue // nested inside a secret already replaced
		}
		out = append(out, raw[last:off]...)
		out = protocol.AppendString(out, s.shown[i])
		last = off + len(lit)
	}
	return append(out, raw[last:]...)
}

// redactOutputs scrubs the answer (error message, result) of this
// execution's secrets before it is journaled and sent.
func (x *execution) redactOutputs() {
	s := x.callSecrets()
	if s == nil {
		return
	}
	if e := x.ans.Error; e != nil {
		e.Message = s.text(e.Message)
	}
	if len(x.ans.Result) > 0 {
		x.ans.Result = s.result(x.ans.Result, x.rt.redact)
	}
}

// callSecrets returns (once computed) the secrets of this execution's
// call: the validated one, or one refused by the registry.
func (x *execution) callSecrets() *secretSet {
	if x.secretsDone {
		return x.secrets
	}
	x.secretsDone = true
	switch {
	case x.msg != nil && x.msg.Form == protocol.FormToolCall:
		x.secrets = x.rt.secretsOf(x.entry, x.msg.Args)
	case x.msg == nil && x.rejected != nil && x.rejected.Form == protocol.FormToolCall:
		if e, ok := x.snap.reg.Lookup(x.rejected.Tool); ok {
			x.secrets = x.rt.secretsOf(e, x.rejected.Args)
		}
	}
	return x.secrets
}

// undecodableArgs is what the journal keeps of a message that could not
// be decoded: its length and digest, never its bytes.
func (rt *Runtime) undecodableArgs(msg []byte) []byte {
	return []byte(`{"length":` + strconv.Itoa(len(msg)) + `,"digest":` + strconv.Quote(rt.redact.Digest(msg)) + `}`)
}
