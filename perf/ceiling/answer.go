package ceiling

import "strconv"

// NoopAnswer is an answer of the runtime to a noop call, byte for byte as
// `femtoclaw serve` sends it (317 bytes, durable journal sequence
// included). The echo servers answer with it, numbered (AppendNoopAnswer),
// so that the client's answer check (protocol.ParseAnswer, status
// success) passes and costs what it costs against the runtime.
var NoopAnswer = []byte(`{"execution_id":"exec-01a2346b-24df-7d7b-adea-708fcf7ab867","state":"COMPLETED","decision":"AUTHORIZED","rule":"default.noop-echo","status":"success","result":{},"error":null,"journal":{"seq":2,"durable":true},"timings_ns":{"validate":24076,"authorize":97886,"admit":0,"execute":741,"commit":1358186,"total":1495671}}`)

// NoopMessage is the request the ring ceiling sends: fcload's default
// message.
var NoopMessage = []byte(`{"tool_call":{"tool":"noop","args":{}}}`)

// noopAnswerHead, noopAnswerMid and noopAnswerTail are NoopAnswer around
// its execution id's last 12 hex digits and its journal sequence number.
const (
	noopAnswerHead = `{"execution_id":"exec-01a2346b-24df-7d7b-adea-`
	noopAnswerMid  = `","state":"COMPLETED","decision":"AUTHORIZED","rule":"default.noop-echo","status":"success","result":{},"error":null,"journal":{"seq":`
	noopAnswerTail = `,"durable":true},"timings_ns":{"validate":24076,"authorize":97886,"admit":0,"execute":741,"commit":1358186,"total":1495671}}`
)

// AppendNoopAnswer appends answer number n (from 1) to b: NoopAnswer with
// an execution id and a journal sequence of its own, as the runtime's
// answers have (the same length as NoopAnswer's until n passes 10¹²).
func AppendNoopAnswer(b []byte, n uint64) []byte {
	b = append(b, noopAnswerHead...)
	const hex = "0123456789abcdef"
	for shift := 44; shift >= 0; shift -= 4 {
		b = append(b, hex[(n>>uint(shift))&15])
	}
	b = append(b, noopAnswerMid...)
	b = strconv.AppendUint(b, n, 10)
	return append(b, noopAnswerTail...)
}
