package main

import (
	"context"
	"encoding/json"
	"fmt"
)

// cmdCapabilities lists the registry the configuration builds.
func cmdCapabilities(_ context.Context, inv *invocation, args []string) error {
	var c commonFlags
	fs := inv.flags(&c)
	asJSON := fs.Bool("json", false, "print JSON with each capability's description, timeout and argument schema")
	pos, err := inv.parse(fs, args)
	if err != nil {
		return err
	}
	if err := inv.noArgs(pos); err != nil {
		return err
	}
	cfg, err := c.load(inv.environ)
	if err != nil {
		return err
	}
	reg, err := loadRegistry(cfg)
	if err != nil {
		return err
	}
	stdout := inv.stdout
	if *asJSON {
		var list []map[string]any
		for _, e := range reg.Entries() {
			list = append(list, map[string]any{"name": e.Cap.Name(), "version": e.Cap.Version(), "effects": e.Cap.Effects(),
				"enabled": e.Settings.Enabled, "description": e.Cap.Description(), "timeout": e.Settings.Timeout.String(),
				"schema": json.RawMessage(e.Cap.Schema())})
		}
		out, _ := json.MarshalIndent(list, "", "  ")
		fmt.Fprintf(stdout, "%s\n", out)
		return nil
	}
	fmt.Fprintf(stdout, "%-10s %-8s %-7s %-8s %s\n", "NAME", "VERSION", "EFFECTS", "ENABLED", "DESCRIPTION")
	for _, e := range reg.Entries() {
		fmt.Fprintf(stdout, "%-10s %-8s %-7s %-8v %s\n", e.Cap.Name(), e.Cap.Version(), e.Cap.Effects(), e.Settings.Enabled, e.Cap.Description())
	}
	return nil
}
