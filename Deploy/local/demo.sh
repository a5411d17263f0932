#!/usr/bin/env bash
# The demo on a fresh Debian machine with the Swift toolchain: installs what it needs, builds, runs `amc demo`
# (which starts a local PostgreSQL under .amc/ and the embedded Kafka, and stops them when done).
set -euo pipefail
cd "$(dirname "$0")/../.."
bash Deploy/local/install-deps.sh
swift build -c release --product amc >&2
exec .build/release/amc demo "$@"
