# PROST-QS — the two commands a newcomer needs are `make run` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000
DOCS_PORT ?= 8001
# The embedded default runs in development mode (a development secret key is allowed).
export DEBUG ?= true

.PHONY: run test bench docs lint install install-dev clean

$(VENV)/.installed: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: $(VENV)/.installed requirements-dev.txt
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

## make run: install, migrate the embedded SQLite database, load demo data, print the admin login, then serve
## with the jobs runner beside the web server (Ctrl-C stops both).
run: $(VENV)/.installed
	env -u DATABASE_URL -u REDIS_URL $(PY) manage.py migrate --no-input
	env -u DATABASE_URL -u REDIS_URL $(PY) manage.py seed_demo
	env -u DATABASE_URL -u REDIS_URL $(PY) manage.py demo_admin
	env -u DATABASE_URL -u REDIS_URL $(PY) manage.py run_jobs & jobs=$$!; \
	trap 'kill -TERM $$jobs 2>/dev/null; wait $$jobs' EXIT; \
	trap 'exit 130' INT TERM; \
	env -u DATABASE_URL -u REDIS_URL $(PY) manage.py runserver $(HOST):$(PORT)

## make test: install, run the test suite (uses DATABASE_URL and REDIS_URL when they are set).
test: $(VENV)/.installed-dev
	$(PY) -m pytest $(PYTEST_ARGS)

## make bench: measure this machine's baselines and the project's paths in one run (needs PostgreSQL).
bench: $(VENV)/.installed-dev
	$(PY) bench/run.py $(BENCH_ARGS)

## make docs: serve the documentation (docs/, mkdocs.yml) on 127.0.0.1, rebuilt as pages change (Ctrl-C stops it).
## Nothing is fetched from the network, to build or to view it.
docs: $(VENV)/.installed-dev
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs serve --strict --dev-addr 127.0.0.1:$(DOCS_PORT)

lint: $(VENV)/.installed-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

clean:
	rm -rf $(VENV) db.sqlite3 var .pytest_cache .ruff_cache
