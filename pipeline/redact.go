package pipeline

import (
	"log/slog"
	"strings"
)

// SecretKey reports whether a log or event attribute key names something
// secret: a key containing, in any case, "token", "secret", "password",
// "authorization" or "private_key". It is the one list of redaction keys:
// the runtime's telemetry events and the CLI's logs both use it.
func SecretKey(key string) bool {
	k := strings.ToLower(key)
	for _, s := range [...]string{"token", "secret", "password", "authorization", "private_key"} {
		if strings.Contains(k, s) {
			return true
		}
	}
	return false
}

// RedactAttr is a slog.HandlerOptions.ReplaceAttr function that replaces
// the value of every attribute whose key is a SecretKey with
// "[REDACTED]".
func RedactAttr(_ []string, a slog.Attr) slog.Attr {
	if SecretKey(a.Key) {
		return slog.String(a.Key, "[REDACTED]")
	}
	return a
}
