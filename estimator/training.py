"""Training: memory per GPU (model states, activations, transients) and compute, time and cost.

Memory (:func:`compute_memory`) follows one pipeline stage's GPU through a training step, under
the parallel layout in ``Options`` (tp, pp, ep, etp, cp, dp = num_gpus/(tp·pp·cp), ZeRO stage):

* **Model states** (ZeRO paper, Rajbhandari et al. 2019, arXiv 1910.02054 §3.1 and §5): weights,
  gradients, fp32 master weights, optimizer states, with the bytes-per-parameter convention
  named in :func:`bytes_per_param`. Non-expert parameters are split by TP and PP and their
  ZeRO/distributed-optimizer shards span the ``dp·cp`` group; routed experts are split by EP
  (and expert-TP) and shard over the expert-data-parallel group ``world / (etp·ep·pp)``
  (Megatron-LM ``theoretical_memory_usage.py`` and ``parallel_state``'s expert RankGenerator).
* **Activations** saved for backward: a tensor-by-tensor account of what Megatron-LM (Megatron
  Core with Transformer Engine) keeps — the framework's minimal saved-tensor set — per layer and
  micro-batch (:func:`layer_activation_terms`). For a classic GPT block it reproduces Korthikanti
  et al. 2022 (arXiv 2205.05198) Table 2 exactly (:func:`korthikanti_layer_bytes`). Other
  frameworks keep more (REFERENCE.md §3: transformers' eager Llama keeps ~1.5× this set).
* **Transients** at the peak: the logits / cross-entropy spike on the last stage, ZeRO-3's
  all-gathered layer weights, optimizer-step temporaries.

The peak is evaluated per pipeline stage (1F1B: stage ``i`` holds ``min(pp − i, grad_accum)``
micro-batches) and the worst stage is reported.

Compute (:func:`compute`): model FLOPs from :mod:`estimator.flops` × training tokens, time at the
given MFU on ``num_gpus`` GPUs, GPU-hours and cost, and Chinchilla's tokens-per-parameter
guidance (dense models).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from typing import Any

from . import flops as flops_mod
from ._frozen import direct_init
from .errors import EstimatorError
from .params import (
    attention_params,
    count_params,
    dense_ffn_params,
    expert_params,
    norm_params,
    router_params,
    shared_expert_params,
)
from .spec import ModelSpec

# ----------------------------------------------------------------------------------------------
# named constants
# ----------------------------------------------------------------------------------------------

BYTES_FP32 = 4
BYTES_16BIT = 2  # bf16 / fp16
BYTES_INT64 = 8
#: AdamW keeps two fp32 moments (m, v) per parameter: ZeRO paper §3.1 "K = 12" = 4 master + 8.
ADAM_MOMENTS = 2
#: SGD with momentum keeps one fp32 buffer per parameter (torch.optim.SGD ``momentum_buffer``).
SGD_MOMENTS = 1
#: bitsandbytes 8-bit blockwise optimizers: one uint8 per state element, one fp32 ``absmax`` per
#: block of 2048 elements per state (bitsandbytes/optim/optimizer.py ``Optimizer2State.init_state``:
#: ``blocks = n // 2048``; ``absmax1``/``absmax2`` float32).
BNB_STATE_BYTES = 1
BNB_BLOCK = 2048
#: Gradient bytes per parameter under each mixed-precision AdamW convention (``adam_bytes``):
#: 16 = ZeRO paper §3.1 (fp16 grads), 18 = Megatron/DeepSpeed (fp32 main grads; Megatron-LM
#: issue #654: "2 + 4 + 4 + 8 = 18"), 20 = HF Ultra-Scale Playbook (bf16 grads + an fp32
#: gradient-accumulation copy).
GRAD_BYTES_BY_CONVENTION = {16: 2, 18: 4, 20: 2 + 4}
#: ZeRO-3 / FSDP keep the layer being computed and the next, prefetched one gathered.
ZERO3_LIVE_UNITS = 2
#: Cross-entropy: Megatron's vocab-parallel CE upcasts logits to fp32 and saves the softmax for
#: backward (theoretical_memory_usage.py counts ``4·s·b·V``); the bf16 lm_head output is alive
#: while it is cast.
LOGITS_SAVED_BYTES = BYTES_FP32
LOGITS_TRANSIENT_BYTES = BYTES_16BIT
#: FlashAttention saves one fp32 log-sum-exp per query row and head (Dao 2022, arXiv 2205.14135
#: Algorithm 2 saves ``ℓ, m``; FA-2 saves their combination ``L``; arXiv 2307.08691 Alg. 1).
LSE_BYTES = BYTES_FP32
#: Router: fp32 softmax/sigmoid probabilities over E, fp32 top-k weights, int64 top-k indices.
ROUTER_PROB_BYTES = BYTES_FP32
TOPK_WEIGHT_BYTES = BYTES_FP32
TOPK_INDEX_BYTES = BYTES_INT64
#: Korthikanti et al. keep dropout masks as 1 byte per element.
DROPOUT_MASK_BYTES = 1
#: Hoffmann et al. 2022 (Chinchilla, arXiv 2203.15556): compute-optimal dense models use about
#: 20 training tokens per parameter (Chinchilla itself: 70B parameters, 1.4T tokens; Table 3).
CHINCHILLA_TOKENS_PER_PARAM = 20
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400

#: Terms a selective recompute drops: the attention core (Korthikanti et al. §4.2; Megatron
#: ``--recompute-granularity selective`` with its default module ``core_attn``).
CORE_ATTENTION_TERMS = ("attn_probs", "attn_probs_dropout_mask", "attn_probs_dropout_output",
                        "attn_lse")

ACTIVATION_FRAMEWORK = ("Megatron-LM (Megatron Core + Transformer Engine) minimal saved-tensor "
                        "set: fused SwiGLU keeps [gate, up] and the down-projection input; fused "
                        "RoPE keeps nothing extra; sequence parallelism whenever tp > 1; 16-bit "
                        "activations (fp32 if dtype=fp32); balanced expert routing")
OPTIMIZER_IMPL = ("fused (Apex/TE FusedAdam, DeepSpeed FusedAdam, torch fused=True): no "
                  "per-parameter temporaries at the step; PyTorch's foreach AdamW adds one fp32 "
                  "tensor per local parameter (torch/optim/adamw.py _multi_tensor_adamw: "
                  "_foreach_sqrt(exp_avg_sq)), reported as optimizer_temp_foreach")
NOT_INCLUDED = ("CUDA context (hundreds of MB to ~2 GB, outside allocator stats); allocator "
                "fragmentation (reserved > allocated); NCCL and all-to-all communication "
                "buffers; DDP gradient buckets (Megatron/FSDP use the gradient buffer itself); "
                "routing imbalance (the busiest expert rank holds more tokens than the "
                "balanced average used here); multi-token-prediction (MTP) modules")


def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


# ----------------------------------------------------------------------------------------------
# parallel layout
# ----------------------------------------------------------------------------------------------

@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class ParallelPlan:
    """The job's parallel layout. ``world = tp·pp·cp·dp``.

    Non-expert parameters are replicated over ``dp·cp`` (context-parallel ranks hold the same
    weights; Megatron reduces gradients and shards the distributed optimizer over the
    data-parallel-with-context-parallel group). Experts use Megatron's second decomposition of
    the same world, ``etp·ep·edp·pp`` (``parallel_state`` expert RankGenerator), so their
    replicas number ``edp = world / (etp·ep·pp) = tp·cp·dp / (etp·ep)``.
    """

    tp: int
    pp: int
    ep: int
    etp: int
    cp: int
    dp: int
    zero: int
    ignored: tuple[str, ...] = ()  # options that do not apply to this model (ep on dense)

    @property
    def world(self) -> int:
        return self.tp * self.pp * self.cp * self.dp

    @property
    def dp_shard(self) -> int:
        """Replicas of a non-expert parameter: the ZeRO / distributed-optimizer group."""
        return self.dp * self.cp

    @property
    def edp(self) -> int:
        """Expert-data-parallel size ``world / (etp·ep·pp)``."""
        return self.tp * self.cp * self.dp // (self.etp * self.ep)

    @property
    def sequence_parallel(self) -> bool:
        """Assumed with every tp > 1 (Korthikanti et al. §4.2.2; Megatron's recommended mode)."""
        return self.tp > 1

    def to_dict(self) -> dict[str, Any]:
        return {"tp": self.tp, "pp": self.pp, "ep": self.ep, "etp": self.etp, "cp": self.cp,
                "dp": self.dp, "zero": self.zero, "world": self.world,
                "zero_shard_group": self.dp_shard, "expert_data_parallel": self.edp,
                "sequence_parallel": self.sequence_parallel,
                "ignored": [f"{name}: the model has no routed experts" for name in self.ignored]}


def parallel_plan(spec: ModelSpec, opts) -> ParallelPlan:
    """Validate the layout against the model and return it (errors name the option)."""
    tp, pp, cp, ep = opts.tp, opts.pp, opts.cp, opts.ep
    if opts.num_gpus % (tp * pp * cp):
        raise EstimatorError("num_gpus", opts.num_gpus,
                             f"must be a multiple of tp·pp·cp = {tp * pp * cp}")
    dp = opts.num_gpus // (tp * pp * cp)
    L = spec.num_hidden_layers
    if pp > L:
        raise EstimatorError("pp", pp, f"must not exceed num_hidden_layers={L}")
    etp = opts.etp or tp
    if not spec.is_moe:
        # Expert parallelism does not apply to a dense model: ep/etp are ignored (not an error,
        # so one set of options serves a MoE model and its dense equivalents side by side).
        ignored = tuple(n for n, v in (("ep", ep), ("etp", opts.etp)) if v > 1)
        return ParallelPlan(tp=tp, pp=pp, ep=1, etp=1, cp=cp, dp=dp, zero=opts.zero,
                            ignored=ignored)
    E = spec.num_experts
    if E % ep:
        raise EstimatorError("ep", ep, f"must divide num_experts={E}")
    group = tp * cp * dp
    if group % (ep * etp):
        raise EstimatorError("ep", ep, f"ep·etp = {ep}·{etp} must divide tp·cp·dp = "
                             f"{tp}·{cp}·{dp} (etp = {'tp' if not opts.etp else 'etp'})")
    return ParallelPlan(tp=tp, pp=pp, ep=ep, etp=etp, cp=cp, dp=dp, zero=opts.zero)


def stage_layer_range(num_layers: int, pp: int, stage: int) -> tuple[int, int]:
    """Layers ``[start, end)`` of pipeline stage ``stage``: contiguous blocks of ``L // pp``,
    the first ``L mod pp`` stages one layer more (Megatron requires ``L mod pp = 0`` unless
    told otherwise; then every stage has ``L/pp``)."""
    base, rem = divmod(num_layers, pp)
    start = stage * base + min(stage, rem)
    return start, start + base + (1 if stage < rem else 0)


def in_flight_microbatches(pp: int, stage: int, grad_accum: int) -> int:
    """Micro-batches whose activations stage ``stage`` holds at once under 1F1B
    (PipeDream-Flush; Narayanan et al. 2021, arXiv 2104.04473 §2.2.1): ``min(pp − stage, m)``
    with ``m = grad_accum`` micro-batches per step. Megatron's theoretical_memory_usage.py uses
    the first stage's ``min(pp, m)``."""
    return max(1, min(pp - stage, grad_accum))


# ----------------------------------------------------------------------------------------------
# model states
# ----------------------------------------------------------------------------------------------

@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class BytesPerParam:
    """Bytes per parameter before any sharding. ``optimizer`` is a float only for 8-bit Adam
    (its block scales add ``8/2048`` byte per parameter)."""

    weights: int
    gradients: int
    master_weights: int
    optimizer: float
    convention: str

    @property
    def total(self) -> float:
        return self.weights + self.gradients + self.master_weights + self.optimizer

    def to_dict(self) -> dict[str, Any]:
        return {"weights": self.weights, "gradients": self.gradients,
                "master_weights": self.master_weights, "optimizer": self.optimizer,
                "total": self.total, "convention": self.convention}


def training_weight_bytes(dtype: str) -> int:
    """Bytes of the working weight copy in training: 4 for fp32 training, else 2 (bf16/fp16).

    FP8 training (e.g. DeepSeek-V3, arXiv 2412.19437 §3.3) keeps 16/32-bit weights and casts
    to FP8 inside the GEMMs, and int8/int4/mxfp4 are inference formats, so they count as 16-bit.
    """
    return BYTES_FP32 if dtype == "fp32" else BYTES_16BIT


def bytes_per_param(opts) -> BytesPerParam:
    """Bytes per parameter of weights, gradients, fp32 master weights and optimizer states.

    Mixed-precision AdamW (``adam_bytes``): 16 = 2 + 2 + 4 + 8 (ZeRO paper, arXiv 1910.02054
    §3.1); 18 = 2 + 4 + 4 + 8 with fp32 gradients (Megatron-LM / DeepSpeed); 20 = 2 + (2 + 4) +
    4 + 8 with an fp32 gradient-accumulation copy (HF Ultra-Scale Playbook). The gradient part
    of the convention applies to every optimizer. ``master_weights=False`` drops the 4-byte fp32
    copy (the 16-bit weights are the only copy). fp32 training: 4-byte weights and gradients,
    no separate master. Optimizer states: AdamW two fp32 moments (8); 8-bit AdamW
    (bitsandbytes) two uint8 states + one fp32 scale per 2048 elements per state (``2 + 8/2048``);
    SGD with momentum one fp32 buffer (4).
    """
    w = training_weight_bytes(opts.dtype)
    if w == BYTES_FP32:
        grads, master = BYTES_FP32, 0
        conv = "fp32 training: 4 weights + 4 gradients, no separate master copy"
    else:
        grads = GRAD_BYTES_BY_CONVENTION[opts.adam_bytes]
        master = BYTES_FP32 if opts.master_weights else 0
        conv = {16: "16 (ZeRO paper §3.1: 2 weights + 2 grads + 4 master + 8 Adam)",
                18: "18 (Megatron/DeepSpeed: 2 weights + 4 fp32 grads + 4 master + 8 Adam)",
                20: "20 (HF Ultra-Scale Playbook: 2 weights + 2 grads + 4 fp32 grad "
                    "accumulation + 4 master + 8 Adam)"}[opts.adam_bytes]
        if not opts.master_weights:
            conv += "; master_weights off: no fp32 master copy"
    if opts.optimizer == "adamw":
        opt_b: float = ADAM_MOMENTS * BYTES_FP32
    elif opts.optimizer == "adamw_8bit":
        opt_b = ADAM_MOMENTS * (BNB_STATE_BYTES + BYTES_FP32 / BNB_BLOCK)
        conv += "; 8-bit AdamW (bitsandbytes blockwise, block 2048)"
    else:
        opt_b = SGD_MOMENTS * BYTES_FP32
        conv += "; SGD with momentum (one fp32 buffer)"
    return BytesPerParam(weights=w, gradients=grads, master_weights=master, optimizer=opt_b,
                         convention=conv)


def optimizer_state_bytes(n_params: int, optimizer: str) -> int:
    """Optimizer-state bytes of ``n_params`` parameters (see :func:`bytes_per_param`); for
    8-bit AdamW ``2·n + 2·4·ceil(n/2048)`` (bitsandbytes blockwise; tensors under 4096 elements
    keep fp32 states there, ignored here: norms and biases, <0.01% of a model)."""
    if optimizer == "adamw":
        return ADAM_MOMENTS * BYTES_FP32 * n_params
    if optimizer == "adamw_8bit":
        return ADAM_MOMENTS * (BNB_STATE_BYTES * n_params + BYTES_FP32 * _cdiv(n_params,
                                                                                BNB_BLOCK))
    return SGD_MOMENTS * BYTES_FP32 * n_params


def zero_state_bytes(n_params: int, bpp: BytesPerParam, optimizer: str, zero: int,
                     shard: int) -> dict[str, int]:
    """Model-state bytes one rank holds for ``n_params`` replicated parameters under ZeRO.

    ZeRO paper (arXiv 1910.02054 §5, Figure 1): stage 1 (P_os) partitions the optimizer states
    — fp32 master weights and moments — over the ``shard`` data-parallel replicas, stage 2
    (P_os+g) also the gradients, stage 3 (P_os+g+p) also the 16-bit weights. Each rank holds
    ``ceil(n/shard)`` parameters of a sharded state. Megatron's distributed optimizer is stage 1
    with the 18-byte convention: ``6 + 12/d`` bytes per parameter.
    """
    def part(stage: int) -> int:
        return _cdiv(n_params, shard) if zero >= stage and shard > 1 else n_params

    n_opt = part(1)
    return {
        "weights": bpp.weights * part(3),
        "gradients": bpp.gradients * part(2),
        "master_weights": bpp.master_weights * n_opt,
        "optimizer": optimizer_state_bytes(n_opt, optimizer),
    }


# ----------------------------------------------------------------------------------------------
# parameters one GPU holds
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class _LayerParams:
    """Per-rank parameter counts of one layer of each kind, after TP/EP/ETP splits."""

    dense: int  # whole dense layer (attention + norms + FFN)
    moe_non_expert: int  # attention + norms + router + shared experts (+ JetMoE output bias)
    moe_expert: int  # the E/ep local experts, each split by etp
    embedding: int
    head: int  # lm_head (or the tied copy Megatron keeps on the last stage when pp > 1)
    final_norm: int


@functools.lru_cache(maxsize=1024)  # spec-only counts per parallel plan (both frozen)
def _layer_params(s: ModelSpec, plan: ParallelPlan) -> _LayerParams:
    """Megatron's split (theoretical_memory_usage.py): matrices by TP (vocab-parallel embedding
    and head too), norms and the router replicated, experts by EP (and expert-TP). With tied
    embeddings and pp > 1 the last stage keeps its own copy of the table."""
    tp = plan.tp
    h = s.hidden_size
    attn = _cdiv(attention_params(s), tp)
    norms = 2 * norm_params(s, h)
    dense = attn + norms + (_cdiv(dense_ffn_params(s), tp) if s.intermediate_size else 0)
    moe_ne = moe_e = 0
    if s.is_moe:
        moe_ne = (attn + norms + router_params(s) + _cdiv(shared_expert_params(s), tp)
                  + (h if s.moe_output_bias else 0))
        moe_e = (s.num_experts // plan.ep) * _cdiv(expert_params(s), plan.etp)
    emb = _cdiv(s.vocab_size * h, tp)
    if s.tie_word_embeddings:
        head = emb if plan.pp > 1 else 0
    else:
        head = _cdiv(s.vocab_size * h + (s.vocab_size if s.lm_head_bias else 0), tp)
    return _LayerParams(dense=dense, moe_non_expert=moe_ne, moe_expert=moe_e, embedding=emb,
                        head=head, final_norm=norm_params(s, h))


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------

def activation_bytes_per_element(dtype: str) -> int:
    """Saved activations are 16-bit in mixed precision, 4 bytes in fp32 training."""
    return BYTES_FP32 if dtype == "fp32" else BYTES_16BIT


def korthikanti_layer_bytes(s: int, b: int, h: int, a: int, t: int = 1,
                            sequence_parallel: bool = False, recompute: str = "none") -> float:
    """Activation bytes of one GPT transformer layer (Korthikanti et al. 2022, arXiv 2205.05198,
    Table 2): 16-bit activations, 1-byte dropout masks, LayerNorm, GeLU MLP of width 4h, MHA.

    no parallelism ``sbh(34 + 5as/h)``; tensor parallel ``sbh(10 + 24/t + 5as/(ht))``; with
    sequence parallel ``sbh(34/t + 5as/(ht))``; selective recompute drops the ``5as/h`` term;
    full recompute keeps only the layer input ``2sbh`` (``/t`` with sequence parallelism).
    """
    sbh = s * b * h
    if recompute == "full":
        return 2 * sbh / (t if sequence_parallel else 1)
    attn = 0 if recompute == "selective" else 5 * a * s / (h * t)
    if sequence_parallel:
        return sbh * (34 / t + attn)
    return sbh * (10 + 24 / t + attn)


def _attention_terms(s: ModelSpec, T: int, seq: int, e: int, plan: ParallelPlan, flash: bool,
                     dropout: bool) -> dict[str, int]:
    tp = plan.tp
    sp = tp if plan.sequence_parallel else 1
    h = s.hidden_size
    terms = {"attn_norm_input": _cdiv(e * T * h, sp), "attn_norm_output": _cdiv(e * T * h, sp)}
    if s.mla is not None:
        m = s.mla
        a_r = _cdiv(s.num_attention_heads, tp)
        if m.q_lora_rank is not None:  # down-projections are replicated across TP (Megatron MLA)
            terms["q_down"] = e * T * m.q_lora_rank
            terms["q_down_norm"] = e * T * m.q_lora_rank
        terms["kv_down"] = e * T * (m.kv_lora_rank + m.qk_rope_head_dim)
        terms["kv_down_norm"] = e * T * m.kv_lora_rank
        q_heads, d_qk, d_v, kv_heads = a_r, m.qk_head_dim, m.v_head_dim, a_r
    elif s.moa is not None:  # JetMoE: top_k·g query heads share g K/V heads (approximate)
        q_heads = _cdiv(s.moa.top_k * s.num_key_value_heads, tp)
        kv_heads = _cdiv(s.num_key_value_heads, tp)
        d_qk = d_v = s.head_dim
        terms["attn_router_probs"] = ROUTER_PROB_BYTES * T * s.moa.num_experts
    else:
        q_heads = _cdiv(s.num_attention_heads, tp)
        kv_heads = _cdiv(s.num_key_value_heads, tp)  # g < tp: one replicated head per rank
        d_qk = d_v = s.head_dim
    terms["q"] = e * T * q_heads * d_qk
    terms["k"] = e * T * kv_heads * d_qk
    terms["v"] = e * T * kv_heads * d_v
    if flash:
        terms["attn_lse"] = LSE_BYTES * T * q_heads
    else:
        terms["attn_probs"] = e * T * q_heads * seq
        if dropout:
            terms["attn_probs_dropout_mask"] = DROPOUT_MASK_BYTES * T * q_heads * seq
            terms["attn_probs_dropout_output"] = e * T * q_heads * seq
    terms["attn_output"] = e * T * q_heads * d_v  # input of the output projection
    if dropout:
        terms["attn_dropout_mask"] = _cdiv(DROPOUT_MASK_BYTES * T * h, sp)
    return terms


def _ffn_terms(prefix: str, T: int, e: int, width: int, gated: bool) -> dict[str, int]:
    n_in = 2 if gated else 1
    return {f"{prefix}_up": e * T * n_in * width, f"{prefix}_act": e * T * width}


def layer_activation_terms(s: ModelSpec, opts, kind: str = "dense",
                           plan: ParallelPlan | None = None,
                           dropout: bool = False) -> dict[str, int]:
    """Bytes each saved tensor of one layer takes for one micro-batch on one GPU (no recompute).

    ``T = micro_batch·ceil(seq_len/cp)`` tokens per GPU; ``e`` bytes per element; tensors of
    width ``h`` are divided by ``tp`` under sequence parallelism (assumed whenever tp > 1),
    head- and FFN-sharded tensors by ``tp``. Korthikanti et al. 2022 §4.1 list, adapted:

    * attention: norm input and output (``h`` each), q/k/v after RoPE (``(a + 2g)·d``; MLA: the
      decompressed ``a·(d_nope + d_rope)`` q and k, ``a·d_v`` v, plus the q/kv low-rank latents
      and their norms), the attention output (``a·d_v``, the o-projection input); FlashAttention
      saves an fp32 log-sum-exp per head (``4·a`` bytes) instead of the ``a·s`` probabilities;
    * dense FFN: norm input and output, gated ``[gate, up]`` (``2f``, the fused SwiGLU input)
      and the down-projection input (``f``); plain FFN: fc1 output and activation (``f`` each);
    * MoE FFN: norm input/output, router probabilities (fp32, ``E``) and top-k weights/indices,
      the ``k`` dispatched token copies (``k·h``, ×CF when ``capacity_factor > 0``), their expert
      ``[gate, up]`` (``2·f_e``) and down input (``f_e``), the expert outputs before the weighted
      combine (``k·h``), shared experts like a dense FFN of width ``f_sh``;
    * ``dropout=True`` adds Korthikanti's dropout masks and outputs (classic GPT blocks only;
      modern pre-training uses none), so a classic block reproduces Table 2 exactly.
    """
    plan = plan or parallel_plan(s, opts)
    e = activation_bytes_per_element(opts.dtype)
    seq = _cdiv(opts.seq_len, plan.cp)
    T = opts.micro_batch * seq
    tp = plan.tp
    sp = tp if plan.sequence_parallel else 1
    h = s.hidden_size
    terms = _attention_terms(s, T, opts.seq_len, e, plan, opts.flash_attention, dropout)
    terms["mlp_norm_input"] = _cdiv(e * T * h, sp)
    terms["mlp_norm_output"] = _cdiv(e * T * h, sp)
    if kind == "dense":
        terms.update(_ffn_terms("ffn", T, e, _cdiv(s.intermediate_size, tp), s.gated_ffn))
    else:
        T_loc = _cdiv(T, sp)  # tokens this rank routes
        k = s.num_experts_per_tok
        terms["router_probs"] = ROUTER_PROB_BYTES * T_loc * s.num_experts
        terms["router_topk"] = (TOPK_WEIGHT_BYTES + TOPK_INDEX_BYTES) * T_loc * k
        copies = T_loc * k * plan.etp  # an expert-TP group computes its members' tokens
        if opts.capacity_factor > 0:  # padded/dropped to capacity (Megatron get_capacity)
            copies = math.ceil(copies * opts.capacity_factor)
        f_r = _cdiv(s.moe_intermediate_size, plan.etp)
        terms["expert_input"] = e * copies * h
        n_in = 2 if s.gated_ffn else 1
        terms["expert_up"] = e * copies * n_in * f_r
        terms["expert_act"] = e * copies * f_r
        terms["expert_output"] = e * copies * h
        if s.num_shared_experts:
            terms.update(_ffn_terms("shared", T, e, _cdiv(s.shared_expert_intermediate_size, tp),
                                    s.gated_ffn))
            if s.shared_expert_gate:
                terms["shared_gate"] = e * T_loc
    if dropout:
        terms["mlp_dropout_mask"] = _cdiv(DROPOUT_MASK_BYTES * T * h, sp)
    return terms


def apply_recompute(terms: dict[str, int], recompute: str, layer_input: int) -> dict[str, int]:
    """What stays saved under activation recomputation (Korthikanti et al. 2022 §4.2-4.3).

    ``selective``: the attention core is recomputed — its probabilities, dropout and (with
    FlashAttention) the log-sum-exp are not kept; q, k, v (the checkpoint's inputs) and the
    attention output (the o-projection's input) still are. ``full``: only the layer input.
    """
    if recompute == "full":
        return {"layer_input": layer_input}
    if recompute == "selective":
        return {k: v for k, v in terms.items() if k not in CORE_ATTENTION_TERMS}
    return dict(terms)


def logits_bytes(s: ModelSpec, opts, plan: ParallelPlan) -> dict[str, int]:
    """Logits / cross-entropy spike on the last stage, one micro-batch: the fp32 softmax the
    loss saves for backward (``4·T·V/tp``; Megatron theoretical_memory_usage.py's ``4·s·b·V``)
    plus the 16-bit lm_head output alive while it is upcast (``2·T·V/tp``).
    transformers' loss keeps more (bf16 logits, their fp32 copy and the fp32 log-softmax: 10
    bytes per element)."""
    T = opts.micro_batch * _cdiv(opts.seq_len, plan.cp)
    v_r = _cdiv(s.vocab_size, plan.tp)
    return {"saved_fp32_softmax": LOGITS_SAVED_BYTES * T * v_r,
            "lm_head_output_16bit": LOGITS_TRANSIENT_BYTES * T * v_r}


def activation_breakdown(spec: ModelSpec, opts, plan: ParallelPlan | None = None
                         ) -> dict[str, Any]:
    """Per-tensor saved activations of one micro-batch on one GPU, by block, after recompute.

    Keys: ``dense_layer`` / ``moe_layer`` (one layer of each kind present; see
    :func:`layer_activation_terms`), ``embedding`` (first stage: the int64 token ids the
    embedding backward needs), ``head`` (last stage: final norm input and output), ``logits``
    (:func:`logits_bytes`), ``recompute_transient`` (full recompute: one layer's activations
    rebuilt during its backward), and per-layer totals. Bytes, exact integers.
    """
    spec = getattr(spec, "spec", spec)  # a Model or a ModelSpec
    plan = plan or parallel_plan(spec, opts)
    e = activation_bytes_per_element(opts.dtype)
    T = opts.micro_batch * _cdiv(opts.seq_len, plan.cp)
    sp = plan.tp if plan.sequence_parallel else 1
    layer_input = _cdiv(e * T * spec.hidden_size, sp)
    out: dict[str, Any] = {}
    raw_totals = []
    kinds = []
    if spec.num_dense_layers:
        kinds.append("dense")
    if spec.is_moe:
        kinds.append("moe")
    for kind in kinds:
        raw = layer_activation_terms(spec, opts, kind, plan)
        raw_totals.append(sum(raw.values()))
        kept = apply_recompute(raw, opts.recompute, layer_input)
        out[f"{kind}_layer"] = kept
        out[f"{kind}_layer_total"] = sum(kept.values())
    out["embedding"] = {"input_ids": BYTES_INT64 * T}
    out["head"] = {"final_norm_input": layer_input, "final_norm_output": layer_input}
    out["logits"] = logits_bytes(spec, opts, plan)
    out["recompute_transient"] = max(raw_totals) if opts.recompute == "full" else 0
    out["tokens_per_gpu"] = T
    out["bytes_per_element"] = e
    return out


def zero3_buffer_bytes(units: list[tuple[int, int]], weight_bytes: int, plan: ParallelPlan
                       ) -> int:
    """ZeRO-3 / FSDP all-gather buffer: ``ZERO3_LIVE_UNITS`` (the unit being computed and the
    prefetched next) × the largest unit's gathered 16-bit weights on this rank. A unit is a
    transformer layer, the embedding or the head; ``units`` holds each one's
    ``(non-expert, expert)`` parameters; a part is gathered only if its shard group has more
    than one rank (ZeRO paper §5.3; REFERENCE.md §3)."""
    if plan.zero < 3:
        return 0
    largest = 0
    for ne, ex in units:
        g = (ne if plan.dp_shard > 1 else 0) + (ex if plan.edp > 1 else 0)
        largest = max(largest, g)
    return ZERO3_LIVE_UNITS * weight_bytes * largest


# ----------------------------------------------------------------------------------------------
# the memory section
# ----------------------------------------------------------------------------------------------

@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class StageMemory:
    """One pipeline stage's GPU: its parameters, states and the transients at its peak."""

    stage: int
    layers: tuple[int, int]
    in_flight: int
    params_non_expert: int
    params_expert: int
    states: dict[str, int]
    activations: int
    logits: int
    zero3_buffer: int
    optimizer_temp: int
    optimizer_temp_foreach: int

    @property
    def model_states(self) -> int:
        return sum(self.states.values())

    @property
    def forward_transient(self) -> int:
        """End of the forward pass of the last in-flight micro-batch: activations, logits and
        the gathered ZeRO-3 units coexist."""
        return self.activations + self.logits + self.zero3_buffer

    @property
    def peak_moment(self) -> str:
        return "forward_backward" if self.forward_transient >= self.optimizer_temp \
            else "optimizer_step"

    @property
    def peak(self) -> int:
        return self.model_states + max(self.forward_transient, self.optimizer_temp)

    def parts_at_peak(self) -> dict[str, int]:
        parts = dict(self.states)
        if self.peak_moment == "forward_backward":
            parts.update(activations=self.activations, logits=self.logits,
                         zero3_buffer=self.zero3_buffer)
        else:
            parts["optimizer_temp"] = self.optimizer_temp
        return parts

    def summary(self) -> dict[str, Any]:
        return {"stage": self.stage, "layers": list(self.layers), "in_flight": self.in_flight,
                "model_states": self.model_states, "activations": self.activations,
                "logits": self.logits, "zero3_buffer": self.zero3_buffer, "peak": self.peak}


def _stage_memory(spec: ModelSpec, opts, plan: ParallelPlan, lp: _LayerParams,
                  moe_sorted: list[int], bpp: BytesPerParam, act: dict[str, Any],
                  stage: int) -> StageMemory:
    L = spec.num_hidden_layers
    start, end = stage_layer_range(L, plan.pp, stage)
    n_moe = bisect.bisect_left(moe_sorted, end) - bisect.bisect_left(moe_sorted, start)
    n_dense = end - start - n_moe
    first, last = stage == 0, stage == plan.pp - 1
    ne = n_dense * lp.dense + n_moe * lp.moe_non_expert
    ex = n_moe * lp.moe_expert
    units: list[tuple[int, int]] = []
    if n_dense:
        units.append((lp.dense, 0))
    if n_moe:
        units.append((lp.moe_non_expert, lp.moe_expert))
    if first:
        ne += lp.embedding
        units.append((lp.embedding, 0))
    if last:
        ne += lp.head + lp.final_norm
        if lp.head:
            units.append((lp.head, 0))
    s_ne = zero_state_bytes(ne, bpp, opts.optimizer, plan.zero, plan.dp_shard)
    s_ex = zero_state_bytes(ex, bpp, opts.optimizer, plan.zero, plan.edp)
    states = {k: s_ne[k] + s_ex[k] for k in s_ne}

    m = in_flight_microbatches(plan.pp, stage, opts.grad_accum)
    per_mb = (n_dense * act.get("dense_layer_total", 0) + n_moe * act.get("moe_layer_total", 0)
              + (act["embedding"]["input_ids"] if first else 0))
    activations = m * per_mb + act["recompute_transient"]
    if last:
        activations += sum(act["head"].values())
    logits = sum(act["logits"].values()) if last else 0
    zero3 = zero3_buffer_bytes(units, bpp.weights, plan)
    local_opt = ((_cdiv(ne, plan.dp_shard) if plan.zero >= 1 else ne)
                 + (_cdiv(ex, plan.edp) if plan.zero >= 1 else ex))
    foreach = BYTES_FP32 * local_opt if opts.optimizer == "adamw" else 0
    return StageMemory(stage=stage, layers=(start, end), in_flight=m, params_non_expert=ne,
                       params_expert=ex, states=states, activations=activations, logits=logits,
                       zero3_buffer=zero3, optimizer_temp=0, optimizer_temp_foreach=foreach)


@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class TrainingMemory:
    """Training memory of the worst GPU (the pipeline stage with the highest peak)."""

    plan: ParallelPlan
    bpp: BytesPerParam
    worst: StageMemory
    stages: tuple[StageMemory, ...]
    breakdown: dict[str, Any]
    gpu_memory: int
    recompute: str
    flash_attention: bool
    micro_batch: int
    seq_len: int
    grad_accum: int

    @property
    def peak(self) -> int:
        return self.worst.peak

    @property
    def peak_set_by(self) -> str:
        """The largest single term at the peak: what to attack first to lower it."""
        parts = self.worst.parts_at_peak()
        return max(parts, key=parts.__getitem__)

    @property
    def fits(self) -> bool:
        return self.peak <= self.gpu_memory

    def to_dict(self) -> dict[str, Any]:
        w = self.worst
        per_gpu = dict(w.states)
        per_gpu.update(model_states=w.model_states, activations=w.activations, logits=w.logits,
                       zero3_buffer=w.zero3_buffer, optimizer_temp=w.optimizer_temp,
                       optimizer_temp_foreach=w.optimizer_temp_foreach)
        return {
            "per_gpu": per_gpu,
            "peak": self.peak,
            "peak_set_by": self.peak_set_by,
            "peak_moment": w.peak_moment,
            "peak_parts": w.parts_at_peak(),
            "peak_stage": w.stage,
            "stage_layers": list(w.layers),
            "in_flight_microbatches": w.in_flight,
            "params_on_gpu": {"non_expert": w.params_non_expert, "expert": w.params_expert},
            "fits": self.fits,
            "gpu_memory": self.gpu_memory,
            "headroom": self.gpu_memory - self.peak,
            "bytes_per_param": self.bpp.to_dict(),
            "activation_breakdown": self.breakdown,
            "stages": [st.summary() for st in self.stages],
            "parallel": self.plan.to_dict(),
            "conventions": {
                "adam_bytes": self.bpp.convention,
                "activation_framework": ACTIVATION_FRAMEWORK,
                "recompute": self.recompute,
                "flash_attention": self.flash_attention,
                "micro_batch": self.micro_batch,
                "seq_len": self.seq_len,
                "grad_accum": self.grad_accum,
                "pipeline_schedule": "1F1B: stage i holds min(pp − i, grad_accum) micro-batches",
                "zero3_buffer": f"{ZERO3_LIVE_UNITS} gathered units (current + prefetched) of "
                                "the largest layer/embedding/head",
                "optimizer_step": OPTIMIZER_IMPL,
                "bytes_unit": "bytes (GiB = 2^30 bytes when shown)",
                "not_included": NOT_INCLUDED,
            },
        }


def compute_memory(model, opts, gpu) -> TrainingMemory:
    """Training memory per GPU of ``model`` under ``opts`` on ``gpu`` (see module docstring)."""
    spec = model.spec if hasattr(model, "spec") else model
    plan = parallel_plan(spec, opts)
    bpp = bytes_per_param(opts)
    lp = _layer_params(spec, plan)
    act = activation_breakdown(spec, opts, plan)
    moe_sorted = sorted(spec.moe_layers)
    stages = tuple(_stage_memory(spec, opts, plan, lp, moe_sorted, bpp, act, i)
                   for i in range(plan.pp))
    worst = max(stages, key=lambda st: st.peak)
    return TrainingMemory(plan=plan, bpp=bpp, worst=worst, stages=stages, breakdown=act,
                          gpu_memory=gpu.memory_bytes, recompute=opts.recompute,
                          flash_attention=opts.flash_attention, micro_batch=opts.micro_batch,
                          seq_len=opts.seq_len, grad_accum=opts.grad_accum)


# ----------------------------------------------------------------------------------------------
# compute, time, cost
# ----------------------------------------------------------------------------------------------

def training_peak_flops(gpu, dtype: str) -> tuple[float, str]:
    """Peak FLOP/s the MFU refers to: the dense FP8 tensor-core peak when ``dtype='fp8'`` and
    the GPU has one, else the dense BF16 peak (the catalog has no FP32/TF32 figure: for fp32
    training choose the MFU accordingly)."""
    if dtype == "fp8" and gpu.fp8_flops:
        return gpu.fp8_flops, "dense FP8 tensor-core peak"
    return gpu.bf16_flops, "dense BF16 tensor-core peak"


def training_seconds(model_flops: float, num_gpus: int, peak_flops: float, mfu: float) -> float:
    """Wall-clock seconds: ``model FLOPs / (num_gpus · peak · MFU)``. MFU is model FLOPs per
    second over peak (PaLM, arXiv 2204.02311 App. B): recomputation does not count as useful
    work, so it lowers the MFU a job achieves rather than adding FLOPs here."""
    return model_flops / (num_gpus * peak_flops * mfu)


def chinchilla_tokens(n_params: int) -> int:
    """Compute-optimal training tokens for a dense model of ``n_params`` parameters:
    ``CHINCHILLA_TOKENS_PER_PARAM · N`` (Hoffmann et al. 2022, arXiv 2203.15556, Table 3).
    Dense-model guidance: for MoE it is ambiguous whether N is total or active parameters."""
    return CHINCHILLA_TOKENS_PER_PARAM * n_params


@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class TrainingCompute:
    tokens: int
    seq_len: int
    model_flops_per_token: float
    training_flops_per_token: float
    hardware_flops_per_token: float
    model_flops: int
    training_flops: int
    six_n_d: int
    n_total: int
    n_active: int
    is_moe: bool
    num_gpus: int
    gpu_id: str
    peak_flops: float
    peak_basis: str
    mfu: float
    seconds: float
    price_per_gpu_hour: float
    price_source: str
    attention_flops: str
    recompute: str

    @property
    def gpu_hours(self) -> float:
        return self.seconds * self.num_gpus / SECONDS_PER_HOUR

    @property
    def cost_usd(self) -> float:
        return self.gpu_hours * self.price_per_gpu_hour

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens": self.tokens,
            "model_flops": self.model_flops,
            "training_flops": self.training_flops,
            "six_n_d": self.six_n_d,
            "model_flops_per_token": self.model_flops_per_token,
            "training_flops_per_token": self.training_flops_per_token,
            "hardware_flops_per_token": self.hardware_flops_per_token,
            "flops_note": ("model_flops = forward + backward matmuls per token × tokens (the MFU "
                           "numerator; time is computed from it); training_flops adds activation "
                           f"recomputation (recompute='{self.recompute}'); six_n_d = 6 · active "
                           "parameters (with embedding) · tokens (Kaplan/Chinchilla). Attention "
                           f"convention: '{self.attention_flops}', seq_len {self.seq_len}."),
            "num_gpus": self.num_gpus,
            "gpu": self.gpu_id,
            "peak_flops_per_gpu": self.peak_flops,
            "peak_basis": self.peak_basis,
            "mfu": self.mfu,
            "seconds": self.seconds,
            "days": self.seconds / SECONDS_PER_DAY,
            "gpu_hours": self.gpu_hours,
            "price_per_gpu_hour": self.price_per_gpu_hour,
            "price_source": self.price_source,
            "cost_usd": self.cost_usd,
            "chinchilla": {
                "tokens_per_param_total": self.tokens / self.n_total,
                "tokens_per_param_active": self.tokens / self.n_active,
                "optimal_tokens_total_params": chinchilla_tokens(self.n_total),
                "optimal_tokens_active_params": chinchilla_tokens(self.n_active),
                "tokens_per_param_guidance": CHINCHILLA_TOKENS_PER_PARAM,
                "note": ("Hoffmann et al. 2022 (arXiv 2203.15556): ~20 tokens per parameter is "
                         "compute-optimal for DENSE models. "
                         + ("For MoE models it is ambiguous whether N is total or active "
                            "parameters; both ratios are shown." if self.is_moe else
                            "Dense model: total = active.")),
            },
        }


def compute(model, opts, gpu, flops_report: flops_mod.FlopReport | None = None
            ) -> TrainingCompute:
    """Training compute, time and cost for ``opts.train_tokens`` tokens on ``opts.num_gpus``
    GPUs of type ``gpu`` at ``opts.mfu`` (FLOPs per token from :mod:`estimator.flops`;
    ``flops_report``: that section for the same model and options, when the caller has it)."""
    spec = model.spec if hasattr(model, "spec") else model
    fr = flops_report or flops_mod.compute(model, opts, gpu)
    tf = fr.train_forward  # one sequence of seq_len, logits on every position
    D = int(round(opts.train_tokens))
    seq = opts.seq_len
    fb = flops_mod.FORWARD_BACKWARD
    model_flops = fb * tf.total * D // seq
    extra = flops_mod.recompute_flops(tf, opts.recompute) * D // seq
    pc = count_params(spec)
    peak, basis = training_peak_flops(gpu, opts.dtype)
    if opts.price_per_gpu_hour > 0:
        price, src = opts.price_per_gpu_hour, "user (price_per_gpu_hour)"
    else:
        price = gpu.price_per_hour_usd
        src = f"catalog: {gpu.id} on-demand price as of {gpu.price_as_of} (configs/hardware.yaml)"
    return TrainingCompute(
        tokens=D, seq_len=seq, model_flops_per_token=fr.training_model_flops_per_token,
        training_flops_per_token=fr.training_per_token,
        hardware_flops_per_token=fr.training_hardware_per_token,
        model_flops=model_flops, training_flops=model_flops + extra,
        six_n_d=flops_mod.SIX_N * pc.active * D, n_total=pc.total, n_active=pc.active,
        is_moe=spec.is_moe, num_gpus=opts.num_gpus, gpu_id=gpu.id, peak_flops=peak,
        peak_basis=basis, mfu=opts.mfu,
        seconds=training_seconds(model_flops, opts.num_gpus, peak, opts.mfu),
        price_per_gpu_hour=price, price_source=src, attention_flops=opts.attention_flops,
        recompute=opts.recompute)


FORMULAS = [bytes_per_param, optimizer_state_bytes, zero_state_bytes, stage_layer_range,
            in_flight_microbatches, korthikanti_layer_bytes, layer_activation_terms,
            apply_recompute, logits_bytes, zero3_buffer_bytes, training_peak_flops,
            training_seconds, chinchilla_tokens]

__all__ = [f.__name__ for f in FORMULAS] + [
    "ParallelPlan", "parallel_plan", "BytesPerParam", "StageMemory", "TrainingMemory",
    "TrainingCompute", "activation_breakdown", "compute_memory", "compute"]
