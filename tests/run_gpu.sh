#!/usr/bin/env bash
# The GPU check, on a machine with a CUDA device (CI has none: it runs tests/cuda_nodevice instead).
#
#   bash tests/run_gpu.sh            # builds, tests, benchmarks; the report goes to $SEPCPP_GPU_OUT
#
# 1. Builds and installs the CUDA build (SEPCPP_CUDA=1) into the Python in use. Offline first:
#    --no-build-isolation with the build tools already installed (scikit-build-core, pybind11,
#    cmake, ninja) and the nvcc on PATH or from the nvidia-cuda-nvcc wheel; with a network, the
#    ordinary isolated build fetches them (tools/build_backend adds the nvidia-cuda-* wheels).
# 2. Installs PyTorch if it is missing (the PyPI wheel for Linux comes with CUDA); needs a network.
# 3. Runs tests/gpu with SEPCPP_REQUIRE_GPU=1 (no skipping: a lost GPU or CUDA build fails).
# 4. Runs python -m sepcpp bench --device cuda (against cuDNN, batch 1 and 32).
# Everything is meant to fit in 8 minutes on an H200 machine with 16 cores; each step has a limit.
set -uo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
REPORT=${SEPCPP_GPU_OUT:-${OUT:-build/gpu-report}}
mkdir -p "$REPORT"
t0=$(date +%s)
step() { echo "== [$(($(date +%s) - t0)) s] $*"; }
status=0

step "machine"
nvidia-smi -L 2>&1 || true
"$PY" --version
command -v nvcc >/dev/null && nvcc --version | tail -2

step "build and install sepcpp with SEPCPP_CUDA=1"
export SEPCPP_CUDA=1 CMAKE_BUILD_PARALLEL_LEVEL=${CMAKE_BUILD_PARALLEL_LEVEL:-16}
# The machine's own nvcc first (it matches its driver); else CMake takes the nvidia-cuda-nvcc wheel's.
if [ -z "${CUDACXX:-}" ]; then
  for c in "$(command -v nvcc || true)" /usr/local/cuda/bin/nvcc; do
    if [ -n "$c" ] && [ -x "$c" ]; then export CUDACXX="$c"; break; fi
  done
fi
echo "CUDACXX=${CUDACXX:-none, so the nvcc of the nvidia-cuda-nvcc wheel}"
if "$PY" -c "import scikit_build_core, pybind11" 2>/dev/null; then
  timeout 300 "$PY" -m pip install --quiet --no-build-isolation --no-deps --no-index . 2>&1 | tail -20
else
  timeout 300 "$PY" -m pip install --quiet --no-deps . 2>&1 | tail -20
fi
"$PY" -c "import sepcpp, json; print(json.dumps(sepcpp.info()['cuda']))" | tee "$REPORT/info.json" || exit 1

step "PyTorch with CUDA"
if ! "$PY" -c "import torch; assert torch.cuda.is_available()" 2>/dev/null; then
  timeout 300 "$PY" -m pip install --quiet torch || echo "could not install torch (no network?)"
fi
"$PY" -c "import torch; print('torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name())"

step "tests/gpu"
# JAX would otherwise take most of the GPU's memory at its first use.
export XLA_PYTHON_CLIENT_PREALLOCATE=false SEPCPP_REQUIRE_GPU=1
timeout 300 "$PY" -m pytest tests/gpu -q -p no:cacheprovider -W default -rs --junitxml "$REPORT/tests.xml" 2>&1 |
  tee "$REPORT/tests.txt" | tail -40
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "benchmark: python -m sepcpp bench --device cuda"
timeout 240 "$PY" -m sepcpp bench --device cuda --batch 1 32 --repeat 30 --json "$REPORT/bench.json" 2>&1 |
  tee "$REPORT/bench.txt"
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1

step "done (status $status)"
exit $status
