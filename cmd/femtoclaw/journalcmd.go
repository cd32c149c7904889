package main

import (
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/femtoclaw/femtoclaw-go/journal"
)

func cmdJournal(args []string, stdout io.Writer, environ []string) error {
	if len(args) == 0 {
		return fmt.Errorf("usage: femtoclaw journal verify|inspect|tail|get|export|repair [flags]")
	}
	sub := args[0]
	var c commonFlags
	fs := newFlagSet("journal "+sub, &c)
	dir := fs.String("dir", "", "journal directory (default: DATA_DIR/journal)")
	n := fs.Int("n", 10, "tail: number of records")
	capName := fs.String("capability", "", "export: only this capability")
	from := fs.String("from", "", "export: from this time (RFC 3339)")
	to := fs.String("to", "", "export: before this time (RFC 3339)")
	expectHead := fs.String("expect-head", "", "verify: a head recorded earlier (seq or hex chain hash) the journal must still reach")
	toSeq := fs.Uint64("to-seq", 0, "repair: keep records up to this seq (default: up to the last valid block)")
	backup := fs.String("backup", "", "repair: copy the journal here first (default: DIR.repair-TIME)")
	pos, err := parseArgs(fs, args[1:])
	if err != nil {
		return err
	}
	if *dir == "" {
		cfg, err := loadConfig(c.config, environ, c.sets)
		if err != nil {
			return err
		}
		*dir = cfg.path("journal")
	}
	switch sub {
	case "verify":
		rep, err := journal.VerifyAnchored(*dir, *expectHead)
		if err != nil && rep.Failure == nil {
			return err
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
	case "inspect":
		rep, err := journal.Inspect(*dir)
		if err != nil && rep.Segments == nil {
			return err
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
	case "repair":
		rep, err := journal.Repair(*dir, journal.RepairOptions{ToSeq: *toSeq, Backup: *backup})
		if rep.Backup != "" {
			fmt.Fprintf(stdout, "copied the journal to %s first\n", rep.Backup)
		}
		if err != nil {
			return err
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
	case "tail":
		var last []journal.Record
		err := journal.Scan(*dir, journal.Query{}, func(r *journal.Record) bool {
			last = append(last, *r)
			if len(last) > *n {
				last = last[1:]
			}
			return true
		})
		if err != nil {
			return err
		}
		return printRecords(stdout, last)
	case "get":
		if len(pos) != 1 {
			return fmt.Errorf("usage: femtoclaw journal get EXEC_ID")
		}
		var recs []journal.Record
		err := journal.Scan(*dir, journal.Query{ExecutionID: pos[0]}, func(r *journal.Record) bool {
			recs = append(recs, *r)
			return true
		})
		if err != nil {
			return err
		}
		if len(recs) == 0 {
			return fmt.Errorf("no record of execution %s", pos[0])
		}
		return printRecords(stdout, recs)
	case "export":
		q := journal.Query{Capability: *capName}
		for _, t := range []struct {
			s   string
			dst *time.Time
		}{{*from, &q.From}, {*to, &q.To}} {
			if t.s != "" {
				v, err := time.Parse(time.RFC3339Nano, t.s)
				if err != nil {
					return err
				}
				*t.dst = v
			}
		}
		return journal.ExportJSONL(*dir, q, stdout)
	}
	return fmt.Errorf("unknown journal command %q (verify, inspect, tail, get, export, repair)", sub)
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
