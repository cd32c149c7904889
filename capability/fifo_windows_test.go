package capability

import "errors"

// mkfifo fails: Windows has no named pipes in the file system, so the
// fs.read fixtures cannot be built there.
func mkfifo(string) error { return errors.ErrUnsupported }
