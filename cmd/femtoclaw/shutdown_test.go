package main

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"
)

// TestSecurityBoundedShutdown: serve's shutdown returns even when a part
// of the node never finishes closing (one that ignores its context, one
// that honours it late), so SIGTERM always ends the process.
func TestSecurityBoundedShutdown(t *testing.T) {
	for _, tc := range []struct {
		name   string
		closer func(stuck chan struct{}) func(context.Context) error
		want   string // substring of the error; "" for none
	}{
		{"ignores its context", func(stuck chan struct{}) func(context.Context) error {
			return func(context.Context) error { <-stuck; return nil }
		}, "did not finish"},
		{"honours its context", func(chan struct{}) func(context.Context) error {
			return func(ctx context.Context) error { <-ctx.Done(); return ctx.Err() }
		}, "deadline exceeded"},
		{"returns at once", func(chan struct{}) func(context.Context) error {
			return func(context.Context) error { return nil }
		}, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				stuck := make(chan struct{})
				defer close(stuck)
				n := &node{closers: []func(context.Context) error{tc.closer(stuck)}}
				start := time.Now()
				err := n.shutdownWithin(slog.New(slog.NewTextHandler(io.Discard, nil)), shutdownTimeout)
				if d := time.Since(start); d > shutdownTimeout+shutdownGrace {
					t.Errorf("shutdown took %v, want at most %v", d, shutdownTimeout+shutdownGrace)
				}
				switch {
				case tc.want == "" && err != nil:
					t.Errorf("err = %v", err)
				case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
					t.Errorf("err = %v, want it to mention %q", err, tc.want)
				}
			})
		})
	}
}
