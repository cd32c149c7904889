// Command femtoclaw is the FemtoClaw runtime: the execution authority
// between AI agents and the systems they act on.
//
//	femtoclaw serve                      run the runtime (embedded default configuration)
//	femtoclaw check                      validate the configuration, policy and capabilities
//	femtoclaw config                     print the effective configuration and each key's source
//	femtoclaw exec [MESSAGE|-]           run one protocol message in process and print the answer
//	femtoclaw exec --server [URL] ...    the same against the running server (DATA_DIR/run.json names it)
//	femtoclaw policy check|test|fmt|eval validate, test and format policies; decide a sample call
//	femtoclaw policy diff                where a shadow candidate policy decides otherwise
//	femtoclaw capabilities               list the capabilities and whether each is enabled
//	femtoclaw journal verify|inspect|tail|get|export|repair
//	femtoclaw stats [--once]             live percentiles of the running server (DATA_DIR/run.json)
//	femtoclaw token create --principal P a new bearer token and its auth.tokens entry
//	femtoclaw version                    (also --version)
//	femtoclaw help [COMMAND...]          (also COMMAND --help, COMMAND -h)
//
// The commands are the table in this file (commands): each leaf has its
// own flag set, help and examples, and refuses flags that are not its
// own. Usage mistakes exit 2, help exits 0 on standard output. Commands
// that read the configuration take --config FILE and --set
// key.path=value; see `femtoclaw help` and the README.
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
	"time"

	"github.com/femtoclaw/femtoclaw-go/internal/suggest"
)

// command is one entry of the command table: a leaf (run set) or a group
// (subs set). A leaf builds its own flag set with invocation.flags and
// parses it with invocation.parse, which prints the help below for
// -h/--help.
type command struct {
	name     string
	args     string     // the synopsis after the name, e.g. "[flags] EXEC_ID"
	summary  string     // one line, in the parent's list
	help     string     // what it does: printed between the synopsis and the examples
	examples []string   // command lines, printed under "examples:"
	run      runFunc    // a leaf
	subs     []*command // a group
}

// runFunc runs a leaf command with the arguments after its name.
type runFunc func(ctx context.Context, inv *invocation, args []string) error

// commands is the command table. To add a command, add a line; to add
// one to a group, add it to the group's subs (group help and the
// top-level list are made from this table).
var commands = []*command{
	{name: "serve", args: "[flags]", run: cmdServe,
		summary: "run the runtime until SIGINT/SIGTERM (SIGHUP reloads the policy)",
		help: `Runs the runtime on the effective configuration (embedded defaults < --config FILE <
FEMTOCLAW_* variables < --set and the shorthand flags). It takes the data directory's writer
lock, generates a bearer token and a TLS certificate there on first start, listens on HTTP/3,
the admin listener and the ring socket, and writes DATA_DIR/run.json with the addresses it
actually bound (a port 0 shows the chosen port), the certificate's SPKI pin, its pid and
version: exec --server, stats and fcload read it. SIGINT or SIGTERM removes run.json, drains
and stops; SIGHUP reloads the policy file.`,
		examples: []string{
			"femtoclaw serve",
			"femtoclaw serve --data-dir /var/lib/femtoclaw --policy policy.yaml",
			"femtoclaw serve --listen 127.0.0.1:0 --admin 127.0.0.1:0   # free ports; run.json names them",
			"femtoclaw serve --admin off --durability interval",
		}},
	{name: "check", args: "[--config FILE] [--set key.path=value]", run: cmdCheck,
		summary: "validate the configuration, policy and capabilities; list every problem",
		help: `Loads the configuration exactly as serve would (embedded defaults < --config FILE <
FEMTOCLAW_* variables < --set), compiles the policy and checks the capabilities against it and
against each other. Every problem is listed on stderr with where it comes from (FILE:LINE, the
variable or the flag) and the command exits 1; otherwise it prints "valid" and exits 0 (warnings,
such as a policy rule allowing a binary the allowlist lacks, are printed but do not fail it).
It touches nothing in the data directory.`,
		examples: []string{
			"femtoclaw check --config /etc/femtoclaw/femtoclaw.yaml",
			"FEMTOCLAW_JOURNAL_DURABILITY=interval femtoclaw check",
		}},
	{name: "config", args: "[--config FILE] [--set key.path=value] [--schema]", run: cmdConfig,
		summary: "print the effective configuration, each key with its source (or its JSON Schema)",
		help: `Prints the effective configuration as YAML, each key followed by a comment naming where
its value came from: # default, # FILE:LINE, # FEMTOCLAW_X or # --set. Secret values are not
printed. The output loads back to the same configuration. With --schema it prints the JSON
Schema of the configuration file instead (schema/config.schema.json in the source tree).`,
		examples: []string{
			"femtoclaw config --config femtoclaw.yaml",
			"femtoclaw config --schema > config.schema.json",
		}},
	{name: "exec", args: "[flags] [MESSAGE | -]", run: cmdExec,
		summary: "run one protocol message and print the answer (in process, --server or --ipc)",
		help: `Runs one protocol message and prints the answer. The message is the argument, or
standard input when it is "-" or absent. Without --server or --ipc the runtime runs in this
process (journaled only with --journal). --server sends it over HTTP/3: to URL, or without one
to the server DATA_DIR/run.json describes, whose certificate pin it uses unless --pin or --ca
is given. --ipc sends it over the shared-memory ring. Exit status 0 when the answer's status is
success, 1 otherwise.`,
		examples: []string{
			`femtoclaw exec '{"tool_call":{"tool":"echo","args":{"text":"hello"}}}'`,
			`femtoclaw exec --server '{"tool_call":{"tool":"noop","args":{}}}'`,
			`femtoclaw exec --server https://10.0.0.5:4433 --ca ca.pem - < message.json`,
			`femtoclaw exec --ipc --idempotency-key k1 '{"tool_call":{"tool":"noop","args":{}}}'`,
		}},
	// policy's subcommands parse their own flags and print their own help
	// (policycmd.go); the table lists and dispatches them.
	{name: "policy", summary: "validate and evaluate policies",
		help: "Policy tooling. The policy format is documented in policy/doc.go.",
		subs: policySubs()},
	{name: "capabilities", args: "[flags]", run: cmdCapabilities,
		summary: "list the capabilities, their effects and whether each is enabled",
		help: `Lists the registered capabilities as the configuration sets them: name, version,
effects and whether each is enabled. --json adds each one's description, timeout and argument
schema.`,
		examples: []string{
			"femtoclaw capabilities",
			"femtoclaw capabilities --json --set capabilities.shell.enabled=true",
		}},
	{name: "journal", summary: "verify, inspect, read and repair the journal",
		help: `The journal in DATA_DIR/journal, or --dir. verify, inspect, tail, get and export only
read: they take no lock and run beside a server.`,
		subs: []*command{
			{name: "verify", args: "[flags]", run: cmdJournalVerify,
				summary: "full CRC and hash-chain check",
				help: `Reads every block, checks its CRC and the hash chain from the genesis to the head,
and prints the head. --expect-head also checks that the journal still reaches a head recorded
earlier (a seq, or a hex chain hash), so a truncated or rewritten journal fails. Exit status 1
when the journal does not verify.`,
				examples: []string{"femtoclaw journal verify", "femtoclaw journal verify --expect-head 1042", "femtoclaw journal verify --dir /backup/journal"}},
			{name: "inspect", args: "[flags]", run: cmdJournalInspect,
				summary:  "segments, blocks, records and compression ratios",
				help:     "Lists the journal's segments with their blocks, records, sequence ranges and compression ratios, and the head.",
				examples: []string{"femtoclaw journal inspect", "femtoclaw journal inspect --data-dir /var/lib/femtoclaw"}},
			{name: "tail", args: "[flags]", run: cmdJournalTail,
				summary:  "the last N records as JSON Lines",
				help:     "Prints the last -n records of the journal, oldest first, one JSON object a line.",
				examples: []string{"femtoclaw journal tail", "femtoclaw journal tail -n 100 | jq .capability"}},
			{name: "get", args: "[flags] EXEC_ID", run: cmdJournalGet,
				summary:  "every record of one execution",
				help:     "Prints every record of the execution EXEC_ID (its intent and its outcome) as JSON Lines. Exit status 1 when there is none.",
				examples: []string{"femtoclaw journal get exec-01HZX3…"}},
			{name: "export", args: "[flags]", run: cmdJournalExport,
				summary:  "records as JSON Lines, filtered by capability and time",
				help:     "Prints every record as JSON Lines, or those of one --capability, from --from and before --to (RFC 3339).",
				examples: []string{"femtoclaw journal export > audit.jsonl", "femtoclaw journal export --capability shell --from 2026-01-01T00:00:00Z"}},
			{name: "repair", args: "[flags]", run: cmdJournalRepair,
				summary: "cut a damaged journal back to a valid block (a copy is kept first)",
				help: `Cuts the journal at its last valid block (or at --to-seq), after copying it to --backup.
It never rewrites or re-chains a block: what it keeps stays byte for byte, what follows the cut
is dropped. Stop the server first. Run journal verify afterwards.`,
				examples: []string{"femtoclaw journal repair", "femtoclaw journal repair --to-seq 1041 --backup /backup/journal.before-repair"}},
		}},
	{name: "stats", args: "[flags]", run: cmdStats,
		summary: "live per-stage latency percentiles and throughput of the running server",
		help: `Shows the admin listener's /v1/stats as a table refreshed every --every: per-stage
percentiles over the last ten seconds, throughput and counters. It shows the server
DATA_DIR/run.json describes (or the admin listener at --admin ADDR), and says which: pid,
version, address and data directory. It sends the admin token when
listen.admin_token_file is configured.`,
		examples: []string{"femtoclaw stats", "femtoclaw stats --once --data-dir /var/lib/femtoclaw", "femtoclaw stats --admin 127.0.0.1:9464 --every 5s"}},
	{name: "token", summary: "make bearer tokens",
		subs: []*command{
			{name: "create", args: "--principal P", run: cmdTokenCreate,
				summary: "print a new bearer token and the auth.tokens entry that accepts it",
				help: `Prints a new bearer token once (32 bytes from crypto/rand, in the format serve
generates) and the configuration to add under auth.tokens: the principal and the token's
SHA-256. The runtime stores only the hash; give the token to the client. A running server
accepts it once restarted with the new configuration.`,
				examples: []string{"femtoclaw token create --principal agent-7", "femtoclaw token create --principal ci >> ci-token.txt"}},
		}},
	{name: "version", run: cmdVersion,
		summary: "print the version and build information (also --version)",
		help:    "Prints the version, the Go version, the VCS revision and the module dependencies."},
}

// root is the table as one group: the program itself.
var root = &command{name: "femtoclaw", subs: commands,
	help: "The execution authority between AI agents and the systems they act on."}

func main() {
	os.Exit(run(context.Background(), os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Environ()))
}

// invocation is one run of a command: where it stands in the table and
// the process's streams and environment.
type invocation struct {
	cmd     *command
	path    string // the command's full name: "journal tail"
	stdin   io.Reader
	stdout  io.Writer
	stderr  io.Writer
	environ []string
}

// run is main without the process: tests call it directly.
func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer, environ []string) int {
	inv := &invocation{cmd: root, stdin: stdin, stdout: stdout, stderr: stderr, environ: environ}
	if len(args) > 0 && (args[0] == "--version" || args[0] == "-version") {
		if len(args) > 1 {
			fmt.Fprintf(stderr, "femtoclaw: %s takes no arguments\n", args[0])
			return 2
		}
		printVersion(stdout)
		return 0
	}
	err := inv.dispatch(ctx, args)
	var ex exitError
	var ue usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ex):
		return int(ex)
	case errors.Is(err, flag.ErrHelp):
		return 0 // the command printed its help
	case errors.As(err, &ue):
		inv.printUsageError(err)
		return 2
	}
	fmt.Fprintf(stderr, "%s: %v\n", inv.name(), err)
	return 1
}

// dispatch walks the table along args to a leaf and runs it. It leaves
// inv at the command it reached, for the error message.
func (inv *invocation) dispatch(ctx context.Context, args []string) error {
	for inv.cmd.run == nil {
		if len(args) == 0 {
			if inv.path == "" { // the program itself
				inv.printHelp(inv.stderr, nil)
				return exitError(2)
			}
			return usagef("missing command")
		}
		a := args[0]
		switch {
		case isHelpFlag(a):
			inv.printHelp(inv.stdout, nil)
			return nil
		case a == "help":
			return inv.help(ctx, args[1:])
		case strings.HasPrefix(a, "-"):
			return usagef("unknown flag %s: flags go after the command (femtoclaw serve --config FILE)", a)
		}
		sub := inv.cmd.sub(a)
		if sub == nil {
			return usagef("unknown command %q%s", a, suggest.Hint(a, inv.cmd.subNames()))
		}
		inv.enter(sub)
		args = args[1:]
	}
	return inv.cmd.run(ctx, inv, args)
}

// help is `help [COMMAND...]` from inv's group: a group's help, or a
// leaf's own (the leaf run with --help).
func (inv *invocation) help(ctx context.Context, args []string) error {
	for _, a := range args {
		if inv.cmd.run != nil {
			return usagef("%s has no subcommand %q", inv.path, a)
		}
		sub := inv.cmd.sub(a)
		if sub == nil {
			return usagef("unknown command %q%s", a, suggest.Hint(a, inv.cmd.subNames()))
		}
		inv.enter(sub)
	}
	if inv.cmd.run != nil {
		return inv.cmd.run(ctx, inv, []string{"--help"})
	}
	inv.printHelp(inv.stdout, nil)
	return nil
}

func (inv *invocation) enter(sub *command) {
	inv.cmd = sub
	inv.path = strings.TrimSpace(inv.path + " " + sub.name)
}

// name is the command's name in messages: "femtoclaw journal tail".
func (inv *invocation) name() string { return strings.TrimSpace("femtoclaw " + inv.path) }

func isHelpFlag(a string) bool { return a == "-h" || a == "-help" || a == "--help" }

func (c *command) sub(name string) *command {
	for _, s := range c.subs {
		if s.name == name {
			return s
		}
	}
	return nil
}

func (c *command) subNames() []string {
	var names []string
	for _, s := range c.subs {
		names = append(names, s.name)
	}
	return names
}

// flags returns a flag set for the command, with --config and --set bound
// to c when c is not nil. It prints nothing itself: parse does.
func (inv *invocation) flags(c *commonFlags) *flag.FlagSet {
	var fs *flag.FlagSet
	if c != nil {
		fs = newFlagSet(inv.path, c)
	} else {
		fs = flag.NewFlagSet(inv.path, flag.ContinueOnError)
	}
	fs.SetOutput(io.Discard)
	return fs
}

// parse parses args with fs, flags anywhere among the positional
// arguments (parseArgs). -h or --help prints the command's help on
// standard output and returns flag.ErrHelp (exit 0); any other mistake,
// such as a flag the command does not take, is a usageError naming it.
func (inv *invocation) parse(fs *flag.FlagSet, args []string) ([]string, error) {
	pos, err := parseArgs(fs, args)
	switch {
	case err == nil:
		return pos, nil
	case errors.Is(err, flag.ErrHelp):
		inv.printHelp(inv.stdout, fs)
		return nil, flag.ErrHelp
	}
	return nil, flagUsageError(fs, err)
}

// flagUsageError words a flag set's parse error as a usage error:
// "unknown flag --jsn (did you mean --json?)", "flag --set needs a
// value".
func flagUsageError(fs *flag.FlagSet, err error) error {
	if name, ok := strings.CutPrefix(err.Error(), "flag provided but not defined: -"); ok {
		var names []string
		fs.VisitAll(func(f *flag.Flag) { names = append(names, f.Name) })
		hint := ""
		if c := suggest.Closest(name, names); c != "" {
			hint = " (did you mean " + flagName(c) + "?)"
		}
		return usagef("unknown flag %s%s", flagName(name), hint)
	}
	if name, ok := strings.CutPrefix(err.Error(), "flag needs an argument: -"); ok {
		return usagef("flag %s needs a value", flagName(name))
	}
	var val, name string
	if n, _ := fmt.Sscanf(err.Error(), "invalid boolean value %q for -%s", &val, &name); n == 2 {
		return usagef("flag %s: want true or false, got %q", flagName(strings.TrimSuffix(name, ":")), val)
	}
	if n, _ := fmt.Sscanf(err.Error(), "invalid value %q for flag -%s", &val, &name); n == 2 {
		name = strings.TrimSuffix(name, ":")
		want := "a valid value"
		if f := fs.Lookup(name); f != nil {
			if g, ok := f.Value.(flag.Getter); ok {
				switch g.Get().(type) {
				case int, int64, uint, uint64:
					want = "an integer"
				case float64:
					want = "a number"
				case time.Duration:
					want = "a duration such as 10s"
				case bool:
					want = "true or false"
				}
			}
		}
		return usagef("flag %s: want %s, got %q", flagName(name), want, val)
	}
	return usageError{err.Error()}
}

// noArgs refuses positional arguments for a command that takes none.
func (inv *invocation) noArgs(pos []string) error {
	if len(pos) > 0 {
		return usagef("unexpected argument %q: %s takes none", pos[0], inv.path)
	}
	return nil
}

// flagName spells a flag as the help does: -n, --config.
func flagName(name string) string {
	if len(name) == 1 {
		return "-" + name
	}
	return "--" + name
}

// printHelp prints the command's help: synopsis, description, examples
// and fs's flags for a leaf; the subcommands for a group.
func (inv *invocation) printHelp(w io.Writer, fs *flag.FlagSet) {
	c, top := inv.cmd, inv.path == ""
	if c.run == nil {
		fmt.Fprintf(w, "usage: %s <command> [flags] [args]\n", inv.name())
	} else {
		fmt.Fprintf(w, "usage: %s\n", strings.TrimSpace(inv.name()+" "+c.args))
	}
	if c.help != "" {
		fmt.Fprintf(w, "\n%s\n", c.help)
	}
	if len(c.examples) > 0 {
		fmt.Fprintln(w, "\nexamples:")
		for _, e := range c.examples {
			fmt.Fprintf(w, "  %s\n", e)
		}
	}
	if fs != nil {
		printFlags(w, fs)
	}
	if c.run != nil {
		return
	}
	fmt.Fprintln(w, "\ncommands:")
	var list [][2]string
	for _, s := range c.subs {
		if s.run != nil || !top {
			list = append(list, [2]string{s.name, s.summary})
			continue
		}
		for _, ss := range s.subs {
			list = append(list, [2]string{s.name + " " + ss.name, ss.summary})
		}
	}
	if top {
		list = append(list, [2]string{"help [COMMAND]", "print a command's help, flags and examples (also COMMAND --help)"})
	}
	width := 0
	for _, l := range list {
		width = max(width, len(l[0]))
	}
	for _, l := range list {
		fmt.Fprintf(w, "  %-*s  %s\n", width, l[0], l[1])
	}
	if top {
		fmt.Fprint(w, `
flags of the commands that read the configuration:
  --config FILE          YAML configuration (also FEMTOCLAW_CONFIG); defaults are embedded
  --set key.path=value   override any configuration key (repeatable); beats FEMTOCLAW_* variables
  --data-dir DIR         serve, exec, stats, journal: the data directory (data_dir); its
                         run.json names the server running on it
`)
	}
	fmt.Fprintf(w, "\nrun `%s <command> --help` for a command's flags and examples\n", inv.name())
}

// printFlags lists fs's flags, spelled as flagName does.
func printFlags(w io.Writer, fs *flag.FlagSet) {
	var lines []string
	fs.VisitAll(func(f *flag.Flag) {
		kind, usage := flag.UnquoteUsage(f)
		line := "  " + flagName(f.Name)
		if kind != "" {
			line += " " + kind
		}
		line += "\n        " + usage
		if f.DefValue != "" && f.DefValue != "false" && f.DefValue != "0" && f.DefValue != "0s" && f.DefValue != "[]" {
			line += fmt.Sprintf(" (default %s)", f.DefValue)
		}
		lines = append(lines, line)
	})
	if len(lines) == 0 {
		return
	}
	fmt.Fprintf(w, "\nflags:\n%s\n", strings.Join(lines, "\n"))
}

// printUsageError reports a usage mistake on standard error: the
// message, then the command's synopsis (a group's whole help) and where
// to read more.
func (inv *invocation) printUsageError(err error) {
	w := inv.stderr
	fmt.Fprintf(w, "%s: %v\n", inv.name(), err)
	if inv.path == "" {
		fmt.Fprintln(w, "run `femtoclaw help` for the commands")
		return
	}
	if inv.cmd.run == nil {
		fmt.Fprintln(w)
		inv.printHelp(w, nil)
		return
	}
	fmt.Fprintf(w, "usage: %s\nrun `%s --help` for its flags and examples\n", strings.TrimSpace(inv.name()+" "+inv.cmd.args), inv.name())
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

// commonFlags are the configuration flags: --config and --set on every
// command that reads the configuration, --data-dir on those that use the
// data directory (withDataDir).
type commonFlags struct {
	config string
	sets   stringList
	// flags are the keys the command's own flags set (--data-dir, serve's
	// --durability…), applied after --set and named in problems.
	flags []flagValue
}

// withDataDir adds --data-dir to fs.
func (c *commonFlags) withDataDir(fs *flag.FlagSet) {
	c.keyFlag(fs, "data-dir", "data_dir", "the data directory `DIR` (data_dir): journal, TLS material, tokens, run.json")
}

// keyFlag adds to fs a flag --name that sets the configuration key key:
// given (even empty), it beats --set key=….
func (c *commonFlags) keyFlag(fs *flag.FlagSet, name, key, usage string) {
	fs.Func(name, usage, func(v string) error {
		c.flags = append(c.flags, flagValue{flag: flagName(name), key: key, value: v})
		return nil
	})
}

// load resolves the configuration the flags name.
func (c *commonFlags) load(environ []string) (*Config, error) {
	return loadConfig(c.config, environ, c.sets, c.flags...)
}

type stringList []string

func (s *stringList) String() string     { return strings.Join(*s, ",") }
func (s *stringList) Set(v string) error { *s = append(*s, v); return nil }

// parseArgs parses flags wherever they stand among the positional
// arguments (Go's flag package stops at the first positional one), so
// `femtoclaw exec MESSAGE --compact` works as users expect. A lone "-"
// is positional, and so is everything after "--".
func parseArgs(fs *flag.FlagSet, args []string) ([]string, error) {
	var pos []string
	for {
		n := len(args)
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return pos, nil
		}
		if len(rest) < n && args[n-len(rest)-1] == "--" {
			return append(pos, rest...), nil
		}
		pos = append(pos, rest[0])
		args = rest[1:]
	}
}

func newFlagSet(name string, c *commonFlags) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.StringVar(&c.config, "config", "", "read the YAML configuration `FILE` (also FEMTOCLAW_CONFIG)")
	fs.Var(&c.sets, "set", "override a configuration key, `key.path=value` (repeatable)")
	return fs
}

// policySub runs a policy subcommand: cmdPolicy dispatches on its name
// and parses the rest.
// policySubs makes the policy group's entries from policyCommands, the
// one table of policy subcommands (each parses its own flags and help).
func policySubs() []*command {
	var subs []*command
	for _, c := range policyCommands() {
		subs = append(subs, &command{name: c.name, args: c.args, summary: c.about, run: policySub})
	}
	return subs
}

func policySub(_ context.Context, inv *invocation, args []string) error {
	return cmdPolicy(append([]string{inv.cmd.name}, args...), inv.stdin, inv.stdout, inv.environ)
}

func cmdVersion(_ context.Context, inv *invocation, args []string) error {
	pos, err := inv.parse(inv.flags(nil), args)
	if err != nil {
		return err
	}
	if err := inv.noArgs(pos); err != nil {
		return err
	}
	printVersion(inv.stdout)
	return nil
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
