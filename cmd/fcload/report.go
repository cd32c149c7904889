package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/femtoclaw/femtoclaw-go/perf"
)

const reportUsage = `usage: fcload report [-o FILE] [-title TEXT] RESULT.json…

Writes one self-contained HTML page (no script, nothing loaded from
elsewhere) from fcload result files (fcload -json FILE): the results,
latency by percentile per transport, throughput against latency for a
rate sweep, the runtime's per-stage figures, ratios against ceilings and
anchors, scenario verdicts, and the environment. Flags may come before or
after the files.
`

// reportCommand is `fcload report`: result files in, one HTML page out
// (to -o, else standard output). Every file is read before anything is
// written, and -o is replaced whole, so a file that cannot be read leaves
// no half page behind.
func reportCommand(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("fcload report", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprint(stderr, reportUsage)
		fs.PrintDefaults()
	}
	out := fs.String("o", "", "write the page to this file (default: standard output)")
	title := fs.String("title", "", `the page's title (default "fcload report")`)
	var paths []string
	for {
		if err := fs.Parse(args); err != nil {
			if errors.Is(err, flag.ErrHelp) {
				return nil
			}
			return err
		}
		if fs.NArg() == 0 {
			break
		}
		paths = append(paths, fs.Arg(0))
		args = fs.Args()[1:]
	}
	if len(paths) == 0 {
		fs.Usage()
		return errors.New("report: no result files")
	}
	files, err := perf.ReadReportFiles(paths)
	if err != nil {
		return err
	}
	var page bytes.Buffer
	if err := perf.WriteHTML(&page, perf.HTMLConfig{Title: *title}, files); err != nil {
		return err
	}
	if *out == "" || *out == "-" {
		_, err := stdout.Write(page.Bytes())
		return err
	}
	if err := writeReportFile(*out, page.Bytes()); err != nil {
		return fmt.Errorf("report: %w", err)
	}
	fmt.Fprintf(stderr, "fcload report: %s (%d result files, %d bytes)\n", *out, len(files), page.Len())
	return nil
}

// writeReportFile writes data to a temporary file beside path and renames
// it over path.
func writeReportFile(path string, data []byte) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Chmod(tmp, 0o644)
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}
