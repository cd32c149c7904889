package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

// lockDataDir takes the data directory's exclusive writer lock before
// anything in it (journal, token, TLS material) is touched. A second
// writer — another serve, or exec --journal beside a server — is refused
// with a message naming the holder.
func lockDataDir(cfg *Config, command string) (*journal.DirLock, error) {
	l, err := journal.LockDir(cfg.DataDir, command+" "+strings.Join(os.Args[1:], " "))
	if err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	return l, nil
}
