package ipc

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"golang.org/x/sys/unix"
)

// Handshake messages (doc.go, "Handshake"). Part of the wire format.
//
//	hello, client → server (16 bytes):
//	 0        4        6        8                16
//	+--------+--------+--------+----------------+
//	| "FCIH" |version |  zero  | features (u64) |
//	+--------+--------+--------+----------------+
//
//	reply, server → client (16 bytes, then length bytes of UTF-8 text):
//	 0        4        6        8        12       16
//	+--------+--------+--------+--------+--------+------------------+
//	| "FCIA" |version | status | length |  zero  | text …           |
//	+--------+--------+--------+--------+--------+------------------+
//
// status 0: accepted; the text is the principal, and exactly one file
// descriptor (the region's memfd) rides with the reply's first byte as
// SCM_RIGHTS ancillary data. Any other status: refused; the text says why
// and the server closes the socket.
const (
	helloSize       = 16
	replySize       = 16
	maxReplyText    = 4096
	statusAccepted  = 0
	statusUnmapped  = 1 // no principal for the peer's uid/gid
	statusVersion   = 2 // the hello's version or features are not served
	statusBusy      = 3 // MaxClients reached
	statusClosing   = 4 // the server is shutting down
	statusInternal  = 5 // the server could not build the region
	statusMalformed = 6 // the hello is not a hello
)

func encodeHello(features uint64) []byte {
	b := make([]byte, helloSize)
	copy(b, helloMagic)
	binary.LittleEndian.PutUint16(b[4:], Version)
	binary.LittleEndian.PutUint64(b[8:], features)
	return b
}

func encodeReply(status uint16, text string) []byte {
	if len(text) > maxReplyText {
		text = text[:maxReplyText]
	}
	b := make([]byte, replySize, replySize+len(text))
	copy(b, replyMagic)
	binary.LittleEndian.PutUint16(b[4:], Version)
	binary.LittleEndian.PutUint16(b[6:], status)
	binary.LittleEndian.PutUint32(b[8:], uint32(len(text)))
	return append(b, text...)
}

// readReply reads the server's reply and the descriptor that rides with
// an accepted one.
func readReply(uc *net.UnixConn) (status uint16, text string, fd int, err error) {
	fd = -1
	hdr := make([]byte, replySize)
	oob := make([]byte, unix.CmsgSpace(4*4))
	got := 0
	for got < replySize {
		n, oobn, _, _, err := uc.ReadMsgUnix(hdr[got:], oob)
		if oobn > 0 {
			msgs, perr := unix.ParseSocketControlMessage(oob[:oobn])
			if perr == nil {
				for i := range msgs {
					fds, _ := unix.ParseUnixRights(&msgs[i])
					for _, f := range fds {
						if fd < 0 {
							fd = f
						} else {
							unix.Close(f) // exactly one is expected; never keep strays
						}
					}
				}
			}
		}
		got += n
		if err != nil {
			if fd >= 0 {
				unix.Close(fd)
			}
			if errors.Is(err, io.EOF) {
				err = fmt.Errorf("%w: the server closed the socket during the handshake", ErrRefused)
			}
			return 0, "", -1, err
		}
	}
	closeFD := func() {
		if fd >= 0 {
			unix.Close(fd)
			fd = -1
		}
	}
	if string(hdr[:4]) != replyMagic {
		closeFD()
		return 0, "", -1, fmt.Errorf("%w: the socket's peer is not a FemtoClaw ring server (reply magic %q)", ErrVersion, hdr[:4])
	}
	if v := binary.LittleEndian.Uint16(hdr[4:]); v != Version {
		closeFD()
		return 0, "", -1, fmt.Errorf("%w: the server speaks version %d, this client %d", ErrVersion, v, Version)
	}
	status = binary.LittleEndian.Uint16(hdr[6:])
	n := binary.LittleEndian.Uint32(hdr[8:])
	if n > maxReplyText {
		closeFD()
		return 0, "", -1, fmt.Errorf("%w: reply text of %d bytes", ErrVersion, n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(uc, body); err != nil {
		closeFD()
		return 0, "", -1, fmt.Errorf("ipc: reading the handshake reply: %w", err)
	}
	return status, string(body), fd, nil
}

// peerCred returns the credentials the kernel recorded for the peer when
// it connected.
func peerCred(uc *net.UnixConn) (*unix.Ucred, error) {
	raw, err := uc.SyscallConn()
	if err != nil {
		return nil, err
	}
	var cred *unix.Ucred
	var cerr error
	if err := raw.Control(func(fd uintptr) {
		cred, cerr = unix.GetsockoptUcred(int(fd), unix.SOL_SOCKET, unix.SO_PEERCRED)
	}); err != nil {
		return nil, err
	}
	return cred, cerr
}

// createRegion makes a sealed memfd of the geometry's size, maps it and
// writes the header. The caller passes fd over the socket, then closes it.
func createRegion(g geometry) (fd int, mem []byte, err error) {
	fd, err = unix.MemfdCreate("femtoclaw-ring", unix.MFD_CLOEXEC|unix.MFD_ALLOW_SEALING)
	if err != nil {
		return -1, nil, fmt.Errorf("memfd_create: %w", err)
	}
	fail := func(what string, e error) (int, []byte, error) {
		unix.Close(fd)
		return -1, nil, fmt.Errorf("%s: %w", what, e)
	}
	if err := unix.Ftruncate(fd, int64(g.regionSize)); err != nil {
		return fail("ftruncate", err)
	}
	// Sealed against shrinking (a peer could otherwise make the other side
	// fault on access), growing, and changing the seals.
	if _, err := unix.FcntlInt(uintptr(fd), unix.F_ADD_SEALS, unix.F_SEAL_SHRINK|unix.F_SEAL_GROW|unix.F_SEAL_SEAL); err != nil {
		return fail("seal", err)
	}
	mem, err = unix.Mmap(fd, 0, int(g.regionSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail("mmap", err)
	}
	g.writeHeader(mem)
	return fd, mem, nil
}

// mapRegion maps a region received from the server and validates it.
func mapRegion(fd int) ([]byte, geometry, error) {
	seals, err := unix.FcntlInt(uintptr(fd), unix.F_GET_SEALS, 0)
	if err != nil {
		return nil, geometry{}, fmt.Errorf("%w: F_GET_SEALS: %v", ErrBadRegion, err)
	}
	if seals&unix.F_SEAL_SHRINK == 0 {
		return nil, geometry{}, fmt.Errorf("%w: the region is not sealed against shrinking", ErrBadRegion)
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		return nil, geometry{}, fmt.Errorf("%w: fstat: %v", ErrBadRegion, err)
	}
	if st.Size < headerSize || st.Size > 1<<41 {
		return nil, geometry{}, fmt.Errorf("%w: region of %d bytes", ErrBadRegion, st.Size)
	}
	mem, err := unix.Mmap(fd, 0, int(st.Size), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return nil, geometry{}, fmt.Errorf("%w: mmap: %v", ErrBadRegion, err)
	}
	g, err := parseHeader(mem)
	if err != nil {
		unix.Munmap(mem)
		return nil, geometry{}, err
	}
	return mem, g, nil
}

func deadline(d time.Duration) time.Time { return time.Now().Add(d) }
