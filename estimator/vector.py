"""The headline figures of many grid points at once: the same formula functions, numpy operands.

A sweep (:mod:`estimator.sweep`) hands this module one base model and options, and arrays of
values for the fields it varies: spec fields (:data:`SPEC_FIELDS`) and options
(:data:`OPTION_FIELDS`). They become the fields of an *array spec* and *array options* —
instances of :class:`~estimator.spec.ModelSpec` and :class:`~estimator.options.Options` whose
varied fields hold numpy arrays — and :func:`estimator.sections.headline_row` runs on them as it
runs on a scalar report. There is no second copy of any formula: the functions are arithmetic on
their arguments, spec-keyed caches step aside for unhashable operands
(:func:`estimator._frozen.spec_cache`), and ``max`` of values goes through
:func:`estimator._frozen.maximum`.

Where a formula *branches* on a varied value (``if k > E``, ``max(a, b)`` inside a function not
written for arrays), the branch is taken only when every element agrees (:class:`VArray`);
when they disagree the chunk is split in halves and retried, down to :data:`LEAF` points, which
the caller evaluates one by one with the scalar path. The result is the scalar path's, point for
point.

Precision: every quantity is evaluated twice, with int64 operands and with float64 operands.
Integer columns (parameters, bytes) take the int64 value, exact, wherever it is below 2^62 and
agrees with the float64 one (int64 arithmetic wraps silently on overflow: a disagreement beyond
rounding reveals it); points where an integer column does not fit are recomputed by the scalar
path (exact Python integers; the column's dtype becomes object). Float columns (FLOPs per
token, GPU-hours, cost: floats in the scalar path too) take the int64 pass where its
intermediate products fit and the float64 pass where they overflow (training FLOPs × tokens
does at the default 10^12 tokens): within a relative 1e-12 of the scalar value (a few units
in the last place, measured).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from . import sections
from ._frozen import array_of
from .options import Options
from .presets import Model
from .spec import ModelSpec, check_moe

#: Spec fields whose values enter the formulas by arithmetic only, so a grid over them is
#: evaluated with arrays (other fields change the model's structure: the scalar path).
SPEC_FIELDS = ("num_experts", "num_experts_per_tok", "moe_intermediate_size",
               "intermediate_size", "shared_expert_intermediate_size")
#: Options evaluated with arrays (the others are fixed per group of points).
OPTION_FIELDS = ("batch", "seq_len", "mfu", "price_per_gpu_hour")
#: Chunks of at most this many points are split no further: their points take the scalar path.
LEAF = 8
#: int64 values at or above this magnitude are not trusted (2^62: headroom below 2^63).
INT64_SAFE = 2**62
#: Relative difference beyond which the int64 and float64 evaluations disagree (an overflow).
AGREE = 2.0**-30

COLUMNS = ("total_params", "active_params", "forward_flops_per_token",
           "training_flops_per_token", "inference_bytes_per_gpu", "kv_cache_bytes",
           "inference_fits", "training_peak_bytes_per_gpu", "training_fits",
           "training_gpu_hours", "training_cost_usd")
#: Serving speed at the workload's batch (``columns(..., speed=True)``; not in sweep rows).
SPEED_COLUMNS = ("prefill_seconds", "decode_tokens_per_s", "decode_tokens_per_s_per_user")
INT_COLUMNS = ("total_params", "active_params", "inference_bytes_per_gpu", "kv_cache_bytes",
               "training_peak_bytes_per_gpu")
#: Each fits flag and the bytes it compares with the GPU's memory.
BOOL_COLUMNS = {"inference_fits": "inference_bytes_per_gpu",
                "training_fits": "training_peak_bytes_per_gpu"}


class Mixed(ValueError):
    """A formula branched on a varied value whose elements disagree."""


class VArray(np.ndarray):
    """A numpy array whose truth value is every element's, when they all agree; else
    :class:`Mixed`. So ``if s.num_experts:`` or ``max(k, 1)`` inside a formula takes the branch
    every point of the chunk takes, or refuses."""

    def __bool__(self) -> bool:
        a = np.asarray(self)
        if a.all():
            return True
        if not a.any():
            return False
        raise Mixed("a formula branches on a varied value that differs across the chunk")

    __hash__ = None  # unhashable: spec-keyed caches step aside (estimator._frozen.spec_cache)


def _operands(cols: Mapping[str, np.ndarray], dtype) -> dict[str, VArray]:
    return {k: np.asarray(v, dtype=dtype if v.dtype.kind in "iu" else v.dtype).view(VArray)
            for k, v in cols.items()}


def _evaluate(model: Model, opts: Options, gpu, spec_cols, opt_cols, dtype,
              speed: bool = False) -> dict[str, Any]:
    s: ModelSpec = array_of(model.spec, _operands(spec_cols, dtype))
    o: Options = array_of(opts, _operands(opt_cols, dtype))
    check_moe(s)  # the cross-field rules of ModelSpec validation, over the arrays
    m = Model(spec=s, display_name=model.display_name, origin=model.origin)
    return sections.headline_row(m, o, gpu, speed=speed)


def _column(v: Any, n: int, dtype=None) -> np.ndarray:
    if v is None:
        return np.full(n, None, dtype=object)
    a = np.asarray(v, dtype=dtype)
    return np.broadcast_to(a, (n,)) if a.ndim == 0 else np.asarray(a)


def _combine(ri: dict[str, Any], rf: dict[str, Any], n: int) -> dict[str, np.ndarray]:
    """The int64 pass where it is exact, the float64 pass where int64 overflowed (a fits flag
    follows the bytes it compares)."""
    out, bad = {}, {}
    for c in ri:
        if c in BOOL_COLUMNS:
            continue
        vi, vf = ri[c], rf[c]
        if (vi is None) != (vf is None):
            raise Mixed("the passes disagree on a section")  # not expected: split
        if vi is None:
            out[c] = _column(None, n)
            continue
        if not isinstance(vi, np.ndarray):  # no varied value reached it: the scalar's own
            out[c] = _column(vi, n, np.int64 if isinstance(vi, int) and abs(vi) < INT64_SAFE
                             else None)
            bad[c] = np.zeros(n, dtype=bool)
            continue
        a_i, a_f = _column(vi, n), _column(vf, n, np.float64)
        if a_i.dtype.kind in "iu":
            b = (np.abs(a_f) >= INT64_SAFE) | (
                np.abs(a_i.astype(np.float64) - a_f) > AGREE * np.abs(a_f) + 2)
        else:
            b = np.abs(a_i - a_f) > AGREE * np.abs(a_f)
        bad[c] = b
        if c in INT_COLUMNS:  # overflowed points are recomputed exactly (evaluate)
            out[c] = a_i.astype(np.int64)
        else:
            out[c] = np.where(b, a_f, a_i).astype(np.float64)
    out["__overflow__"] = np.zeros(n, dtype=bool)
    for c in INT_COLUMNS:
        if c in bad:
            out["__overflow__"] |= bad[c]
    for c, src in BOOL_COLUMNS.items():
        if ri[c] is None:
            out[c] = _column(None, n)
            continue
        if not isinstance(ri[c], np.ndarray):
            out[c] = _column(ri[c], n, bool)
            continue
        a_i, a_f = _column(ri[c], n, bool), _column(rf[c], n, bool)
        out[c] = np.where(bad[src], a_f, a_i)
    return out


def evaluate(model: Model, opts: Options, gpu, spec_cols: Mapping[str, np.ndarray],
             opt_cols: Mapping[str, np.ndarray], n: int,
             scalar: Callable[[np.ndarray], dict[str, np.ndarray]],
             speed: bool = False) -> dict[str, np.ndarray]:
    """Headline columns (:data:`COLUMNS`, ``n`` values each, plus ``error``) of the points whose
    varied values are ``spec_cols`` / ``opt_cols`` (arrays of length ``n``), ``model`` and
    ``opts`` giving every other field. ``scalar(idx)`` evaluates the points ``idx`` one by one
    (the caller's scalar path): used for chunks of :data:`LEAF` points or fewer that a formula
    cannot take as arrays, and for invalid points (their error message). ``speed``: also
    :data:`SPEED_COLUMNS`."""
    return _evaluate_range(model, opts, gpu, spec_cols, opt_cols, np.arange(n), scalar, speed)


def _evaluate_range(model, opts, gpu, spec_cols, opt_cols, idx, scalar, speed):
    n = len(idx)
    sc = {k: v[idx] for k, v in spec_cols.items()}
    oc = {k: v[idx] for k, v in opt_cols.items()}
    try:
        with np.errstate(all="ignore"):
            ri = _evaluate(model, opts, gpu, sc, oc, np.int64, speed)
            rf = _evaluate(model, opts, gpu, sc, oc, np.float64, speed)
            out = _combine(ri, rf, n)
        out["error"] = np.full(n, "", dtype=object)
    except (ValueError, TypeError, ArithmeticError):  # Mixed, EstimatorError, int(array), ...
        if n <= LEAF:
            return scalar(idx)
        half = n // 2
        a = _evaluate_range(model, opts, gpu, spec_cols, opt_cols, idx[:half], scalar, speed)
        b = _evaluate_range(model, opts, gpu, spec_cols, opt_cols, idx[half:], scalar, speed)
        return {c: np.concatenate([a[c], b[c]]) for c in a}
    over = out.pop("__overflow__")
    if over.any():  # beyond int64: these points by the scalar path, exact Python integers
        exact = scalar(idx[over])
        for c, v in exact.items():
            if out[c].dtype != object:
                out[c] = out[c].astype(object)
            out[c][over] = v
    return out


def pareto_front(first: np.ndarray, second: np.ndarray, third: np.ndarray) -> np.ndarray:
    """Boolean mask of the points no other point dominates: none at most as large in ``first``
    and ``second`` and at least as large in ``third`` (e.g. memory per GPU, FLOPs per token,
    tokens/s), and strictly better in one. Equal points share their fate.

    Sorted by ``first`` (ties: ``second``, then ``third`` descending), only an earlier point can
    dominate a later one; the earlier points that matter form a staircase in (``second``,
    ``third``) — ``third`` rising with ``second`` — and a point is dominated when the step at
    or left of its ``second`` reaches its ``third``. O(n log n)."""
    import bisect

    pts = np.stack([np.asarray(first, dtype=np.float64), np.asarray(second, dtype=np.float64),
                    -np.asarray(third, dtype=np.float64)], axis=1)
    n = len(pts)
    if n == 0:
        return np.zeros(0, dtype=bool)
    uniq, inverse = np.unique(pts, axis=0, return_inverse=True)  # lexicographic order
    keep_u = np.zeros(len(uniq), dtype=bool)
    xs: list[float] = []  # staircase: second ascending
    ys: list[float] = []  # ... and -third ascending the other way: -third descending
    for i, (_, s, neg_t) in enumerate(uniq.tolist()):
        j = bisect.bisect_right(xs, s)
        if j and ys[j - 1] <= neg_t:  # an earlier point with second <= s and third >= t
            continue
        keep_u[i] = True
        # drop the steps this point dominates (second >= s and -third >= -t), then insert
        k = j
        while k < len(xs) and ys[k] >= neg_t:
            k += 1
        xs[j:k], ys[j:k] = [s], [neg_t]
    return keep_u[inverse.reshape(-1)]


__all__ = ["COLUMNS", "OPTION_FIELDS", "SPEC_FIELDS", "SPEED_COLUMNS", "evaluate",
           "pareto_front"]
