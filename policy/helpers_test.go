package policy

import (
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// obj decodes a JSON text into a Value.
func obj(tb testing.TB, js string) protocol.Value {
	tb.Helper()
	v, err := protocol.ParseValue([]byte(js), protocol.Limits{})
	if err != nil {
		tb.Fatalf("ParseValue(%s): %v", js, err)
	}
	return v
}
