"""Speed figures the project promises (issue: estimator core §7, compute model §8).

    python benchmarks/bench.py

Prints: `import estimator` time (fresh interpreter, and whether torch/streamlit/plotly got
imported); one full `estimate()` of Mixtral-8x7B, timed over a cycle of 50 distinct option sets
(batch × seq_len × dtype × tp), so that nothing computed for one call can be reused by the next
(the per-spec caches — parameter counts, per-token FLOPs, per-layer counts — stay warm, as in
the app); the same call repeated with the default options (the figure tests/test_loader_speed.py
checks); each section of `estimate()`; `Report.to_dict()` with and without the dense-vs-MoE
comparison; and a 10,000-point sweep including interpreter start-up (fresh process).

All timings are the best of several rounds: the machine is shared, and the minimum is the
figure least disturbed by other work.
"""

from __future__ import annotations

import itertools
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

MODEL = "mixtral-8x7b"
ROUNDS = 5


def option_cycle() -> list[dict]:
    """50 distinct workloads: 5 batches × 5 contexts, each with two of the four (dtype, tp)
    pairs (bf16/fp8 × tp 1/2), alternating, so every pair appears 12 or 13 times."""
    pairs = [("bf16", 1), ("fp8", 2), ("fp8", 1), ("bf16", 2)]
    out = []
    for i, (b, s) in enumerate(itertools.product((1, 4, 16, 64, 256),
                                                 (512, 1000, 4096, 8192, 32768))):
        for d, t in pairs[2 * (i % 2):2 * (i % 2) + 2]:
            out.append(dict(batch=b, seq_len=s, dtype=d, tp=t))
    return out


def best_per_call(fn, args: list, n_cycles: int) -> float:
    """Best (over ROUNDS) mean seconds per ``fn(arg)`` over ``n_cycles`` passes of ``args``."""
    best = float("inf")
    for _ in range(ROUNDS):
        t = time.perf_counter()
        for _ in range(n_cycles):
            for a in args:
                fn(a)
        best = min(best, (time.perf_counter() - t) / (n_cycles * len(args)))
    return best


def import_time() -> tuple[float, list[str]]:
    code = ("import time, sys; t=time.perf_counter(); import estimator; "
            "print(time.perf_counter()-t); "
            "print(','.join(m for m in ('torch','streamlit','plotly') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True,
                         check=True).stdout.splitlines()
    return float(out[0]), [m for m in (out[1] if len(out) > 1 else "").split(",") if m]


def estimate_times() -> dict[str, float]:
    import estimator
    from estimator import flops, memory, serving, training
    from estimator.hardware import get_gpu

    m = estimator.load_model(MODEL)
    opts = [estimator.make_options(**kw) for kw in option_cycle()]
    assert len(set(opts)) == len(opts) == 50
    reports = [estimator.estimate(m, options=o) for o in opts]  # warm the per-spec caches
    gpu = get_gpu(opts[0].gpu)
    by_opts = {id(r.options): r for r in reports}
    out = {
        "estimate": best_per_call(lambda o: estimator.estimate(m, options=o), opts, 40),
        "estimate_same_call": best_per_call(lambda _: estimator.estimate(m), [None] * 50, 40),
        # each section as estimate() calls it (serving and training compute reuse earlier ones)
        "flops": best_per_call(lambda o: flops.compute(m, o, gpu), opts, 40),
        "inference memory": best_per_call(lambda o: memory.compute(m, o, gpu), opts, 40),
        "training memory": best_per_call(lambda o: training.compute_memory(m, o, gpu), opts, 40),
        "training compute": best_per_call(
            lambda o: training.compute(m, o, gpu, flops_report=by_opts[id(o)].flops), opts, 40),
        "serving": best_per_call(
            lambda o: serving.compute(m, o, gpu, inference=by_opts[id(o)].inference,
                                      flops_report=by_opts[id(o)].flops), opts, 40),
        "to_dict": best_per_call(lambda r: r.to_dict(), reports, 4),
        "to_dict_no_compare": best_per_call(lambda r: r.to_dict(compare=False), reports, 10),
    }
    return out


def sweep_time() -> tuple[float, int]:
    code = ("import estimator; rows = estimator.sweep('mixtral-8x7b', {"
            "'num_local_experts': list(range(100, 200)), 'num_experts_per_tok': list(range(1, 101))"
            "}); print(len(rows)); assert not any(r['error'] for r in rows)")
    best, n = float("inf"), 0
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
        best, n = min(best, time.perf_counter() - t), int(out.strip())
    return best, n


def main() -> None:
    t, heavy = import_time()
    print(f"import estimator:               {t * 1e3:8.1f} ms   heavy modules imported: "
          f"{heavy or 'none'}")
    e = estimate_times()
    print(f"estimate('{MODEL}'):       {e['estimate'] * 1e6:8.1f} µs   (50 distinct option sets, "
          f"best of {ROUNDS})")
    print(f"  same call repeated (defaults): {e['estimate_same_call'] * 1e6:8.1f} µs")
    for name in ("flops", "inference memory", "training memory", "training compute", "serving"):
        print(f"  section {name + ':':23s}{e[name] * 1e6:8.1f} µs")
    print(f"Report.to_dict():               {e['to_dict'] * 1e6:8.1f} µs   (with dense_vs_moe: "
          "two more estimates)")
    print(f"Report.to_dict(compare=False):  {e['to_dict_no_compare'] * 1e6:8.1f} µs")
    s, n = sweep_time()
    print(f"sweep {n:,} points:             {s:8.2f} s    (fresh process, start-up included, "
          "best of 3)")


if __name__ == "__main__":
    main()
