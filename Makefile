# Two commands do all the set-up on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
export PATH := $(abspath $(BIN)):$(PATH)

.PHONY: run test test-fast test-sqlite test-postgres test-browser test-deps install install-test lint format messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml $(VENV)/.installed
	$(BIN)/pip install --quiet -e ".[test]"
	touch $@

install: $(VENV)/.installed
install-test: $(VENV)/.installed-test

## run: start web, worker, beat and real time on embedded defaults with demo data
run: install
	scripts/run.sh

## test: lint, whole suite on SQLite, again on PostgreSQL + Redis, then the browser tests
test: install-test lint test-sqlite test-postgres test-browser

## test-fast: the suite on SQLite only (no services, no browser)
test-fast: install-test test-sqlite

# System packages the tests need (Dovecot for the e-mail tests), installed when missing.
test-deps:
	scripts/test-deps.sh

test-sqlite: install-test test-deps
	env -u DATABASE_URL -u REDIS_URL $(BIN)/pytest -m "not browser" -n 2 -p no:cacheprovider

test-postgres: install-test test-deps
	scripts/test-postgres.sh

test-browser: install-test
	scripts/test-browser.sh

lint: install-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

## messages: refresh and compile the French translations (needs gettext)
messages: install
	$(BIN)/python manage.py makemessages -l fr --ignore=.venv --ignore=var --ignore=static/vendor
	$(BIN)/python manage.py makemessages -d djangojs -l fr --ignore=.venv --ignore=var --ignore=static/vendor
	$(BIN)/python manage.py compilemessages --ignore=.venv

clean:
	rm -rf var/staticfiles var/test-artifacts
