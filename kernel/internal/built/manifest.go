// Package built runs a notebook that `gorepro build` compiled: a driver
// executable DIR/<notebook> and, beside it, DIR/<notebook>.cells/ with one
// program per code cell, the notebook itself and manifest.json saying what
// to run in which order. The machine that runs it needs no Go, GoNB or
// Jupyter: the cells were compiled where those were.
//
// The driver reproduces what the gorepro kernel gives a cell: a private
// session directory shared by all the cells of a run ($GOREPRO_SESSION_DIR,
// for notebook.Set/Get), GoNB's display pipes ($GONB_PIPE, $GONB_PIPE_BACK:
// gonbui sees a notebook, displays are recorded and Sync is acknowledged),
// $GONB_DIR and $GONB_TMP_DIR. Parameters reach the cells as JSON in
// $GOREPRO_BUILD_PARAMS, validated first exactly as `gorepro run -p` does.
// The run writes the layout `gorepro run --out` writes and `gorepro report`
// merges: the executed notebook, its log with the RESULT line, the
// parameters beside it, the figures and report.md/html.
package built

import "github.com/gorepro/gorepro/lib/notebook"

// ManifestFile is the manifest's name in DIR/<notebook>.cells/.
const ManifestFile = "manifest.json"

// NotebookFile is the copy of the source notebook in DIR/<notebook>.cells/:
// parameters are checked against its parameters cell, and its cells receive
// the run's outputs in the executed copy.
const NotebookFile = "notebook.ipynb"

// EnvParams names the variable through which the driver hands the cells the
// run's parameters (a JSON object of the converted values), which
// notebook.Parameter reads.
const EnvParams = notebook.EnvBuildParams

// Manifest says what a built notebook runs.
type Manifest struct {
	// Notebook is the notebook's name without .ipynb ("00_tour").
	Notebook string `json:"notebook"`
	// Source is the notebook's path as given to gorepro build.
	Source string `json:"source"`
	// GoVersion is the toolchain the cells were compiled with.
	GoVersion string `json:"go_version"`
	// Cells are the notebook's cells that do something, in order.
	Cells []Cell `json:"cells"`
}

// Cell kinds.
const (
	// KindProgram runs Cell.Program (after showing Cell.Markdown, if any);
	// without a program the step only applies Cell.Env.
	KindProgram = "program"
	// KindBackend is a %%backend cell: with Cell.Backend it switches later
	// cells to that backend ($GOMLX_BACKEND), without it it shows the backend
	// this run resolves to.
	KindBackend = "backend"
)

// Cell is one step of the run.
type Cell struct {
	// Index is the cell's position among the notebook's cells, from 0.
	Index int `json:"index"`
	// Kind is KindProgram or KindBackend.
	Kind string `json:"kind"`
	// Program is the executable's name in the .cells directory.
	Program string `json:"program,omitempty"`
	// Markdown is shown as the cell's first output (a %%params cell's table).
	Markdown string `json:"markdown,omitempty"`
	// Backend is a %%backend cell's SPEC.
	Backend string `json:"backend,omitempty"`
	// Env are `%env NAME VALUE` settings the cell makes, for it and every later cell.
	Env map[string]string `json:"env,omitempty"`
}
