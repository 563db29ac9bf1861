// Command gorepro-notebook is the driver of a notebook compiled by
// `gorepro build`: copied to DIR/<notebook>, it runs the cell programs in
// DIR/<notebook>.cells/ in order (see kernel/internal/built and docs/build.md).
package main

import (
	"fmt"
	"os"

	"github.com/gorepro/gorepro/kernel/internal/built"
)

func main() {
	exe, err := os.Executable()
	if err != nil {
		fmt.Fprintln(os.Stderr, "finding this executable:", err)
		os.Exit(1)
	}
	os.Exit(built.Main(exe, os.Args[1:], os.Stdout, os.Stderr))
}
