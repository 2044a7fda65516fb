#!/usr/bin/env bash
# The demo (README "Demo"): one command on a machine with Python 3.10+.
#
#   bash scripts/demo.sh [--timeout SECONDS]
#
# Creates the virtualenv .venv-demo, installs this package into it (pip install -e .), starts
# the EMR Ray emulator and a real Airflow (api-server, scheduler, dag-processor, triggerer;
# SQLite, LocalExecutor; everything under .demo/), runs example_dags/example_emr_ray_lifecycle.py,
# prints the task states, the XCom values and the Ray job's output, and stops every process it
# started (also on Ctrl-C or failure).
#
# Environment: PYTHON (default python3), VENV (default .venv-demo),
# AIRFLOW_VERSION (default 3.3.2, the version the demo is checked with; empty: let pip choose).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
VENV=${VENV:-.venv-demo}
AIRFLOW_VERSION=${AIRFLOW_VERSION-3.3.2}

if ! "$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' 2>/dev/null; then
  echo "The demo needs Python 3.10 or newer as \$PYTHON (now: $("$PYTHON" --version 2>&1 || echo "no $PYTHON"))." >&2
  exit 1
fi
if [ ! -x "$VENV/bin/python" ]; then
  echo "== creating the virtualenv $VENV"
  if ! "$PYTHON" -m venv "$VENV"; then
    echo "Could not create a virtualenv (on Debian/Ubuntu: apt-get install python3-venv)." >&2
    exit 1
  fi
fi

pip_install() {
  if ! "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check "$@" >"$VENV/pip.log" 2>&1; then
    cat "$VENV/pip.log" >&2
    echo "pip install $* failed" >&2
    exit 1
  fi
}
echo "== installing the provider and Airflow ${AIRFLOW_VERSION:-(latest 3.x)} into $VENV (the first time takes a few minutes)"
pip_install --upgrade pip
pip_install -e . ${AIRFLOW_VERSION:+"apache-airflow==$AIRFLOW_VERSION"}
"$VENV/bin/python" -c "import airflow, airflow_provider_emr_ray as p; print('== Airflow', airflow.__version__, '| provider', p.__version__)"

mkdir -p .demo
echo '*' > .demo/.gitignore   # nothing the demo writes is ever committed
echo "== running the demo (state under .demo/, Ctrl-C stops everything)"
exec "$VENV/bin/python" -m devtools.demo "$@"   # devtools/demo.py, run from the repository root
