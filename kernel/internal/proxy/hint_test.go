package proxy

import "testing"

// GoNB shows compile errors as HTML: the go command's lines end up in
// separate elements, with the cell's source (quotes escaped) in between.
const gonbMissingHTML = `<div style="white-space: pre-wrap;"><span class="gonb-err-hover-area"><span class="gonb-cell-line-info">Cell[1]: Line 1</span> <span class="gonb-err-location">main.go:4:2: </span></span>no required module provides package example.com/not/a/module/pkg; to add it:<div class="gonb-err-context">package main
import (
<div class="gonb-err-line">	&#34;example.com/not/a/module/pkg&#34;
</div>)
</div></div>
<div style="white-space: pre-wrap;"> 	go get example.com/not/a/module/pkg</div>`

const gonbImplicitHTML = `<div style="white-space: pre-wrap;">package gonb_606cea87 imports github.com/google/uuid from implicitly required module; to add missing requirements, run:</div>

<div style="white-space: pre-wrap;"> 	go get github.com/google/uuid@v1.6.0</div>`

func TestMissingModulePattern(t *testing.T) {
	for _, tc := range []struct {
		name, text string
		want       []string // submatches 1..4
	}{
		{"missing, HTML", gonbMissingHTML, []string{"example.com/not/a/module/pkg", "", "", ""}},
		{"missing, text", "main.go:4:2: no required module provides package example.com/x/y; to add it:\n\tgo get example.com/x/y", []string{"example.com/x/y", "", "", ""}},
		{"implicit, HTML", gonbImplicitHTML, []string{"", "github.com/google/uuid", "github.com/google/uuid", "v1.6.0"}},
		{"implicit, text", "package p imports golang.org/x/sys/unix from implicitly required module; to add missing requirements, run:\n\tgo get golang.org/x/sys@v0.43.0", []string{"", "golang.org/x/sys/unix", "golang.org/x/sys", "v0.43.0"}},
		{"unrelated compile error", "main.go:3:1: undefined: foo", nil},
	} {
		m := missingModule.FindStringSubmatch(tc.text)
		if tc.want == nil {
			if m != nil {
				t.Errorf("%s: matched %q", tc.name, m)
			}
			continue
		}
		if m == nil {
			t.Errorf("%s: no match", tc.name)
			continue
		}
		for i, w := range tc.want {
			if m[i+1] != w {
				t.Errorf("%s: submatch %d = %q, want %q", tc.name, i+1, m[i+1], w)
			}
		}
	}
}
