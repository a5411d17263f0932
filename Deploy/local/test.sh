#!/usr/bin/env bash
# The whole test suite on a fresh Debian machine with the Swift toolchain: installs what it needs, starts a
# throwaway PostgreSQL (tests create one database each on it), builds with warnings as errors, runs every test.
set -euo pipefail
cd "$(dirname "$0")/../.."
bash Deploy/local/install-deps.sh
bash Deploy/check.sh   # the deployment artefacts (Deploy/): schemas, systemd-analyze, dashboard metric names

bindir=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
pgdir=$(mktemp -d /tmp/amc-test-pg.XXXXXX)
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
as_pg() { if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
if [ "$(id -u)" = 0 ]; then chown postgres:postgres "$pgdir"; fi
stop_pg() { as_pg "$bindir/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true; rm -rf "$pgdir"; }
trap stop_pg EXIT
as_pg "$bindir/initdb" -D "$pgdir/data" -U postgres --auth=trust --encoding=UTF8 --locale=C.UTF-8 >/dev/null
as_pg "$bindir/pg_ctl" -D "$pgdir/data" -l "$pgdir/server.log" -w -o \
    "-p $port -k $pgdir -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off -c synchronous_commit=off -c full_page_writes=off" \
    start >/dev/null
export AMC_TEST_DATABASE_URL="postgresql://postgres@127.0.0.1:$port/postgres"

swift format lint --strict --recursive Package.swift Sources Tests   # the style in .swift-format
swift build --build-tests -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error
swift test --skip-build 2>&1 | tee "$pgdir/test.log"
