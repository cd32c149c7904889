package main

import "runtime/debug"

// pebbleVersion is the Pebble module version this binary was built with.
func pebbleVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		for _, m := range bi.Deps {
			if m.Path == "github.com/cockroachdb/pebble/v2" {
				return m.Version
			}
		}
	}
	return "unknown"
}
