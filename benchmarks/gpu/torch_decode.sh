#!/usr/bin/env bash
# The prepared GPU run: `planner bench --workload torch-decode` on the lent card, each run exported
# as a run bundle (commit them under data/runs/ with the card's provenance, which run.yaml carries:
# host, GPU name, driver, power limit, tool version).
# On the device, from the repository root: bash benchmarks/gpu/torch_decode.sh   (carry: .whl)
# SHAPES lists PROMPT:BATCHES per bench call (one run each); the default is issue #3's sweep at
# prompt 512. The KV-context grid of #15 (2026-11-28, about 4 minutes on an H100):
#   MODELS=llama-3.1-8b SHAPES="512:1,16,64 2048:1,16,64 8192:1,16 32768:1" WINDOW_S=6 WARMUP_S=1
# The device tool brings back at most 8 files: the bundles come back as one runs.tar, and
# $OUT/bench.db holds every run (`planner --db sqlite:///bench.db export KEY FOLDER`).
# Checked here on the CPU with: MODELS=llama-3.2-1b SHAPES="16:1 32:1,2" WINDOW_S=1 WARMUP_S=0 \
#   EXTRA_ARGS="--device cpu --hardware h200 --power-limit 700 --replay tests/fixtures/reference/h200-2026-11-26/trace.csv"
set -euo pipefail
OUT=${OUT:-/tmp/torch-decode-out}
mkdir -p "$OUT/runs"
if [ -d .whl ]; then
  python3 -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl
  export PYTHONPATH=/tmp/site
fi
# From a checkout (no pip install), the bundled data/ folder is importable as planner_data by a link.
mkdir -p /tmp/planner-src && ln -sfn "$PWD/data" /tmp/planner-src/planner_data
export PYTHONPATH="${PYTHONPATH:+$PYTHONPATH:}$PWD:/tmp/planner-src" PYTHONUNBUFFERED=1 PLANNER_DB_URL="sqlite:///$OUT/bench.db"
PLANNER="python3 -m planner.cli"
if command -v nvidia-smi >/dev/null; then
  nvidia-smi --query-gpu=name,driver_version,power.limit,clocks.max.sm,clocks.max.mem --format=csv | tee "$OUT/gpu.csv"
fi
python3 -c "import torch; print('torch', torch.__version__, 'cuda', torch.cuda.is_available())" | tee -a "$OUT/gpu.csv"
for model in ${MODELS:-llama-3.1-8b llama-3.2-1b}; do
  for shape in ${SHAPES:-512:1,16,64,256}; do
    $PLANNER bench --workload torch-decode --model "$model" --gpus "${GPU_INDEX:-0}" --concurrency "${shape#*:}" \
      --prompt-tokens "${shape%%:*}" --output-tokens 128 --warmup "${WARMUP_S:-2}" --window "${WINDOW_S:-10}" ${EXTRA_ARGS:-} \
      2>&1 | tee -a "$OUT/bench.log"
  done
done
$PLANNER measurements 2>&1 | grep -E "^ *model|torch-decode" | tee "$OUT/measurements.txt" || true
python3 - "$OUT" <<'PY'
import subprocess, sys
from models import Store
out = sys.argv[1]
runs = Store(f"sqlite:///{out}/bench.db").runs()
for key in runs[runs.tool == "planner bench"].source_key:
    folder = f"{out}/runs/" + key.replace("/", "-").replace(":", "")
    subprocess.run([sys.executable, "-m", "planner.cli", "export", key, folder], check=True)
PY
tar -C "$OUT" -cf "$OUT/runs.tar" runs && rm -r "$OUT/runs" && tar -tf "$OUT/runs.tar"
