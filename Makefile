# make run   - set up and run the CMS on SQLite with a demo (owner, chargers, simulated sessions)
# make test  - set up and run the whole test suite (SQLite, then PostgreSQL when it answers)
# make bench - benchmarks beside reference peers (see README)

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
HOST ?= 127.0.0.1
PORT ?= 8000
DEMO_CHARGERS ?= 3
PYTEST_ARGS ?=

.PHONY: install run test test-sqlite test-postgres lint bench clean static-vendor browser-deps

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

# Front-end libraries (htmx, Chart.js, Swagger UI, Leaflet) from npm into cms/web/static/vendor/ (gitignored); never a CDN.
static-vendor: cms/web/static/vendor/.installed

cms/web/static/vendor/.installed: package.json package-lock.json
	npm ci --ignore-scripts --no-audit --no-fund
	mkdir -p cms/web/static/vendor/htmx cms/web/static/vendor/chart.js cms/web/static/vendor/swagger-ui
	cp node_modules/htmx.org/dist/htmx.min.js cms/web/static/vendor/htmx/
	cp node_modules/chart.js/dist/chart.umd.js cms/web/static/vendor/chart.js/
	cp node_modules/swagger-ui-dist/swagger-ui.css node_modules/swagger-ui-dist/swagger-ui-bundle.js cms/web/static/vendor/swagger-ui/
	# driver app (/app/): Leaflet for the map (its marker images too). axe-core stays in node_modules (tests only).
	mkdir -p cms/web/static/vendor/leaflet/images
	cp node_modules/leaflet/dist/leaflet.js node_modules/leaflet/dist/leaflet.css cms/web/static/vendor/leaflet/
	cp node_modules/leaflet/dist/images/*.png cms/web/static/vendor/leaflet/images/
	touch $@

# Headless Chromium for tests/browser (Debian's package; Playwright drives it, no browser download).
browser-deps:
	command -v chromium >/dev/null || (apt-get update -q && apt-get install -y -q chromium) \
	  || echo "chromium could not be installed; browser tests will skip"

run: install static-vendor
	CMS_DATABASE_URL=$${CMS_DATABASE_URL:-sqlite:///var/cms.sqlite3} $(BIN)/cms demo --host $(HOST) --port $(PORT) --chargers $(DEMO_CHARGERS)

lint: install
	$(BIN)/ruff check .

test: install static-vendor browser-deps lint test-sqlite test-postgres

test-sqlite: install
	CMS_TEST_DATABASE=sqlite $(BIN)/pytest -q $(PYTEST_ARGS)

test-postgres: install
	CMS_TEST_DATABASE=postgres $(BIN)/pytest -q $(PYTEST_ARGS)

# Full sizes by default (20,000 connections, 50 and 200 chargers in sessions); BENCH_* variables shrink them,
# e.g. BENCH_CONNECTIONS=2000 BENCH_HOLD_SECONDS=30 BENCH_THROUGHPUT_SECONDS=10 make bench. Needs PostgreSQL.
bench: install
	$(BIN)/python -m tests.bench.run_all

clean:
	rm -rf $(VENV) var *.egg-info .pytest_cache
