// Package policy decides whether a principal may run a capability with
// given arguments. A policy is a YAML (or JSON) document of allow and deny
// rules over principals, capabilities and argument constraints; it is
// compiled once into an immutable Policy, and decisions are deterministic,
// deny by default, and deny-overrides-allow.
//
// The capability registry (not found, disabled) is checked by the pipeline
// before the policy. The policy returns only three of the spec's five
// decision codes: AUTHORIZED, DENIED_POLICY_VIOLATION and
// DENIED_ARGUMENT_INVALID.
//
// # Lifecycle
//
//	p, err := policy.Parse(data)            // YAML or JSON; a *ParseError (every problem at its line and column; a CONFIGURATION_ERROR)
//	e := policy.NewEngine(p)                // nil means policy.Default()
//	d := e.Evaluate(&policy.Input{Principal: "agent-1", Capability: "shell", Args: msg.Args})  // a protocol.Verdict
//	if !d.Code.Allowed() { … d.Rule, d.Reason … }
//	err = e.Reload(newData)                 // atomic swap; on error the old policy stays
//	epoch := e.Current().Hash()             // SHA-256 of the compiled form: the decision-cache epoch
//
// # Format
//
// A full example:
//
//	version: 1            # optional; only 1
//	default: deny         # optional; only deny ("allow" is rejected)
//	groups:               # optional; members are exact principals or globs
//	  ops: [agent-1, agent-2]
//	  research: [agent-3, "lab-*"]
//	rules:                # file order matters only for which rule is named
//	  - id: ops-shell     # optional; defaults to "rules[i]"; must be unique
//	    effect: allow     # allow | deny (required)
//	    principals: [group:ops, "admin-*"]   # exact | glob | group:NAME | "*"; default ["*"]
//	    capabilities: [shell]                # exact | glob ("fs.*") | "*"; required
//	    args:                                # argument name -> constraints; all must hold
//	      bin: {type: string, in: [ls, cat, git]}
//	      argv:
//	        optional: true                   # absent is fine; present must satisfy the rest
//	        type: array
//	        max_items: 16
//	        items: {type: string, max_len: 256}
//	  - id: project-files
//	    effect: allow
//	    principals: [group:ops, group:research]
//	    capabilities: [fs.read]
//	    args:
//	      path: {type: string, prefix: [/project/], not_contains: [".."], not_regex: ['(^|/)\.git(/|$)']}
//	  - id: github-api
//	    effect: allow
//	    principals: [group:research]
//	    capabilities: [http.get]
//	    args:
//	      url: {url_scheme: [https], url_host: [api.github.com]}
//	  - id: no-git-push
//	    effect: deny
//	    capabilities: [shell]
//	    args:
//	      bin: {in: [git]}
//	      argv: {contains_item: [push]}
//	  - id: lab-network
//	    effect: allow
//	    principals: ["lab-*"]
//	    capabilities: [net.ping]
//	    args:
//	      host: {cidr: [10.0.0.0/8, "fd00::/8"]}
//	      count: {optional: true, type: integer, range: [1, 10]}
//	  - {id: quarantine, effect: deny, principals: [agent-13], capabilities: ["*"]}
//	shell:                # the spec's short form (05 §10, 11 §21):
//	  allowed_commands: [echo]   # = allow rule "shell.allowed_commands": any principal, shell, args.bin in the list
//
// The short form may also be written as capabilities: {shell:
// {enabled: true, allowed_commands: [echo, ls]}}; "enabled" belongs to the
// capability registry and is ignored here. It compiles to one allow rule
// with id "shell.allowed_commands", placed after the listed rules. The whole
// document may also sit under a top-level "policy" key, beside the
// registry's "capabilities" map (the spec's configuration layout), and a
// rule may say principal/capability (a string or a list) instead of
// principals/capabilities. Unknown keys anywhere, duplicate keys, and a
// second YAML document are rejected.
//
// Globs: '*' matches any run of characters (including '/' and '.'), '?'
// one character, everything else itself; "*" alone matches everything,
// including the empty principal.
//
// # Constraints
//
// Each argument named under args must be present (unless optional: true)
// and satisfy every listed constraint. A constraint on a value of the wrong
// JSON type fails (a number is not "in" a list of strings, max_len fails on
// an array). Arguments not named are not looked at: their shape is the
// capability schema's job.
//
//	type         string | number | integer | boolean | array | object | null
//	in, not_in   the value is (not) one of the listed strings, numbers or booleans (numbers compared exactly, see Numbers); both require a scalar
//	min_len, max_len          string length in characters (Unicode code points), not bytes
//	prefix, not_prefix        the string starts with one of the list / with none of it
//	suffix, not_suffix        ends with one / none
//	contains, not_contains    contains one of the substrings / none
//	regex, not_regex          RE2, unanchored (write ^…$ to anchor); matches one of the list / none
//	min_items, max_items      array length
//	items                     constraints every array element must satisfy (no optional inside)
//	contains_item, not_contains_item   the array has an element equal to one of the list / none
//	range: [min, max]         a number within, inclusive, compared exactly; .inf / -.inf leave that side open
//	cidr                      an IP literal, "IP:port" or "[IPv6]:port" inside one of the prefixes (names are never resolved)
//	url_scheme                an absolute URL (net/url) whose scheme is one of the list
//	url_host                  an absolute URL without userinfo whose host (lower-cased, with port if any) is one of the list
//	path_under, path_not_under   an absolute path that is (is not) one of the listed directories or inside one, by whole components
//	argv_options              options of an argv array, read with GNU/POSIX option grammar (see Option grammar)
//	argv_subcommand           the subcommand of an argv array: the first operand after the global options (see Option grammar)
//
// Lists may be written as a single value (prefix: /tmp/). From the spec
// digest's recommended format, item_max_len: N is accepted for
// items: {max_len: N}, and deny_pattern for not_regex; its `when`
// (environment) conditions are not supported and are rejected as unknown
// keys. Documents over MaxDocumentBytes are rejected.
//
// URLs are parsed with net/url after rejecting whitespace, control
// characters and backslashes; a URL with userinfo ("https://pypi.org@evil.io/")
// fails url_host and url_scheme, a look-alike host ("api.github.com.evil.io")
// fails url_host, and "https://host:8443/" matches only a listed "host:8443".
//
// # Canonical arguments
//
// The pipeline hands Evaluate the canonical form of a call
// (capability.Canonicalizer), not the bytes the agent sent: fs.read's path
// is absolute, clean and has its symbolic links resolved inside the root;
// shell's bin is the absolute path that will be executed, with the bare
// name as Input.Alt; http.get's URL is normalized (RFC 3986 §6), and every
// redirect hop is evaluated again, by the same policy for the same
// principal. So `prefix: [/project/secrets/]` catches
// "/project/./secrets/db.txt" and a link into secrets/, `suffix: [.key]`
// catches "server.key/.", `in: [git]` catches "/usr/bin/git" (and
// `in: [/usr/bin/git]` catches "git"), `contains: [/admin]` catches
// "/%61dmin", and `url_host` holds on every hop.
//
// What this guarantees: a rule sees the one spelling the capability acts
// on. What it does not: string constraints still compare strings —
// `prefix: [/project/secret]` matches "/project/secrets/x" (use
// path_under), and `contains: [/admin]` does not match "/ADMIN" (servers
// that fold case need `regex: ['(?i)/admin']`). A capability that has no
// canonical form, or a call it would refuse anyway (a binary not
// allowlisted, a path outside the root), is decided on the arguments as
// received.
//
// path_under and path_not_under also clean the value lexically (".",
// "..", "//", a trailing "/") before comparing, so they hold on any path
// argument; a relative value satisfies neither.
//
// # Option grammar
//
// argv_options and argv_subcommand apply to an array of strings (anything
// else fails them) and read it as GNU getopt_long does, with argument
// permutation: "--" ends the options; "-" and arguments not starting with
// '-' are operands, and options may follow them; "--name=value" and
// "--name" are long options, and a long option that takes a value takes
// the next argument when no "=" is given; "-abc" is a cluster of short
// options, and the first that takes a value takes the rest of the cluster
// ("-uoFILE" is -u, then -o with value FILE) or, at its end, the next
// argument. A value is never read as an option.
//
//	argv:
//	  argv_options:
//	    takes_value: [-o, --output, -k, --key]   # options that take a value; all of them, for the tool
//	    long: [--output, --key, --unique, ...]    # optional: every long option the tool has
//	    only: [-k, --key, -u, --unique, -n]       # every option is one of these (allow rules)
//	    none: [-o, --output]                      # no option is one of these
//	    any:  [-o, --output]                      # some option is one of these (deny rules)
//	  argv_subcommand:
//	    takes_value: [-C, -c, --git-dir]          # global options that take the next argument
//	    in: [status, log, diff]                   # the subcommand is one of these (or not_in)
//
// A long option as written may be an abbreviation. none and any read it
// the way most likely to catch it: "--ou" is taken as every listed long
// option it is a prefix of (so "--outp=F" and "--ou F" are --output).
// only is strict: a long option passes when it is listed exactly or, with
// long declared, when it abbreviates exactly one of the tool's long
// options and that one is listed ("--uniq" is --unique; "--s" is
// ambiguous and fails). A short option is one ASCII character.
//
// takes_value must list every option of the tool that takes a separate
// value; a missing one makes its value read as an operand or an option.
// For only and none that errs on the side of refusing; for any, for
// argv_subcommand, and for not_in it can hide an option or shift the
// subcommand (git --namespace x push), so prefer only and in. Not
// understood: single-dash long options (find -exec, go -o), options
// starting with '+', tools that read options only before the first
// operand (they get over-refused, never under-refused, by only), and
// anything a tool reads other than its argv (configuration files, the
// environment) — see capability/doc.go for tools no argv rule makes safe.
// policy/testdata/hardened.yaml shows the rules for sort and git that hold
// against "--outp=FILE", "--ou FILE", "-uoFILE", "git -c alias.x=push x",
// "-c help.autocorrect=immediate psuh" and ext:: transports.
//
// # Numbers
//
// Numbers are compared exactly, by value, with protocol.Decimal — the same
// comparison the capability schema's enum and minimum/maximum use — never
// through float64: 1.0 is 1, 1e2 is 100, -0 is 0, and 9007199254740993 is
// neither in [9007199254740992] nor within range [0, 9007199254740992].
// This holds on both sides: the call's numbers are read from their literal
// text, and the document's keep every digit written (YAML integers such as
// 0x10 as YAML reads them; floats from their text). type integer is exact
// too (9007199254740993.5 is not an integer) and, as before, limited to
// float64's range (1e400 is not an integer). A number prints as float64's
// shortest form when that is exactly the number written (2.50 prints 2.5,
// 1e7 prints 1e+07), else as written, so two policies that decide
// differently never print or hash the same. A call's number whose exponent
// has more than protocol.MaxDecimalExponentDigits digits satisfies no
// numeric constraint.
//
// # Evaluation
//
// Rules are indexed by capability at compile time; a decision looks at the
// rules for that capability only. Then:
//
//  1. If a deny rule matches fully (principal, capability and all its
//     argument constraints), the first such rule in file order denies:
//     DENIED_ARGUMENT_INVALID if it has argument constraints, else
//     DENIED_POLICY_VIOLATION.
//  2. Else the first allow rule in file order that matches fully gives
//     AUTHORIZED.
//  3. Else, if an allow rule matched principal and capability but failed an
//     argument constraint, the first such rule gives DENIED_ARGUMENT_INVALID,
//     and the Reason names the failing constraint and the value:
//     `args.bin "rm" not in ["ls" "cat"] (rule ops-shell)`.
//  4. Else DENIED_POLICY_VIOLATION by rule "default-deny".
//
// Whether a call is allowed never depends on rule order; which rule is named
// (and, among matching deny rules, which of the two denial codes) can.
//
// Evaluation fails closed: a nil policy or input, or a panic while
// evaluating a rule, gives DENIED_POLICY_VIOLATION with a Reason naming the
// rule and the cause; it never allows.
//
// # Cost
//
// On the 20-rule anchor policy (../shared/anchors/authz) a decision takes
// about 50–300 ns on the project machine and allocates nothing, except the
// one string that words an argument denial's reason. url_* checks read
// plain URLs (scheme://host/…) without allocating and hand anything else
// (ports, userinfo, IP literals, percent signs) to net/url, which allocates.
// See BenchmarkEvaluate, and perf/authzanchor for the same calls timed
// against cedar-go and OPA in one run.
//
// # Authoring tools
//
// Parse reports every problem of a document at once (up to MaxErrors),
// each as a Diagnostic at its line and column: unknown keys with the
// nearest known one, wrong types (`max_len: want an integer, got the
// string "ten"`), and what does not compile. Lint adds what a policy that
// compiles may still get wrong, given the registry's argument schemas:
// unregistered capabilities, constraints no value satisfies, rules that
// never decide. Format writes the canonical layout, idempotently, and
// only when the result compiles to the same Hash. ConstraintNames is the
// constraint table; schema/policy.schema.json, the format's JSON Schema,
// is generated from the same structs. `femtoclaw policy check`, `test`,
// `fmt` and `eval` are built on these.
//
// # Concurrency
//
// Policy is immutable and safe for concurrent use. Engine holds the
// current Policy in an atomic.Pointer: Evaluate, Current and Reload may run
// concurrently, and each decision is made entirely by one policy.
package policy
