package runner

import (
	"errors"
	"github.com/gorepro/gorepro/lib/notebook"
	"strings"
	"testing"
)

func TestParseResult(t *testing.T) {
	good := `RESULT {"notebook":"a","backend":"go","seconds":1.5,"claims":[{"name":"c","paper":0.9,"ours":0.8,"holds":false}]}`
	tests := []struct {
		name    string
		text    string
		wantNB  string
		wantErr string
	}{
		{"plain", "progress\n" + good + "\n", "a", ""},
		{"last of several", `RESULT {"notebook":"first","backend":"go","seconds":1,"claims":[]}` + "\n" + good, "a", ""},
		{"coloured", "\x1b[1m" + good + "\x1b[0m", "a", ""},
		{"none", "no result here", "", notebook.ErrNoResult.Error()},
		{"malformed", "RESULT {not json", "", "malformed RESULT line"},
		{"unknown field", `RESULT {"notebook":"a","claimz":[]}`, "", "malformed RESULT line"},
		{"no name", `RESULT {"backend":"go"}`, "", "no notebook name"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			r, err := notebook.ParseResult(tc.text)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if r.Notebook != tc.wantNB {
				t.Errorf("notebook = %q", r.Notebook)
			}
		})
	}
	r, _ := notebook.ParseResult(good)
	if failed := r.FailedClaims(); len(failed) != 1 || failed[0] != "c (paper 0.9, ours 0.8)" {
		t.Errorf("FailedClaims = %q", failed)
	}
	if _, err := notebook.ParseResult(""); !errors.Is(err, notebook.ErrNoResult) {
		t.Errorf("empty text: %v", err)
	}
}

func FuzzParseResult(f *testing.F) {
	f.Add(`RESULT {"notebook":"a","backend":"go","seconds":1,"claims":[{"name":"c","paper":1,"ours":"x","holds":true}]}`)
	f.Add("RESULT ")
	f.Add("RESULT {\"notebook\":\"\\u0000\"}\nRESULT [")
	f.Fuzz(func(t *testing.T, text string) {
		r, err := notebook.ParseResult(text)
		if err == nil && r.Notebook == "" {
			t.Fatal("a result without a notebook name was accepted")
		}
		if err == nil {
			_ = r.FailedClaims()
			_ = MarkdownReport(t.TempDir(), []Outcome{{Notebook: "x.ipynb", Result: r}})
		}
	})
}
