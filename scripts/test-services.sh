#!/usr/bin/env bash
# Throwaway PostgreSQL + Redis on loopback for the test suite (used by `make test`).
#   scripts/test-services.sh start  -> prints DATABASE_URL=... and REDIS_URL=... on stdout
#   scripts/test-services.sh stop
# Runs the binaries directly: CI containers have no init system (no systemd/pg_ctlcluster).
set -euo pipefail

# Only the two URL lines may reach stdout (the Makefile evals it); everything else,
# including apt and pg_ctl chatter, goes to stderr.
exec 3>&1 1>&2

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
# Under /tmp, not the checkout: the 'postgres' user must reach it (a clone under /root is not
# reachable) and the socket path must stay short. One state dir per checkout.
STATE="${TEST_SERVICES_DIR:-/tmp/cc-test-services-$(printf '%s' "$ROOT" | md5sum | cut -c1-10)}"
PGDATA="$STATE/pg"
PG_PORT="${TEST_PG_PORT:-55432}"
REDIS_PORT="${TEST_REDIS_PORT:-56379}"
REDIS_PID="$STATE/redis.pid"

log() { echo "test-services: $*"; }
die() { log "ERROR: $*"; exit 1; }

# Postgres refuses to run as root, so as root we act as the Debian 'postgres' user.
if [ "$(id -u)" -eq 0 ]; then as_pg() { (cd / && runuser -u postgres -- "$@"); }; else as_pg() { "$@"; }; fi

pg_bin() { ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n1 || true; }

install_missing() {
  local pkgs=()
  [ -n "$(pg_bin)" ] && [ -x "$(pg_bin)/initdb" ] || pkgs+=(postgresql)
  command -v redis-server >/dev/null && command -v redis-cli >/dev/null || pkgs+=(redis-server)
  [ ${#pkgs[@]} -eq 0 ] && return
  log "installing ${pkgs[*]}"
  local sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  export DEBIAN_FRONTEND=noninteractive
  $sudo apt-get update -qq </dev/null
  $sudo apt-get install -y -qq --no-install-recommends "${pkgs[@]}" </dev/null
}

start_pg() {
  local bin; bin="$(pg_bin)"
  mkdir -p "$PGDATA"
  chmod 700 "$PGDATA"   # postgres refuses group/world-accessible data dirs
  [ "$(id -u)" -eq 0 ] && chown postgres: "$STATE" "$PGDATA"
  # Catches checkouts under e.g. /root (mode 700), where 'postgres' can't reach the data dir.
  as_pg test -w "$PGDATA" || die "user postgres cannot write $PGDATA (check parent dir permissions)"

  if [ ! -f "$PGDATA/PG_VERSION" ]; then
    log "initdb $PGDATA"
    as_pg "$bin/initdb" -D "$PGDATA" --auth=trust --username=postgres -E UTF8 >/dev/null
  fi

  pg_running() { as_pg "$bin/pg_ctl" status -D "$PGDATA" >/dev/null 2>&1; }
  pg_ready() { "$bin/pg_isready" -q -h 127.0.0.1 -p "$PG_PORT" -U postgres; }

  if pg_running && pg_ready; then
    log "postgres already running, reusing"
  else
    # After a crash the pidfile can still name a dying/zombie postmaster for a moment
    # (non-reaping PID 1 in containers); starting now would be refused, so let it go first.
    local i
    for i in $(seq 10); do pg_running || break; sleep 1; done
    # Durability is pointless for test data; turning it off makes test DB setup much faster.
    # Socket lives in $STATE so we never need write access to /var/run/postgresql.
    as_pg "$bin/pg_ctl" start -D "$PGDATA" -l "$STATE/pg.log" -w -t 30 -o "\
      -c port=$PG_PORT -c listen_addresses=127.0.0.1 -c unix_socket_directories=$STATE \
      -c fsync=off -c synchronous_commit=off -c full_page_writes=off -c max_connections=200" \
      || { tail -n 20 "$STATE/pg.log" || true; die "postgres failed to start"; }
    for i in $(seq 30); do
      pg_ready && break
      [ "$i" -eq 30 ] && { tail -n 20 "$STATE/pg.log" || true; die "postgres not ready after 30s"; }
      sleep 1
    done
  fi

  # Idempotent: converge role attributes every run; CREATEDB is needed because Django's
  # test runner creates (and drops) test_<name> databases.
  as_pg "$bin/psql" -q -X -v ON_ERROR_STOP=1 -h "$STATE" -p "$PG_PORT" -U postgres -d postgres >/dev/null <<'SQL'
DO $$ BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = 'cc') THEN CREATE ROLE cc; END IF;
END $$;
ALTER ROLE cc WITH LOGIN CREATEDB PASSWORD 'cc';
SELECT 'CREATE DATABASE contactcenter OWNER cc'
  WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'contactcenter') \gexec
SQL
}

redis_ours_alive() { [ -f "$REDIS_PID" ] && kill -0 "$(cat "$REDIS_PID")" 2>/dev/null; }
redis_pong() { [ "$(redis-cli -h 127.0.0.1 -p "$REDIS_PORT" ping 2>/dev/null)" = "PONG" ]; }

start_redis() {
  if redis_ours_alive && redis_pong; then
    log "redis already running, reusing"
    return
  fi
  # No persistence: tests must not see data from a previous run.
  redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" \
    --save '' --appendonly no --dir "$STATE" \
    --pidfile "$REDIS_PID" --logfile "$STATE/redis.log"
  local i
  for i in $(seq 30); do
    # Also require our own pid: a PONG alone could come from a foreign redis on this port.
    redis_pong && redis_ours_alive && return
    sleep 1
  done
  tail -n 20 "$STATE/redis.log" || true
  die "redis not answering on port $REDIS_PORT after 30s"
}

case "${1:-}" in
  start)
    # fd 3 is the caller's stdout (often a `$(...)` pipe); daemons must not inherit it,
    # or the caller would wait for EOF until the servers exit.
    { install_missing; mkdir -p "$STATE"; start_pg; start_redis; } 3>&-
    echo "DATABASE_URL=postgres://cc:cc@127.0.0.1:$PG_PORT/contactcenter" >&3
    echo "REDIS_URL=redis://127.0.0.1:$REDIS_PORT/0" >&3
    ;;
  stop)
    bin="$(pg_bin)"
    if [ -n "$bin" ] && [ -f "$PGDATA/postmaster.pid" ]; then
      as_pg "$bin/pg_ctl" stop -D "$PGDATA" -m fast || true
    fi
    if command -v redis-cli >/dev/null; then
      redis-cli -h 127.0.0.1 -p "$REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
    fi
    rm -f "$REDIS_PID"
    ;;
  *) echo "usage: $0 start|stop" >&2; exit 2 ;;
esac
