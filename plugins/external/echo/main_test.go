package main

import (
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/plugin"
)

func TestReply(t *testing.T) {
	tests := []struct {
		req     plugin.Request
		want    []string
		wantErr string
	}{
		{req: plugin.Request{Name: "echo", Args: []string{"a", "b`c"}, Body: "x\n"}, want: []string{"received 2 argument(s): `a`, `b'c`", "```\nx\n```"}},
		{req: plugin.Request{Name: "echo", Body: "has ``` inside"}, want: []string{"````\nhas ``` inside\n````"}},
		{req: plugin.Request{Name: "echo"}, want: []string{"received 0 argument(s)", "and an empty body."}},
		{req: plugin.Request{Name: "echo", Args: []string{"x", "--fail"}}, wantErr: "%%echo: failing as asked by --fail"},
	}
	for _, tc := range tests {
		got := reply(&tc.req)
		if got.Error != tc.wantErr {
			t.Errorf("reply(%+v).Error = %q, want %q", tc.req, got.Error, tc.wantErr)
		}
		if tc.wantErr != "" {
			if len(got.Outputs) > 0 {
				t.Errorf("an error reply with outputs: %+v", got)
			}
			continue
		}
		md, _ := got.Outputs[0].Data["text/markdown"].(string)
		for _, w := range tc.want {
			if !strings.Contains(md, w) {
				t.Errorf("reply(%+v) = %q, lacks %q", tc.req, md, w)
			}
		}
	}
}
