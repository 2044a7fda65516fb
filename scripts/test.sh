#!/usr/bin/env bash
# The project's test command (README "Quick start"), and exactly what CI runs:
#
#   bash scripts/test.sh                 # the whole matrix (below)
#   bash scripts/test.sh [pytest args]   # only the newest Airflow, with these pytest arguments
#
# The matrix, each in its own virtualenv created and filled here:
#   1. the newest Apache Airflow 3 release: every test (unit, integration, browser, end-to-end);
#   2. the oldest Airflow 3 release the package claims (the floor in pyproject.toml):
#      unit and integration tests (no browser, no end-to-end).
#
# Environment: PYTHON (default python3).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

pip_install() {  # pip_install VENV ARGS...: quiet, but show pip's output when it fails
  local venv=$1
  shift
  if ! "$venv/bin/python" -m pip install --quiet "$@" >"$venv/pip.log" 2>&1; then
    grep -v '^WARNING: Location' "$venv/pip.log" >&2
    echo "pip install $* failed" >&2
    exit 1
  fi
}

make_venv() {  # make_venv VENV [extra requirement]
  local venv=$1
  shift
  if [ ! -x "$venv/bin/python" ]; then
    echo "== creating virtualenv $venv"
    "$PYTHON" -m venv "$venv"
  fi
  echo "== installing the package with its test extra into $venv $*"
  pip_install "$venv" --upgrade pip
  pip_install "$venv" -e '.[test]' "$@"
  "$venv/bin/python" -c "import airflow, airflow_provider_emr_ray; print('== Airflow', airflow.__version__)"
}

NEWEST=.venv-test
make_venv "$NEWEST"

if [ "$#" -gt 0 ]; then
  exec "$NEWEST/bin/python" -m pytest -p no:cacheprovider -q "$@"
fi

FLOOR=$(grep -oE '"apache-airflow>=[0-9.]+' pyproject.toml | head -n 1 | cut -d= -f2)
OLDEST=.venv-test-oldest
make_venv "$OLDEST" "apache-airflow==$FLOOR"

status=0
echo "== tests on the newest Airflow: everything"
"$NEWEST/bin/python" -m pytest -p no:cacheprovider -q || status=1
echo "== tests on the oldest supported Airflow ($FLOOR): unit and integration"
"$OLDEST/bin/python" -m pytest -p no:cacheprovider -q -m "not e2e and not browser" || status=1
exit $status
