#!/usr/bin/env bash
# Validates the deployment artefacts under Deploy/ without building or running them: the Dockerfile, the compose
# setup (compose-spec schema), the Kubernetes manifests (Kubernetes OpenAPI schemas, strict), the systemd units
# (systemd-analyze verify), Prometheus' configuration and the Grafana dashboard (every metric it queries is in
# Deploy/grafana/metrics.txt). Prints one line per file; exits non-zero with the reasons when anything is wrong.
#
# Needs Debian's python3-venv and systemd (bash Deploy/local/install-deps.sh installs them). The PyPI packages in
# Deploy/check-requirements.txt go into a venv cached under $AMC_CACHE_DIR (default ~/.cache/amc-stream), keyed
# by that file's checksum; once installed, the check runs offline in a few seconds.
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=Deploy/check-requirements.txt
cache=${AMC_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/amc-stream}
venv="$cache/deploy-check-$(sha256sum "$requirements" | cut -c1-12)"

# Debian's interpreter (python3-venv is its venv module); any python3 ≥ 3.9 with venv works too.
python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

if [ ! -f "$venv/.installed" ]; then
    echo "Deploy/check.sh: installing the check's packages into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    if ! "$python" -m venv "$venv" >/dev/null; then
        echo "Deploy/check.sh: cannot create a venv with $python: install python3-venv (bash Deploy/local/install-deps.sh)" >&2
        exit 1
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
    touch "$venv/.installed"
fi

if ! command -v systemd-analyze >/dev/null; then
    echo "Deploy/check.sh: systemd-analyze is missing: install systemd (bash Deploy/local/install-deps.sh)" >&2
    exit 1
fi

exec "$venv/bin/python" Deploy/check.py "$@"
