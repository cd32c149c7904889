package authzanchor

import "strings"

// Case is one call with the decision the policy should give.
type Case struct {
	Name  string
	Call  Call
	Allow bool
}

func argv(items ...string) []any {
	l := make([]any, len(items))
	for i, s := range items {
		l[i] = s
	}
	return l
}

// The three calls the benchmarks time.
var (
	BenchAllow       = Call{"agent-1", "shell", map[string]any{"bin": "git", "argv": argv("status", "-s")}}
	BenchDenyArg     = Call{"agent-1", "shell", map[string]any{"bin": "rm", "argv": argv("-rf", "/")}}
	BenchDenyDefault = Call{"agent-5", "shell", map[string]any{"bin": "ls", "argv": argv("-l")}}
)

// Cases is the equivalence table: every engine must give Allow for each.
var Cases = []Case{
	{"bench allow: ops shell git", BenchAllow, true},
	{"bench deny-arg: bin not allowed", BenchDenyArg, false},
	{"bench default-deny: agent-5 has no shell rule", BenchDenyDefault, false},
	{"P1 ops shell, argv absent", Call{"agent-2", "shell", map[string]any{"bin": "ls"}}, true},
	{"P1 16 argv items", Call{"agent-2", "shell", map[string]any{"bin": "grep", "argv": argv(strings.Split(strings.Repeat("x,", 15)+"x", ",")...)}}, true},
	{"P1 17 argv items", Call{"agent-2", "shell", map[string]any{"bin": "grep", "argv": argv(strings.Split(strings.Repeat("x,", 16)+"x", ",")...)}}, false},
	{"P1 item of 256 chars", Call{"agent-1", "shell", map[string]any{"bin": "cat", "argv": argv(strings.Repeat("a", 256))}}, true},
	{"P1 item of 257 chars", Call{"agent-1", "shell", map[string]any{"bin": "cat", "argv": argv(strings.Repeat("a", 257))}}, false},
	{"P1 200 two-byte chars (400 bytes) fit", Call{"agent-1", "shell", map[string]any{"bin": "cat", "argv": argv(strings.Repeat("é", 200))}}, true},
	{"P1 argv with a number", Call{"agent-1", "shell", map[string]any{"bin": "ls", "argv": []any{"-l", 3.0}}}, false},
	{"P1 argv not a list", Call{"agent-1", "shell", map[string]any{"bin": "ls", "argv": "-l"}}, false},
	{"P1 bin not a string", Call{"agent-1", "shell", map[string]any{"bin": 7.0}}, false},
	{"P2 agent-3 cat", Call{"agent-3", "shell", map[string]any{"bin": "cat", "argv": argv("notes.txt")}}, true},
	{"P2 agent-3 git not in its list", Call{"agent-3", "shell", map[string]any{"bin": "git", "argv": argv("log")}}, false},
	{"P3 agent-4 python3", Call{"agent-4", "shell", map[string]any{"bin": "python3", "argv": argv("train.py")}}, true},
	{"F5 git push denied over P1", Call{"agent-1", "shell", map[string]any{"bin": "git", "argv": argv("push", "origin")}}, false},
	{"P4 ops reads the project tree", Call{"agent-1", "fs.read", map[string]any{"path": "/project/src/main.go"}}, true},
	{"P4 path with ..", Call{"agent-1", "fs.read", map[string]any{"path": "/project/../etc/passwd"}}, false},
	{"P4 path outside prefixes", Call{"agent-1", "fs.read", map[string]any{"path": "/etc/passwd"}}, false},
	{"F1 secrets denied over P4", Call{"agent-2", "fs.read", map[string]any{"path": "/project/secrets/token"}}, false},
	{"F2 .pem denied over P4", Call{"agent-1", "fs.read", map[string]any{"path": "/srv/data/tls/server.pem"}}, false},
	{"P5 research reads datasets", Call{"agent-4", "fs.read", map[string]any{"path": "/datasets/mnist/train.csv"}}, true},
	{"P5 research outside its prefix", Call{"agent-3", "fs.read", map[string]any{"path": "/project/ops/plan.md"}}, false},
	{"P6 agent-2 reads app logs", Call{"agent-2", "fs.read", map[string]any{"path": "/var/log/app/today.log"}}, true},
	{"P7 agent-5 reads public", Call{"agent-5", "fs.read", map[string]any{"path": "/public/index.html"}}, true},
	{"P7 path not a string", Call{"agent-5", "fs.read", map[string]any{"path": []any{"/public/x"}}}, false},
	{"P8 research https github", Call{"agent-3", "http.get", map[string]any{"url": "https://api.github.com/repos/x/y"}}, true},
	{"P8 bare host", Call{"agent-3", "http.get", map[string]any{"url": "https://pypi.org"}}, true},
	{"P8 plain http", Call{"agent-3", "http.get", map[string]any{"url": "http://api.github.com/"}}, false},
	{"P8 look-alike host", Call{"agent-3", "http.get", map[string]any{"url": "https://api.github.com.evil.io/"}}, false},
	{"P8 userinfo trick", Call{"agent-3", "http.get", map[string]any{"url": "https://pypi.org@evil.io/"}}, false},
	{"F3 agent-4 off the network", Call{"agent-4", "http.get", map[string]any{"url": "https://arxiv.org/abs/1"}}, false},
	{"F4 admin path denied over P9", Call{"agent-1", "http.get", map[string]any{"url": "https://pkg.go.dev/admin/users"}}, false},
	{"P10 agent-1 internal", Call{"agent-1", "http.get", map[string]any{"url": "https://internal.example.com/v1/status"}}, true},
	{"P10 agent-2 not allowed internal", Call{"agent-2", "http.get", map[string]any{"url": "https://internal.example.com/"}}, false},
	{"P11 agent-5 status page", Call{"agent-5", "http.get", map[string]any{"url": "https://status.example.com/"}}, true},
	{"P12 ops echo", Call{"agent-2", "echo", map[string]any{"text": "hi"}}, true},
	{"P14 agent-5 echo", Call{"agent-5", "echo", map[string]any{}}, true},
	{"P15 noop by any agent", Call{"agent-4", "noop", map[string]any{}}, true},
	{"unknown principal noop", Call{"agent-9", "noop", map[string]any{}}, false},
	{"unknown tool", Call{"agent-1", "deploy", map[string]any{"env": "prod"}}, false},
}
