// Command gorepro sets up and runs gorepro's notebooks.
//
//	gorepro doctor [--json]       what backends, plugins and tools were found, and why not
//	gorepro install               GoNB, goimports, gopls and the Jupyter kernelspecs, into the venv
//	gorepro run [flags] NB...     execute notebooks headless (papermill) and write a report
//	gorepro lab                   JupyterLab on notebooks/, bound to loopback
//
// Every failure is one line on stderr and a non-zero exit.
package main

import (
	"fmt"
	"os"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "gorepro:", err)
		os.Exit(exitCode(err))
	}
}
