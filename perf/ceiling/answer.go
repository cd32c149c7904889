package ceiling

// NoopAnswer is what the echo servers answer every request with: an
// answer of the runtime to a noop call, byte for byte as `femtoclaw serve`
// sends it (317 bytes, durable journal sequence included), so that the
// client's answer check (protocol.ParseAnswer, status success) passes and
// costs what it costs against the runtime.
var NoopAnswer = []byte(`{"execution_id":"exec-01a2346b-24df-7d7b-adea-708fcf7ab867","state":"COMPLETED","decision":"AUTHORIZED","rule":"default.noop-echo","status":"success","result":{},"error":null,"journal":{"seq":2,"durable":true},"timings_ns":{"validate":24076,"authorize":97886,"admit":0,"execute":741,"commit":1358186,"total":1495671}}`)

// NoopMessage is the request the ring ceiling sends: fcload's default
// message.
var NoopMessage = []byte(`{"tool_call":{"tool":"noop","args":{}}}`)
