#!/usr/bin/env bash
# The whole test suite: lint, then every test on SQLite, then every test on PostgreSQL.
# Called by `./run test` (which installs what the tests need first) and by CI.
set -euo pipefail
here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
py="$here/.venv/bin/python"

ensure_postgres() {
    if ! pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; then
        echo "run-all: PostgreSQL is down; starting it" >&2
        pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -1)" main start || true
        for _ in $(seq 30); do pg_isready -h 127.0.0.1 -p 5432 -q && break; sleep 1; done
    fi
    pg_isready -h 127.0.0.1 -p 5432 || { echo "run-all: PostgreSQL is unreachable on 127.0.0.1:5432" >&2; exit 1; }
}

ensure_rabbitmq() {
    if ! rabbitmqctl -q status >/dev/null 2>&1; then
        echo "run-all: RabbitMQ is down; starting it" >&2
        rabbitmq-server -detached || true
        for _ in $(seq 60); do rabbitmqctl -q status >/dev/null 2>&1 && break; sleep 1; done
    fi
    rabbitmqctl -q status >/dev/null || { echo "run-all: RabbitMQ is unreachable" >&2; exit 1; }
}

echo "== ruff" >&2
"$here/.venv/bin/ruff" check rpmyard tests benchmarks

ensure_postgres
ensure_rabbitmq
status=0
echo "== tests on SQLite" >&2
RPMYARD_TEST_DB=sqlite "$py" -m pytest -q "$@" || status=1
echo "== tests on PostgreSQL" >&2
RPMYARD_TEST_DB=postgresql "$py" -m pytest -q "$@" || status=1
exit $status
