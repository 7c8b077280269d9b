#!/usr/bin/env bash
# Throwaway PostgreSQL and Redis for the scale-out path (docs/scale-out.md).
#
#   scripts/scale-out-services.sh install     apt-get install postgresql and redis-server when missing
#   scripts/scale-out-services.sh start DIR   start both on free ports of 127.0.0.1; writes DIR/env
#   scripts/scale-out-services.sh stop DIR    stop both and delete their data
#
# Why a script and not the system services: tests and a developer's trial run
# need servers of their own that start empty, listen on loopback only, do not
# collide with anything already running, and leave nothing behind.
#
# DIR/env (mode 0600) holds the settings deploy/endpoints.scale-out.yml reads:
#   TRIALBOT_PG_PORT TRIALBOT_PG_DB TRIALBOT_PG_USER TRIALBOT_PG_PASSWORD
#   TRIALBOT_REDIS_PORT TRIALBOT_REDIS_PASSWORD
# Passwords come from the environment when set there, else are generated; they
# are never put on a command line (where `ps` would show them).
#
# PostgreSQL refuses to run as root. As root the cluster runs as the `postgres`
# user (created by Debian's package) in a fresh folder under /tmp that it owns
# (DIR itself may sit in a folder that user cannot enter); otherwise as you.
set -euo pipefail

HOST=127.0.0.1
PG_DB=${TRIALBOT_PG_DB:-trialbot}
PG_USER=${TRIALBOT_PG_USER:-trialbot}

die() { echo "scale-out-services: $*" >&2; exit 1; }

pg_bindir() {
    # Debian keeps the server programs out of PATH, in /usr/lib/postgresql/<version>/bin.
    local ctl
    ctl=$(ls -d /usr/lib/postgresql/*/bin/pg_ctl 2>/dev/null | sort -V | tail -n 1 || true)
    if [ -z "$ctl" ]; then ctl=$(command -v pg_ctl || true); fi
    [ -n "$ctl" ] || return 1
    dirname "$(readlink -f "$ctl")"
}

install_packages() {
    local missing=()
    pg_bindir >/dev/null || missing+=(postgresql)
    command -v redis-server >/dev/null || missing+=(redis-server)
    if [ ${#missing[@]} -eq 0 ]; then
        echo "scale-out-services: postgresql and redis-server are installed"
        return 0
    fi
    local sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        command -v sudo >/dev/null || die "need root or sudo to install: ${missing[*]}"
        sudo="sudo"
    fi
    echo "scale-out-services: installing Debian's ${missing[*]} (for tests/test_scale_out.py)"
    $sudo apt-get update -qq
    $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}"
    pg_bindir >/dev/null || die "postgresql was installed but no pg_ctl was found"
    command -v redis-server >/dev/null || die "redis-server was installed but is not on PATH"
}

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

secret() {
    python3 -c 'import secrets; print(secrets.token_urlsafe(24))'
}

# Run a command as the cluster's owner (postgres when we are root).
as_owner() {
    if [ "$(id -u)" -eq 0 ]; then
        runuser -u postgres -- "$@"
    else
        "$@"
    fi
}

start_postgres() {
    local dir=$1 bin port password pgtmp
    bin=$(pg_bindir) || die "PostgreSQL is not installed: run '$0 install' (make test does)"
    port=$(free_port)
    password=${TRIALBOT_PG_PASSWORD:-$(secret)}
    if [ "$(id -u)" -eq 0 ]; then
        getent passwd postgres >/dev/null || die "no 'postgres' user to run PostgreSQL as (root may not)"
        pgtmp=$(mktemp -d /tmp/trialbot-pg.XXXXXX)
        chown postgres: "$pgtmp"
    else
        pgtmp="$dir/pg"
        mkdir -p "$pgtmp"
    fi
    chmod 0700 "$pgtmp"
    echo "$pgtmp" > "$dir/pg.home"
    # The superuser is the OS user and logs in over the socket only (peer); the
    # application role logs in over TCP with a password (scram-sha-256).
    as_owner "$bin/initdb" -D "$pgtmp/data" -E UTF8 --locale=C.UTF-8 \
        --auth-local=peer --auth-host=scram-sha-256 >"$dir/initdb.log" 2>&1 \
        || { cat "$dir/initdb.log" >&2; die "initdb failed"; }
    as_owner "$bin/pg_ctl" -D "$pgtmp/data" -l "$pgtmp/postgres.log" -w -t 60 start \
        -o "-c listen_addresses=$HOST -p $port -c unix_socket_directories=$pgtmp" >/dev/null \
        || { as_owner cat "$pgtmp/postgres.log" >&2 || true; die "PostgreSQL did not start"; }
    # The password travels on standard input as a psql variable, never in argv.
    printf '%s\n' "CREATE ROLE \"$PG_USER\" LOGIN PASSWORD :'pw';" "CREATE DATABASE \"$PG_DB\" OWNER \"$PG_USER\";" \
        | as_owner "$bin/psql" -q -v ON_ERROR_STOP=1 -v pw="$password" -h "$pgtmp" -p "$port" -d postgres >/dev/null \
        || die "could not create the role and database"
    {
        echo "export TRIALBOT_PG_PORT=$port"
        echo "export TRIALBOT_PG_DB=$PG_DB"
        echo "export TRIALBOT_PG_USER=$PG_USER"
        echo "export TRIALBOT_PG_PASSWORD='$password'"
    } >> "$dir/env"
}

start_redis() {
    local dir=$1 port password
    command -v redis-server >/dev/null || die "redis-server is not installed: run '$0 install' (make test does)"
    port=$(free_port)
    password=${TRIALBOT_REDIS_PASSWORD:-$(secret)}
    # A config file (0600) keeps the password off the command line. Nothing is
    # saved to disk: locks only live while a turn is being processed.
    (umask 077; cat > "$dir/redis.conf" <<EOF
bind $HOST
port $port
protected-mode yes
requirepass $password
save ""
appendonly no
daemonize yes
pidfile $dir/redis.pid
logfile $dir/redis.log
dir $dir
EOF
    )
    redis-server "$dir/redis.conf" || die "redis-server did not start (see $dir/redis.log)"
    for _ in $(seq 1 100); do
        [ -s "$dir/redis.pid" ] && python3 - "$port" <<'EOF' && break
import socket, sys
try:
    socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=0.2).close()
except OSError:
    sys.exit(1)
EOF
        sleep 0.1
    done
    [ -s "$dir/redis.pid" ] || die "redis-server did not write its pid file (see $dir/redis.log)"
    {
        echo "export TRIALBOT_REDIS_PORT=$port"
        echo "export TRIALBOT_REDIS_PASSWORD='$password'"
    } >> "$dir/env"
}

start() {
    local dir=$1
    mkdir -p "$dir" && chmod 0700 "$dir"
    dir=$(cd "$dir" && pwd)
    [ ! -e "$dir/env" ] || die "$dir/env exists: stop those services first ('$0 stop $dir')"
    (umask 077; : > "$dir/env")
    start_postgres "$dir"
    start_redis "$dir"
    echo "scale-out-services: PostgreSQL and Redis are up on $HOST; settings in $dir/env"
}

stop() {
    local dir=$1 bin pgtmp pid
    [ -d "$dir" ] || return 0
    if [ -s "$dir/redis.pid" ]; then
        pid=$(cat "$dir/redis.pid")
        kill "$pid" 2>/dev/null || true
        for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$pid" 2>/dev/null || true
    fi
    if [ -s "$dir/pg.home" ]; then
        pgtmp=$(cat "$dir/pg.home")
        if [ -d "$pgtmp/data" ] && bin=$(pg_bindir); then
            as_owner "$bin/pg_ctl" -D "$pgtmp/data" -m immediate -w stop >/dev/null 2>&1 || true
        fi
        case "$pgtmp" in
            /tmp/trialbot-pg.*|"$dir"/pg) rm -rf "$pgtmp" ;;
            *) echo "scale-out-services: not removing unexpected folder $pgtmp" >&2 ;;
        esac
    fi
    rm -f "$dir/env" "$dir/redis.conf" "$dir/redis.pid" "$dir/redis.log" "$dir/pg.home" "$dir/initdb.log"
    rmdir "$dir" 2>/dev/null || true
}

case "${1:-}" in
    install) install_packages ;;
    start) [ -n "${2:-}" ] || die "usage: $0 start DIR"; start "$2" ;;
    stop) [ -n "${2:-}" ] || die "usage: $0 stop DIR"; stop "$2" ;;
    *) echo "usage: $0 install | start DIR | stop DIR" >&2; exit 2 ;;
esac
