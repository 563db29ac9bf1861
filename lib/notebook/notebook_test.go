package notebook

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func capture(t *testing.T) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	old := output
	output = &buf
	t.Cleanup(func() { output = old })
	return &buf
}

func TestTableText(t *testing.T) {
	out := capture(t)
	Table([]string{"backend", "ms", "note"}, [][]string{{"go", "800"}, {"xla:cpu", "53", "ünïcode"}})
	want := "backend  ms   note   \n" +
		"-------  ---  -------\n" +
		"go       800         \n" +
		"xla:cpu  53   ünïcode\n"
	if out.String() != want {
		t.Errorf("Table printed\n%q\nwant\n%q", out.String(), want)
	}
	if html := tableHTML([]string{"a<b"}, [][]string{{"x&y"}}); html != "<table><thead><tr><th>a&lt;b</th></tr></thead><tbody><tr><td>x&amp;y</td></tr></tbody></table>" {
		t.Errorf("tableHTML = %q", html)
	}
}

func TestClaims(t *testing.T) {
	tests := []struct {
		claim Claim
		holds bool
	}{
		{Within("w", 1, 1.05, 0.1), true},
		{Within("w", 1, 1.2, 0.1), false},
		{Within("w", 1, math.NaN(), 0.1), false},
		{AtLeast("a", "0.9", 0.95, 0.9), true},
		{AtLeast("a", "0.9", 0.85, 0.9), false},
		{AtMost("m", 0.0, 1e-7, 1e-6), true},
		{AtMost("m", 0.0, math.NaN(), 1e-6), false},
	}
	for _, tc := range tests {
		if tc.claim.Holds != tc.holds {
			t.Errorf("%+v: Holds = %v, want %v", tc.claim, tc.claim.Holds, tc.holds)
		}
	}
}

func TestFinish(t *testing.T) {
	var exitCode int
	exit = func(code int) { exitCode = code }
	defer func() { exit = func(code int) { panic(code) } }()
	for _, tc := range []struct {
		name     string
		claims   []Claim
		wantExit int
	}{
		{"holds", []Claim{AtLeast("acc", 0.99, 0.995, 0.98)}, 0},
		{"fails", []Claim{AtLeast("acc", 0.99, 0.5, 0.98)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exitCode = 0
			out := capture(t)
			Finish(Result{Notebook: "nb", Backend: "go", Profile: "quick", Seconds: 1.5, Claims: tc.claims})
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			last := lines[len(lines)-1]
			if !strings.HasPrefix(last, ResultPrefix) {
				t.Fatalf("last line %q is not the RESULT line", last)
			}
			var r Result
			if err := json.Unmarshal([]byte(strings.TrimPrefix(last, ResultPrefix)), &r); err != nil {
				t.Fatal(err)
			}
			if r.Notebook != "nb" || r.Seconds != 1.5 || len(r.Claims) != 1 || r.Claims[0].Holds != (tc.wantExit == 0) {
				t.Errorf("RESULT = %+v", r)
			}
			if exitCode != tc.wantExit {
				t.Errorf("exit code %d, want %d", exitCode, tc.wantExit)
			}
		})
	}
}

func TestOneOf(t *testing.T) {
	if err := OneOf("profile", "quick", "quick", "full"); err != nil {
		t.Error(err)
	}
	err := OneOf("profile", "fast", "quick", "full")
	if err == nil || err.Error() != `parameter profile = "fast": want one of quick, full` {
		t.Errorf("OneOf = %v", err)
	}
}

func TestSession(t *testing.T) {
	t.Setenv(EnvSessionDir, "")
	t.Setenv("TMPDIR", t.TempDir())
	type run struct{ Losses []float64 }
	if err := Set("train", run{[]float64{1, 0.5}}); err != nil {
		t.Fatal(err)
	}
	var got run
	if err := Get("train", &got); err != nil || len(got.Losses) != 2 || got.Losses[1] != 0.5 {
		t.Errorf("Get = %+v, %v", got, err)
	}
	if err := Get("missing", &got); !errors.Is(err, ErrNotSet) {
		t.Errorf("Get(missing) = %v, want ErrNotSet", err)
	}
	if err := Set("../escape", 1); err == nil {
		t.Error("Set accepted a key with a path in it")
	}
}

func TestProgress(t *testing.T) {
	out := capture(t)
	p := NewProgress("train", 4).Every(0)
	for i := 1; i <= 4; i++ {
		p.Update(i, Metric{"loss", 1 / float64(i)})
	}
	p.Done()
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	if len(lines) != 5 || !strings.HasPrefix(lines[1], "train: 2/4 ( 50%) loss=0.5 [") || !strings.HasSuffix(lines[4], " done") {
		t.Errorf("progress lines:\n%s", out.String())
	}
}

// A diverged run (NaN, ±Inf) is recorded and its claims fail; Finish never
// crashes on it, and the RESULT line keeps `<=` as it is.
func TestFinishRecordsNonFiniteValues(t *testing.T) {
	var exitCode int
	exit = func(code int) { exitCode = code }
	defer func() { exit = func(code int) { panic(code) } }()
	out := capture(t)
	Finish(Result{Notebook: "nb", Backend: "go", Seconds: 2,
		Claims: []Claim{AtLeast("test accuracy", 1.0, math.NaN(), 0.9), AtMost("loss", 0.0, math.Inf(1), 1e-6)},
		Findings: []Claim{{Name: "curve", Paper: "→ 1", Ours: []float64{0.5, math.NaN()}},
			{Name: "neg", Paper: 0, Ours: float32(math.Inf(-1))}}})
	if exitCode != 1 {
		t.Errorf("exit code %d: a claim on NaN must fail", exitCode)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	last := lines[len(lines)-1]
	if strings.Contains(last, `\u003c`) || !strings.Contains(last, `"tolerance":"<= 1e-06"`) {
		t.Errorf("RESULT escapes HTML characters: %s", last)
	}
	var r Result
	if err := json.Unmarshal([]byte(strings.TrimPrefix(last, ResultPrefix)), &r); err != nil {
		t.Fatalf("RESULT line %q: %v", last, err)
	}
	got := []any{r.Claims[0].Ours, r.Claims[1].Ours, r.Findings[0].Ours, r.Findings[1].Ours}
	want := []any{"NaN", "+Inf", "[0.5 NaN]", "-Inf"}
	for i := range want {
		if got[i] != want[i] {
			t.Errorf("value %d recorded as %#v, want %#v", i, got[i], want[i])
		}
	}
	if r.Claims[0].Holds || r.Claims[1].Holds {
		t.Errorf("claims on NaN/Inf hold: %+v", r.Claims)
	}
}

func TestSessionKeepsNonFiniteValues(t *testing.T) {
	t.Setenv(EnvSessionDir, "")
	t.Setenv("TMPDIR", t.TempDir())
	type run struct{ Losses []float64 }
	in := run{[]float64{1, math.NaN(), math.Inf(1)}}
	if err := Set("diverged", in); err != nil {
		t.Fatal(err)
	}
	var got run
	if err := Get("diverged", &got); err != nil {
		t.Fatal(err)
	}
	if len(got.Losses) != 3 || got.Losses[0] != 1 || !math.IsNaN(got.Losses[1]) || !math.IsInf(got.Losses[2], 1) {
		t.Errorf("Get = %v", got.Losses)
	}
	// A later finite value replaces it.
	if err := Set("diverged", run{[]float64{2}}); err != nil {
		t.Fatal(err)
	}
	if err := Get("diverged", &got); err != nil || len(got.Losses) != 1 || got.Losses[0] != 2 {
		t.Errorf("after a finite Set: %v, %v", got.Losses, err)
	}
}

func TestSessionRefusesADirectoryItDidNotCreate(t *testing.T) {
	t.Setenv(EnvSessionDir, "")
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	// Someone prepared the directory, readable by all, or as a link elsewhere.
	if err := os.Mkdir(SessionDir(), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(SessionDir(), 0o777); err != nil {
		t.Fatal(err)
	}
	if err := Set("x", 1); err == nil || !strings.Contains(err.Error(), "not a private directory") {
		t.Errorf("Set into a world-writable session directory: %v", err)
	}
	if err := os.Remove(SessionDir()); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(t.TempDir(), SessionDir()); err != nil {
		t.Fatal(err)
	}
	if err := Set("x", 1); err == nil || !strings.Contains(err.Error(), "not a private directory") {
		t.Errorf("Set through a symlinked session directory: %v", err)
	}
}

func TestSessionDirFromTheKernel(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "session")
	if err := os.Mkdir(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	t.Setenv(EnvSessionDir, dir)
	if err := Set("k", "v"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "k.json")); err != nil {
		t.Errorf("the value is not in $%s: %v", EnvSessionDir, err)
	}
}

// TestFinishPreregistered: a pre-registered claim fails the notebook only
// when its measured status differs from the recorded one, either way; a
// failed sanity check fails it too. The RESULT line carries status,
// expected, ci (null when not finite), p (null when none), n and the tuning.
func TestFinishPreregistered(t *testing.T) {
	var exitCode int
	exit = func(code int) { exitCode = code }
	defer func() { exit = func(code int) { panic(code) } }()
	p := 0.25
	claim := func(status, expected string) Claim {
		return Claim{ID: "gain", Name: "gain", Paper: "+2", Ours: 0.5, Tolerance: "> 0", Status: status, Expected: expected,
			Holds: status == "replicated", CI: []float64{0.1, math.NaN()}, P: &p, N: 3, Unit: "seed"}
	}
	for _, tc := range []struct {
		name     string
		claim    Claim
		checks   []Claim
		wantExit int
	}{
		{"replicated as recorded", claim("replicated", "replicated"), nil, 0},
		{"not replicated as recorded", claim("not replicated", "not replicated"), nil, 0},
		{"regression", claim("not replicated", "replicated"), nil, 1},
		{"unexpected success", claim("replicated", "not replicated"), nil, 1},
		{"failed sanity check", claim("replicated", "replicated"), []Claim{Check("finite", false, false)}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			exitCode = 0
			out := capture(t)
			Finish(Result{Notebook: "nb", Backend: "go", Profile: "quick", Seconds: 1, Claims: []Claim{tc.claim}, Checks: tc.checks,
				Tuning: []Tuned{{Arm: "baseline", Param: "lr", Grid: []float64{0.1, 1}, Scores: []float64{0.9, math.NaN()}, Chosen: 0.1, Split: "validation"}}})
			if exitCode != tc.wantExit {
				t.Errorf("exit code %d, want %d", exitCode, tc.wantExit)
			}
			lines := strings.Split(strings.TrimSpace(out.String()), "\n")
			line := strings.TrimPrefix(lines[len(lines)-1], ResultPrefix)
			for _, want := range []string{`"status":"` + tc.claim.Status + `"`, `"expected":"` + tc.claim.Expected + `"`, `"ci":null`, `"p":0.25`, `"n":3`, `"tuning":[{"arm":"baseline"`, `"scores":[0.9,"NaN"]`} {
				if !strings.Contains(line, want) {
					t.Errorf("RESULT line lacks %s: %s", want, line)
				}
			}
			r, err := ParseResult(out.String())
			if err != nil {
				t.Fatal(err)
			}
			if k, n := r.Replicated(); n != 1 || k != map[bool]int{true: 1, false: 0}[tc.claim.Status == "replicated"] {
				t.Errorf("replicated %d of %d", k, n)
			}
			if len(r.Tuning) != 1 || !math.IsNaN(r.Tuning[0].Scores[1]) || r.Tuning[0].Chosen != 0.1 {
				t.Errorf("tuning read back as %+v", r.Tuning)
			}
			failed := r.FailedClaims()
			if (len(failed) > 0) != (tc.wantExit == 1) {
				t.Errorf("FailedClaims = %v", failed)
			}
			if tc.claim.Status != tc.claim.Expected && !strings.Contains(strings.Join(failed, "\n"), `claim "gain": recorded "`+tc.claim.Expected+`", measured "`+tc.claim.Status+`"`) {
				t.Errorf("the failure does not name the claim and both statuses: %v", failed)
			}
		})
	}
}
