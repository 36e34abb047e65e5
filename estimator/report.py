"""``estimate()``: one call, one report object; the CLI, the app and every export render it.

Data flows one way (STYLE.md): model → spec → the sections (:mod:`estimator.sections`; the
dense-vs-MoE comparison, :mod:`estimator.compare`, is one of them) → ``estimate(model,
**options)`` → :class:`Report` → (sweeps, UI, CLI, exports). The report imports no sweep; no
section imports the report. The report holds exact integers (parameters, bytes, FLOPs); units
are applied only when rendering.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any

from . import __version__, ckpt_quant, memory, sections, training
from ._frozen import direct_init
from .compare import side_by_side
from .errors import EstimatorError
from .hardware import GPU, get_gpu
from .options import OPTION_FIELDS, Options, make_options
from .params import ParamCounts
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

    def __getattr__(self, name: str) -> Any:
        # Reached only for an attribute the instance does not hold: with estimate(), a section
        # computed on its first read (training memory and compute together, serving alone;
        # sections.training_sections / serving_section) from the sections estimate() computed.
        d = self.__dict__
        pending = d.get("_deferred")
        if pending is None or name not in _DEFERRED:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        m, gpu, sopts, fl, inference = pending
        # remembered per workload (spec, options as given, GPU id: everything both read;
        # sections.workload_memo), as the step time, engine and latency inside them are: the
        # app re-renders one workload many times. The sections are frozen and their to_dict()
        # builds fresh containers, so the reports that share them cannot change each other.
        if name == "serving":
            d["serving"] = sections.workload_memo(
                _SERVING, lambda *_: sections.serving_section(m, sopts, gpu, inference, fl),
                m.spec, d["options"], gpu)
        else:
            d["training_memory"], d["training"] = sections.workload_memo(
                _TRAINING, lambda *_: sections.training_sections(m, d["options"], gpu, fl),
                m.spec, d["options"], gpu)
        if all(k in d for k in _DEFERRED):
            del d["_deferred"]
        return d[name]

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
        return sections.headline(self.params, self.flops, self.inference, self.training_memory,
                                 self.training)

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
            "weight_format": (self.__dict__.get("weights_source")
                              or ckpt_quant.resolve(self.model, o.dtype)[1]),
            "kv_dtype": _kv_dtype_convention(o),
            "units": "exact integers: parameters, bytes, FLOPs; GiB = 2^30 bytes when shown",
        }

    def to_dict(self, compare: bool = True) -> dict[str, Any]:
        s = self.model.spec
        od = vars(self.options)
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
            # (dataclasses.asdict) at a fiftieth of the cost: the instance dict, where the
            # frozen dataclass stores its fields in field order (make_options, with_layout
            # and array_of all fill it that way), copied whole, less the memoized hash
            "options": _options_dict(od),
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
        try:
            cq = ckpt_quant.of_model(self.model)
        except EstimatorError as e:  # an explicit dtype ran; say why the section is missing
            cq, out["checkpoint_quantization"] = None, {"error": str(e)}
        if cq is not None:  # the pasted config.json declares a quantized checkpoint
            out["checkpoint_quantization"] = _checkpoint_quantization(self, cq)
        if compare:
            out["dense_vs_moe"] = side_by_side(self)
            out["memory"]["inference"]["smallest_fit"] = _smallest_fit(
                self.model.spec, self.options, self.gpu)
        return out


def _checkpoint_quantization(r: Report, cq: ckpt_quant.CheckpointQuant) -> dict[str, Any]:
    """The checkpoint's own format and the bytes its weights take in it, whole model, scales
    and zero points included (:func:`ckpt_quant.checkpoint_weight_bytes`), beside the bytes of
    the same model in the ``dtype`` the memory model used (``memory.weight_bytes``: plain
    fp8/int4 there count no block scales or zero points)."""
    out = cq.to_dict()
    if cq.dtype is None:
        return out
    vision = r.options.include_vision
    ck = ckpt_quant.checkpoint_weight_bytes(r.model.spec, cq, vision)
    used = memory.weight_bytes(r.model.spec, r.options.dtype, vision)
    out["weight_bytes"] = ck
    out["weight_bytes_total"] = sum(ck.values())
    out["dtype_used"] = r.options.dtype
    out["dtype_used_weight_bytes_total"] = sum(used.values())
    return out


def _options_dict(od: dict) -> dict[str, Any]:
    """The fields of an Options instance dict ``od``, in field order."""
    if len(od) == len(OPTION_FIELDS):
        return dict(od)
    if len(od) == len(OPTION_FIELDS) + 1 and "_hash" in od:  # Options.__hash__ was asked
        out = dict(od)
        del out["_hash"]
        return out
    return {name: od[name] for name in OPTION_FIELDS}


def _smallest_fit(s: ModelSpec, opts: Options, gpu: GPU) -> dict[str, Any]:
    """:func:`memory.smallest_fit`, remembered per workload (:func:`sections.workload_memo`);
    a fresh copy of its dict (the rows of ``tried`` and ``smallest`` are flat)."""
    fit = sections.workload_memo(_SMALLEST_FIT, memory.smallest_fit, s, opts, gpu)
    tried = [dict(r) for r in fit["tried"]]
    out = dict(fit)
    out["tried"] = tried
    if fit["smallest"] is not None:  # the last row tried, as smallest_fit returns it
        out["smallest"] = tried[-1]
    return out


#: (spec, options, GPU id) -> :func:`memory.smallest_fit`
_SMALLEST_FIT: dict = {}
#: (spec, options, GPU id) -> :func:`sections.training_sections` / :func:`sections.serving_section`
_TRAINING: dict = {}
_SERVING: dict = {}


def _kv_dtype_convention(o: Options) -> str:
    """What the KV cache is stored in, and why (``auto`` resolved by the weight dtype)."""
    kv = memory.resolve_kv_dtype(o.kv_dtype, o.dtype)
    if o.kv_dtype != "auto":
        return kv
    return f"{kv} (auto: the dtype activations run in with {o.dtype} weights)"


# ``ModelSpec.to_dict()`` (dataclasses.asdict, ~40 µs) depends on the spec alone: built once per
# spec and copied per report. ``notes`` is keyed explicitly: it is not part of spec equality.
@functools.lru_cache(maxsize=256)
def _spec_dict(s: ModelSpec, notes: tuple[str, ...]  # noqa: ARG001
               ) -> tuple[dict[str, Any], tuple[str, ...]]:
    """``s.to_dict()`` and the keys whose values are dicts (the only mutable values)."""
    d = s.to_dict()
    return d, tuple(k for k, v in d.items() if isinstance(v, dict))


def _architecture_dict(s: ModelSpec) -> dict[str, Any]:
    """``s.to_dict()``: a fresh copy (the values are scalars, tuples, or flat dicts: MLA, MoA)."""
    try:
        d, nested = _spec_dict(s, s.notes)
    except TypeError:  # unhashable notes (a list): nothing to share
        return s.to_dict()
    out = d.copy()
    for k in nested:
        out[k] = dict(d[k])
    return out


NotApplicable = sections.NotApplicable  # re-exported: it lived here first


def spec_warnings(s: ModelSpec) -> list[str]:
    """Settings a spec carries that change nothing, said out loud instead of ignored."""
    out = []
    if s.num_experts and not s.moe_layers:
        out.append(f"num_experts={s.num_experts} but moe_layers is empty: no layer is MoE, so "
                   "this is estimated as a dense model")
    if s.sliding_window and not s.sliding_window_layers:
        out.append(f"sliding_window={s.sliding_window} but no layer uses it "
                   "(sliding_window_layers is empty): every layer attends to the full context")
    if s.shared_block is not None:
        out.append(f"{s.model_type}: {s.num_mixer_layers} {s.mixer.kind} layers; "
                   f"{len(s.shared_block.uses)} "
                   "of them also run a shared attention+MLP block (parameters counted once per "
                   "block, FLOPs and KV cache per use)")
    elif s.mixer is not None and s.num_dense_layers == 0 and not s.is_moe:
        train = ("training is not modelled for this mixer (the training sections say why)"
                 if s.mixer.kind in training.NO_TRAINING_MIXERS else
                 "training activations count only the embedding, final norm and logits — the "
                 "mixers' saved tensors are not modelled yet (an under-count)")
        out.append(f"attention-free: all {s.num_mixer_layers} layers are {s.mixer.kind} mixers "
                   "with no FFN of their own: no KV cache, only a constant per-sequence state "
                   "(memory.inference.state); FLOPs are the projections plus the published "
                   f"recurrence (flops.sequence_mixers); {train}")
    elif s.mixer is not None:
        train = ("training is not modelled for this mixer (the training sections say why)"
                 if s.mixer.kind in training.NO_TRAINING_MIXERS else
                 "training activations count each mixer layer like an attention layer of the "
                 "same width (first-order, not measured)")
        out.append(f"hybrid: {s.num_mixer_layers} {s.mixer.kind} layer(s) keep a constant "
                   "per-sequence state (memory.inference.state) instead of a growing KV cache; "
                   "their FLOPs are the projections plus the published recurrence "
                   f"(flops.sequence_mixers); {train}")
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
    """:func:`estimate` of a loaded model under validated options (the sections of
    :func:`sections.compute`). Sweeps pass ``with_serving=False``: their rows
    (:meth:`Report.headline`) read no serving figure, so that section is left out
    (``serving=None``) rather than computed and dropped.

    Params, FLOPs and inference memory (with the layout search, which raises what the options
    cannot be estimated under) are computed here; training memory and compute, and serving, on
    their first read (:meth:`Report.__getattr__`): the same functions on the same inputs, so
    the figures are those of an eager computation, and a report read only for its parameters
    or memory costs only those. ``to_dict()`` reads every section."""
    auto = None
    if opts.dtype == "auto":  # the checkpoint's own format (estimator.ckpt_quant)
        dtype, auto = ckpt_quant.resolve(m, "auto")
        opts = opts.replace(dtype=dtype)
    gpu = get_gpu(opts.gpu)
    params, fl, inference, sopts = sections.first(m, opts, gpu, with_serving)
    r = object.__new__(Report)
    d = r.__dict__  # Report's direct_init __init__ writes the same dict
    d.update(model=m, options=opts, gpu=gpu, params=params, flops=fl, inference=inference)
    if not with_serving:
        d["serving"] = None
    d["_deferred"] = (m, gpu, sopts, fl, inference)
    if auto is not None:
        d["weights_source"] = auto
    return r


#: Report fields :func:`_estimate` leaves to their first read (:meth:`Report.__getattr__`)
_DEFERRED = ("training_memory", "training", "serving")
