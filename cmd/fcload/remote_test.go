package main

import (
	"testing"

	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func TestAnswerErr(t *testing.T) {
	ok := (&protocol.Answer{ExecutionID: "exec-1", State: "COMPLETED", Decision: "AUTHORIZED", Status: protocol.StatusSuccess}).AppendJSON(nil)
	if err := answerErr(ok); err != nil {
		t.Fatalf("success answer %s: %v", ok, err)
	}
	// A failed answer whose result happens to contain a success status
	// deeper down is still a failure.
	bad := (&protocol.Answer{ExecutionID: "exec-2", State: "ERROR", Status: "error", Result: []byte(`{"status":"success"}`)}).AppendJSON(nil)
	if err := answerErr(bad); err == nil {
		t.Fatalf("error answer %s counted as success", bad)
	}
	for _, a := range []string{"", "{}", `{"status":"error"}`, "not json"} {
		if err := answerErr([]byte(a)); err == nil {
			t.Fatalf("%q counted as success", a)
		}
	}
}
