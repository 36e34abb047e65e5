"""Training: memory per GPU (model states, activations, transients) and compute, time and cost.

Memory (:func:`compute_memory`) follows one pipeline stage's GPU through a training step, under
the parallel layout in ``Options`` (tp, pp, ep, etp, cp, dp = num_gpus/(tp·pp·cp), ZeRO stage):

* **Model states** (ZeRO paper, Rajbhandari et al. 2019, arXiv 1910.02054 §3.1 and §5): weights,
  gradients, fp32 master weights, optimizer states, with the bytes-per-parameter convention
  named in :func:`bytes_per_param`. Non-expert parameters are split by TP and PP and their
  ZeRO/distributed-optimizer shards span the ``dp·cp`` group; routed experts are split by EP
  (and expert-TP) and shard over the expert-data-parallel group ``world / (etp·ep·pp)``
  (Megatron-LM ``theoretical_memory_usage.py`` and ``parallel_state``'s expert RankGenerator).
* **Activations** saved for backward: a tensor-by-tensor account, per layer and micro-batch
  (:func:`layer_activation_terms`), of what the training code keeps — option
  ``activation_framework``: ``"megatron"`` (default), Megatron-LM with Transformer Engine's
  fused kernels, the minimal set; ``"pytorch_eager"``, a plain PyTorch decoder under autograd,
  which keeps more (norm and SwiGLU intermediates, masks, RoPE tables, the eager loss's
  gradients). Both are calibrated against MemTracker on the validation's reference decoder
  (fused kernels / plain ops): within 0.4% on every preset. For a classic GPT block the
  accounting reproduces Korthikanti et al. 2022 (arXiv 2205.05198) Table 2 exactly
  (:func:`korthikanti_layer_bytes`, the published closed form the tests check it with).
* **Transients** at the peak: the logits / cross-entropy spike on the last stage
  (:func:`logits_bytes`), without FlashAttention the raw attention scores inside a stage's last
  layer (:func:`attention_core_delta`), ZeRO-3's all-gathered layer weights. The optimizer step
  adds nothing with a fused optimizer (the convention here); PyTorch's foreach AdamW's extra
  fp32 tensor per parameter is reported beside the peak (``optimizer_temp_foreach``).

The peak is evaluated per pipeline stage (1F1B: stage ``i`` holds ``min(pp − i, grad_accum)``
micro-batches) and the worst stage is reported.

Compute (:func:`compute`): model FLOPs from :mod:`estimator.flops` × training tokens, time at an
MFU of the GPU's peak for the training dtype (``gpu.peak_flops(dtype)``) on ``num_gpus`` GPUs —
the MFU the step-time model predicts for the layout (:mod:`estimator.steptime`; ``mfu_source``
"predicted") unless the ``mfu`` option gives one ("given") — GPU-hours and cost, and
Chinchilla's tokens-per-parameter guidance (dense models).
"""

from __future__ import annotations

import bisect
import functools
import math
from dataclasses import dataclass
from typing import Any

from . import flops as flops_mod
from ._frozen import direct_init, fresh, maximum, pointwise, spec_cache
from .autolayout import training_defaults
from .errors import EstimatorError
from .memory import (
    CUBLAS_WORKSPACES_TRAINING,
    activation_bytes,
    attention_matrix_params,
    cublas_workspace_bytes,
    is_axk2,
    is_hy_v4,
)
from .params import (
    attention_params,
    count_params,
    dense_ffn_params,
    expert_params,
    layer_norm_params,
    moe_norm_params,
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
#: ZeRO-3 / FSDP2 in a unit's backward (``torch/distributed/fsdp/_fully_shard``): its gathered
#: weights, its unsharded gradients, and the previous unit's reduce-scatter input — a padded copy
#: of that unit's gradients, kept until this unit's post-backward reclaims it
#: (``FSDPParamGroup.post_backward``, ``reduce_scatter_max_input_buffers = 1``).
ZERO3_BACKWARD_GRAD_UNITS = 2  # this unit's unsharded gradients + the previous unit's RS input
#: Eager softmax backward (``_softmax_backward_data``): the probabilities' gradient and the
#: scores' gradient, both ``s_q×s_k`` per head, coexist with the saved probabilities.
SOFTMAX_BACKWARD_TENSORS = 2
#: Activation frameworks (option ``activation_framework``): whose saved-tensor set is counted.
MEGATRON = "megatron"
PYTORCH_EAGER = "pytorch_eager"
#: Cross-entropy (Megatron ``tensor_parallel/cross_entropy.py``): the logits are upcast with
#: ``.float()`` and max-subtraction, exp and normalisation run in place on that fp32 tensor, which
#: is saved as the softmax (``ctx.save_for_backward(exp_logits, target_mask, masked_target_1d)``;
#: theoretical_memory_usage.py counts ``4·s·b·V``). The 16-bit lm_head output is alive while
#: ``.float()`` copies it; in fp32 training ``.float()`` returns the logits themselves and the
#: in-place ops reuse them (no second T×V tensor).
LOGITS_SAVED_BYTES = BYTES_FP32
#: Megatron's cross-entropy also saves, per token, the int64 ``masked_target_1d`` and the bool
#: ``target_mask`` (vocab-range mask); ``F.cross_entropy`` saves the int64 target.
LOSS_TARGET_BYTES = {MEGATRON: BYTES_INT64 + 1, PYTORCH_EAGER: BYTES_INT64}
#: ``F.cross_entropy`` = ``log_softmax`` + ``nll_loss``: the fp32 log-softmax is saved; at the start
#: of backward ``nll_loss_backward`` allocates its T×V gradient and ``log_softmax_backward`` a
#: second one while the saved output is still alive (measured: the eager peak is exactly the
#: forward's saved set + 2 fp32 T×V tensors, every validated model). This exceeds the forward's
#: transient (16-bit logits + their fp32 copy ≤ 6 bytes per logit).
EAGER_LOSS_BACKWARD_BUFFERS = 2
#: FlashAttention saves one fp32 log-sum-exp per query row and head (Dao 2022, arXiv 2205.14135
#: Algorithm 2 saves ``ℓ, m``; FA-2 saves their combination ``L``; arXiv 2307.08691 Alg. 1).
LSE_BYTES = BYTES_FP32
#: Router: fp32 softmax/sigmoid probabilities over E, fp32 top-k weights, int64 top-k indices
#: (Megatron's score function runs in fp32 and, with ``--moe-router-dtype fp32``, its outputs
#: stay fp32; a plain PyTorch router works in the model's dtype: :func:`_router_bytes`).
ROUTER_PROB_BYTES = BYTES_FP32
TOPK_WEIGHT_BYTES = BYTES_FP32
TOPK_INDEX_BYTES = BYTES_INT64
#: Token dispatch, per (token, expert) copy. Megatron ``moe_utils.permute``/``unpermute``:
#: ``sorted_indices`` (int64) is saved by ``index_select`` and by ``scatter_add_`` (one storage),
#: ``permuted_probs`` (fp32) by ``permuted_tokens * permuted_probs``. A plain PyTorch top-k loop
#: (mistral-inference/megablocks shape; the validation's eager reference) indexes the tokens and
#: the routing weights with two int64 index tensors (token and slot) and keeps the gathered
#: weight in the model's dtype.
DISPATCH_INDEX_TENSORS = {MEGATRON: 1, PYTORCH_EAGER: 2}
DISPATCH_INDEX_BYTES = BYTES_INT64
#: Norm statistics saved per row: Transformer Engine's LayerNormLinear / RMSNorm save ``mu`` and
#: ``rsigma`` in fp32 (``layernorm_linear.py``: tensors_to_save ... ``mu, rsigma``; RMSNorm has
#: no ``mu``); so does torch's native ``layer_norm``. Eager RMSNorm (``x * rsqrt(mean(x²) + ε)
#: * w``) keeps ``rsqrt(...)`` in the model's dtype.
NORM_STAT_BYTES = BYTES_FP32
NORM_STATS = {"layernorm": 2, "rmsnorm": 1}
#: Eager attention: ``masked_fill`` keeps its boolean mask (``s_q × s_k`` bytes, one per layer).
MASK_BYTES = 1
#: Eager RoPE (``x·cos + rotate_half(x)·sin``): each call keeps its ``cos`` and ``sin`` tables
#: (``s × d_rot`` each); q and k are two calls per layer.
ROPE_TABLES_PER_CALL = 2
ROPE_CALLS_PER_LAYER = 2
#: Korthikanti et al. keep dropout masks as 1 byte per element.
DROPOUT_MASK_BYTES = 1
#: Hoffmann et al. 2022 (Chinchilla, arXiv 2203.15556): compute-optimal dense models use about
#: 20 training tokens per parameter (Chinchilla itself: 70B parameters, 1.4T tokens; Table 3).
CHINCHILLA_TOKENS_PER_PARAM = 20
SECONDS_PER_HOUR = 3600
SECONDS_PER_DAY = 86400
#: Attention share of the model FLOPs above which the compute section says how much the
#: attention convention (``attention_flops``) changes time and cost.
ATTENTION_NOTE_FRACTION = 0.2
#: How ``etp = 0`` (the option's default) is resolved (:func:`default_etp`).
ETP_DEFAULT_RULE = ("etp option 0 = 1 when ep > 1 (Megatron-Core's common MoE setting "
                    "--expert-tensor-parallel-size 1 with expert parallelism), else tp")

#: Terms a selective recompute drops: the attention core (Korthikanti et al. §4.2; Megatron
#: ``--recompute-granularity selective`` with its default module ``core_attn``).
CORE_ATTENTION_TERMS = ("attn_probs", "attn_probs_dropout_mask", "attn_probs_dropout_output",
                        "attn_lse", "attn_sink_column", "attn_mask")

#: Tensors the attention softmax creates (absent at the moment the eager scores are masked).
SOFTMAX_OUTPUT_TERMS = ("attn_probs", "attn_sink_column")
#: Saved terms a layer creates after its attention core (freed in backward before the core's).
POST_CORE_PREFIXES = ("mlp_", "ffn_", "expert_", "shared_", "router_", "dispatch_",
                      "attn_dropout_mask")

ACTIVATION_FRAMEWORKS = {
    MEGATRON: ("Megatron-LM (Megatron Core + Transformer Engine) minimal saved-tensor set: "
               "fused norms keep their input and fp32 statistics, fused SwiGLU keeps "
               "[gate, up] and the down-projection input, fused RoPE keeps nothing extra, "
               "vocab-parallel cross-entropy works in place on the fp32 logits, weight "
               "gradients accumulate inside the GEMM (gradient_accumulation_fusion); sequence "
               "parallelism whenever tp > 1; 16-bit activations (fp32 if dtype=fp32); "
               "balanced expert routing"),
    PYTORCH_EAGER: ("plain PyTorch autograd on a decoder written with nn.Linear, F.silu, "
                    "RMSNorm as x·rsqrt(mean(x²)+ε)·w, RoPE as x·cos + rotate_half(x)·sin, "
                    "masked_fill + softmax attention (or SDPA with flash_attention), a top-k "
                    "loop over experts and F.cross_entropy on fp32 logits: the Megatron set plus "
                    "each RMSNorm's x·rsqrt, each SwiGLU's silu(gate), the attention mask, the "
                    "RoPE tables, and two fp32 T×V loss gradients at the start of backward; "
                    "sequence parallelism whenever tp > 1; balanced expert routing"),
}
OPTIMIZER_IMPL = ("fused (Apex/TE FusedAdam, DeepSpeed FusedAdam, torch fused=True): no "
                  "per-parameter temporaries at the step, so the step never sets the peak; "
                  "PyTorch's foreach AdamW would add one fp32 tensor per local parameter "
                  "(torch/optim/adamw.py _multi_tensor_adamw: _foreach_sqrt(exp_avg_sq)) while "
                  "the activations are freed: reported as optimizer_temp_foreach, not in the "
                  "peak (with foreach the step peaks at model_states + optimizer_temp_foreach)")
NOT_INCLUDED = ("CUDA context (hundreds of MB to ~2 GB, outside allocator stats); allocator "
                "fragmentation (reserved > allocated); NCCL and all-to-all communication "
                "buffers; DDP gradient buckets (Megatron/FSDP use the gradient buffer itself); "
                "routing imbalance (the busiest expert rank holds more tokens than the "
                "balanced average used here); Megatron's "
                "RoPE frequency table (one s×d fp32 table shared by all layers); backward "
                "transients other than the loss's and, without FlashAttention, the attention "
                "core's (later layers' gradient buffers are smaller than the freed loss tensors "
                "unless the vocabulary is small next to the FFN width)")


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
    etp_default: bool = False  # etp came from default_etp (the option was 0)

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


def check_tensor_parallel_heads(spec: ModelSpec, tp: int) -> None:
    """Megatron-Core splits attention heads evenly over TP ranks and refuses otherwise
    (``megatron/core/transformer/attention.py``: ``divide(num_attention_heads, world_size)`` and
    ``divide(num_query_groups, world_size)``, ``divide`` asserting divisibility): training needs
    ``a mod tp = 0`` and, with GQA/MQA, ``g mod tp = 0`` (no KV-head replication in training, unlike
    vLLM's inference ``QKVParallelLinear``). MLA (``multi_latent_attention.py``) splits only its
    ``a`` heads (the latent down-projections are duplicated on every rank)."""
    a, g = spec.num_attention_heads, spec.num_key_value_heads
    if a % tp:
        raise EstimatorError("tp", tp, f"must divide num_attention_heads={a} for training "
                                       "(Megatron splits the heads evenly over TP ranks)")
    if spec.mla is None and g % tp:
        raise EstimatorError("tp", tp, f"must divide num_key_value_heads={g} for training "
                                       "(Megatron splits the KV heads evenly over TP ranks; only "
                                       "inference engines replicate KV heads when g < tp)")


def default_etp(tp: int, ep: int) -> int:
    """Expert tensor-parallel size when the ``etp`` option is 0: 1 with expert parallelism
    (``ep > 1``; Megatron-Core's common MoE setting ``--expert-tensor-parallel-size 1``: experts
    split by EP, not by TP), else ``tp`` (Megatron's own default, experts split like dense FFNs).
    """
    return 1 if ep > 1 else tp


#: Mixer kinds whose training is refused, with why: the saved-tensor account has no set for
#: them and counting them as attention would be a wrong number, not an estimate.
NO_TRAINING_MIXERS = {
    "rglru": "training of RecurrentGemma is not modelled yet (transformers' RG-LRU scan is a "
             "Python loop over the tokens whose autograd keeps a fp32 state per token, and no "
             "fused training kernel is transcribed here); parameters, FLOPs and inference "
             "memory are",
    "rwkv4": "training of RWKV-4 is not modelled yet (transformers' WKV is a per-token Python "
             "loop on the CPU path and a custom CUDA kernel, RwkvLinearAttention, whose saved "
             "tensors are not transcribed here); parameters, FLOPs and inference memory are",
    "mlstm": "training of xLSTM is not modelled yet (the mLSTM's chunkwise kernels, native "
             "autograd or Triton, keep per-chunk states the training account does not have); "
             "parameters, FLOPs and inference memory are",
}


def training_refusal(spec: ModelSpec) -> str | None:
    """Why training of ``spec`` is not modelled, or None: the blocks whose saved activations
    the training account does not have (DeepSeek-V4's compressed attention, A.X-K2's gates,
    HY-V4's hyper-connections, Gemma-3n's AltUp streams, Zamba's shared block, the mixers of
    :data:`NO_TRAINING_MIXERS`). Every training
    figure starts from :func:`parallel_plan`, which raises it."""
    if spec.compressed_attention is not None:
        return ("training of DeepSeek-V4 is not modelled yet (its hyper-connection streams, "
                "compressors and indexer keep activations the training account does not have); "
                "parameters, FLOPs and inference memory are")
    if spec.altup_num_inputs:
        return ("training of Gemma-3n is not modelled yet (AltUp's residual streams, LAuReL, "
                "per-layer inputs and the activation-sparsity top-k keep activations the "
                "training account does not have); parameters, FLOPs and inference memory are")
    if spec.shared_block is not None:
        return ("training of Zamba/Zamba2 is not modelled yet (its shared attention+MLP block "
                "saves activations per use on a 2h-wide input, and its gradients accumulate once "
                "per block); parameters, FLOPs and inference memory are")
    if is_axk2(spec):
        return ("training of A.X-K2 is not modelled yet (its q_gate_proj output gate and "
                "gated RMSNorms keep activations the training account does not have); "
                "parameters, FLOPs and inference memory are")
    if is_hy_v4(spec):
        return ("training of HY-V4 is not modelled yet (its hyper-connection streams, output "
                "gate and attention sinks keep activations the training account does not "
                "have); parameters, FLOPs and inference memory are")
    if spec.mixer is not None and spec.mixer.kind in NO_TRAINING_MIXERS:
        return NO_TRAINING_MIXERS[spec.mixer.kind]
    return None


def parallel_plan(spec: ModelSpec, opts) -> ParallelPlan:
    """Validate the layout against the model and return it (errors name the option)."""
    why = training_refusal(spec)
    if why is not None:  # every training figure starts from the plan
        raise EstimatorError("model_type", spec.model_type, why)
    # tp/pp/ep = 0 (the serving layout's "auto") read as 1 in training
    return _parallel_plan(spec, opts.tp or 1, opts.pp or 1, opts.cp, opts.ep or 1, opts.etp,
                          opts.num_gpus, opts.zero)


@spec_cache(1024)  # geometry only, like memory.layout (errors are not cached)
def _parallel_plan(spec: ModelSpec, tp: int, pp: int, cp: int, ep: int, etp_opt: int,
                   num_gpus: int, zero: int) -> ParallelPlan:
    if num_gpus % (tp * pp * cp):
        raise EstimatorError("num_gpus", num_gpus,
                             f"must be a multiple of tp·pp·cp = {tp * pp * cp}")
    dp = num_gpus // (tp * pp * cp)
    L = spec.num_hidden_layers
    if pp > L:
        raise EstimatorError("pp", pp, f"must not exceed num_hidden_layers={L}")
    check_tensor_parallel_heads(spec, tp)
    etp = etp_opt or default_etp(tp, ep)
    if not spec.is_moe:
        # Expert parallelism does not apply to a dense model: ep/etp are ignored (not an error,
        # so one set of options serves a MoE model and its dense equivalents side by side).
        ignored = tuple(n for n, v in (("ep", ep), ("etp", etp_opt)) if v > 1)
        return ParallelPlan(tp=tp, pp=pp, ep=1, etp=1, cp=cp, dp=dp, zero=zero,
                            ignored=ignored)
    E = spec.num_experts
    if E % ep:
        raise EstimatorError("ep", ep, f"must divide num_experts={E}")
    group = tp * cp * dp
    if group % (ep * etp):
        how = "the etp option" if etp_opt else ETP_DEFAULT_RULE
        raise EstimatorError("ep", ep, f"ep·etp = {ep}·{etp} must divide tp·cp·dp = "
                             f"{tp}·{cp}·{dp} (etp from {how})")
    return ParallelPlan(tp=tp, pp=pp, ep=ep, etp=etp, cp=cp, dp=dp, zero=zero,
                        etp_default=not etp_opt)


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
    shard_n = -(-n_params // shard) if shard > 1 else n_params  # a sharded state's share
    n_opt = shard_n if zero >= 1 else n_params
    return {
        "weights": bpp.weights * (shard_n if zero >= 3 else n_params),
        "gradients": bpp.gradients * (shard_n if zero >= 2 else n_params),
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


@spec_cache(1024)  # spec-only counts per parallel plan (both frozen)
def _layer_params(s: ModelSpec, plan: ParallelPlan) -> _LayerParams:
    """Megatron's split (theoretical_memory_usage.py): matrices by TP (vocab-parallel embedding
    and head too), norms and the router replicated, experts by EP (and expert-TP). With tied
    embeddings and pp > 1 the last stage keeps its own copy of the table.

    Attention matrices per rank come from :func:`estimator.memory.attention_matrix_params`, the
    function inference memory uses: ``⌈a/tp⌉`` query and ``⌈g/tp⌉`` KV heads, MLA's latent
    down-projections duplicated on every rank (Megatron ``multi_latent_attention.py``:
    ``parallel_mode='duplicated'``); the remaining attention parameters (biases, q/k norms,
    sinks, MoA router) are split by TP as memory does. :func:`check_tensor_parallel_heads` has
    enforced ``a mod tp = g mod tp = 0`` (Megatron's rule), so the ceilings are exact and the
    KV-head replication memory applies to inference at ``g < tp`` never arises here: training and
    inference count the same per-rank attention weights for the same ``tp``."""
    tp = plan.tp
    h = s.hidden_size
    attn_mat = attention_matrix_params(s, tp)
    attn = attn_mat + _cdiv(attention_params(s) - attention_matrix_params(s), tp)
    norms = layer_norm_params(s)
    dense = attn + norms + (_cdiv(dense_ffn_params(s), tp) if s.intermediate_size else 0)
    moe_ne = moe_e = 0
    if s.is_moe:
        moe_ne = (attn + norms + router_params(s) + _cdiv(shared_expert_params(s), tp)
                  + (h if s.moe_output_bias else 0)
                  + moe_norm_params(s))  # A.X-K1's MoE output norm, A.X-K2's gate
        moe_e = (s.num_experts // plan.ep) * _cdiv(expert_params(s), plan.etp)
    table = _cdiv(s.vocab_size * h, tp)
    # learned positions (GPT-2's wpe) and BLOOM's embedding norm are replicated, as in
    # memory.stage_weight_bytes
    emb = (table + s.position_embeddings * h
           + (norm_params(s, h) if s.embedding_norm else 0))
    head = (_cdiv(s.head_vocab_size * h, tp)  # a pruned head (Apertus-1.5): fewer rows
            if (not s.tie_word_embeddings or plan.pp > 1) else 0)
    head += _cdiv(s.head_vocab_size, tp) if s.lm_head_bias else 0  # its own tensor when tied
    return _LayerParams(dense=dense, moe_non_expert=moe_ne, moe_expert=moe_e, embedding=emb,
                        head=head, final_norm=norm_params(s, h) if s.final_norm else 0)


def mtp_stage_params(s: ModelSpec, plan: ParallelPlan, lp: _LayerParams, schedule: str
                     ) -> tuple[int, int]:
    """``(non-expert, expert)`` parameters the multi-token-prediction modules add to one rank
    of the last pipeline stage, where Megatron-Core runs them (``mtp_process`` on the last
    stage; DeepSeek-V3 report §2.2, §3.2.1). Per module (:func:`estimator.params.mtp_params`):
    ``eh_proj`` (``2h·h``, split by TP), three replicated norms (enorm, hnorm, the final norm)
    and one block of the kind the last main layer has (an MoE block's experts split by EP/ETP
    like the main layers'). With ``pp > 1`` the stage also holds an embedding table
    (Megatron-Core ``gpt_model.py``: ``if self.pre_process or self.mtp_process: self.embedding =
    LanguageModelEmbedding(...)``), except under DualPipe, whose last stage shares the first
    stage's rank and table (the dualpipev schedules' ``skip_embedding_allocation``)."""
    n = s.num_mtp_layers
    h = s.hidden_size
    ne = _cdiv(2 * h * h, plan.tp) + 3 * norm_params(s, h)
    ex = 0
    if s.num_experts:
        ne += lp.moe_non_expert
        ex = lp.moe_expert
    else:
        ne += lp.dense
    ne *= n
    if plan.pp > 1 and schedule != "dualpipe":
        ne += lp.embedding
    return ne, n * ex


def mtp_trained(s: ModelSpec, opts) -> bool:
    """Whether the step trains MTP modules: the spec has them and ``opts.mtp_training``."""
    return bool(s.num_mtp_layers) and bool(opts.mtp_training)


@spec_cache(1024)
def hybrid_layer_params_delta(s: ModelSpec, tp: int, lo: int, hi: int) -> int:
    """Hybrids: per-rank parameters of layers ``[lo, hi)`` minus what :func:`_layer_params`'s
    attention + FFN layers count for them — a mixer layer holds the mixer
    (:func:`estimator.mixers.mixer_params`, split by TP) instead of attention (Falcon-H1: besides
    it), an FFN-only block no attention, a mixer-only block no FFN (Nemotron-H)."""
    from .memory import hybrid_counts
    from .mixers import mixer_params

    attn_mat = attention_matrix_params(s, tp)
    attn = attn_mat + _cdiv(attention_params(s) - attention_matrix_params(s), tp)
    n_attn, n_mix, n_ffnless = hybrid_counts(s, lo, hi)
    mixer = _cdiv(mixer_params(s.mixer, s.hidden_size), tp) if s.mixer is not None else 0
    ffn = _cdiv(dense_ffn_params(s), tp) if s.intermediate_size else 0
    return n_mix * mixer - ((hi - lo) - n_attn) * attn - n_ffnless * ffn


@spec_cache(1024)
def layer_shaped_non_expert_params(s: ModelSpec, tp: int, lo: int, hi: int, first: bool) -> int:
    """Specs with per-layer shapes (Gemma-4): per-rank non-expert parameters of layers
    ``[lo, hi)``, counted layer by layer as inference memory counts them
    (:func:`estimator.memory.stage_weight_bytes` in elements), plus on the first stage the
    per-layer embedding table, its input projection and norm (the token table is
    :func:`_layer_params`'s ``embedding``)."""
    from .memory import stage_weight_bytes

    def count(n, _fmt):
        return n

    w = stage_weight_bytes(s, None, dict.fromkeys(("matrices", "routed_experts", "other")),
                           hi - lo, 0, first, False, tp, 1, nbytes=count, vision=False,
                           layers=(lo, hi))
    table = -(-s.vocab_size // tp) * s.hidden_size if first else 0
    # the router's correction-bias buffer is no trained parameter (as in _layer_params)
    buffers = sum(1 for i in s.moe_layers if lo <= i < hi) * s.num_experts \
        if s.router_score_correction_bias else 0
    return sum(v for k, v in w.items() if k != "routed_experts") - table - buffers


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------

def korthikanti_layer_bytes(s: int, b: int, h: int, a: int, t: int = 1,
                            sequence_parallel: bool = False, recompute: str = "none") -> float:
    """Activation bytes of one GPT transformer layer (Korthikanti et al. 2022, arXiv 2205.05198,
    Table 2): 16-bit activations, 1-byte dropout masks, LayerNorm, GeLU MLP of width 4h, MHA.

    A reference, not used for any reported number: the estimator counts tensor by tensor
    (:func:`layer_activation_terms`), and on a classic GPT block that account must equal this
    published closed form (``tests/test_training.py``), which is what this function is for.

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


def norm_terms(prefix: str, rows: int, width: int, e: int, norm_type: str, framework: str,
               sp: int = 1, input_key: str | None = None, statistics: bool = True
               ) -> dict[str, int]:
    """Bytes one normalisation keeps for backward besides its output (which the next matmul
    saves, counted by the caller): ``rows × width`` elements, rows divided by ``sp`` under
    sequence parallelism.

    * ``{prefix}_input`` (or ``input_key``): the input, ``e`` bytes per element;
    * ``{prefix}_stats``: per row ``rsigma`` (RMSNorm) or ``mu`` and ``rsigma`` (LayerNorm) in
      fp32 — Transformer Engine ``layernorm_linear.py`` saves ``mu, rsigma``; torch's native
      ``layer_norm`` likewise. An eager RMSNorm keeps its ``rsqrt(mean(x²) + ε)`` in the model's
      dtype (``e`` bytes);
    * ``{prefix}_xhat`` (``pytorch_eager`` RMSNorm only): ``x · rsqrt(...)``, which the
      multiplication by the weight saves (``rows × width``).

    ``statistics=False`` leaves out the per-row statistics, as Korthikanti et al. 2022 Table 2
    does (its terms are all ``sbh``-sized or larger; see :func:`korthikanti_layer_bytes`).
    """
    terms: dict[str, int] = {}
    _put_norm(terms, prefix, rows, width, e, norm_type, framework, sp, input_key, statistics)
    return terms


def _put_norm(terms: dict[str, int], prefix: str, rows: int, width: int, e: int,
              norm_type: str, framework: str, sp: int = 1, input_key: str | None = None,
              statistics: bool = True) -> None:
    """:func:`norm_terms`, written into ``terms`` (the hot path builds one dict per layer)."""
    x = -(-e * rows * width // sp)
    terms[input_key or prefix + "_input"] = x
    if not statistics:
        return
    if framework == PYTORCH_EAGER and norm_type == "rmsnorm":
        terms[prefix + "_stats"] = -(-e * rows // sp)
        terms[prefix + "_xhat"] = x
    else:
        terms[prefix + "_stats"] = -(-NORM_STATS[norm_type] * NORM_STAT_BYTES * rows // sp)


def _attention_terms(s: ModelSpec, T: int, seq: int, e: int, plan: ParallelPlan, flash: bool,
                     dropout: bool, framework: str, stats: bool) -> dict[str, int]:
    """The attention half of a layer and the MLP norm (the same in dense and MoE layers); see
    :func:`layer_activation_terms`."""
    tp = plan.tp
    sp = tp if plan.sequence_parallel else 1
    h = s.hidden_size
    eager = framework == PYTORCH_EAGER
    seq_local = -(-seq // plan.cp)
    x_h = -(-e * T * h // sp)  # one h-wide activation (sequence-parallel)
    terms: dict[str, int] = {}
    _put_norm(terms, "attn_norm", T, h, e, s.norm_type, framework, sp, statistics=stats)
    terms["attn_norm_output"] = x_h
    if s.mla is not None:
        m = s.mla
        a_r = -(-s.num_attention_heads // tp)
        if m.q_lora_rank is not None:  # down-projections are replicated across TP (Megatron MLA)
            _put_norm(terms, "q_down_norm", T, m.q_lora_rank, e, "rmsnorm", framework,
                      input_key="q_down", statistics=stats)
            terms["q_down_norm"] = e * T * m.q_lora_rank
        # the kv_a output (latent + shared rotary key) is one storage; the norm reads a view of
        # it, so only the norm's statistics (and eager x̂) are added for its input
        _put_norm(terms, "kv_down_norm", T, m.kv_lora_rank, e, "rmsnorm", framework,
                  input_key="kv_down", statistics=stats)
        terms["kv_down"] = e * T * (m.kv_lora_rank + m.qk_rope_head_dim)
        terms["kv_down_norm"] = e * T * m.kv_lora_rank
        q_heads, d_qk, d_v, kv_heads = a_r, m.qk_head_dim, m.v_head_dim, a_r
        rope_dim = m.qk_rope_head_dim
    elif s.moa is not None:  # JetMoE: top_k·g query heads share g K/V heads (approximate)
        q_heads = -(-s.moa.top_k * s.num_key_value_heads // tp)
        kv_heads = -(-s.num_key_value_heads // tp)
        d_qk = d_v = rope_dim = s.head_dim
        terms["attn_router_probs"] = ROUTER_PROB_BYTES * T * s.moa.num_experts
    else:
        q_heads = -(-s.num_attention_heads // tp)
        kv_heads = -(-s.num_key_value_heads // tp)  # exact: parallel_plan enforces g mod tp = 0
        d_qk = d_v = rope_dim = s.head_dim
    if s.qk_norm != "none" and s.mla is None:
        # q/k RMSNorm before RoPE (qwen3, olmoe, glm): the norm keeps the pre-norm q and k (fused
        # RoPE keeps nothing, so the norm outputs are not saved; the post-RoPE q, k are, below).
        # Megatron: TENorm q_layernorm/k_layernorm in get_query_key_value_tensors.
        if s.qk_norm == "head":  # one norm row per head
            q_rows, k_rows, q_w, k_w = T * q_heads, T * kv_heads, d_qk, d_qk
        else:  # "full": one norm over all heads of a token
            q_rows, k_rows, q_w, k_w = T, T, q_heads * d_qk, kv_heads * d_qk
        _put_norm(terms, "q_norm", q_rows, q_w, e, "rmsnorm", framework, statistics=stats)
        _put_norm(terms, "k_norm", k_rows, k_w, e, "rmsnorm", framework, statistics=stats)
    terms["q"] = e * T * q_heads * d_qk
    terms["k"] = e * T * kv_heads * d_qk
    terms["v"] = e * T * kv_heads * d_v
    if eager and rope_dim >= 2:  # x·cos + rotate_half(x)·sin keeps cos and sin of each call
        terms["rope_tables"] = (ROPE_TABLES_PER_CALL * ROPE_CALLS_PER_LAYER * e * seq_local
                                * (2 * (rope_dim // 2)))
    if flash:
        terms["attn_lse"] = LSE_BYTES * T * q_heads
    else:
        terms["attn_probs"] = e * T * q_heads * seq
        if s.attention_sinks:  # the sink joins the softmax: its probability column is saved too
            terms["attn_sink_column"] = e * T * q_heads
        if eager:  # masked_fill keeps its boolean mask (one s_q × s_k per layer)
            terms["attn_mask"] = MASK_BYTES * seq_local * seq
        if dropout:
            terms["attn_probs_dropout_mask"] = DROPOUT_MASK_BYTES * T * q_heads * seq
            terms["attn_probs_dropout_output"] = e * T * q_heads * seq
    terms["attn_output"] = e * T * q_heads * d_v  # input of the output projection
    if dropout:
        terms["attn_dropout_mask"] = -(-DROPOUT_MASK_BYTES * T * h // sp)
    _put_norm(terms, "mlp_norm", T, h, e, s.norm_type, framework, sp, statistics=stats)
    terms["mlp_norm_output"] = x_h
    return terms


def _put_ffn(terms: dict[str, int], prefix: str, n: int, e: int, width: int, gated: bool,
             eager: bool) -> None:
    """FFN on ``n`` token rows: ``[gate, up]`` (or fc1) output and the down-projection input;
    eager SwiGLU (``F.silu(gate) * up``) also keeps ``silu(gate)`` (the multiply saves it)."""
    x = e * n * width
    terms[prefix + "_up"] = 2 * x if gated else x
    terms[prefix + "_act"] = x
    if gated and eager:
        terms[prefix + "_silu"] = x


def _put_ffn_block(terms: dict[str, int], s: ModelSpec, kind: str, T: int, e: int,
                   plan: ParallelPlan, capacity_factor: float, framework: str,
                   dropout: bool) -> None:
    """The FFN half of a layer (dense FFN, or router + experts + shared experts); see
    :func:`layer_activation_terms`."""
    eager = framework == PYTORCH_EAGER
    tp = plan.tp
    sp = tp if plan.sequence_parallel else 1
    h = s.hidden_size
    if kind == "dense":
        _put_ffn(terms, "ffn", T, e, -(-s.intermediate_size // tp), s.gated_ffn, eager)
    else:
        T_loc = -(-T // sp)  # tokens this rank routes
        k = s.num_experts_per_tok
        router_b, weight_b = _router_bytes(framework, e)
        terms["router_probs"] = router_b * T_loc * s.router_width  # + LongCat's zero experts
        # the router's top-k (LongCat-Flash: router_top_k picks, zero experts included)
        terms["router_topk"] = (weight_b + TOPK_INDEX_BYTES) * T_loc * (s.router_top_k or k)
        copies = T_loc * k * plan.etp  # an expert-TP group computes its members' tokens
        if capacity_factor > 0:  # padded/dropped to capacity (Megatron get_capacity)
            copies = math.ceil(copies * capacity_factor)
        terms["dispatch_indices"] = (DISPATCH_INDEX_TENSORS[framework] * DISPATCH_INDEX_BYTES
                                     * copies)
        terms["dispatch_probs"] = weight_b * copies
        terms["expert_input"] = e * copies * h
        _put_ffn(terms, "expert", copies, e, -(-s.moe_intermediate_size // plan.etp),
                 s.gated_ffn, eager)
        terms["expert_output"] = e * copies * h
        if s.num_shared_experts:
            _put_ffn(terms, "shared", T, e, -(-s.shared_expert_intermediate_size // tp),
                     s.gated_ffn, eager)
            if s.shared_expert_gate:
                terms["shared_gate"] = e * T_loc
                terms["shared_output"] = -(-e * T * h // sp)
    if dropout:
        terms["mlp_dropout_mask"] = -(-DROPOUT_MASK_BYTES * T * h // sp)


def layer_activation_terms(s: ModelSpec, opts, kind: str = "dense",
                           plan: ParallelPlan | None = None,
                           dropout: bool = False, norm_statistics: bool = True) -> dict[str, int]:
    """Bytes each saved tensor of one layer takes for one micro-batch on one GPU (no recompute).

    ``T = micro_batch·ceil(seq_len/cp)`` tokens per GPU; ``e`` bytes per element; tensors of
    width ``h`` are divided by ``tp`` under sequence parallelism (assumed whenever tp > 1),
    head- and FFN-sharded tensors by ``tp``. Korthikanti et al. 2022 §4.1 list, adapted, for
    ``opts.activation_framework = "megatron"`` (Megatron Core + Transformer Engine):

    * attention: norm input, fp32 statistics (:func:`norm_terms`) and output (``h``), q/k norm
      inputs and statistics when the model has q/k norms, q/k/v after RoPE (``(a + 2g)·d``; MLA:
      the decompressed ``a·(d_nope + d_rope)`` q and k, ``a·d_v`` v, plus the q/kv low-rank
      latents, their norm statistics and outputs), the attention output (``a·d_v``, the
      o-projection input); FlashAttention saves an fp32 log-sum-exp per head (``4·a`` bytes)
      instead of the ``a·s`` probabilities (``a·(s + 1)`` with attention sinks);
    * dense FFN: norm input, statistics and output, gated ``[gate, up]`` (``2f``, the fused SwiGLU
      input) and the down-projection input (``f``); plain FFN: fc1 output and activation;
    * MoE FFN: norm input/statistics/output, router probabilities (fp32, ``E``) and top-k
      weights/indices, the dispatch's int64 ``sorted_indices`` and fp32 ``permuted_probs``
      (Megatron ``moe_utils.permute``/``unpermute``, per token copy), the ``k`` dispatched token
      copies (``k·h``, ×CF when ``capacity_factor > 0``), their expert ``[gate, up]``
      (``2·f_e``) and down input (``f_e``), the expert outputs before the weighted combine
      (``k·h``), shared experts like a dense FFN of width ``f_sh``; with a sigmoid-gated shared
      expert (qwen2_moe) the gate's sigmoid (``1``) and the shared output (``h``), both saved by
      ``output * gate_score`` (Megatron ``shared_experts.py``).

    ``"pytorch_eager"`` (plain autograd) adds, per layer: each RMSNorm's ``x·rsqrt`` (and its
    ``rsqrt`` in the model's dtype), each SwiGLU's ``silu(gate)`` (``f``; ``k·f_e`` in experts;
    ``f_sh``), the boolean ``s_q×s_k`` attention mask (without FlashAttention), the RoPE
    ``cos``/``sin`` tables of the q and k calls (``4·s·d_rot``); its router runs in the model's
    dtype and its expert loop keeps two int64 indices (token, slot) per copy.

    ``dropout=True`` adds Korthikanti's dropout masks and outputs, and ``norm_statistics=False``
    leaves out the per-token norm statistics as that paper does, so a classic GPT block
    reproduces Table 2 exactly (modern pre-training uses no dropout).
    """
    plan = plan or parallel_plan(s, opts)
    e = activation_bytes(opts.dtype)
    T = opts.micro_batch * -(-opts.seq_len // plan.cp)
    terms = _attention_terms(s, T, opts.seq_len, e, plan, opts.flash_attention, dropout,
                             opts.activation_framework, norm_statistics)
    _put_ffn_block(terms, s, kind, T, e, plan, opts.capacity_factor, opts.activation_framework,
                   dropout)
    return terms


def _router_bytes(framework: str, e: int) -> tuple[int, int]:
    """(router probability, top-k weight) bytes. Megatron: fp32 — its score function always runs
    in fp32 (``moe_utils.topk_routing_with_score_function``: "Logits are converted to fp32 for
    score functions") and the probabilities stay fp32 with ``--moe-router-dtype fp32`` (the
    DeepSeek-V3 / Qwen3 recipes); with the default they are cast back to the 16-bit logits'
    dtype, 2 bytes per value less than counted here. Plain PyTorch: the model's dtype."""
    if framework == MEGATRON:
        return ROUTER_PROB_BYTES, TOPK_WEIGHT_BYTES
    return e, e


def apply_recompute(terms: dict[str, int], recompute: str, layer_input: int) -> dict[str, int]:
    """What stays saved under activation recomputation (Korthikanti et al. 2022 §4.2-4.3).

    ``selective``: the attention core is recomputed — its probabilities, dropout, mask and (with
    FlashAttention) the log-sum-exp are not kept; q, k, v (the checkpoint's inputs) and the
    attention output (the o-projection's input) still are. ``full``: only the layer input.
    """
    if recompute == "full":
        return {"layer_input": layer_input}
    if recompute == "selective":
        return {k: v for k, v in terms.items() if k not in CORE_ATTENTION_TERMS}
    return dict(terms)


def logits_bytes(s: ModelSpec, opts, plan: ParallelPlan) -> dict[str, int]:
    """Logits / cross-entropy memory on the last stage, one micro-batch, at whichever moment of
    the loss is larger (the terms returned sum to it); ``V/tp`` vocabulary columns per rank,
    ``T`` tokens, ``e`` activation bytes. Every layer's activations are still alive at both.

    ``megatron`` (``tensor_parallel/cross_entropy.py``; theoretical_memory_usage.py's
    ``4·s·b·V``) keeps ``saved_fp32_softmax`` = ``4·T·V/tp``, computed in place on the fp32
    logits;

    * forward: the 16-bit lm_head output is alive while ``.float()`` copies it,
      ``lm_head_output`` = ``e·T·V/tp`` (none in fp32: ``.float()`` returns the logits);
    * backward at the lm_head: the logits' gradient, ``logits_grad`` = ``e·T·V/tp`` (fp32: the
      softmax storage itself, modified in place; 16-bit: its cast, after a moment where both
      exist — the forward's size again), and the lm_head's input gradient,
      ``lm_head_input_grad`` = ``e·T·h`` (the whole sequence: the output layer's input is
      gathered under sequence parallelism). Its weight gradient goes straight into the fp32
      ``main_grad`` (``gradient_accumulation_fusion``, Megatron's default): no extra buffer.

    In 16-bit training the forward is larger (``6·T·V`` vs ``2·T·V + 2·T·h``); in fp32 the
    backward (``4·T·V + 4·T·h``).

    ``pytorch_eager`` (``F.cross_entropy`` on fp32 logits) keeps ``saved_fp32_log_softmax`` =
    ``4·T·V/tp``; at the start of backward ``nll_loss_backward`` and ``log_softmax_backward``
    allocate ``loss_backward_grads`` = two more fp32 ``T×V`` tensors
    (``EAGER_LOSS_BACKWARD_BUFFERS``), more than the forward's 16-bit logits + fp32 copy. Later,
    at the lm_head, the log-softmax is freed and the logits' gradient (``logits_grad``), the
    lm_head's input gradient and autograd's fresh weight-gradient buffer (``lm_head_weight_grad``,
    ``V·h/tp`` in the weights' dtype, added to ``.grad`` afterwards) coexist; that moment is
    larger only when ``T`` is below about ``h`` tokens.
    transformers' loss keeps more (bf16 logits, their fp32 copy and the fp32 log-softmax: 10
    bytes per element during the forward)."""
    T = opts.micro_batch * _cdiv(opts.seq_len, plan.cp)
    v_r = _cdiv(s.head_vocab_size, plan.tp)
    tv = T * v_r
    e = activation_bytes(opts.dtype)
    input_grad = e * T * s.hidden_size
    saved = LOGITS_SAVED_BYTES * tv
    if opts.activation_framework == PYTORCH_EAGER:
        grads = EAGER_LOSS_BACKWARD_BUFFERS * BYTES_FP32 * tv
        weight_grad = training_weight_bytes(opts.dtype) * v_r * s.hidden_size
        if saved + grads >= e * tv + input_grad + weight_grad:
            return {"saved_fp32_log_softmax": saved, "loss_backward_grads": grads}
        return {"logits_grad": e * tv, "lm_head_input_grad": input_grad,
                "lm_head_weight_grad": weight_grad}
    upcast = e * tv if e < BYTES_FP32 else 0
    if saved + upcast >= e * tv + input_grad:
        return {"saved_fp32_softmax": saved, "lm_head_output": upcast}
    return {"logits_grad": e * tv, "lm_head_input_grad": input_grad}


def attention_core_delta(raw: dict[str, int], kept: dict[str, int], recompute: str,
                         framework: str, recompute_transient: int) -> int | None:
    """Without FlashAttention, the largest moment inside a layer's attention core, as bytes
    above the stage's end-of-forward activations when that layer is the last of the stage
    (``None`` with FlashAttention, whose core holds no ``s×s`` tensor).

    ``megatron`` (unfused core attention, ``FusedScaleMaskSoftmax``): after the softmax the raw
    scores (``attn_probs``-sized; a local of the core until it returns) coexist with the
    probabilities, and ``bmm(probs, v)``'s output with its contiguous copy (the o-projection input,
    ``attn_output``-sized). The terms the layer creates later (MLP/MoE, ``POST_CORE_PREFIXES``)
    do not exist yet (forward) or are freed (backward, where the fused softmax's gradient is
    computed in place and the peak is lower); what selective recompute dropped is rebuilt;
    under full recompute the layer being rebuilt replaces ``recompute_transient``.

    ``pytorch_eager`` also has the moment of ``(q @ kᵀ * scale).masked_fill(mask, -inf)``: the raw,
    scaled and masked scores (three ``s×s`` tensors) before the probabilities and the attention
    output exist.
    """
    scores = raw.get("attn_probs")
    if scores is None:
        return None
    ctx = raw["attn_output"]
    if recompute == "full":
        present, base = raw, sum(raw.values()) - recompute_transient
    else:
        present, base = kept, 0
    post = sum(v for k, v in present.items() if k.startswith(POST_CORE_PREFIXES))
    rebuilt = sum(v - present.get(k, 0) for k, v in raw.items() if k in CORE_ATTENTION_TERMS)
    delta = base + scores + ctx - post + rebuilt
    if framework == PYTORCH_EAGER:
        softmax_out = sum(present.get(k, 0) for k in SOFTMAX_OUTPUT_TERMS)
        masking = (base + 3 * scores - post - present.get("attn_output", 0) - softmax_out)
        delta = max(delta, masking)
    return delta


def activation_breakdown(spec: ModelSpec, opts, plan: ParallelPlan | None = None
                         ) -> dict[str, Any]:
    """Per-tensor saved activations of one micro-batch on one GPU, by block, after recompute.

    Keys: ``dense_layer`` / ``moe_layer`` (one layer of each kind present; see
    :func:`layer_activation_terms`), ``embedding`` (first stage: the int64 token ids the
    embedding backward needs), ``head`` (last stage: final norm input, statistics and output;
    the loss's saved targets — Megatron's int64 ``masked_target_1d`` and bool ``target_mask``,
    ``F.cross_entropy``'s int64 target), ``logits`` (:func:`logits_bytes`),
    ``logits_saved`` (the part of the loss saved for backward: the fp32 softmax, Megatron, or
    log-softmax, eager, ``4·T·V/tp``), ``recompute_transient`` (full recompute: one layer's
    activations rebuilt during its backward), ``attention_core_delta`` (per layer kind, without
    FlashAttention: see :func:`attention_core_delta`), ``head_total``, ``logits_total`` and
    per-layer totals. Bytes, exact integers.
    """
    spec = getattr(spec, "spec", spec)  # a Model or a ModelSpec
    plan = plan or parallel_plan(spec, opts)
    e = activation_bytes(opts.dtype)
    T = opts.micro_batch * -(-opts.seq_len // plan.cp)
    sp = plan.tp if plan.sequence_parallel else 1
    h = spec.hidden_size
    framework, recompute = opts.activation_framework, opts.recompute
    layer_input = -(-e * T * h // sp)
    out: dict[str, Any] = {}
    kinds = []
    if spec.num_dense_layers:
        kinds.append("dense")
    if spec.is_moe:
        kinds.append("moe")
    # the attention half is the same in both kinds: built once (layer_activation_terms)
    attention = _attention_terms(spec, T, opts.seq_len, e, plan, opts.flash_attention, False,
                                 framework, True)
    # a one-kind model's layer dict below IS ``attention`` (FFN terms written into it): the
    # mixer delta needs the attention half alone
    attention_half = dict(attention) if spec.mixer is not None else attention
    layers = []
    for kind in kinds:
        raw = dict(attention) if len(kinds) > 1 else attention
        _put_ffn_block(raw, spec, kind, T, e, plan, opts.capacity_factor, framework, False)
        kept = raw if recompute == "none" else apply_recompute(raw, recompute, layer_input)
        out[kind + "_layer"] = kept
        out[kind + "_layer_total"] = sum(kept.values())
        layers.append((raw, kept))
    transient = (maximum(0, *(sum(raw.values()) for raw, _ in layers)) if recompute == "full"
                 else 0)
    if spec.is_hybrid:  # layers of other shapes: each kind's own total (and transient)
        kept_totals, raw_totals = _hybrid_layer_totals(spec, opts, plan, attention_half, e, T,
                                                       layer_input)
        out["layer_kind_totals"] = kept_totals
        if recompute == "full":
            transient = maximum(0, *raw_totals.values())
    attention_kinds = _attention_ffn_kinds(spec) if spec.is_hybrid else set(kinds)
    core = {}
    if not opts.flash_attention:
        for kind, (raw, kept) in zip(kinds, layers):
            if kind in attention_kinds:  # only layers with softmax attention have a core
                core[kind] = attention_core_delta(raw, kept, recompute, framework, transient)
    out["mixer_layer_delta"] = _mixer_layer_delta(spec, opts, plan, attention_half, e)
    out["embedding"] = {"input_ids": BYTES_INT64 * T}
    head: dict[str, int] = {}
    _put_norm(head, "final_norm", T, h, e, spec.norm_type, framework, sp)
    head["final_norm_output"] = layer_input
    head["loss_targets"] = LOSS_TARGET_BYTES[framework] * T
    out["head"] = head
    out["head_total"] = sum(head.values())
    logits = out["logits"] = logits_bytes(spec, opts, plan)
    out["logits_total"] = sum(logits.values())
    out["logits_saved"] = LOGITS_SAVED_BYTES * T * -(-spec.head_vocab_size // plan.tp)
    out["recompute_transient"] = transient
    if mtp_trained(spec, opts):
        mtp = _mtp_activation_terms(spec, opts, plan, out, T, e, sp)
        out["mtp"] = mtp
        out["mtp_total"] = spec.num_mtp_layers * sum(mtp.values())
    out["attention_core_delta"] = core
    out["tokens_per_gpu"] = T
    out["bytes_per_element"] = e
    return out


def _mtp_activation_terms(spec: ModelSpec, opts, plan: ParallelPlan, act: dict[str, Any],
                          T: int, e: int, sp: int) -> dict[str, int]:
    """Bytes one multi-token-prediction module saves for backward, one micro-batch on one GPU
    of the last stage (DeepSeek-V3 report §2.2: ``h' = M·[RMSNorm(h); RMSNorm(Emb(t))]``, a
    transformer block, the shared head, a cross-entropy loss):

    * ``mtp_enorm_*`` / ``mtp_hnorm_*``: the two RMSNorms' inputs and statistics
      (:func:`norm_terms`; the embedding output and the main model's hidden state);
    * ``mtp_eh_proj_input``: their concatenation, ``2h`` per token (sequence-parallel shard);
    * ``mtp_block``: one layer of the kind the block is (``moe_layer_total`` or
      ``dense_layer_total`` of this breakdown, after recomputation);
    * ``mtp_head``: like the main ``head`` (final-norm input, statistics and output, the loss
      targets);
    * ``mtp_logits_saved``: the module's loss keeps its fp32 softmax / log-softmax
      (``logits_saved``) until the backward, while the other loss runs.

    Not measured here: an estimate by analogy with the main model's terms, for the framework
    in ``activation_framework``."""
    h = spec.hidden_size
    terms: dict[str, int] = {}
    _put_norm(terms, "mtp_enorm", T, h, e, spec.norm_type, opts.activation_framework, sp)
    _put_norm(terms, "mtp_hnorm", T, h, e, spec.norm_type, opts.activation_framework, sp)
    terms["mtp_eh_proj_input"] = -(-e * T * 2 * h // sp)
    kind = "moe" if spec.num_experts else "dense"
    terms["mtp_block"] = act.get(kind + "_layer_total") or sum(
        apply_recompute(layer_activation_terms(spec, opts, kind, plan), opts.recompute,
                        -(-e * T * h // sp)).values())
    terms["mtp_head"] = act["head_total"]
    terms["mtp_logits_saved"] = act["logits_saved"]
    return terms


def _mixer_terms(spec: ModelSpec, opts, plan: ParallelPlan, e: int) -> int | None:
    """Bytes one mixer layer's mixer saves on one GPU (without its input, the pre-norm's
    output), from :func:`estimator.mixers.mixer_activation_terms` in the framework's
    convention — ``pytorch_eager``: transformers' torch paths, measured with MemTracker;
    ``megatron``: the fused kernels' ``save_for_backward`` lists — head-sharded terms divided
    by ``tp``. ``None`` for a mixer with no set in the framework (lightning and Kimi Delta
    Attention under ``megatron``, whose eager sets keep ``c²``-sized scores per block): its
    layers count as attention layers, FlashAttention's q, k, v, output and log-sum-exp being
    the nearest fused set."""
    from .mixers import _EAGER, _FUSED, mixer_activation_terms

    m = spec.mixer
    framework = opts.activation_framework
    if m.kind not in (_EAGER if framework == PYTORCH_EAGER else _FUSED):
        return None
    seq = -(-opts.seq_len // plan.cp)
    # Falcon-H1, the one family with parallel layers, scales the mixer's input (ssm_in_multiplier)
    mixer = mixer_activation_terms(m, spec.hidden_size, opts.micro_batch, seq, e, framework,
                                   scaled_input=spec.parallel_mixer)
    return _cdiv(sum(mixer.values()), plan.tp)


def _mixer_layer_delta(spec: ModelSpec, opts, plan: ParallelPlan, attention: dict[str, int],
                       e: int) -> int:
    """Without recompute, bytes a mixer layer's mixer saves (:func:`_mixer_terms`) minus what
    the attention it replaces would (its attention terms; the norms are the same). Reported
    for reading; the stage sums :func:`_hybrid_layer_totals`. 0 for models without a mixer,
    Falcon-H1's parallel layers (attention stays), under recompute, or a mixer with no set."""
    m = spec.mixer
    if m is None or spec.parallel_mixer or opts.recompute != "none":
        return 0
    mixer = _mixer_terms(spec, opts, plan, e)
    if mixer is None:
        return 0
    attn_only = sum(v for k, v in attention.items()
                    if not k.startswith(("attn_norm", "mlp_norm")))
    return mixer - attn_only


def _seq_label(mixer_kind: str) -> str:
    """The sequence-mixer half of a :attr:`~estimator.spec.ModelSpec.layer_kinds` entry, with
    both softmax kinds as ``attention`` (their saved sets are the same here)."""
    return "attention" if mixer_kind in ("full_attention", "sliding_attention") else mixer_kind


def _attention_ffn_kinds(spec: ModelSpec) -> set[str]:
    """FFN kinds (``dense``/``moe``) of the layers that run softmax attention."""
    return {f for m, f in spec.layer_kinds if "attention" in _seq_label(m)}


def hybrid_kind_counts(spec: ModelSpec, lo: int, hi: int) -> dict[str, int]:
    """Layers ``[lo, hi)`` by ``"<sequence mixer>/<ffn>"`` key of :func:`_hybrid_layer_totals`."""
    counts: dict[str, int] = {}
    for m, f in spec.layer_kinds[lo:hi]:
        key = _seq_label(m) + "/" + f
        counts[key] = counts.get(key, 0) + 1
    return counts


def _hybrid_layer_totals(spec: ModelSpec, opts, plan: ParallelPlan, attention: dict[str, int],
                         e: int, T: int, layer_input: int
                         ) -> tuple[dict[str, int], dict[str, int]]:
    """Saved bytes of one layer of each kind a hybrid has (``"<sequence mixer>/<ffn>"``, from
    :attr:`~estimator.spec.ModelSpec.layer_kinds`), one micro-batch on one GPU: (after
    recompute, before it). A layer is two halves, each with its pre-norm:

    * sequence mixer — ``attention``: the attention terms of :func:`layer_activation_terms`
      with ``attn_norm``; a mixer kind: ``attn_norm`` (whose output is the mixer's input) and
      :func:`_mixer_terms`; ``<kind>+attention`` (Falcon-H1: both read the same norm output):
      the attention terms and the mixer's; ``none`` (Nemotron-H's FFN-only blocks): nothing;
    * FFN — ``dense``/``moe``: ``mlp_norm`` and the FFN/MoE terms; ``none`` (mixer- or
      attention-only blocks, pure state-space models): nothing.

    ``selective`` recompute drops the attention core only (Megatron's default
    ``--recompute-modules core_attn``; no mixer is recomputed); ``full`` keeps each layer's
    input, and the layer rebuilt in its backward is the largest unrecomputed total."""
    recompute = opts.recompute
    norm_a = {k: v for k, v in attention.items() if k.startswith("attn_norm")}
    attn = {k: v for k, v in attention.items() if not k.startswith("mlp_norm")}
    mlp_norm = {k: v for k, v in attention.items() if k.startswith("mlp_norm")}
    counts = hybrid_kind_counts(spec, 0, spec.num_hidden_layers)
    mixer = _mixer_terms(spec, opts, plan, e) if spec.mixer is not None else None
    kept_totals: dict[str, int] = {}
    raw_totals: dict[str, int] = {}
    for key in counts:
        m, f = key.split("/")
        if m == "none":
            seq: dict[str, int] = {}
        elif m == "attention" or mixer is None:  # a mixer with no saved set: as attention
            seq = dict(attn)
        elif m.endswith("+attention"):
            seq = {**attn, "mixer": mixer}
        else:
            seq = {**norm_a, "mixer": mixer}
        ffn: dict[str, int] = {}
        if f != "none":
            ffn = dict(mlp_norm)
            _put_ffn_block(ffn, spec, f, T, e, plan, opts.capacity_factor,
                           opts.activation_framework, False)
        raw = {**seq, **ffn}
        raw_totals[key] = sum(raw.values())
        kept_totals[key] = sum(apply_recompute(raw, recompute, layer_input).values())
    return kept_totals, raw_totals


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
        largest = maximum(largest, g)
    return ZERO3_LIVE_UNITS * weight_bytes * largest


# ----------------------------------------------------------------------------------------------
# the memory section
# ----------------------------------------------------------------------------------------------

def zero3_backward_bytes(layer_activations: int, attn_probs: int, unit: int,
                         root_params: int, root_grad_params: int, bpp: BytesPerParam,
                         plan: ParallelPlan) -> int:
    """ZeRO-3 / FSDP2 moment in the backward of a stage's first layer (the last unit whose
    backward runs, so every earlier-run unit has left a reduce-scatter input behind):

    * that layer's saved activations (``layer_activations``), and, without FlashAttention, the
      softmax backward's two ``s×s`` gradients (:data:`SOFTMAX_BACKWARD_TENSORS` ×
      ``attn_probs``);
    * the layer unit gathered (``unit`` parameters in the weights' bytes) and its unsharded
      gradients plus the previous unit's reduce-scatter input (:data:`ZERO3_BACKWARD_GRAD_UNITS`
      × ``unit`` in the gradients' bytes);
    * the root unit (parameters outside the layers: embedding, final norm, lm_head), which
      FSDP2 does not reshard between forward and backward (``FSDPState._lazy_init``: "For the
      root, do not reshard after forward"), and the unsharded gradients it has received so far
      (``root_grad_params``: the lm_head and final norm; the embedding's comes after this
      moment).

    Measured with FSDP2 ``fully_shard`` on gloo ranks (docs/validation/distributed-cpu.md)."""
    if plan.zero < 3 or plan.dp_shard * plan.edp <= 1:
        return 0
    return (layer_activations + SOFTMAX_BACKWARD_TENSORS * attn_probs
            + unit * (bpp.weights + ZERO3_BACKWARD_GRAD_UNITS * bpp.gradients)
            + bpp.weights * root_params + bpp.gradients * root_grad_params)


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
    optimizer_temp_foreach: int  # informational: not part of the peak (fused optimizer step)
    attention_core: int = 0
    embedding_backward: int = 0  # the first stage's last backward moment (embedding_grad_bytes)
    recompute_moment: int = 0  # full recompute: a layer rebuilt in the backward
    zero3_backward: int = 0  # ZeRO-3/FSDP2: the first layer's backward (zero3_backward_bytes)

    @property
    def model_states(self) -> int:
        return sum(self.states.values())

    @property
    def core_moment(self) -> bool:
        """Whether the stage peaks inside its last layer's attention core (no FlashAttention)
        rather than at the loss."""
        return self.attention_core > self.logits

    @property
    def forward_transient(self) -> int:
        """The larger moment of the last in-flight micro-batch: its loss (activations and
        logits) or its last layer's attention core (``attention_core`` above the
        activations); the gathered ZeRO-3 units coexist with either."""
        return self.activations + max(self.logits, self.attention_core) + self.zero3_buffer

    @property
    def peak_moment(self) -> str:
        """When in the step the stage peaks: inside its last layer's attention core
        (``attention_core``, no FlashAttention), at the loss (``loss``, the last stage), at
        the end of the forward of its last in-flight micro-batch (``end_of_forward``), or at
        the embedding's backward (``embedding_backward``, the first stage, when the dense
        embedding gradient outweighs the forward's transients: large vocabularies, short
        micro-batches). With a fused optimizer the step itself adds nothing."""
        if self.zero3_backward > max(self.forward_transient, self.recompute_moment,
                                     self.embedding_backward):
            return "zero3_backward"
        if self.embedding_backward > max(self.forward_transient, self.recompute_moment):
            return "embedding_backward"
        if self.recompute_moment > self.forward_transient:
            return "recompute"
        if self.core_moment:
            return "attention_core"
        return "loss" if self.logits else "end_of_forward"

    @functools.cached_property  # computed once (the instance is frozen)
    def peak(self) -> int:
        return self.model_states + maximum(self.forward_transient, self.embedding_backward,
                                           self.recompute_moment, self.zero3_backward)

    def parts_at_peak(self) -> dict[str, int]:
        parts = dict(self.states)
        moment = self.peak_moment
        if moment in ("embedding_backward", "recompute", "zero3_backward"):
            parts[moment] = {"embedding_backward": self.embedding_backward,
                             "recompute": self.recompute_moment,
                             "zero3_backward": self.zero3_backward}[moment]
            return parts
        parts["activations"] = self.activations
        if self.core_moment:
            parts["attention_core"] = self.attention_core
        else:
            parts["logits"] = self.logits
        parts["zero3_buffer"] = self.zero3_buffer
        return parts

    def summary(self) -> dict[str, Any]:
        return {"stage": self.stage, "layers": list(self.layers), "in_flight": self.in_flight,
                "model_states": self.model_states, "activations": self.activations,
                "logits": self.logits, "attention_core": self.attention_core,
                "zero3_buffer": self.zero3_buffer, "peak": self.peak,
                "zero3_backward": self.zero3_backward}


def embedding_grad_bytes(spec: ModelSpec, opts, plan: ParallelPlan, embedding_params: int
                         ) -> int:
    """Transient bytes when the backward reaches the input embedding: its dense weight gradient
    (``embedding_params`` = ``V·h/tp`` values in the weights' dtype) and the gradient arriving
    from the first layer (``T·h`` activation elements).

    PyTorch's embedding backward (``embedding_dense_backward``, aten ``Embedding.cpp``) returns a
    fresh ``V×h`` tensor that autograd then adds into the persistent ``.grad`` (Megatron's
    ``VocabParallelEmbedding`` goes through the same op, and its ``main_grad`` hook adds
    ``param.grad``); gradient-accumulation fusion does not apply to it. Measured on the
    reference decoder: a 32k×1024 fp32 embedding sets the step's peak at this moment
    (docs/validation/cuda.md)."""
    T = opts.micro_batch * _cdiv(opts.seq_len, plan.cp)
    return (training_weight_bytes(opts.dtype) * embedding_params
            + activation_bytes(opts.dtype) * T * spec.hidden_size)


def _stage_memory(spec: ModelSpec, opts, plan: ParallelPlan, lp: _LayerParams,
                  moe_sorted: tuple[int, ...], bpp: BytesPerParam, act: dict[str, Any],
                  stage: int) -> StageMemory:
    L = spec.num_hidden_layers
    start, end = stage_layer_range(L, plan.pp, stage)
    n_moe = bisect.bisect_left(moe_sorted, end) - bisect.bisect_left(moe_sorted, start)
    n_dense = end - start - n_moe
    first, last = stage == 0, stage == plan.pp - 1
    ne = n_dense * lp.dense + n_moe * lp.moe_non_expert
    if spec.is_hybrid:
        ne += hybrid_layer_params_delta(spec, plan.tp, start, end)
    if spec.has_layer_shapes:  # Gemma-4: attention and FFN shapes by layer
        ne = layer_shaped_non_expert_params(spec, plan.tp, start, end, first)
    ex = n_moe * lp.moe_expert
    if first:
        ne += lp.embedding
    if last:
        ne += lp.head + lp.final_norm
        if mtp_trained(spec, opts):
            mtp_ne, mtp_ex = mtp_stage_params(spec, plan, lp, opts.pp_schedule)
            ne += mtp_ne
            ex += mtp_ex
    states = zero_state_bytes(ne, bpp, opts.optimizer, plan.zero, plan.dp_shard)
    if ex:
        s_ex = zero_state_bytes(ex, bpp, opts.optimizer, plan.zero, plan.edp)
        states = {k: v + s_ex[k] for k, v in states.items()}

    m = in_flight_microbatches(plan.pp, stage, opts.grad_accum)
    if "layer_kind_totals" in act:  # hybrids: each layer kind saves its own tensors
        kind_counts = hybrid_kind_counts(spec, start, end)
        layers_act = sum(n * act["layer_kind_totals"][k] for k, n in kind_counts.items())
        with_attention = {k.split("/")[1] for k in kind_counts  # "attention", "<kind>+attention"
                          if "attention" in k.split("/")[0]}
    else:
        layers_act = n_dense * act.get("dense_layer_total", 0) + n_moe * act.get(
            "moe_layer_total", 0)
        with_attention = {k for k, n in (("dense", n_dense), ("moe", n_moe)) if n}
    per_mb = (layers_act + (act["embedding"]["input_ids"] if first else 0)
              + (act.get("mtp_total", 0) if last else 0))
    # Full recompute: the layer rebuilt in the backward (``recompute_transient``, with its
    # attention core without FlashAttention) is a moment of its own, after the loss's logits
    # are freed; the forward keeps only layer inputs (measured on an H200:
    # docs/validation/cuda.md).
    rebuilt = act["recompute_transient"]
    activations = m * per_mb
    head = act["head_total"] if last else 0
    activations += head
    logits = act["logits_total"] if last else 0
    attention_core = 0
    core = act["attention_core_delta"]  # empty with FlashAttention
    deltas = [core[k] for k in ("dense", "moe") if k in with_attention and k in core]
    if deltas and not rebuilt:  # conservative: the kind with the larger core moment
        attention_core = max(0, max(deltas) - head)
    zero3 = 0
    if plan.zero >= 3:  # the units ZeRO-3 gathers one at a time: layers, embedding, head
        units = [u for u, n in (((lp.dense, 0), n_dense),
                                ((lp.moe_non_expert, lp.moe_expert), n_moe),
                                ((lp.embedding, 0), first), ((lp.head, 0), last and lp.head))
                 if n]
        zero3 = zero3_buffer_bytes(units, bpp.weights, plan)
    recompute_moment = 0
    if rebuilt:
        recompute_moment = m * per_mb + rebuilt + max([0, *deltas]) + zero3
    emb_bwd = 0
    if first:  # everything but the other in-flight micro-batches' activations is freed by then
        emb_bwd = ((m - 1) * per_mb + zero3
                   + embedding_grad_bytes(spec, opts, plan, lp.embedding))
    zero3_bwd = 0
    if plan.zero >= 3 and end > start:
        first_moe = bisect.bisect_left(moe_sorted, start) < len(moe_sorted) and \
            moe_sorted[bisect.bisect_left(moe_sorted, start)] == start
        kind = "moe" if first_moe else "dense"
        ne_u, ex_u = (lp.moe_non_expert, lp.moe_expert) if first_moe else (lp.dense, 0)
        unit = (ne_u if plan.dp_shard > 1 else 0) + (ex_u if plan.edp > 1 else 0)
        layer_act = act.get(kind + "_layer_total", 0) + (act["embedding"]["input_ids"]
                                                         if first else 0)
        root = (lp.embedding if first else 0) + (lp.head + lp.final_norm if last else 0)
        zero3_bwd = (m - 1) * per_mb + zero3_backward_bytes(
            layer_act, act.get(kind + "_layer", {}).get("attn_probs", 0), unit, root,
            lp.head + lp.final_norm if last else 0, bpp, plan)
    local_opt = ((_cdiv(ne, plan.dp_shard) if plan.zero >= 1 else ne)
                 + (_cdiv(ex, plan.edp) if plan.zero >= 1 else ex))
    foreach = BYTES_FP32 * local_opt if opts.optimizer == "adamw" else 0
    return StageMemory(stage=stage, layers=(start, end), in_flight=m, params_non_expert=ne,
                       params_expert=ex, states=states, activations=activations, logits=logits,
                       attention_core=attention_core, embedding_backward=emb_bwd,
                       recompute_moment=recompute_moment,
                       zero3_buffer=zero3, optimizer_temp_foreach=foreach,
                       zero3_backward=zero3_bwd)


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
    framework: str = MEGATRON

    @property
    def tensor_peak(self) -> int:
        """Bytes of live tensors at the peak (what MemTracker measures)."""
        return self.worst.peak

    @property
    def cublas_workspace(self) -> int:
        """cuBLAS workspaces of the forward and the autograd thread, inside the allocator."""
        return cublas_workspace_bytes(CUBLAS_WORKSPACES_TRAINING)

    @property
    def peak(self) -> int:
        """What ``torch.cuda.max_memory_allocated`` reports: the tensors at the peak plus the
        cuBLAS workspaces (the CUDA context and NCCL buffers are outside it)."""
        return self.worst.peak + self.cublas_workspace

    @property
    def peak_set_by(self) -> str:
        """The largest single term at the peak: what to attack first to lower it."""
        parts = self.worst.parts_at_peak()
        return max(parts, key=parts.__getitem__)

    def peak_parts(self) -> dict[str, int]:
        return {**self.worst.parts_at_peak(), "cublas_workspace": self.cublas_workspace}

    @property
    def fits(self) -> bool:
        return self.peak <= self.gpu_memory

    def to_dict(self) -> dict[str, Any]:
        w = self.worst
        # the properties' values, each computed once: peak, peak_parts(), peak_set_by
        cublas, tensor_peak, peak = self.cublas_workspace, self.tensor_peak, self.peak
        at_peak = w.parts_at_peak()
        peak_set_by = max(at_peak, key=at_peak.__getitem__)  # self.peak_set_by
        per_gpu = dict(w.states)
        per_gpu.update(model_states=w.model_states, activations=w.activations, logits=w.logits,
                       attention_core=w.attention_core,
                       embedding_backward=w.embedding_backward,
                       recompute_moment=w.recompute_moment,
                       cublas_workspace=cublas,
                       zero3_buffer=w.zero3_buffer,
                       optimizer_temp_foreach=w.optimizer_temp_foreach,
                       zero3_backward=w.zero3_backward)
        return {
            "per_gpu": per_gpu,
            "peak": peak,
            "peak_set_by": peak_set_by,
            "peak_moment": w.peak_moment,
            "peak_parts": {**at_peak, "cublas_workspace": cublas},  # self.peak_parts()
            "tensor_peak": tensor_peak,
            "peak_stage": w.stage,
            "stage_layers": list(w.layers),
            "in_flight_microbatches": w.in_flight,
            "params_on_gpu": {"non_expert": w.params_non_expert, "expert": w.params_expert},
            "fits": peak <= self.gpu_memory,  # self.fits
            "gpu_memory": self.gpu_memory,
            "headroom": self.gpu_memory - peak,
            "bytes_per_param": self.bpp.to_dict(),
            "activation_breakdown": fresh(self.breakdown),  # memo-shared: a copy
            "stages": [st.summary() for st in self.stages],
            "parallel": self.plan.to_dict(),
            "conventions": {
                "adam_bytes": self.bpp.convention,
                "activation_framework": f"{self.framework}: "
                                        f"{ACTIVATION_FRAMEWORKS[self.framework]}",
                "recompute": self.recompute,
                "flash_attention": self.flash_attention,
                "micro_batch": self.micro_batch,
                "seq_len": self.seq_len,
                "grad_accum": self.grad_accum,
                "pipeline_schedule": "1F1B: stage i holds min(pp − i, grad_accum) micro-batches",
                "zero3_buffer": f"{ZERO3_LIVE_UNITS} gathered units (current + prefetched) of "
                                "the largest layer/embedding/head",
                "optimizer_step": OPTIMIZER_IMPL,
                "expert_tensor_parallel": (f"etp = {self.plan.etp} ("
                                           + (ETP_DEFAULT_RULE if self.plan.etp_default
                                              else "the etp option") + ")"),
                "mtp_training": (
                    "on: the multi-token-prediction module(s) on the last stage (weights, "
                    "gradients, optimizer states, activations incl. their loss's saved "
                    "softmax: activation_breakdown.mtp)" if "mtp" in self.breakdown else
                    "off or none: no multi-token-prediction module trained"),
                "bytes_unit": "bytes (GiB = 2^30 bytes when shown)",
                "not_included": NOT_INCLUDED,
            },
        }


@spec_cache(1024)  # spec-only
def _sorted_moe_layers(spec: ModelSpec) -> tuple[int, ...]:
    return tuple(sorted(spec.moe_layers))


def compute_memory(model, opts, gpu) -> TrainingMemory:
    """Training memory per GPU of ``model`` under ``opts`` on ``gpu`` (see module docstring)."""
    spec = model.spec if hasattr(model, "spec") else model
    opts = training_defaults(opts)  # auto (0) tp/pp/ep read as 1 here
    plan = parallel_plan(spec, opts)
    bpp = bytes_per_param(opts)
    lp = _layer_params(spec, plan)
    act = activation_breakdown(spec, opts, plan)
    moe_sorted = _sorted_moe_layers(spec)
    stages = tuple(_stage_memory(spec, opts, plan, lp, moe_sorted, bpp, act, i)
                   for i in range(plan.pp))
    worst = max(stages, key=lambda st: st.peak)
    return TrainingMemory(plan=plan, bpp=bpp, worst=worst, stages=stages, breakdown=act,
                          gpu_memory=gpu.memory_bytes, recompute=opts.recompute,
                          flash_attention=opts.flash_attention, micro_batch=opts.micro_batch,
                          seq_len=opts.seq_len, grad_accum=opts.grad_accum,
                          framework=opts.activation_framework)


# ----------------------------------------------------------------------------------------------
# compute, time, cost
# ----------------------------------------------------------------------------------------------

def peak_basis(gpu, dtype: str, peak: float) -> str:
    """Names the peak the MFU refers to: ``peak = gpu.peak_flops(dtype)`` (the catalog's
    peak-for-dtype rule, :meth:`estimator.hardware.GPU.peak_flops`), identified as the GPU's
    dense FP8 or BF16 tensor-core figure, or, for fp32 training below the BF16 figure, the
    TF32 tensor-core rate fp32 matmuls run at."""
    tflops = f"{peak / 1e12:,.0f} TFLOP/s"
    if gpu.fp8_flops and peak == gpu.fp8_flops:
        kind = "dense FP8 tensor-core peak"
    elif peak == gpu.bf16_flops:
        kind = "dense BF16 tensor-core peak"
    elif dtype == "fp32":
        kind = (f"dense TF32 tensor-core peak ({peak / gpu.bf16_flops:.0%} of BF16; fp32 "
                "training runs its matmuls in TF32)")
    else:
        kind = f"dense {dtype} peak"
    return f"{kind}, {tflops} (gpu.peak_flops('{dtype}'), configs/hardware.yaml)"


def training_seconds(model_flops: float, num_gpus: int, peak_flops: float, mfu: float) -> float:
    """Wall-clock seconds: ``model FLOPs / (num_gpus · peak · MFU)``. MFU is model FLOPs per
    second over peak (PaLM, arXiv 2204.02311 App. B): recomputation does not count as useful
    work, so it lowers the MFU a job achieves rather than adding FLOPs here."""
    return model_flops / (num_gpus * peak_flops * mfu)


def attention_convention_note(spec: ModelSpec, seq_len: int, fwd: flops_mod.FlopBreakdown,
                              convention: str, predicted: bool = False) -> str | None:
    """What the attention convention does to time and cost when attention (``QKᵀ`` + ``A·V``)
    is more than ``ATTENTION_NOTE_FRACTION`` of the model FLOPs (long sequences), else ``None``.

    Time is ``model FLOPs / (GPUs · peak · MFU)``, so switching ``attention_flops`` between
    ``full`` (the executed square) and ``causal`` (a block-skipping kernel such as
    FlashAttention skips the masked half; :mod:`estimator.flops`) scales time and cost by the
    ratio of the two forward counts (:func:`estimator.flops.forward_flops`) at the same MFU.
    """
    share = fwd.attention_core / fwd.total
    if share <= ATTENTION_NOTE_FRACTION:
        return None
    other = "causal" if convention == "full" else "full"
    alt = flops_mod.forward_flops(spec, 1, seq_len, other, "all").total
    head = f"attention (QKᵀ + A·V) is {share:.0%} of the model FLOPs at seq_len={seq_len:,}"
    if predicted:  # the step-time model times the work the kernel executes, whatever counts
        ratio = alt / fwd.total
        return (f"{head}; the predicted step times the work the attention kernel executes "
                "(the causal half with flash_attention, the full square without), so the "
                f"convention changes the reported MFU, not time or cost: with "
                f"attention_flops='{other}' the MFU would read {ratio:.2f}x this one")
    if convention == "full":
        return (f"{head}; a causal kernel (FlashAttention) skips the masked half: with "
                f"attention_flops='causal' time and cost are {1 - alt / fwd.total:.0%} lower "
                "(at the same MFU)")
    return (f"{head}, counted causal (the masked half skipped, as FlashAttention runs it); with "
            f"attention_flops='full' (the executed square, e.g. eager attention) time and cost "
            f"are {alt / fwd.total - 1:.0%} higher (at the same MFU)")


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
    notes: tuple[str, ...] = ()
    mfu_source: str = "given"  # "predicted" (estimator/steptime.py) when the mfu option is 0
    step: Any = None  # the predicted step (steptime.StepTime), or None where it cannot be
    step_error: str = ""  # why there is no prediction (with a given MFU)
    tokens_per_step: int = 0

    @property
    def gpu_hours(self) -> float:
        return gpu_hours(self.seconds, self.num_gpus)

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
            "notes": list(self.notes),
            "mfu_source": self.mfu_source,
            "step_time_s": self.step_time_s,
            "step_breakdown": (dict(self.step.breakdown) if self.step is not None else None),
            "predicted_step": (self.step.to_dict() if self.step is not None
                               else {"error": self.step_error}),
        }

    @property
    def step_time_s(self) -> float | None:
        """Seconds of one optimizer step: the predicted step, or with a given MFU the step's
        model FLOPs at that MFU (``tokens_per_step`` of the seconds per token)."""
        if self.mfu_source == "predicted":
            return self.step.step_time_s
        if not self.tokens_per_step:
            return None
        return self.seconds * self.tokens_per_step / self.tokens

def gpu_hours(seconds: float, num_gpus: int) -> float:
    """GPU-hours of a run of ``seconds`` on ``num_gpus`` GPUs."""
    return seconds * num_gpus / SECONDS_PER_HOUR


def model_flops(fr: flops_mod.FlopReport, train_tokens: int) -> int:
    """Model FLOPs of training on ``train_tokens`` tokens: ``FORWARD_BACKWARD`` × the forward
    of one training sequence (``fr.train_forward``) per ``seq_len`` tokens (exact integer)."""
    return flops_mod.FORWARD_BACKWARD * fr.train_forward.total * train_tokens // fr.seq_len


def price(opts, gpu) -> tuple[float, str]:
    """$ per GPU-hour and where it comes from: the option when set, else the catalog's."""
    if opts.price_per_gpu_hour > 0:
        return opts.price_per_gpu_hour, "user (price_per_gpu_hour)"
    return gpu.price_per_hour_usd, (f"catalog: {gpu.id} on-demand price as of "
                                    f"{gpu.price_as_of} (configs/hardware.yaml)")


def predicted_step(spec: ModelSpec, opts, gpu, fr: flops_mod.FlopReport,
                   memory: TrainingMemory | None = None):
    """The step-time model's optimizer step (:func:`estimator.steptime.step_time`) for these
    options, fed the FLOPs section's training forward and, without recompute, the memory
    section's saved activations per layer (``memory``, when the caller has it)."""
    from . import steptime  # below the report, above this module (it reads the layout rules)
    saved = None
    if memory is not None and opts.recompute == "none":  # the memory section's own count
        saved = (memory.breakdown.get("dense_layer_total", 0),
                 memory.breakdown.get("moe_layer_total", 0))
    return steptime.step_time(spec, opts, gpu, saved_per_layer=saved,
                              forward_per_sequence=fr.train_forward.total)


def _predicted_mfu(spec: ModelSpec, opts, gpu, fr: flops_mod.FlopReport,
                   memory: TrainingMemory | None) -> float:
    """:func:`predicted_step`'s MFU; over a vectorized sweep's array operands, point by point
    (:func:`estimator.vector.pointwise`; the step-time model has no array form)."""
    try:
        hash((spec, opts))
    except TypeError:  # array operands
        from . import steptime

        return pointwise(lambda s, o: steptime.step_time(s, o, gpu).mfu, spec, opts)
    return predicted_step(spec, opts, gpu, fr, memory).mfu


def hours_and_cost(model, opts, gpu, fr: flops_mod.FlopReport,
                   memory: TrainingMemory | None = None) -> tuple[float, float]:
    """``(gpu_hours, cost_usd)`` of :func:`compute`, without its other figures and notes (the
    rows of comparisons and sweeps); raises what :func:`compute` raises. ``opts.mfu`` 0: at
    the predicted step's MFU (:func:`predicted_step`), as :func:`compute`."""
    spec = model.spec if hasattr(model, "spec") else model
    opts = training_defaults(opts)  # auto (0) tp/pp/ep read as 1 here
    parallel_plan(spec, opts)  # the same layout rules (errors name the field)
    mfu = opts.mfu or _predicted_mfu(spec, opts, gpu, fr, memory)
    seconds = training_seconds(model_flops(fr, int(round(opts.train_tokens))), opts.num_gpus,
                               gpu.peak_flops(opts.dtype), mfu)
    hours = gpu_hours(seconds, opts.num_gpus)
    return hours, hours * price(opts, gpu)[0]


def compute(model, opts, gpu, flops_report: flops_mod.FlopReport | None = None,
            memory: TrainingMemory | None = None) -> TrainingCompute:
    """Training compute, time and cost for ``opts.train_tokens`` tokens on ``opts.num_gpus``
    GPUs of type ``gpu`` at ``opts.mfu`` (FLOPs per token from :mod:`estimator.flops`;
    ``flops_report``, ``memory``: those sections for the same model and options, when the
    caller has them)."""
    spec = model.spec if hasattr(model, "spec") else model
    opts = training_defaults(opts)  # auto (0) tp/pp/ep read as 1 here
    fr = flops_report or flops_mod.compute(model, opts, gpu)
    tf = fr.train_forward  # one sequence of seq_len, logits on every position
    D = int(round(opts.train_tokens))
    seq = opts.seq_len
    mf = model_flops(fr, D)
    extra = flops_mod.recompute_flops(tf, opts.recompute) * D // seq
    pc = count_params(spec)
    parallel_plan(spec, opts)  # the same layout rules as the memory section (errors name the field)
    peak = gpu.peak_flops(opts.dtype)
    note = attention_convention_note(spec, seq, tf, opts.attention_flops,
                                     predicted=not opts.mfu)
    step, step_error = None, ""
    try:
        step = predicted_step(spec, opts, gpu, fr, memory)
    except EstimatorError as e:
        if not opts.mfu:  # nothing to predict the time from: the section says why
            raise
        step_error = str(e)
    if opts.mfu:
        mfu, mfu_source = opts.mfu, "given"
    else:
        mfu, mfu_source = step.mfu, "predicted"
    usd, src = price(opts, gpu)
    return TrainingCompute(
        tokens=D, seq_len=seq, model_flops_per_token=fr.training_model_flops_per_token,
        training_flops_per_token=fr.training_per_token,
        hardware_flops_per_token=fr.training_hardware_per_token,
        model_flops=mf, training_flops=mf + extra,
        six_n_d=flops_mod.SIX_N * pc.active_with_embedding * D, n_total=pc.total,
        n_active=pc.active_with_embedding,
        is_moe=spec.is_moe, num_gpus=opts.num_gpus, gpu_id=gpu.id, peak_flops=peak,
        peak_basis=peak_basis(gpu, opts.dtype, peak), mfu=mfu,
        seconds=training_seconds(mf, opts.num_gpus, peak, mfu),
        price_per_gpu_hour=usd, price_source=src, attention_flops=opts.attention_flops,
        recompute=opts.recompute,
        notes=tuple(n for n in (note, fr.mtp_note if spec.num_mtp_layers else "") if n),
        mfu_source=mfu_source,
        step=step, step_error=step_error,
        tokens_per_step=opts.micro_batch * opts.grad_accum * opts.dp * seq)


FORMULAS = [check_tensor_parallel_heads, default_etp, bytes_per_param, optimizer_state_bytes,
            zero_state_bytes, stage_layer_range, in_flight_microbatches, norm_terms,
            layer_activation_terms, apply_recompute, logits_bytes, attention_core_delta,
            zero3_buffer_bytes, zero3_backward_bytes, peak_basis, training_seconds,
            attention_convention_note, chinchilla_tokens, gpu_hours, model_flops, price,
            predicted_step, hours_and_cost, mtp_stage_params, mtp_trained]

__all__ = [f.__name__ for f in FORMULAS] + [
    "ParallelPlan", "parallel_plan", "BytesPerParam", "StageMemory", "TrainingMemory",
    "TrainingCompute", "activation_breakdown", "compute_memory", "compute",
    "korthikanti_layer_bytes"]
