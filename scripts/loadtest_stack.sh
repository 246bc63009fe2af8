#!/usr/bin/env bash
# Run scripts/loadtest.py against the production-like stack on this machine: gunicorn (3 workers)
# and a Celery worker (-c 2) on PostgreSQL and Redis, in a database of its own that is created
# afresh. The stack is started and stopped by benchmarks/stack.py, as for the benchmark and CI.
#   scripts/loadtest_stack.sh [loadtest.py options, e.g. --clients 20 --uploads 200]
# Needs PostgreSQL on 127.0.0.1:5432 (user postgres, trust) and Redis on 127.0.0.1:6379.
set -euo pipefail
cd "$(dirname "$0")/.."
exec .venv/bin/python -m benchmarks.stack --database "${LOADTEST_DB:-dermatrack_load}" --broker-db 14 \
  --port "${LOADTEST_PORT:-8055}" --web-workers 3 --worker-concurrency 2 \
  -- .venv/bin/python scripts/loadtest.py --base-url {url} "$@"
