#!/usr/bin/env bash
# Start a throwaway PostgreSQL server from Debian's packages on loopback and print its URL.
# Usage: eval "$(bash .ci/postgres.sh)"   -> exports SEEDREG_TEST_POSTGRES_URL
set -euo pipefail
PORT="${SEEDREG_PG_PORT:-54329}"
DATA="${SEEDREG_PG_DATA:-/tmp/seedreg-pg-$PORT}"

if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null) >&2
fi
BIN="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
run_as_pg() { if [ "$(id -u)" = 0 ]; then su postgres -s /bin/bash -c "$*"; else bash -c "$*"; fi; }

if ! run_as_pg "$BIN/pg_ctl -D $DATA status" >/dev/null 2>&1; then
    rm -rf "$DATA"
    mkdir -p "$DATA"
    [ "$(id -u)" = 0 ] && chown postgres:postgres "$DATA"
    run_as_pg "$BIN/initdb -D $DATA -U postgres --auth=trust -E UTF8" >/dev/null
    run_as_pg "$BIN/pg_ctl -D $DATA -l $DATA/server.log -w -o \"-p $PORT -k $DATA -c listen_addresses=127.0.0.1 -c max_connections=200 -c fsync=off\" start" >/dev/null
fi
run_as_pg "$BIN/psql -h 127.0.0.1 -p $PORT -U postgres -tc \"SELECT 1 FROM pg_database WHERE datname='seedreg_test'\"" | grep -q 1 \
    || run_as_pg "$BIN/createdb -h 127.0.0.1 -p $PORT -U postgres seedreg_test"
echo "export SEEDREG_TEST_POSTGRES_URL=postgresql+psycopg://postgres@127.0.0.1:$PORT/seedreg_test"
