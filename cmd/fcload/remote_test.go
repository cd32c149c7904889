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
	// Member order does not matter: status last.
	reordered := `{"execution_id":"e","state":"COMPLETED","decision":null,"result":null,"error":null,` +
		`"journal":{"seq":1,"durable":true},"timings_ns":{"validate":0,"authorize":0,"admit":0,"execute":0,"commit":0,"total":0},"status":"success"}`
	if err := answerErr([]byte(reordered)); err != nil {
		t.Fatalf("reordered success answer: %v", err)
	}
	for _, a := range []string{"", "{}", `{"status":"error"}`, "not json"} {
		if err := answerErr([]byte(a)); err == nil {
			t.Fatalf("%q counted as success", a)
		}
	}
}
