#!/bin/sh
# Build the project's wheel and install it, with exactly the locked dependencies, into a new
# virtualenv.
#
#   sh deploy/install.sh VENV_DIR
#
# Run from a directory holding the build inputs (pyproject.toml, README.md, app/, alembic/,
# alembic.ini, requirements/runtime.txt, requirements/build.txt). The Dockerfile's builder stage
# runs exactly this, and so does tests/deploy/test_installed_wheel.py, which then runs
# `entropy-budget migrate` and `entropy-budget serve` from the virtualenv. The interpreter is
# $PYTHON (default python3). Every package comes from the lock files, hash-checked
# (--require-hashes): a file that differs from the one locked is refused.
set -eu

venv=${1:?usage: sh deploy/install.sh VENV_DIR}
python=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

# The wheel, built by the locked build backend in a throwaway environment. A wheel, not an
# editable install: the package must work without the source tree, so its migrations travel
# inside it (pyproject.toml, [tool.hatch.build.targets.wheel.force-include]).
"$python" -m venv "$work/build"
"$work/build/bin/python" -m pip install --quiet --require-hashes -r requirements/build.txt
"$work/build/bin/python" -m pip wheel --quiet --no-deps --no-build-isolation \
    --wheel-dir "$work/wheels" .

# The service's environment: the locked runtime set, then the wheel alone. `pip check` fails
# when the wheel needs something the lock lacks (pyproject.toml changed without `make lock`).
"$python" -m venv "$venv"
"$venv/bin/python" -m pip install --quiet --require-hashes -r requirements/runtime.txt
"$venv/bin/python" -m pip install --quiet --no-deps "$work"/wheels/entropy_budget-*.whl
"$venv/bin/python" -m pip check
"$venv/bin/entropy-budget" --help > /dev/null
