// Package transport is the network face of the runtime: an HTTP/3 server
// (quic-go) in front of a pipeline.Runtime, and the Go client that
// `femtoclaw exec --server`, fcload and the tests use. The server speaks
// HTTP/3 only: it binds UDP sockets and no TCP listener. (The admin
// listener — metrics, health, pprof — is the separate package
// transport/admin, on TCP.)
//
// # Endpoints
//
//	POST /v1/execute          body: one protocol message → one answer
//	POST /v1/stream           many framed messages → framed answers, in order
//	GET  /v1/capabilities     {"capabilities":[{name, version, description,
//	                           effects, enabled, timeout_ms, schema}, …]}
//	GET  /v1/executions/{id}  {"execution_id":…, "records":[journal records]}
//	GET  /healthz             {"status":"ok"} (no credentials needed; HealthJSON,
//	                           the admin listener's /healthz body too)
//
// /v1/execute takes the message as the body exactly as the agent emitted it
// (Content-Type is not required), an optional Idempotency-Key header (at
// most 256 bytes; passed to the pipeline and journaled) and an optional
// X-Femtoclaw-Timeout-Ms header (the client's remaining deadline: it
// becomes the deadline of a pooled — effects read or write — capability,
// clamped by its MaxTimeout; effects-none capabilities are bounded
// computations and get no timer). Every
// response carries X-Femtoclaw-Proto (the request's protocol as the server
// saw it, "HTTP/3.0") and, for answers, X-Femtoclaw-Execution-Id.
//
// Every answer has the one shape of DESIGN §4 (protocol.Answer.AppendJSON).
// Errors the transport produces itself (404, 405, 408, 413, and 401 when
// the Executor cannot journal it) use the same shape with an empty
// execution_id, decision null and an error object whose subsystem is
// "transport".
//
// # Status mapping (StatusOf)
//
//	200  executed — success, or a capability failure ("status":"error",
//	     category CAPABILITY_ERROR); message-form inputs too
//	400  PROTOCOL_ERROR (malformed, unknown capability, invalid arguments)
//	401  unauthenticated: SECURITY_ERROR, reason missing_credentials,
//	     invalid_token or malformed_authorization; WWW-Authenticate: Bearer
//	403  AUTHORIZATION_ERROR: DENIED_CAPABILITY_DISABLED,
//	     DENIED_POLICY_VIOLATION, DENIED_ARGUMENT_INVALID
//	404  unknown endpoint or execution id; lookups not configured
//	405  wrong method (Allow says which)
//	408  the body did not arrive within ReadTimeout
//	413  body over MaxBodyBytes, or over the protocol's MaxBytes
//	503  reason overloaded, shutting_down or journal_failed, or any
//	     MEMORY_ERROR; with Retry-After: 1
//	504  reason timeout (the capability's deadline passed)
//	500  anything else
//	505  not HTTP/3 (only if the handler is mounted elsewhere)
//
// A capability that is not registered is a PROTOCOL_ERROR (400) here: the
// validator rejects it before authorization.
//
// # Authentication
//
// The principal always comes from the transport, never from the message.
// A bearer token (Authorization: Bearer <token>) is hashed with SHA-256 and
// compared in constant time against every configured hash (ServerConfig
// stores only hashes; HashToken makes one, GenerateToken makes a token).
// Without an Authorization header, a client certificate verified against
// ClientCAFile (mTLS; requested, not required) authenticates as
// "mtls:"+subject CN. A token, when sent, wins; a bad token is never
// rescued by a certificate. Failures are logged and journaled, at a
// bounded rate: when the Executor implements RejectionLogger
// (pipeline.Runtime does) the Server keeps a pipeline.RejectionLog, which
// writes one SECURITY_ERROR rejection record per source (IP, IPv6 /64)
// per RejectionWindow (default 1 minute) with the count, first and last
// time and the count of each reason, for at most RejectionMaxSources
// sources (default 1024) plus one overflow record; Shutdown and Close
// journal the open window. So nothing is dropped silently and a flood of
// bad tokens costs at most 1025 records a minute, not one per request.
// The 401 body names the aggregate's execution id (which an admin can
// look up once the window is journaled) and carries a fresh error id.
// The log, too, gets one line per source and window (the per-request
// line is at Debug). Guaranteed: every rejection is counted in some
// record. Not guaranteed: that it is journaled if the process dies before
// its window ends (the log line of the window's first rejection remains).
// An Executor with only
// SecurityRecorder is asked once per request. Every /v1 endpoint requires
// credentials; /healthz does not.
//
// # Executions belong to their principal
//
// GET /v1/executions/{id} returns only records the caller made itself
// (journal Record.Principal equal to the authenticated principal). A
// principal listed in ServerConfig.AdminPrincipals reads every record,
// and only such a principal reads system records (startup, shutdown,
// policy loads; principal "runtime", kind system) and unauthenticated
// rejections (no principal). By default the list is empty: over HTTP/3
// nobody reads another principal's executions. An id that does not exist
// and an id the caller may not read get the same answer: 404, reason
// not_found, message "no such execution: <quoted id>", the same headers;
// only the per-response error id and timestamp differ, as they do between
// any two answers. Guaranteed: the body, status and headers do not tell
// the two apart. Not guaranteed: equal latency; an id that exists is read
// from the journal before it is filtered, which takes longer than an
// index miss. That needs the id, though: execution ids carry 74 bits from
// crypto/rand (UUIDv7, pipeline), nothing in one id or in any answer
// (401s included) predicts another, so ids cannot be enumerated.
//
// # TLS and pinning
//
// TLS 1.3 only, ALPN h3. With no CertFile/KeyFile the server generates an
// ECDSA P-256 certificate on first start (SANs localhost, 127.0.0.1, ::1;
// ten years; a CA certificate so it can be its own trust anchor) and keeps
// it in TLSDir (cert.pem, key.pem 0600), so the pin survives restarts.
// Server.SPKIPin is the base64 SHA-256 of the SubjectPublicKeyInfo:
//
//	openssl x509 -in cert.pem -pubkey -noout | openssl pkey -pubin -outform der \
//	  | openssl dgst -sha256 -binary | base64
//
// which is what Chromium's --ignore-certificate-errors-spki-list takes.
// The client pins with ClientConfig.SPKIPin (chain and name unchecked; the
// key is the identity; a mismatch is a *PinError at handshake), or
// verifies against ClientConfig.CAFile (cert.pem itself works), or the
// system roots.
//
// # Stream framing (POST /v1/stream)
//
// Both directions carry frames of a 4-byte big-endian length followed by
// that many bytes (see frame.go): a request frame holds one protocol
// message, a response frame one answer. Answers come back in request order
// as each execution completes durably (the server uses Runtime.Submit, so
// messages pipeline: effects-none capabilities run on the reading
// goroutine, others on their pools, and commits batch in the journal). At
// most StreamWindow (1024) messages may be unanswered, and at most
// StreamMaxUnsentBytes (default 1 MiB) of answers may wait for a client
// that does not read them; beyond either the server stops reading and
// QUIC flow control pushes back. Answers carry no
// HTTP status; apply StatusOf to the answer's error. A zero-length or
// over-MaxBodyBytes frame, or IdleTimeout without a frame, ends the stream
// with one final error frame (PROTOCOL_ERROR, reason empty_frame,
// too_large or read_timeout) after the answers already owed. The client
// ends the stream by closing its side (Stream.CloseSend); the server then
// answers what it accepted and ends the response (Recv returns io.EOF).
// Idempotency keys are not framed (use /v1/execute for keyed calls).
//
// # Lifecycle and shutdown
//
//	srv, err := transport.NewServer(cfg, rt, j.Get) // loads or creates the certificate
//	err = srv.Start()                               // binds the UDP sockets, serves
//	…
//	err = srv.Shutdown(ctx)                         // then rt.Shutdown(ctx), then j.Close()
//
// Start opens each UDP socket itself and serves it with http3.Server.Serve
// on a goroutine the Server owns (no ListenAndServe race with Shutdown).
// The default addresses are 127.0.0.1:4433 and [::1]:4433; the IPv6 one is
// skipped quietly on a host without IPv6. Shutdown: stops reading new
// stream frames, sends GOAWAY on every connection (later requests are
// refused with H3_REQUEST_REJECTED and never reach the pipeline), waits
// for in-flight requests to be answered within ctx and DrainTimeout
// (default 5s), gives clients 250 ms to close their connections, then
// closes connections and sockets and waits for its goroutines. An answer
// is written only after the pipeline answered, and with a durable journal
// the pipeline answers only after the record is synced, so every 200 a
// client received is in the journal (TestShutdownUnderLoad checks this
// across a restart). Close stops at once instead: it closes every
// connection and socket without waiting for handlers. Whichever runs
// second (Shutdown or Close) returns ErrServerClosed, and so does Start
// after either; Client and admin.Server follow the same convention.
//
// # Limits and timeouts
//
// Bodies are wrapped in http.MaxBytesReader before they are read (and a
// declared Content-Length over the limit is refused at once); an oversized
// body is read and dropped (up to 8 MiB, under ReadTimeout) before the 413
// so that clients which cannot take an early response (Chromium) see it.
// ReadTimeout (default 10s) is a read deadline on the request stream for
// the body; IdleTimeout (default 120s) is the QUIC idle timeout, the
// HTTP/3 idle-connection timeout and the wait for the next stream frame.
//
// # Every resource is bounded
//
// What one client can make the server hold, and what is not bounded:
//
//   - Headers: a request's header section is at most MaxHeaderBytes
//     (default 16 KiB; quic-go's default is 1 MiB). A HEADERS frame that
//     declares more is refused (431) from its frame header, before its
//     bytes are read or buffered.
//   - Streams: one connection has at most MaxIncomingStreams (default
//     1024) request streams open at once (QUIC MAX_STREAMS; the client
//     cannot open more). Stalled streams therefore pin at most 1024 ×
//     16 KiB of headers per connection, and their unread bytes are
//     further bounded by QUIC's receive windows (quic-go's defaults: 6 MiB
//     per stream, 15 MiB per connection).
//   - Unread answers on /v1/stream: the bytes of answers the client has
//     not taken, plus a reservation for each message still running (the
//     largest answer the stream has produced so far, at least 4 KiB), are
//     at most StreamMaxUnsentBytes (default 1 MiB); past it the server
//     reads no further frame until the client reads. A client that reads
//     nothing for IdleTimeout is cut off (write deadline).
//   - Bodies: MaxBodyBytes and ReadTimeout, above.
//
// Not bounded here: the number of connections (put a limit in front of the
// server if untrusted networks reach it), and the overshoot of a burst
// whose answers are larger than any the stream saw before: up to
// StreamMaxUnsentBytes/4 KiB such messages can be in flight when the first
// of them completes (capabilities declare no bound on their result size;
// their own limits — fs.read max_bytes, shell max_output_bytes — apply).
// After that the stream reads nothing until the client catches up.
//
// # Tuning
//
// MaxIncomingStreams (default 1024) is the per-connection limit on
// concurrent request streams. quic-go's default of 100 caps one connection
// at 100 requests in flight: with 1 connection × 256 in flight the other
// 156 wait for stream credit in the client. Measured in process, noop,
// durable journal, 1 × 256, alternating, 3 runs each on the shared 2-core
// machine: 100 → 16.1k req/s, p50 15.5 ms; 4096 → 18.1k req/s, p50 12.7 ms
// (p99 too noisy there to call). 1024 keeps four times that depth for
// gateways that multiplex many agents over one connection while bounding
// what stalled streams can pin (see "Every resource is bounded"); raise it
// only together with a smaller MaxHeaderBytes. Flow-control windows keep quic-go's defaults (512 KiB
// initial per stream, auto-tuned to 6 MiB; 15 MiB per connection): answers
// are small and a 1 MiB body needs one auto-tune step; they were not
// tuned. 0-RTT is off (a replayed request would execute twice).
//
// # Access log
//
// With Logger at slog.LevelDebug every request is logged once, after it
// finished: proto, method, path, status, remote, duration
// ("msg=request proto=HTTP/3.0 method=POST path=/v1/execute status=200 …").
// scripts/interop.sh relies on it and on X-Femtoclaw-Proto to show that
// the server saw HTTP/3 from each real client.
//
// # Where things live
//
//	server.go    Server, NewServer, Start, Shutdown, Close; the Executor,
//	             SecurityRecorder and Lookup interfaces the server is built on
//	config.go    ServerConfig and its defaults
//	routes.go    ServeHTTP: protocol check, routing, methods, authentication
//	handlers.go  the endpoint handlers: /v1/execute, /v1/capabilities,
//	             /v1/executions/{id}
//	stream.go    the /v1/stream and /v1/stream/keyed handler
//	body.go      reading a request body under MaxBodyBytes and ReadTimeout;
//	             request headers (X-Femtoclaw-Timeout-Ms)
//	respond.go   writing responses: headers, answer-shaped transport errors,
//	             buffer pool, the access-log writer
//	drain.go     the in-flight request tracker Shutdown waits on
//	status.go    StatusOf, the answer → HTTP status mapping
//	auth.go      bearer tokens and the mTLS principal
//	tls.go       certificate loading and generation, SPKI pins
//	frame.go     the stream frame codec (plain and keyed)
//	client.go    the Go client: Execute, Capabilities, Execution
//	client_stream.go  the client's Stream and KeyedStream
//
// # Concurrency
//
// Server and Client are safe for concurrent use. A Client holds one QUIC
// connection (opened on first use, reused by every call, redialed after
// it breaks); open several Clients for several connections. A Stream
// allows one goroutine in Recv and any number in Send. Whoever calls
// NewServer must call Shutdown or Close; whoever calls NewClient must call
// Close or Shutdown.
package transport
