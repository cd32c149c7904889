// Package ipc is the runtime's second front door: local processes —
// sidecars, agent workers, tools on the same host — reach the pipeline
// through a pair of lock-free rings in shared memory instead of a network
// stack, with the same trust as HTTP/3 and the same answer shape.
//
// A round trip costs microseconds (two cache-line transfers and the
// pipeline itself) where a unix socket costs ~70 µs and HTTP/3 ~140 µs on
// the project's machine. The package needs linux (memfd_create, file
// seals, SO_PEERCRED, futex); elsewhere NewServer and Dial return
// ErrUnsupported.
//
// # Lifecycle
//
// Server side (cmd/femtoclaw serve does this by default):
//
//	srv, err := ipc.NewServer(ipc.ServerConfig{
//		Path: "femtoclaw-data/femtoclaw.sock",            // mode 0660
//		UIDs: map[uint32]string{1001: "agent-worker"},     // peer uid → principal
//	}, rt)                                                 // rt: *pipeline.Runtime
//	err = srv.Start()
//	…
//	err = srv.Shutdown(ctx) // answers what is in flight, then closes
//
// Client side:
//
//	c, err := ipc.Dial(ctx, "femtoclaw-data/femtoclaw.sock", ipc.ClientConfig{})
//	if errors.Is(err, ipc.ErrRefused) { … } // e.g. this uid maps to no principal
//	defer c.Close()
//	answer, err := c.Execute(ctx, []byte(`{"tool_call":{"tool":"noop","args":{}}}`))
//	err = c.Submit(msg, func(answer []byte, err error) { … }) // pipelined
//	// errors.Is(err, ipc.ErrPeerGone): the server restarted; Dial again.
//
// `femtoclaw exec --ipc [PATH]` sends one message this way, and
// `fcload -target ipc` measures it.
//
// # Trust
//
// The principal comes from the kernel, never from the message: at accept
// the server reads the peer's uid, gid and pid (SO_PEERCRED) and maps
// them through ServerConfig.UIDs, then GIDs; the server's own uid maps to
// OwnerPrincipal ("local-admin") unless UIDs says otherwise. An unmapped
// peer is refused with its reason, journaled as a SECURITY_ERROR (reason
// "unmapped_peer", asynchronously, like HTTP/3's unauthenticated requests)
// and logged at most once a second. The socket file is set to
// ServerConfig.Mode (0660) as soon as it is bound: who may connect at all
// is the file system's decision; who they are is the kernel's.
//
// Each client gets its own region: an anonymous memfd, sealed against
// shrinking and growing, passed over the socket with SCM_RIGHTS. There is
// nothing in /dev/shm to leak, guess or squat, and no client can see
// another's region.
//
// # Handshake
//
//  1. The client connects to the unix stream socket and sends a 16-byte
//     hello: "FCIH", version (u16, 1), zero (u16), features (u64; bit 0,
//     doorbells, is required). Little endian, as everything here.
//  2. The server answers a 16-byte reply: "FCIA", version (u16), status
//     (u16), text length (u32), zero (u32), then the text. Status 0 means
//     accepted: the text is the principal, and the region's descriptor
//     rides with the reply as SCM_RIGHTS. Otherwise the text says why:
//     1 unmapped peer, 2 version or features not served, 3 too many
//     clients, 4 shutting down, 5 internal error, 6 malformed hello; the
//     server then closes the socket.
//  3. The client fstat()s the descriptor for the region size, checks its
//     seals (F_GET_SEALS has F_SEAL_SHRINK), mmap()s it read-write
//     MAP_SHARED, closes the descriptor and validates the header: magic
//     "FCRG", version 1, no unknown feature bit, region size equal to the
//     mapping, every ring inside the region and not overlapping. A
//     mismatch is refused (ErrVersion, ErrBadRegion).
//  4. From then on nothing is sent on the socket in either direction; it
//     stays open as the liveness signal. A client that writes to it is
//     disconnected. When the client dies the server reads EOF; when the
//     server dies or restarts the client reads EOF and fails every
//     waiting request (ErrPeerGone) at once.
//
// # Region layout
//
// Drawn in full at the top of layout.go, which is the frozen definition.
// In short: a 4096-byte header (identity, ring offsets and sizes, the
// server-state word, two futex doorbells on their own cache lines, and
// the two ring control blocks with head and tail on separate 128-byte
// lines), then the request ring's data, then the response ring's. Frames
// are 16-byte headers (length u32, flags u32, request id u64) followed by
// the payload padded to 16 bytes; the payload may wrap around the end of
// the data area. A request with an idempotency key sets FlagKeyed and
// starts its payload with the key (u16 big-endian length, the key), then
// the message: a retry with the same key and call gets the first answer
// again, "replayed":true (Client.ExecuteKey, SubmitKey).
//
// A client in another language needs exactly this:
//
//	request:  write the frame at req.data[head % size] (payload wrapping),
//	          head += 16 + roundup16(length); store head (release);
//	          if server.parked != 0 { server.seq++; FUTEX_WAKE(&server.seq) }
//	          (first wait while size - (head - tail) is too small: load tail)
//	answer:   load resp.head (acquire); while tail != head: copy the frame
//	          at resp.data[tail % size], tail += 16 + roundup16(length);
//	          store tail (release); ring the server's doorbell likewise
//	waiting:  spin a little; then s = client.seq; client.parked++;
//	          re-check; FUTEX_WAIT(&client.seq, s, timeout); client.parked--
//	checking: every index and length read from the region is validated
//	          (tail <= head, head - tail <= size, multiples of 16, frames
//	          within what head published) before it is used
//
// cclient/femtoclaw_ring.c is such a client, written from this
// documentation (one file, libc only); the tests build it with cc and run
// it against rings small enough to wrap on every few frames:
//
//	cc -O2 -o femtoclaw_ring ipc/cclient/femtoclaw_ring.c
//	./femtoclaw_ring femtoclaw-data/femtoclaw.sock '{"tool_call":{"tool":"noop","args":{}}}'
//
// # Socket framing
//
// A client that sets feature bit 1 (FeatureSocketFrames) in its hello
// gets no region: after the reply (status 0, no descriptor) the same
// frames — 16-byte header, payload padded to 16 — travel over the socket
// itself, both ways, with a max frame of 1 MiB + 4 KiB. Trust, principal
// mapping, answers and Transport ("ring") are the same. It exists to
// measure what the rings save (ClientConfig.SocketFrames, fcload
// -frames socket), and for a peer that cannot map memory.
//
// # Requests and answers
//
// A request frame's payload is one protocol message, exactly as an agent
// emitted it; its id is the client's choice. The server submits it to the
// pipeline (Runtime.Submit, Transport "ring", the mapped principal) and
// writes the answer — the object every transport returns — into the
// response ring under the same id, in completion order. Answers the ipc
// layer makes itself carry FlagTransport: a request frame over the max
// frame (PROTOCOL_ERROR "too_large", the frame is skipped), a request
// read while the server drains (RUNTIME_ERROR "shutting_down"), an answer
// over the max frame (RUNTIME_ERROR "too_large", naming the execution).
// The Go client refuses a message over the max frame before writing it
// (ErrTooLarge).
//
// # Waiting
//
// A side with nothing to do spins (ServerConfig.Spin, ClientConfig.Spin,
// 30 µs by default: a futex sleep and wake costs ~35 µs on the project's
// machine, so a shorter spin makes the ring no faster than a socket), then
// parks on its doorbell. The peer rings the doorbell only when the parked
// word says someone sleeps, so a busy connection makes no system calls at
// all, and an idle one costs nothing: connected idle clients keep the
// server below 1% of a core (a parked side wakes once a second, a safety
// net the protocol does not need).
//
// On the server the futex sleep is taken by a sleeper goroutine on the
// poller's behalf, and the poller itself waits on a channel: a completion
// from the pipeline (the journal's goroutine, in the common case) then
// wakes the poller with a goroutine hand-off on the same thread, not a
// futex wake of another one.
//
// # Bounds and hostile peers
//
// Per client the server holds its region (RequestRing + ResponseRing +
// 4 KiB, default 8 MiB, touched only as the rings wrap) and at most
// MaxInFlight requests and answers. Past MaxInFlight it stops reading that
// client's ring; a client that stops reading answers fills its own
// response ring and stalls only itself: each client has its own poller,
// and pipeline callbacks never wait for a ring.
//
// Every index and length the server reads from shared memory is loaded
// once into process memory and validated before use; payloads are copied
// out before they are parsed. A client that breaks the ring's invariants
// is disconnected and its region freed; garbage that keeps the invariants
// is just bad messages, answered as such. The server never reads the
// header back: its geometry is its own copy. The seals mean a client
// cannot shrink the region under the server.
//
// # Shutdown
//
// Server.Shutdown(ctx) stops accepting, sets the header's server-state
// word to draining (clients fail new requests at once), answers the
// requests already read, waits until each client's in-flight work is in
// its ring or ctx ends, then closes the sockets. Server.Close closes
// everything now; work already submitted still runs in the pipeline (a
// write-effect capability keeps its intent/record discipline) and its
// answer is dropped; the region is freed when the last callback returns.
// A second Shutdown or Close returns ErrClosed, which unwraps to
// net.ErrClosed, as ErrPeerGone does.
//
// # Performance
//
// Measured with scripts/ipc-bench.sh (fcload in another process, noop,
// `femtoclaw serve` on the project's shared 2-core machine; medians of 3,
// quietest run, load average 2.6):
//
//	                           ring      same frames, unix socket   HTTP/3
//	round trip, interval       p50 6.4 µs, p99 154 µs   81 µs / 232 µs   276 µs / 700 µs
//	round trip, no journal¹    p50 3.3 µs, p99 69 µs    71 µs / 184 µs
//	pipelined, interval        284k/s    191k/s                     74k/s
//	pipelined, always          150k/s    113k/s                     36k/s
//
// (¹ a separate run, durability off.) Of the 6.4 µs, ~4 µs is the journal's asynchronous append in interval
// mode (the same call in process costs ~4.6 µs p50 at one in flight);
// the ring itself is two cache-line transfers (the bare ring echo
// ceiling is 0.2 µs). One connection's throughput is bounded by its
// poller, which runs each request's validation, authorization and inline
// capability itself so that requests are submitted in ring order; more
// connections use more cores. Spinning costs a core per active side:
// on a machine whose cores are all busy the tail grows with the load.
//
// # Concurrency
//
// Server and Client are safe for concurrent use. Many goroutines share one
// Client with no lock on the hot path (see the Client type); the Server
// runs one poller goroutine per client (see the Server type). The rings'
// numbered invariants are at the ring type.
package ipc
