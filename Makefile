# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
# Absolute, so commands find it from any directory (README "Which database").
export COMMCREDITS_DATABASE_URL ?= sqlite:///$(CURDIR)/var/commcredits.db

.PHONY: run test setup migrate seed lint bench load schema clean lock lock-upgrade

# Installs repeat (README "Dependencies and the lock file"): every package, direct and
# transitive, at the exact version and sha256 hashes in requirements.lock; the project itself
# (editable, no hash) in a second step without dependencies. `make lock` refreshes the lock.
export PIP_DISABLE_PIP_VERSION_CHECK := 1
$(STAMP): pyproject.toml requirements.lock
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --require-hashes --no-deps -r requirements.lock
	$(BIN)/python -m pip install --quiet --no-deps -e .
	touch $(STAMP)

# uv resolves the lock (pyproject.toml's bounds, the dev extra, Python 3.11, every platform);
# `make lock` keeps the current pins where pyproject.toml still allows them, `make lock-upgrade`
# moves every package to its newest allowed release. Commit requirements.lock afterwards.
UV_LOCK_TOOL := $(VENV)/uv-tool
LOCK_CMD = $(UV_LOCK_TOOL)/bin/uv pip compile pyproject.toml --extra dev --universal \
	--python-version 3.11 --generate-hashes --quiet -o requirements.lock
$(UV_LOCK_TOOL)/bin/uv:
	$(PYTHON) -m venv $(UV_LOCK_TOOL)
	$(UV_LOCK_TOOL)/bin/python -m pip install --quiet 'uv>=0.9'

lock: $(UV_LOCK_TOOL)/bin/uv
	$(LOCK_CMD)

lock-upgrade: $(UV_LOCK_TOOL)/bin/uv
	$(LOCK_CMD) --upgrade

setup: $(STAMP)
	mkdir -p var

migrate: setup
	$(BIN)/commcredits migrate

seed: migrate
	$(BIN)/commcredits seed-demo

run: seed
	$(BIN)/commcredits serve --host 127.0.0.1 --port 8000

# One pytest-xdist worker per CPU; a slow test's worker takes queued tests from the other
# (worksteal). PYTEST_WORKERS=0 runs everything in one process (for -s, pdb, or a bisect).
PYTEST_WORKERS ?= auto
test: seed
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: setup
	$(BIN)/ruff check commcredits tests bench
	$(BIN)/ruff format --check commcredits tests bench

bench: setup
	for b in bench_licenses bench_ledger bench_rating bench_bulk; do $(BIN)/python bench/$$b.py || echo "$$b: a target was missed (see above)"; done

load: setup  # needs PostgreSQL (COMMCREDITS_TEST_DATABASE_URL or 127.0.0.1:5432/test)
	$(BIN)/python bench/load.py

schema: setup  # the SDL frontends generate code from; a test keeps it current
	$(BIN)/python -c "from commcredits.schema.root import schema; open('schema.graphql', 'w').write(schema.as_str() + '\\n')"

clean:
	rm -rf $(VENV) var
