package journal_test

import (
	"crypto/sha256"
	"fmt"
	"os"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

func Example() {
	dir, _ := os.MkdirTemp("", "journal-example-")
	defer os.RemoveAll(dir)

	j, err := journal.Open(journal.Config{Dir: dir})
	if err != nil {
		panic(err) // errors.Is(err, journal.ErrCorrupt): refuse to start
	}
	args := []byte(`{"text":"hi"}`)
	rec := &journal.Record{
		Kind:        journal.KindExecution,
		ExecutionID: "exec-1",
		Principal:   "agent-7",
		Capability:  "echo",
		ArgsDigest:  sha256.Sum256(args),
		Args:        args,
		Decision:    "AUTHORIZED",
		State:       "COMPLETED",
		Status:      "success",
		Result:      []byte(`{"text":"hi"}`),
	}
	seq, err := j.Append(rec) // durable (fdatasync'ed) when it returns
	if err != nil {
		panic(err)
	}
	recs, _ := j.Get("exec-1")
	fmt.Println(seq, len(recs), recs[0].Capability)
	j.Close()

	rep, err := journal.Verify(dir)
	fmt.Println(rep.Records, err)
	// Output:
	// 1 1 echo
	// 1 <nil>
}
