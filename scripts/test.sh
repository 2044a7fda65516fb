#!/usr/bin/env bash
# The project's test command (README "Quick start"): creates its own virtualenv, installs the
# package with its test extra, and runs the whole test suite (unit, integration and end-to-end).
#
#   bash scripts/test.sh [pytest args...]
#
# Environment: PYTHON (default python3), VENV (default .venv-test).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-test}

if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
pip_install() {
  if ! "$VENV/bin/python" -m pip install --quiet "$@" >"$VENV/pip.log" 2>&1; then
    grep -v '^WARNING: Location' "$VENV/pip.log" >&2
    echo "pip install $* failed" >&2
    exit 1
  fi
}
echo "== installing the package with its test extra"
pip_install --upgrade pip
pip_install -e '.[test]'
"$VENV/bin/python" -c "import airflow, airflow_provider_emr_ray; print('== Airflow', airflow.__version__)"

echo "== running the tests"
exec "$VENV/bin/python" -m pytest -p no:cacheprovider -q "$@"
