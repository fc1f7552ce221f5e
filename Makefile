# tokenmill: `make demo` and `make test` do all the set-up on a fresh machine (a .venv in this folder).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tokenmill-installed
DEMO_OUT ?= demo-out

.PHONY: install lint docs test test-fast demo bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: a plain `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet torch==2.13.0
	$(PY) -m pip install --quiet -e '.[test]'
	# Ahead-of-time build of the BPE kernels (optional: without a C compiler numba JITs them on first use).
	$(PY) -m operators.bpe || echo "tokenmill: BPE kernels not precompiled; numba will JIT them"
	touch $(STAMP)

install: $(STAMP)

# ruff (lint) on the whole tree, mypy on the data path (files in pyproject.toml): cheap, so every test run checks.
lint: install
	$(VENV)/bin/ruff check operators schemas pipelines benchmarks tests
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no tests: that is a failure here, never a silent pass.
test: install lint
	$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# README's config tables, generated from the configs --help renders (tests/pipelines/test_config_docs.py checks them).
docs: install
	$(PY) -m pipelines._config_docs

test-fast: install
	$(PY) -m pytest -q -m "not slow"

demo: install
	$(PY) pipelines/dna_bpe.py --input '../shared/data/dna/*' --output $(DEMO_OUT)

bench: install
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
