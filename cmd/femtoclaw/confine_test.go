package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecurityConfinementRuntimeFilesUnreachable: a capability root that
// reaches the data directory (the token, TLS key and journal) or another
// runtime file is refused at load, whatever its spelling; the error names
// both paths.
func TestSecurityConfinementRuntimeFilesUnreachable(t *testing.T) {
	base := t.TempDir()
	srv := filepath.Join(base, "srv")
	data := filepath.Join(srv, "data")
	other := filepath.Join(base, "other")
	for _, d := range []string{data, other, filepath.Join(srv, "data2"), filepath.Join(data, "journal")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(srv, filepath.Join(base, "link-to-srv")); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(data, filepath.Join(other, "link-to-data")); err != nil {
		t.Fatal(err)
	}
	dd := "data_dir=" + data
	for _, tc := range []struct {
		name string
		sets []string
		bad  bool
	}{
		{"root above the data dir", []string{dd, "capabilities.fs.read.root=" + srv}, true},
		{"root is the data dir", []string{dd, "capabilities.fs.read.root=" + data}, true},
		{"root inside the data dir", []string{dd, "capabilities.fs.read.root=" + filepath.Join(data, "journal")}, true},
		{"root /", []string{dd, "capabilities.fs.read.root=/"}, true},
		{"root spelled with ..", []string{dd, "capabilities.fs.read.root=" + srv + "/data2/.."}, true},
		{"root through a symlink to a parent", []string{dd, "capabilities.fs.read.root=" + filepath.Join(base, "link-to-srv")}, true},
		{"root is a symlink to the data dir", []string{dd, "capabilities.fs.read.root=" + filepath.Join(other, "link-to-data")}, true},
		{"data dir spelled through a symlink", []string{"data_dir=" + filepath.Join(base, "link-to-srv", "data"), "capabilities.fs.read.root=" + srv}, true},
		{"data dir not created yet", []string{"data_dir=" + filepath.Join(srv, "new", "data"), "capabilities.fs.read.root=" + srv}, true},
		{"tls key elsewhere, inside the root", []string{dd, "capabilities.fs.read.root=" + other,
			"tls.cert_file=" + filepath.Join(other, "c.pem"), "tls.key_file=" + filepath.Join(other, "k.pem")}, true},
		{"token file elsewhere, inside the root", []string{dd, "capabilities.fs.read.root=" + other, "auth.token_file=" + filepath.Join(other, "tok")}, true},
		{"shell landlock write above the data dir", []string{dd, "capabilities.shell.landlock.write=" + other + "," + srv}, true},
		{"shell landlock read is the data dir", []string{dd, "capabilities.shell.landlock.read=/usr," + data}, true},
		// Allowed: disjoint trees, and a sibling whose name shares a prefix.
		{"sibling with a shared prefix", []string{dd, "capabilities.fs.read.root=" + filepath.Join(srv, "data2")}, false},
		{"disjoint", []string{dd, "capabilities.fs.read.root=" + other}, false},
		{"no root", []string{dd}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := loadConfig("", nil, tc.sets)
			if !tc.bad {
				if err != nil {
					t.Fatalf("refused: %v", err)
				}
				return
			}
			if err == nil {
				t.Fatal("accepted a capability root that reaches the runtime's files")
			}
			key := "capabilities.fs.read.root"
			if strings.Contains(tc.sets[len(tc.sets)-1], "landlock") {
				key = "capabilities.shell.landlock"
			}
			if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), "runtime's own files") {
				t.Errorf("error does not name the root and the reason: %v", err)
			}
		})
	}
}
