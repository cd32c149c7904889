//go:build !linux

package ipc

import (
	"context"
)

// Server is the shared-memory transport's server. On this platform it
// cannot be built: NewServer returns ErrUnsupported.
type Server struct{}

// NewServer returns ErrUnsupported: the transport needs linux (memfd,
// SO_PEERCRED, futex).
func NewServer(cfg ServerConfig, ex Executor) (*Server, error) { return nil, ErrUnsupported }

// Path returns "".
func (s *Server) Path() string { return "" }

// Start returns ErrUnsupported.
func (s *Server) Start() error { return ErrUnsupported }

// Shutdown returns ErrUnsupported.
func (s *Server) Shutdown(ctx context.Context) error { return ErrUnsupported }

// Close returns ErrUnsupported.
func (s *Server) Close() error { return ErrUnsupported }

// ServerStats counts handshakes.
type ServerStats struct {
	Accepted, Refused, Violations, Parks uint64
	Clients                              int
}

// Stats returns zero.
func (s *Server) Stats() ServerStats { return ServerStats{} }

// Client is a connection to a Server. On this platform Dial returns
// ErrUnsupported.
type Client struct{}

// Dial returns ErrUnsupported.
func Dial(ctx context.Context, path string, cfg ClientConfig) (*Client, error) {
	return nil, ErrUnsupported
}

// Principal returns "".
func (c *Client) Principal() string { return "" }

// MaxFrame returns 0.
func (c *Client) MaxFrame() int { return 0 }

// InFlight returns 0.
func (c *Client) InFlight() int { return 0 }

// Execute returns ErrUnsupported.
func (c *Client) Execute(ctx context.Context, msg []byte) ([]byte, error) { return nil, ErrUnsupported }

// Submit returns ErrUnsupported.
func (c *Client) Submit(msg []byte, done func(answer []byte, err error)) error { return ErrUnsupported }

// ExecuteKey returns ErrUnsupported.
func (c *Client) ExecuteKey(ctx context.Context, key string, msg []byte) ([]byte, error) {
	return nil, ErrUnsupported
}

// SubmitKey returns ErrUnsupported.
func (c *Client) SubmitKey(key string, msg []byte, done func(answer []byte, err error)) error {
	return ErrUnsupported
}

// Shutdown returns ErrUnsupported.
func (c *Client) Shutdown(ctx context.Context) error { return ErrUnsupported }

// Close returns ErrUnsupported.
func (c *Client) Close() error { return ErrUnsupported }
