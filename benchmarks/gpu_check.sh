#!/usr/bin/env bash
# The GPU checks of issue 11 in one script, for a lent GPU machine (about 8 minutes on an H100).
#
#   bash benchmarks/gpu_check.sh [OUTDIR]      # from a copy of the repository (any folder)
#
# Runs, with XLA_PYTHON_CLIENT_PREALLOCATE=false (so subprocesses and torch get GPU memory):
#   1. environment: nvidia-smi, jax backend and devices, torch and CUDA versions;
#   2. the benchmarks' gpu section (python -m benchmarks.run --only gpu, no waiting, no retries;
#      its own time budget is 280 s) -> OUTDIR/RESULTS-gpu.md and OUTDIR/bench.log;
#   3. the fast test suite: python -m pytest -q -m "not slow" -x -> OUTDIR/pytest.log.
# OUTDIR defaults to $OUT (the device tool's output folder), else ./gpu-check-out.
# Python: $PYTHON, else python3. jaxnet runs from this copy (PYTHONPATH), nothing is installed.
# Exit status: 0 when both the benchmark (no failed agreement check) and the tests passed.
# To try the script on a machine without a GPU (a test of the script, not a measurement):
#   GPU_CHECK_BENCH_ARGS=--pretend-gpu GPU_CHECK_TESTS=tests/test_losses.py bash benchmarks/gpu_check.sh /tmp/gc
set -u
cd "$(dirname "$0")/.."
OUTDIR=${1:-${OUT:-gpu-check-out}}
mkdir -p "$OUTDIR"
PY=${PYTHON:-python3}
export XLA_PYTHON_CLIENT_PREALLOCATE=false PYTHONUNBUFFERED=1
export PYTHONPATH="$PWD${PYTHONPATH:+:$PYTHONPATH}"
start=$(date +%s)

{
  echo "== $(date -u '+%Y-%m-%d %H:%M:%S UTC') $(uname -srm), $(nproc) CPUs"
  if command -v nvidia-smi >/dev/null; then nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv 2>&1
  else echo "nvidia-smi not found"; fi
  timeout 120 "$PY" - <<'PY' 2>&1
import platform, jax
print("python", platform.python_version(), "| jax", jax.__version__, "| backend", jax.default_backend(),
      "| devices", jax.devices())
try:
    import torch
    print("torch", torch.__version__, "| cuda", torch.version.cuda, "| available", torch.cuda.is_available())
except ImportError:
    print("torch not importable")
PY
} 2>&1 | tee "$OUTDIR/env.txt"

echo "== gpu benchmarks"
set -o pipefail
timeout 300 "$PY" -m benchmarks.run --only gpu --wait-quiet 0 --retries 0 \
  --gpu-output "$OUTDIR/RESULTS-gpu.md" ${GPU_CHECK_BENCH_ARGS:-} 2>&1 | tee "$OUTDIR/bench.log"
bench_rc=$?

echo "== tests (not slow)"
timeout 180 "$PY" -m pytest -q -m "not slow" -x ${GPU_CHECK_TESTS:-} 2>&1 | tee "$OUTDIR/pytest.log"
tests_rc=$?

{
  echo "benchmark exit status: $bench_rc (124 = ran out of time; 1 = an agreement check failed or a row raised)"
  echo "pytest exit status: $tests_rc (124 = ran out of time)"
  echo "wall time: $(( $(date +%s) - start )) s"
  tail -n 3 "$OUTDIR/pytest.log"
} | tee "$OUTDIR/summary.txt"
[ "$bench_rc" -eq 0 ] && [ "$tests_rc" -eq 0 ]
