#!/usr/bin/env bash
# Run scripts/loadtest.py against the production-like stack on this machine: gunicorn and a
# Celery worker on PostgreSQL and Redis, in a database of its own that is created afresh.
#   scripts/loadtest_stack.sh [loadtest.py options, e.g. --clients 20 --uploads 200]
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
DB=${LOADTEST_DB:-dermatrack_load}
PORT=${LOADTEST_PORT:-8055}
WORK=$(mktemp -d /tmp/dermatrack-load.XXXXXX)

export DATABASE_URL="postgres://postgres@127.0.0.1:5432/$DB"
export CELERY_BROKER_URL="redis://127.0.0.1:6379/14"
export CELERY_TASK_ALWAYS_EAGER=false
export MEDIA_ROOT="$WORK/media"
export DJANGO_ALLOWED_HOSTS="127.0.0.1,localhost"
# Many logins from one address are expected here: raise the per-address lockout limit.
export AXES_FAILURE_LIMIT=1000

cleanup() {
  [ -n "${WEB_PID:-}" ] && kill "$WEB_PID" 2>/dev/null || true
  [ -n "${WORKER_PID:-}" ] && kill -- "-$WORKER_PID" 2>/dev/null || kill "${WORKER_PID:-0}" 2>/dev/null || true
  wait 2>/dev/null || true
  rm -rf "$WORK"
}
trap cleanup EXIT

psql -h 127.0.0.1 -U postgres -d postgres -qc "DROP DATABASE IF EXISTS $DB" -c "CREATE DATABASE $DB" >/dev/null
$PY manage.py migrate --noinput -v0
$PY manage.py seed_demo >/dev/null
redis-cli -h 127.0.0.1 -p 6379 -n 14 flushdb >/dev/null

setsid .venv/bin/celery -A clinic worker -Q analysis -c 2 -l WARNING >"$WORK/worker.log" 2>&1 &
WORKER_PID=$!
.venv/bin/gunicorn clinic.wsgi -b "127.0.0.1:$PORT" -w 3 --timeout 120 --log-level warning >"$WORK/web.log" 2>&1 &
WEB_PID=$!
for _ in $(seq 1 60); do curl -sf -o /dev/null "http://127.0.0.1:$PORT/accounts/login/" && break; sleep 1; done

rc=0
$PY scripts/loadtest.py --base-url "http://127.0.0.1:$PORT" "$@" || rc=$?
if [ "$rc" -ne 0 ]; then
  echo "--- web log (tail)"; tail -n 30 "$WORK/web.log" || true
  echo "--- worker log (tail)"; tail -n 30 "$WORK/worker.log" || true
fi
exit "$rc"
