"""Speed figures the project promises (issue: estimator core §7, compute model §8).

    python benchmarks/bench.py

Prints: `import estimator` time (fresh interpreter, and whether torch/streamlit/plotly got
imported), one full `estimate()` of Mixtral-8x7B, and a 10,000-point sweep including
interpreter start-up (fresh process).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def import_time() -> tuple[float, list[str]]:
    code = ("import time, sys; t=time.perf_counter(); import estimator; "
            "print(time.perf_counter()-t); "
            "print(','.join(m for m in ('torch','streamlit','plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return float(out[0]), [m for m in (out[1] if len(out) > 1 else "").split(",") if m]


def estimate_time(n: int = 2000) -> float:
    import estimator

    m = estimator.load_model("mixtral-8x7b")
    estimator.estimate(m)  # warm caches (hardware catalog)
    best = float("inf")
    for _ in range(5):
        t = time.perf_counter()
        for _ in range(n):
            estimator.estimate(m)
        best = min(best, (time.perf_counter() - t) / n)
    return best


def sweep_time() -> tuple[float, int]:
    code = ("import estimator; rows = estimator.sweep('mixtral-8x7b', {"
            "'num_local_experts': list(range(100, 200)), 'num_experts_per_tok': list(range(1, 101))"
            "}); print(len(rows)); assert not any(r['error'] for r in rows)")
    t = time.perf_counter()
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout
    return time.perf_counter() - t, int(out.strip())


def main() -> None:
    t, heavy = import_time()
    print(f"import estimator:            {t * 1e3:8.1f} ms   heavy modules imported: "
          f"{heavy or 'none'}")
    print(f"estimate('mixtral-8x7b'):    {estimate_time() * 1e6:8.1f} µs   (best of 5 × 2000)")
    s, n = sweep_time()
    print(f"sweep {n:,} points:          {s:8.2f} s    (fresh process, start-up included)")


if __name__ == "__main__":
    main()
