"""The sections of one estimate, computed in order, below everything that assembles them.

Data flows one way (STYLE.md): the section modules (:mod:`~estimator.params`,
:mod:`~estimator.flops`, :mod:`~estimator.memory`, :mod:`~estimator.training`,
:mod:`~estimator.serving`) → :func:`compute` here → the dense-vs-MoE comparison
(:mod:`estimator.compare`) and the report (:mod:`estimator.report`) → sweeps
(:mod:`estimator.sweep`), the CLI and the app. Nothing here imports the report, the comparison
or the sweeps.
"""

from __future__ import annotations

from typing import Any, NamedTuple

from . import autolayout, flops, memory, serving, training
from ._frozen import remembered
from .errors import EstimatorError
from .hardware import load_catalog
from .params import ParamCounts, count_params_as


def workload_memo(store: dict, fn, s, opts, gpu, limit: int = 1024):
    """``fn(s, opts, gpu)``, remembered in ``store`` per (spec, options, GPU id): all three are
    immutable (a catalog GPU: a GPU built by hand is computed, not remembered), so the value
    is the one ``fn`` would return again. The per-workload caches of the report's extras
    (dense-vs-MoE rows, GPU plan) work as the layout search's and the step time's do
    (:func:`estimator.autolayout.resolve`, :func:`estimator.steptime.step_time`): the app
    re-renders one workload many times. Bounded: cleared when ``limit`` entries are held.
    Callers hand out copies of what they get: the stored value is shared."""
    if load_catalog().get(gpu.id) is not gpu:
        return fn(s, opts, gpu)
    return remembered(store, (s, opts, gpu.id), limit, lambda: fn(s, opts, gpu))


class NotApplicable:
    """A section the options rule out (e.g. training at a tp Megatron cannot use): its figures
    are None and ``to_dict()`` names the field, the value and why."""

    peak = fits = gpu_hours = cost_usd = None

    def __init__(self, error: EstimatorError):
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        e = self.error
        return {"not_applicable": str(e), "field": e.field, "value": e.value}


class Sections(NamedTuple):
    params: ParamCounts
    flops: Any
    inference: Any
    training_memory: Any
    training: Any
    serving: Any


def compute(m, opts, gpu, with_serving: bool = True) -> Sections:
    """Every section of ``m`` (a loaded model) under validated ``opts`` on ``gpu``.

    Each section is computed once and handed to the sections built on it (training compute
    reads the FLOPs section; serving reuses inference memory's stage models and max_batch, and
    the FLOPs section's decode count). ``with_serving=False`` leaves serving out (``None``):
    sweep rows read no serving figure. :func:`first` computes the sections every figure starts
    from (and raises what the options cannot be estimated under); :func:`training_sections`
    and :func:`serving_section` the rest (``estimator.estimate`` defers those two to the
    first read: the report's figures are the same either way).
    """
    params, fl, inference, sopts = first(m, opts, gpu, with_serving)
    training_memory, training_compute = training_sections(m, opts, gpu, fl)
    return Sections(
        params=params, flops=fl, inference=inference,
        training_memory=training_memory, training=training_compute,
        serving=serving_section(m, sopts, gpu, inference, fl) if with_serving else None)


#: :func:`first` per workload (:func:`workload_memo`).
_FIRST: dict = {}


def first(m, opts, gpu, with_serving: bool = True):
    """``(params, FLOPs, inference memory, serving options)``: the sections the others build
    on, and the serving layout (tp/pp/ep = 0 resolved). Raises an
    :class:`~estimator.errors.EstimatorError` when no layout can hold the model under
    ``opts`` — the one check on the options no later section repeats. Remembered per
    workload (spec, options, catalog GPU; :func:`workload_memo`) as the later sections are:
    the four are immutable and their ``to_dict()`` hands out fresh containers
    (``benchmarks/dump_reports.py`` empties every container a report hands out and checks the
    next report of the same workload)."""
    return workload_memo(_FIRST, lambda _s, o, g: _first(m, o, g, with_serving),
                         (m.spec, with_serving), opts, gpu)


def _first(m, opts, gpu, with_serving: bool):
    # tp/pp/ep = 0: the serving layout is chosen once here (estimator.autolayout) for inference
    # memory and serving; training reads an auto layout as 1 (its plan is its own); the report
    # keeps the options as given (memory.inference.layout says what was chosen)
    sopts, choice = autolayout.resolve(m, opts, gpu)
    fl = flops.compute(m, opts, gpu)
    inference = memory.compute(m, sopts, gpu, layout_choice=choice,
                               engine_section=with_serving)
    return count_params_as(m.spec, opts.active_convention), fl, inference, sopts


def training_sections(m, opts, gpu, fl) -> tuple[Any, Any]:
    """``(training memory, training compute)``, or :class:`NotApplicable` for both when the
    options rule training out."""
    # A layout can be servable but not trainable (vLLM replicates KV heads when tp > g;
    # Megatron cannot split them): the training sections then say why instead of the whole
    # report failing.
    try:
        training_memory = training.compute_memory(m, opts, gpu)
        return training_memory, training.compute(m, opts, gpu, flops_report=fl,
                                                 memory=training_memory)
    except EstimatorError as e:
        na = NotApplicable(e)
        return na, na


def serving_section(m, sopts, gpu, inference, fl):
    """The serving section under the serving options :func:`first` returned."""
    return serving.compute(m, sopts, gpu, inference=inference, flops_report=fl)


def headline(params, fl, inference, training_memory, training_compute) -> dict[str, Any]:
    """The headline figures of a sweep row or a dense-vs-MoE row, read from the sections'
    attributes — the values of the report's ``to_dict()`` entries ``params.total`` /
    ``.active``, ``flops.forward_per_token`` / ``.training_per_token``,
    ``memory.inference.per_gpu.total`` / ``.kv_cache`` / ``.fits``, ``memory.training.peak`` /
    ``.fits``, ``training.gpu_hours`` / ``.cost_usd`` — without building those dicts."""
    inf, tm, tr = inference, training_memory, training_compute
    return {"total_params": params.total, "active_params": params.active,
            "forward_flops_per_token": fl.forward_per_token,
            "training_flops_per_token": fl.training_per_token,
            "inference_bytes_per_gpu": inf.per_gpu.total, "kv_cache_bytes": inf.kv_cache,
            "inference_fits": inf.fits,
            "training_peak_bytes_per_gpu": tm.peak, "training_fits": tm.fits,
            "training_gpu_hours": tr.gpu_hours, "training_cost_usd": tr.cost_usd}


def speed(sv, batch: int) -> dict[str, float]:
    """Serving figures of a serving section at ``batch``: prefill seconds and decode tokens/s."""
    if sv is None:
        return {}
    point = next(p for p in sv.decode if p.batch == batch)
    return {"prefill_seconds": sv.prefill_s, "decode_tokens_per_s": point.tokens_per_s,
            "decode_tokens_per_s_per_user": 1.0 / point.step_s}


def _serving_options(m, opts, gpu):
    """``opts`` with an automatic (0) ``tp``/``pp``/``ep`` resolved as the report resolves it
    (:func:`estimator.autolayout.resolve`); array operands (a vectorized sweep's varied
    layout) are never 0, so they pass through."""
    return autolayout.resolve(m, opts, gpu)[0] if autolayout.is_auto(opts) else opts


def headline_row(m, opts, gpu, speed: bool = True) -> dict[str, Any]:
    """``headline(*compute(m, opts, gpu)[:5])`` and ``speed(...)`` at ``opts.batch``, computing
    only the quantities a row shows: the busiest GPU's bytes without the max-batch and
    max-context searches (:func:`estimator.memory.busiest_bytes`), the decode step at the
    workload's batch alone (:func:`estimator.serving.speed_at`). The dense-vs-MoE rows use it;
    ``speed=False`` leaves the serving figures out (sweep rows). tests/test_fast_paths.py checks
    it equals the full sections on random configs. Raises what :func:`compute` raises. Its
    operands may be arrays (:mod:`estimator.vector`): every formula it calls is arithmetic on
    them."""
    s = m.spec
    params = count_params_as(s, opts.active_convention)
    fl = flops.compute(m, opts, gpu)
    sopts = _serving_options(m, opts, gpu)
    lay, models = memory.stages_for(s, sopts, gpu)
    per_gpu = memory.busiest_bytes(models, lay, opts.batch, opts.seq_len)
    kv = memory.kv_cache_bytes(s, opts.batch, opts.seq_len,
                               memory.resolve_kv_dtype(opts.kv_dtype, opts.dtype), opts.kv_cache)
    try:
        tm = training.compute_memory(m, opts, gpu)
        peak, t_fits = tm.peak, tm.fits
        hours, cost = training.hours_and_cost(m, opts, gpu, fl, tm)
    except EstimatorError:
        peak = t_fits = hours = cost = None
    row = {"total_params": params.total, "active_params": params.active,
           "forward_flops_per_token": fl.forward_per_token,
           "training_flops_per_token": fl.training_per_token,
           "inference_bytes_per_gpu": per_gpu, "kv_cache_bytes": kv,
           "inference_fits": per_gpu <= gpu.memory_bytes,
           "training_peak_bytes_per_gpu": peak, "training_fits": t_fits,
           "training_gpu_hours": hours, "training_cost_usd": cost}
    if speed:
        row.update(serving.speed_at(s, sopts, gpu, lay, models, fl))
    return row
