"""Automatic serving layout: ``tp``, ``pp``, ``ep`` = 0 (the defaults) mean "the cheapest layout
that holds the workload"; explicit values are kept and only the others are searched.

Candidates (one inference replica, :func:`estimator.memory.layout`): tensor parallelism 1, 2, 4,
8 inside a node; pipeline stages 1…16 across nodes; for MoE models expert parallelism equal to
``tp`` (vLLM ``--enable-expert-parallel``: experts split over the TP group) or wider, ``tp·d``
with ``d = 2…16`` attention data-parallel groups (vLLM/SGLang DP attention with wide EP, the
layout DeepSeek serves V3 with). They are tried cheapest first — fewest GPUs, then fewest
pipeline stages (a stage adds a hop per token), then EP equal to TP, then wider TP — and the
first whose busiest GPU fits (:attr:`estimator.memory.InferenceMemory.fits`) and on which the
serving engine starts and runs the batch at once (:func:`engine_refuses`) wins. Nothing fits
up to 8 × 16 GPUs: the largest candidate is kept and reported as not fitting.
"""

from __future__ import annotations

import functools
import math

from ._frozen import remembered
from .errors import EstimatorError
from .spec import ModelSpec

AUTO_TP = (1, 2, 4, 8)
AUTO_PP = (1, 2, 4, 8, 16)
#: attention data-parallel groups tried with wide expert parallelism (ep = tp · d)
AUTO_EP_WIDTH = (1, 2, 4, 8, 16)


def is_auto(opts) -> bool:
    """Any of ``tp``, ``pp``, ``ep`` left at 0 (auto)."""
    # array operands (a vectorized sweep's varied layout) are never 0: not auto
    return any(isinstance(v, int) and v == 0 for v in (opts.tp, opts.pp, opts.ep))


@functools.lru_cache(maxsize=1024)  # spec geometry only
def candidates(s: ModelSpec, tp: int, pp: int, ep: int) -> tuple[tuple[int, int, int, int], ...]:
    """``(gpus, tp, pp, ep)`` layouts to try, cheapest first (module docstring); a fixed
    (non-zero) ``tp``/``pp``/``ep`` is kept as given."""
    out = set()
    for t in ((tp,) if tp else AUTO_TP):
        for p in ((pp,) if pp else AUTO_PP):
            if not s.is_moe:
                eps = (ep or 1,)
            elif ep:
                eps = (ep,)
            else:
                eps = tuple(t * d for d in AUTO_EP_WIDTH)
            for e in eps:
                group = math.lcm(t, e) if s.is_moe else t
                out.add((p * group, t, p, e))
    return tuple(sorted(out, key=lambda c: (c[0], c[2], c[3] != c[1], -c[1])))


#: (spec, options, GPU id, GPU memory) -> resolved layout; bounded (cleared when full)
_CACHE: dict = {}
_CACHE_MAX = 1024


def _resolve(model, opts, gpu):
    from . import memory

    s: ModelSpec = model.spec if hasattr(model, "spec") else model
    tried = []
    chosen = None
    last_ok = None
    for gpus, t, p, e in candidates(s, opts.tp, opts.pp, opts.ep):
        # fit is decided by the busiest GPU alone (memory.compute's per_gpu.total, from the
        # same stage models, without its max-batch/max-context searches or rebuilding the
        # options per candidate)
        try:
            lay, models = memory.stages_for(s, opts, gpu, t, p, e)
        except EstimatorError as err:
            tried.append({"gpus": gpus, "tp": t, "pp": p, "ep": e, "error": str(err)})
            continue
        per_gpu = memory.busiest_bytes(models, lay, opts.batch, opts.seq_len)
        row = {"gpus": lay.gpus, "tp": t, "pp": p, "ep": e, "per_gpu": per_gpu,
               "fits": per_gpu <= gpu.memory_bytes}
        if row["fits"]:
            why = engine_refuses(s, with_layout(opts, t, p, e), gpu, lay, models)
            if why:
                row["fits"], row["engine"] = False, why
        tried.append(row)
        last_ok = row
        if row["fits"]:
            chosen = row
            break
    if chosen is None and last_ok is None:
        # candidates often fail for one reason (pp above the layer count for every tp): each
        # distinct reason once, the first three
        reasons = list(dict.fromkeys(x["error"] for x in tried))[:3]
        raise EstimatorError("tp", opts.tp, "no tensor/pipeline/expert-parallel layout is "
                             "valid for this model: " + "; ".join(reasons))
    pick = chosen or last_ok
    info = {"auto": True, "tp": pick["tp"], "pp": pick["pp"], "ep": pick["ep"],
            "gpus": pick["gpus"], "fits": pick["fits"],
            "requested": {"tp": opts.tp, "pp": opts.pp, "ep": opts.ep},
            "tried": len(tried),
            "method": "cheapest layout that holds the workload (the busiest GPU's bytes fit, "
                      "and the serving engine starts and runs the batch at once): fewest GPUs, "
                      "then fewest pipeline stages, then ep = tp, then wider tp (tp 1-8 in a "
                      "node, pp 1-16, MoE: ep = tp or tp x 2..16 with data-parallel "
                      "attention); 0 = auto, explicit values kept"}
    refused = [x for x in tried if "engine" in x]
    if refused:
        first = refused[0]
        info["engine_refused"] = (f"{len(refused)} smaller layout(s) fit in bytes but not in "
                                  f"the engine, e.g. tp={first['tp']} pp={first['pp']} "
                                  f"ep={first['ep']}: {first['engine']}")
    if chosen is None:
        info["note"] = ("nothing up to the largest candidate fits: the largest valid layout "
                        "is shown")
    return with_layout(opts, pick["tp"], pick["pp"], pick["ep"]), info


def engine_refuses(s: ModelSpec, opts, gpu, lay, models) -> str | None:
    """Why the serving engine (``opts.engine``, :mod:`estimator.engine`) cannot hold the workload
    on this layout although the busiest GPU's bytes fit, or None: vLLM refuses to start when the
    KV cache gets no memory ("No available memory for the cache blocks", gpu_worker.py), and
    ``batch`` requests of ``seq_len`` tokens run at once only if the engine's maximum
    concurrency (per attention data-parallel group) reaches them. An engine whose token pool is
    not modelled (SGLang on an attention-free model, any engine on DeepSeek-V4) is not asked."""
    from . import memory

    e = memory.engine_figures(s, opts, gpu, lay, models)
    if e is None:
        return None
    if e.engine == "sglang" and e.kv_capacity_tokens == 0 and e.page_size == 0:
        return None
    if e.available_kv <= 0:
        return (f"{e.engine} gets no memory for the KV cache "
                f"({e.available_kv / 2**30:.2f} GiB available)")
    need = -(-opts.batch // lay.dp_attn)
    if e.max_concurrency < need:
        return (f"{e.engine} holds {e.max_concurrency:.2f} requests of {opts.seq_len:,} tokens "
                f"at once, fewer than the batch's {need}")
    return None


def resolve(model, opts, gpu):
    """``(opts with tp/pp/ep filled in, layout info)``; options without a 0 pass through with
    ``{"auto": False, ...}``. Cached per (model, options, GPU id): repeated estimates of one
    workload search once."""
    if not is_auto(opts):
        return opts, {"auto": False, "tp": opts.tp, "pp": opts.pp, "ep": opts.ep}
    s = model.spec if hasattr(model, "spec") else model
    return remembered(_CACHE, (s, opts, gpu.id, gpu.memory_bytes), _CACHE_MAX,
                      lambda: _resolve(model, opts, gpu))


def training_defaults(opts):
    """Training reads an auto (0) ``tp``/``pp``/``ep`` as 1: its own layout search is the
    training plan's job; the serving layout need not divide ``num_gpus``."""
    if not is_auto(opts):
        return opts
    return with_layout(opts, opts.tp or 1, opts.pp or 1, opts.ep or 1)


@functools.lru_cache(maxsize=4096, typed=True)  # typed: True == 1 must not share an entry
def with_layout(opts, tp: int, pp: int, ep: int):
    """``opts`` with ``tp``/``pp``/``ep`` replaced. Validated options are immutable, so the copy
    checks the three new values alone (``opts.replace`` re-validates all ~45 fields, ~20 µs,
    as much as a section) and is cached, as ``make_options`` caches."""
    from .options import OPTION_FIELDS, _check

    changes = {"tp": tp, "pp": pp, "ep": ep}
    for name, value in changes.items():
        _check(OPTION_FIELDS[name], value)
    out = object.__new__(type(opts))
    out.__dict__.update(opts.__dict__)
    out.__dict__.pop("_hash", None)  # Options' memoized hash: of the old values
    out.__dict__.update(changes)
    return out


__all__ = ["candidates", "is_auto", "resolve", "training_defaults"]
