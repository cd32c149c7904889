package ipc

import (
	"errors"
	"net"
)

var (
	// ErrClosed is returned by Shutdown and Close when called a second time,
	// and by a Client's Execute and Submit after its Close or Shutdown. It
	// unwraps to net.ErrClosed.
	ErrClosed = &closedError{msg: "ipc: closed"}

	// ErrPeerGone is returned for every request still waiting, and every
	// later one, once the other side of the connection went away: the
	// server restarted or closed the connection, or broke the ring
	// protocol. Dial again to reconnect. It unwraps to net.ErrClosed.
	ErrPeerGone = &closedError{msg: "ipc: peer gone"}

	// ErrTooLarge is returned by Execute and Submit for a message longer
	// than the region's max frame, before anything is written.
	ErrTooLarge = errors.New("ipc: message larger than the max frame")

	// ErrRefused is wrapped by Dial when the server refused the handshake
	// (an unmapped uid or gid, too many clients, the server closing); the
	// wrapping error carries the server's explanation.
	ErrRefused = errors.New("ipc: connection refused by the server")

	// ErrVersion is wrapped by Dial when the server speaks another version
	// of the layout or handshake, or requires a feature this package does
	// not implement.
	ErrVersion = errors.New("ipc: version mismatch")

	// ErrBadRegion is wrapped by Dial when the region the server passed
	// fails validation (magic, sizes, offsets).
	ErrBadRegion = errors.New("ipc: bad region")

	// ErrUnsupported is returned by NewServer and Dial on platforms without
	// memfd and SO_PEERCRED.
	ErrUnsupported = errors.New("ipc: shared-memory transport needs linux (memfd, SO_PEERCRED)")
)

// closedError is a terminal error that unwraps to net.ErrClosed.
type closedError struct{ msg string }

func (e *closedError) Error() string { return e.msg }
func (e *closedError) Unwrap() error { return net.ErrClosed }
