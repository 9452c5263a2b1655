#!/usr/bin/env bash
# A throw-away PostgreSQL server on the loopback interface, for sweep tests and CI.
#
#   scripts/postgres.sh start [PORT]   installs PostgreSQL if missing (Debian/Ubuntu, as root),
#                                      creates a cluster in a fresh /tmp/simrnn-pg.XXXXXX folder,
#                                      starts it on 127.0.0.1:PORT (default: a free port) and prints
#                                        dir=/tmp/simrnn-pg.XXXXXX
#                                        url=postgresql://simrnn@127.0.0.1:PORT/simrnn
#   scripts/postgres.sh stop DIR       stops that server and removes DIR
#
# Exit status 3: PostgreSQL is not installed and cannot be installed here (not root, no apt-get).
# The server trusts local connections and runs with fsync off: for tests only, never for data.
set -euo pipefail

find_bindir() {
    local dir
    if command -v pg_config >/dev/null 2>&1; then
        dir="$(pg_config --bindir)"
        [[ -x "$dir/initdb" ]] && { echo "$dir"; return 0; }
    fi
    for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V -r); do
        [[ -x "$dir/initdb" ]] && { echo "$dir"; return 0; }
    done
    if command -v initdb >/dev/null 2>&1; then
        dirname "$(command -v initdb)"
        return 0
    fi
    return 1
}

install_postgres() {
    if [[ "$(id -u)" != 0 ]] || ! command -v apt-get >/dev/null 2>&1; then
        echo "postgres.sh: PostgreSQL is not installed and cannot be installed here (needs root and apt-get)" >&2
        exit 3
    fi
    echo "postgres.sh: installing PostgreSQL (apt-get install postgresql)" >&2
    export DEBIAN_FRONTEND=noninteractive
    if ! { apt-get update -qq >&2 && apt-get install -y -qq --no-install-recommends postgresql >&2; }; then
        echo "postgres.sh: apt-get could not install postgresql" >&2
        exit 3
    fi
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# Run a server binary as the cluster's owner: the `postgres` user when we are root (PostgreSQL
# refuses to run as root), ourselves otherwise.
as_owner() {
    if [[ "$(id -u)" == 0 ]]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start() {
    local port="${1:-$(free_port)}" bindir dir
    bindir="$(find_bindir)" || { install_postgres; bindir="$(find_bindir)"; } || {
        echo "postgres.sh: initdb not found after installing" >&2; exit 3; }
    dir="$(mktemp -d /tmp/simrnn-pg.XXXXXX)"
    if [[ "$(id -u)" == 0 ]]; then
        id postgres >/dev/null 2>&1 || useradd --system --no-create-home postgres
        chown postgres "$dir"
    fi
    as_owner "$bindir/initdb" -D "$dir/data" -U simrnn -A trust -E UTF8 --no-sync >"$dir/initdb.log" 2>&1 || {
        cat "$dir/initdb.log" >&2; exit 1; }
    as_owner "$bindir/pg_ctl" -D "$dir/data" -l "$dir/server.log" -w -t 60 \
        -o "-c listen_addresses=127.0.0.1 -p $port -k $dir -c fsync=off -c max_connections=100" start >/dev/null || {
        cat "$dir/server.log" >&2; exit 1; }
    "$bindir/createdb" -h 127.0.0.1 -p "$port" -U simrnn simrnn
    echo "dir=$dir"
    echo "url=postgresql://simrnn@127.0.0.1:$port/simrnn"
}

stop() {
    local dir="${1:?usage: postgres.sh stop DIR}" bindir
    [[ "$dir" == /tmp/simrnn-pg.* && -d "$dir/data" ]] || { echo "postgres.sh: $dir is not a server started by postgres.sh" >&2; exit 2; }
    bindir="$(find_bindir)"
    as_owner "$bindir/pg_ctl" -D "$dir/data" -m fast -w stop >/dev/null || true
    rm -rf "$dir"
}

case "${1:-}" in
    start) shift; start "$@" ;;
    stop) shift; stop "$@" ;;
    *) echo "usage: $0 start [PORT] | stop DIR" >&2; exit 2 ;;
esac
