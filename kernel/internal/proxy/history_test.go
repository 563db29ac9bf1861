package proxy

import (
	"reflect"
	"testing"
)

func TestHistory(t *testing.T) {
	var h history
	for i, input := range []string{"a := 1", "fmt.Println(a)", "a := 1", "%%params\nseed int = 1", "b := a*2"} {
		h.add("s", i+1, input)
	}
	lines := func(entries []historyEntry) []int {
		var out []int
		for _, e := range entries {
			out = append(out, e.line)
		}
		return out
	}
	tests := []struct {
		name string
		got  []historyEntry
		want []int
	}{
		{"tail all", h.tail(0), []int{1, 2, 3, 4, 5}},
		{"tail 2", h.tail(2), []int{4, 5}},
		{"tail more than there are", h.tail(9), []int{1, 2, 3, 4, 5}},
		{"range", h.lines(2, 4), []int{2, 3}},
		{"range without stop", h.lines(4, 0), []int{4, 5}},
		{"range past the end", h.lines(6, 9), nil},
		{"search all", h.search("", 0, false), []int{1, 2, 3, 4, 5}},
		{"search glob", h.search("a*", 0, false), []int{1, 3}},
		{"search ? is one character", h.search("b := a?2", 0, false), []int{5}},
		{"search * spans lines", h.search("%%params*", 0, false), []int{4}},
		{"search unique keeps the latest", h.search("a*", 0, true), []int{3}},
		{"search last n", h.search("*", 2, false), []int{4, 5}},
		{"search metacharacters are literal", h.search("fmt.Println(a)", 0, false), []int{2}},
		{"search no match", h.search("zzz", 0, false), nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := lines(tc.got); !reflect.DeepEqual(got, tc.want) {
				t.Errorf("lines %v, want %v", got, tc.want)
			}
		})
	}
	if h.len() != 5 {
		t.Errorf("len = %d, want 5", h.len())
	}
}
