# One entry point: `make run` starts the platform, `make test` runs every test.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
export VIRTUAL_ENV := $(abspath $(VENV))
export PATH := $(abspath $(BIN)):$(HOME)/.cargo/bin:$(PATH)

NATIVE_SRC := $(shell find native -name '*.rs' -o -name 'Cargo.toml' -o -name '*.pyi' -o -name 'pyproject.toml' 2>/dev/null) Cargo.toml
INSTALLED := $(VENV)/.installed
NATIVE := $(VENV)/.native

.PHONY: lock run test lint fmt fuzz bench bench-parser bench-ingest bench-import bench-memory loadtest system-deps cargo-test pytest imports clean

run: $(INSTALLED) $(NATIVE)
	$(BIN)/racedisplay run --demo

$(VENV)/bin/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(INSTALLED): $(VENV)/bin/python pyproject.toml constraints.txt
	$(BIN)/pip install --quiet -c constraints.txt -e '.[dev]'
	touch $@

$(NATIVE): $(INSTALLED) $(NATIVE_SRC)
	$(BIN)/maturin develop --quiet --release -m native/ct_parser/py/Cargo.toml
	touch $@

# Test-only system packages: a real Redis server and Debian's Chromium for browser tests.
system-deps:
	@missing=""; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	[ -x /usr/bin/chromium ] || missing="$$missing chromium"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    echo "installing$$missing"; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	  else \
	    echo "missing$$missing: run 'sudo apt-get install$$missing' (tests that need them will say so)"; \
	  fi; \
	fi

cargo-test:
	cargo test --quiet --workspace --exclude ct_parser_py

imports: $(INSTALLED)
	$(BIN)/lint-imports

pytest: $(INSTALLED) $(NATIVE)
	$(BIN)/pytest -q -p no:cacheprovider

test: system-deps $(INSTALLED) $(NATIVE) cargo-test imports pytest

lint: $(INSTALLED)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	cargo fmt --all --check
	cargo clippy --quiet --all-targets -- -D warnings

fmt: $(INSTALLED)
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .
	cargo fmt --all

# Each benchmark rewrites its own section of docs/benchmarks.md; `bench` regenerates them all.
bench: bench-parser bench-ingest bench-import bench-memory

bench-parser: $(INSTALLED) $(NATIVE)
	$(BIN)/python benchmarks/bench_parser.py

bench-ingest: $(INSTALLED) $(NATIVE)
	$(BIN)/python benchmarks/bench_ingest.py

bench-import: $(INSTALLED)
	$(BIN)/python benchmarks/bench_import.py

bench-memory: $(INSTALLED) $(NATIVE)
	$(BIN)/python benchmarks/bench_memory.py

# The Locust scenario of issue 6 against a platform it starts itself; report in loadtest-report/.
# Knobs: LOADTEST_DURATION, LOADTEST_SCREENS, LOADTEST_DISPLAYS, LOADTEST_POLLERS, … (loadtests/README.md).
loadtest: $(INSTALLED) $(NATIVE)
	$(BIN)/python loadtests/run.py

# A long fuzz run of the framing (make test runs the same properties with few cases).
fuzz: $(INSTALLED) $(NATIVE)
	PROPTEST_CASES=$${PROPTEST_CASES:-100000} cargo test --release -p ct_parser --test framing_torture
	HYPOTHESIS_MAX_EXAMPLES=$${HYPOTHESIS_MAX_EXAMPLES:-5000} $(BIN)/pytest -q -p no:cacheprovider \
	  --timeout=1800 tests/native/test_framing_torture.py

clean:
	rm -rf $(VENV) target .mypy_cache .ruff_cache .pytest_cache

lock: $(INSTALLED)
	{ echo '# Pinned versions of every Python dependency (pip freeze); refresh with `make lock`.'; \
	  $(BIN)/pip freeze --exclude-editable | grep -viE '^(ct.parser|racedisplay)'; } > constraints.txt
