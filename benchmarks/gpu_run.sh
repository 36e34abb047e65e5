#!/usr/bin/env bash
# One GPU session for the CUDA validation (memory: allocator peaks; speed: CUDA-event timings).
# Run on the device machine from the repository root:  OUT=/some/dir bash benchmarks/gpu_run.sh
# It measures only (raw JSON + logs); estimates are rendered afterwards on any machine:
#   python -m estimator.validation.gpu render OUT/cuda-memory-raw.json OUT/cuda-speed-raw.json \
#       --out docs/validation
# Each half has its own time limit so one failure cannot take the other's results with it.
# Needs python3 with torch (CUDA); PyYAML is taken from .gpu_deps/ (pure Python) if missing.
set -u
OUT="${OUT:-gpu-out}"
mkdir -p "$OUT"
if ! python3 -c "import yaml" 2>/dev/null; then
  export PYTHONPATH="$PWD/.gpu_deps${PYTHONPATH:+:$PYTHONPATH}"
fi
{
  date -u +%FT%TZ
  nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm,power.limit --format=csv
  python3 -c "import sys, torch; print('python', sys.version.split()[0], 'torch', torch.__version__, 'cuda', torch.version.cuda, torch.cuda.get_device_name(0))"
  python3 -c "import transformers; print('transformers', transformers.__version__)" 2>&1 | tail -1
} > "$OUT/environment.txt" 2>&1
cat "$OUT/environment.txt"
PARTS="${PARTS:-memory speed}"
if [[ " $PARTS " == *" memory "* ]]; then
  timeout "${MEMORY_LIMIT_S:-240}" python3 -m estimator.validation.gpu memory --device cuda \
    --out "$OUT" 2> "$OUT/memory.log"
  echo "memory: exit $?"; tail -3 "$OUT/memory.log"
fi
if [[ " $PARTS " == *" speed "* ]]; then
  timeout "${SPEED_LIMIT_S:-200}" python3 -m estimator.validation.gpu speed --device cuda \
    --out "$OUT" 2> "$OUT/speed.log"
  echo "speed: exit $?"; tail -3 "$OUT/speed.log"
fi
ls -la "$OUT"
