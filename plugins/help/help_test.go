package help

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/plugin"
)

func TestHelp(t *testing.T) {
	// One external plugin on an otherwise empty PATH.
	dir := t.TempDir()
	external := filepath.Join(dir, plugin.ExternalPrefix+"tabulate")
	if err := os.WriteFile(external, []byte("#!/bin/sh\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	t.Setenv("PATH", dir)

	tests := []struct {
		args    []string
		want    []string
		wantErr string
	}{
		{args: nil, want: []string{"| `%%help` | in-tree | lists the plugin cells", "| `%%tabulate` | external | external: `" + external + "`"}},
		{args: []string{"help"}, want: []string{"## `%%help`: the plugin cells"}},
		{args: []string{"%%help"}, want: []string{"## `%%help`: the plugin cells"}},
		{args: []string{"--help"}, want: []string{"## `%%help`: the plugin cells"}},
		{args: []string{"tabulate"}, want: []string{"`%%tabulate` is an external plugin: the program `" + external + "`"}},
		{args: []string{"writefile"}, want: []string{"one of GoNB's own cell forms"}},
		{args: []string{"nosuch"}, wantErr: `%%help: no plugin named "nosuch" (plugins: help, tabulate)`},
		{args: []string{"a", "b"}, wantErr: "%%help takes at most one plugin name, got 2 arguments: a b"},
	}
	for _, tc := range tests {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			resp, err := Handle(context.Background(), &plugin.Request{Name: "help", Args: tc.args})
			if tc.wantErr != "" {
				if err == nil || err.Error() != tc.wantErr {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(resp.Outputs) != 1 || resp.Code != "" || resp.Backend != "" {
				t.Fatalf("response = %+v, want one output and nothing else", resp)
			}
			md, _ := resp.Outputs[0].Data["text/markdown"].(string)
			for _, w := range tc.want {
				if !strings.Contains(md, w) {
					t.Errorf("output lacks %q:\n%s", w, md)
				}
			}
		})
	}
}

func TestRegistered(t *testing.T) {
	p, ok := plugin.Lookup("help")
	if !ok || p.Usage != usage || p.Help == "" {
		t.Fatalf("%%%%help is not registered with its usage: %+v", p)
	}
}
