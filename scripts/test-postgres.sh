#!/usr/bin/env bash
# The whole suite again on PostgreSQL, with Redis as channel layer and Celery broker.
# Serial on purpose: parallel workers would share one Redis (groups and task queue).
set -euo pipefail
cd "$(dirname "$0")/.."
urls="$(scripts/test-services.sh start)"
trap 'scripts/test-services.sh stop' EXIT
export $urls  # DATABASE_URL=... REDIS_URL=...
echo "test-postgres: $DATABASE_URL $REDIS_URL"
.venv/bin/pytest -m "not browser" -p no:cacheprovider -q
