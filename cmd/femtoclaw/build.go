package main

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"unicode/utf8"

	"github.com/femtoclaw/femtoclaw-go/capability"
	"github.com/femtoclaw/femtoclaw-go/pipeline"
	"github.com/femtoclaw/femtoclaw-go/policy"
	"github.com/femtoclaw/femtoclaw-go/protocol"
)

func newLogger(c *Config, w io.Writer) *slog.Logger {
	var lvl slog.Level
	_ = lvl.UnmarshalText([]byte(c.Log.Level))
	opts := &slog.HandlerOptions{Level: lvl, ReplaceAttr: pipeline.RedactAttr}
	if c.Log.Format == "text" {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// loadPolicy reads the configured policy file, or returns the embedded
// default policy when none is configured. The error is a *configError:
// the file cannot be read (at policy.file's source), or every problem of
// the policy at FILE:LINE:COL.
func loadPolicy(c *Config) (*policy.Policy, string, error) {
	if c.Policy.File == "" {
		return policy.Default(), "embedded default", nil
	}
	p, err := c.readPolicy("policy.file", c.Policy.File)
	if err != nil {
		return nil, "", err
	}
	return p, c.Policy.File, nil
}

// loadShadowPolicy reads the configured shadow candidate policy, or
// returns nil when none is configured. A candidate that cannot be read
// or does not compile is an error (as loadPolicy's), never silently
// dropped: serve does not start with it, and a reload keeps the previous
// pair.
func loadShadowPolicy(c *Config) (*policy.Policy, error) {
	if c.Policy.ShadowFile == "" {
		return nil, nil
	}
	return c.readPolicy("policy.shadow_file", c.Policy.ShadowFile)
}

// readPolicy compiles the policy file that key names.
func (c *Config) readPolicy(key, file string) (*policy.Policy, error) {
	data, err := readSmallFile(file, policy.MaxDocumentBytes)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		return nil, &configError{[]problem{c.sourced(bad(key, "cannot read %s: %v", file, err))}}
	}
	p, err := policy.Parse(data)
	if err != nil {
		ps := policyProblems(file, err)
		if key != "policy.file" { // say which policy the file is (the active one needs no saying)
			for i := range ps {
				ps[i].key = key
			}
		}
		return nil, &configError{ps}
	}
	return p, nil
}

// policyProblems are a policy's ParseError as problems at FILE:LINE:COL.
func policyProblems(file string, err error) []problem {
	var pe *policy.ParseError
	if !errors.As(err, &pe) {
		return []problem{{src: source{kind: srcFile, name: file}, msg: err.Error()}}
	}
	var ps []problem
	for _, d := range pe.Errors {
		ps = append(ps, problem{src: source{kind: srcFile, name: file, line: d.Line, col: d.Col}, msg: d.Msg})
	}
	if pe.More > 0 {
		ps = append(ps, problem{src: source{kind: srcFile, name: file}, msg: fmt.Sprintf("and %d more", pe.More)})
	}
	return ps
}

// loadRegistry builds the capability registry the configuration
// describes. The error is a *configError naming the keys concerned.
func loadRegistry(c *Config) (*capability.Registry, error) {
	caps, settings, err := c.builtins()
	if err != nil {
		return nil, err
	}
	reg, err := capability.NewRegistry(caps, settings)
	if err != nil {
		return nil, &configError{[]problem{c.sourced(registryProblem(err))}}
	}
	return reg, nil
}

func pipelineConfig(c *Config) pipeline.Config {
	return pipeline.Config{
		Limits: protocol.Limits{MaxBytes: c.Execution.MaxMessageBytes, MaxDepth: c.Execution.MaxDepth,
			MaxArgs: c.Execution.MaxArgs, MaxValues: c.Execution.MaxValues},
		MaxInFlight: c.Execution.MaxInFlight,
		Idempotency: pipeline.IdempotencyConfig{Disabled: !c.Execution.Idempotency.Enabled, Retention: c.Execution.Idempotency.Retention,
			MaxKeys: c.Execution.Idempotency.MaxKeys, AnswerBytes: c.Execution.Idempotency.AnswerBytes,
			SnapshotFile: c.path("idempotency.snap")},
	}
}

// minTokenLen is the shortest bearer token ensureToken accepts from an
// existing token file (generated tokens are 68 characters).
const minTokenLen = 16

// bearerTokenPrefix starts every token newBearerToken makes.
const bearerTokenPrefix = "fct_"

// newBearerToken returns a new bearer token: "fct_" and 32 bytes from
// crypto/rand in hex (68 characters). serve generates its token file's
// token with it, and `femtoclaw token create` prints one.
func newBearerToken() string {
	var b [32]byte
	_, _ = rand.Read(b[:]) // never fails (crypto/rand.Read)
	return bearerTokenPrefix + hex.EncodeToString(b[:])
}

// ensureToken returns the bearer token's SHA-256, generating the token on
// first start (stored 0600 in the data directory). generated is the token
// itself when it was just created, so the caller can print it once.
func ensureToken(c *Config) (sum string, generated string, err error) {
	return ensureTokenFile(c.path(c.Auth.TokenFile))
}

// ensureTokenFile is ensureToken for the token file at path.
func ensureTokenFile(path string) (sum string, generated string, err error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		tok := newBearerToken()
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return "", "", err
		}
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err != nil {
			return "", "", fmt.Errorf("token: %w", err)
		}
		if _, err := f.WriteString(tok + "\n"); err != nil {
			f.Close()
			return "", "", err
		}
		if err := f.Sync(); err != nil {
			f.Close()
			return "", "", err
		}
		if err := f.Close(); err != nil {
			return "", "", err
		}
		h := sha256.Sum256([]byte(tok))
		return hex.EncodeToString(h[:]), tok, nil
	}
	if err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		return "", "", fmt.Errorf("token: %w", err)
	}
	if fi.Mode().Perm()&0o077 != 0 {
		return "", "", fmt.Errorf("token file %s is readable by others (mode %v); chmod 600 it", path, fi.Mode().Perm())
	}
	tok := strings.TrimSpace(string(data))
	if tok == "" {
		return "", "", fmt.Errorf("token file %s is empty", path)
	}
	if n := utf8.RuneCountInString(tok); n < minTokenLen {
		return "", "", fmt.Errorf("token file %s holds a token of %d characters, want at least %d: too short to resist guessing; replace it (or delete the file to have one generated)", path, n, minTokenLen)
	}
	h := sha256.Sum256([]byte(tok))
	return hex.EncodeToString(h[:]), "", nil
}
