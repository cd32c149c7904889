// Package runfile is the description a running server leaves in its data
// directory, DATA_DIR/run.json, so that client commands on the same host
// (femtoclaw exec --server, femtoclaw stats, fcload) find the server they
// should talk to instead of guessing a default port that may belong to
// another process.
//
// # Lifecycle
//
// The server writes the file once its listeners are bound (Write), with
// the addresses as actually bound (a configured port 0 appears as the
// port the kernel chose), the SPKI pin of the certificate it serves, the
// ring socket's path, its pid, version and start time. It removes the
// file when it shuts down (Remove), before it drains. It writes and
// removes it only while it holds the data directory's writer lock, so
// at most one live server is ever described.
//
//	serve:   lock DATA_DIR → bind listeners → Write(dir, info) → … → Remove(dir) → drain → unlock
//	clients: info, err := Read(dir)   // ErrNoServer, *StaleError, or a live description
//
// # Staleness
//
// A server that is killed (SIGKILL, a crash, a power loss) leaves its
// file behind. Read never trusts such a file silently: it returns a
// *StaleError (errors.Is(err, ErrStale)) when the recorded process is not
// running (on Linux, an exited process its parent has not reaped yet
// counts as not running), or, on Linux, when the process now holding that
// pid started after the file's server did (the pid was reused). The check is made in
// the reader's pid namespace: a reader in another container than the
// server cannot judge it. The next server overwrites a stale file.
//
// # Format
//
// The file is one JSON object (Info), written to a temporary file in the
// same directory and renamed into place, so a reader sees the old file or
// the new one, never half of one. Its mode is 0644: it holds addresses
// and a public-key pin, no secret (bearer tokens stay in their own 0600
// files). Its "format" member is FormatVersion; a reader refuses a file
// of another format rather than misread it.
//
// # Concurrency
//
// The functions are safe for concurrent use; an Info is plain data.
package runfile
