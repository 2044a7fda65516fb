#!/usr/bin/env bash
# Installs the browser of the browser tests (tests/browser): Debian's `chromium` and
# `chromium-driver` packages, with apt-get, when /usr/bin/chromium is missing. The tests' session
# fixture runs this script itself; run it by hand to prepare a machine.
#
#   bash scripts/install-browser.sh
#
# Needs root or passwordless sudo. Exit status: 0 installed (or already there), 1 apt-get failed,
# 2 cannot install here (no apt-get, no root).
set -euo pipefail

if [ -x /usr/bin/chromium ]; then
  echo "install-browser: chromium already installed at /usr/bin/chromium"
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "install-browser: no apt-get on this machine; install Chromium yourself and set EMR_RAY_CHROMIUM=/path/to/chromium" >&2
  exit 2
fi
SUDO=()
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
    SUDO=(sudo -n)
  else
    echo "install-browser: need root (or passwordless sudo) for: apt-get install chromium chromium-driver" >&2
    exit 2
  fi
fi

export DEBIAN_FRONTEND=noninteractive
log=$(mktemp "${TMPDIR:-/tmp}/install-browser.XXXXXX.log")
echo "install-browser: apt-get update && apt-get install chromium chromium-driver (log: $log)"
apt=("${SUDO[@]}" apt-get -o DPkg::Lock::Timeout=300 -qq)
if ! { "${apt[@]}" update && "${apt[@]}" install -y chromium chromium-driver; } >"$log" 2>&1; then
  tail -n 40 "$log" >&2
  echo "install-browser: apt-get install chromium chromium-driver failed (full log: $log)" >&2
  exit 1
fi
if [ ! -x /usr/bin/chromium ]; then
  echo "install-browser: apt-get succeeded but /usr/bin/chromium is missing" >&2
  exit 1
fi
echo "install-browser: installed $(/usr/bin/chromium --version 2>/dev/null | head -n 1)"
