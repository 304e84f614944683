#!/usr/bin/env bash
# Installs what the tests need and runs every test: the C++ ISA sweeps (ctest) and pytest.
# This is the README's test command and exactly what .ci/run calls.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}

# The package itself, the test tools, and the peers the tests compare with. All of them must be
# there: SEPCPP_REQUIRE_ALL=1 below turns a missing dependency, an ISA level this CPU has but
# sepcpp cannot run, and any skipped test into a failure (tests/python/optional_deps.py).
"$PY" -m pip install --quiet --disable-pip-version-check ".[test]" "tensorflow-cpu==2.21.0" "torch==2.13.0"

# C++: every compiled ISA level against the double-precision reference, warnings as errors.
gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)
# SEPCPP_REQUIRE_ALL=1: a test of an ISA level this CPU has fails instead of skipping (exit 77).
SEPCPP_REQUIRE_ALL=1 cmake -S . -B build/ctest "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSEPCPP_WERROR=ON >/dev/null
cmake --build build/ctest --parallel 2
ctest --test-dir build/ctest --output-on-failure
# The same tests on the OpenMP threading backend (-DSEPCPP_THREADING=openmp), kept as an option.
SEPCPP_REQUIRE_ALL=1 cmake -S . -B build/ctest-openmp "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DSEPCPP_WERROR=ON \
  -DSEPCPP_THREADING=openmp >/dev/null
cmake --build build/ctest-openmp --parallel 2
OMP_WAIT_POLICY=PASSIVE ctest --test-dir build/ctest-openmp --output-on-failure

# Python: the installed package (python/ is not on sys.path); every optional dependency and ISA
# level required, skips fail; the summary counts the tests run with each.
SEPCPP_REQUIRE_TENSORFLOW=1 SEPCPP_REQUIRE_ALL=1 "$PY" -m pytest tests/python -q -p no:cacheprovider

# Both again under AddressSanitizer + UndefinedBehaviorSanitizer (C++ tests for every ISA, then a
# reduced, edge-heavy pytest set against an ASan build of the extension).
bash tests/run_sanitizers.sh

# The manylinux wheel (tools/build_wheel.sh), installed as a binary into a fresh venv.
bash tests/check_wheel.sh

# The CUDA target, built as a user builds it (SEPCPP_CUDA=1 pip install .: the nvidia-cuda-* wheels
# come in as build requirements, tools/build_backend/) into a venv of its own, warnings as errors,
# then what can be checked without a GPU (tests/cuda_nodevice: it compiled, links the runtime
# statically, imports with no driver, refuses GPU calls clearly, leaves CPU calls as they were).
# The kernels' results are checked only on a device: tests/run_gpu.sh.
cuda_work=$(mktemp -d)
"$PY" -m venv --system-site-packages "$cuda_work/venv"
SEPCPP_CUDA=1 "$cuda_work/venv/bin/python" -m pip install --quiet --disable-pip-version-check \
  --config-settings=build-dir=build/cuda-ci --config-settings=cmake.define.SEPCPP_WERROR=ON .
SEPCPP_REQUIRE_ALL=1 "$cuda_work/venv/bin/python" -m pytest tests/cuda_nodevice -q -p no:cacheprovider
rm -rf "$cuda_work"
