package runfile

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"time"
)

// Name is the file's name in the data directory.
const Name = "run.json"

// FormatVersion is the value of Info.Format this package writes and reads.
const FormatVersion = 1

// Info describes a running server. Addresses are host:port as bound;
// paths are absolute.
type Info struct {
	Format  int       `json:"format"`  // FormatVersion
	PID     int       `json:"pid"`     // the server's process id
	Version string    `json:"version"` // the server's version
	Started time.Time `json:"started"` // when the server started
	DataDir string    `json:"data_dir"`
	// HTTP3 are the HTTP/3 (UDP) addresses; empty when none is configured.
	HTTP3 []string `json:"http3"`
	// Admin is the admin listener's (TCP) address; "" when it is off.
	Admin string `json:"admin"`
	// SPKIPin is the base64 SHA-256 of the SubjectPublicKeyInfo of the
	// certificate the HTTP/3 listener serves (transport.ClientConfig.SPKIPin);
	// "" when there is no HTTP/3 listener.
	SPKIPin string `json:"spki_pin"`
	// Socket is the shared-memory ring's unix socket; "" when it is off.
	Socket string `json:"socket"`
}

// ErrNoServer is returned by Read when the directory holds no run file:
// no server is running on it (or one is still starting).
var ErrNoServer = errors.New("runfile: no server is running")

// ErrStale is returned (wrapped in a *StaleError) by Read when the run
// file describes a server that is no longer running.
var ErrStale = errors.New("runfile: stale run file")

// StaleError is a run file left by a server that did not shut down
// cleanly. errors.Is(err, ErrStale) holds.
type StaleError struct {
	Path   string
	Info   Info
	Reason string // why the server is known to be gone
}

func (e *StaleError) Error() string {
	return fmt.Sprintf("%s is stale: %s; it describes a server (version %s, started %s) that did not shut down cleanly",
		e.Path, e.Reason, e.Info.Version, e.Info.Started.Format(time.RFC3339))
}

// Unwrap returns ErrStale.
func (e *StaleError) Unwrap() error { return ErrStale }

// Path returns the run file's path in dir.
func Path(dir string) string { return filepath.Join(dir, Name) }

// Write replaces dir's run file with info, atomically: a temporary file
// in dir, synced, then renamed over run.json. info.Format is set to
// FormatVersion.
func Write(dir string, info *Info) error {
	i := *info
	i.Format = FormatVersion
	if i.HTTP3 == nil {
		i.HTTP3 = []string{} // "http3": [], not null, when none is configured
	}
	b, err := json.MarshalIndent(&i, "", "  ")
	if err != nil {
		return fmt.Errorf("runfile: %w", err)
	}
	f, err := os.CreateTemp(dir, "."+Name+".*.tmp")
	if err != nil {
		return fmt.Errorf("runfile: %w", err)
	}
	tmp := f.Name()
	_, err = f.Write(append(b, '\n'))
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, Path(dir))
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("runfile: %w", err)
	}
	return nil
}

// Remove removes dir's run file; a missing one is not an error. Only the
// holder of the data directory's writer lock may call it.
func Remove(dir string) error {
	if err := os.Remove(Path(dir)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("runfile: %w", err)
	}
	return nil
}

// Read returns the server dir's run file describes. It fails with
// ErrNoServer when there is none, and with a *StaleError, alongside the
// description, when that server is gone.
func Read(dir string) (*Info, error) {
	path := Path(dir)
	b, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w on %s (no %s)", ErrNoServer, dir, Name)
	}
	if err != nil {
		return nil, fmt.Errorf("runfile: %w", err)
	}
	var info Info
	if err := json.Unmarshal(b, &info); err != nil {
		return nil, fmt.Errorf("runfile: %s: %w", path, err)
	}
	if info.Format != FormatVersion {
		return nil, fmt.Errorf("runfile: %s: format %d, want %d (written by another version, %q)", path, info.Format, FormatVersion, info.Version)
	}
	if info.PID <= 0 {
		return nil, fmt.Errorf("runfile: %s: no pid", path)
	}
	if reason := staleReason(&info); reason != "" {
		return &info, &StaleError{Path: path, Info: info, Reason: reason}
	}
	return &info, nil
}

// startSlack absorbs the imprecision of a process's start time as the
// kernel reports it (whole seconds of boot time, clock adjustments since).
const startSlack = 2 * time.Second

// staleReason says why info's server is known to be gone, or "".
func staleReason(info *Info) string {
	if !processAlive(info.PID) || processExited(info.PID) {
		return fmt.Sprintf("process %d is not running", info.PID)
	}
	if st, ok := processStart(info.PID); ok && st.After(info.Started.Add(startSlack)) {
		return fmt.Sprintf("process %d started at %s, after the server that wrote the file: the pid now belongs to another process",
			info.PID, st.Format(time.RFC3339))
	}
	return ""
}

// URL returns the base URL a client on this host uses for the server's
// first HTTP/3 address, or "" when it has none.
func (i *Info) URL() string {
	if len(i.HTTP3) == 0 {
		return ""
	}
	return "https://" + ClientAddr(i.HTTP3[0])
}

// ClientAddr returns the address a client on this host dials to reach a
// listener bound to addr: an unspecified host (0.0.0.0, ::) becomes the
// loopback address of its family; any other address is returned as is.
func ClientAddr(addr string) string {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return addr
	}
	ip := net.ParseIP(host)
	switch {
	case ip == nil || !ip.IsUnspecified():
		return addr
	case ip.To4() != nil:
		return net.JoinHostPort("127.0.0.1", port)
	default:
		return net.JoinHostPort("::1", port)
	}
}
