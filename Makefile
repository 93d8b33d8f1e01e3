# Everyday commands. `make run` and `make test` work on a fresh Debian machine with nothing else done.
VENV ?= .venv
PY := $(VENV)/bin/python
PORT ?= 8000

.PHONY: run test setup setup-dev migrate seed lint format typecheck bench bench-compare rehearsal graph messages clean

# Debug pages are for a developer's machine: `make run` turns them on, nothing else does (Procfile.dev too).
run: export DJANGO_DEBUG ?= 1
# The simulators call the app back where `web` listens, whatever PORT says (honcho gives each process a PORT of
# its own, so the processes cannot read it themselves).
run: export PAYMENTS_NOTIFY_BASE_URL ?= http://127.0.0.1:$(PORT)
run: export LOGISTICS_NOTIFY_BASE_URL ?= http://127.0.0.1:$(PORT)
run: setup  ## set up and run the app on its embedded defaults (SQLite, local files, jobs in process) with demo data
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" PORT=$(PORT) $(VENV)/bin/honcho start -f Procfile.dev

test:  ## set up and run the whole test suite (MariaDB + Redis, then SQLite)
	scripts/test.sh

setup:
	scripts/bootstrap.sh

setup-dev:
	scripts/bootstrap.sh dev

migrate: setup
	$(PY) manage.py migrate

seed: setup
	$(PY) manage.py seed_demo

lint: setup-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/lint-imports

format: setup-dev
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

typecheck: setup-dev
	$(VENV)/bin/mypy .

bench: setup-dev  ## benchmarks that print figures (needs MariaDB + Redis) and write var/bench/<UTC time>.json and .md
	scripts/bench.sh

# Two reports side by side: `make bench-compare` takes the two newest; A=var/bench/x.json B=var/bench/y.json picks.
bench-compare: setup-dev
	$(PY) benchmarks/report.py compare $(A) $(B)

rehearsal: setup-dev  ## two hosts on one machine: both take work, the money rules hold (needs MariaDB)
	scripts/rehearsal.sh

graph: setup-dev  ## draw the refund state machine
	scripts/graph.sh

messages: setup-dev  ## compile the translation catalogues
	$(PY) manage.py compilemessages

clean:
	rm -rf $(VENV) var .pytest_cache .ruff_cache .mypy_cache
