// Package install sets up a checkout for notebooks: it builds GoNB, goimports
// and gopls from the tools module's `tool` directives into the venv, writes the
// Jupyter kernelspecs `gorepro` ("Go (gorepro)") and GoNB's own `gonb` inside
// the venv, and primes Go's build cache so the first GoMLX cell compiles in
// seconds instead of a minute.
package install

import (
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
	"unicode"

	"github.com/gorepro/gorepro/kernel/internal/project"
	"github.com/gorepro/gorepro/lib/checkout"
)

// KernelName is the kernelspec name notebooks use.
const KernelName = "gorepro"

// KernelSpec is a Jupyter kernel.json.
type KernelSpec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode,omitempty"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// Install runs every step, logging progress to w. A failed step's whole
// output goes to build/logs/setup-<step>.log; the error is one line naming
// the step, the last line of its output, the log and the command to rerun.
func Install(p *project.Project, w io.Writer) error {
	if err := p.NeedVenv(); err != nil {
		return err
	}
	steps := []struct {
		name, slug string
		fn         func(*project.Project) error
	}{
		{"download the pinned Go modules (go mod download)", "download-modules", DownloadModules},
		{"build GoNB, goimports and gopls (kernel/tools)", "build-tools", BuildTools},
		{"write kernelspec " + KernelName, "kernelspec", WriteKernelSpec},
		{"install GoNB's own kernelspec gonb", "gonb-kernelspec", InstallGoNBKernelSpec},
		{"prime the Go build cache (lib/ and the backends)", "prime-cache", PrimeCache},
	}
	for _, s := range steps {
		start := time.Now()
		fmt.Fprintf(w, "gorepro install: %s ...\n", s.name)
		if err := s.fn(p); err != nil {
			return stepFailed(p, s.name, s.slug, err)
		}
		fmt.Fprintf(w, "gorepro install: %s: done in %.1fs\n", s.name, time.Since(start).Seconds())
	}
	return nil
}

// commandError is a failed command with everything it printed.
type commandError struct {
	command string
	err     error
	output  string
}

func (e *commandError) Error() string { return fmt.Sprintf("%s: %v", e.command, e.err) }

func (e *commandError) Unwrap() error { return e.err }

// stepFailed writes the failed step's output to build/logs/setup-<slug>.log and
// returns one line: the step, what went wrong, the log, and how to rerun.
func stepFailed(p *project.Project, name, slug string, err error) error {
	detail := err.Error()
	var cmdErr *commandError
	if errors.As(err, &cmdErr) {
		if last := lastMeaningfulLine(cmdErr.output); last != "" {
			detail = last
		}
		logPath := filepath.Join(p.Root, "build", "logs", "setup-"+slug+".log")
		text := fmt.Sprintf("$ %s\n%v\n\n%s\n", cmdErr.command, cmdErr.err, cmdErr.output)
		if mkErr := os.MkdirAll(filepath.Dir(logPath), 0o755); mkErr == nil && os.WriteFile(logPath, []byte(text), 0o644) == nil {
			detail += "; full output in " + logPath
		}
	}
	return fmt.Errorf("setup step %q failed: %s; rerun it with: %s install (or make setup)", name, oneLine(detail), p.Bin("gorepro"))
}

// lastMeaningfulLine is the last line of out with letters in it (papermill
// ends with the cell's error, after a traceback and a row of dashes).
func lastMeaningfulLine(out string) string {
	lines := strings.Split(strings.TrimSpace(out), "\n")
	for i := len(lines) - 1; i >= 0; i-- {
		line := strings.TrimSpace(lines[i])
		if strings.IndexFunc(line, unicode.IsLetter) >= 0 {
			return line
		}
	}
	return ""
}

func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

func runIn(dir string, env []string, name string, args ...string) error {
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	out, err := cmd.CombinedOutput()
	if err != nil {
		return &commandError{command: name + " " + strings.Join(args, " "), err: err, output: strings.TrimSpace(string(out))}
	}
	return nil
}

// DownloadModules fetches every module go.mod pins into the module cache.
// Notebook cells compile in GoNB's workspace mode, which reads the go.mod of
// every module the project requires, and the kernel runs with GOPROXY=off: so
// everything a cell may need is fetched here, at the pinned versions, once.
func DownloadModules(p *project.Project) error {
	return runIn(p.Root, p.Env(), "go", "mod", "download")
}

// BuildTools builds the pinned tools into the venv's bin directory.
func BuildTools(p *project.Project) error {
	env := append(p.Env(), "GOBIN="+filepath.Join(p.Venv, "bin"))
	return runIn(filepath.Join(p.Root, "kernel", "tools"), env, "go", "install", "tool")
}

// kernelEnv is the environment the kernel runs with: the venv's tools and Go on
// PATH, the project's location, and go-xla's downloader off.
func kernelEnv(p *project.Project) map[string]string {
	path := []string{filepath.Join(p.Venv, "bin")}
	if goBin, err := exec.LookPath("go"); err == nil {
		if real, err := filepath.EvalSymlinks(goBin); err == nil {
			goBin = real
		}
		path = append(path, filepath.Dir(goBin))
	}
	path = append(path, "/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin")
	return map[string]string{
		"PATH":                  strings.Join(path, string(os.PathListSeparator)),
		checkout.EnvRoot:        p.Root,
		checkout.EnvVenv:        p.Venv,
		"GOMLX_NO_AUTO_INSTALL": "1",
		"GOTOOLCHAIN":           "local",
		// Cells compile against go.mod's pins, from the module cache that
		// setup filled (DownloadModules), with GoNB's auto-get off (the
		// kernel sends %noautoget): no cell may resolve a module by query.
		"GOPROXY": "off",
		// The proxy in force at setup, for %%require, the deliberate way to
		// add a module: without credentials (a proxy that needs them finds
		// them in ~/.netrc or $GOAUTH, as the go command documents).
		"GOREPRO_GOPROXY": withoutCredentials(goEnv(p, "GOPROXY")),
	}
}

// withoutCredentials is a GOPROXY list with the user information (user or
// user:password, before an @) taken out of every URL in it, so that
// kernel.json never holds a secret. The list's separators (',' and '|') and
// its keywords (direct, off) stay as they are; entries need no scheme (the go
// command reads "user:pw@host/path" as https).
func withoutCredentials(proxyList string) string {
	var b strings.Builder
	for {
		i := strings.IndexAny(proxyList, ",|")
		if i < 0 {
			b.WriteString(stripUserinfo(proxyList))
			return b.String()
		}
		b.WriteString(stripUserinfo(proxyList[:i]))
		b.WriteByte(proxyList[i])
		proxyList = proxyList[i+1:]
	}
}

// stripUserinfo removes "userinfo@" from one URL's authority: the part after
// "scheme://" (or from the start, without a scheme) up to the first '/', '?'
// or '#'. The userinfo may itself hold '@' (unescaped): the last '@' of the
// authority ends it.
func stripUserinfo(u string) string {
	start := 0
	if i := strings.Index(u, "://"); i >= 0 {
		start = i + len("://")
	}
	end := len(u)
	if i := strings.IndexAny(u[start:], "/?#"); i >= 0 {
		end = start + i
	}
	at := strings.LastIndexByte(u[start:end], '@')
	if at < 0 {
		return u
	}
	return u[:start] + u[start+at+1:]
}

// goEnv is `go env NAME` as the project's commands see it ("" if go fails).
func goEnv(p *project.Project, name string) string {
	cmd := exec.Command("go", "env", name)
	cmd.Dir, cmd.Env = p.Root, p.Env()
	out, err := cmd.Output()
	if err != nil {
		return ""
	}
	return strings.TrimSpace(string(out))
}

// GoNBArgs are the arguments that make GoNB resolve this checkout's packages.
func GoNBArgs(p *project.Project) []string {
	return []string{"--go_work=" + p.Root}
}

// WriteKernelSpec writes the gorepro kernelspec into the venv's Jupyter data
// directory: the gorepro kernel (the proxy in front of GoNB, with plugin cells).
func WriteKernelSpec(p *project.Project) error {
	spec := KernelSpec{
		Argv:          []string{p.Bin("gorepro"), "kernel", "--connection-file", "{connection_file}"},
		DisplayName:   "Go (gorepro)",
		Language:      "go",
		InterruptMode: "message",
		Env:           kernelEnv(p),
		Metadata:      map[string]any{"gorepro_root": p.Root},
	}
	return writeSpec(filepath.Join(p.JupyterData(), "kernels", KernelName), spec)
}

func writeSpec(dir string, spec KernelSpec) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	data, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return err
	}
	return writePrivate(filepath.Join(dir, "kernel.json"), append(data, '\n'))
}

// writePrivate writes a file only its owner can read (0600), a file that
// existed with wider permissions included: a kernelspec holds the kernel's
// environment.
func writePrivate(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	err = f.Chmod(0o600)
	if err == nil {
		_, err = f.Write(data)
	}
	if closeErr := f.Close(); err == nil {
		err = closeErr
	}
	return err
}

// InstallGoNBKernelSpec runs `gonb --install` into the venv and gives it the same environment.
func InstallGoNBKernelSpec(p *project.Project) error {
	env := append(p.Env(), "JUPYTER_DATA_DIR="+p.JupyterData())
	args := append([]string{"--install"}, GoNBArgs(p)...)
	if err := runIn(p.Root, env, p.Bin("gonb"), args...); err != nil {
		return err
	}
	path := filepath.Join(p.JupyterData(), "kernels", "gonb", "kernel.json")
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	var spec KernelSpec
	if err := json.Unmarshal(data, &spec); err != nil {
		return fmt.Errorf("reading %s: %w", path, err)
	}
	spec.Env = kernelEnv(p)
	return writeSpec(filepath.Dir(path), spec)
}

//go:embed warmup.ipynb
var warmupNotebook []byte

// PrimeCache compiles lib/, then runs a one-cell warm-up notebook on the
// gorepro kernel: GoNB builds it exactly as it builds notebook cells (so the
// compiled packages land in Go's build cache) and gopls indexes the workspace
// once. Unprimed, the first GoMLX cell of a notebook took 75 s on 2 cores.
func PrimeCache(p *project.Project) error {
	if err := runIn(p.Root, p.Env(), "go", "build", "./lib/..."); err != nil {
		return err
	}
	dir, err := os.MkdirTemp("", "gorepro-warmup-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)
	in, out := filepath.Join(dir, "warmup.ipynb"), filepath.Join(dir, "warmup.out.ipynb")
	if err := os.WriteFile(in, warmupNotebook, 0o644); err != nil {
		return err
	}
	return runIn(p.Root, p.Env(), p.Bin("papermill"), in, out, "-k", KernelName, "--cwd", p.Root, "--no-progress-bar")
}
