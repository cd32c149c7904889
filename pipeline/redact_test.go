package pipeline

import (
	"log/slog"
	"testing"
)

func TestRedactAttr(t *testing.T) {
	for _, k := range []string{"token", "Bearer_Token", "client_secret", "PASSWORD", "authorization", "tls_private_key"} {
		if a := RedactAttr(nil, slog.String(k, "s3cr3t")); a.Value.String() != "[REDACTED]" {
			t.Errorf("%s: %q not redacted", k, a.Value.String())
		}
	}
	for _, k := range []string{"execution_id", "principal", "capability", "key"} {
		if a := RedactAttr(nil, slog.String(k, "v")); a.Value.String() != "v" {
			t.Errorf("%s: redacted", k)
		}
	}
	// Events use the same list.
	if a := eventAttr(nil, slog.String("tls_private_key", "x")); a.Value.String() != "[REDACTED]" {
		t.Errorf("event attribute tls_private_key not redacted")
	}
}
