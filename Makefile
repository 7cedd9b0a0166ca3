# The README's commands. `make run` serves the API on the embedded SQLite; `make test` runs the
# whole suite on SQLite and then on PostgreSQL (DB=sqlite or DB=postgresql runs just one).
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= all

.PHONY: run test lint

$(VENV)/.runtime-installed: pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.runtime-installed
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $@

run: $(VENV)/.runtime-installed
	$(BIN)/entropy-budget migrate
	$(BIN)/entropy-budget serve --host $(HOST) --port $(PORT)

test: $(VENV)/.dev-installed
ifeq ($(DB),all)
	EB_TEST_DATABASE=sqlite $(BIN)/pytest
	EB_TEST_DATABASE=postgresql $(BIN)/pytest
else
	EB_TEST_DATABASE=$(DB) $(BIN)/pytest
endif

lint: $(VENV)/.dev-installed
	$(BIN)/ruff check app tests alembic/env.py
	$(BIN)/ruff format --check app tests alembic/env.py
	$(BIN)/mypy
