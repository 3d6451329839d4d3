#!/usr/bin/env bash
# Starts the whole system in one terminal: web (daphne), Celery worker and beat, the router, and an embedded
# Redis unless REDIS_URL names one. Ctrl-C stops everything (honcho forwards the signal).
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PWD/.venv/bin:$PATH"

PORT="${PORT:-8000}"
HOST="${HOST:-127.0.0.1}"
processes="web worker beat router"
if [ -z "${REDIS_URL:-}" ]; then
  export EMBEDDED_REDIS_PORT="${EMBEDDED_REDIS_PORT:-6390}"
  export REDIS_URL="redis://127.0.0.1:${EMBEDDED_REDIS_PORT}/0"
  processes="redis $processes"
fi
# honcho sets PORT per process (foreman style), so the web port travels as WEB_PORT.
export WEB_PORT="$PORT" HOST

# Set-up runs before Redis is up: it needs no real time (nobody is connected yet).
setup() { env -u REDIS_URL CELERY_TASK_ALWAYS_EAGER=true python manage.py "$@"; }
setup migrate --noinput
setup collectstatic --noinput -v0
# Demo organizations and their public passwords belong to the embedded mode only: never load
# them into a real database unless asked (CC_DEMO=1).
if [ -z "${DATABASE_URL:-}" ] || [ "${CC_DEMO:-0}" = "1" ]; then
  setup load_demo --url "http://${HOST}:${PORT}/"
else
  echo "DATABASE_URL is set: no demo data (CC_DEMO=1 loads it anyway). Sign in at http://${HOST}:${PORT}/"
fi
exec honcho start -f Procfile $processes
