"""Speed figures the project promises (issue: estimator core §7, compute model §8).

    python benchmarks/bench.py

Prints: `import estimator` time (fresh interpreter, and whether torch/streamlit/plotly/numpy
got imported); one full `estimate()` of Mixtral-8x7B, timed over a cycle of 50 distinct option
sets (batch × seq_len × dtype × tp), cycled (the per-spec caches — parameter counts, per-token
FLOPs, per-layer counts, stage models — stay warm, as in the app, and so do the per-workload
ones: layout search, engine, latency, step time, the training and serving sections, and the
full report's dense-vs-MoE rows and GPU plan, keyed on the whole options); the same call
repeated with the default options (the figure tests/test_loader_speed.py checks); with a
new seq_len on every call, so that no per-workload cache can answer (options validated each
time); each section as `estimate()` computes it (training and serving are computed on their
first read, so `estimate()` alone leaves them out and the full report includes them); the full
report users get, `estimate(...).to_dict()` (with the dense-vs-MoE comparison and the GPU plan;
also with a new seq_len every call), and
`Report.to_dict()` alone with and without the comparison; llm-analysis's inference analysis of
the same model (`LLMAnalysis(...).inference(...)`, when it is installed:
`pip install --no-deps llm-analysis fire termcolor` — it pins an old transformers, and needs
only fire and termcolor at import) and the ratio of the two; a 10,000-point sweep including
interpreter start-up (fresh process); and a 1,000,000-point sweep (`sweep.columns`: experts ×
top-k × batch, 100 values each) in a fresh process, its seconds and peak memory (the process's
peak resident set, VmHWM, interpreter and numpy included). Both sweeps give an MFU (0.4): with
the default predicted MFU each point runs the step-time model, which has no array form
(`training._predicted_mfu`), about 0.25 ms a point.

Timings are CPU time of this process (`time.process_time`), the best of several rounds: the
machine is shared, and CPU time is the figure least disturbed by other work (wall time on a
loaded machine adds the time other processes hold the core).
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
    """Best (over ROUNDS) mean CPU seconds per ``fn(arg)`` over ``n_cycles`` passes of
    ``args``."""
    best = float("inf")
    for _ in range(ROUNDS):
        t = time.process_time()
        for _ in range(n_cycles):
            for a in args:
                fn(a)
        best = min(best, (time.process_time() - t) / (n_cycles * len(args)))
    return best


def import_time() -> tuple[float, list[str]]:
    code = ("import time, sys; t=time.perf_counter(); import estimator; "
            "print(time.perf_counter()-t); "
            "print(','.join(m for m in ('torch','streamlit','plotly','numpy') "
            "if m in sys.modules))")
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
    fresh = itertools.count(100_000)  # seq_len values no option set above uses
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
        "full_report": best_per_call(
            lambda o: estimator.estimate(m, options=o).to_dict(), opts, 4),
        # a workload never seen before on every call (a new seq_len: the app's context slider),
        # so no per-workload cache (layout search, engine, latency, step time, training and
        # serving sections, dense-vs-MoE rows, GPU plan) can answer
        "estimate_fresh": best_per_call(
            lambda _: estimator.estimate(m, seq_len=next(fresh)), [None] * 200, 2),
        "full_report_fresh": best_per_call(
            lambda _: estimator.estimate(m, seq_len=next(fresh)).to_dict(), [None] * 100, 2),
        "to_dict": best_per_call(lambda r: r.to_dict(), reports, 4),
        "to_dict_no_compare": best_per_call(lambda r: r.to_dict(compare=False), reports, 10),
    }
    return out


def llm_analysis_time() -> float | None:
    """llm-analysis's inference analysis of Mixtral-8x7B (its own configs: H100-SXM-80GB,
    16-bit weights and activations; tp=2 — one GPU does not hold the model), seconds per call;
    None when llm-analysis is not installed."""
    try:
        import logging

        from llm_analysis.analysis import LLMAnalysis
        from llm_analysis.config import (
            ModelConfig,
            ParallelismConfig,
            get_dtype_config_by_name,
            get_gpu_config_by_name,
        )
    except ImportError:
        return None
    logging.disable(logging.CRITICAL)  # it logs every analysis
    # Mixtral-8x7B's config.json; expansion_ratio given because 14336 is not a multiple of 4096
    mc = ModelConfig(name="mixtral-8x7b", num_layers=32, n_head=32, hidden_dim=4096,
                     vocab_size=32000, max_seq_len=32768, num_key_value_heads=8,
                     ffn_embed_dim=14336, expansion_ratio=14336 / 4096, moe_num_experts=8,
                     moe_top_k=2)
    gc, dc = get_gpu_config_by_name("h100-sxm-80gb"), get_dtype_config_by_name("w16a16e16")
    pc = ParallelismConfig(tp_size=2)

    def call(_):
        LLMAnalysis(mc, gc, dc, pc, flops_efficiency=0.4, hbm_memory_efficiency=0.8).inference(
            batch_size_per_gpu=1, seq_len=4096, num_tokens_to_generate=1)

    try:
        return best_per_call(call, [None] * 50, 4)
    finally:
        logging.disable(logging.NOTSET)


def sweep_time() -> tuple[float, int]:
    code = ("import estimator; rows = estimator.sweep('mixtral-8x7b', {"
            "'num_local_experts': list(range(100, 200)), 'num_experts_per_tok': list(range(1, 101))"
            "}, mfu=0.4); print(len(rows)); assert not any(r['error'] for r in rows)")
    best, n = float("inf"), 0
    for _ in range(3):
        t = time.perf_counter()
        out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout
        best, n = min(best, time.perf_counter() - t), int(out.strip())
    return best, n


MILLION = ("import resource, sys, time; t0 = time.process_time(); "
           "from estimator.sweep import columns; "
           "grid = {'num_local_experts': list(range(100, 200)), "
           "'num_experts_per_tok': list(range(1, 101)), 'batch': list(range(1, 101))}; "
           "n = fits = 0\n"
           "for c in columns('mixtral-8x7b', grid, mfu=0.4):\n"
           "    n += len(c['index']); fits += int(c['inference_fits'].sum())\n"
           "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')]\n"
           "print(n, fits, time.process_time() - t0, "
           "hwm[0].split()[1] if hwm else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)")


def million_time() -> tuple[float, int, float]:
    """A 1,000,000-point sweep in a fresh process: (CPU seconds from the first import of the
    sweep module to the last chunk, points, peak resident MB)."""
    best, n, mb = float("inf"), 0, 0.0
    for _ in range(3):
        out = subprocess.run([sys.executable, "-c", MILLION], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.split()
        s = float(out[2])
        if s < best:
            best, n, mb = s, int(out[0]), int(out[3]) / 1024  # VmHWM (peak RSS), KiB
    return best, n, mb


def main() -> None:
    t, heavy = import_time()
    print(f"import estimator:               {t * 1e3:8.1f} ms   heavy modules imported: "
          f"{heavy or 'none'}")
    e = estimate_times()
    print(f"estimate('{MODEL}'):       {e['estimate'] * 1e6:8.1f} µs   (50 distinct option sets, "
          f"best of {ROUNDS})")
    print(f"  same call repeated (defaults): {e['estimate_same_call'] * 1e6:8.1f} µs")
    print(f"  a new seq_len every call:      {e['estimate_fresh'] * 1e6:8.1f} µs   (no "
          "per-workload cache answers; option validation included)")
    for name in ("flops", "inference memory", "training memory", "training compute", "serving"):
        print(f"  section {name + ':':23s}{e[name] * 1e6:8.1f} µs")
    peer = llm_analysis_time()
    print(f"full report, estimate().to_dict(): {e['full_report'] * 1e6:8.1f} µs   (dense-vs-MoE "
          "rows and the GPU plan included)")
    print(f"  a new seq_len every call:      {e['full_report_fresh'] * 1e6:8.1f} µs")
    if peer is None:
        print("llm-analysis inference():       (not installed: pip install --no-deps "
              "llm-analysis fire termcolor)")
    else:
        print(f"llm-analysis inference():       {peer * 1e6:8.1f} µs   (full report / "
              f"llm-analysis = {e['full_report'] / peer:.2f}; estimate() / llm-analysis = "
              f"{e['estimate'] / peer:.2f})")
    print(f"Report.to_dict():               {e['to_dict'] * 1e6:8.1f} µs")
    print(f"Report.to_dict(compare=False):  {e['to_dict_no_compare'] * 1e6:8.1f} µs")
    s, n = sweep_time()
    print(f"sweep {n:,} points (rows):      {s:8.2f} s    (fresh process, start-up included, "
          "wall, best of 3)")
    s, n, mb = million_time()
    print(f"sweep {n:,} points (columns): {s:8.2f} s    peak memory {mb:.0f} MB (fresh "
          "process, CPU time from the import of estimator.sweep, best of 3)")

if __name__ == "__main__":
    main()
