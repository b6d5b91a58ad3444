# make run   - set up and run the CMS on SQLite with a demo (owner, chargers, simulated sessions)
# make test  - set up and run the whole test suite (SQLite and PostgreSQL, when it answers, side by side)
# make bench - benchmarks beside reference peers (see README)
# make chaos - the fault suite at full size (kill -9, database cut, Redis restarted, hostile frames, a storm)
# make dist  - a wheel and an sdist in dist/ (front-end libraries inside; the wheel installs without npm)
# make lint  - ruff, ruff format --check, mypy, import-linter (make fmt fixes what ruff can; make typecheck: mypy alone)
# make test-unit - the rule tests alone (no app, no database), in seconds
# make lock  - refresh the hashed lock files requirements/*.txt from pyproject.toml (LOCK_ARGS=--upgrade: newest)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CHARGERS ?= 3
PYTEST_ARGS ?=
LOCK_RUNTIME := requirements/runtime.txt
LOCK_TEST := requirements/test.txt
UV_VERSION ?= 0.13.9
LOCK_ARGS ?=

.PHONY: fmt install run test test-sqlite test-postgres lint typecheck test-unit bench chaos clean static-vendor browser-deps dist lock

# Reproducible: exactly the locked versions, hash-checked, then the project itself without dependencies. A lock
# that misses a dependency of pyproject.toml stops here with one line (run make lock).
$(STAMP): pyproject.toml $(LOCK_TEST)
	$(PYTHON) tools/check_lock.py $(LOCK_RUNTIME) $(LOCK_TEST):test
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q --require-hashes -r $(LOCK_TEST)
	$(BIN)/pip install -q --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Front-end libraries from npm into cms/web/static/vendor/ (gitignored); never a CDN. What is copied is listed
# once, in static-vendor.json, which the package build (setup.py) uses too; nothing runs when already copied.
static-vendor:
	$(PYTHON) tools/static_vendor.py

# Headless Chromium for tests/browser (Debian's package; Playwright drives it, no browser download).
browser-deps:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium) \
	  || echo "chromium could not be installed; browser tests will skip"

run: install static-vendor
	CMS_DATABASE_URL=$${CMS_DATABASE_URL:-sqlite:///var/cms.sqlite3} $(BIN)/cms demo --host $(HOST) --port $(PORT) --chargers $(DEMO_CHARGERS)

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports

# mypy on what [tool.mypy] in pyproject.toml lists (files); part of make lint.
typecheck: install
	$(BIN)/mypy

fmt: install
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

# The two passes run at once (the suite waits on servers and sockets about half the time, so on two cores this
# takes about half as long); each pass's output is printed whole when it ends. TEST_JOBS=1: one after the other.
TEST_JOBS ?= 2
test: install static-vendor browser-deps lint
	$(MAKE) --no-print-directory -j$(TEST_JOBS) --output-sync=target test-sqlite test-postgres

# The rules alone (tests/unit): no app, no database, no server; its conftest fails a test that reaches for one.
# Property tests search briefly here (tests/support/properties.py); make test runs them in full.
test-unit: install
	CMS_TEST_QUICK_PROPERTIES=1 $(BIN)/pytest -q tests/unit $(PYTEST_ARGS)

test-sqlite: install
	CMS_TEST_DATABASE=sqlite $(BIN)/pytest -q $(PYTEST_ARGS)

# Its own Redis databases (CMS_TEST_REDIS_DB_OFFSET), so that it can run beside the SQLite pass.
test-postgres: install
	CMS_TEST_DATABASE=postgres CMS_TEST_REDIS_DB_OFFSET=2 $(BIN)/pytest -q $(PYTEST_ARGS)

# Full sizes by default (20,000 connections, 50 and 200 chargers in sessions); BENCH_* variables shrink them,
# e.g. BENCH_CONNECTIONS=2000 BENCH_HOLD_SECONDS=30 BENCH_THROUGHPUT_SECONDS=10 make bench. Needs PostgreSQL.
bench: install
	$(BIN)/python -m tests.bench.run_all

# The fault suite (tests/chaos, issue 12) at full size on PostgreSQL with a Redis of its own: sessions through
# kill -9 of a worker and of the server, database connections cut, Redis restarted empty, hostile frames and a
# storm; prints its figures (the line starting CHAOS). A short form runs in make test's PostgreSQL pass.
CHAOS_CHARGERS ?= 40
CHAOS_STORM ?= 3000
CHAOS_FUZZ ?= 20000
CHAOS_SETTLE ?= 10
chaos: install
	CMS_TEST_DATABASE=postgres CHAOS_CHARGERS=$(CHAOS_CHARGERS) CHAOS_STORM=$(CHAOS_STORM) CHAOS_FUZZ=$(CHAOS_FUZZ) \
	  CHAOS_SETTLE=$(CHAOS_SETTLE) $(BIN)/pytest -q -s tests/chaos

# A wheel and an sdist, built once: the sdist carries the front-end libraries (npm runs here if needed), the
# wheel is built from it. `pip install dist/ev_cms-*.whl` then needs no npm, nor this checkout; the runtime lock
# goes beside it for installing the tested versions (README, Production).
dist: install
	rm -rf dist
	$(BIN)/python -m build --outdir dist .
	cp $(LOCK_RUNTIME) dist/requirements-runtime.txt

# The locks: runtime (what production installs) and runtime + test extras (make install, CI), the latter held to
# the former's versions. Universal: one lock for Linux, macOS and Windows, Python 3.11 and newer.
lock:
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/uv --version 2>/dev/null | grep -q " $(UV_VERSION)" || $(BIN)/pip install -q uv==$(UV_VERSION)
	$(BIN)/uv pip compile pyproject.toml -q --universal --python-version 3.11 --generate-hashes $(LOCK_ARGS) \
	  -o $(LOCK_RUNTIME)
	$(BIN)/uv pip compile pyproject.toml -q --universal --python-version 3.11 --generate-hashes $(LOCK_ARGS) \
	  --extra test -c $(LOCK_RUNTIME) -o $(LOCK_TEST)

clean:
	rm -rf $(VENV) var *.egg-info .pytest_cache build dist
