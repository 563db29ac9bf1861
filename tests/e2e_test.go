// Package tests holds gorepro's end-to-end tests: the gorepro command and the
// stock papermill CLI executing real notebooks on the gorepro kernel. They
// need `make setup` (venv, kernelspec) and run under `make test`, which sets
// GOREPRO_E2E=1; without it they are skipped.
//
// They are hermetic: TestMain downloads the pinned modules (what setup does)
// into a fresh, empty module cache, and every notebook then runs with that
// cache and GOPROXY=off, so a cell that resolved a module by querying a proxy
// (GoNB's auto-get) fails here even where the machine's own cache is warm.
package tests

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"golang.org/x/mod/modfile"

	"github.com/gorepro/gorepro/lib/ipynb"
	"github.com/gorepro/gorepro/lib/notebook"
)

var (
	root    string
	gorepro string
	// modCache is the fresh module cache the notebooks run with.
	modCache string
	// cacheDir is the fresh cache of computed results (checkpoints) they run
	// with: today's code computes every number, none is read from a cache.
	cacheDir string
)

func TestMain(m *testing.M) {
	_, file, _, _ := runtime.Caller(0)
	root = filepath.Dir(filepath.Dir(file))
	if os.Getenv("GOREPRO_E2E") == "" {
		os.Exit(m.Run()) // each test skips
	}
	dir, err := os.MkdirTemp("", "gorepro-e2e-")
	if err != nil {
		panic(err)
	}
	gorepro = filepath.Join(dir, "gorepro")
	build := exec.Command("go", "build", "-o", gorepro, "./kernel/cmd/gorepro")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		panic("building gorepro: " + err.Error() + "\n" + string(out))
	}
	modCache = filepath.Join(dir, "gomodcache")
	cacheDir = filepath.Join(dir, "cache")
	// Setup's download of the pinned modules (kernel/internal/install.DownloadModules),
	// with the proxy; -modcacherw lets the directory be removed afterwards.
	download := exec.Command("go", "mod", "download")
	download.Dir = root
	download.Env = append(os.Environ(), "GOMODCACHE="+modCache, "GOFLAGS=-modcacherw")
	if out, err := download.CombinedOutput(); err != nil {
		panic("downloading the pinned modules into a fresh module cache: " + err.Error() + "\n" + string(out))
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func needE2E(t *testing.T) {
	t.Helper()
	if os.Getenv("GOREPRO_E2E") == "" {
		t.Skip("end-to-end test: run through `make test` (GOREPRO_E2E=1)")
	}
}

// env is the environment `make` gives the commands, with the fresh module
// cache and no module proxy.
func env() []string {
	venv := filepath.Join(root, ".venv")
	return append(os.Environ(), "GOREPRO_ROOT="+root, "GOREPRO_VENV="+venv, "GOMLX_NO_AUTO_INSTALL=1",
		"PATH="+filepath.Join(venv, "bin")+string(os.PathListSeparator)+os.Getenv("PATH"),
		"GOMODCACHE="+modCache, "GOPROXY=off", "GOREPRO_CACHE_DIR="+cacheDir)
}

type result struct {
	code           int
	stdout, stderr string
}

func runCmd(t *testing.T, name string, args ...string) result {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = root
	cmd.Env = env()
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	code := 0
	if exitErr, ok := err.(*exec.ExitError); ok {
		code = exitErr.ExitCode()
	} else if err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	return result{code, stdout.String(), stderr.String()}
}

func executedResult(t *testing.T, path string) (*ipynb.Notebook, *notebook.Result) {
	t.Helper()
	nb, err := ipynb.Read(path)
	if err != nil {
		t.Fatal(err)
	}
	if e := nb.FirstError(); e != nil {
		t.Fatalf("%s has an error: %v", path, e)
	}
	r, err := notebook.ParseResult(nb.Text())
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return nb, r
}

// runNotebook runs `gorepro run --out <tmp> args… NOTEBOOK`, requires success,
// and returns the executed notebook and its RESULT with every claim checked.
func runNotebook(t *testing.T, path string, args ...string) (*ipynb.Notebook, *notebook.Result) {
	t.Helper()
	nb, r := executeNotebook(t, path, args...)
	checkClaims(t, r)
	return nb, r
}

// executeNotebook is runNotebook without the claim checks, for a run that
// may assert no claim (a smoke profile): the caller checks them.
func executeNotebook(t *testing.T, path string, args ...string) (*ipynb.Notebook, *notebook.Result) {
	t.Helper()
	out := t.TempDir()
	res := runCmd(t, gorepro, append(append([]string{"run", "--out", out}, args...), path)...)
	if res.code != 0 {
		t.Fatalf("gorepro run %v %s exited %d\n%s\n%s", args, path, res.code, res.stdout, res.stderr)
	}
	return executedResult(t, filepath.Join(out, filepath.Base(path)))
}

func injectedSource(nb *ipynb.Notebook) string {
	for _, c := range nb.Cells {
		if c.HasTag("injected-parameters") {
			return string(c.Source)
		}
	}
	return ""
}

func checkClaims(t *testing.T, r *notebook.Result) {
	t.Helper()
	if len(r.Claims) == 0 {
		t.Error("no claims in RESULT")
	}
	if failed := r.FailedClaims(); len(failed) > 0 {
		t.Errorf("claims failed: %v", failed)
	}
}

// TestHermeticSetting checks what every notebook test here runs with: the
// fresh module cache that holds only the pinned modules, and no proxy.
func TestHermeticSetting(t *testing.T) {
	needE2E(t)
	res := runCmd(t, "go", "env", "GOMODCACHE", "GOPROXY")
	if got := strings.Fields(res.stdout); res.code != 0 || len(got) != 2 || got[0] != modCache || got[1] != "off" {
		t.Fatalf("go env GOMODCACHE GOPROXY = %q (exit %d), want %s off", res.stdout, res.code, modCache)
	}
	res = runCmd(t, "go", "list", "-m", "github.com/gomlx/gomlx")
	if strings.TrimSpace(res.stdout) != "github.com/gomlx/gomlx v0.28.8" {
		t.Fatalf("the project's GoMLX in the fresh cache: %q %s", res.stdout, res.stderr)
	}
}

// TestTourThroughGorepro is `gorepro run -p seed=7` on the default backend (xla:cpu).
func TestTourThroughGorepro(t *testing.T) {
	needE2E(t)
	out := t.TempDir()
	res := runCmd(t, gorepro, "run", "--out", out, "-p", "seed=7", "notebooks/00_tour.ipynb")
	if res.code != 0 {
		t.Fatalf("gorepro run exited %d\nstdout:\n%s\nstderr:\n%s", res.code, res.stdout, res.stderr)
	}
	for _, noise := range []string{"goroutine ", "I1122", "jpyexec.go"} {
		if strings.Contains(res.stdout, noise) {
			t.Errorf("kernel log noise %q reached the user:\n%s", noise, res.stdout)
		}
	}
	if !strings.Contains(res.stdout, "training on xla:cpu") {
		t.Errorf("no progress output relayed:\n%s", res.stdout)
	}
	nb, r := executedResult(t, filepath.Join(out, "00_tour.ipynb"))
	if r.Backend != "xla:cpu" || r.Profile != "quick" {
		t.Errorf("RESULT backend %q profile %q, want xla:cpu quick", r.Backend, r.Profile)
	}
	checkClaims(t, r)
	if src := injectedSource(nb); !strings.Contains(src, "seed = 7") {
		t.Errorf("injected parameters cell = %q", src)
	}
	if figs := nb.Figures(); len(figs) != 2 {
		t.Errorf("%d figures in the executed notebook, want 2", len(figs))
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(md), "| [00_tour.ipynb](00_tour.ipynb) | ok | xla:cpu | quick | 3/3 held (not pre-registered) |") ||
		!strings.Contains(string(md), "![00_tour.ipynb figure 2](figures/00_tour-2.svg)") {
		t.Errorf("report.md:\n%s", md)
	}
	html, err := os.ReadFile(filepath.Join(out, "report.html"))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Count(string(html), "data:image/svg+xml;base64,") != 2 {
		t.Errorf("report.html does not inline the 2 figures")
	}
	// nbconvert's HTML export of the executed notebook shows the figures too.
	conv := runCmd(t, filepath.Join(root, ".venv", "bin", "jupyter"), "nbconvert", "--to", "html",
		"--output-dir", out, "--output", "tour_export", filepath.Join(out, "00_tour.ipynb"))
	if conv.code != 0 {
		t.Fatalf("nbconvert: %s", conv.stderr)
	}
	exported, err := os.ReadFile(filepath.Join(out, "tour_export.html"))
	if err != nil {
		t.Fatal(err)
	}
	// nbconvert embeds SVG figures as data URIs; decode them and look for the titles.
	var titles []string
	for _, part := range strings.Split(string(exported), `src="data:image/svg+xml;base64,`)[1:] {
		svg, err := base64.StdEncoding.DecodeString(part[:strings.IndexByte(part, '"')])
		if err != nil {
			t.Fatal(err)
		}
		for _, title := range []string{"Training loss", "Fit after training"} {
			if strings.Contains(string(svg), title) {
				titles = append(titles, title)
			}
		}
	}
	if len(titles) != 2 {
		t.Errorf("nbconvert HTML shows figures %q, want both of the tour's", titles)
	}
}

// TestLabServes starts `gorepro lab` on a free loopback port and asks the
// server for its kernelspecs: the gorepro kernel must be among them.
func TestLabServes(t *testing.T) {
	needE2E(t)
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	cmd := exec.Command(gorepro, "lab", fmt.Sprintf("--port=%d", port), "--IdentityProvider.token=e2e", "--ServerApp.open_browser=False")
	cmd.Dir, cmd.Env = root, env()
	var logs bytes.Buffer
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	url := fmt.Sprintf("http://127.0.0.1:%d/api/kernelspecs?token=e2e", port)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK || !strings.Contains(string(body), `"gorepro"`) {
				t.Fatalf("GET kernelspecs: %d %s", resp.StatusCode, body)
			}
			if !strings.Contains(logs.String(), "127.0.0.1") {
				t.Errorf("lab is not announced on loopback:\n%s", logs.String())
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("JupyterLab did not answer on port %d within 60 s:\n%s", port, logs.String())
}

// TestNotebooks runs each reproduction's quick profile on the default
// backend, with every run trained now (a fresh cache directory) where fresh
// is set: its claims as recorded, its findings and its figures.
func TestNotebooks(t *testing.T) {
	needE2E(t)
	tests := []struct {
		name, notebook string
		// params are gorepro run's arguments (e.g. a profile).
		params []string
		// fresh: the results must be computed now, none read from a cache.
		fresh bool
		// record: the pre-registered claims; legacy: the asserted ones.
		record []wantClaim
		legacy []legacyClaim
		// checks: the RESULT must hold sanity checks; findings: at least so many.
		checks   bool
		findings int
		figures  int
		// figuresAre names the figures for the failure message.
		figuresAre string
	}{
		// The grokking reproduction: every claim as recorded at the quick profile.
		{name: "TestGrokkingNotebook", notebook: "notebooks/grokking_stablemax.ipynb", fresh: true,
			record: grokkingRecord("quick"), checks: true, findings: 1, figures: 3, figuresAre: "accuracy, collapse, NLM"},
		// SNS with the paper's sparsity: every claim as recorded at the quick profile.
		{name: "TestSNSNotebook", notebook: "notebooks/sinkhorn_newton_sparse.ipynb", fresh: true,
			record: snsRecord("quick"), checks: true, findings: 4, figures: 5,
			figuresAre: "dual sub-optimality vs iteration and vs seconds, marginal error, density ablation, sparsity check"},
		// TrAct under the paper's protocol: every claim as recorded at the quick profile.
		{name: "TestTrActNotebook", notebook: "notebooks/tract.ipynb", fresh: true,
			record: tractRecord("quick"), checks: true, findings: 20, figures: 5,
			figuresAre: "speedup vs budget, CNN accuracy vs budget, CNN λ sweep, ViT accuracy vs budget, training curves"},
		// ColBERT projections: the claim, the bar chart and the ablation figure.
		{name: "TestColBERTNotebook", notebook: "notebooks/colbert_projections.ipynb", fresh: true,
			legacy: []legacyClaim{{"linear and the variants learn the task", ">= 0.2"}}, findings: 8, figures: 2, figuresAre: "NDCG bars, ablation"},
		// ColBERT part (b): the pretrained all-MiniLM-L6-v2 (from the wheel make
		// setup installs) fine-tuned with each projection head on Go doc
		// retrieval, heads tuned on dev: the claims as recorded at quick, and
		// the smoke profile (the full profile's code: the BEIR path on
		// fixtures; on xla:cpu, since six BERT layers on go take minutes).
		{name: "TestColBERTMiniLMNotebook", notebook: "notebooks/colbert_minilm.ipynb", fresh: true,
			record: minilmRecord("quick"), checks: true, findings: 7, figures: 3, figuresAre: "dev NDCG curves, loss curves, paired differences"},
		{name: "TestColBERTMiniLMSmoke", notebook: "notebooks/colbert_minilm.ipynb", params: []string{"-p", "profile=smoke"}, fresh: true,
			record: minilmRecord("smoke"), checks: true, findings: 3, figures: 3, figuresAre: "dev NDCG curves, loss curves, paired differences"},
		// The same model on 1 and 4 virtual CPU devices (xla:cpu,devices=4)
		// through GoMLX's distributed training: equal loss curves, and a check
		// that can fail.
		{name: "TestMultiDeviceNotebook", notebook: "notebooks/multidevice.ipynb",
			legacy: []legacyClaim{
				{"4 devices vs 1: largest relative loss difference", "<= 1e-05"},
				{"the check can fail: one device's slice", ">= 0.01"},
				{"the model trains: last loss ÷ first loss", "<= 0.5"},
			}, figures: 2, figuresAre: "loss curves, relative difference"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			nb, r := runNotebook(t, tc.notebook, tc.params...)
			if tc.fresh && r.FromCache {
				t.Error("results were read from a cache: the end-to-end test must run today's code")
			}
			if tc.record != nil {
				checkRecord(t, r, tc.record)
			} else {
				checkLegacyClaims(t, r, tc.legacy)
			}
			if tc.checks && len(r.Checks) == 0 {
				t.Errorf("no sanity checks, want some")
			}
			if len(r.Findings) < tc.findings {
				t.Errorf("%d findings, want ≥ %d", len(r.Findings), tc.findings)
			}
			if figs := nb.Figures(); len(figs) != tc.figures {
				t.Errorf("%d figures, want %d (%s)", len(figs), tc.figures, tc.figuresAre)
			}
		})
	}
}

// TestOnGoBackend runs notebooks on the pure-Go backend. Each notebook's
// smoke profile runs its full profile's code (functions, loaders, figures,
// result assembly) at toy sizes, so that a full run cannot fail on a path no
// test reached: the grokking smoke profile has the float32 collapse and
// ⊥Grad on the small task, every other claim recorded as not measured there;
// SNS runs smaller sizes; TrAct the full profile's CIFAR code on generated
// files; ColBERT every head and the ablation for one epoch on a toy task;
// the multi-device notebook its three runs on go's one device; the tour 50
// steps. The legacy notebooks' smoke profiles assert only what holds at any
// size (the tour's softmax); their other claims are findings there. The
// tour's quick profile runs here too: its training claims on go.
func TestOnGoBackend(t *testing.T) {
	needE2E(t)
	smoke := []string{"-p", "profile=smoke"}
	tests := []struct {
		name, notebook string
		params         []string
		profile        string
		record         []wantClaim
		// legacy: the asserted claims, in order (empty: none); nil: not
		// compared, and every claim must hold.
		legacy []legacyClaim
		// findings: at least so many; figures: exactly so many (0: not counted).
		findings, figures int
	}{
		{name: "TestGrokkingOnGoBackend", notebook: "notebooks/grokking_stablemax.ipynb", params: smoke,
			profile: "smoke", record: grokkingRecord("smoke")},
		{name: "TestSNSOnGoBackend", notebook: "notebooks/sinkhorn_newton_sparse.ipynb", params: smoke,
			profile: "smoke", record: snsRecord("smoke")},
		{name: "TestTrActOnGoBackend", notebook: "notebooks/tract.ipynb", params: smoke,
			profile: "smoke", record: tractRecord("smoke")},
		{name: "TestColBERTOnGoBackend", notebook: "notebooks/colbert_projections.ipynb", params: smoke,
			profile: "smoke", legacy: []legacyClaim{}, findings: 11, figures: 2},
		{name: "TestMultiDeviceOnGoBackend", notebook: "notebooks/multidevice.ipynb", params: smoke,
			profile: "smoke", legacy: []legacyClaim{}, findings: 4, figures: 2},
		{name: "TestTourOnGoBackend", notebook: "notebooks/00_tour.ipynb", profile: "quick", figures: 2},
		{name: "TestTourSmokeOnGoBackend", notebook: "notebooks/00_tour.ipynb", params: smoke,
			profile: "smoke", legacy: []legacyClaim{{"softmax on the backend vs float64", "<= 1e-06"}}, findings: 3, figures: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			args := append([]string{"--backend", "go"}, tc.params...)
			var nb *ipynb.Notebook
			var r *notebook.Result
			if tc.legacy != nil {
				nb, r = executeNotebook(t, tc.notebook, args...)
				checkLegacyClaims(t, r, tc.legacy)
			} else {
				nb, r = runNotebook(t, tc.notebook, args...)
			}
			if r.Backend != "go" || r.Profile != tc.profile {
				t.Errorf("RESULT backend %q profile %q, want go %s", r.Backend, r.Profile, tc.profile)
			}
			if tc.record != nil {
				checkRecord(t, r, tc.record)
			}
			if len(r.Findings) < tc.findings {
				t.Errorf("%d findings, want ≥ %d", len(r.Findings), tc.findings)
			}
			if figs := nb.Figures(); tc.figures > 0 && len(figs) != tc.figures {
				t.Errorf("%d figures, want %d", len(figs), tc.figures)
			}
		})
	}
}

// legacyClaim is what an end-to-end test expects of an asserted claim of a
// notebook that does not pre-register its claims yet: the start of its name
// (the rest holds measured numbers) and its threshold.
type legacyClaim struct{ prefix, tolerance string }

// checkLegacyClaims compares a RESULT's asserted claims, in order, with the
// expected names and thresholds; each must hold.
func checkLegacyClaims(t *testing.T, r *notebook.Result, want []legacyClaim) {
	t.Helper()
	if len(r.Claims) != len(want) {
		t.Errorf("%d claims, want %d", len(r.Claims), len(want))
	}
	for i, w := range want {
		if i >= len(r.Claims) {
			break
		}
		c := r.Claims[i]
		if !strings.HasPrefix(c.Name, w.prefix) || formatValue(c.Tolerance) != w.tolerance || !c.Holds || c.Preregistered() {
			t.Errorf("claim %d: %q %v holds %v, want %q… %s holding", i, c.Name, c.Tolerance, c.Holds, w.prefix, w.tolerance)
		}
	}
}

// wantClaim is what an end-to-end test expects of one pre-registered claim
// in a RESULT line: its threshold and its status, measured and recorded.
type wantClaim struct {
	id, threshold, status string
}

// checkRecord compares a RESULT's pre-registered claims with the record the
// test expects: the same IDs in the same order, thresholds and statuses.
func checkRecord(t *testing.T, r *notebook.Result, want []wantClaim) {
	t.Helper()
	if len(r.Claims) != len(want) {
		t.Errorf("%d claims, want %d", len(r.Claims), len(want))
	}
	for i, w := range want {
		if i >= len(r.Claims) {
			break
		}
		c := r.Claims[i]
		if c.ID != w.id || formatValue(c.Tolerance) != w.threshold || c.Status != w.status || c.Expected != w.status {
			t.Errorf("claim %d: %s %v measured %q recorded %q, want %s %s %q", i, c.ID, c.Tolerance, c.Status, c.Expected, w.id, w.threshold, w.status)
		}
	}
}

// tractRecord is the TrAct notebook's claim record at a profile, as this
// test pins it: a change to the record must change this test too.
func tractRecord(profile string) []wantClaim {
	const n = "not replicated" // the CIFAR claims are not measured below full; the digits ones did not replicate
	statuses := map[string][]string{
		"smoke": {n, n, n, n, n, n, n, n},
		"quick": {n, n, n, n, n, n, n, n},
	}[profile]
	ids := []wantClaim{{"cnn-speedup", ">= 1.25", ""}, {"cnn-accuracy", "> 0", ""}, {"vit-speedup", ">= 1.25", ""}, {"vit-accuracy", "> 0", ""},
		{"resnet18-cifar10-speedup", ">= 4", ""}, {"resnet18-cifar10-accuracy", "> 0", ""}, {"vit-cifar10-speedup", ">= 2", ""}, {"resnet18-cifar100-accuracy", "> 0", ""}}
	for i := range ids {
		ids[i].status = statuses[i]
	}
	return ids
}

// minilmRecord is colbert_minilm's claim record at a profile, as this test
// pins it: a change to the record must change this test too.
func minilmRecord(profile string) []wantClaim {
	const n = "not replicated"
	statuses := map[string][]string{
		"smoke": {n, n},
		"quick": {n, n},
	}[profile]
	ids := []wantClaim{{"named-variant-gain", "> 2", ""}, {"named-variant-gain-beir", "> 2", ""}}
	for i := range ids {
		ids[i].status = statuses[i]
	}
	return ids
}

// grokkingRecord is the grokking notebook's claim record at a profile, as
// this test pins it: a change to the record must change this test too.
func grokkingRecord(profile string) []wantClaim {
	const r, n = "replicated", "not replicated"
	statuses := map[string][]string{
		"smoke": {r, n, r, n, n, r, n, n, r, n},
		"quick": {r, r, r, r, r, r, n, r, r, r},
	}[profile]
	ids := []wantClaim{
		{"softmax32-overfits", "<= 0.2", ""}, {"softmax32-collapses", ">= 0.5", ""}, {"collapse-rises", "> 0", ""},
		{"float64-collapses-later", "> 0", ""}, {"float16-collapses-sooner", "> 0", ""}, {"nlm-alignment", ">= 0.9", ""},
		{"stablemax-groks", ">= 0.9", ""}, {"stablemax-no-collapse", "<= 0.01", ""}, {"orthograd-generalises", ">= 0.95", ""},
		{"orthograd-beats-adamw", "> 0", ""},
	}
	for i := range ids {
		ids[i].status = statuses[i]
	}
	return ids
}

// snsRecord is the SNS notebook's claim record at a profile, as this test
// pins it: a change to the record must change this test too.
func snsRecord(profile string) []wantClaim {
	const r, n = "replicated", "not replicated"
	statuses := map[string][]string{
		"smoke": {r, r, n, r},
		"quick": {r, r, n, r},
	}[profile]
	ids := []wantClaim{{"assignment-iterations", ">= 100", ""}, {"assignment-same-solution", "<= 1e-08", ""},
		{"w1-iterations", ">= 3.7", ""}, {"w1-same-solution", "<= 1e-08", ""}}
	for i := range ids {
		ids[i].status = statuses[i]
	}
	return ids
}

// TestPreregisteredStatusFlip: the fixture's record passes as written
// (one claim replicated, one not, both as recorded); flipping one recorded
// status in a copy makes gorepro run fail with a line naming the claim, the
// recorded and the measured status.
func TestPreregisteredStatusFlip(t *testing.T) {
	needE2E(t)
	_, r := runNotebook(t, "tests/notebooks/preregistered.ipynb")
	checkRecord(t, r, []wantClaim{{"accuracy", ">= 0.9", "replicated"}, {"gain", "> 0.02", "not replicated"}})
	src, err := os.ReadFile(filepath.Join(root, "tests", "notebooks", "preregistered.ipynb"))
	if err != nil {
		t.Fatal(err)
	}
	flipped := strings.Replace(string(src), `\"quick\": \"replicated\"`, `\"quick\": \"not replicated: flipped by the test\"`, 1)
	if flipped == string(src) {
		t.Fatal("the fixture no longer has the status this test flips")
	}
	dir := t.TempDir()
	copyPath := filepath.Join(dir, "preregistered.ipynb")
	if err := os.WriteFile(copyPath, []byte(flipped), 0o644); err != nil {
		t.Fatal(err)
	}
	out := t.TempDir()
	res := runCmd(t, gorepro, "run", "--out", out, copyPath)
	if res.code == 0 {
		t.Fatalf("a flipped status passed:\n%s\n%s", res.stdout, res.stderr)
	}
	want := `claim "accuracy": recorded "not replicated", measured "replicated"`
	if !strings.Contains(res.stdout+res.stderr, want) {
		t.Errorf("output does not name the claim (%q):\n%s\n%s", want, res.stdout, res.stderr)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil || !strings.Contains(string(md), want) || !strings.Contains(string(md), "replicated 1 of 2 pre-registered") {
		t.Errorf("report.md (%v) lacks the claim line or the k of n summary:\n%s", err, md)
	}
}

// TestStockPapermill runs the tour with the papermill CLI itself: the Go
// translator is registered by the installed gorepro-papermill package.
func TestStockPapermill(t *testing.T) {
	needE2E(t)
	out := filepath.Join(t.TempDir(), "out.ipynb")
	res := runCmd(t, filepath.Join(root, ".venv", "bin", "papermill"), "notebooks/00_tour.ipynb", out, "-p", "seed", "7", "-p", "profile", "quick")
	if res.code != 0 {
		t.Fatalf("papermill exited %d\n%s", res.code, res.stderr)
	}
	nb, r := executedResult(t, out)
	checkClaims(t, r)
	if src := injectedSource(nb); !strings.Contains(src, "seed = 7") || !strings.Contains(src, `profile = "quick"`) {
		t.Errorf("injected parameters cell = %q", src)
	}
}

// TestBadInput: every mistake is one line on stderr and a non-zero exit.
func TestBadInput(t *testing.T) {
	needE2E(t)
	tour := "notebooks/00_tour.ipynb"
	tests := []struct {
		name string
		args []string
		want string
	}{
		{"unknown backend", []string{"run", "--backend", "tpu", tour}, `unknown backend "tpu"`},
		{"missing plugin", []string{"run", "--backend", "xla:cuda", tour}, "PJRT plugin for xla:cuda not found"},
		{"missing notebook", []string{"run", "notebooks/nope.ipynb"}, "notebook notebooks/nope.ipynb not found"},
		{"malformed -p", []string{"run", "-p", "seed", tour}, `malformed -p "seed": want name=value`},
		{"undeclared parameter", []string{"run", "-p", "epochs=3", tour}, `parameter "epochs" is not declared by the notebook`},
		{"wrong type", []string{"run", "-p", "seed=abc", tour}, `parameter seed (int): "abc" is not an integer`},
		{"no notebook", []string{"run"}, "no notebook given"},
		{"unknown command", []string{"frobnicate"}, `unknown command "frobnicate"`},
		{"error cell", []string{"run", "--out", t.TempDir(), "tests/notebooks/error_cell.ipynb"}, "1 of 1 notebooks failed (error_cell.ipynb)"},
		{"failing claim", []string{"run", "--out", t.TempDir(), "tests/notebooks/failing_claim.ipynb"}, "1 of 1 notebooks failed (failing_claim.ipynb)"},
		{"value outside the allowed ones", []string{"run", "-p", "profile=fast", tour}, `parameter profile = "fast": want one of smoke, quick, full`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			res := runCmd(t, gorepro, tc.args...)
			if res.code == 0 {
				t.Fatalf("exit 0, want an error\n%s", res.stdout)
			}
			lines := strings.Split(strings.TrimSpace(res.stderr), "\n")
			if tc.name == "no notebook" { // usage text, then the error line
				lines = lines[len(lines)-1:]
			}
			if len(lines) != 1 || !strings.HasPrefix(lines[0], "gorepro: ") || !strings.Contains(lines[0], tc.want) {
				t.Errorf("stderr = %q, want one line containing %q", res.stderr, tc.want)
			}
			for _, bad := range []string{"goroutine ", "Traceback", "panic:"} {
				if strings.Contains(res.stderr, bad) {
					t.Errorf("stderr has %q:\n%s", bad, res.stderr)
				}
			}
		})
	}
}

// TestFailureDetailsInReport: the report says which cell failed and why.
func TestFailureDetailsInReport(t *testing.T) {
	needE2E(t)
	out := t.TempDir()
	res := runCmd(t, gorepro, "run", "--out", out, "tests/notebooks/error_cell.ipynb", "tests/notebooks/failing_claim.ipynb", "-p", "profile=fast", "notebooks/00_tour.ipynb")
	if res.code == 0 {
		t.Fatal("exit 0")
	}
	if !strings.Contains(res.stderr, `parameter "profile"`) {
		t.Errorf("stderr should name the parameter the notebooks do not declare: %q", res.stderr)
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err == nil {
		t.Fatalf("the run should stop before executing: -p profile applies to notebooks without that parameter\n%s", md)
	}
	res = runCmd(t, gorepro, "run", "--out", out, "tests/notebooks/error_cell.ipynb", "tests/notebooks/failing_claim.ipynb")
	if res.code == 0 {
		t.Fatal("exit 0")
	}
	md, err = os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"**Failed:** code cell 2 failed:", "undefinedFunction",
		"**Failed:** claims do not hold: test accuracy (paper 0.99, ours 0.42)", "| test accuracy | 0.99 | 0.42 | >= 0.95 | **no** |",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	if !strings.Contains(res.stdout, "error_cell.ipynb: FAILED: code cell 2 failed") {
		t.Errorf("stdout:\n%s", res.stdout)
	}
}

// TestDoctorJSON: doctor finds go and xla:cpu after make setup.
func TestDoctorJSON(t *testing.T) {
	needE2E(t)
	res := runCmd(t, gorepro, "doctor", "--json")
	if res.code != 0 {
		t.Fatalf("doctor exited %d: %s", res.code, res.stderr)
	}
	var doc struct {
		Backends []struct {
			Name      string `json:"name"`
			Available bool   `json:"available"`
			Plugin    string `json:"plugin"`
			PJRT      string `json:"pjrt_version"`
		} `json:"backends"`
		Versions    map[string]string `json:"versions"`
		Kernelspecs map[string]string `json:"kernelspecs"`
		Problems    []string          `json:"problems"`
	}
	if err := json.Unmarshal([]byte(res.stdout), &doc); err != nil {
		t.Fatal(err)
	}
	avail := map[string]bool{}
	for _, b := range doc.Backends {
		avail[b.Name] = b.Available
		if b.Name == "xla:cpu" && (b.Plugin == "" || b.PJRT == "") {
			t.Errorf("xla:cpu without plugin path or PJRT version: %+v", b)
		}
	}
	if !avail["go"] || !avail["xla:cpu"] {
		t.Errorf("available: %v, want go and xla:cpu", avail)
	}
	for _, k := range []string{"papermill", "jupyterlab", "gonb (kernel)"} {
		if v := doc.Versions[k]; v == "" || v == "missing" {
			t.Errorf("version of %s: %q", k, v)
		}
	}
	// The binary's module versions are exactly go.mod's pins.
	data, err := os.ReadFile(filepath.Join(root, "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	mod, err := modfile.Parse("go.mod", data, nil)
	if err != nil {
		t.Fatal(err)
	}
	pins := map[string]string{}
	for _, r := range mod.Require {
		pins[r.Mod.Path] = r.Mod.Version
	}
	for name, module := range map[string]string{"gomlx": "github.com/gomlx/gomlx", "gomlx/compute": "github.com/gomlx/compute",
		"go-xla": "github.com/gomlx/go-xla", "gonb (library)": "github.com/janpfeifer/gonb", "gonum/plot": "gonum.org/v1/plot"} {
		if got, want := doc.Versions[name], pins[module]; got != want || want == "" {
			t.Errorf("doctor reports %s %q; go.mod pins %s %q", name, got, module, want)
		}
	}
	if doc.Kernelspecs["gorepro"] == "" || doc.Kernelspecs["gonb"] == "" {
		t.Errorf("kernelspecs: %v", doc.Kernelspecs)
	}
	if len(doc.Problems) > 0 {
		t.Errorf("problems: %v", doc.Problems)
	}
}

// TestRunJobsGrid: a sweep `-p seed=1,2` run two at a time writes one report
// with both runs, each executed notebook in its own file, and `gorepro report`
// merges that directory back into the same two runs.
func TestRunJobsGrid(t *testing.T) {
	needE2E(t)
	out := t.TempDir()
	res := runCmd(t, gorepro, "run", "--jobs", "2", "--out", out, "-p", "seed=1,2", "notebooks/00_tour.ipynb")
	if res.code != 0 {
		t.Fatalf("gorepro run exited %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	for _, seed := range []string{"1", "2"} {
		nb, r := executedResult(t, filepath.Join(out, "runs", "00_tour", "seed="+seed+".ipynb"))
		checkClaims(t, r)
		if src := injectedSource(nb); !strings.Contains(src, "seed = "+seed) {
			t.Errorf("seed=%s: injected parameters cell = %q", seed, src)
		}
		if !strings.Contains(res.stdout, "  [00_tour seed="+seed+"] RESULT {") ||
			!strings.Contains(res.stdout, "gorepro run: 00_tour.ipynb [seed="+seed+"]: ok") {
			t.Errorf("stdout lacks seed=%s's prefixed lines:\n%s", seed, res.stdout)
		}
	}
	md, err := os.ReadFile(filepath.Join(out, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"| [00_tour.ipynb](runs/00_tour/seed=1.ipynb) | seed=1 | ok | xla:cpu | quick | 3/3 held (not pre-registered) |",
		"| [00_tour.ipynb](runs/00_tour/seed=2.ipynb) | seed=2 | ok | xla:cpu | quick | 3/3 held (not pre-registered) |",
		"## 00_tour.ipynb: 2 runs", "## 00_tour.ipynb (seed=1)", "## 00_tour.ipynb (seed=2)",
	} {
		if !strings.Contains(string(md), want) {
			t.Errorf("report.md lacks %q:\n%s", want, md)
		}
	}
	merged := filepath.Join(t.TempDir(), "merged.md")
	res = runCmd(t, gorepro, "report", "-o", merged, out)
	if res.code != 0 {
		t.Fatalf("gorepro report exited %d\n%s\n%s", res.code, res.stdout, res.stderr)
	}
	if !strings.Contains(res.stdout, "gorepro report: 2 runs;") {
		t.Errorf("gorepro report:\n%s", res.stdout)
	}
}

// formatValue prints a claim value as gorepro's report does; "–" for none.
func formatValue(v any) string {
	if s := notebook.FormatValue(v); s != "" {
		return s
	}
	return "–"
}
