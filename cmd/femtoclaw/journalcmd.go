package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

// journalFlags are the flags every journal command takes: where the
// journal is.
type journalFlags struct {
	common commonFlags
	dir    string
	how    string // where the directory parse returned comes from, for missing
}

// missing words err, from reading the journal in dir, when dir does not
// exist (Go's "open DIR: no such file or directory" otherwise).
func (j *journalFlags) missing(dir string, err error) error {
	if err == nil || !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	if _, serr := os.Stat(dir); serr == nil {
		return err
	}
	return fmt.Errorf("%s: no journal directory %s (is it the right directory?)", j.how, dir)
}

// newJournalFlags returns the command's flag set with --dir, --data-dir,
// --config and --set; the caller adds its own flags.
func newJournalFlags(inv *invocation) (*flag.FlagSet, *journalFlags) {
	j := &journalFlags{}
	fs := inv.flags(&j.common)
	j.common.withDataDir(fs)
	fs.StringVar(&j.dir, "dir", "", "the journal directory `DIR` (default: DATA_DIR/journal)")
	return fs, j
}

// parse parses args, refuses positional arguments beyond want, and
// returns the journal directory and the positional arguments.
func (j *journalFlags) parse(inv *invocation, fs *flag.FlagSet, args []string, want int) (string, []string, error) {
	pos, err := inv.parse(fs, args)
	if err != nil {
		return "", nil, err
	}
	if len(pos) > want {
		if want == 0 {
			return "", nil, inv.noArgs(pos)
		}
		return "", nil, usagef("unexpected argument %q", pos[want])
	}
	if j.dir != "" && slices.ContainsFunc(j.common.flags, func(f flagValue) bool { return f.key == "data_dir" }) {
		return "", nil, usagef("give --dir (the journal directory) or --data-dir (the data directory holding it), not both")
	}
	// The configuration is loaded even with --dir, so that a misspelled
	// FEMTOCLAW_* variable or --set is refused here as everywhere.
	cfg, err := j.common.load(inv.environ)
	if err != nil {
		return "", nil, err
	}
	if j.dir != "" {
		j.how = "--dir"
		return j.dir, pos, nil
	}
	j.how = "the journal of data_dir " + cfg.DataDir
	return cfg.path("journal"), pos, nil
}

func cmdJournalVerify(_ context.Context, inv *invocation, args []string) error {
	fs, j := newJournalFlags(inv)
	expectHead := fs.String("expect-head", "", "a `HEAD` recorded earlier (seq or hex chain hash) the journal must still reach")
	dir, _, err := j.parse(inv, fs, args, 0)
	if err != nil {
		return err
	}
	stdout := inv.stdout
	rep, err := journal.VerifyAnchored(dir, *expectHead)
	if err != nil && rep.Failure == nil {
		return j.missing(dir, err)
	}
	fmt.Fprintf(stdout, "segments %d  blocks %d  records %d  bytes %d  seq %d..%d  in %s (%.0f MB/s)\n",
		rep.Segments, rep.Blocks, rep.Records, rep.Bytes, rep.FirstSeq, rep.HeadSeq, rep.Duration.Round(time.Microsecond),
		float64(rep.Bytes)/1e6/max(rep.Duration.Seconds(), 1e-9))
	fmt.Fprintf(stdout, "genesis   %s\nhead      seq %d hash %s\n", rep.Genesis, rep.HeadSeq, rep.HeadHash)
	if r := rep.Retention; r != nil {
		fmt.Fprintf(stdout, "chain anchored at seq %d hash %s (%d segments removed/archived by retention: %d removed, %d archived, %d bytes)\n",
			r.AnchorSeq, r.AnchorHash, r.Removed+r.Archived, r.Removed, r.Archived, r.BytesReclaimed)
		if r.PendingSegments > 0 {
			fmt.Fprintf(stdout, "%d segments before segment %d are still present: a retention pass was cut short; the next open finishes it\n",
				r.PendingSegments, r.FirstSegment)
		}
	}
	if rep.Failure != nil {
		fmt.Fprintf(stdout, "FAILED: %v\n", rep.Failure)
		return exitError(1)
	}
	if *expectHead != "" {
		fmt.Fprintf(stdout, "ok: every block's CRC and the hash chain verify, and the journal reaches the expected head %s\n", *expectHead)
		return nil
	}
	if rep.Retention != nil {
		fmt.Fprintln(stdout, "ok: every block's CRC and the hash chain verify, from the retention anchor to the head")
		return nil
	}
	fmt.Fprintln(stdout, "ok: every block's CRC and the hash chain verify")
	return nil
}

func cmdJournalInspect(_ context.Context, inv *invocation, args []string) error {
	fs, j := newJournalFlags(inv)
	dir, _, err := j.parse(inv, fs, args, 0)
	if err != nil {
		return err
	}
	stdout := inv.stdout
	rep, err := journal.Inspect(dir)
	if err != nil && rep.Segments == nil {
		return j.missing(dir, err)
	}
	fmt.Fprintf(stdout, "%-28s %10s %10s %8s %10s %20s %8s\n", "SEGMENT", "SIZE", "USED", "BLOCKS", "RECORDS", "SEQ", "RATIO")
	for _, s := range rep.Segments {
		fmt.Fprintf(stdout, "%-28s %10d %10d %8d %10d %9d..%-9d %8.2f\n", s.Name, s.Size, s.Used, s.Blocks, s.Records, s.FirstSeq, s.LastSeq, s.Ratio)
	}
	fmt.Fprintf(stdout, "total: blocks %d  records %d  bytes %d  raw %d  ratio %.2f  codecs %v\n", rep.Blocks, rep.Records, rep.Bytes, rep.RawBytes, rep.Ratio(), rep.Codecs)
	fmt.Fprintf(stdout, "head: seq %d hash %s\n", rep.HeadSeq, rep.HeadHash)
	if r := rep.Retention; r != nil {
		fmt.Fprintf(stdout, "retention: starts at seq %d (segment %d); %d segments removed, %d archived\n", r.FirstSeq, r.FirstSegment, r.Removed, r.Archived)
	}
	if rep.Tail != nil {
		fmt.Fprintf(stdout, "damaged tail: %v (Open truncates it when nothing durable vouches for it; see verify)\n", rep.Tail)
	}
	return err
}

func cmdJournalRepair(_ context.Context, inv *invocation, args []string) error {
	fs, j := newJournalFlags(inv)
	toSeq := fs.Uint64("to-seq", 0, "keep the records up to `SEQ` (default: up to the last valid block)")
	backup := fs.String("backup", "", "copy the journal to `DIR` first (default: the journal directory's name + .repair-TIME)")
	dir, _, err := j.parse(inv, fs, args, 0)
	if err != nil {
		return err
	}
	stdout := inv.stdout
	rep, err := journal.Repair(dir, journal.RepairOptions{ToSeq: *toSeq, Backup: *backup})
	if rep.Backup != "" {
		fmt.Fprintf(stdout, "copied the journal to %s first\n", rep.Backup)
	}
	if err != nil {
		return j.missing(dir, err)
	}
	if rep.Cause != nil {
		fmt.Fprintf(stdout, "damage: %v\n", rep.Cause)
	}
	fmt.Fprintf(stdout, "kept seq ..%d (head hash %s); cut %s at offset %d\n", rep.HeadSeq, rep.HeadHash, rep.CutSegment, rep.CutOffset)
	fmt.Fprintf(stdout, "dropped: %d bytes of %s, from seq %d (%d readable records)", rep.DroppedBytes, rep.CutSegment, rep.DroppedFromSeq, rep.DroppedRecords)
	if len(rep.RemovedSegments) > 0 {
		fmt.Fprintf(stdout, ", segments %s", strings.Join(rep.RemovedSegments, " "))
	}
	if rep.RemovedCheckpoint {
		fmt.Fprintf(stdout, ", the checkpoint")
	}
	fmt.Fprintln(stdout)
	fmt.Fprintln(stdout, "nothing was rewritten or re-chained; run `femtoclaw journal verify` next")
	return nil
}

func cmdJournalTail(_ context.Context, inv *invocation, args []string) error {
	fs, j := newJournalFlags(inv)
	n := fs.Int("n", 10, "print the last `N` records")
	dir, _, err := j.parse(inv, fs, args, 0)
	if err != nil {
		return err
	}
	if *n < 0 {
		return usagef("-n %d: want 0 or more", *n)
	}
	var last []journal.Record
	err = journal.Scan(dir, journal.Query{}, func(r *journal.Record) bool {
		last = append(last, *r)
		if len(last) > *n {
			last = last[1:]
		}
		return true
	})
	if err != nil {
		return j.missing(dir, err)
	}
	return printRecords(inv.stdout, last)
}

func cmdJournalGet(_ context.Context, inv *invocation, args []string) error {
	fs, j := newJournalFlags(inv)
	dir, pos, err := j.parse(inv, fs, args, 1)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usagef("missing EXEC_ID")
	}
	var recs []journal.Record
	err = journal.Scan(dir, journal.Query{ExecutionID: pos[0]}, func(r *journal.Record) bool {
		recs = append(recs, *r)
		return true
	})
	if err != nil {
		return j.missing(dir, err)
	}
	if len(recs) == 0 {
		return fmt.Errorf("no record of execution %s", pos[0])
	}
	return printRecords(inv.stdout, recs)
}

func cmdJournalExport(_ context.Context, inv *invocation, args []string) error {
	fs, j := newJournalFlags(inv)
	capName := fs.String("capability", "", "only the records of capability `NAME`")
	from := fs.String("from", "", "only the records from `TIME` (RFC 3339)")
	to := fs.String("to", "", "only the records before `TIME` (RFC 3339)")
	dir, _, err := j.parse(inv, fs, args, 0)
	if err != nil {
		return err
	}
	q := journal.Query{Capability: *capName}
	for _, t := range []struct {
		flag, s string
		dst     *time.Time
	}{{"from", *from, &q.From}, {"to", *to, &q.To}} {
		if t.s != "" {
			v, err := time.Parse(time.RFC3339Nano, t.s)
			if err != nil {
				return usagef("--%s %q: want an RFC 3339 time such as 2026-01-02T15:04:05Z", t.flag, t.s)
			}
			*t.dst = v
		}
	}
	return j.missing(dir, journal.ExportJSONL(dir, q, inv.stdout))
}

func printRecords(w io.Writer, recs []journal.Record) error {
	for i := range recs {
		b, err := json.Marshal(&recs[i])
		if err != nil {
			return err
		}
		fmt.Fprintf(w, "%s\n", strings.TrimSpace(string(b)))
	}
	return nil
}
