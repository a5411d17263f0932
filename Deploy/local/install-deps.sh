#!/usr/bin/env bash
# Installs the system packages amc-stream builds and runs with (Debian/Ubuntu). Needs root; a no-op when present.
# python3-venv and systemd serve Deploy/check.sh (its PyPI packages live in a venv; systemd-analyze verify);
# chromium opens the demo's HTML report headless in the report's browser test.
set -euo pipefail
packages=(librdkafka-dev libpq-dev pkg-config postgresql kcat python3-numpy python3-venv systemd chromium "$@")
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq "${missing[@]}" >/dev/null
fi
