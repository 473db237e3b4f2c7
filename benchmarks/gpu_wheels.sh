#!/usr/bin/env bash
# Download the wheels that `benchmarks/gpu_check.sh` installs on the device machine into .whl/
# (ignored by git; name it in the device call's `carry`). Run from the repository root, on a
# machine with pip and network:
#
#   bash benchmarks/gpu_wheels.sh
#
# The device machine (docs/performance.md, "GPU check") has Python 3.12 with torch 2.11 + CUDA,
# torchvision, numpy, pandas, scikit-learn, scipy, matplotlib, typer, rich, pyyaml, protobuf,
# packaging, requests and more, but no pydantic, MLflow or Optuna, and no network. Listed here:
# exactly the distributions that `ferablate run --no-figures` and `benchmarks/gpu_check.py`
# import and that its package list lacks (found by recording the imported modules of a run,
# 2026-12-03), at the versions ferablate is tested with. mlflow-skinny holds the whole tracking
# client and the SQLite store (the full `mlflow` wheel adds the UI server's JavaScript). Optuna
# and baycomp are not needed: the check runs no search and no Bayesian comparison.
#
# Everything carried travels in the 64 MiB working-tree limit; the script fails above
# LIMIT_MIB (default 40, leaving room for the tree itself).
set -euo pipefail

DEST=${DEST:-.whl}
LIMIT_MIB=${LIMIT_MIB:-40}
PYTHON=${PYTHON:-python3}
PY_VERSION=${PY_VERSION:-3.12}  # the device's Python; another only to test the list elsewhere

WHEELS=(
  # pydantic (ferablate.config)
  pydantic==2.14.4 pydantic-core==2.50.5 annotated-types==0.8.0 typing-inspection==0.4.5
  typing-extensions==4.16.0
  # MLflow's tracking client and SQLite store (ferablate.tracking, `ferablate run`)
  mlflow-skinny==3.17.2 sqlalchemy==2.1.9 alembic==1.20.1 mako==1.4.3 sqlparse==0.6.1
  cachetools==7.3.3 importlib-metadata==9.1.0
  opentelemetry-api==1.45.2 opentelemetry-sdk==1.45.2 opentelemetry-proto==1.45.2
  opentelemetry-semantic-conventions==0.66b2
  databricks-sdk==0.167.0 google-auth==2.63.0 cryptography==50.0.2 cffi==2.1.1
  fastapi==0.165.0 starlette==1.10.0
  # ferablate.models' layer tables
  torchinfo==1.8.0
)

rm -rf "$DEST"
mkdir -p "$DEST"
"$PYTHON" -m pip download --quiet --no-deps --only-binary=:all: --python-version "$PY_VERSION" \
  --implementation cp --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 \
  --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 \
  --platform manylinux1_x86_64 --platform manylinux_2_34_x86_64 -d "$DEST" "${WHEELS[@]}"

count=$(find "$DEST" -maxdepth 1 -type f -name '*.whl' | wc -l)
if [ "$count" -ne "${#WHEELS[@]}" ]; then
  echo "error: ${#WHEELS[@]} wheels listed, $count downloaded into $DEST" >&2
  exit 1
fi
size_kib=$(du -sk "$DEST" | cut -f1)
echo "$count wheels, $((size_kib / 1024)) MiB in $DEST (limit ${LIMIT_MIB} MiB)"
if [ "$size_kib" -gt $((LIMIT_MIB * 1024)) ]; then
  echo "error: $DEST is over ${LIMIT_MIB} MiB: the device call carries at most 64 MiB in all" >&2
  exit 1
fi
