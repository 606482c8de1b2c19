#!/usr/bin/env bash
# Makes sure the local PostgreSQL the healthcore-sqlx tests use is up:
#  - starts the Debian cluster (pg_ctlcluster) if it is down,
#  - waits until it accepts connections on 127.0.0.1:5432,
#  - creates the database `test` if it does not exist.
# The tests connect as `postgres` over TCP with trust auth
# (HEALTHCORE_PG_URL, default postgres://postgres@127.0.0.1:5432/test).
# Idempotent; quiet when everything is already there. CI runs the tests
# with HEALTHCORE_REQUIRE_PG=1, so a server that cannot be started fails
# the run instead of skipping.
set -euo pipefail

HOST=127.0.0.1
PORT=5432
DB=test
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

if ! command -v pg_ctlcluster >/dev/null 2>&1; then
    echo "== pg-setup: installing postgresql"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends postgresql >/dev/null
fi

if ! pg_isready -q -h "$HOST" -p "$PORT"; then
    version="$(ls /etc/postgresql | sort -V | tail -n 1)"
    if [ -z "$version" ]; then
        echo "pg-setup: no PostgreSQL cluster under /etc/postgresql" >&2
        exit 1
    fi
    echo "== pg-setup: starting PostgreSQL $version/main"
    $SUDO pg_ctlcluster --skip-systemctl-redirect "$version" main start || true
    for _ in $(seq 1 60); do
        pg_isready -q -h "$HOST" -p "$PORT" && break
        sleep 0.5
    done
    if ! pg_isready -q -h "$HOST" -p "$PORT"; then
        echo "pg-setup: PostgreSQL did not come up on $HOST:$PORT" >&2
        exit 1
    fi
fi

exists="$(psql -h "$HOST" -p "$PORT" -U postgres -d postgres -Atc "SELECT 1 FROM pg_database WHERE datname = '$DB'")"
if [ "$exists" != "1" ]; then
    echo "== pg-setup: creating database $DB"
    createdb -h "$HOST" -p "$PORT" -U postgres "$DB"
fi
