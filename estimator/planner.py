"""Training plan search: the parallel layouts of a job that fit in memory, ranked by predicted
step time (:mod:`estimator.steptime`).

Not :func:`estimator.memory.smallest_fit`, which finds the fewest GPUs that *serve* a model.
Here the GPU count is given and the search walks the layouts Megatron-Core can run on it:

* ``tp`` (powers of two inside the NVLink domain, dividing the heads), ``pp`` (powers of two up
  to the layer count), ``ep`` (divisors of the expert count that fit the expert group), ``cp``
  (2–8 only at ``seq_len ≥ CP_FROM_SEQ``), ``dp`` the rest;
* ``micro_batch`` in :data:`MICRO_BATCHES`, ``grad_accum`` then set so that every layout trains
  the same global batch (``global_batch`` sequences per step: the one the given options
  describe unless told);
* ``pp_schedule`` 1F1B and, where the layers split evenly, interleaved with 2 chunks;
* the least memory-saving that fits: ZeRO 1, then 2, then 3 (ZeRO-1 moves the same gradient
  bytes as plain data parallelism and shards the optimizer step, so it is never slower in this
  model; ZeRO-2 adds a reduce-scatter per micro-batch, ZeRO-3 the weight gathers), and within
  it recompute none, then selective, then full (each adds work).

DualPipe and DeepEP are not searched (they need their own kernels); give them as options to
price a layout that uses them.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from . import ckpt_quant, steptime, training
from .errors import EstimatorError
from .hardware import get_gpu
from .options import make_options
from .presets import load_model

MICRO_BATCHES = (1, 2, 4)
CP_FROM_SEQ = 16384
ZERO_ORDER = (1, 2, 3)
RECOMPUTE_ORDER = ("none", "selective", "full")
LAYOUT_KEYS = ("tp", "pp", "ep", "cp", "zero", "recompute", "micro_batch", "grad_accum",
               "pp_schedule", "virtual_stages")


@dataclass(frozen=True)
class PlanRow:
    layout: dict[str, Any]
    dp: int
    etp: int
    step_time_s: float
    mfu: float
    peak_bytes_per_gpu: int
    breakdown: dict[str, float]

    def to_dict(self) -> dict[str, Any]:
        return {**self.layout, "dp": self.dp, "etp": self.etp, "step_time_s": self.step_time_s,
                "mfu": self.mfu, "peak_bytes_per_gpu": self.peak_bytes_per_gpu,
                "breakdown_s": dict(self.breakdown)}


@dataclass(frozen=True)
class Plan:
    model: str
    gpu: str
    num_gpus: int
    global_batch: int
    seq_len: int
    rows: tuple[PlanRow, ...]
    tried: int
    not_fitting: int
    invalid: int
    why: str
    notes: tuple[str, ...] = field(default=())

    def to_dict(self) -> dict[str, Any]:
        return {"model": self.model, "gpu": self.gpu, "num_gpus": self.num_gpus,
                "global_batch": self.global_batch, "seq_len": self.seq_len,
                "tokens_per_step": self.global_batch * self.seq_len,
                "layouts": [r.to_dict() for r in self.rows], "tried": self.tried,
                "not_fitting": self.not_fitting, "invalid": self.invalid, "why": self.why,
                "notes": list(self.notes)}


def _powers_of_two(limit: int) -> list[int]:
    out, x = [], 1
    while x <= limit:
        out.append(x)
        x *= 2
    return out


def candidate_layouts(spec, num_gpus: int, nvlink_domain: int, seq_len: int):
    """(tp, pp, cp, ep) combinations with ``tp·pp·cp`` dividing ``num_gpus`` and each size
    allowed by the model (heads, layers, experts); the full rules are
    :func:`estimator.training.parallel_plan`'s, applied by the caller."""
    L = spec.num_hidden_layers
    tps = [t for t in _powers_of_two(min(nvlink_domain, num_gpus))
           if spec.num_attention_heads % t == 0]
    pps = [p for p in _powers_of_two(min(L, num_gpus))]
    cps = [1] + ([c for c in (2, 4, 8)] if seq_len >= CP_FROM_SEQ else [])
    eps = ([e for e in _powers_of_two(num_gpus) if spec.num_experts % e == 0]
           if spec.is_moe else [1])
    for tp in tps:
        for pp in pps:
            for cp in cps:
                if num_gpus % (tp * pp * cp):
                    continue
                for ep in eps:
                    yield tp, pp, cp, ep


def plan(model, num_gpus: int, global_batch: int = 0, top: int = 10, **options) -> Plan:
    """Rank the layouts of ``model`` on ``num_gpus`` GPUs by predicted step time (module
    docstring). ``options``: any :class:`estimator.options.Options` field (gpu, seq_len, dtype,
    ...); layout fields given here are the search's, not fixed. ``global_batch``: sequences per
    optimizer step (0 = micro_batch × grad_accum × dp of the options as given)."""
    m = load_model(model)
    spec = m.spec
    if isinstance(num_gpus, bool) or not isinstance(num_gpus, int) or num_gpus < 1:
        raise EstimatorError("num_gpus", num_gpus, "must be a whole number >= 1")
    if isinstance(top, bool) or not isinstance(top, int) or top < 1:
        raise EstimatorError("top", top, "must be a whole number >= 1")
    base = make_options(**ckpt_quant.resolve_kwargs(m, {**options, "num_gpus": num_gpus}))
    gpu = get_gpu(base.gpu)
    if training.training_refusal(spec):  # V4, A.X-K2, HY-V4, Gemma-3n, Zamba,
        # RecurrentGemma, RWKV, xLSTM: nothing to rank
        training.parallel_plan(spec, base)  # raises, naming why
    if global_batch == 0:
        global_batch = base.micro_batch * base.grad_accum * max(1, base.dp)
    if isinstance(global_batch, bool) or not isinstance(global_batch, int) or global_batch < 1:
        raise EstimatorError("global_batch", global_batch, "must be a whole number >= 1")
    domain = gpu.interconnect.nvlink_domain if gpu.interconnect else 1
    rows: list[PlanRow] = []
    tried = not_fitting = invalid = 0
    for tp, pp, cp, ep in candidate_layouts(spec, num_gpus, domain, base.seq_len):
        dp = num_gpus // (tp * pp * cp)
        schedules = [("1f1b", 1)]
        if pp > 1 and spec.num_hidden_layers % (2 * pp) == 0:
            schedules.append(("interleaved", 2))
        for mb in MICRO_BATCHES:
            if global_batch % (dp * mb):
                continue
            ga = global_batch // (dp * mb)
            for sched, v in schedules:
                tried += 1
                row = _first_fitting(m, base, gpu, tp=tp, pp=pp, cp=cp, ep=ep, micro_batch=mb,
                                     grad_accum=ga, pp_schedule=sched, virtual_stages=max(v, 2))
                if row is None:
                    not_fitting += 1
                elif row == "invalid":
                    invalid += 1
                else:
                    rows.append(row)
    rows.sort(key=lambda r: r.step_time_s)
    notes = ("DualPipe and DeepEP are not searched: give pp_schedule='dualpipe' or "
             "moe_dispatcher='deepep' to price a layout that uses them",
             "ZeRO-0 is not listed: ZeRO-1 moves the same gradient bytes and shards the "
             "optimizer step, never slower in this model")
    return Plan(model=m.name, gpu=gpu.id, num_gpus=num_gpus, global_batch=global_batch,
                seq_len=base.seq_len, rows=tuple(rows[:top]), tried=tried,
                not_fitting=not_fitting, invalid=invalid, why=why_best(rows), notes=notes)


def _first_fitting(m, base, gpu, **layout):
    """The first (ZeRO, recompute) in :data:`ZERO_ORDER` × :data:`RECOMPUTE_ORDER` that fits,
    as a :class:`PlanRow`; None if none fits; "invalid" if the layout breaks a rule."""
    for zero in ZERO_ORDER:
        for rec in RECOMPUTE_ORDER:
            try:
                opts = base.replace(zero=zero, recompute=rec, **layout)
                mem = training.compute_memory(m, opts, gpu)
                if not mem.fits:
                    continue
                st = steptime.step_time(m, opts, gpu)
            except EstimatorError:
                return "invalid"
            lay = {k: getattr(opts, k) for k in LAYOUT_KEYS}
            if lay["pp_schedule"] != "interleaved":
                lay.pop("virtual_stages")
            return PlanRow(layout=lay, dp=opts.dp, etp=mem.plan.etp,
                           step_time_s=st.step_time_s, mfu=st.mfu, peak_bytes_per_gpu=mem.peak,
                           breakdown=dict(st.breakdown))
    return None


def _describe(row: PlanRow) -> str:
    lay = row.layout
    s = (f"tp={lay['tp']} pp={lay['pp']} ep={lay['ep']} cp={lay['cp']} dp={row.dp} "
         f"zero={lay['zero']} recompute={lay['recompute']} micro_batch={lay['micro_batch']}")
    if lay["pp"] > 1:
        s += f" {lay['pp_schedule']}"
    return s


def why_best(rows: list[PlanRow]) -> str:
    """Why the fastest layout wins: its step against the runner-up's, and the parts of the
    step (compute, exposed communication by kind, bubble, optimizer) that differ most."""
    if not rows:
        return "no layout fits in memory: more GPUs, a larger GPU, or a smaller global batch"
    best = rows[0]
    if len(rows) == 1:
        return f"{_describe(best)} is the only layout that fits"
    nxt = rows[1]
    keys = set(best.breakdown) | set(nxt.breakdown)
    diffs = sorted(((nxt.breakdown.get(k, 0.0) - best.breakdown.get(k, 0.0), k) for k in keys),
                   reverse=True)
    parts = [f"{k} {d:+.3f} s" for d, k in diffs if d > 1e-4][:3]
    return (f"{_describe(best)}: {best.step_time_s:.3f} s per step (MFU {best.mfu:.1%}) vs "
            f"{nxt.step_time_s:.3f} s for {_describe(nxt)}; the runner-up spends more on "
            + (", ".join(parts) if parts else "nothing in particular (a tie)"))


def render(p: Plan, fmt: str) -> str:
    """The plan as JSON or a Markdown table (the model name is a user string: escaped)."""
    if fmt == "json":
        import json

        return json.dumps(p.to_dict(), indent=2) + "\n"
    from .formats import plain

    gib = 2**30
    lines = [f"# Training plan: {plain(p.model)} on {p.num_gpus} × {plain(p.gpu)}", "",
             f"Global batch {p.global_batch} sequences × {p.seq_len} tokens per step; "
             f"{p.tried} layouts tried, {p.not_fitting} do not fit, {p.invalid} break a "
             "layout rule. Step time predicted by estimator/steptime.py.", "",
             "| # | tp | pp | ep | cp | dp | ZeRO | recompute | micro-batch | grad accum | "
             "schedule | step (s) | MFU | peak GiB/GPU |",
             "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"]
    for i, r in enumerate(p.rows, 1):
        lay = r.layout
        sched = lay["pp_schedule"] if lay["pp"] > 1 else "-"
        lines.append(f"| {i} | {lay['tp']} | {lay['pp']} | {lay['ep']} | {lay['cp']} | {r.dp} | "
                     f"{lay['zero']} | {lay['recompute']} | {lay['micro_batch']} | "
                     f"{lay['grad_accum']} | {sched} | {r.step_time_s:.3f} | {r.mfu:.1%} | "
                     f"{r.peak_bytes_per_gpu / gib:.1f} |")
    # why and notes are built from layout numbers and fixed text only (no user string)
    lines += ["", f"Why: {p.why}", ""] + [f"- {n}" for n in p.notes]
    return "\n".join(lines) + "\n"


__all__ = ["plan", "Plan", "PlanRow", "candidate_layouts", "why_best", "render"]
