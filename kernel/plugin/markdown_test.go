package plugin

import "testing"

func TestMarkdownCell(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"plain text", "plain text"},
		{"a|b", `a\|b`},
		{"||", `\|\|`},
		{"two\nlines", "two lines"},
		{"`code` and *emphasis*", "`code` and *emphasis*"},
		{"[a, b] | [0 .. 1]\n", `[a, b] \| [0 .. 1] `},
	}
	for _, tc := range tests {
		if got := MarkdownCell(tc.in); got != tc.want {
			t.Errorf("MarkdownCell(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
