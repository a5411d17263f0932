#!/usr/bin/env bash
# Installs the system packages amc-stream builds and runs with (Debian/Ubuntu). Needs root; a no-op when present.
set -euo pipefail
packages=(librdkafka-dev libpq-dev pkg-config postgresql kcat python3-numpy "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
