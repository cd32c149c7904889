package ipc

import (
	"fmt"
	"log/slog"
	"os"
	"time"

	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

// Defaults, used where a Config field is zero.
const (
	DefaultMode             os.FileMode = 0o660
	DefaultMaxFrame                     = 1<<20 + 4096 // a 1 MiB message plus room for its answer's envelope
	DefaultRingSize                     = 4 << 20      // bytes, each ring
	DefaultMaxInFlight                  = 1024         // per client
	DefaultMaxClients                   = 64
	DefaultSpin                         = 30 * time.Microsecond
	DefaultOwnerPrincipal               = "local-admin"
	DefaultHandshakeTimeout             = 5 * time.Second
	// MinMaxFrame is the smallest MaxFrame: room for any answer the ipc
	// layer makes itself (which replaces an answer over the max frame).
	MinMaxFrame = 1024
)

// Executor is what the server needs from the engine; *pipeline.Runtime
// implements it.
type Executor interface {
	Submit(req *pipeline.Request, done func(*protocol.Answer))
	// RecordSecurityRejection journals a refused handshake (an unmapped
	// peer) as a SECURITY_ERROR.
	RecordSecurityRejection(reason protocol.Reason, remote, transport string) *protocol.Answer
}

// ServerConfig configures a Server. The caller's struct is never
// modified; every field but Path has a usable zero value.
type ServerConfig struct {
	// Path is the unix socket the server listens on. Required. A stale
	// socket file left by a dead server is replaced; one a live server
	// answers on is an error.
	Path string
	// Mode is the socket file's permission bits. If zero, defaults to 0660
	// (the owner and its group may connect; peer credentials decide the
	// principal).
	Mode os.FileMode
	// UIDs maps a peer's user id to its principal. A uid match wins over
	// a gid match.
	UIDs map[uint32]string
	// GIDs maps a peer's primary group id to its principal.
	GIDs map[uint32]string
	// OwnerPrincipal is the principal of peers running as the server's own
	// uid when UIDs does not map it. If empty, defaults to "local-admin".
	// Peers matching nothing are refused (SECURITY_ERROR, reason
	// unmapped_peer, journaled).
	OwnerPrincipal string
	// MaxFrame bounds a frame's payload, in bytes, both ways. If zero,
	// defaults to 1 MiB + 4 KiB. At least 1 KiB; must fit twice in each
	// ring.
	MaxFrame int
	// RequestRing and ResponseRing are each ring's data size in bytes, a
	// power of two of at least 4 KiB. If zero, default to 4 MiB. Pages are
	// touched only as the rings wrap.
	RequestRing, ResponseRing int
	// MaxInFlight bounds the requests of one client that are submitted and
	// not yet answered into its response ring; past it the server stops
	// reading that client's ring (back-pressure, never rejection). If zero,
	// defaults to 1024.
	MaxInFlight int
	// MaxClients bounds connected clients; more are refused. If zero,
	// defaults to 64.
	MaxClients int
	// Spin is how long a poller with nothing to do polls before it parks
	// on its futex. If zero, defaults to 30µs; negative parks at once.
	Spin time.Duration
	// HandshakeTimeout bounds a client's handshake. If zero, defaults to 5 s.
	HandshakeTimeout time.Duration
	// Logger receives the server's log records. If nil, slog.Default().
	Logger *slog.Logger

	// parkTimeout bounds one futex wait (tests); zero: one second.
	parkTimeout time.Duration
	// onClientGone, if set (tests), runs after a client's region is freed.
	onClientGone func()
}

func (c ServerConfig) withDefaults() ServerConfig {
	if c.Mode == 0 {
		c.Mode = DefaultMode
	}
	if c.OwnerPrincipal == "" {
		c.OwnerPrincipal = DefaultOwnerPrincipal
	}
	if c.MaxFrame == 0 {
		c.MaxFrame = DefaultMaxFrame
	}
	if c.RequestRing == 0 {
		c.RequestRing = DefaultRingSize
	}
	if c.ResponseRing == 0 {
		c.ResponseRing = DefaultRingSize
	}
	if c.MaxInFlight == 0 {
		c.MaxInFlight = DefaultMaxInFlight
	}
	if c.MaxClients == 0 {
		c.MaxClients = DefaultMaxClients
	}
	if c.Spin == 0 {
		c.Spin = DefaultSpin
	}
	if c.HandshakeTimeout == 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.parkTimeout == 0 {
		c.parkTimeout = time.Second
	}
	return c
}

func (c ServerConfig) validate() error {
	pow2 := func(n int) bool { return n > 0 && n&(n-1) == 0 }
	switch {
	case c.Path == "":
		return fmt.Errorf("ipc: ServerConfig.Path is empty")
	case !pow2(c.RequestRing) || c.RequestRing < 4096 || c.RequestRing > 1<<30:
		return fmt.Errorf("ipc: request ring %d: want a power of two in [4 KiB, 1 GiB]", c.RequestRing)
	case !pow2(c.ResponseRing) || c.ResponseRing < 4096 || c.ResponseRing > 1<<30:
		return fmt.Errorf("ipc: response ring %d: want a power of two in [4 KiB, 1 GiB]", c.ResponseRing)
	case c.MaxFrame < MinMaxFrame || c.MaxFrame+frameHeaderSize > min(c.RequestRing, c.ResponseRing)/2:
		return fmt.Errorf("ipc: max frame %d: want %d..%d (half the smaller ring, less a frame header)", c.MaxFrame, MinMaxFrame, min(c.RequestRing, c.ResponseRing)/2-frameHeaderSize)
	case c.MaxInFlight < 1 || c.MaxInFlight > 1<<20:
		return fmt.Errorf("ipc: max in flight %d: want 1..%d", c.MaxInFlight, 1<<20)
	case c.MaxClients < 1:
		return fmt.Errorf("ipc: max clients %d: want at least 1", c.MaxClients)
	case c.Mode&^0o777 != 0:
		return fmt.Errorf("ipc: socket mode %v: permission bits only", c.Mode)
	}
	for uid, p := range c.UIDs {
		if err := protocol.CheckAssignedPrincipal(p); err != nil {
			return fmt.Errorf("ipc: uid %d: %w", uid, err)
		}
	}
	for gid, p := range c.GIDs {
		if err := protocol.CheckAssignedPrincipal(p); err != nil {
			return fmt.Errorf("ipc: gid %d: %w", gid, err)
		}
	}
	if err := protocol.CheckAssignedPrincipal(c.OwnerPrincipal); err != nil {
		return fmt.Errorf("ipc: owner principal: %w", err)
	}
	return nil
}

// ClientConfig configures Dial. The zero value is usable.
type ClientConfig struct {
	// MaxInFlight bounds this client's unanswered requests; Execute and
	// Submit wait for a slot past it. If zero, defaults to 1024.
	MaxInFlight int
	// Spin is how long the response reader (and a writer waiting for ring
	// space) polls before parking on the futex. If zero, defaults to 30µs;
	// negative parks at once.
	Spin time.Duration
	// HandshakeTimeout bounds Dial. If zero, defaults to 5 s.
	HandshakeTimeout time.Duration
	// SocketFrames carries the frames over the unix socket itself instead
	// of a shared region (feature bit 1): the same client and server logic
	// with the kernel's socket in place of the rings. It exists to measure
	// what the rings save, and for a peer that cannot map memory.
	SocketFrames bool

	// parkTimeout bounds one futex wait (tests); zero: one second.
	parkTimeout time.Duration
}

func (c ClientConfig) withDefaults() ClientConfig {
	if c.MaxInFlight <= 0 {
		c.MaxInFlight = 1024
	}
	if c.Spin == 0 {
		c.Spin = DefaultSpin
	}
	if c.HandshakeTimeout <= 0 {
		c.HandshakeTimeout = DefaultHandshakeTimeout
	}
	if c.parkTimeout == 0 {
		c.parkTimeout = time.Second
	}
	return c
}
