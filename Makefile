# The README's commands. `make run` serves the API on the embedded SQLite; `make test` runs the
# whole suite on SQLite and then on PostgreSQL (DB=sqlite or DB=postgresql runs just one).
#
# Installs come from the lock files in requirements/ (every package pinned, every file
# hash-checked), never from pyproject.toml's ranges: `make lock` rewrites the locks after a change
# to pyproject.toml's dependencies (docs/operations.md, "The lock files").
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
DB ?= all
PIP := $(BIN)/python -m pip --disable-pip-version-check
UV_VERSION := 0.13.9
LOCK_MISMATCH := pyproject.toml and requirements/*.txt disagree: run 'make lock' and commit requirements/

.PHONY: run test lint lock lock-check

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The runtime set, then the project itself (editable, built by the locked build backend);
# `pip check` fails when pyproject.toml asks for something the lock lacks.
$(VENV)/.runtime-installed: requirements/runtime.txt requirements/build.txt pyproject.toml | $(BIN)/python
	$(PIP) install --quiet --require-hashes -r requirements/build.txt
	$(PIP) install --quiet --require-hashes -r requirements/runtime.txt
	$(PIP) install --quiet --no-deps --no-build-isolation -e .
	$(PIP) check >&2 || { echo "$(LOCK_MISMATCH)" >&2; exit 1; }
	touch $@

$(VENV)/.dev-installed: requirements/dev.txt $(VENV)/.runtime-installed
	$(PIP) install --quiet --require-hashes -r requirements/dev.txt
	$(PIP) check >&2 || { echo "$(LOCK_MISMATCH)" >&2; exit 1; }
	touch $@

# The CLI is not on PATH (it lives in the virtualenv): say how to call it before serving.
run: $(VENV)/.runtime-installed
	$(BIN)/entropy-budget migrate
	@echo "The CLI, from another terminal: $(BIN)/entropy-budget --help;" \
		"e.g. $(BIN)/entropy-budget --url http://127.0.0.1:$(PORT) budget show --job JOB"
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

# The locks, for Python 3.11 on every platform (--universal), with the hashes of every file of
# each pinned version. The dev set is resolved first; the runtime and build sets are held to its
# versions, so the image ships exactly what the tests ran with. Pins already in a lock are kept
# unless pyproject.toml needs another version: `make lock UPGRADE=1` moves everything to the
# newest allowed. Needs no installed venv. After a merge conflict in requirements/, take one
# side's locks whole (`git checkout main -- requirements/`), then `make lock`.
# The build set: pyproject.toml's build-system.requires, and `editables`, which hatchling asks
# for (get_requires_for_build_editable) to make the editable install of `make run`.
export BUILD_REQUIREMENTS := import tomllib; \
	print(*tomllib.load(open("pyproject.toml", "rb"))["build-system"]["requires"], "editables", sep="\n")
LOCK_OPTIONS := --quiet --universal --python-version 3.11 --generate-hashes \
	--custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
lock: | $(BIN)/python
	$(PIP) install --quiet "uv==$(UV_VERSION)"
	! grep -l '^<<<<<<<' requirements/*.txt 2>/dev/null \
		|| { echo "conflict markers: git checkout main -- requirements/, then make lock" >&2; exit 1; }
	$(BIN)/uv pip compile $(LOCK_OPTIONS) pyproject.toml --extra dev -o requirements/dev.txt
	$(BIN)/uv pip compile $(LOCK_OPTIONS) pyproject.toml -c requirements/dev.txt \
		-o requirements/runtime.txt
	$(BIN)/python -c "$$BUILD_REQUIREMENTS" \
		| $(BIN)/uv pip compile $(LOCK_OPTIONS) - -c requirements/dev.txt -o requirements/build.txt

# The offline check that the locks answer pyproject.toml (part of `make test`, and first in CI).
lock-check: $(VENV)/.dev-installed
	$(BIN)/pytest -q -p no:cacheprovider tests/deploy/test_lock.py
