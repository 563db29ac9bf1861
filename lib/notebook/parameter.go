package notebook

import (
	"encoding/json"
	"fmt"
	"os"
)

// EnvBuildParams names the variable through which a notebook compiled by
// `gorepro build` receives its run's parameters: a JSON object of the values
// given on its command line (-p, --profile, --backend), already checked
// against the notebook's parameters cell as `gorepro run -p` checks them.
const EnvBuildParams = "GOREPRO_BUILD_PARAMS"

// Parameter is the value of the notebook parameter name for this run of a
// built notebook ($GOREPRO_BUILD_PARAMS), or def when the run does not set
// it or the program does not run as a built notebook. A built notebook's
// parameters cell declares each parameter as
//
//	var seed int = notebook.Parameter[int]("seed", 42)
//
// so a value set on the command line replaces the default as papermill's
// injected cell does in a kernel. A value that does not decode as T stops
// the cell with one line, as Must does.
func Parameter[T any](name string, def T) T {
	var values map[string]json.RawMessage
	if json.Unmarshal([]byte(os.Getenv(EnvBuildParams)), &values) != nil {
		return def
	}
	raw, ok := values[name]
	if !ok {
		return def
	}
	var v T
	if err := json.Unmarshal(raw, &v); err != nil {
		Must(fmt.Errorf("parameter %s = %s: %w", name, raw, err))
		return def
	}
	return v
}
