package require

import (
	"context"
	"strings"
	"testing"

	"github.com/gorepro/gorepro/kernel/plugin"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		arg     string
		want    Requirement
		errWith string
	}{
		{arg: "github.com/google/uuid@v1.6.0", want: Requirement{"github.com/google/uuid", "v1.6.0"}},
		{arg: "github.com/gofrs/uuid@v4.4.0+incompatible", want: Requirement{"github.com/gofrs/uuid", "v4.4.0+incompatible"}},
		{arg: "golang.org/x/exp@v0.0.0-20260410095643-746e56fc9e2f", want: Requirement{"golang.org/x/exp", "v0.0.0-20260410095643-746e56fc9e2f"}},
		{arg: "example.com/m/v2@v2.1.0-rc.1", want: Requirement{"example.com/m/v2", "v2.1.0-rc.1"}},
		{arg: "github.com/google/uuid", errWith: "no version"},
		{arg: "github.com/google/uuid@", errWith: "no version"},
		{arg: "github.com/google/uuid@latest", errWith: "not an exact version"},
		{arg: "github.com/google/uuid@upgrade", errWith: "not an exact version"},
		{arg: "github.com/google/uuid@master", errWith: "not an exact version"},
		{arg: "github.com/google/uuid@v1", errWith: "not an exact version"},
		{arg: "github.com/google/uuid@v1.6", errWith: "not an exact version"},
		{arg: "github.com/google/uuid@>v1.0.0", errWith: "not an exact version"},
		{arg: "github.com/google/uuid@1.6.0", errWith: "not an exact version"},
		{arg: "example.com/m/v2@v1.0.0", errWith: "v2"},
		{arg: "not a path@v1.0.0", errWith: "malformed module path"},
		{arg: "@v1.0.0", errWith: "malformed module path"},
	} {
		got, err := Parse(tc.arg)
		if tc.errWith != "" {
			if err == nil || !strings.Contains(err.Error(), tc.errWith) {
				t.Errorf("Parse(%q) = %v, %v; want an error containing %q", tc.arg, got, err, tc.errWith)
			}
			continue
		}
		if err != nil || got != tc.want {
			t.Errorf("Parse(%q) = %v, %v; want %v", tc.arg, got, err, tc.want)
		}
	}
}

func TestHandleRefusesBeforeAnyNetwork(t *testing.T) {
	for _, tc := range []struct {
		args    []string
		body    string
		errWith string
	}{
		{nil, "", "needs at least one MODULE@VERSION"},
		{[]string{"github.com/google/uuid@v1.6.0", "github.com/google/uuid@latest"}, "", "not an exact version"},
		{[]string{"github.com/google/uuid@v1.6.0"}, "more", "first line"},
	} {
		_, err := Handle(context.Background(), &plugin.Request{Name: "require", Args: tc.args, Body: tc.body})
		if err == nil || !strings.Contains(err.Error(), tc.errWith) {
			t.Errorf("Handle(%q, body %q) error = %v; want one containing %q", tc.args, tc.body, err, tc.errWith)
		}
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"github.com/google/uuid@v1.6.0", "a@latest", "@", "x/y@v0.0.0-20260410095643-746e56fc9e2f", "m@v1.0.0+incompatible"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, arg string) {
		r, err := Parse(arg)
		if err != nil {
			return
		}
		if r.String() != arg {
			t.Fatalf("Parse(%q) = %v: does not round-trip", arg, r)
		}
		if r.Version == "latest" || !strings.HasPrefix(r.Version, "v") {
			t.Fatalf("Parse(%q) accepted version %q", arg, r.Version)
		}
	})
}
