# DermaTrack: the two quick-start commands are `make run` and `make test`.
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test setup setup-dev migrate seed lint format worker clean

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q -r requirements.txt
	touch $@

$(VENV)/.dev: $(VENV)/.runtime requirements-dev.txt
	$(PIP) install -q -r requirements-dev.txt
	touch $@

setup: $(VENV)/.runtime
setup-dev: $(VENV)/.dev

# Set up, migrate, seed the demo clinic (prints the logins) and serve on http://$(HOST):$(PORT)
run: setup
	$(PY) manage.py migrate --noinput
	$(PY) manage.py seed_demo --url http://$(HOST):$(PORT)/
	@echo "Serving on http://$(HOST):$(PORT)/  (Ctrl+C to stop)"
	$(PY) manage.py runserver $(HOST):$(PORT)

# Set up what tests need and run the suite (SQLite, eager tasks), but for the long benchmark tests
# (marker `benchmark`, run by .ci/run in a step of their own): `make test PYTEST_MARKERS=benchmark`
# runs only those, `make test PYTEST_MARKERS=` everything.
PYTEST_MARKERS ?= not benchmark
# Two pytest workers, a test file each at a time (pytest-xdist): 149 s instead of 202 s for the suite on
# the 2-core development machine with nothing else running (2026-12-07). PYTEST_WORKERS=0 runs it serially.
PYTEST_WORKERS ?= 2
test: setup-dev
	$(VENV)/bin/pytest $(if $(PYTEST_MARKERS),-m "$(PYTEST_MARKERS)") -n $(PYTEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

migrate: setup
	$(PY) manage.py migrate --noinput

seed: migrate
	$(PY) manage.py seed_demo

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: setup-dev
	$(VENV)/bin/ruff check --fix .
	$(VENV)/bin/ruff format .

# A Celery worker for the production-like setup (needs CELERY_BROKER_URL).
worker: setup
	$(VENV)/bin/celery -A config worker -Q analysis,followup --loglevel INFO --concurrency 1

clean:
	rm -rf $(VENV) db.sqlite3 staticfiles .pytest_cache
