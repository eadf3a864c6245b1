# livebell — `make demo` serves the demo, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(abspath $(VENV))/bin/python
STAMP := $(VENV)/.installed-stamp
DEMO_STAMP := $(VENV)/.demo-stamp
PORT ?= 8000

# The real servers the suite runs against (see README, "Running the tests").
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_MARIADB_URL ?= mysql://root@127.0.0.1:3306/test

.PHONY: install demo demo-port js messages test lint test-sqlite test-postgres test-mariadb clean bench bench-quick

$(STAMP): pyproject.toml requirements/constraints.txt
	bash .ci/system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[dev,demo,redis,postgres,mysql,bench]"
	touch $(STAMP) $(DEMO_STAMP)

# The demo needs only the package and its `demo` extra: no test toolchain, no apt packages.
$(DEMO_STAMP): pyproject.toml requirements/constraints.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[demo]"
	touch $(DEMO_STAMP)

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

# livebell.js is generated from livebell.module.js (tests/test_js_build.py checks it).
js:
	$(PYTHON) scripts/build_classic_js.py

# Extract the strings of livebell and the demo, then compile the catalogs (docs/widget.md).
messages: $(STAMP)
	cd src/livebell && PYTHONPATH=$(CURDIR) DJANGO_SETTINGS_MODULE=tests.settings $(PY) -P -m django makemessages -l zh_Hans -l en --no-obsolete -i "migrations/*"
	cd src/livebell && PYTHONPATH=$(CURDIR) DJANGO_SETTINGS_MODULE=tests.settings $(PY) -P -m django makemessages -d djangojs -l zh_Hans -l en --no-obsolete -i static/livebell/livebell.js
	cd demo/demo && PYTHONPATH=$(CURDIR)/demo DJANGO_SETTINGS_MODULE=demo.settings $(PY) -P -m django makemessages -l zh_Hans -l en --no-obsolete
	$(PY) scripts/compile_messages.py

lint: $(STAMP)
	$(PY) -m ruff check src tests demo
	$(PY) -m ruff format --check src tests demo
	$(PY) -m mypy
	cd demo && $(PY) manage.py makemigrations --check --dry-run livebell
	cd demo && $(PY) manage.py spectacular --validate --fail-on-warn --file /dev/null

# Every test on SQLite (with the browser), then again on PostgreSQL and MariaDB.
# Redis is used by every run (channel-layer tests run on in-memory, Redis and Redis pub/sub).
test: lint test-sqlite test-postgres test-mariadb

test-sqlite: $(STAMP)
	env -u DATABASE_URL $(PY) -m pytest

test-postgres: $(STAMP)
	DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest -m "not browser"

test-mariadb: $(STAMP)
	DATABASE_URL=$(TEST_MARIADB_URL) $(PY) -m pytest -m "not browser"

clean:
	rm -rf $(VENV) demo/db.sqlite3 .pytest_cache .mypy_cache .ruff_cache

# Benchmarks (docs/benchmarks.md): livebell vs the Channels tutorial design vs a raw server.
# They start their own Redis and use only the PostgreSQL database livebell_bench on 127.0.0.1.
bench: $(STAMP)
	$(PY) -m bench

bench-quick: $(STAMP)
	$(PY) -m bench --quick
