"""``estimate()``: one call, one report object; the CLI, the app and every export render it.

Data flows one way (STYLE.md): model → spec → ``estimate(model, **options)`` → :class:`Report`
→ (UI, CLI, exports). The report holds exact integers (parameters, bytes, FLOPs); units are
applied only when rendering.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from . import __version__, flops, memory, serving, training
from ._frozen import direct_init
from .errors import EstimatorError
from .hardware import GPU, get_gpu
from .options import OPTION_FIELDS, Options, make_options
from .params import ParamCounts, count_params_as
from .presets import Model, load_model
from .spec import ModelSpec


@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class Report:
    model: Model
    options: Options
    gpu: GPU
    params: ParamCounts
    flops: Any
    inference: Any
    training_memory: Any
    training: Any
    serving: Any

    def sections(self) -> dict[str, Any]:
        """The numeric sections only (sweeps read :meth:`headline`, which builds no dicts)."""
        return {"params": self.params.to_dict(), "flops": self.flops.to_dict(),
                "memory": {"inference": self.inference.to_dict(),
                           "training": self.training_memory.to_dict()},
                "training": self.training.to_dict(), "serving": self.serving.to_dict()}

    def headline(self) -> dict[str, Any]:
        """The headline figures of a sweep row (:func:`estimator.sweep.headline_of`), read from
        the sections' attributes — the values of the ``to_dict()`` entries ``params.total`` /
        ``.active``, ``flops.forward_per_token`` / ``.training_per_token``,
        ``memory.inference.per_gpu.total`` / ``.kv_cache`` / ``.fits``,
        ``memory.training.peak`` / ``.fits``, ``training.gpu_hours`` / ``.cost_usd`` — without
        building those dicts (a 10,000-point sweep reads one row per point)."""
        inf, tm, tr = self.inference, self.training_memory, self.training
        return {"total_params": self.params.total, "active_params": self.params.active,
                "forward_flops_per_token": self.flops.forward_per_token,
                "training_flops_per_token": self.flops.training_per_token,
                "inference_bytes_per_gpu": inf.per_gpu.total, "kv_cache_bytes": inf.kv_cache,
                "inference_fits": inf.fits,
                "training_peak_bytes_per_gpu": tm.peak, "training_fits": tm.fits,
                "training_gpu_hours": tr.gpu_hours, "training_cost_usd": tr.cost_usd}

    def conventions(self) -> dict[str, str]:
        """Which convention every number uses (also in each section)."""
        o = self.options
        return {
            "active_params": f"{self.params.active_convention} — "
                             f"{self.params.active_convention_source} (the option "
                             f"active_convention={o.active_convention}; "
                             "params.active_by_convention has all three)",
            "flops_per_mac": "2",
            "attention_flops": o.attention_flops,
            "adam_bytes_per_param": str(o.adam_bytes),
            "kv_cache_layout": o.kv_cache,
            "kv_dtype": _kv_dtype_convention(o),
            "units": "exact integers: parameters, bytes, FLOPs; GiB = 2^30 bytes when shown",
        }

    def to_dict(self, compare: bool = True) -> dict[str, Any]:
        s = self.model.spec
        out = {
            "schema": "moe-estimator/report/1",
            "version": __version__,
            "model": {
                "name": s.name, "display_name": self.model.display_name,
                "model_type": s.model_type, "origin": self.model.origin,
                "source": self.model.source, "published": dict(self.model.published),
                "is_moe": s.is_moe, "notes": list(s.notes) + spec_warnings(s),
            },
            "architecture": _architecture_dict(s),
            # Options holds validated scalars only, so this equals Options.to_dict()
            # (dataclasses.asdict), at a tenth of the cost
            "options": {name: getattr(self.options, name) for name in OPTION_FIELDS},
            "gpu": self.gpu.to_dict(),
            "params": self.params.to_dict(),
            "flops": self.flops.to_dict(),
            "memory": {
                "inference": self.inference.to_dict(),
                "training": self.training_memory.to_dict(),
            },
            "training": self.training.to_dict(),
            "serving": self.serving.to_dict(),
            "conventions": self.conventions(),
        }
        if self.model.checkpoint is not None:  # loaded from a folder with safetensors files
            from .checkpoint import report_section

            out["checkpoint"] = report_section(self.model.checkpoint, self.inference.weights,
                                               self.options.dtype)
        if compare:
            from .compare import side_by_side
            from .memory import smallest_fit

            out["dense_vs_moe"] = side_by_side(self)
            out["memory"]["inference"]["smallest_fit"] = smallest_fit(self.model, self.options,
                                                                       self.gpu)
        return out


def _kv_dtype_convention(o: Options) -> str:
    """What the KV cache is stored in, and why (``auto`` resolved by the weight dtype)."""
    kv = memory.resolve_kv_dtype(o.kv_dtype, o.dtype)
    if o.kv_dtype != "auto":
        return kv
    return f"{kv} (auto: the dtype activations run in with {o.dtype} weights)"


# ``ModelSpec.to_dict()`` (dataclasses.asdict, ~40 µs) depends on the spec alone: built once per
# spec and copied per report. ``notes`` is keyed explicitly: it is not part of spec equality.
@functools.lru_cache(maxsize=256)
def _spec_dict(s: ModelSpec, notes: tuple[str, ...]) -> dict[str, Any]:  # noqa: ARG001
    return s.to_dict()


def _architecture_dict(s: ModelSpec) -> dict[str, Any]:
    """``s.to_dict()``: a fresh copy (the values are scalars, tuples, or flat dicts: MLA, MoA)."""
    try:
        d = _spec_dict(s, s.notes)
    except TypeError:  # unhashable notes (a list): nothing to share
        return s.to_dict()
    return {k: dict(v) if isinstance(v, dict) else v for k, v in d.items()}


class NotApplicable:
    """A section the options rule out (e.g. training at a tp Megatron cannot use): its figures
    are None and ``to_dict()`` names the field, the value and why."""

    peak = fits = gpu_hours = cost_usd = None

    def __init__(self, error: EstimatorError):
        self.error = error

    def to_dict(self) -> dict[str, Any]:
        e = self.error
        return {"not_applicable": str(e), "field": e.field, "value": e.value}


def spec_warnings(s: ModelSpec) -> list[str]:
    """Settings a spec carries that change nothing, said out loud instead of ignored."""
    out = []
    if s.num_experts and not s.moe_layers:
        out.append(f"num_experts={s.num_experts} but moe_layers is empty: no layer is MoE, so "
                   "this is estimated as a dense model")
    if s.sliding_window and not s.sliding_window_layers:
        out.append(f"sliding_window={s.sliding_window} but no layer uses it "
                   "(sliding_window_layers is empty): every layer attends to the full context")
    return out


def estimate(model: Any, **options: Any) -> Report:
    """Everything the estimator knows about ``model`` under ``options`` (see estimator.options)."""
    m = load_model(model)
    opts = options.pop("options", None)
    if opts is None:
        opts = make_options(**options)
    elif options:
        raise EstimatorError(next(iter(options)), options[next(iter(options))],
                             "pass either options=Options(...) or keywords, not both")
    elif not isinstance(opts, Options):
        raise EstimatorError("options", type(opts).__name__, "must be an estimator.Options")
    return _estimate(m, opts)


def _estimate(m: Model, opts: Options, with_serving: bool = True) -> Report:
    """:func:`estimate` of a loaded model under validated options. Sweeps pass
    ``with_serving=False``: their rows (:meth:`Report.headline`) read no serving figure, so that
    section is left out (``serving=None``) rather than computed and dropped."""
    gpu = get_gpu(opts.gpu)
    # tp/pp/ep = 0: the serving layout is chosen once here (estimator.autolayout) for inference
    # memory and serving; training reads an auto layout as 1 (its plan is its own); the report
    # keeps the options as given (memory.inference.layout says what was chosen)
    sopts, choice = opts, None
    if not (opts.tp and opts.pp and opts.ep):
        from .autolayout import resolve

        sopts, choice = resolve(m, opts, gpu)
    # Each section is computed once and handed to the sections built on it (training compute
    # reads the FLOPs section; serving reuses inference memory's stage models and max_batch, and
    # the FLOPs section's decode count).
    fl = flops.compute(m, opts, gpu)
    inference = memory.compute(m, sopts, gpu, layout_choice=choice,
                               engine_section=with_serving)
    # A layout can be servable but not trainable (vLLM replicates KV heads when tp > g;
    # Megatron cannot split them): the training sections then say why instead of the whole
    # report failing.
    try:
        training_memory = training.compute_memory(m, opts, gpu)
        training_compute = training.compute(m, opts, gpu, flops_report=fl)
    except EstimatorError as e:
        training_memory = training_compute = NotApplicable(e)
    return Report(
        model=m, options=opts, gpu=gpu, params=count_params_as(m.spec, opts.active_convention),
        flops=fl,
        inference=inference,
        training_memory=training_memory,
        training=training_compute,
        serving=serving.compute(m, sopts, gpu, inference=inference, flops_report=fl)
        if with_serving else None,
    )
