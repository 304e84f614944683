#!/usr/bin/env bash
# AddressSanitizer + UndefinedBehaviorSanitizer (no recovery: the first report fails the run).
#
#   1. The C++ tests (test_ops: every op against the double-precision reference; test_guard: every
#      tensor against a PROT_NONE page) built with -DSEPCPP_SANITIZE=ON in build/asan and run by
#      ctest for every compiled ISA (an ISA this CPU lacks is skipped, exit 77), leak checking on.
#   2. The Python extension built with the same flags into build/asan-py/site, then a reduced,
#      edge-heavy pytest set run against it with the ASan runtime preloaded (Python itself is not
#      instrumented; leak checking off, since CPython keeps memory alive by design).
#
# Usage: bash tests/run_sanitizers.sh [cpp|python]   (default: both)
# Environment: PYTHON (default python3); SEPCPP_LSAN=0 turns leak checking off for the C++ tests
# (LeakSanitizer needs ptrace, which some containers forbid).
# About 5-7 minutes on 2 cores from scratch; the builds are incremental afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
WHAT=${1:-all}
JOBS=${SEPCPP_JOBS:-2}
start=$(date +%s)
stamp() { echo "[run_sanitizers] $* ($(($(date +%s) - start)) s)"; }

# OpenMP threads that spin while waiting are very slow on a loaded machine (each ASan test took
# ~8x longer with the default policy here); passive waiting keeps 2 threads as fast as 1.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-passive}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}

gen=()
command -v ninja >/dev/null 2>&1 && gen=(-G Ninja)

if [[ $WHAT == all || $WHAT == cpp ]]; then
  stamp "C++: configure and build build/asan"
  # Release optimisation (the code paths that ship) plus line tables for readable reports.
  cmake -S . -B build/asan "${gen[@]}" -DCMAKE_BUILD_TYPE=Release -DCMAKE_CXX_FLAGS="-g1" \
    -DSEPCPP_SANITIZE=ON -DSEPCPP_TESTS=ON >/dev/null
  cmake --build build/asan --parallel "$JOBS"
  stamp "C++: ctest (test_ops_<isa>, test_guard_<isa>)"
  ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=${SEPCPP_LSAN:-1}:abort_on_error=0:strict_string_checks=1:detect_stack_use_after_return=1} \
    ctest --test-dir build/asan --output-on-failure
fi

if [[ $WHAT == all || $WHAT == python ]]; then
  stamp "Python: build the extension with SEPCPP_SANITIZE=ON into build/asan-py/site"
  # Its own build directory (the default build/{wheel_tag} must not inherit SEPCPP_SANITIZE) and
  # its own install target (the normal installation stays as it is).
  # --no-build-isolation (so that the build directory stays valid between runs) needs the build
  # requirements of pyproject.toml in this environment.
  "$PY" -c "import scikit_build_core, pybind11" 2>/dev/null ||
    "$PY" -m pip install --quiet --disable-pip-version-check "scikit-build-core>=0.10" "pybind11>=2.12"
  rm -rf build/asan-py/site
  "$PY" -m pip install --quiet --disable-pip-version-check --no-build-isolation --no-deps \
    --target build/asan-py/site -Cbuild-dir=build/asan-py/build \
    -Ccmake.define.SEPCPP_SANITIZE=ON -Ccmake.define.CMAKE_CXX_FLAGS=-g1 .
  # The ASan runtime must come first; libstdc++ with it, because python is a C program: without
  # it ASan's __cxa_throw interceptor finds no real __cxa_throw when the extension first throws
  # (std::invalid_argument -> ValueError) and the process dies with "CHECK failed: real___cxa_throw".
  LIBASAN=$(readlink -f "$(gcc -print-file-name=libasan.so)")
  LIBSTDCXX=$(readlink -f "$(gcc -print-file-name=libstdc++.so)")
  for lib in "$LIBASAN" "$LIBSTDCXX"; do
    [[ -f $lib ]] || { echo "run_sanitizers: $lib not found (gcc -print-file-name)" >&2; exit 1; }
  done
  PRELOAD="$LIBASAN $LIBSTDCXX"
  export PYTHONPATH="$PWD/build/asan-py/site${PYTHONPATH:+:$PYTHONPATH}"
  export ASAN_OPTIONS="detect_leaks=0:allocator_may_return_null=1"
  export SEPCPP_ASAN=1 SEPCPP_STRESS_SECONDS=1 SEPCPP_PROPERTY_EXAMPLES=40
  # The extension really is the instrumented one.
  LD_PRELOAD=$PRELOAD "$PY" - <<'EOF'
import sepcpp, sys
core = sepcpp._core.__file__
assert "/build/asan-py/site/" in core, f"not the ASan build: {core}"
import subprocess
libs = subprocess.run(["ldd", core], capture_output=True, text=True).stdout
assert "libasan" in libs, f"{core} is not linked against libasan:\n{libs}"
import numpy as np
try:  # a C++ exception through the ASan runtime (see PRELOAD above)
    sepcpp.conv2d(np.ones((1, 3, 3, 2), "f4"), np.ones((1, 1, 3, 1), "f4"), 1, "SAME")
    raise SystemExit("no ValueError for a channel mismatch")
except ValueError:
    pass
print("sanitized extension:", core, "ISAs", sepcpp._core.isas_available())
EOF
  stamp "Python: pytest against the ASan build"
  # Edge-heavy: bad input, zero sizes, NaN/Inf, every memory layout, every ISA (exactness),
  # fuzzing (40 examples per op), metamorphic relations, threads and interrupts, resources, forked
  # children, pickled arrays and layers.
  # Not TensorFlow/PyTorch/Cython (huge uninstrumented libraries under the ASan runtime).
  # --capture=sys: a sanitizer report (written to fd 2 just before the process aborts) reaches
  # the log instead of dying inside pytest's fd capture.
  LD_PRELOAD=$PRELOAD "$PY" -m pytest -q -p no:cacheprovider -x --capture=sys \
    tests/python/test_bad_input.py tests/python/test_founding.py tests/python/test_golden.py \
    tests/python/test_vs_numpy.py tests/python/test_threads.py \
    tests/python/test_properties.py tests/python/test_metamorphic.py tests/python/test_exactness.py \
    tests/python/test_stress.py tests/python/test_resources.py tests/python/test_error_messages.py \
    tests/python/test_fork.py tests/python/test_pickle_and_dtypes.py \
    -k "not torch and not tensorflow"
fi
stamp "sanitizers passed"
