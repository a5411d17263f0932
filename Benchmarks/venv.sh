#!/usr/bin/env bash
# Prints the Python interpreter of the benchmarks' venv, creating it first if needed: the packages of
# Benchmarks/requirements.txt (NumPy, onnx, onnxruntime) in a venv cached under $AMC_CACHE_DIR (default
# ~/.cache/amc-stream), keyed by that file's checksum, like Deploy/check.sh's. Needs python3-venv
# (bash Deploy/local/install-deps.sh). Use: .build/release/amc bench score --python "$(bash Benchmarks/venv.sh)"
set -euo pipefail
cd "$(dirname "$0")/.."

requirements=Benchmarks/requirements.txt
cache=${AMC_CACHE_DIR:-${XDG_CACHE_HOME:-${HOME:-/tmp}/.cache}/amc-stream}
venv="$cache/bench-$(sha256sum "$requirements" | cut -c1-12)"

python=/usr/bin/python3
[ -x "$python" ] || python=$(command -v python3)

if [ ! -f "$venv/.installed" ]; then
    echo "Benchmarks/venv.sh: installing the references' packages into $venv" >&2
    rm -rf "$venv"
    mkdir -p "$cache"
    if ! "$python" -m venv "$venv" >/dev/null; then
        echo "Benchmarks/venv.sh: cannot create a venv with $python: install python3-venv (bash Deploy/local/install-deps.sh)" >&2
        exit 1
    fi
    "$venv/bin/pip" install --quiet --disable-pip-version-check --no-input -r "$requirements" >&2
    touch "$venv/.installed"
fi
echo "$venv/bin/python"
