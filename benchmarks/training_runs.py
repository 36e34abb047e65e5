"""Print the published-runs table of the README: each run's published figure beside the step-time
model's prediction from the published layout (no MFU given).

    python benchmarks/training_runs.py
"""

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))  # runnable from a checkout without PYTHONPATH (as bench.py)

from estimator.published_runs import load_runs, predict  # noqa: E402


def main() -> None:
    print("| run | figure | published | predicted | error | predicted MFU |")
    print("|---|---|---|---|---|---|")
    for run in load_runs():
        r = predict(run)
        fmt = {"gpu_hours": lambda x: f"{x / 1e6:.3f}M GPU-h", "mfu": lambda x: f"{x:.1%}",
               "step_time_s": lambda x: f"{x:.1f} s"}[r["figure"]]
        print(f"| {r['id']} | {r['figure']} | {fmt(r['published'])} | {fmt(r['predicted'])} "
              f"| {r['error']:+.0%} | {r['mfu']:.1%} |")


if __name__ == "__main__":
    main()
