#!/usr/bin/env bash
# run.sh — on the GPU machine, from the bundle bundle.sh wrote: run every
# bundled notebook's full profile on xla:cuda at full float32 and write the
# results (executed notebook, RESULT line, figures, logs, report) under OUT.
#
#   ./run.sh [OUT] [TIMEOUT_SECONDS_PER_CELL]
#
# The CUDA PJRT plugin is found as lib/backends finds it (a pip-installed
# jax-cuda plugin, $GOREPRO_XLA_CUDA_PLUGIN, $PJRT_PLUGIN_LIBRARY_PATH).
# Exit status: non-zero when a notebook failed or a claim's status differs
# from its record (each notebook's log says which).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/results}
timeout=${2:-3000}
profile=${PROFILE:-full}                  # PROFILE=smoke BACKEND=xla:cpu checks a bundle on a CPU
backend=${BACKEND:-xla:cuda,tf32=false}
mkdir -p "$out"
[ -d "$here/minilm" ] && export GOREPRO_MINILM_DIR="$here/minilm"
if [ -f "$here/goroot.tar.gz" ]; then
	GOREPRO_GOROOT=$(mktemp -d) && tar -xzf "$here/goroot.tar.gz" -C "$GOREPRO_GOROOT" && export GOREPRO_GOROOT
fi
status=0
for exe in "$here"/bin/*; do
	[ -f "$exe" ] && [ -x "$exe" ] || continue
	name=$(basename "$exe")
	start=$(date +%s)
	"$exe" --profile "$profile" --backend "$backend" --timeout "$timeout" --out "$out" > "$out/$name.stdout" 2>&1
	rc=$?
	echo "$name: exit $rc, $(( $(date +%s) - start )) s; RESULT: $(grep -m1 -o 'RESULT .*' "$out/$name.stdout" | cut -c1-200)"
	[ $rc -eq 0 ] || status=1
done
exit $status
