#!/usr/bin/env bash
# The project's test command (README "Quick start"), and exactly what CI (.ci/run) runs:
#
#   bash scripts/test.sh                 # the whole matrix (below)
#   bash scripts/test.sh [pytest args]   # only the newest Airflow, with these pytest arguments
#
# The matrix: one virtualenv per Airflow 3 release line, each installed once, each with the
# package (editable) and its test extra:
#
#   line    Airflow                      venv              suites
#   floor   pyproject's apache-airflow>= .venv-test-X.Y    unit+integration, e2e[, browser]
#   3.1     3.1.8                        .venv-test-3.1    unit+integration
#   3.2     3.2.2                        .venv-test-3.2    unit+integration
#   newest  3.3.2                        .venv-test        unit+integration, e2e, browser
#
# Environment: PYTHON (default python3), and the knobs below.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
export ALIBABA_CLOUD_ECS_METADATA_DISABLED=true  # never reach a real ECS metadata service

# ---- the matrix: adjust here ------------------------------------------------------------
NEWEST=${NEWEST:-3.3.2}              # newest patch of the newest line
MIDDLE=${MIDDLE:-"3.1.8 3.2.2"}      # newest patch of every line between the floor and NEWEST
E2E_LINES=${E2E_LINES:-"floor newest"}
BROWSER_LINES=${BROWSER_LINES:-"newest"}   # add "floor" when the floor's UI differs
TEST_JOBS=${TEST_JOBS:-2}            # test suites run at once (the machine has 2 cores)
# The floor: the first `apache-airflow>=X` of pyproject.toml, installed exactly.
FLOOR=$(grep -oE '"apache-airflow>=[0-9.]+' pyproject.toml | head -n 1 | cut -d= -f2)

# Extra requirements of one line only (no Airflow constraint files are reachable here, so pip
# picks the newest of everything else). Keep a reason next to every pin.
line_pins() {
  case $1 in
    # Airflow 3.2.x declares fastapi>=0.129 without a cap; fastapi>=0.137 (with cadwyn 9, which
    # requires it) breaks its in-process execution API, so `airflow dags test` fails building
    # the routes (pydantic "TITerminalStatePayload needs a discriminator field"). Airflow 3.3.2
    # itself declares fastapi<0.137.0: the same cap here (pip then picks cadwyn 7, as on 3.3.2).
    # svcs 26.2 detaches its registry from the app when a lifespan exits; 3.2.x's in-process
    # execution API lets its lifespan be finalized as soon as dag.test() drops the helper object,
    # so every task's first call fails ("'State' object has no attribute 'svcs_registry'").
    # 3.3 keeps the lifespan alive with the transport; on 3.2 svcs<26.2 is needed.
    3.2.*) echo "fastapi<0.137 svcs<26.2" ;;
    # Airflow 3.0.x declares fastapi[standard]>=0.115 without a cap; with the newest fastapi its
    # api-server does not start (AirflowRouter.api_route() got an unexpected keyword argument
    # 'max_body_size') and dag.test()'s in-process execution API answers 422. 3.1.8 pins 0.117.
    3.0.*) echo "fastapi[standard]<0.117" ;;
    *) ;;
  esac
}

# pip's cache is shared by every venv (its default location); never let it be disabled.
unset PIP_NO_CACHE_DIR

START=$SECONDS
ts() { printf '%4ds' $((SECONDS - START)); }

venv_of() {  # venv_of LINE: the virtualenv directory of a line ("newest" keeps .venv-test)
  case $1 in
    newest) echo .venv-test ;;
    floor) echo ".venv-test-$(cut -d. -f1,2 <<<"$FLOOR")" ;;
    *) echo ".venv-test-$(cut -d. -f1,2 <<<"$1")" ;;
  esac
}

version_of() {  # version_of LINE: the exact Airflow version of a line
  case $1 in newest) echo "$NEWEST" ;; floor) echo "$FLOOR" ;; *) echo "$1" ;; esac
}

make_venv() {  # make_venv LINE: create (once) and fill the line's venv; pip output in VENV/pip.log
  local line=$1 venv version t0=$SECONDS
  venv=$(venv_of "$line")
  version=$(version_of "$line")
  [ -x "$venv/bin/python" ] || "$PYTHON" -m venv "$venv"
  local extras=test
  # Ray (a test-only oracle, large) goes into the newest line only; its tests skip elsewhere.
  [ "$line" = newest ] && extras=test,ray-oracle
  # shellcheck disable=SC2046  # line_pins prints whitespace-separated requirements
  if ! { "$venv/bin/python" -m pip install --quiet --upgrade pip &&
         "$venv/bin/python" -m pip install --quiet -e ".[$extras]" "apache-airflow==$version" $(line_pins "$version"); } \
       >"$venv/pip.log" 2>&1; then
    grep -v '^WARNING: Location' "$venv/pip.log" >&2
    echo "== $line: pip install into $venv failed" >&2
    return 1
  fi
  "$venv/bin/python" -c "import airflow, airflow_provider_emr_ray; assert airflow.__version__ == '$version', airflow.__version__"
  echo "== $(ts) installed Airflow $version into $venv in $((SECONDS - t0))s"
}

# ---- only the newest, with the caller's pytest arguments ---------------------------------
if [ "$#" -gt 0 ]; then
  make_venv newest
  EMR_RAY_REQUIRE_RAY=1 exec "$(venv_of newest)/bin/python" -m pytest -p no:cacheprovider -q "$@"
fi

LINES="floor $MIDDLE newest"
LOGS=test-artifacts/matrix
mkdir -p "$LOGS"

# ---- 1. install: every line's venv at once (downloads and unpacking overlap; one cache) ---
echo "== $(ts) installing the matrix: floor=$FLOOR, $MIDDLE, newest=$NEWEST"
pids=()
for line in $LINES; do make_venv "$line" & pids+=($!); done
for pid in "${pids[@]}"; do wait "$pid" || { echo "== an install failed" >&2; exit 1; }; done
echo "== $(ts) installs done"

# ---- 2. the suites --------------------------------------------------------------------------
# The browser suite needs Chromium. Where /usr/bin/chromium is missing, its fixture runs
# scripts/install-browser.sh: Debian's chromium and chromium-driver with apt-get, as root (about
# 130 packages, 370 MB). Say so before it happens; EMR_RAY_SKIP_BROWSER=1 skips the suite on a
# developer's machine (never in CI, where it is mandatory).
if [ -n "${EMR_RAY_SKIP_BROWSER:-}" ]; then
  if [ "${CI:-}" = true ]; then
    echo "== EMR_RAY_SKIP_BROWSER is ignored in CI: the browser tests are mandatory there" >&2
  else
    echo "== browser tests skipped (EMR_RAY_SKIP_BROWSER is set)"
    BROWSER_LINES=""
  fi
fi
if [ -n "$BROWSER_LINES" ] && [ -z "${EMR_RAY_CHROMIUM:-}" ] && [ ! -x /usr/bin/chromium ]; then
  echo "== the browser tests need Chromium and /usr/bin/chromium is missing: scripts/install-browser.sh will"
  echo "   install Debian's chromium and chromium-driver with apt-get, as root (about 130 packages, 370 MB)."
  echo "   To skip the browser tests on this machine: EMR_RAY_SKIP_BROWSER=1 bash scripts/test.sh"
fi
# SUITES: "line|name|pytest -m expression"; unit+integration first, e2e and browser last.
SUITES=()
for line in $LINES; do SUITES+=("$line|unit|not e2e and not browser"); done
for line in $E2E_LINES; do SUITES+=("$line|e2e|e2e"); done
for line in $BROWSER_LINES; do SUITES+=("$line|browser|browser"); done

run_suite() {  # run_suite LINE NAME MARKERS: one pytest run; its log and exit status in $LOGS
  local line=$1 name=$2 markers=$3 t0=$SECONDS log="$LOGS/$1-$2"
  local rc=0
  # On the newest line the Ray oracle tests must run: EMR_RAY_REQUIRE_RAY turns their skip into a failure.
  local require_ray=0
  [ "$line" = newest ] && require_ray=1
  EMR_RAY_REQUIRE_RAY=$require_ray "$(venv_of "$line")/bin/python" -m pytest -p no:cacheprovider -q -m "$markers" >"$log.log" 2>&1 || rc=$?
  # pytest exits 5 when the marker selects nothing: not a failure of the line
  [ "$rc" = 5 ] && rc=0
  echo "$rc $((SECONDS - t0))" >"$log.status"
  echo "== $(ts) $line ($(version_of "$line")) $name: exit $rc in $((SECONDS - t0))s"
}

# The unit+integration suites are mostly single-process, so TEST_JOBS of them share the 2
# cores. The e2e and browser suites boot a whole Airflow (api-server, scheduler, triggerer,
# dag-processor) and time real waits: each of them runs alone.
running=0
for suite in "${SUITES[@]}"; do
  IFS='|' read -r line name markers <<<"$suite"
  if [ "$name" = unit ]; then
    if [ "$running" -ge "$TEST_JOBS" ]; then wait -n || true; running=$((running - 1)); fi
    run_suite "$line" "$name" "$markers" &
    running=$((running + 1))
  else
    wait  # the parallel suites first
    running=0
    run_suite "$line" "$name" "$markers"
  fi
done
wait

# ---- 3. summary: pytest's last line per suite, the wall time, the exit status -------------
status=0
echo
echo "== summary (logs in $LOGS/)"
for suite in "${SUITES[@]}"; do
  IFS='|' read -r line name _ <<<"$suite"
  read -r rc secs <"$LOGS/$line-$name.status"
  [ "$rc" = 0 ] || status=1
  printf '%-7s %-7s %-8s %4ss  %s\n' "$line" "$(version_of "$line")" "$name" "$secs" \
    "$(grep -E '(passed|failed|error|skipped|deselected|xfailed|no tests ran)' "$LOGS/$line-$name.log" | tail -n 1)"
done
echo "== total wall time: $((SECONDS - START))s; $([ "$status" = 0 ] && echo PASSED || echo FAILED)"
exit $status
