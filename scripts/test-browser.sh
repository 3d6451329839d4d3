#!/usr/bin/env bash
# The browser tests (`make test-browser`): Debian's Chromium drives a live embedded system
# (embedded Redis, daphne, a Celery worker) that tests/e2e starts on free ports.
# Installs Chromium when missing; runs as root on CI (no stdin) or with sudo elsewhere.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

CHROMIUM=/usr/bin/chromium

log() { echo "test-browser: $*" >&2; }

if [ ! -x "$CHROMIUM" ]; then
  log "installing Debian's chromium"
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  # The lock timeout waits for an apt already running (e.g. a background install) instead of
  # failing at once.
  $sudo apt-get -o DPkg::Lock::Timeout=600 update </dev/null
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=600 install -y \
    --no-install-recommends chromium fonts-dejavu-core </dev/null
  [ -x "$CHROMIUM" ] || { log "ERROR: $CHROMIUM still missing after apt-get install"; exit 1; }
fi

# The tests build the live system's environment themselves (SQLite and Redis in a temp dir).
exec env -u DATABASE_URL -u REDIS_URL .venv/bin/pytest -m browser -p no:cacheprovider tests/e2e "$@"
