# The two commands a fresh machine needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test fuzz load lint lock schema migrate seed clean bench bench-setup chromium

# The exact versions of requirements.lock, then the project itself.
$(STAMP): pyproject.toml requirements.lock
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.lock
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

run: $(STAMP)
	$(PY) server.py serve

# Headless Chromium for the GraphiQL browser test (tests/test_graphiql.py): Debian's package.
CHROMIUM := $(shell command -v chromium 2>/dev/null)
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

chromium:
ifeq ($(CHROMIUM),)
	$(SUDO) apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium
endif

# The npm clients the suite drives (tests/js: graphql-codegen, tsc, Apollo Client), exactly
# as locked in tests/js/package-lock.json.
JS_STAMP := tests/js/node_modules/.installed
$(JS_STAMP): tests/js/package.json tests/js/package-lock.json
	npm ci --prefix tests/js --no-audit --no-fund --loglevel=error
	touch $(JS_STAMP)

test: $(STAMP) chromium $(JS_STAMP)
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

# Style and static checks, run by CI before the tests: ruff, and mypy --strict.
lint: $(STAMP)
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
	$(PY) -m mypy db resolvers schema server.py runtime.py

# Rewrite requirements.lock from pyproject.toml's newest allowed versions, in a fresh venv.
lock:
	rm -rf .lock-venv && $(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --quiet -e '.[test,dev]'
	{ head -2 requirements.lock; .lock-venv/bin/pip freeze --exclude-editable \
		| grep -v '^campaign-graphql'; } > requirements.lock.new
	mv requirements.lock.new requirements.lock && rm -rf .lock-venv

# Side-by-side with PostGraphile (bench/README.md); not part of `make test`.

bench-setup: $(STAMP)
	$(PY) -m pip install --quiet -e '.[bench]'
	bench/setup.sh

bench: bench-setup
	$(PY) bench/run.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .data
