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
noida_pid=
stop_services() {
    if [ -n "$noida_pid" ]; then kill -TERM "$noida_pid" 2>/dev/null || true; wait "$noida_pid" 2>/dev/null || true; fi
    as_pg "$bindir/pg_ctl" -D "$pgdir/data" -m immediate stop >/dev/null 2>&1 || true
    rm -rf "$pgdir"
}
trap stop_services EXIT
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

# noida-db, the independent Kafka broker the exactly-once tests run on besides the mock cluster (pinned, in a venv
# cached the same way; installed while the build runs). The package's noida-db script only wraps a binary it ships
# (and would not pass SIGTERM on), so the binary itself is run: one shared broker (AMC_TEST_NOIDA_BROKERS) and, for
# tests that stop and restart a broker mid-stream, the binary (AMC_TEST_NOIDA_DB) to start private ones with.
noida_requirements=Deploy/local/noida-requirements.txt
noida_venv="$cache/noida-$(sha256sum "$noida_requirements" | cut -c1-12)"
install_noida() {
    [ -f "$noida_venv/.installed" ] && return 0
    rm -rf "$noida_venv"
    mkdir -p "$cache"
    "$python" -m venv "$noida_venv"
    "$noida_venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$noida_requirements"
    touch "$noida_venv/.installed"
}
install_noida > "$pgdir/noida-install.log" 2>&1 &
noida_install=$!

swift format lint --strict --recursive Package.swift Sources Tests   # the style in .swift-format
swift build --build-tests -Xswiftc -warnings-as-errors --explicit-target-dependency-import-check error
wait "$fuzzer_install" || { cat "$pgdir/fuzzer-install.log"; exit 1; }
wait "$noida_install" || { cat "$pgdir/noida-install.log"; exit 1; }
noida=$("$noida_venv/bin/python" -c 'from importlib.resources import files; print(files("noida_db") / "noida-db")')
chmod +x "$noida"
noida_port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
"$noida" start --only kafka --kafka-port "$noida_port" --data-dir "$pgdir/noida" > "$pgdir/noida.log" 2>&1 &
noida_pid=$!
for _ in $(seq 1 600); do
    (exec 3<>"/dev/tcp/127.0.0.1/$noida_port") 2>/dev/null && break
    kill -0 "$noida_pid" 2>/dev/null || { cat "$pgdir/noida.log"; exit 1; }
    sleep 0.1
done
(exec 3<>"/dev/tcp/127.0.0.1/$noida_port") 2>/dev/null || { echo "noida-db did not start"; cat "$pgdir/noida.log"; exit 1; }
export AMC_TEST_NOIDA_DB="$noida" AMC_TEST_NOIDA_BROKERS="127.0.0.1:$noida_port"
# Two runs, every test in one of them. The exactly-once suites start brokers (mock clusters, noida-db processes) and
# `amc ingest` processes and wait on rebalances and outages; run beside the rest of the suite, which starts every
# test at once, they and it starve each other of the two cores. So they run first, on their own, then the rest.
broker_suites='IngestRecoveryTests|AssignmentWatchdogTests|KafkaAdminTests|KafkaConsumerGroupTests|KafkaResilienceTests|BenchIngestBrokerTests'
swift test --skip-build --filter "$broker_suites" 2>&1 | tee "$pgdir/test-brokers.log"
swift test --skip-build --skip "$broker_suites" 2>&1 | tee "$pgdir/test.log"
