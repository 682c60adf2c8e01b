# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test fuzz load lint schema migrate seed clean bench bench-setup

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $(STAMP)

run: $(STAMP)
	$(PY) server.py serve

test: $(STAMP)
	$(PY) -m pytest -q

# The property-based test with many more examples than `make test` runs.
fuzz: $(STAMP)
	HYPOTHESIS_EXAMPLES=$${HYPOTHESIS_EXAMPLES:-2000} $(PY) -m pytest -q tests/test_property_graphql.py

# The load test (not part of `make test`): see bench/load.py --help.
load: $(STAMP)
	$(PY) bench/load.py $(LOAD_ARGS)

schema: $(STAMP)
	$(PY) server.py export-schema > schema.graphql

migrate: $(STAMP)
	$(PY) server.py migrate

seed: $(STAMP)
	$(PY) server.py seed

# Side-by-side with PostGraphile (bench/README.md); not part of `make test`.
# Style and static checks (not part of `make test`): ruff must pass; mypy strict is reported
# (it does not pass yet: mostly Strawberry's field decorators seen as untyped, see README).
lint: $(STAMP)
	$(PY) -m pip install --quiet -e '.[dev]'
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	-$(PY) -m mypy db resolvers schema server.py runtime.py

bench-setup: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	bench/setup.sh

bench: bench-setup
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data
