package capability

import (
	"context"
	"strconv"
)

// readBounded runs readFile on a goroutine of its own and waits for it or
// for ctx, whichever comes first, so that no read outlives the call's
// deadline from the caller's point of view.
//
// A read the file system does not answer (a stalled FUSE or NFS mount, a
// device that blocks despite O_NONBLOCK) cannot be interrupted: closing
// the descriptor does not wake a read already in the kernel. The call
// therefore abandons the goroutine at the deadline, answering Timeout;
// the goroutine closes the file and exits when the read finally returns.
// Every read holds one of FSReadConfig.MaxReaders tokens from start to
// that return, so abandoned readers are bounded: once all tokens are held
// by stalled reads, calls are refused at once (EnvironmentError) instead
// of piling up goroutines and descriptors.
//
// FIFOs, sockets and devices never reach a read: the open is
// non-blocking and only regular files are read.
func (f *FSRead) readBounded(ctx context.Context, req *Request, rel, p string) ([]byte, error) {
	select {
	case f.readers <- struct{}{}:
	default:
		return nil, newErr(ErrEnvironment, "fs.read: "+strconv.Itoa(cap(f.readers))+" reads are already in progress or stalled in the file system; retry later")
	}
	type outcome struct {
		res []byte
		err *Error
	}
	done := make(chan outcome, 1) // buffered: an abandoned reader never blocks on it
	go func() {
		defer func() { <-f.readers }()
		res, err := f.readFile(req, rel, p)
		done <- outcome{res, err}
	}()
	select {
	case o := <-done:
		if o.err != nil {
			return nil, o.err
		}
		return o.res, nil
	case <-ctx.Done():
		return nil, ctxErr(ctx.Err())
	}
}
