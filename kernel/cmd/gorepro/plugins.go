package main

// The in-tree plugins: each registers itself with kernel/plugin when imported.
import (
	_ "github.com/gorepro/gorepro/plugins/backend"
	_ "github.com/gorepro/gorepro/plugins/bench"
	_ "github.com/gorepro/gorepro/plugins/help"
	_ "github.com/gorepro/gorepro/plugins/params"
	_ "github.com/gorepro/gorepro/plugins/plot"
	_ "github.com/gorepro/gorepro/plugins/require"
)
