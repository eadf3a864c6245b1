# livebell — `make demo` serves the demo, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(abspath $(VENV))/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
PORT ?= 8000
# The newest Django runs the suite a second time, on the newest Python (make test-django61).
PYTHON_NEWEST ?= $(shell bash scripts/find_python.sh 3.13)
VENV_NEWEST := .venv-django61
PY_NEWEST := $(abspath $(VENV_NEWEST))/bin/python
NEWEST_STAMP := $(VENV_NEWEST)/.installed-stamp

# The real servers the suite runs against (see README, "Running the tests").
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_MARIADB_URL ?= mysql://root@127.0.0.1:3306/test

.PHONY: install demo demo-port js messages test lint test-sqlite test-postgres test-mariadb \
	test-django61 test-django61-sqlite test-django61-postgres test-readme dist clean \
	bench bench-quick

# The compat distribution (compat/notifications-hq, docs/migrating-from-django-notifications.md)
# is installed beside livebell, with what hq's own test suite imports.
COMPAT := compat/notifications-hq

$(STAMP): pyproject.toml requirements/constraints.txt $(COMPAT)/pyproject.toml
	bash .ci/system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[dev,demo,redis,postgres,mysql,bench]"
	$(PY) -m pip install -q -c requirements/constraints.txt -e "$(COMPAT)[test]"
	touch $(STAMP) $(DEMO_STAMP)

# The demo needs only the package and its `demo` extra: no test toolchain, no apt packages.
$(DEMO_STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[demo]"
	touch $(DEMO_STAMP)

# Django 6.1 on Python 3.13, pinned by its own constraints.
$(NEWEST_STAMP): pyproject.toml requirements/constraints-django61.txt $(COMPAT)/pyproject.toml
	bash .ci/system-deps
	test -x $(PY_NEWEST) || $(PYTHON_NEWEST) -m venv $(VENV_NEWEST)
	$(PY_NEWEST) -m pip install -q --upgrade pip
	$(PY_NEWEST) -m pip install -q -c requirements/constraints-django61.txt -e ".[dev,redis,postgres,mysql]"
	$(PY_NEWEST) -m pip install -q -c requirements/constraints-django61.txt -e "$(COMPAT)[test]"
	touch $(NEWEST_STAMP)

install: $(STAMP)

# `make demo PORT=8123`: first make sure the port is free (before installing anything).
demo: demo-port
	@$(MAKE) --no-print-directory $(DEMO_STAMP)
	cd demo && env -u DATABASE_URL -u REDIS_URL $(PY) manage.py migrate --noinput
	cd demo && env -u DATABASE_URL -u REDIS_URL $(PY) manage.py seed_demo
	@echo "livebell demo: http://127.0.0.1:$(PORT) (alice, bob, carol / livebell)"
	cd demo && env -u DATABASE_URL -u REDIS_URL $(PY) -m uvicorn demo.asgi:application \
		--host 127.0.0.1 --port $(PORT) --ws-max-size 65536 --ws-per-message-deflate false

demo-port:
	@$(PYTHON) scripts/check_port.py $(PORT)

# livebell.js is generated from livebell.module.js (tests/test_widget.py checks it).
js:
	$(PYTHON) scripts/build_classic_js.py

# Extract the strings of livebell, the demo and the compat package, then compile the catalogs (docs/widget.md).
messages: $(STAMP)
	cd src/livebell && PYTHONPATH=$(CURDIR) DJANGO_SETTINGS_MODULE=tests.settings $(PY) -P -m django makemessages -l zh_Hans -l en --no-obsolete -i "migrations/*"
	cd src/livebell && PYTHONPATH=$(CURDIR) DJANGO_SETTINGS_MODULE=tests.settings $(PY) -P -m django makemessages -d djangojs -l zh_Hans -l en --no-obsolete -i static/livebell/livebell.js
	cd demo/demo && PYTHONPATH=$(CURDIR)/demo DJANGO_SETTINGS_MODULE=demo.settings $(PY) -P -m django makemessages -l zh_Hans -l en --no-obsolete
	cd $(COMPAT)/src/notifications && PYTHONPATH=$(CURDIR) DJANGO_SETTINGS_MODULE=tests.hq_site.settings $(PY) -P -m django makemessages -l zh_Hans -l en --no-obsolete -i "migrations/*"
	cd $(COMPAT)/src/notifications && PYTHONPATH=$(CURDIR) DJANGO_SETTINGS_MODULE=tests.hq_site.settings $(PY) -P -m django makemessages -d djangojs -l zh_Hans -l en --no-obsolete
	$(PY) scripts/compile_messages.py

lint: $(STAMP)
	$(PY) -m ruff check src tests demo bench $(COMPAT)
	$(PY) -m ruff format --check src tests demo bench $(COMPAT)
	$(PY) -m mypy
	cd $(COMPAT) && $(PY) -m mypy
	cd demo && $(PY) manage.py makemigrations --check --dry-run livebell
	cd demo && $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

# Every test on SQLite (with the browser), then again on PostgreSQL and MariaDB, on
# Django 5.2 LTS and Python 3.11; then on Django 6.1 and Python 3.13 (SQLite with the
# browser, and PostgreSQL); then the README pasted into a new project (test-readme).
# Redis is used by every run (channel-layer tests run on in-memory, Redis and Redis pub/sub).
# The runs that follow SQLite's go two at a time: they mostly wait on servers and
# sockets, so two finish in about the time of one (their output is kept apart).
test: lint test-sqlite
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-postgres test-mariadb
	@$(MAKE) --no-print-directory test-django61
	@$(MAKE) --no-print-directory test-readme

test-sqlite: $(STAMP)
	env -u DATABASE_URL $(PY) -m pytest -m "not readme"

# Tests marked any_database (what no backend changes) run with SQLite only.
test-postgres: $(STAMP)
	DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest -m "not browser and not readme and not any_database"

test-mariadb: $(STAMP)
	DATABASE_URL=$(TEST_MARIADB_URL) $(PY) -m pytest -m "not browser and not readme and not any_database"

# The benchmark's tools (the bench extra) are in .venv only. SQLite and PostgreSQL
# at once, as above.
test-django61: $(NEWEST_STAMP)
	@$(MAKE) --no-print-directory -j2 --output-sync=target test-django61-sqlite test-django61-postgres

test-django61-sqlite: $(NEWEST_STAMP)
	env -u DATABASE_URL $(PY_NEWEST) -m pytest -m "not readme and not bench_tools"

test-django61-postgres: $(NEWEST_STAMP)
	DATABASE_URL=$(TEST_POSTGRES_URL) $(PY_NEWEST) -m pytest -m "not browser and not readme and not any_database and not bench_tools"

# The README's "Install in your project", pasted into a new startproject site that
# installs the wheel built here, served as the README says, checked in Chromium.
test-readme: $(NEWEST_STAMP)
	env -u DATABASE_URL $(PY_NEWEST) -m pytest -m readme

# The sdist and the wheel, in dist/, checked by twine.
dist: $(STAMP)
	rm -rf dist
	$(PY) -m build --outdir dist .
	$(PY) -m twine check --strict dist/*

clean:
	rm -rf $(VENV) $(VENV_NEWEST) dist build demo/db.sqlite3 .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (docs/benchmarks.md): livebell vs the Channels tutorial design vs a raw server.
# They start their own Redis and use only the databases livebell_bench on 127.0.0.1
# (PostgreSQL, then MariaDB/MySQL) and a SQLite file of their own.
bench: $(STAMP)
	$(PY) -m bench

bench-quick: $(STAMP)
	$(PY) -m bench --quick
