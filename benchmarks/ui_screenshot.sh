#!/usr/bin/env bash
# Screenshot of `ferablate ui SWEEP` in headless Chromium: checks that the UI lands on the sweep's
# runs table (model-training mode, trial runs by val_accuracy_mean, metric and param columns),
# and writes the picture the docs show (docs/img/mlflow-ui-runs.png).
#
#   apt-get install -y chromium          # Debian's chromium, once
#   benchmarks/ui_screenshot.sh [OUT.png] [STORE_DIR]
#
# Trains four tiny trials (synthetic faces, 2 folds, 3 epochs; about a minute on 2 cores) into
# STORE_DIR (default: a new temporary folder; an existing store there is reused), starts
# `ferablate ui` on a free port, waits for its "ready" line, takes the screenshot and stops the
# UI (SIGTERM to ferablate, which stops the server's whole process group).
set -euo pipefail
cd "$(dirname "$0")/.."
out=${1:-docs/img/mlflow-ui-runs.png}
store=${2:-$(mktemp -d)}
browser=$(command -v chromium || command -v chromium-browser || command -v google-chrome) || {
  echo "error: no chromium found; apt-get install -y chromium" >&2; exit 2; }
export PYTHONPATH=$PWD MLFLOW_TRACKING_URI="sqlite:///$store/mlflow.db" OMP_NUM_THREADS=1

sweep=$store/ui-demo.yaml
cat > "$sweep" <<'EOF'
name: ui-demo
description: four small model-1 ablation rows on synthetic faces
base:
  data: {source: synthetic, synthetic_size: 1400}
  model: {preset: baseline-model1}
  train: {folds: 2, epochs: 3, batch_size: 32, lr: 0.002}
variants:
  - name: baseline
  - name: elu
    set: {model.activation: elu}
  - name: no-bn
    set: {model.batch_norm: false}
  - name: dropout
    set: {model.dropout: 0.2}
EOF
python -m ferablate run "$sweep" --no-figures >&2  # finished trials are skipped on a re-run

port=$(python -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
python -m ferablate ui "$sweep" --port "$port" > "$store/ui.out" &
ui=$!
trap 'kill -TERM "$ui" 2>/dev/null; wait "$ui" || true' EXIT
until url=$(grep -o 'http://[^ ]*' "$store/ui.out"); do
  kill -0 "$ui" 2>/dev/null || { echo "error: ferablate ui exited" >&2; exit 1; }
  sleep 0.5
done
grep ready "$store/ui.out" >&2
# 15 s of virtual time lets the single-page app fetch the runs and lay out the table.
"$browser" --headless --no-sandbox --disable-gpu --hide-scrollbars --window-size=1920,900 \
  --virtual-time-budget=15000 --screenshot="$out" "$url" 2>/dev/null
echo "$out ($(du -k "$out" | cut -f1) KB) from $url"
