#!/bin/sh
# Build the project's wheel and install it, with its dependencies, into a new virtualenv.
#
#   sh deploy/install.sh VENV_DIR
#
# Run from a directory holding the build inputs (pyproject.toml, README.md, app/, alembic/,
# alembic.ini). The Dockerfile's builder stage runs exactly this, and so does
# tests/deploy/test_installed_wheel.py, which then runs `entropy-budget migrate` and
# `entropy-budget serve` from the virtualenv. The interpreter is $PYTHON (default python3).
set -eu

venv=${1:?usage: sh deploy/install.sh VENV_DIR}
python=${PYTHON:-python3}
export PIP_DISABLE_PIP_VERSION_CHECK=1

wheelhouse=$(mktemp -d)
trap 'rm -rf "$wheelhouse"' EXIT

"$python" -m venv "$venv"
# A wheel, not an editable install: the package must work without the source tree, so its
# migrations travel inside it (pyproject.toml, [tool.hatch.build.targets.wheel.force-include]).
"$venv/bin/python" -m pip wheel --quiet --no-deps --wheel-dir "$wheelhouse" .
"$venv/bin/python" -m pip install --quiet "$wheelhouse"/entropy_budget-*.whl
"$venv/bin/entropy-budget" --help > /dev/null
