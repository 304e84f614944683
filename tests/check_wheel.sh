#!/usr/bin/env bash
# The wheel as a user installs it: tools/build_wheel.sh builds the manylinux wheel, a fresh venv
# installs it as a binary only (--only-binary=:all:, so nothing is compiled there), and the installed
# package runs the demo and the CLI, loads the libgomp bundled in the wheel (not the system's), and
# carries the license.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

PYTHON="$PY" bash tools/build_wheel.sh "$work/wheels"
wheel=$(ls "$work"/wheels/sepcpp-*-manylinux_*_x86_64.whl)
"$PY" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check --only-binary=:all: "$wheel"
cd "$work"  # away from the source tree: the installed package, nothing else
"$work/venv/bin/python" -m sepcpp demo
"$work/venv/bin/sepcpp" --version
"$work/venv/bin/python" - <<'PY'
import glob, os
import numpy as np
import sepcpp

here = os.path.dirname(sepcpp.__file__)
x = np.ones((1, 16, 16, 8), np.float32)
y = sepcpp.separable_conv2d(x, np.ones((3, 3, 8, 1), np.float32), np.ones((1, 1, 8, 4), np.float32), 1, "SAME")
assert y[0, 8, 8, 0] == 72.0, y[0, 8, 8, 0]
gomp = sorted({line.split()[-1] for line in open("/proc/self/maps") if "libgomp" in line})
bundled = os.path.join(os.path.dirname(here), "sepcpp.libs")
assert gomp and all(p.startswith(bundled) for p in gomp), f"libgomp loaded from {gomp}, not {bundled}"
licenses = glob.glob(os.path.join(os.path.dirname(here), "sepcpp-*.dist-info", "licenses", "LICENSE"))
assert licenses and "Apache License" in open(licenses[0]).read(), licenses
print(f"wheel ok: libgomp from {gomp[0]}, license at {licenses[0]}")
PY
