#!/usr/bin/env bash
# The whole device call of the GPU check (docs/performance.md, "GPU check"): install the carried
# wheels (benchmarks/gpu_wheels.sh, folder .whl) into a local target without touching the
# machine's torch, put that target and this checkout on PYTHONPATH (ferablate runs from the
# tree: its pyproject pins a newer torch than the device has, so no `pip install -e`), then run
# benchmarks/gpu_check.py into $OUT. Extra arguments go to gpu_check.py (e.g. --budget 300).
#
#   OUT=/some/folder bash benchmarks/gpu_check.sh [--smoke] [--budget S]
#
# Written into $OUT: gpu_check.json, gpu_check.md (rewritten after every step) and
# gpu_check.log (this script's output).
set -uo pipefail

OUT=${OUT:?set OUT to the folder the results go to}
PYTHON=${PYTHON:-python3}
WHEELS=${WHEELS:-.whl}
SITE=${SITE:-/tmp/ferablate-site}

mkdir -p "$OUT"
log="$OUT/gpu_check.log"
"$PYTHON" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade \
  --target "$SITE" "$WHEELS"/*.whl >"$log" 2>&1 || { cat "$log"; echo "error: wheels not installed"; exit 1; }
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"
export PYTHONUNBUFFERED=1
{
  date -u +"%Y-%m-%d %H:%M:%S UTC"
  "$PYTHON" -c 'import sys, torch, pydantic, mlflow, ferablate.config
print("python", sys.version.split()[0], "torch", torch.__version__, "cuda", torch.version.cuda,
      "gpu", torch.cuda.get_device_name(0) if torch.cuda.is_available() else None,
      "pydantic", pydantic.VERSION, "mlflow", mlflow.__version__)'
  nvidia-smi --query-gpu=name,driver_version,memory.total --format=csv,noheader 2>&1 || true
  command -v nvidia-cuda-mps-control || echo "nvidia-cuda-mps-control: not found"
} 2>&1 | tee -a "$log"
"$PYTHON" benchmarks/gpu_check.py --out "$OUT" "$@" 2>&1 | tee -a "$log"
