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

# The API fuzzer of APIFuzzTests (schemathesis, pinned), in a venv cached like Deploy/check.sh's (under
# $AMC_CACHE_DIR, keyed by the requirements' checksum); installed while the build runs.
requirements=Deploy/local/api-fuzz-requirements.txt
cache=${AMC_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/amc-stream}
venv="$cache/api-fuzz-$(sha256sum "$requirements" | cut -c1-12)"
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)
install_fuzzer() {
    [ -f "$venv/.installed" ] && return 0
    rm -rf "$venv"
    mkdir -p "$cache"
    "$python" -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements"
    touch "$venv/.installed"
}
install_fuzzer > "$pgdir/fuzzer-install.log" 2>&1 &
fuzzer_install=$!
export AMC_SCHEMATHESIS="$venv/bin/schemathesis"

swift format lint --strict --recursive Package.swift Sources Tests   # the style in .swift-format
swift build --build-tests -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error
wait "$fuzzer_install" || { cat "$pgdir/fuzzer-install.log"; exit 1; }
swift test --skip-build 2>&1 | tee "$pgdir/test.log"
