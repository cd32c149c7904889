// Package capability defines what a FemtoClaw capability ("Claw") is, the
// immutable registry of capabilities, the compiler for their argument
// schemas, and the five built-in capabilities: noop, echo, shell, fs.read
// and http.get.
//
// A capability is the only path from a validated, authorized protocol
// message to the world. Nothing here decides whether a principal may call
// a capability (that is package policy) or where a call runs (that is
// package pipeline); this package says what exists, what its arguments
// must look like, and what each built-in does and refuses to do.
//
// # Lifecycle, in call order
//
//  1. Build capabilities: Builtins(BuiltinConfig{…}) for the five built-ins
//     (resolving shell's allowlist, checking fs.read's root), plus any of
//     your own that implement Capability.
//  2. NewRegistry(caps, settings) compiles every schema once and fills
//     each capability's Settings defaults. A capability without settings
//     is registered but disabled: everything is disabled unless configured.
//     Any problem (duplicate or case-conflicting names, a bad name or
//     version, a schema that does not compile, settings for an unknown
//     name) is a CONFIGURATION_ERROR and no registry is built.
//  3. For each tool call, Registry.Validate(msg) finds the entry by exact,
//     case-sensitive name and checks the args against the compiled schema:
//     unknown tool → PROTOCOL_ERROR/unknown_capability (with a "did you
//     mean" for a near match such as "Shell" for "shell"), bad args →
//     PROTOCOL_ERROR/invalid_arguments naming the JSON path and rule. It
//     does not allocate on success.
//  4. Authorization (elsewhere) checks Entry.Settings.Enabled and policy.
//  5. The pipeline calls Entry.Cap.Execute(ctx, req) with a deadline
//     derived from Settings.Timeout (callers may ask for up to
//     Settings.MaxTimeout).
//  6. A reload builds a new Registry; Registry.Hash changes whenever a
//     name, version, effects, schema or setting changes, so caches keyed by
//     it never serve a verdict from the old configuration.
//
// Example:
//
//	caps, err := capability.Builtins(capability.BuiltinConfig{
//		Shell: capability.ShellConfig{AllowedBins: []string{"df", "uptime"}},
//	})
//	if err != nil { … }
//	reg, err := capability.NewRegistry(caps, map[string]capability.Settings{
//		"noop":  {Enabled: true},
//		"echo":  {Enabled: true},
//		"shell": {Enabled: true, Timeout: 5 * time.Second},
//	})
//	if err != nil { … }
//	msg, err := protocol.Decode(data, protocol.Limits{})
//	entry, err := reg.Validate(msg) // nil error: registered and args valid
//	res, err := entry.Cap.Execute(ctx, &capability.Request{ExecutionID: id, Principal: p, Args: msg.Args})
//	// (the pipeline also sets Canonical and Authorize for a Canonicalizer)
//
// # The interface
//
// Capability has six methods. Name, Version (semver), Description, Schema
// and Effects return constants. Execute(ctx, req) runs one call: req.Args
// is the already validated "args" object as a protocol.Value (read-only,
// zero-copy); ctx carries the deadline and the capability must return
// promptly once it is done. The result is raw JSON (an object) or nil; it
// is read-only for the caller and may be shared between calls (noop
// returns the same "{}" every time). The error is nil or a *Error whose
// Type is one of ArgumentError, ExecutionError, AuthorizationError,
// EnvironmentError (spec 04 §14), Timeout or OutputTooLarge. A result may
// accompany an error: shell returns the exit status and output of a
// failed command together with an ExecutionError. Messages never carry
// secrets or file contents.
//
// # Canonical arguments
//
// A capability whose arguments can name one action in several spellings
// implements Canonicalizer. The pipeline calls Canonicalize once per
// distinct message, after the schema check, keeps the result with the
// cached validation, and has the policy decide on it (policy.Input.Args,
// and Canonical.Alt as policy.Input.Alt); Execute then receives the raw
// args, Request.Canonical and Request.Authorize. The built-ins:
//
//   - fs.read: {"path": the absolute path inside the root, cleaned, with
//     every symbolic link resolved as the kernel would, never above the
//     root}. Execute resolves the path again; if the result differs from
//     Request.Canonical (a link changed since the decision was made or
//     cached) it asks Request.Authorize before going on. It then opens
//     exactly that resolved path, component by component with openat and
//     O_NOFOLLOW (Linux, macOS), so no symbolic link is followed at open
//     time: a component that became a link in between makes the read fail
//     rather than read another file. Guaranteed: the file read is the file
//     at the path the policy authorized, at the moment of the open. Not
//     guaranteed: that the file was not renamed or rewritten in place
//     after that (the open descriptor is what is read), nor anything about
//     hard links (see fs.read below). On other platforms the open goes
//     through os.Root and is checked afterwards with os.SameFile against
//     the path examined without following links, which leaves a window
//     for a component swapped to a link and back.
//   - shell: {"bin": the absolute path that will be executed, "argv" as
//     given}, with Alt {"bin": the bare name} when PATH resolves that name
//     to the same file: a rule for "git" and a rule for "/usr/bin/git" both
//     match either spelling. The path is what execve is given; a symbolic
//     link at that path is not resolved further.
//   - http.get: {"url": the normal form} (RFC 3986 §6: scheme and host in
//     lower case, international names in punycode, a trailing dot and the
//     default port dropped, unreserved percent-encodings decoded and the
//     rest in upper case, dot segments removed, the fragment dropped).
//     The normal form is what is fetched. Every redirect hop is normalized
//     and put to Request.Authorize — the same rules, principal and policy
//     snapshot as the first URL — before it is connected to.
//
// Canonicalize fails only for what Execute refuses (a binary that is not
// allowlisted, a path outside the root, a URL with credentials); the
// policy then decides on the arguments as received and Execute refuses.
// A capability of your own with several spellings of one action should
// implement Canonicalizer the same way: deterministic, without effects,
// and, when the form depends on the world, recomputed and re-authorized in
// Execute.
//
// # Tools no argv rule makes safe
//
// The policy's option grammar (argv_options, argv_subcommand) reads what a
// program is told on its command line. Some programs are launchers: they
// run other programs, or take instructions from somewhere the policy does
// not see, and no rule on their argv makes them safe. Do not allowlist
// them in ShellConfig.AllowedBins, or pin every argument down with `only`
// and `in` lists as policy/testdata/hardened.yaml does for git, and run
// them where nobody untrusted can write:
//
//   - git: `-c` and `--config-env` set any configuration (alias.x=!sh,
//     core.pager, core.sshCommand), aliases rename subcommands
//     (`-c alias.x=push x`, help.autocorrect runs a typo), `ext::`
//     transports run a command (clone, fetch, ls-remote, submodule), and
//     the repository's own .git/config (core.fsmonitor on status,
//     diff.external, filters, hooks) runs commands chosen by whoever wrote
//     that repository;
//   - env, sudo, doas, nice, nohup, timeout, chroot, setsid, xargs,
//     parallel, watch, strace: their operands are a command line;
//   - find (-exec, -execdir, -ok, -fprint writes files), rsync (-e),
//     tar (--to-command, --use-compress-program, checkpoint actions), sort
//     (--compress-program), zip (-TT), ssh and scp (-o ProxyCommand);
//   - interpreters and anything with an "evaluate this" option: sh, bash,
//     python, perl, ruby, node, awk (system()), sed (e and w commands),
//     make, go (go run, go generate) and other build tools;
//   - editors and pagers: vi, vim, emacs, less, more, man (they run shell
//     escapes and read files named at run time).
//
// # Effects and where each capability runs
//
//   - EffectsNone ("none"): pure and bounded; the pipeline runs it inline
//     on the calling goroutine. noop and echo.
//   - EffectsRead ("read"): observes the world; runs in the capability's
//     own pool of Settings.PoolSize workers (a bulkhead). fs.read,
//     http.get.
//   - EffectsWrite ("write"): may change the world; runs in its pool, and
//     the pipeline journals a durable intent record before Execute so a
//     crash leaves evidence. shell.
//
// # Argument schemas
//
// Schemas are JSON Schema documents restricted to this subset, compiled
// once by CompileSchema (a *protocol.Error of category CONFIGURATION_ERROR
// names the path of any problem):
//
//   - type: "object", "string", "integer", "number", "boolean", "array",
//     "null", or an array of them. "integer" accepts any number with no
//     fractional part (1, 1.0, 1e3).
//   - properties, required, additionalProperties (a boolean or a schema).
//     additionalProperties is FALSE when absent: an object may only have
//     the members its schema names. This applies at every level, so a
//     nested free-form object needs "additionalProperties": true.
//   - enum (JSON equality: numbers by exact value, objects regardless of
//     member order).
//   - minLength, maxLength: counted in characters (Unicode code points),
//     not bytes.
//   - pattern: an RE2 regular expression, unanchored as in JSON Schema
//     (use ^…$ to match the whole string).
//   - items (one schema for every item; the tuple form is refused),
//     minItems, maxItems.
//   - minimum, maximum, exclusiveMinimum, exclusiveMaximum: compared
//     exactly on the decimal literals (protocol.Decimal, the comparison the
//     policy's in and range use too), so big integers and long fractions
//     are never rounded through float64: 9007199254740993 exceeds maximum
//     9007199254740992, and is not enum member 9007199254740992. A number
//     whose exponent has more than protocol.MaxDecimalExponentDigits digits
//     is refused as an invalid number.
//   - Boolean schemas true (anything) and false (nothing).
//   - "x-femtoclaw-secret": true marks the value a schema describes as
//     secret (Schema.Secrets finds such values, following the schema even
//     in arguments that fail it): the runtime never stores or shows it as
//     written, only a keyed digest (package pipeline, redact_secrets.go,
//     says where and what is not guaranteed). Settings.RedactArgs marks
//     every argument secret.
//   - Annotations accepted and ignored: description, title, $comment,
//     $schema, default, examples.
//
// Any other keyword ($ref, oneOf, format, …) is a compile error: a schema
// the runtime would silently not enforce is worse than none. Validation
// errors are PROTOCOL_ERROR/invalid_arguments with messages like
// `args.argv[2]: expected string, got number`; Schema.Validate does not
// allocate when the value is valid.
//
// # Built-ins
//
// noop — effects none. Args {} (no members). Result {}. It does nothing
// and allocates nothing: the probe for the runtime's own overhead.
//
// echo — effects none. Args {"text": string, optional, at most
// EchoMaxText (16384) characters}. Result {"text": the same text}.
//
// shell — effects write. Args {"bin": string (1–4096 chars), "argv":
// [string], at most 16 items of at most 256 characters each}. Result
// {"exit_code": N, "stdout": …, "stderr": …, "truncated": bool}, plus
// "signal" (e.g. "SIGKILL") when a signal ended the process. Security:
//   - no shell, ever: the binary is executed directly with argv as given,
//     so "; rm -rf /", "$(id)" and backticks are plain arguments;
//   - ShellConfig.AllowedBins lists bare names or absolute paths; names
//     are resolved once, at load, in the PATH of the configured
//     environment (absolute directories only). "bin" must equal an entry
//     as written or its resolved absolute path; anything else (relative
//     paths, "../", "/bin/sh -c", "echo;id", other spellings of the same
//     file) is refused with an AuthorizationError even if the policy
//     allowed it (defence in depth);
//   - the environment is exactly ShellConfig.Env (default PATH=/usr/bin:/bin
//     and LANG=C); nothing is inherited from the runtime;
//   - the working directory is ShellConfig.Dir (default "/"); stdin is
//     /dev/null;
//   - the process runs in its own process group; when ctx is done the call
//     is stopped (SIGKILL), the partial output is returned with a Timeout
//     error; and when the command ends, whatever it left running is killed
//     too (see "Confinement" below for how far that reaches);
//   - stdout and stderr are each capped at ShellConfig.MaxOutputBytes
//     (default 32 KiB); the rest is read and dropped, the text ends with
//     TruncationMarker and the count of dropped bytes, and "truncated" is
//     true;
//   - a non-zero exit status returns the result and an ExecutionError.
//
// Confinement (Linux). Every call runs through a launcher: the runtime
// re-executes its own binary (/proc/self/exe) in a hidden mode, selected
// in this package's init before main, so any binary that imports the
// package can launch. The layers, and what each guarantees:
//   - descendants: the launcher's first process is a child subreaper
//     (PR_SET_CHILD_SUBREAPER) for this call only. No process the call
//     starts can leave it, setsid and double forks included; when the
//     binary exits or the deadline passes it SIGKILLs every descendant it
//     finds in /proc and reaps them before the call answers. This kernel
//     offers cgroup v2 only as a hybrid mount the runtime cannot assume to
//     be writable, and a cgroup would still need a live process to clean
//     up after a SIGKILLed runtime, so the subreaper is what is used;
//   - parent death: the launcher gets SIGTERM when the runtime dies, even
//     by SIGKILL (Pdeathsig), and kills the tree; the binary itself gets
//     SIGKILL if the launcher dies. Not guaranteed: if the launcher is
//     SIGKILLed by someone else, descendants that left the binary's
//     parentage escape; and Linux sends the parent-death signal when the
//     runtime's forking thread exits, which Go does not do for unlocked
//     threads;
//   - descriptors: every descriptor above 2 is marked close-on-exec right
//     before the binary is executed, so it gets stdin (/dev/null), stdout
//     and stderr only, whatever the runtime inherited or opened;
//   - PR_SET_NO_NEW_PRIVS: set-uid binaries and file capabilities grant
//     nothing;
//   - resource limits (ShellLimits: CPU seconds, address space, processes,
//     file size, open files), set with setrlimit before execve, so the
//     binary cannot race them; they apply to each process, and
//     RLIMIT_NPROC bounds a fork bomb only under a RunAs user (the
//     kernel counts it per user and exempts root);
//   - RunAs: the user every process runs as (refused at load unless the
//     runtime is root or it names the runtime's own user);
//   - Landlock (LandlockConfig, where the kernel offers it: see LandlockABI
//     and the start-up log, which warns when it does not): read and execute
//     beneath Read only, write beneath Write only; with ABI 6 and later the
//     process also cannot signal processes outside its domain (the
//     runtime) nor reach their abstract unix sockets. A hard link or bind
//     mount that puts a file beneath a listed path makes it reachable.
//
// The launcher costs two extra process starts per call (about a
// millisecond or two). Elsewhere (macOS) none of this applies: the call
// runs in a process group that is killed when it ends, and a process
// that leaves the group with setsid is out of reach.
//
// The runtime's own files: the configuration loader (cmd/femtoclaw)
// refuses an fs.read root or Landlock path that contains, equals or lies
// inside the data directory (token, TLS key, journal, redaction key), or
// contains the token or TLS key files configured elsewhere, comparing
// resolved paths.
//
// Allowlisting a binary allows every argument it accepts: find -exec, env,
// xargs, awk or an interpreter can run anything. Allowlist only binaries
// whose every use is acceptable, or constrain argv in the policy with the
// option grammar (see Tools no argv rule makes safe).
//
// fs.read — effects read. Args {"path": string}. Result {"path", "size"
// (the file's size), "content", "encoding": "utf-8" or "base64" (when the
// bytes are not valid UTF-8), "truncated"}. Security: every read goes
// through os.Root on FSReadConfig.Root, so "..", symbolic links leading out
// of the root and absolute paths outside it are refused
// (AuthorizationError); an absolute path inside the root is accepted.
// Only regular files are read (FIFOs are opened non-blocking and refused,
// as are directories and devices). At most FSReadConfig.MaxBytes (default
// 1 MiB) are returned. Bounded: the open and the read run on a goroutine
// the call abandons at its deadline (Timeout), so a file system that never
// answers (a stalled FUSE or NFS mount) cannot hold the call, its pool
// worker or shutdown. What is not guaranteed: the kernel read itself
// cannot be interrupted, so the abandoned goroutine and its descriptor
// live until the file system answers; at most FSReadConfig.MaxReaders
// (default 64) reads may be in progress or stalled, and past that calls
// are refused at once (EnvironmentError). Without a root every call is refused. A hard link
// inside the root to a file outside it cannot be told apart from a normal
// file: keep the root on a tree nobody untrusted can write.
//
// http.get — effects read. Args {"url": string}. Result {"status": N,
// "url": the final URL, "headers": {selected, lower-case names:
// content-type, content-length, content-encoding, content-language,
// last-modified, etag, cache-control, location, date}, "body",
// "encoding", "truncated"}. Any HTTP status is a success. Security:
//   - http and https only; URLs with credentials are refused;
//   - loopback, private, link-local, cloud metadata (169.254.169.254,
//     fd00:ec2::254), unspecified, CGNAT, documentation, benchmarking,
//     reserved and multicast addresses — and IPv6 forms embedding them
//     (mapped ::ffff:a.b.c.d, IPv4-compatible ::a.b.c.d, SIIT-translated
//     ::ffff:0:a.b.c.d, NAT64 64:ff9b::/96, 6to4 2002::/16) — are refused unless HTTPGetConfig.AllowPrivate
//     or an HTTPGetConfig.AllowedCIDRs prefix allows them. The check runs
//     in the dialer's Control hook on the address actually being
//     connected to, after DNS resolution, so DNS rebinding cannot bypass
//     it, and it covers every redirect. The error names the blocked
//     address (see BlockedError and AddrClass);
//   - environment proxies are never used; connections are not kept alive
//     between calls;
//   - at most HTTPGetConfig.MaxRedirects redirects (default 5), each
//     re-checked for scheme and re-authorized by the policy on its normal
//     form (see Canonical arguments); the whole call is bounded by
//     HTTPGetConfig.Timeout (default 10s) and the execution deadline;
//     at most MaxBodyBytes (default 1 MiB) of body are read.
//
// # Goroutine safety
//
// Registry, Entry, Schema and every built-in are immutable after
// construction and safe for concurrent use without locks; Execute may be
// called from any number of goroutines at once. Capabilities you write
// must be too. Nothing in this package keeps global mutable state or
// starts goroutines that outlive a call; no built-in needs closing.
package capability
