# Build, test and demo entry points. CI runs `bash .ci/run`, which runs `make test`.
#
# Everything Python (moto, boto3, cargo-lambda, the Genesys SDK, pytest) lives in .venv, pinned by
# tests/requirements.txt + tests/constraints.txt: nothing installed by hand is relied on.

SHELL := bash
.SHELLFLAGS := -eu -o pipefail -c
.DEFAULT_GOAL := test
MAKEFLAGS += --no-print-directory

PYTHON ?= python3
CARGO ?= cargo
VENV := .venv
STAMP := $(VENV)/.installed
REQUIREMENTS := tests/requirements.txt tests/constraints.txt

# Fixed cache directory inside the repo (gitignored via /.run): pip's wheel cache and zig's cache
# (cargo-lambda cross builds), which otherwise rebuilds everything each time it moves.
export XDG_CACHE_HOME := $(CURDIR)/.run/cache
export PIP_DISABLE_PIP_VERSION_CHECK := 1
export PIP_NO_INPUT := 1

# Used by the Rust integration tests (one moto per test binary) and the Python SDK fidelity test.
MOTO_SERVER_BIN := $(CURDIR)/$(VENV)/bin/moto_server
GENESYS_EMULATOR_BIN := $(CURDIR)/target/debug/genesys-emulator

.PHONY: venv build test demo lint clean

## venv: .venv with the pinned Python tooling (reinstalled only when the requirement files change)
venv: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	rm -rf $(VENV)
	mkdir -p $(XDG_CACHE_HOME)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r tests/requirements.txt -c tests/constraints.txt
	$(VENV)/bin/python -m pip check
	touch $@

## build: every binary of the workspace (debug)
build:
	$(CARGO) build --workspace --bins

## test: venv, build, all Rust tests (nextest if present), then the Python SDK fidelity test
test: venv
	$(CARGO) build --workspace --bins
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
		MOTO_SERVER_BIN=$(MOTO_SERVER_BIN) $(CARGO) nextest run --workspace --no-fail-fast; \
	else \
		echo "cargo-nextest not found: falling back to cargo test"; \
		MOTO_SERVER_BIN=$(MOTO_SERVER_BIN) $(CARGO) test --workspace --no-fail-fast; \
	fi
	GENESYS_EMULATOR_BIN=$(GENESYS_EMULATOR_BIN) MOTO_SERVER_BIN=$(MOTO_SERVER_BIN) \
		$(VENV)/bin/pytest -q tests/sdk_fidelity

## demo: three rotations by the real `rotation` binary under `cargo lambda watch`, against moto
## and the Genesys emulator, all on 127.0.0.1
demo: venv build
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python tests/demo/demo.py

## lint: formatting and clippy, warnings are errors
lint:
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets -- -D warnings

## clean: build output, the venv and run files (logs, caches)
clean:
	$(CARGO) clean
	rm -rf $(VENV) .run
