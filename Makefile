# tokenmill: `make demo` and `make test` do all the set-up on a fresh machine (a .venv in this folder).
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.tokenmill-installed
BASE_STAMP := $(VENV)/.tokenmill-base-installed
DEMO_OUT ?= demo-out

.PHONY: install install-base lint format docs test test-fast demo bench clean cluster cluster-address cluster-stop image

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch==2.13.0 first: a plain `torch` requirement would pull a multi-GB CUDA build. TORCH_INDEX picks the wheel
# index (the Dockerfile passes PyTorch's CPU or CUDA one); empty = pip's configured index.
TORCH_INDEX ?=
# The base install (what `make demo` needs): tokenmill and its base dependencies, no extras.
$(BASE_STAMP): pyproject.toml | $(PY)
	$(PY) -m pip install --quiet torch==2.13.0 $(if $(TORCH_INDEX),--index-url $(TORCH_INDEX))
	$(PY) -m pip install --quiet -e .
	# Ahead-of-time build of the BPE kernels (optional: without a C compiler numba JITs them on first use).
	$(PY) -m tokenmill.operators.bpe || echo "tokenmill: BPE kernels not precompiled; numba will JIT them"
	touch $(BASE_STAMP)

# Everything (`make test`, CI): the base install plus the test extra, which pulls the transfer extra.
$(STAMP): pyproject.toml $(BASE_STAMP)
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

install-base: $(BASE_STAMP)

install: $(STAMP)

# The format check and ruff's wider rule set (pyproject.toml) on the whole tree, mypy on the files pyproject.toml
# names: cheap, so every test run checks. `make format` rewrites what the check would refuse.
LINT_TREE := operators schemas pipelines benchmarks tests tokenmill
lint: install
	$(VENV)/bin/ruff format --check $(LINT_TREE)
	$(VENV)/bin/ruff check $(LINT_TREE)
	$(VENV)/bin/mypy

# pytest exits 5 when it collected no tests: that is a failure here, never a silent pass.
test: install lint
	$(PY) -m pytest -q -p no:cacheprovider; rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "make test: pytest collected no tests" >&2; exit 1; fi; exit $$rc

# The docs site: regenerate the configuration reference from the config dataclasses (docs/reference/config.md;
# tests/pipelines/test_config_docs.py fails when it is stale), then build the site strictly into site/ (a warning
# is an error; tests/product/test_docs.py builds it the same way in make test).
docs: install
	$(PY) -m tokenmill.pipelines._config_docs
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict -d site

format: install
	$(VENV)/bin/ruff format $(LINT_TREE)
	$(VENV)/bin/ruff check --fix $(LINT_TREE)

test-fast: install
	$(PY) -m pytest -q -m "not slow"

# A Ray head on this machine whose jobs run with this .venv's python; cluster-stop stops that head only, every
# process and port it started (README, "Running on a Ray cluster"). RAY_HEAD_DIR holds its sockets and logs: keep
# the path short. Export RAY_AUTH_MODE (and RAY_AUTH_TOKEN) first: `make cluster` says so at once when they are
# missing. The head listens on RAY_HOST, loopback by default; RAY_HOST=0.0.0.0 (or this node's IP) for a real cluster.
RAY_HEAD_DIR ?= /tmp/tokenmill-head-$(shell id -u)
RAY_NUM_CPUS ?=
RAY_HOST ?= 127.0.0.1
cluster: install
	$(PY) -m tokenmill.operators.core.ray_head start --dir $(RAY_HEAD_DIR) --host $(RAY_HOST) $(if $(RAY_NUM_CPUS),--num-cpus $(RAY_NUM_CPUS))

cluster-address:
	@$(PY) -m tokenmill.operators.core.ray_head address --dir $(RAY_HEAD_DIR)

cluster-stop:
	$(PY) -m tokenmill.operators.core.ray_head stop --dir $(RAY_HEAD_DIR)

# The image deploy/ names (Dockerfile: what `make install` installs, CPU torch unless TORCH_INDEX says otherwise).
IMAGE ?= tokenmill:latest
image:
	docker build --build-arg TORCH_INDEX=$(or $(TORCH_INDEX),https://download.pytorch.org/whl/cpu) -t $(IMAGE) .

demo: install-base
	$(PY) pipelines/dna_bpe.py --input '../shared/data/dna/*' --output $(DEMO_OUT)

bench: install
	$(PY) -m pip install --quiet -e '.[test,bench]'
	@for b in benchmarks/[!_]*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf $(DEMO_OUT) .pytest_cache
