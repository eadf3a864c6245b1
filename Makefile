# livebell — `make demo` serves the demo, `make test` runs every test.
PYTHON ?= python3.11
VENV := .venv
PY := $(abspath $(VENV))/bin/python
STAMP := $(VENV)/.installed-stamp

# The real servers the suite runs against (see README, "Running the tests").
TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test
TEST_MARIADB_URL ?= mysql://root@127.0.0.1:3306/test

.PHONY: install demo test lint test-sqlite test-postgres test-mariadb clean bench bench-quick

$(STAMP): pyproject.toml requirements/constraints.txt
	bash .ci/system-deps
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -c requirements/constraints.txt -e ".[dev,redis,postgres,mysql,bench]"
	touch $(STAMP)

install: $(STAMP)

demo: $(STAMP)
	cd demo && env -u DATABASE_URL -u REDIS_URL $(PY) manage.py migrate --noinput
	cd demo && env -u DATABASE_URL -u REDIS_URL $(PY) manage.py seed_demo
	@echo "livebell demo: http://127.0.0.1:8000 (alice, bob, carol / livebell)"
	cd demo && env -u DATABASE_URL -u REDIS_URL $(PY) -m uvicorn demo.asgi:application \
		--host 127.0.0.1 --port 8000 --ws-per-message-deflate false

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
