package main

// The stand-ins for what Generate puts into main.go; this file is not part
// of the generated cell.

// benchBackends are the backends to time, in order (the --backends flag).
var benchBackends = []string{"go"}

// benchRuns and benchWarmup are the timed and untimed runs per backend (-n, --warmup).
const benchRuns, benchWarmup = 3, 1

// setupStatements stands for the cell's statements before its //bench:timed
// line, run once per backend.
func setupStatements(backend any) { _ = backend }

// timedStatements stands for the cell's timed statements.
func timedStatements() {}
