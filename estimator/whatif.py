"""What if: cheaper ways to run the same model, side by side.

``what_if(model, **options)`` returns one row per variant of the model — the baseline,
quantized weights, pruned experts, dense students, experts offloaded to host memory, LoRA and
QLoRA fine-tuning — each with the same figures (:data:`ROW_FIELDS`), so they compare in one
table and one chart. Data flows one way: every variant is a (spec, weight formats, KV dtype,
placement) handed to the same sections ``estimate()`` uses (:mod:`estimator.memory`,
:mod:`estimator.serving`, :mod:`estimator.training`); this module adds only what those do not
know, each in one function with its source:

* weight bytes in block formats (:func:`estimator.quant.tensor_bytes`, through
  :func:`estimator.memory.stage_weight_bytes`);
* the pruned spec (:func:`pruned_spec`), the dense students (:func:`estimator.compare.
  dense_equivalents`);
* experts offloaded to host memory (:func:`offload_misses_per_layer`, :data:`HOST_LINKS`);
* LoRA adapter parameters (:func:`lora_adapter_params`) and fine-tuning memory
  (:func:`lora_training_peak`).

Every row is deployed on the fewest GPUs of the chosen type that hold it
(:data:`estimator.memory.FIT_LADDER`, as ``smallest_fit``), and its speed and cost are at that
layout; a row that fits nowhere on the ladder is reported at the requested layout with
``fits = False`` and ``gpus = None``. Quality is never estimated: ``quality_note`` quotes what a
source reports (with ``source``), or says that nothing is published.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

from . import ckpt_quant, memory, quant, serving, training
from .compare import dense_equivalents
from .errors import EstimatorError, NotAvailable
from .hardware import GPU, get_gpu
from .options import OPTION_FIELDS, Options, make_options
from .params import count_params
from .presets import Model, load_model
from .spec import ModelSpec

#: The figures of every row, in order (the CLI's JSON/CSV keys).
ROW_FIELDS = ("name", "kind", "params_total", "params_active", "weights_bytes", "per_gpu_bytes",
              "gpus", "fits", "kv_cache_bytes", "decode_tokens_per_s", "prefill_tokens_per_s",
              "cost_per_million_tokens_usd", "training_peak_bytes_per_gpu", "conventions",
              "quality_note", "source")

#: Quantized formats of the default table (``quant=`` overrides), lowest loss first.
DEFAULT_QUANTS = ("int8", "fp8", "int4-g128", "nvfp4", "mxfp4", "Q8_0", "Q6_K", "Q5_K", "Q4_K",
                  "Q3_K", "Q2_K")
#: Default LoRA rank (Hu et al. 2021 report r from 1 to 64; 16 is PEFT examples' usual value).
DEFAULT_LORA_RANK = 16

# ----------------------------------------------------------------------------------------------
# host links (expert offloading)
# ----------------------------------------------------------------------------------------------

#: Host↔GPU link bandwidth per direction, decimal bytes/s. PCIe x16: lanes × transfer rate ×
#: 128b/130b encoding (PCI-SIG: Gen4 16 GT/s, Gen5 32 GT/s per lane) = 31.5 and 63.0 GB/s;
#: NVLink-C2C: 900 GB/s total, 450 per direction (NVIDIA GH200 datasheet).
HOST_LINKS = {
    "pcie4-x16": 16 * 16e9 * 128 / 130 / 8,
    "pcie5-x16": 16 * 32e9 * 128 / 130 / 8,
    "nvlink-c2c": 450e9,
}
#: The host interface of each catalog GPU (vendor datasheets: A100 and L40S "PCIe Gen4 x16",
#: RTX 4090 PCIe 4.0 x16; H100, H200, B200, MI300X "PCIe Gen5 x16"); unknown ids: Gen4.
DEFAULT_HOST_LINK = {"a100-40gb": "pcie4-x16", "a100-80gb": "pcie4-x16", "l40s": "pcie4-x16",
                     "rtx-4090": "pcie4-x16", "h100-sxm": "pcie5-x16", "h100-pcie": "pcie5-x16",
                     "h200": "pcie5-x16", "b200": "pcie5-x16", "mi300x": "pcie5-x16"}

# ----------------------------------------------------------------------------------------------
# quality evidence: quoted, never invented
# ----------------------------------------------------------------------------------------------

NOT_ESTIMATED = "not estimated (no published measurement for this change is quoted here)"
_LLAMA_CPP_QUANTIZE = ("llama.cpp tools/quantize/quantize.cpp QUANT_OPTIONS (measured on "
                       "Llama-3-8B, a dense model, for the llama.cpp mix named)")
#: llama.cpp's own description of each GGUF type (the ``_M`` mix for the K-quants).
GGUF_QUALITY = {
    "Q8_0": '"Q8_0: 7.96G, +0.0026 ppl @ Llama-3-8B"',
    "Q6_K": '"Q6_K: 6.14G, +0.0217 ppl @ Llama-3-8B"',
    "Q5_K": '"Q5_K_M: 5.33G, +0.0569 ppl @ Llama-3-8B"',
    "Q4_K": '"Q4_K_M: 4.58G, +0.1754 ppl @ Llama-3-8B"',
    "Q3_K": '"Q3_K_M: 3.74G, +0.6569 ppl @ Llama-3-8B"',
    "Q2_K": '"Q2_K: 2.96G, +3.5199 ppl @ Llama-3-8B"',
}
QMOE = ("QMoE (Frantar & Alistarh 2023, arXiv 2310.16795, abstract): \"QMoE can compress the "
        "1.6 trillion parameter SwitchTransformer-c2048 model to less than 160GB (20x "
        "compression, 0.8 bits per parameter) at only minor accuracy loss\" — another model "
        "and format; for this one " + NOT_ESTIMATED)
PRUNE_QUALITY = ("Lu et al. 2024 (\"Not All Experts are Equal\", arXiv 2402.14800, abstract): "
                 "post-training expert pruning \"can simultaneously reduce model sizes and "
                 "increase the inference speed, while maintaining satisfactory performance\" — "
                 "which experts are dropped is chosen on calibration data; no figure for this "
                 "model is estimated")
DISTILL_QUALITY = ("Fedus et al. 2021 (Switch Transformers, arXiv 2101.03961; distillation, §4.2 "
                   "of v3, summarised in §1): distilling into small dense models reduces \"the "
                   "model size by up to 99% while preserving 30% of the quality gains of the "
                   "large sparse teacher\" — a student must be trained (distillation compute "
                   "not estimated)")
OFFLOAD_QUALITY = ("same weights as the format named: offloading changes speed, not outputs. "
                   "Eliseev & Mazur 2023 (arXiv 2312.17238, abstract): \"we build can run "
                   "Mixtral-8x7B with mixed quantization on desktop hardware and free-tier "
                   "Google Colab instances\"")
LORA_QUALITY = ("Hu et al. 2021 (LoRA, arXiv 2106.09685, abstract): \"LoRA performs on-par or "
                "better than fine-tuning in model quality on RoBERTa, DeBERTa, GPT-2, and "
                "GPT-3\"")
QLORA_QUALITY = ("Dettmers et al. 2023 (QLoRA, arXiv 2305.14314, abstract): \"reduces memory "
                 "usage enough to finetune a 65B parameter model on a single 48GB GPU while "
                 "preserving full 16-bit finetuning task performance\"")


# ----------------------------------------------------------------------------------------------
# formulas
# ----------------------------------------------------------------------------------------------

def pruned_spec(s: ModelSpec, keep: int) -> ModelSpec:
    """``s`` with ``keep`` of its ``E`` routed experts in every MoE layer and top-k capped at
    ``keep``: the same family's config with fewer experts (``num_local_experts`` /
    ``n_routed_experts`` = ``keep``), as expert pruning (Lu et al. 2024) and expert merging
    leave it. Raises :class:`EstimatorError` naming ``prune_experts``."""
    if not s.is_moe:
        raise EstimatorError("prune_experts", keep, "the model has no routed experts to prune")
    if isinstance(keep, bool) or not isinstance(keep, int) or not 1 <= keep <= s.num_experts:
        raise EstimatorError("prune_experts", keep,
                             f"must be an integer from 1 to num_experts={s.num_experts}")
    k = min(s.num_experts_per_tok, keep)
    try:
        return s.replace(name=f"{s.name}-pruned-{keep}", num_experts=keep,
                         num_experts_per_tok=k)
    except EstimatorError as e:
        raise EstimatorError("prune_experts", keep, f"the pruned config is not valid ({e})") \
            from None


def offload_misses_per_layer(num_experts: int, top_k: int, tokens: int, cached: int,
                             hit_rate: float | None = None) -> float:
    """Expected experts one MoE layer fetches over the host link per step of ``tokens`` tokens
    when the GPU caches ``cached`` of the layer's ``E`` experts (LRU, Eliseev & Mazur 2023).

    The step touches ``D`` distinct experts, ``E[D] = E·(1 − (1 − k/E)^b)``
    (:func:`estimator.serving.expected_distinct_experts`). Under uniform independent routing
    the step's set is independent of the cache's contents (fixed by earlier steps), and each
    expert is touched with probability ``p = E[D]/E``; a full cache of ``C`` experts therefore
    holds ``C·p`` of them on average, whatever the replacement rule: hit rate ``C/E``, misses
    ``(E − C)·p``. Real routing repeats experts across tokens (Eliseev & Mazur's reason for an
    LRU cache), so a measured ``hit_rate`` replaces ``C/E``: misses ``(1 − hit_rate)·E[D]``.
    """
    distinct = serving.expected_distinct_experts(num_experts, top_k, tokens)
    h = cached / num_experts if hit_rate is None else hit_rate
    return (1.0 - h) * distinct


def lora_adapter_params(s: ModelSpec, rank: int, targets: tuple[str, ...]) -> int:
    """Trainable parameters of LoRA adapters of rank ``r`` (Hu et al. 2021, arXiv 2106.09685
    §4.1: ``W + B·A`` with ``A ∈ R^{r×d_in}``, ``B ∈ R^{d_out×r}``: ``r·(d_in + d_out)`` per
    adapted matrix, no bias), on the matrices of ``targets``:

    * ``attention``: q ``h→a·d``, k and v ``h→g·d``, o ``a·d→h`` in every layer (PEFT's
      ``target_modules=["q_proj","k_proj","v_proj","o_proj"]``);
    * ``mlp``: the dense FFN of dense layers and the shared expert of MoE layers — gate and up
      ``h→f``, down ``f→h`` (no gate when the FFN is not gated);
    * ``experts``: the same three matrices of each of the ``E`` routed experts.

    MLA and JetMoE's attention experts are refused (their projections are not modelled here).
    """
    if isinstance(rank, bool) or not isinstance(rank, int) or not 1 <= rank <= 65536:
        raise EstimatorError("lora_rank", rank, "must be an integer from 1 to 65536")
    bad = [t for t in targets if t not in ("attention", "mlp", "experts")]
    if bad or not targets:
        raise EstimatorError("lora_targets", ",".join(targets) or "(none)",
                             "must be one or more of attention, mlp, experts")
    h, d, L = s.hidden_size, s.head_dim, s.num_hidden_layers
    mats = 3 if s.gated_ffn else 2

    def mlp(f: int) -> int:
        return (mats - 1) * rank * (h + f) + rank * (f + h)

    out = 0
    if "attention" in targets:
        if s.mla is not None or s.moa is not None:
            raise EstimatorError("lora_targets", "attention", "LoRA on MLA or MoA attention "
                                 "projections is not modelled; use mlp or experts")
        a, g = s.num_attention_heads, s.num_key_value_heads
        out += L * rank * ((h + a * d) + 2 * (h + g * d) + (a * d + h))
    if "mlp" in targets:
        out += s.num_dense_layers * mlp(s.intermediate_size)
        if s.num_shared_experts and s.shared_expert_intermediate_size:
            out += s.num_moe_layers * mlp(s.shared_expert_intermediate_size)
    if "experts" in targets:
        if not s.is_moe:
            raise EstimatorError("lora_targets", "experts", "the model has no routed experts")
        out += s.num_moe_layers * s.num_experts * mlp(s.moe_intermediate_size)
    return out


def lora_training_peak(frozen_weight_bytes: int, adapter_params: int, adam_bytes: int,
                       full_training: Any) -> dict[str, int]:
    """Peak fine-tuning memory of one GPU with a frozen base and trainable adapters:
    the frozen weights (no gradients, no optimizer state) + ``adam_bytes`` per adapter
    parameter (ZeRO paper §3.1: 2 weights + 2 gradients + 4 fp32 master + 8 Adam = 16) + the
    activation and transient terms of full training of the same model and micro-batch
    (:func:`estimator.training.compute_memory`: everything at its peak but the model states)
    + its cuBLAS workspaces. The adapters' own saved inputs (``r``-wide) are not counted."""
    w = full_training.worst
    transient = w.peak - w.model_states
    return {"frozen_weights": frozen_weight_bytes, "adapter_states": adapter_params * adam_bytes,
            "activations_and_transients": transient,
            "cublas_workspace": full_training.cublas_workspace}


FORMULAS = [pruned_spec, offload_misses_per_layer, lora_adapter_params, lora_training_peak]

# ----------------------------------------------------------------------------------------------
# variants and their evaluation
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Variant:
    """One way to run the model: its spec, the storage format of each tensor class
    (``matrices``, ``routed_experts``, ``other``: see :func:`estimator.memory.weight_formats`),
    the KV dtype, and for offloading the experts cached per layer."""

    name: str
    kind: str
    spec: ModelSpec
    fmts: dict[str, str]
    kv_dtype: str
    conventions: str
    quality_note: str
    source: str
    offload_cache: int | None = None
    hit_rate: float | None = None
    link: str | None = None
    lora: dict[str, Any] | None = field(default=None)


def _compute_dtype(fmts: dict[str, str]) -> str:
    """The carrier dtype of the estimate a variant is evaluated with: the peak of its block
    matrices' format (bf16 when those are 16-bit, as in "experts only" variants)."""
    return quant.compute_dtype(fmts["matrices"])


def _requantized(s: ModelSpec, mem: memory.InferenceMemory, fmts: dict[str, str],
                 cache: int | None = None, staging: int = 0) -> tuple[memory.StageModel, ...]:
    """``mem``'s stage models with the weights stored in ``fmts``; with ``cache``, only
    ``cache`` of the ``E`` routed experts per MoE layer (plus ``staging`` experts of one
    layer's fetch buffer) stay on the GPU."""
    lay = mem.lay
    lp = memory.layer_params(s, lay.tp, lay.ep, lay.etp)
    out = []
    for m in mem.stage_models:
        lo, hi = m.layers
        n, n_moe, _ = memory.layer_kinds(s, lo, hi)
        w = memory.stage_weight_bytes(s, lp, fmts, n, n_moe, m.stage == 0,
                                      m.stage == lay.pp - 1, lay.tp, lay.pp,
                                      nbytes=quant.tensor_bytes, layers=(lo, hi))
        if cache is not None and n_moe:
            per_expert = w["routed_experts"] // (n_moe * s.num_experts)
            w["routed_experts"] = per_expert * (n_moe * cache + staging)
        out.append(dataclasses.replace(m, weights=w,
                                       fixed=sum(w.values()) + sum(m.overhead.values())))
    return tuple(out)


def _busiest(models, b_group: int, seq: int) -> int:
    return max(m.total(b_group, seq) for m in models)


def _evaluate(model: Model, v: Variant, opts: Options, gpu: GPU) -> dict[str, Any]:
    """The row of variant ``v`` (module docstring): fewest GPUs, then speed and cost there."""
    s = v.spec
    m = model if v.spec is model.spec else Model(spec=s, display_name=s.name, origin=v.kind)
    carrier = _compute_dtype(v.fmts)
    o = opts.replace(dtype=carrier, kv_dtype=v.kv_dtype)
    b, seq = o.batch, o.seq_len
    E, k = s.num_experts, s.num_experts_per_tok
    staging = min(E - v.offload_cache, k * b) if v.offload_cache is not None else 0
    ladder = ((1, 1),) if v.offload_cache is not None else memory.FIT_LADDER
    chosen = None
    for tp, pp in ladder:
        ep = memory.fit_ep(s, tp, o.ep)
        try:
            mem = memory.compute(m, o.replace(tp=tp, pp=pp, ep=ep), gpu)
        except EstimatorError:
            continue
        held = _requantized(s, mem, v.fmts, v.offload_cache, staging)
        per_gpu = _busiest(held, -(-b // mem.lay.dp_attn), seq)
        if per_gpu <= gpu.memory_bytes:
            chosen = (mem, held, per_gpu)
            break
    fits = chosen is not None
    if chosen is None:  # fits nowhere on the ladder: shown at the requested layout
        mem = memory.compute(m, o, gpu)
        held = _requantized(s, mem, v.fmts, v.offload_cache, staging)
        chosen = (mem, held, _busiest(held, -(-b // mem.lay.dp_attn), seq))
    mem, held, per_gpu = chosen
    lay = mem.lay
    full = _requantized(s, mem, v.fmts)  # every expert: what a step reads from GPU memory
    reads = serving.decode_reads(s, lay, carrier, full, seq)
    sv = serving.compute(m, o.replace(tp=lay.tp, pp=lay.pp, ep=lay.ep), gpu, inference=mem)
    point = next(p for p in sv.decode if p.batch == b)
    bw = gpu.bandwidth_bytes_s * o.mbu
    decode_s = max(point.compute_time_s, reads.bytes_at(b) / bw)
    prefill_s = max(sv.prefill_compute_s, serving.prefill_bytes(reads, b, seq) / bw)
    link_note = ""
    if v.offload_cache is not None:
        link_bw = HOST_LINKS[v.link]
        expert_bytes = full[0].weights["routed_experts"] // (s.num_moe_layers * E)
        fetch = s.num_moe_layers * expert_bytes
        decode_s = max(decode_s, fetch * offload_misses_per_layer(
            E, k, b, v.offload_cache, v.hit_rate) / link_bw)
        prefill_s = max(prefill_s, fetch * offload_misses_per_layer(
            E, k, b * seq, v.offload_cache, v.hit_rate) / link_bw)
        link_note = (f"; host link {v.link} {link_bw / 1e9:.1f} GB/s per direction; "
                     f"decode step = max(compute, HBM, link)")
    weights = sum(memory.stage_weight_bytes(
        s, memory.layer_params(s), v.fmts, s.num_hidden_layers, s.num_moe_layers, True, True,
        1, 1, nbytes=quant.tensor_bytes).values())
    gpus = lay.gpus if fits else None
    tok_s = b / decode_s
    price = o.price_per_gpu_hour or gpu.price_per_hour_usd
    c = count_params(s)
    return {
        "name": v.name, "kind": v.kind, "params_total": c.total, "params_active": c.active,
        "weights_bytes": weights, "per_gpu_bytes": per_gpu, "gpus": gpus, "fits": fits,
        "kv_cache_bytes": mem.kv_cache, "decode_tokens_per_s": tok_s,
        "prefill_tokens_per_s": b * seq / prefill_s,
        "cost_per_million_tokens_usd": (lay.gpus * price / 3600 / tok_s * 1e6) if fits else None,
        "training_peak_bytes_per_gpu": None,
        "conventions": v.conventions + f"; layout tp={lay.tp} pp={lay.pp} ep={lay.ep}"
                       + link_note,
        "quality_note": v.quality_note, "source": v.source,
    }


def _fmt_desc(fmts: dict[str, str]) -> str:
    def d(name: str) -> str:
        return f"{name} ({quant.bits_per_weight(name):.4g} bit/weight)"
    return (f"attention/dense/shared matrices {d(fmts['matrices'])}, routed experts "
            f"{d(fmts['routed_experts'])}, embedding, lm_head, router, norms, biases "
            f"{fmts['other']}")


def _quant_variant(s: ModelSpec, fmt: str, base_kv: str, experts_only: bool = False
                   ) -> Variant:
    quant.get_format(fmt)
    widths = {"hidden_size": s.hidden_size}
    if s.num_dense_layers:
        widths["intermediate_size"] = s.intermediate_size
    if s.is_moe:
        widths["moe_intermediate_size"] = s.moe_intermediate_size
    quant.check_group(fmt, widths)
    if fmt == "mxfp4" and not s.is_moe:
        raise EstimatorError("quant", fmt, "MXFP4 here quantizes routed experts only (gpt-oss's "
                             "layout) and this model has none")
    if fmt == "mxfp4" and not experts_only:
        fmts = memory.weight_formats("mxfp4")  # gpt-oss's layout: experts only
        experts_only = True
    else:
        fmts = {"matrices": memory.SIXTEEN_BIT_FORMAT if experts_only else fmt,
                "routed_experts": fmt, "other": memory.SIXTEEN_BIT_FORMAT}
    f = quant.get_format(fmt)
    layout = f.layout if f is not None else {
        "fp8": "FP8 E4M3, one scale per tensor (not counted)",
        "int8": "int8 weights, per-channel scales not counted",
        "int4": f"4 bits + fp16 scale per {memory.INT4_GROUP_SIZE}",
        "mxfp4": "FP4 E2M1, one E8M0 scale per 32 (OCP MX v1.0)"}.get(fmt, fmt)
    src = f.source if f is not None else "estimator/memory.py (tensor_bytes, weight_formats)"
    if fmt in quant.GGUF:
        quality = f"{_LLAMA_CPP_QUANTIZE}: {GGUF_QUALITY[fmt]}"
        src += "; quality: " + _LLAMA_CPP_QUANTIZE
        conv = (f"GGUF {fmt} blocks: {layout}; the block matrices only: llama.cpp also "
                "quantizes token_embd/output and its _M/_S mixes raise some tensors (attn_v, "
                "ffn_down) to larger types — not modelled, so the file is somewhat larger")
    else:
        quality = QMOE if (experts_only and s.is_moe) else NOT_ESTIMATED
        conv = layout
    name = ("experts " if experts_only and s.is_moe else "") + fmt
    return Variant(name=name, kind="quantize", spec=s, fmts=fmts, kv_dtype=base_kv,
                   conventions=conv + "; " + _fmt_desc(fmts), quality_note=quality, source=src)


def variants(s: ModelSpec, opts: Options, *, quants: tuple[str, ...] | None = None,
             prune_experts: int | None = None, offload_cache_experts: int | None = None,
             offload_quant: str | None = None, offload_hit_rate: float | None = None,
             offload_link: str | None = None, lora_rank: int = DEFAULT_LORA_RANK,
             lora_targets: tuple[str, ...] = ("attention",),
             kv_variants: tuple[str, ...] = ("fp8",)) -> list[Variant]:
    """The variants of the table (module docstring); bad options raise
    :class:`EstimatorError` naming the option."""
    base = memory.weight_formats(opts.dtype)
    out = [Variant(name=f"baseline ({opts.dtype})", kind="baseline", spec=s, fmts=base,
                   kv_dtype=opts.kv_dtype,
                   conventions="the model as given: " + _fmt_desc(base),
                   quality_note="the model as published", source="")]
    defaults = DEFAULT_QUANTS if s.is_moe else tuple(f for f in DEFAULT_QUANTS if f != "mxfp4")
    if quants is None:  # a default row whose group size does not divide the model is left out
        out += _applicable(lambda f: _quant_variant(s, f, opts.kv_dtype), defaults)
        if s.is_moe:
            out += _applicable(lambda f: _quant_variant(s, f, opts.kv_dtype, experts_only=True),
                               ("int4-g128",))
    else:  # a format the user asked for is refused naming it
        out += [_quant_variant(s, fmt, opts.kv_dtype) for fmt in quants]
    for kv in kv_variants:
        if kv not in memory.BYTES_PER_ELEMENT:
            raise EstimatorError("kv_variants", kv, "must be one of "
                                 + ", ".join(memory.BYTES_PER_ELEMENT))
        if kv != opts.kv_dtype:
            out.append(Variant(name=f"KV cache {kv}", kind="quantize", spec=s, fmts=base,
                               kv_dtype=kv, conventions=f"weights as baseline; KV cache in "
                               f"{kv} (per-tensor scales not counted)",
                               quality_note=NOT_ESTIMATED, source=""))
    if s.is_moe:
        keep = prune_experts if prune_experts is not None else max(1, s.num_experts // 2)
        ps = pruned_spec(s, keep)
        out.append(Variant(
            name=f"prune to {keep}/{s.num_experts} experts", kind="prune", spec=ps, fmts=base,
            kv_dtype=opts.kv_dtype,
            conventions=f"keep {keep} of {s.num_experts} routed experts in every MoE layer "
                        f"(uniform), top-k {ps.num_experts_per_tok}; expert merging gives the "
                        "same shape; weights as baseline",
            quality_note=PRUNE_QUALITY, source="arXiv 2402.14800"))
        try:  # DeepSeek-V4: no dense student of its block (compare.dense_equivalents)
            students = dense_equivalents(s) if s.compressed_attention is None else []
        except NotAvailable:
            students = []
        for eq in students:
            out.append(Variant(
                name=f"distill to dense ({eq.label})", kind="distill", spec=eq.spec, fmts=base,
                kv_dtype=opts.kv_dtype,
                conventions=f"dense student, trunk kept, FFN width {eq.spec.intermediate_size} "
                            f"(compare.dense_equivalents, {eq.label})",
                quality_note=DISTILL_QUALITY, source="arXiv 2101.03961"))
        c = offload_cache_experts if offload_cache_experts is not None else s.num_experts // 2
        if isinstance(c, bool) or not isinstance(c, int) or not 0 <= c <= s.num_experts:
            raise EstimatorError("offload_cache_experts", c,
                                 f"must be an integer from 0 to num_experts={s.num_experts}")
        if offload_hit_rate is not None and not (
                isinstance(offload_hit_rate, (int, float)) and 0 <= offload_hit_rate <= 1):
            raise EstimatorError("offload_hit_rate", offload_hit_rate, "must be from 0 to 1")
        link = offload_link or DEFAULT_HOST_LINK.get(opts.gpu, "pcie4-x16")
        if link not in HOST_LINKS:
            raise EstimatorError("offload_link", link, "must be one of " + ", ".join(HOST_LINKS))
        if offload_quant is None:  # int4 with the largest group that divides the widths
            offload_quant = next(
                (f for f in OFFLOAD_QUANTS
                 if _applicable(lambda f: _quant_variant(s, f, opts.kv_dtype, True), (f,))),
                OFFLOAD_QUANTS[-1])
        qv = _quant_variant(s, offload_quant, opts.kv_dtype, experts_only=True)
        hr = (f"hit rate {offload_hit_rate:g} (given)" if offload_hit_rate is not None
              else f"hit rate C/E = {c}/{s.num_experts} (uniform routing)")
        out.append(Variant(
            name=f"offload experts ({offload_quant}), cache {c}/{s.num_experts}",
            kind="offload", spec=s, fmts=qv.fmts, kv_dtype=opts.kv_dtype,
            conventions=f"one GPU holds the dense part + {c} cached experts per MoE layer + a "
                        f"fetch buffer of min(E - C, k·batch) experts; the rest in host memory; "
                        f"per step (1 - hit rate)·E·(1-(1-k/E)^b) experts per layer cross the "
                        f"link, {hr}; " + _fmt_desc(qv.fmts),
            quality_note=OFFLOAD_QUALITY, source="arXiv 2312.17238",
            offload_cache=c, hit_rate=offload_hit_rate, link=link))
    targets = tuple(lora_targets)
    if training.training_refusal(s):  # V4, A.X-K2, HY-V4, Gemma-3n, Zamba:
        return out  # needs the training model
    adapters = lora_adapter_params(s, lora_rank, targets)
    for kind, fmt, quality, src in (
            ("lora", memory.SIXTEEN_BIT_FORMAT, LORA_QUALITY, "arXiv 2106.09685"),
            ("qlora", "nf4-dq", QLORA_QUALITY, "arXiv 2305.14314")):
        fmts = {"matrices": fmt, "routed_experts": fmt, "other": memory.SIXTEEN_BIT_FORMAT}
        out.append(Variant(
            name=f"{kind} r={lora_rank} ({'+'.join(targets)})", kind=kind, spec=s, fmts=fmts,
            kv_dtype=opts.kv_dtype,
            conventions=f"fine-tuning: frozen base ({_fmt_desc(fmts)}) + {adapters:,} adapter "
                        f"parameters (rank {lora_rank} on {', '.join(targets)}) at "
                        f"{opts.adam_bytes} B each (weights, grads, fp32 master, Adam) + the "
                        "activations of full training at micro_batch x seq_len; serving figures "
                        "are the base model's in that format",
            quality_note=quality, source=src,
            lora={"adapter_params": adapters, "rank": lora_rank, "targets": targets}))
    return out


#: ``what_if`` keywords that are not estimate() options.
WHATIF_OPTIONS = ("quant", "prune_experts", "offload_cache_experts", "offload_quant",
                  "offload_hit_rate", "offload_link", "lora_rank", "lora_targets",
                  "kv_variants")


#: The default expert format when offloading: the first that applies to the model.
OFFLOAD_QUANTS = ("int4-g128", "int4-g64", "int4-g32", "int8")


def _applicable(make, fmts: tuple[str, ...]) -> list[Variant]:
    """The variants ``make(fmt)`` builds for the default formats that apply to the model (a
    group size that does not divide a width, e.g. int4-g128 on gpt-oss's 2880, is skipped)."""
    out = []
    for f in fmts:
        try:
            out.append(make(f))
        except EstimatorError:
            continue
    return out


_MAX_NAMES = 64  # rows one list keyword may ask for (there are ~20 weight formats)


def _names(key: str, value: Any) -> tuple[str, ...]:
    """A list keyword (``quant``, ``lora_targets``, ``kv_variants``) as a tuple of names."""
    if not isinstance(value, (list, tuple)) or len(value) > _MAX_NAMES:
        raise EstimatorError(key, value, f"must be a name or a list of at most {_MAX_NAMES} "
                                         "names")
    for v in value:
        if not isinstance(v, str):
            raise EstimatorError(key, v, "must be a name (a string)")
    return tuple(value)


def what_if(model: Any, **options: Any) -> dict[str, Any]:
    """Cheaper ways to run ``model``: ``{"rows": [...], "gpu": ..., "options": ...}``.

    ``options``: any ``estimate()`` option (the workload: batch, seq_len, gpu, dtype, ...) and
    ``quant`` (formats of the quantize rows, default :data:`DEFAULT_QUANTS`; see
    :data:`estimator.quant.NAMES`), ``prune_experts`` (E' kept, default E/2),
    ``offload_cache_experts`` (C per layer, default E/2), ``offload_quant`` (expert format
    when offloaded, default the first of :data:`OFFLOAD_QUANTS` that applies),
    ``offload_hit_rate`` (measured LRU hit rate, default C/E), ``offload_link``
    (:data:`HOST_LINKS`, default the GPU's host interface),
    ``lora_rank`` (default 16), ``lora_targets`` (attention, mlp, experts; default attention),
    ``kv_variants`` (KV dtypes to add, default fp8). Each row: :data:`ROW_FIELDS`.
    """
    m = load_model(model)
    wi = {k: options.pop(k) for k in list(options) if k in WHATIF_OPTIONS}
    for k in options:
        if k not in OPTION_FIELDS:
            raise EstimatorError(k, options[k], "unknown option; known: "
                                 + ", ".join((*OPTION_FIELDS, *WHATIF_OPTIONS)))
    opts = make_options(**ckpt_quant.resolve_kwargs(m, options))  # dtype=auto: the checkpoint's
    gpu = get_gpu(opts.gpu)
    q = wi.pop("quant", None)
    if isinstance(q, str):
        q = (q,)
    lt = wi.pop("lora_targets", ("attention",))
    if isinstance(lt, str):
        lt = tuple(t.strip() for t in lt.split(",") if t.strip())
    kvv = wi.pop("kv_variants", ("fp8",))
    if isinstance(kvv, str):
        kvv = (kvv,)
    vs = variants(m.spec, opts, quants=None if q is None else _names("quant", q),
                  lora_targets=_names("lora_targets", lt),
                  kv_variants=_names("kv_variants", kvv), **wi)
    rows = []
    full_training = None
    for v in vs:
        row = _evaluate(m, v, opts, gpu)
        if v.lora is not None:
            if full_training is None:
                full_training = training.compute_memory(
                    m, opts.replace(tp=1, pp=1, ep=1, cp=1, num_gpus=1, zero=0), gpu)
            parts = lora_training_peak(row["weights_bytes"], v.lora["adapter_params"],
                                       opts.adam_bytes, full_training)
            row["training_peak_bytes_per_gpu"] = sum(parts.values())
            row["training_fits"] = row["training_peak_bytes_per_gpu"] <= gpu.memory_bytes
            row["adapter_params"] = v.lora["adapter_params"]
        rows.append(row)
    return {"schema": "moe-estimator/whatif/1", "model": m.spec.name, "gpu": gpu.id,
            "gpu_memory_bytes": gpu.memory_bytes,
            "workload": {"batch": opts.batch, "seq_len": opts.seq_len,
                         "micro_batch": opts.micro_batch},
            "rows": rows,
            "method": "each row on the fewest GPUs of this type that hold it (tp 1,2,4,8 then "
                      "8 x pp 2..16; offload: one GPU); decode tokens/s at the workload batch, "
                      "roofline max(compute, HBM[, host link]); cost = GPUs x $/GPU-hour / "
                      "tokens per hour; training_peak only for lora/qlora (one GPU, ZeRO 0)"}


__all__ = ["DEFAULT_HOST_LINK", "DEFAULT_QUANTS", "HOST_LINKS", "ROW_FIELDS", "Variant",
           "lora_adapter_params", "lora_training_peak", "offload_misses_per_layer",
           "pruned_spec", "variants", "what_if"]


# ----------------------------------------------------------------------------------------------
# rendering (CLI and app exports): the same rows, three formats
# ----------------------------------------------------------------------------------------------

GIB = 2**30


def render(result: dict[str, Any], fmt: str) -> str:
    """``result`` of :func:`what_if` as ``json`` (``{"rows": [...], ...}``, strict: no NaN),
    ``csv`` (one line per row, :data:`ROW_FIELDS`) or ``md`` (a table in GiB, then each row's
    conventions, quality note and source)."""
    import csv
    import io
    import json

    if fmt == "json":
        return json.dumps(result, indent=2, allow_nan=False) + "\n"
    rows = result["rows"]
    if fmt == "csv":
        buf = io.StringIO()
        from .formats import csv_cell

        w = csv.DictWriter(buf, fieldnames=list(ROW_FIELDS), extrasaction="ignore",
                           lineterminator="\n")
        w.writeheader()
        for r in rows:
            w.writerow({k: csv_cell(r.get(k)) for k in ROW_FIELDS})
        return buf.getvalue()
    if fmt != "md":
        raise EstimatorError("format", fmt, "must be one of json, md, csv")

    def cell(text: Any) -> str:
        return str(text).replace("|", "\\|").replace("\n", " ")

    def num(x: float | None, spec: str) -> str:
        return "—" if x is None else format(x, spec)

    wl = result["workload"]
    out = [f"# What if: {cell(result['model'])} on {cell(result['gpu'])} "
           f"(batch {wl['batch']}, context {wl['seq_len']})", "",
           "| variant | kind | params (B) | weights (GiB) | per GPU (GiB) | GPUs | decode tok/s "
           "| prefill tok/s | $ / M tokens | fine-tune peak (GiB) |",
           "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        tr = r.get("training_peak_bytes_per_gpu")
        out.append(
            f"| {cell(r['name'])} | {r['kind']} | {r['params_total'] / 1e9:.2f} | "
            f"{r['weights_bytes'] / GIB:.2f} | {r['per_gpu_bytes'] / GIB:.2f} | "
            f"{r['gpus'] if r['gpus'] is not None else 'does not fit'} | "
            f"{r['decode_tokens_per_s']:.1f} | {r['prefill_tokens_per_s']:.0f} | "
            f"{num(r['cost_per_million_tokens_usd'], '.2f')} | "
            f"{num(None if tr is None else tr / GIB, '.1f')} |")
    out += ["", "GiB = 2^30 bytes. " + cell(result["method"]), ""]
    for r in rows:
        out.append(f"- **{cell(r['name'])}** — {cell(r['conventions'])}. Quality: "
                   f"{cell(r['quality_note'])}" + (f" (source: {cell(r['source'])})"
                                                    if r["source"] else ""))
    return "\n".join(out) + "\n"
