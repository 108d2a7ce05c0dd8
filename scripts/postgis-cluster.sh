#!/usr/bin/env bash
# A throwaway PostgreSQL 15 + PostGIS cluster for the tests (CI and developer machines).
#
#   eval "$(bash scripts/postgis-cluster.sh start)"   # starts it; exports LANDRENEW_TEST_PG_URL
#   bash scripts/postgis-cluster.sh url               # prints the export line again
#   bash scripts/postgis-cluster.sh stop              # stops it and deletes its folder
#
# Needs Debian's postgresql-15-postgis-3.  PostgreSQL refuses to run as root, so when run as root the cluster
# belongs to the `postgres` OS user (runuser).  Trust authentication, listening on 127.0.0.1 only.
# Settings: LANDRENEW_PG_DIR (default /tmp/landrenew-pg), LANDRENEW_PG_PORT (default 55432),
#           LANDRENEW_PG_BIN (default /usr/lib/postgresql/15/bin).
set -euo pipefail

DIR="${LANDRENEW_PG_DIR:-/tmp/landrenew-pg}"
PORT="${LANDRENEW_PG_PORT:-55432}"
BIN="${LANDRENEW_PG_BIN:-/usr/lib/postgresql/15/bin}"
URL="postgresql://postgres@127.0.0.1:${PORT}/postgres"

as_owner() {
    if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

export_line() { echo "export LANDRENEW_TEST_PG_URL=${URL}"; }

start() {
    [ -x "$BIN/initdb" ] || { echo "postgis-cluster: $BIN/initdb not found (apt-get install postgresql-15-postgis-3)" >&2; exit 1; }
    if [ -f "$DIR/data/postmaster.pid" ] && as_owner "$BIN/pg_ctl" -D "$DIR/data" status >/dev/null 2>&1; then
        echo "postgis-cluster: already running in $DIR" >&2
        export_line
        return
    fi
    rm -rf "$DIR"
    mkdir -p "$DIR"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$DIR"; fi
    as_owner "$BIN/initdb" -D "$DIR/data" -U postgres --auth=trust -E UTF8 --no-locale --no-sync >"$DIR/initdb.log" 2>&1 \
        || { cat "$DIR/initdb.log" >&2; exit 1; }
    as_owner "$BIN/pg_ctl" -D "$DIR/data" -l "$DIR/server.log" -w -t 60 \
        -o "-p $PORT -k $DIR -c listen_addresses=127.0.0.1 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
        start >&2 || { cat "$DIR/server.log" >&2; exit 1; }
    # PostGIS in template1: every database created for the tests has it
    for db in template1 postgres; do
        as_owner "$BIN/psql" -h "$DIR" -p "$PORT" -U postgres -d "$db" -v ON_ERROR_STOP=1 -q \
            -c "CREATE EXTENSION IF NOT EXISTS postgis" >&2
    done
    echo "postgis-cluster: PostgreSQL $("$BIN/postgres" --version | awk '{print $3}') + PostGIS on $URL" >&2
    export_line
}

stop() {
    if [ -d "$DIR/data" ]; then
        as_owner "$BIN/pg_ctl" -D "$DIR/data" -m fast -w stop >&2 || true
    fi
    rm -rf "$DIR"
}

case "${1:-}" in
    start) start ;;
    stop) stop ;;
    url) export_line ;;
    *) echo "usage: $0 start|stop|url" >&2; exit 2 ;;
esac
