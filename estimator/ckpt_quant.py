"""The checkpoint's own weight format, read from its config.json, and what ``dtype="auto"`` is.

A pasted config.json says how its checkpoint stores the weights: ``quantization_config`` for a
quantized one, ``torch_dtype`` (transformers 4.x) / ``dtype`` (5.x) for the rest.
:func:`read` turns that into a :class:`CheckpointQuant` (method, bits, group/block size, zero
points, the modules left unquantized); :func:`resolve` gives the ``dtype`` option value the
memory and speed model runs with when ``dtype="auto"`` (an explicit dtype always wins);
:func:`checkpoint_weight_bytes` gives the bytes the checkpoint's tensors hold, scales and zero
points included, by component (:func:`estimator.memory.stage_weight_bytes` with the block
formats of :mod:`estimator.quant`, as the what-if variants count them).

The formats, as the loaders create the tensors:

* ``fp8`` (transformers ``integrations/finegrained_fp8.py::FP8Linear``; vLLM
  ``quantization/fp8.py::Fp8LinearMethod.create_weights``): ``weight`` float8_e4m3fn and, with
  ``weight_block_size: [128, 128]``, ``weight_scale_inv`` fp32 of shape ``⌈out/128⌉ × ⌈in/128⌉``
  (:data:`estimator.quant.FP8_BLOCK128`); without a block size one fp32 scale per tensor.
* ``mxfp4`` (transformers ``integrations/mxfp4.py::Mxfp4GptOssExperts``; vLLM
  ``quantization/mxfp4.py::Mxfp4MoEMethod.create_weights``): only the experts, ``*_blocks``
  uint8 (two FP4 values a byte) and ``*_scales`` uint8 E8M0, one per 32 values; attention,
  router, embeddings and head stay bf16 (gpt-oss ``modules_to_not_convert``).
* ``awq`` / ``gptq`` (vLLM ``quantization/awq.py::AWQLinearMethod.create_weights``,
  ``quantization/gptq.py::GPTQLinearMethod.create_weights``): ``qweight`` int32 packing eight
  4-bit values, ``scales`` fp16 and ``qzeros`` int32 packing eight 4-bit zeros per group of
  ``group_size`` inputs — both store the zeros, GPTQ even with ``sym: true``
  (``int4-g<N>-zp``); GPTQ's ``g_idx`` (int32 per input row of each matrix) is not counted.
* ``compressed-tensors`` (llm-compressor; vLLM ``compressed_tensors.py``): ``config_groups``
  ``weights`` ``{num_bits, type, strategy, group_size, block_structure}``: float 8 → fp8
  (block 128×128 with ``strategy: block``), int 4 group → ``int4-g<N>`` (``-zp`` when not
  ``symmetric``), int 8 → int8, float 4 group 16 → NVFP4; ``ignore`` lists unquantized modules.
* ``bitsandbytes``: 4-bit NF4 with double quantization (``nf4-dq``), 8-bit → int8.

Anything else (torchao, modelopt, an unknown ``quant_method``) falls back to the 16-bit dtype
with a note saying so. A ``quantization_config`` of the wrong shape is a one-line
:class:`EstimatorError` naming the field.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from . import memory, quant
from .errors import EstimatorError

#: ``torch_dtype``/``dtype`` → the estimator's name. vLLM's ``dtype="auto"`` serves an fp32
#: checkpoint in 16 bits (``vllm/config/model.py::_resolve_auto_dtype``: "float32 → the
#: platform's preferred 16-bit dtype"), so fp32 configs resolve to bf16.
TORCH_DTYPES = {"bfloat16": "bf16", "float16": "fp16", "half": "fp16", "float32": "bf16",
                "float": "bf16"}
#: Component names of :func:`estimator.memory.stage_weight_bytes` that hold quantizable
#: matrices, and the module-name fragments that keep each unquantized.
_MODULE_OF = {"attention": ("self_attn", "attn", "attention"),
              "shared_experts": ("shared_expert",),
              "routed_experts": ("mlp.experts",)}
_MATRIX_PARTS = ("attention", "dense_ffn", "shared_experts", "routed_experts", "sequence_mixers")


@dataclass(frozen=True)
class CheckpointQuant:
    """How a checkpoint stores its weights. ``dtype``: the ``dtype`` option value the memory
    and speed model uses (None: fall back to ``unquantized``); ``weight_format``: the exact
    storage format of the quantized matrices (:mod:`estimator.quant` name)."""

    method: str
    dtype: str | None
    weight_format: str | None
    bits: int | None = None
    group_size: int | None = None
    block_size: tuple[int, ...] | None = None
    zero_point: bool = False
    experts_only: bool = False
    unquantized_modules: tuple[str, ...] = ()
    unquantized: str = "bf16"
    source: str = ""
    notes: tuple[str, ...] = field(default_factory=tuple)

    def to_dict(self) -> dict[str, Any]:
        return {"method": self.method, "dtype": self.dtype, "weight_format": self.weight_format,
                "bits": self.bits, "group_size": self.group_size,
                "block_size": list(self.block_size) if self.block_size else None,
                "zero_point": self.zero_point, "experts_only": self.experts_only,
                "unquantized_modules": list(self.unquantized_modules),
                "unquantized_dtype": self.unquantized, "source": self.source,
                "notes": list(self.notes)}


def _int(q: Mapping, key: str, where: str, default: Any = None, minimum: int = -1) -> Any:
    v = q.get(key, default)
    if v is None or v is default:
        return v
    if isinstance(v, bool) or not isinstance(v, int) or v < minimum or v > 1 << 20:
        raise EstimatorError(f"{where}.{key}", v, f"must be an integer >= {minimum}")
    return v


def _names(q: Mapping, key: str, where: str) -> tuple[str, ...]:
    v = q.get(key)
    if v is None:
        return ()
    if not isinstance(v, (list, tuple)) or not all(isinstance(x, str) for x in v) or len(v) > 10000:
        raise EstimatorError(f"{where}.{key}", v if not isinstance(v, (list, tuple)) else
                             "[...]", "must be a list of module names")
    return tuple(v)


def unquantized_dtype(cfg: Mapping[str, Any]) -> str:
    """The 16-bit format of the tensors a checkpoint keeps unquantized: its ``dtype`` /
    ``torch_dtype`` (:data:`TORCH_DTYPES`), bf16 when neither is a known name."""
    for key in ("dtype", "torch_dtype"):
        v = cfg.get(key)
        if isinstance(v, str) and v.removeprefix("torch.") in TORCH_DTYPES:
            return TORCH_DTYPES[v.removeprefix("torch.")]
    return memory.SIXTEEN_BIT_FORMAT


def _int4(method: str, bits: Any, g: Any, zp: bool, bits_field: str, group_field: str,
          **kw: Any) -> CheckpointQuant:
    """An integer format of ``bits`` with groups of ``g`` inputs (-1 or None: per channel);
    ``bits_field`` and ``group_field`` name the config fields the values came from."""
    if g is not None and g != -1 and g < 1:
        raise EstimatorError(group_field, g, "must be -1 (per channel) or a positive integer")
    if bits == 8:
        return CheckpointQuant(method, "int8", "int8", bits=8, group_size=g, **kw,
                               notes=(f"{method} 8-bit: per-group scales not counted",))
    if bits != 4:
        return CheckpointQuant(method, None, None, bits=bits, **kw,
                               notes=(f"{bits_field}={bits}: only 4 and 8 bits are modelled; "
                                      "weights counted in the 16-bit dtype",))
    if g in (None, -1):
        return CheckpointQuant(method, "int4", "int4", bits=4, group_size=g, zero_point=zp, **kw,
                               notes=("per-channel scales (group_size -1): counted as "
                                      "int4 with 128-wide groups",))
    fmt = f"int4-g{g}" + ("-zp" if zp else "")
    return CheckpointQuant(method, "int4", fmt, bits=4, group_size=g, zero_point=zp, **kw)


def _compressed_tensors(q: Mapping, where: str, kw: dict) -> CheckpointQuant:
    groups = q.get("config_groups")
    if not isinstance(groups, Mapping) or not groups:
        raise EstimatorError(f"{where}.config_groups", groups, "must be a non-empty mapping")
    kw["unquantized_modules"] = _names(q, "ignore", where)
    name, g = next(iter(groups.items()))
    gw = f"{where}.config_groups.{name}"
    w = g.get("weights") if isinstance(g, Mapping) else None
    if not isinstance(w, Mapping):
        raise EstimatorError(f"{gw}.weights", w, "must be a mapping")
    bits = _int(w, "num_bits", f"{gw}.weights", minimum=1)
    typ, strategy = w.get("type"), w.get("strategy")
    notes = (f"{len(groups)} config_groups: the first ({name}) is used for every matrix",) \
        if len(groups) > 1 else ()
    if typ == "float" and bits == 8:
        block = w.get("block_structure")
        if strategy == "block" and list(block or ()) == [128, 128]:
            return CheckpointQuant("compressed-tensors", "fp8", "fp8-block128", bits=8,
                                   block_size=(128, 128), **kw, notes=notes)
        return CheckpointQuant("compressed-tensors", "fp8", "fp8", bits=8, **kw,
                               notes=notes + (f"fp8 strategy {strategy}: per-"
                                              f"{strategy} scales not counted",))
    if typ == "float" and bits == 4:
        return CheckpointQuant("compressed-tensors", "int4", "nvfp4", bits=4,
                               group_size=_int(w, "group_size", f"{gw}.weights"), **kw,
                               notes=notes + ("FP4 values with FP8 scales per 16 (NVFP4); "
                                              "matmuls charged at the bf16 peak",))
    if typ == "int":
        zp = w.get("symmetric", True) is False
        cq = _int4("compressed-tensors", bits, _int(w, "group_size", f"{gw}.weights"), zp,
                   f"{gw}.weights.num_bits", f"{gw}.weights.group_size", **kw)
        return CheckpointQuant(**{**cq.__dict__, "notes": notes + cq.notes})
    raise EstimatorError(f"{gw}.weights.type", typ, "must be 'int' or 'float' (with num_bits "
                         "8 or 4)")


def read(cfg: Mapping[str, Any]) -> CheckpointQuant | None:
    """The checkpoint's quantization from its ``quantization_config`` (module docstring);
    None when the config has none."""
    q = cfg.get("quantization_config")
    if q is None:
        return None
    where = "quantization_config"
    if not isinstance(q, Mapping):
        raise EstimatorError(where, type(q).__name__, "must be a mapping")
    method = q.get("quant_method")
    if method is None and ("load_in_4bit" in q or "load_in_8bit" in q):
        method = "bitsandbytes"
    if not isinstance(method, str):
        raise EstimatorError(f"{where}.quant_method", method, "must be a string")
    kw: dict[str, Any] = {"unquantized": unquantized_dtype(cfg),
                          "unquantized_modules": _names(q, "modules_to_not_convert", where),
                          "source": f"config.json quantization_config (quant_method={method})"}
    if method == "fp8":
        block = q.get("weight_block_size")
        if block is None:
            return CheckpointQuant("fp8", "fp8", "fp8", bits=8, **kw)
        if (not isinstance(block, (list, tuple)) or len(block) != 2
                or not all(isinstance(b, int) and not isinstance(b, bool) and b > 0
                           for b in block)):
            raise EstimatorError(f"{where}.weight_block_size", block,
                                 "must be two positive integers")
        if list(block) == [128, 128]:
            return CheckpointQuant("fp8", "fp8", "fp8-block128", bits=8, block_size=(128, 128),
                                   **kw)
        return CheckpointQuant("fp8", "fp8", "fp8", bits=8, block_size=tuple(block), **kw,
                               notes=(f"weight_block_size {list(block)}: its block scales are "
                                      "not counted (only 128x128 is modelled)",))
    if method == "mxfp4":
        mods = kw["unquantized_modules"]
        notes = () if not mods or any(any(f in m for f in _MODULE_OF["attention"])
                                      for m in mods) else (
            "modules_to_not_convert does not list attention: MXFP4 is modelled on the routed "
            "experts only (vLLM's Mxfp4Config quantizes FusedMoE layers only)",)
        return CheckpointQuant("mxfp4", "mxfp4", "mxfp4", bits=4, group_size=32,
                               experts_only=True, **kw, notes=notes)
    if method == "awq":
        bits = _int(q, "bits", where, _int(q, "w_bit", where, 4), minimum=1)
        g_key = "group_size" if "group_size" in q else "q_group_size"
        bits_key = "bits" if "bits" in q else "w_bit"
        g = _int(q, "group_size", where, _int(q, "q_group_size", where, 128))
        return _int4("awq", bits, g, q.get("zero_point", True) is not False,
                     f"{where}.{bits_key}", f"{where}.{g_key}", **kw)
    if method == "gptq":
        bits = _int(q, "bits", where, 4, minimum=1)
        return _int4("gptq", bits, _int(q, "group_size", where, 128), True, f"{where}.bits",
                     f"{where}.group_size", **kw)
    if method == "compressed-tensors":
        return _compressed_tensors(q, where, kw)
    if method == "bitsandbytes":
        kw["unquantized_modules"] = _names(q, "llm_int8_skip_modules", where)
        if q.get("load_in_4bit"):
            if q.get("bnb_4bit_quant_type", "fp4") == "nf4" and q.get("bnb_4bit_use_double_quant"):
                return CheckpointQuant("bitsandbytes", "int4", "nf4-dq", bits=4, group_size=64,
                                       **kw)
            return CheckpointQuant("bitsandbytes", "int4", "int4-g64", bits=4, group_size=64,
                                   **kw, notes=("4-bit without double quantization: an fp32 "
                                                "absmax per 64 stored, counted as fp16",))
        if q.get("load_in_8bit"):
            return CheckpointQuant("bitsandbytes", "int8", "int8", bits=8, **kw,
                                   notes=("LLM.int8 per-row fp32 scales not counted",))
    return CheckpointQuant(method, None, None, **kw,
                           notes=(f"quantization_config.quant_method={method!r} is not "
                                  f"modelled: weights counted in {kw['unquantized']}",))


def of_model(m: Any) -> CheckpointQuant | None:
    """:func:`read` of a loaded model's config.json (None for a preset or spec without one)."""
    cfg = getattr(m, "hf_config", None)
    return read(cfg) if isinstance(cfg, Mapping) else None


def resolve(m: Any, dtype: str) -> tuple[str, str]:
    """``(dtype to use, where it came from)`` for the ``dtype`` option ``dtype`` on model
    ``m``: an explicit dtype is used as given; ``"auto"`` becomes the checkpoint's
    quantization (:attr:`CheckpointQuant.dtype`), else its ``dtype``/``torch_dtype``, else
    bf16."""
    if dtype != "auto":  # the config's quantization only informs the note: never refuse here
        extra = ""
        try:
            cq = of_model(m)
        except EstimatorError as e:
            return dtype, f"{dtype} (the dtype option; config.json quantization ignored: {e})"
        if cq is not None and cq.dtype is not None and cq.dtype != dtype:
            extra = (f"; the checkpoint stores {cq.weight_format} ({cq.source}): "
                     "dtype=auto uses it")
        return dtype, f"{dtype} (the dtype option{extra})"
    cq = of_model(m)
    if cq is not None and cq.dtype is not None:
        return cq.dtype, f"{cq.dtype} (auto: {cq.source}, stored as {cq.weight_format})"
    cfg = getattr(m, "hf_config", None)
    plain = unquantized_dtype(cfg) if isinstance(cfg, Mapping) else memory.SIXTEEN_BIT_FORMAT
    why = ("; " + cq.notes[0]) if cq is not None and cq.notes else ""
    if not isinstance(cfg, Mapping):
        src = "no config.json"
    elif any(isinstance(cfg.get(k), str) and cfg[k].removeprefix("torch.") in TORCH_DTYPES
             for k in ("dtype", "torch_dtype")):
        src = "config.json dtype/torch_dtype"
    else:  # absent, or a value that names no 16/32-bit float type
        given = {k: cfg[k] for k in ("dtype", "torch_dtype") if k in cfg}
        src = ("config.json names no known dtype/torch_dtype"
               + (f" ({', '.join(f'{k}={v!r}' for k, v in given.items())})"[:200] if given
                  else "") + f": {memory.SIXTEEN_BIT_FORMAT} assumed")
    return plain, f"{plain} (auto: {src}{why})"


def resolve_kwargs(m: Any, options: Mapping[str, Any]) -> dict[str, Any]:
    """``options`` with ``dtype="auto"`` replaced by what :func:`resolve` makes of it on
    ``m`` (for the entry points that build their own options: what-if, sweep, plan)."""
    out = dict(options)
    if out.get("dtype") == "auto":
        out["dtype"] = resolve(m, "auto")[0]
    return out


def checkpoint_weight_bytes(s: Any, cq: CheckpointQuant, vision: bool = True) -> dict[str, int]:
    """Bytes of the checkpoint's weights by component (one copy, no parallelism): quantized
    matrices in :attr:`CheckpointQuant.weight_format` with their scales and zero points
    (:func:`estimator.quant.tensor_bytes`), routed experts only for an experts-only format,
    the components named in ``unquantized_modules`` and all non-matrix tensors (embeddings,
    lm_head, norms, routers, biases) in :attr:`CheckpointQuant.unquantized`."""
    lp = memory.layer_params(s)
    u = cq.unquantized
    q = cq.weight_format or u

    def at(fmts: dict[str, str]) -> dict[str, int]:
        return memory.stage_weight_bytes(s, lp, fmts, s.num_hidden_layers, s.num_moe_layers,
                                         True, True, 1, 1, nbytes=quant.tensor_bytes,
                                         vision=vision)

    quantized = at({"matrices": q, "routed_experts": q, "other": u})
    plain = at({"matrices": u, "routed_experts": u, "other": u})
    keep = set()
    if cq.experts_only:
        keep.update(p for p in _MATRIX_PARTS if p != "routed_experts")
    for part, frags in _MODULE_OF.items():
        if any(f in m for m in cq.unquantized_modules for f in frags):
            keep.add(part)
    return {k: (plain[k] if k in keep else v) for k, v in quantized.items()}


__all__ = ["CheckpointQuant", "TORCH_DTYPES", "checkpoint_weight_bytes", "of_model", "read",
           "resolve", "resolve_kwargs", "unquantized_dtype"]
