package main

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/femtoclaw/femtoclaw-go/policy"
)

func cmdPolicyFmt(args []string, stdin io.Reader, stdout io.Writer, environ []string) error {
	s := newSubcommand("fmt", "[-l | --check] [-w] [FILE...]",
		"Write policy files in the canonical layout: the format's keys in one order (a rule's as id,\n"+
			"effect, principals, capabilities, args; constraints in their documented order), two-space\n"+
			"indentation, the document's structure in block style, long flow lists wrapped at 100\n"+
			"columns; comments and blank lines are kept, and the result compiles to the same policy\n"+
			"(the same sha256), which fmt checks before it writes anything. Formatting twice changes\n"+
			"nothing. With no flag the formatted text goes to standard output (with no FILE, standard\n"+
			"input is formatted); -l lists the files that are not formatted and exits 1 if there are\n"+
			"any; -w rewrites them in place. Files named .json are left alone (fmt writes YAML).",
		"  femtoclaw policy fmt policy.yaml           # print it formatted\n"+
			"  femtoclaw policy fmt -l policies/*.yaml    # in CI: fail when one is not formatted\n"+
			"  femtoclaw policy fmt -w policy.yaml        # rewrite it\n", false)
	var list bool
	s.fs.BoolVar(&list, "l", false, "list the files whose layout differs from the canonical one; exit 1 if any (unless -w)")
	s.fs.BoolVar(&list, "check", false, "the same as -l")
	write := s.fs.Bool("w", false, "rewrite the files that differ")
	files, err := s.parse(args, stdout)
	if err != nil {
		return err
	}
	// fmt reads no configuration, but a misspelled FEMTOCLAW_* variable is
	// refused here as everywhere.
	if _, err := loadConfig("", environ, nil); err != nil {
		return err
	}
	if len(files) == 0 {
		if *write || list {
			return usagef("-l and -w need FILE arguments (see femtoclaw policy fmt --help)")
		}
		data, err := io.ReadAll(io.LimitReader(stdin, policy.MaxDocumentBytes+1))
		if err != nil {
			return err
		}
		out, err := policy.Format(data)
		if err != nil {
			return policyFileError("<stdin>", err)
		}
		_, err = stdout.Write(out)
		return err
	}
	var errs []error
	differ := false
	for _, f := range files {
		if strings.EqualFold(filepath.Ext(f), ".json") {
			// Format writes YAML: rewriting a .json file would break its readers.
			errs = append(errs, fmt.Errorf("%s: a JSON document is not formatted (fmt writes YAML)", f))
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		out, err := policy.Format(data)
		if err != nil {
			errs = append(errs, policyFileError(f, err))
			continue
		}
		same := bytes.Equal(out, data)
		switch {
		case list || *write:
			if same {
				continue
			}
			differ = true
			if list {
				fmt.Fprintln(stdout, f)
			}
			if *write {
				if err := writeFileAtomic(f, out); err != nil {
					errs = append(errs, err)
				}
			}
		default:
			if _, err := stdout.Write(out); err != nil {
				return err
			}
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if differ && list && !*write {
		return exitError(1)
	}
	return nil
}

// writeFileAtomic replaces file with data, keeping its mode: a temporary
// file beside it, synced, renamed over it.
func writeFileAtomic(file string, data []byte) error {
	st, err := os.Stat(file)
	if err != nil {
		return err
	}
	tmp, err := os.CreateTemp(filepath.Dir(file), "."+filepath.Base(file)+".fmt-*")
	if err != nil {
		return err
	}
	_, err = tmp.Write(data)
	if err == nil {
		err = tmp.Chmod(st.Mode().Perm())
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp.Name(), file)
	}
	if err != nil {
		os.Remove(tmp.Name())
		return fmt.Errorf("%s: %w", file, err)
	}
	return nil
}
