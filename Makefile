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

.PHONY: install browser demo test lint typecheck pytest bench clean

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

pytest: install browser
	$(RUN)/pytest

test: lint typecheck pytest

bench: install
	for b in benchmarks/bench_*.py; do $(RUN)/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS) var .pytest_cache .mypy_cache .ruff_cache
