# Two commands set up and run everything on a fresh machine with only python3 and pip:
#   make demo   - runs the life cycle on embedded defaults (SQLite MLflow store, local files)
#   make test   - lint, type-check and run the test suite
# The first call installs uv (pinned) into .tools/ and the locked environment into .venv/.

PYTHON      ?= python3
UV_VERSION  := 0.13.8
TOOLS       := .tools
UV          := $(TOOLS)/bin/uv
VENV        := .venv
RUN         := $(VENV)/bin
STAMP       := $(VENV)/.synced

.PHONY: install browser wrk demo test lint typecheck pytest bench requirements bento clean

install: $(STAMP)

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet uv==$(UV_VERSION)

# uv sync --locked refuses to run when uv.lock no longer matches pyproject.toml,
# so CI never installs anything the lock file does not pin.
$(STAMP): pyproject.toml uv.lock | $(UV)
	UV_PROJECT_ENVIRONMENT=$(VENV) $(UV) sync --locked --python $$($(PYTHON) -c 'import sys; print(sys.executable)')
	touch $(STAMP)

demo: install
	$(RUN)/riskscan demo

# The import contracts (pyproject.toml, [tool.importlinter]) are the layer rules of the README's diagram.
lint: install
	$(RUN)/ruff check .
	$(RUN)/ruff format --check .
	$(RUN)/lint-imports --no-cache

# The benchmarks are scripts, not a package, so mypy is given their files.
typecheck: install
	$(RUN)/mypy
	$(RUN)/mypy benchmarks/*.py benchmarks/_serving/*.py

# Browser tests drive Debian's chromium (Playwright's own browser download cannot work offline).
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "installing Debian chromium for the browser tests"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; }

# The serving benchmark drives HTTP with Debian's wrk (C, a few microseconds of CPU a request), not Python.
wrk:
	@command -v wrk >/dev/null 2>&1 || { \
	  echo "installing Debian wrk for the serving benchmark"; \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }

pytest: install browser
	$(RUN)/pytest -n 2

test: lint typecheck pytest

# requirements.txt is uv.lock exported for the Bento (runtime dependencies only, pinned); a test fails
# when it falls behind the lock file.
requirements: $(UV)
	$(UV) export --frozen --no-hashes --no-dev --no-emit-project --no-annotate --quiet -o requirements.txt

# The service's Bento (bentofile.yaml); BentoML calls uv while it builds, so the pinned one goes first on
# PATH. Importing the service makes a session key in RISKSCAN_HOME, so the build gets a throwaway home.
# `bentoml containerize riskscan:latest` turns the Bento into an image (docs/operations.md).
bento: install requirements
	PATH="$(CURDIR)/$(TOOLS)/bin:$(CURDIR)/$(VENV)/bin:$$PATH" BENTOML_DO_NOT_TRACK=true \
	  RISKSCAN_HOME="$$(mktemp -d)" $(RUN)/bentoml build

bench: install wrk
	for b in benchmarks/bench_*.py; do $(RUN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache
