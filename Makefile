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

.PHONY: install run test test-sqlite test-postgres lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e ".[test]"
	touch $(STAMP)

install: $(STAMP)

run: install
	CMS_DATABASE_URL=$${CMS_DATABASE_URL:-sqlite:///var/cms.sqlite3} $(BIN)/cms demo --host $(HOST) --port $(PORT) --chargers $(DEMO_CHARGERS)

lint: install
	$(BIN)/ruff check .

test: install lint test-sqlite test-postgres

test-sqlite: install
	CMS_TEST_DATABASE=sqlite $(BIN)/pytest -q $(PYTEST_ARGS)

test-postgres: install
	CMS_TEST_DATABASE=postgres $(BIN)/pytest -q $(PYTEST_ARGS)

clean:
	rm -rf $(VENV) var *.egg-info .pytest_cache
