package main

import (
	"testing"

	"github.com/femtoclaw/femtoclaw-go/perf"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// TestCheckHTTP: a status without an answer is categorized by the status;
// an answer, whatever the status, is checked against the mix entry.
func TestCheckHTTP(t *testing.T) {
	calls, err := perf.ParseMix("noop,denied", perf.MixOptions{})
	if err != nil {
		t.Fatal(err)
	}
	noop, denied := &calls[0], &calls[1]
	ok := (&protocol.Answer{ExecutionID: "e", State: protocol.StateCompleted, Decision: protocol.DecisionAuthorized, Status: protocol.StatusSuccess}).AppendJSON(nil)
	deny := (&protocol.Answer{ExecutionID: "e", State: protocol.StateError, Decision: protocol.DecisionDisabled, Status: protocol.StatusError,
		Error: &protocol.Error{Category: protocol.CategoryAuthorization, Message: "disabled"}}).AppendJSON(nil)
	for _, c := range []struct {
		call   *perf.Call
		status int
		body   string
		want   string
	}{
		{noop, 200, string(ok), ""},
		{denied, 403, string(deny), ""},
		{noop, 403, string(deny), perf.CategoryUnexpectedAnswer},
		{denied, 200, string(ok), perf.CategoryUnexpectedAnswer},
		{noop, 502, "<html>bad gateway</html>", perf.CategoryHTTP5xx},
		{noop, 404, "not here", perf.CategoryHTTP4xx},
		{noop, 200, "", perf.CategoryEmptyAnswer},
		{noop, 200, "{}", perf.CategoryMalformedAnswer},
	} {
		if got := perf.CategoryOf(checkHTTP(c.call, c.status, []byte(c.body))); got != c.want {
			t.Errorf("%s, status %d, %.40q: category %q, want %q", c.call.Name, c.status, c.body, got, c.want)
		}
	}
}
