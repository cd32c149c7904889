// Command femtoclaw is the FemtoClaw runtime: the execution authority
// between AI agents and the systems they act on.
//
//	femtoclaw serve                      run the runtime (embedded default configuration)
//	femtoclaw exec [MESSAGE|-]           run one protocol message in process and print the answer
//	femtoclaw policy check|test|fmt|eval validate, test and format policies; decide a sample call
//	femtoclaw capabilities               list the capabilities and whether each is enabled
//	femtoclaw journal verify|inspect|tail|get|export
//	femtoclaw stats [--once]
//	femtoclaw version
//
// Every command takes --config FILE and --set key.path=value; see
// `femtoclaw help` and the README.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/debug"
	"strings"
)

const usage = `usage: femtoclaw <command> [flags] [args]

commands:
  serve                  run the runtime until SIGINT/SIGTERM (SIGHUP reloads the policy)
  exec [MESSAGE|-]       run one protocol message and print the answer (in process, or --server URL)
  policy check [FILE...] validate policies (every problem at FILE:LINE:COL; --strict)
  policy test FILE...    run policy test files; policy fmt formats; policy eval decides a call
  capabilities           list capabilities, effects and whether each is enabled
  journal verify         full CRC and hash-chain check of the journal
  journal inspect        segments, blocks, records and compression ratios
  journal tail [-n N]    the last N records as JSON Lines
  journal get EXEC_ID    every record of one execution
  journal export         all records as JSON Lines (--capability, --from, --to)
  stats [--once]         live per-stage latency percentiles and throughput from a running server
  version                print the version and build information

common flags:
  --config FILE          YAML configuration (also FEMTOCLAW_CONFIG); defaults are embedded
  --set key.path=value   override any configuration key (repeatable); beats FEMTOCLAW_* variables
`

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return 2
	}
	cmd, rest := args[0], args[1:]
	var err error
	switch cmd {
	case "serve":
		err = cmdServe(ctx, rest, stderr, environ)
	case "exec":
		err = cmdExec(ctx, rest, stdin, stdout, stderr, environ)
	case "policy":
		err = cmdPolicy(rest, stdin, stdout, environ)
	case "capabilities":
		err = cmdCapabilities(rest, stdout, environ)
	case "journal":
		err = cmdJournal(rest, stdout, environ)
	case "stats":
		err = cmdStats(ctx, rest, stdout, environ)
	case "version":
		printVersion(stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
	default:
		fmt.Fprintf(stderr, "femtoclaw: unknown command %q\n\n%s", cmd, usage)
		return 2
	}
	var ex exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ex):
		return int(ex)
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "femtoclaw %s: %v\n", cmd, err)
		return 2
	}
	fmt.Fprintf(stderr, "femtoclaw %s: %v\n", cmd, err)
	return 1
}

// exitError ends a command with a status and no further message.
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// usageError is a mistake on the command line (a missing argument, a
// flag that does not apply): the command prints it and exits 2, the
// status of every usage error.
type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// usagef builds a usageError.
func usagef(format string, a ...any) error { return usageError{fmt.Sprintf(format, a...)} }

// commonFlags are the flags every command shares.
type commonFlags struct {
	config string
	sets   stringList
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseArgs parses flags wherever they stand among the positional
// arguments (Go's flag package stops at the first positional one), so
// `femtoclaw exec MESSAGE --compact` works as users expect. A lone "-"
// is positional.
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		args = fs.Args()
		if len(args) == 0 {
			return pos, nil
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
}

func newFlagSet(name string, c *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.config, "config", "", "YAML configuration file (also FEMTOCLAW_CONFIG)")
	fs.Var(&c.sets, "set", "override a configuration key: key.path=value (repeatable)")
	return fs
}

// version is set at build time with -ldflags "-X main.version=…".
var version = "0.1.0-dev"

func printVersion(w io.Writer) {
	fmt.Fprintf(w, "femtoclaw %s\n", version)
	if bi, ok := debug.ReadBuildInfo(); ok {
		fmt.Fprintf(w, "go %s\n", bi.GoVersion)
		for _, s := range bi.Settings {
			if s.Key == "vcs.revision" || s.Key == "vcs.time" || s.Key == "vcs.modified" {
				fmt.Fprintf(w, "%s %s\n", s.Key, s.Value)
			}
		}
		for _, d := range bi.Deps {
			fmt.Fprintf(w, "dep %s %s\n", d.Path, d.Version)
		}
	}
}
