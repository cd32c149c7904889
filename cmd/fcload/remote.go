package main

import (
	"context"
	"fmt"
	"io"
)

// runRemote drives a server over HTTP/3 (wired once the transport client lands).
func runRemote(ctx context.Context, o options, stdout, stderr io.Writer) error {
	return fmt.Errorf("remote targets need the HTTP/3 client (transport package); use -target inproc")
}
