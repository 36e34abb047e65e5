"""Inference memory: weights, KV cache, prefill activation peak and runtime overhead, per GPU.

Everything is exact integer bytes, built from named terms; each term's docstring says where its
value comes from. The four parts (REFERENCE.md §4):

* **Weights** — every parameter at the bytes of its storage format (:func:`tensor_bytes`). MoE
  memory follows *total* parameters: every expert must be resident, whatever ``k``. Quantized
  formats keep some tensors 16-bit (:data:`SIXTEEN_BIT_TENSORS`). Multi-token-prediction modules
  (DeepSeek-V3, GLM-4.5) are not loaded for plain decoding and are not counted.
* **KV cache** — per layer and token, the elements each layer caches (:func:`kv_elements_per_token`)
  times the tokens it keeps (:func:`cached_tokens`). Equal, byte for byte, to the cache tensors
  transformers 5.x holds after a ``use_cache=True`` forward (tests/test_memory_inference.py).
* **Activations** — the largest set of tensors live at once during one prefill forward of
  ``batch × seq_len`` tokens (:func:`activation_model`): a named, tensor-by-tensor model of a
  fused-kernel engine (flash attention, no ``s×s`` score matrix), not a measurement.
* **Overhead** — memory outside PyTorch's allocator (CUDA context, NCCL, CUDA graphs; measured by
  vLLM) plus the headroom an engine leaves free (``gpu_memory_utilization``).

Parallelism (one replica): ``tp`` splits attention heads, FFN widths and the vocabulary; ``ep``
splits the routed experts; ``pp`` splits layers into contiguous stages (vLLM's
``get_pp_indices``). A replica has ``pp · lcm(tp, ep)`` GPUs (MoE) or ``pp · tp`` (dense); when
``ep > tp`` the attention runs data-parallel over ``lcm/tp`` groups (vLLM/SGLang DP-attention with
expert parallelism) and ``batch`` sequences are spread over the groups. ``per_gpu`` is the busiest
GPU: the stage with the largest total.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass, field
from typing import Any

from . import compressed, shared_block
from ._frozen import direct_init, fresh, maximum, spec_cache
from .errors import EstimatorError
from .mixers import (
    indexer_key_bytes_per_token,
    indexer_matrix_params,
    indexer_params,
    mixer_matrix_params,
    mixer_params,
    recurrent_state_bytes,
    shared_indexer_layers,
    state_elements,
)
from .params import (
    attention_params,
    dense_ffn_params,
    expert_params,
    gate_width,
    hyper_connection_params,
    layer_attention_params,
    layer_norm_params,
    moe_norm_params,
    norm_params,
    residual_stream_params,
    router_params,
    shared_expert_params,
)
from .spec import ModelSpec

# ----------------------------------------------------------------------------------------------
# named constants
# ----------------------------------------------------------------------------------------------

#: Bytes per element of the plain formats (IEEE fp32/fp16, bfloat16, OCP FP8 E4M3/E5M2, int8).
BYTES_PER_ELEMENT = {"fp32": 4, "bf16": 2, "fp16": 2, "fp8": 1, "int8": 1}
BITS_PER_BYTE = 8
#: int4 (GPTQ/AWQ-style weight-only): 4-bit values, one fp16 scale per group of this many weights:
#: 128, the value in the usual published quantize configs (GPTQ ``"group_size": 128, "sym": true``;
#: AutoAWQ ``"q_group_size": 128``). Symmetric: no zero points (AWQ's ``zero_point: true`` adds a
#: packed 4-bit zero per group, +1/32 bit per weight, not counted).
INT4_BITS = 4
INT4_GROUP_SIZE = 128
INT4_SCALE_BYTES = 2
#: MXFP4 (OCP Microscaling Formats (MX) Specification v1.0): FP4 E2M1 values in blocks of 32 that
#: share one 8-bit E8M0 scale → 4 + 8/32 = 4.25 bits per value, as gpt-oss ships its experts.
MXFP4_BITS = 4
MXFP4_BLOCK_SIZE = 32
MXFP4_SCALE_BYTES = 1
#: The format of tensors that quantized checkpoints keep unquantized.
SIXTEEN_BIT_FORMAT = "bf16"
#: Tensors kept 16-bit by the int4/int8/fp8 formats (GPTQ/AWQ/llm-compressor quantize only the
#: Linear layers of the blocks, and skip ``lm_head``; routers are kept unquantized by vLLM's
#: MoE quantization methods and by gpt-oss's ``modules_to_not_convert``).
SIXTEEN_BIT_TENSORS = ("embedding", "lm_head", "router", "norms", "biases", "attention_sinks",
                       "shared_expert_gate", "router_correction_bias")
#: ... and the extra ones MXFP4 keeps in bf16: only routed-expert matrices are MXFP4 (gpt-oss
#: ``quantization_config.modules_to_not_convert``: self_attn, router, embed_tokens, lm_head).
MXFP4_SIXTEEN_BIT_EXTRA = ("attention", "dense_ffn", "shared_experts")

#: The dtype activations run in, by weight format: fp32/bf16/fp16 weights compute in their own
#: dtype; quantized weights compute in bf16 (weight-only int4 and MXFP4 dequantize to bf16;
#: fp8/int8 engines quantize activations per matmul, transiently, and keep bf16 between them).
ACTIVATION_DTYPE = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "fp8": "bf16", "int8": "bf16",
                    "int4": "bf16", "mxfp4": "bf16"}
#: Logits are upcast to fp32 before sampling (transformers ``generation/utils.py``:
#: ``outputs.logits[:, -1, :].to(dtype=torch.float32)``; vLLM's sampler does the same).
LOGITS_BYTES = 4

GIB = 2**30
#: Memory outside PyTorch's allocator (CUDA context, cuBLAS workspaces, NCCL buffers) as vLLM
#: measures it: "non_torch_memory 1.79GiB" for Llama-3-8B on one H100-80GB and "3.58GiB" with
#: ``-tp 2`` (vLLM PR #10511, memory profiling log, 2024-12). Other logs range from 0.16 GiB
#: (PR #12126) upward: treat as an order of magnitude, measure your own setup.
NON_TORCH_BYTES_ONE_GPU = round(1.79 * GIB)
NON_TORCH_BYTES_MULTI_GPU = round(3.58 * GIB)
#: PyTorch's cuBLAS workspace, one per (thread's handle, stream), allocated *through* the
#: caching allocator at the thread's first GEMM (ATen ``CublasHandlePool.cpp``; size set by
#: ``CUBLAS_WORKSPACE_CONFIG``, 32 MiB by default on Hopper). Measured on an H200 (torch 2.11,
#: CUDA 13): +33,554,432 bytes of ``memory_allocated`` at the main thread's first GEMM and again
#: at the first backward, whose autograd device thread has its own handle
#: (docs/validation/cuda.md, ``workspace_probe``). Inference holds one, training two
#: (:data:`CUBLAS_WORKSPACES_TRAINING`). Pre-Hopper GPUs default to less: an upper bound there.
CUBLAS_WORKSPACE_BYTES = 32 * 2**20
CUBLAS_WORKSPACES_INFERENCE = 1
CUBLAS_WORKSPACES_TRAINING = 2
#: Upper end of the context search for ``max_seq_len`` (16 Mi tokens).
MAX_SEQ_SEARCH = 2**24

KV_LAYOUTS = {
    "engine": "MLA caches the compressed latent, kv_lora_rank + qk_rope_head_dim per layer and "
              "token, one copy on every TP rank (vLLM/SGLang; transformers 5.x caches the same "
              "two tensors)",
    "transformers": "MLA caches decompressed per-head K (a·(qk_nope+qk_rope)) and V "
                    "(a·v_head_dim), split over TP by heads (transformers 4.x "
                    "modeling_deepseek_v3; V was padded to the K width only for flash_attention_2, "
                    "after the cache update)",
}


# ----------------------------------------------------------------------------------------------
# formats
# ----------------------------------------------------------------------------------------------

def tensor_bytes(n: int, fmt: str) -> int:
    """Bytes of ``n`` elements stored in ``fmt``.

    Plain formats: ``n · BYTES_PER_ELEMENT``. ``int4``: ``⌈n·4/8⌉`` + one ``INT4_SCALE_BYTES``
    scale per ``INT4_GROUP_SIZE`` weights (4.125 bits/weight). ``mxfp4``: ``⌈n·4/8⌉`` + one
    ``MXFP4_SCALE_BYTES`` E8M0 scale per ``MXFP4_BLOCK_SIZE`` values (4.25 bits/value; OCP MX v1.0).
    Groups are counted over the ``n`` elements together (exact when rows are multiples of the
    group, as in every preset).
    """
    if fmt in BYTES_PER_ELEMENT:
        return n * BYTES_PER_ELEMENT[fmt]
    if fmt == "int4":
        return -(-n * INT4_BITS // BITS_PER_BYTE) + -(-n // INT4_GROUP_SIZE) * INT4_SCALE_BYTES
    if fmt == "mxfp4":
        return -(-n * MXFP4_BITS // BITS_PER_BYTE) + -(-n // MXFP4_BLOCK_SIZE) * MXFP4_SCALE_BYTES
    raise EstimatorError("dtype", fmt, "unknown storage format")


def weight_formats(dtype: str) -> dict[str, str]:
    """Storage format of each tensor class for the ``dtype`` option.

    ``fp32``/``bf16``/``fp16``: everything in that dtype. ``fp8``/``int8``/``int4``: the matrices
    of attention, dense FFN, shared and routed experts quantized; :data:`SIXTEEN_BIT_TENSORS` in
    bf16. ``mxfp4``: routed-expert matrices in MXFP4 and everything else bf16, as gpt-oss ships
    (its model card: 60.8 GiB for gpt-oss-120b, 12.8 GiB for gpt-oss-20b).
    """
    if dtype in ("fp32", "bf16", "fp16"):
        return {"matrices": dtype, "routed_experts": dtype, "other": dtype}
    if dtype in ("fp8", "int8", "int4"):
        return {"matrices": dtype, "routed_experts": dtype, "other": SIXTEEN_BIT_FORMAT}
    if dtype == "mxfp4":
        return {"matrices": SIXTEEN_BIT_FORMAT, "routed_experts": "mxfp4",
                "other": SIXTEEN_BIT_FORMAT}
    raise EstimatorError("dtype", dtype, "must be one of fp32, bf16, fp16, fp8, int8, int4, mxfp4")


def sixteen_bit_tensors(dtype: str) -> list[str]:
    """Tensor classes a quantized ``dtype`` keeps in bf16 (empty for fp32/bf16/fp16)."""
    if dtype in ("fp32", "bf16", "fp16"):
        return []
    extra = MXFP4_SIXTEEN_BIT_EXTRA if dtype == "mxfp4" else ()
    return list(SIXTEEN_BIT_TENSORS) + list(extra)


def activation_bytes(dtype: str) -> int:
    """Bytes per activation element for weight ``dtype`` (:data:`ACTIVATION_DTYPE`)."""
    return BYTES_PER_ELEMENT[ACTIVATION_DTYPE[dtype]]


def resolve_kv_dtype(kv_dtype: str, dtype: str) -> str:
    """The KV-cache dtype in use: ``kv_dtype`` itself, or for ``"auto"`` the dtype activations
    run in (:data:`ACTIVATION_DTYPE` of the weight ``dtype``: fp32 → fp32, bf16/fp16 → the same,
    quantized weights → bf16), as inference engines' ``auto`` does (vLLM
    ``vllm/config/cache.py::CacheConfig.cache_dtype``: "if 'auto', will use model data type";
    SGLang ``--kv-cache-dtype auto`` likewise): a quantized checkpoint's model dtype is its
    16-bit compute dtype, not the format of its matrices."""
    return ACTIVATION_DTYPE[dtype] if kv_dtype == "auto" else kv_dtype


# ----------------------------------------------------------------------------------------------
# parallel layout
# ----------------------------------------------------------------------------------------------

def _cdiv(a: int, b: int) -> int:
    return -(-a // b)


@dataclass(frozen=True)
class Layout:
    """How one inference replica is split. ``group`` = GPUs per pipeline stage
    (``lcm(tp, ep)`` for MoE, ``tp`` for dense); ``etp`` = GPUs sharing one expert (``group/ep``);
    ``dp_attn`` = data-parallel attention groups per stage (``group/tp``)."""

    tp: int
    pp: int
    ep: int
    group: int
    etp: int
    dp_attn: int
    stage_layers: tuple[tuple[int, int], ...]  # [lo, hi) per stage

    @property
    def gpus(self) -> int:
        return self.pp * self.group


def pp_layer_ranges(num_layers: int, pp: int) -> tuple[tuple[int, int], ...]:
    """Contiguous layer ranges per pipeline stage, as vLLM splits them
    (``vllm/distributed/utils.py::get_pp_indices``): ``L // pp`` each, the remainder given one
    by one to the stages before the last (the last stage also holds the lm_head)."""
    if pp > num_layers:
        raise EstimatorError("pp", pp, f"must not exceed num_hidden_layers={num_layers}")
    parts = [num_layers // pp] * pp
    for i in range(2, num_layers % pp + 2):
        parts[-i] += 1
    out, lo = [], 0
    for n in parts:
        out.append((lo, lo + n))
        lo += n
    return tuple(out)


def check_tp(s: ModelSpec, tp: int) -> None:
    """Tensor-parallel sizes an inference engine accepts, as vLLM's attention layers assert
    them (``vllm/model_executor/models/llama.py::LlamaAttention`` and every family's copy):
    ``tp`` divides ``num_attention_heads`` (MLA and JetMoE MoA: the same rule on
    ``num_attention_heads``); KV heads split when ``g ≥ tp`` (``tp`` divides ``g``) and are
    replicated when ``g < tp`` (``g`` divides ``tp``). Raises :class:`EstimatorError` naming
    ``tp``. A model with no attention layer (Mamba) is split by its mixer instead: Mamba-1's
    inner width (``vllm/model_executor/layers/mamba/mamba_mixer.py``: ``in_proj`` a column-
    parallel ``intermediate_size``), Mamba-2's heads and groups (``mamba_mixer2.py``:
    ``num_heads % tp == 0`` and ``n_groups % tp == 0 or n_groups == 1``)."""
    m = s.mixer
    if m is not None and m.kind in ("rwkv4", "mlstm"):  # attention-free, no engine to split it
        if tp != 1:
            raise EstimatorError("tp", tp, f"must be 1 for a {m.kind} model: no serving engine "
                                 "has a tensor-parallel model of it")
        return
    if m is not None and hybrid_counts(s)[0] == 0 and m.kind in ("mamba", "mamba2"):
        if m.kind == "mamba" and m.inner % tp:
            raise EstimatorError("tp", tp, f"must divide the Mamba inner width {m.inner}")
        if m.kind == "mamba2" and (m.num_heads % tp or (m.num_k_heads % tp
                                                        and m.num_k_heads != 1)):
            raise EstimatorError("tp", tp, f"must divide the Mamba-2 heads ({m.num_heads}) and "
                                 f"groups ({m.num_k_heads}; or groups = 1)")
        return
    a, g = s.num_attention_heads, s.num_key_value_heads
    if a % tp:
        raise EstimatorError("tp", tp, f"must divide num_attention_heads={a}")
    if s.mla is None and (g % tp if g >= tp else tp % g):
        raise EstimatorError("tp", tp, f"must divide num_key_value_heads={g} or be a multiple "
                             "of it (KV heads are split, or replicated whole)")


@spec_cache(1024)  # geometry only (spec and split sizes), both hashable
def layout(s: ModelSpec, tp: int, pp: int, ep: int) -> Layout:
    """The replica layout for ``tp``/``pp``/``ep`` (module docstring); ``ep`` is ignored for a
    dense model; ``tp`` must be one an engine accepts (:func:`check_tp`). Zamba2's shared
    block (:mod:`estimator.shared_block`) is modelled on one GPU only."""
    if s.shared_block is not None and (tp > 1 or pp > 1):
        raise EstimatorError("tp" if tp > 1 else "pp", tp if tp > 1 else pp,
                             f"must be 1 for {s.model_type}: how engines place and split its "
                             "shared attention+MLP block over GPUs is not modelled")
    check_tp(s, tp)
    ep_eff = ep if s.is_moe else 1
    group = math.lcm(tp, ep_eff)
    return Layout(tp=tp, pp=pp, ep=ep_eff, group=group, etp=group // ep_eff,
                  dp_attn=group // tp, stage_layers=pp_layer_ranges(s.num_hidden_layers, pp))


# ----------------------------------------------------------------------------------------------
# weights
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class LayerParams:
    """Parameters one GPU holds per layer, by tensor class (``tp=ep=1``: the whole layer).

    ``*_mat``: the matrices a quantized format quantizes; ``*_extra``: biases, norms inside the
    block, sinks, gates (16-bit). Attention matrices split by heads (``⌈a/tp⌉`` query heads,
    ``⌈g/tp⌉`` KV heads: replicated when ``g < tp``, as vLLM's ``QKVParallelLinear`` does); MLA's
    down-projections (``q_a_proj``, ``kv_a_proj_with_mqa``) are replicated (vLLM
    ``ReplicatedLinear``); FFN widths split by ``tp`` (experts by ``etp``); routers, layer norms
    and the correction-bias buffer are replicated; other 16-bit extras follow their block (/tp).
    """

    attn_mat: int
    attn_extra: int
    layer_norms: int
    dense_mat: int
    dense_extra: int
    shared_mat: int
    shared_extra: int
    router: int
    expert_mat: int  # all experts this GPU holds
    expert_extra: int
    moe_other: int
    buffers: int
    experts_per_gpu: int
    # hybrids: one mixer layer's matrices / small tensors (estimator/mixers.py), split over tp
    # (vLLM shards Gated DeltaNet and Mamba heads over tensor parallelism)
    mixer_mat: int = 0
    mixer_extra: int = 0


def _n_ffn_mats(s: ModelSpec) -> int:
    return 3 if s.gated_ffn else 2


def attention_matrix_params(s: ModelSpec, tp: int = 1) -> int:
    """Attention matrices one GPU holds at tensor-parallel ``tp`` (see :class:`LayerParams`).

    Standard: ``2·h·d·⌈a/tp⌉`` (q, o) + ``2·h·d·⌈g/tp⌉`` (k, v). MoA (JetMoE): k, v as standard
    plus ``E_attn`` experts' q/o of ``g`` heads each. MLA: per-head ``q_b_proj``/``q_proj``,
    ``kv_b_proj``, ``o_proj`` over ``⌈a/tp⌉`` heads, plus the replicated ``q_a_proj`` and
    ``kv_a_proj_with_mqa`` (shapes of transformers' ``modeling_deepseek_v3``).
    """
    h, d = s.hidden_size, s.head_dim
    a_l = _cdiv(s.num_attention_heads, tp)
    g_l = _cdiv(s.num_key_value_heads, tp)
    head_gate = h * a_l if s.attention_head_gate else 0  # g_proj h → a, split by heads
    if s.mla is not None:
        m = s.mla
        q = (h * a_l * m.qk_head_dim if m.q_lora_rank is None
             else h * m.q_lora_rank + m.q_lora_rank * a_l * m.qk_head_dim)
        if m.q_gate:  # A.X-K2: q_gate_proj (2·r_q → a·(qk + v), split by head) for q_b_proj
            q = h * m.q_lora_rank + 2 * m.q_lora_rank * a_l * (m.qk_head_dim + m.v_head_dim)
        kv = h * (m.kv_lora_rank + m.qk_rope_head_dim)
        kv += m.kv_lora_rank * a_l * (m.qk_nope_head_dim + m.v_head_dim)
        gate = h * a_l * m.v_head_dim if m.gate_proj else 0  # HY-V4's gate_proj, colwise
        # DSA's indexer (one key head, Hi small heads): replicated on every TP rank, as the
        # latent projections are
        return q + kv + gate + a_l * m.v_head_dim * h + head_gate + indexer_matrix_params(m, h)
    if s.moa is not None:
        return 2 * h * d * g_l + s.moa.num_experts * 2 * h * d * g_l
    gate = h * d * a_l if s.attention_output_gate else 0  # Qwen3-Next's gate, with q
    return 2 * h * d * a_l + 2 * h * d * g_l + gate + head_gate


# Cached per (spec, split): spec-only counts, read by every stage model of every estimate.
@spec_cache(1024)
def layer_params(s: ModelSpec, tp: int = 1, ep: int = 1, etp: int = 1) -> LayerParams:
    """Per-layer parameters one GPU holds (:class:`LayerParams`); ``tp=ep=etp=1`` gives the
    unsharded layer, whose parts add up to :func:`~estimator.params.count_params`."""
    h = s.hidden_size
    n_mats = _n_ffn_mats(s)
    attn_mat_full = attention_matrix_params(s)
    attn_extra_full = attention_params(s) - attn_mat_full
    dense_mat = dense_extra = shared_mat = shared_extra = 0
    if s.num_dense_layers:
        dense_extra = dense_ffn_params(s) - n_mats * h * s.intermediate_size
        dense_mat = n_mats * h * _cdiv(s.intermediate_size, tp)
        dense_extra = _cdiv(dense_extra, tp)
    router = expert_mat = expert_extra = moe_other = buffers = experts_local = 0
    if s.is_moe:
        if s.num_shared_experts:
            f_sh = s.shared_expert_intermediate_size
            shared_mat = n_mats * h * _cdiv(f_sh, tp)
            shared_extra = _cdiv(shared_expert_params(s) - n_mats * h * f_sh, tp)
        router = router_params(s)
        experts_local = _cdiv(s.num_experts, ep)
        f_e = s.moe_intermediate_size
        expert_mat = experts_local * n_mats * h * _cdiv(f_e, etp)
        expert_extra = experts_local * _cdiv(expert_params(s) - n_mats * h * f_e, etp)
        moe_other = h if s.moe_output_bias else 0
        buffers = s.router_width if s.router_score_correction_bias else 0
    mixer_mat = mixer_extra = 0
    if s.mixer is not None:
        m_mat = mixer_matrix_params(s.mixer, h)
        mixer_mat = _cdiv(m_mat, tp)
        mixer_extra = _cdiv(mixer_params(s.mixer, h) - m_mat, tp)
    return LayerParams(
        mixer_mat=mixer_mat, mixer_extra=mixer_extra,
        attn_mat=attention_matrix_params(s, tp), attn_extra=_cdiv(attn_extra_full, tp),
        layer_norms=layer_norm_params(s), dense_mat=dense_mat, dense_extra=dense_extra,
        shared_mat=shared_mat, shared_extra=shared_extra, router=router, expert_mat=expert_mat,
        expert_extra=expert_extra, moe_other=moe_other, buffers=buffers,
        experts_per_gpu=experts_local)


def stage_weight_bytes(s: ModelSpec, lp: LayerParams, fmts: dict[str, str], n_layers: int,
                       n_moe: int, first: bool, last: bool, tp: int, pp: int,
                       *, nbytes=None, vision: bool = True,
                       layers: tuple[int, int] | None = None) -> dict[str, int]:
    """Weight bytes one GPU of a pipeline stage holds, by component.

    Layers as in :class:`LayerParams`; the embedding (vocabulary split over ``tp``, vLLM
    ``VocabParallelEmbedding``; learned positions replicated, vLLM's GPT-2 ``nn.Embedding``) on
    the first stage (BLOOM's embedding norm with it); the final norm and the lm_head (split over
    ``tp``) on the last. A tied lm_head costs nothing at ``pp=1`` and is a second copy of the
    embedding on the last stage at ``pp>1`` (Megatron and vLLM both keep one per end).
    ``other`` = JetMoE's post-mix bias and DeepSeek-V3's correction-bias buffer. ``vision``: a
    multimodal wrapper's vision encoder and projector (``vision`` true: loaded, as engines do),
    on the first stage, split over ``tp`` (vLLM's default ``mm_encoder_tp_mode="weights"``), in
    the 16-bit format of the non-matrix tensors when the matrices are quantized (quantization
    recipes skip the vision tower).
    ``nbytes(n, fmt)``: bytes of ``n`` elements (default :func:`tensor_bytes`; the what-if
    variants pass :func:`estimator.quant.tensor_bytes`, which adds block formats).
    """
    tensor_bytes_ = nbytes or tensor_bytes
    h, V = s.hidden_size, s.vocab_size
    mat, exp, oth = fmts["matrices"], fmts["routed_experts"], fmts["other"]
    n_dense = n_layers - n_moe
    n_attn, n_mix = n_layers, 0
    if s.is_hybrid:  # hybrids: the stage's own mix of layer kinds (``layers``: [lo, hi))
        n_attn, n_mix, n_ffnless = hybrid_counts(s, *(layers or (0, n_layers)))
        n_dense -= n_ffnless
    v_l = _cdiv(V, tp)
    lo, hi = layers or (0, n_layers)
    # HY-V4: the stage's layers that share an indexer's top-k hold no indexer (matrices
    # replicated like the latent projections, its k_norm split with the other vectors), and its
    # hyper-connections (replicated: not in transformers' tp plan), the head on the last stage
    no_idx = shared_indexer_layers(s, lo, hi)
    idx_mat = no_idx * indexer_matrix_params(s.mla, h) if no_idx else 0
    idx_vec = no_idx * _cdiv(indexer_params(s.mla, h) - indexer_matrix_params(s.mla, h), tp) \
        if no_idx else 0
    hc = sum(hyper_connection_params(s, hi - lo, last))
    lm = 0
    if last:
        vh_l = _cdiv(s.head_vocab_size, tp)  # a pruned head (Apertus-1.5): fewer rows
        if not s.tie_word_embeddings or pp > 1:
            lm = vh_l * h
        lm += vh_l if s.lm_head_bias else 0  # its own tensor even when the weight is tied (CTRL)
    return {
        "embedding": tensor_bytes_(v_l * h + s.position_embeddings * h, oth) if first else 0,
        "attention": (tensor_bytes_(n_attn * lp.attn_mat - idx_mat, mat)
                      + tensor_bytes_(n_attn * lp.attn_extra - idx_vec, oth)),
        "dense_ffn": (tensor_bytes_(n_dense * lp.dense_mat, mat)
                      + tensor_bytes_(n_dense * lp.dense_extra, oth)),
        "shared_experts": (tensor_bytes_(n_moe * lp.shared_mat, mat)
                           + tensor_bytes_(n_moe * lp.shared_extra, oth)),
        "routed_experts": (tensor_bytes_(n_moe * lp.expert_mat, exp)
                           + tensor_bytes_(n_moe * lp.expert_extra, oth)),
        "router": tensor_bytes_(n_moe * lp.router, oth),
        "norms": tensor_bytes_(n_layers * lp.layer_norms
                               + (norm_params(s, h) if last and s.final_norm else 0)
                               + (norm_params(s, h) if first and s.embedding_norm else 0)
                               + n_moe * moe_norm_params(s), oth),
        "lm_head": tensor_bytes_(lm, oth),
        "other": tensor_bytes_(n_moe * (lp.moe_other + lp.buffers) + hc, oth),
        "vision": tensor_bytes_(_cdiv(s.vision_params, tp), oth) if first and vision else 0,
        "sequence_mixers": (tensor_bytes_(n_mix * lp.mixer_mat, mat)
                            + tensor_bytes_(n_mix * lp.mixer_extra, oth)) if n_mix else 0,
    } if not s.has_layer_shapes and s.compressed_attention is None \
        and s.shared_block is None else _shared_block_weights(s, fmts, lm, tensor_bytes_) \
        if s.shared_block is not None else (
        _layer_shaped_stage_weights(s, lp, fmts, layers or (0, n_layers), first, last, tp, lm,
                                    tensor_bytes_, vision)
        if s.has_layer_shapes else _compressed_stage_weights(
            s, lp, fmts, layers or (0, n_layers), first, last, tp, lm, tensor_bytes_))


def _shared_block_weights(s: ModelSpec, fmts: dict[str, str], lm: int, nbytes
                          ) -> dict[str, int]:
    """:func:`stage_weight_bytes` of Zamba2 on one GPU (:func:`layout` allows no other): the
    shared blocks once, the per-use linears and LoRA adapters (matrices: ``attention`` holds
    the blocks' q/k/v/o, the q/k/v adapters and the linears, ``dense_ffn`` the MLPs and their
    adapters), every layer's Mamba-2 mixer and norm (:mod:`estimator.shared_block`)."""
    h, L, V = s.hidden_size, s.num_hidden_layers, s.vocab_size
    mat, oth = fmts["matrices"], fmts["other"]
    U, M = len(s.shared_block.uses), shared_block.blocks(s)
    mlp = shared_block.block_mlp_params(s)
    mlp_mat = 3 * h * s.intermediate_size
    m_mat = mixer_matrix_params(s.mixer, h)
    A = shared_block.adapter_sets(s)
    attn = (M * shared_block.block_attention_params(s)
            + A * shared_block.attention_adapter_params(s)
            + U * shared_block.per_use_linear_params(s))
    return {
        "embedding": nbytes(V * h, oth), "attention": nbytes(attn, mat),
        "dense_ffn": (nbytes(M * mlp_mat + A * shared_block.mlp_adapter_params(s), mat)
                      + nbytes(M * (mlp - mlp_mat), oth)),
        "shared_experts": 0, "routed_experts": 0, "router": 0,
        "norms": nbytes(L * layer_norm_params(s) + norm_params(s, h)
                        + M * shared_block.block_norm_params(s), oth),
        "lm_head": nbytes(lm, oth), "other": 0, "vision": 0,
        "sequence_mixers": (nbytes(L * m_mat, mat)
                            + nbytes(L * (mixer_params(s.mixer, h) - m_mat), oth)),
    }


def _compressed_stage_weights(s: ModelSpec, lp: LayerParams, fmts: dict[str, str],
                              layers: tuple[int, int], first: bool, last: bool, tp: int,
                              lm: int, nbytes) -> dict[str, int]:
    """:func:`stage_weight_bytes` of DeepSeek-V4 (:func:`estimator.compressed.stage_parts`):
    attention, compressors and hyper-connections layer by layer and replicated on every TP
    rank (transformers' ``DeepseekV4Config.base_model_tp_plan`` shards only the routed
    experts: one shared K=V head and the grouped output do not split by heads); experts,
    router and shared expert as every MoE layer's (:class:`LayerParams`); the hyper head on the
    last stage; the hash tables and score biases of the stage's MoE layers."""
    mat, exp, oth = fmts["matrices"], fmts["routed_experts"], fmts["other"]
    lo, hi = layers
    part = compressed.stage_parts(s, lo, hi, last)
    n_moe = sum(1 for i in s.moe_layers if lo <= i < hi)
    h = s.hidden_size
    return {
        "embedding": nbytes(_cdiv(s.vocab_size, tp) * h, oth) if first else 0,
        "attention": nbytes(part["attention_mat"], mat) + nbytes(part["attention_vec"], oth),
        "dense_ffn": 0,
        "shared_experts": (nbytes(n_moe * lp.shared_mat, mat)
                           + nbytes(n_moe * lp.shared_extra, oth)),
        "routed_experts": nbytes(n_moe * lp.expert_mat, exp) + nbytes(n_moe * lp.expert_extra, oth),
        "router": nbytes(n_moe * lp.router, oth),
        "norms": nbytes((hi - lo) * lp.layer_norms + (norm_params(s, h) if last else 0), oth),
        "lm_head": nbytes(lm, oth),
        "other": nbytes(part["hc_mat"], mat) + nbytes(part["hc_vec"] + part["buffers"], oth),
        "vision": 0,
        "sequence_mixers": 0,
    }


def _layer_shaped_stage_weights(s: ModelSpec, lp: LayerParams | None, fmts: dict[str, str],
                                layers: tuple[int, int], first: bool, last: bool, tp: int,
                                lm: int, nbytes, vision: bool) -> dict[str, int]:
    """:func:`stage_weight_bytes` of a spec with per-layer shapes (Gemma-4), layer by layer over
    ``[lo, hi)``: each layer's attention at its own shape (:func:`~estimator.params.
    layer_attention_params`; matrices over ``⌈a/tp⌉`` query and ``⌈g_i/tp⌉`` K/V heads), its
    dense MLP at its own width (double-wide layers) split over ``tp``, the per-layer-input gate
    and projection (split over ``tp``), routers and norms replicated; the per-layer embedding
    table and the input projection on the first stage, split over ``tp`` like the embedding;
    Gemma-3n's AltUp and LAuReL (:func:`~estimator.params.residual_stream_params`) as vLLM's
    ``gemma3n.py`` splits them (comment below; the projections into the streams on the first
    stage, out of them on the last; vLLM keeps AltUp's ``correct_output_scale`` in fp32, ``4·h``
    bytes a layer, counted in the 16-bit format here).
    At ``tp = 1`` the parts add up to :func:`~estimator.params.count_params`."""
    mat, exp, oth = fmts["matrices"], fmts["routed_experts"], fmts["other"]
    h, f, p = s.hidden_size, s.intermediate_size, s.per_layer_input_size
    lo, hi = layers
    n_moe = sum(1 for i in s.moe_layers if lo <= i < hi)
    wide = set(s.wide_ffn_layers)
    n_mats = _n_ffn_mats(s)
    attn_mat = attn_extra = dense = 0
    for i in range(lo, hi):
        a = s.query_heads(i)
        g, d, dv, k_eq_v, owns_kv = s.layer_attention_shape(i)
        kv = (d + (0 if k_eq_v else dv)) if owns_kv else 0
        gate = gate_width(s, i)  # Laguna's g_proj: split by heads like q
        full_mat = h * a * (d + dv) + h * g * kv + h * gate
        attn_mat += (h * _cdiv(a, tp) * (d + dv) + h * _cdiv(g, tp) * kv
                     + h * _cdiv(gate, tp))
        attn_extra += _cdiv(layer_attention_params(s, i) - full_mat, tp)
        if s.moe_beside_dense or i not in s.moe_layers:
            dense += n_mats * h * _cdiv(f * (2 if i in wide else 1), tp)
    L = s.num_hidden_layers
    n, r = s.altup_num_inputs, s.laurel_rank
    # Gemma-3n as vLLM lays it out (vllm/model_executor/models/gemma3n.py): the per-layer
    # gate and projection replicated (ReplicatedLinear), AltUp's router and coefficients
    # replicated, LAuReL split by its rank (Column/RowParallelLinear), the stream projections
    # into AltUp (first stage) and out of it (last stage) split by output (ColumnParallel)
    ple_layer_mats = 2 * h * (p if n else _cdiv(p, tp)) * (hi - lo) if p else 0
    rs_mats, rs_vecs, rs_norms, _ = residual_stream_params(s)
    rs_mats = ((hi - lo) * (rs_mats - 2 * h * r + 2 * h * _cdiv(r, tp))
               + ((n - 1) * h * _cdiv(h, tp) * (first + last) if n else 0))
    # experts and routers are uniform across layers: the caller's LayerParams, split over
    # ep/etp as the layout splits them (recomputing them at tp alone kept every expert on
    # every GPU); none given: at tp alone
    lp = lp or layer_params(s, tp)
    router = n_moe * (lp.router + ((h + s.num_experts) if s.moe_beside_dense else 0))
    norms = ((hi - lo) * (layer_norm_params(s) + (norm_params(s, h) if p else 0) + rs_norms)
             + (norm_params(s, h) if last and s.final_norm else 0)
             + (norm_params(s, p) if first and p else 0)
             + (3 * n_moe * norm_params(s, h) if s.moe_beside_dense else 0))
    v_l = _cdiv(s.vocab_size, tp)
    return {
        "embedding": nbytes(v_l * h + (_cdiv(s.per_layer_input_vocab, tp) * L * p if p else 0),
                            oth) if first else 0,
        "attention": nbytes(attn_mat, mat) + nbytes(attn_extra, oth),
        "dense_ffn": nbytes(dense, mat),
        "shared_experts": (nbytes(n_moe * lp.shared_mat, mat)
                           + nbytes(n_moe * lp.shared_extra, oth)),  # Laguna's
        "routed_experts": nbytes(n_moe * lp.expert_mat, exp) + nbytes(n_moe * lp.expert_extra, oth),
        "router": nbytes(router, oth),
        "norms": nbytes(norms, oth),
        "lm_head": nbytes(lm, oth),
        "other": (nbytes(ple_layer_mats + (_cdiv(h * L * p, tp) if first and p else 0)
                         + rs_mats, mat)
                  # MiMo's e_score_correction_bias, AltUp's output scales
                  + nbytes(n_moe * lp.buffers + (hi - lo) * rs_vecs, oth)),
        "vision": nbytes(_cdiv(s.vision_params, tp), oth) if first and vision else 0,
        "sequence_mixers": 0,
    }


@spec_cache(1024)  # spec-only; shared by the reports of a spec: read it, never mutate it
def weight_bytes(s: ModelSpec, dtype: str, vision: bool = True) -> dict[str, int]:
    """Weight bytes of the whole model (one copy, no parallelism) in ``dtype``, by component
    (:func:`stage_weight_bytes` with one stage on one GPU). Routed experts: all ``E`` of them."""
    return stage_weight_bytes(s, layer_params(s), weight_formats(dtype), s.num_hidden_layers,
                              s.num_moe_layers, True, True, 1, 1, vision=vision)

@spec_cache(1024)  # spec-only
def hybrid_counts(s: ModelSpec, lo: int = 0, hi: int | None = None) -> tuple[int, int, int]:
    """``(softmax-attention layers, mixer layers, FFN-less layers)`` among layers ``[lo, hi)``
    (:attr:`~estimator.spec.ModelSpec.layer_kinds`; Falcon-H1's parallel layers count in
    both; Zamba2's uses of its shared block count as attention layers)."""
    hi = s.num_hidden_layers if hi is None else hi
    mix = sum(1 for i in s.mixer_layers if lo <= i < hi)
    none = sum(1 for i in s.mixerless_layers if lo <= i < hi)
    attn = (hi - lo) - none - (0 if s.parallel_mixer else mix)
    if s.shared_block is not None:  # Zamba2: each use of the shared block attends (and caches)
        attn = sum(1 for i in s.shared_block.uses if lo <= i < hi)
    return attn, mix, sum(1 for i in s.ffnless_layers if lo <= i < hi)


def state_bytes(s: ModelSpec, batch: int, dtype: str = "bf16", kv_layout: str = "engine",
                tp: int = 1, layers: tuple[int, int] | None = None) -> int:
    """Per-sequence state of the hybrid mixers on one GPU, constant in context length:
    conv and recurrent states (:func:`estimator.mixers.state_elements`) × ``batch`` × bytes of
    ``dtype`` (the model's activation dtype: vLLM's ``mamba_ssm_cache_dtype="auto"``; fp32
    SSM states double the recurrent part), split over ``tp`` by heads. RecurrentGemma's
    RG-LRU state is fp32 whatever ``dtype`` (:func:`estimator.mixers.recurrent_state_bytes`):
    counted in ``dtype`` units, ``4 // bytes`` per element."""
    if s.mixer is None:
        return 0
    _, n_mix, _ = hybrid_counts(s, *(layers or (0, s.num_hidden_layers)))
    el = state_elements(s.mixer, s.hidden_size, "transformers" if kv_layout == "transformers"
                        else "engine")
    b = BYTES_PER_ELEMENT[dtype]
    rec = el["recurrent"] * (recurrent_state_bytes(s.mixer, b) // b)
    return batch * n_mix * _cdiv(el["conv"] + rec, tp) * b


# ----------------------------------------------------------------------------------------------
# KV cache
# ----------------------------------------------------------------------------------------------

def kv_elements_per_token(s: ModelSpec, kv_layout: str = "engine", tp: int = 1) -> int:
    """Elements one layer caches per token on one GPU (DeepSeek-V2, arXiv 2405.04434 Table 1).

    MHA/GQA/MQA: ``2·g·d`` (K and V of ``g`` KV heads; ``2·⌈g/tp⌉·d`` per GPU: heads split over
    TP and replicated when ``g < tp``, as vLLM does). JetMoE MoA: the same with ``g`` =
    ``num_key_value_heads`` and ``d`` = ``kv_channels``. MLA, ``kv_layout="engine"``: the latent
    ``kv_lora_rank + qk_rope_head_dim`` (DeepSeek-V3: 576), on every TP rank;
    ``"transformers"``: ``a·(qk_nope + qk_rope) + a·v_head_dim``, ``⌈a/tp⌉`` heads per GPU
    (see :data:`KV_LAYOUTS`).
    """
    if s.mla is not None:
        m = s.mla
        if kv_layout == "engine":
            return m.kv_lora_rank + m.qk_rope_head_dim
        if kv_layout == "transformers":
            return _cdiv(s.num_attention_heads, tp) * (m.qk_head_dim + m.v_head_dim)
        raise EstimatorError("kv_cache", kv_layout, "must be 'engine' or 'transformers'")
    return 2 * _cdiv(s.num_key_value_heads, tp) * s.head_dim


def kv_bytes_per_token(s: ModelSpec, kv_dtype: str, kv_layout: str = "engine", tp: int = 1) -> int:
    """Bytes one attention layer caches per token on one GPU: :func:`kv_elements_per_token` ×
    bytes of ``kv_dtype``, plus (DeepSeek Sparse Attention) the indexer's key, one head
    replicated on every TP rank (:func:`estimator.mixers.indexer_key_bytes_per_token`: fp8 +
    fp32 block scales with ``engine``, the model dtype with ``transformers``)."""
    b = BYTES_PER_ELEMENT[kv_dtype]
    kv = kv_elements_per_token(s, kv_layout, tp) * b
    if s.mla is not None and s.mla.index_n_heads:
        kv += indexer_key_bytes_per_token(s.mla, kv_layout, b)
    return kv


def indexer_cache_bytes(s: ModelSpec, batch: int, seq_len: int, kv_dtype: str = "bf16",
                        kv_layout: str = "engine", layers: tuple[int, int] | None = None) -> int:
    """The part of :func:`kv_cache_bytes` that is DSA's indexer key cache (every cached token
    of every attention layer; 0 without an indexer)."""
    if s.mla is None or not s.mla.index_n_heads:
        return 0
    lo, hi = layers or (0, s.num_hidden_layers)
    n = hybrid_counts(s, lo, hi)[0] if s.is_hybrid else hi - lo
    n -= shared_indexer_layers(s, lo, hi)  # HY-V4: layers that share a top-k cache no keys
    return (batch * n * seq_len
            * indexer_key_bytes_per_token(s.mla, kv_layout, BYTES_PER_ELEMENT[kv_dtype]))


def cached_tokens(seq_len: int, window: int | None) -> int:
    """Tokens one layer keeps for a sequence of ``seq_len``: all of them on a full-attention
    layer; ``min(seq_len, window − 1)`` on a sliding-window or chunked layer, exactly what
    transformers' ``DynamicSlidingWindowLayer`` keeps (``cache_utils.py``: "Only cache the last
    ``sliding_window - 1`` tokens"; the next query's own key completes the window). Llama-4's
    chunked layers use the same cache class with ``attention_chunk_size``."""
    if window is None:
        return seq_len
    return min(seq_len, window - 1)


@spec_cache(1024)  # spec-only; the MoE-layer count scans the index tuple
def layer_kinds(s: ModelSpec, lo: int = 0, hi: int | None = None) -> tuple[int, int, int]:
    """``(layers, MoE layers, sliding/chunked layers)`` among layers ``[lo, hi)``."""
    hi = s.num_hidden_layers if hi is None else hi
    moe = sum(1 for i in s.moe_layers if lo <= i < hi)
    slide = sum(1 for i in s.sliding_window_layers if lo <= i < hi)
    return hi - lo, moe, slide


def layer_shaped_kv_bytes_per_token(s: ModelSpec, kv_dtype: str, tp: int = 1,
                                    layers: tuple[int, int] | None = None) -> tuple[int, int]:
    """``(full, sliding)``: KV bytes per cached token summed over the full-attention and over
    the sliding layers among ``[lo, hi)`` of a spec with per-layer attention shapes (Gemma-4,
    ``modeling_gemma4.Gemma4TextAttention``; MiMo-V2-Flash). A layer that owns its K/V caches
    ``⌈g_i/tp⌉·(d_i + dv_i)`` elements per token (K and V both, also where values reuse the key
    projection: ``cache.update`` stores both); a K/V-sharing layer caches nothing."""
    lo, hi = layers or (0, s.num_hidden_layers)
    slide = set(s.sliding_window_layers)
    full = sliding = 0
    for i in range(lo, hi):
        g, d, dv, _, owns_kv = s.layer_attention_shape(i)
        if owns_kv:
            if i in slide:
                sliding += _cdiv(g, tp) * (d + dv)
            else:
                full += _cdiv(g, tp) * (d + dv)
    b = BYTES_PER_ELEMENT[kv_dtype]
    return full * b, sliding * b


def kv_cache_bytes(s: ModelSpec, batch: int, seq_len: int, kv_dtype: str = "bf16",
                   kv_layout: str = "engine", tp: int = 1, layers: tuple[int, int] | None = None
                   ) -> int:
    """KV-cache bytes of ``batch`` sequences of ``seq_len`` tokens on one GPU: per layer
    :func:`kv_elements_per_token` × :func:`cached_tokens` × bytes of ``kv_dtype``, summed over
    the full and the sliding layers of ``layers`` (``[lo, hi)``, default all); hybrids: only
    their softmax-attention layers (the mixers' constant state is :func:`state_bytes`).
    Quantized KV formats' per-tensor scales are ignored. DeepSeek-V4: every layer's window of
    raw K=V rows plus its compressed entries (:func:`estimator.compressed.kv_cache_bytes`,
    whole model, one GPU)."""
    if s.compressed_attention is not None:
        return compressed.kv_cache_bytes(s, batch, seq_len, BYTES_PER_ELEMENT[kv_dtype],
                                         kv_layout)
    if s.has_layer_shapes:  # Gemma-4: shapes and K/V ownership by layer
        full, slide = layer_shaped_kv_bytes_per_token(s, kv_dtype, tp, layers)
        return batch * (full * seq_len + slide * cached_tokens(seq_len, s.sliding_window))
    n, _, n_slide = layer_kinds(s, *(layers or (0, s.num_hidden_layers)))
    if s.is_hybrid:  # only softmax-attention layers cache tokens
        n = hybrid_counts(s, *(layers or (0, s.num_hidden_layers)))[0]
    tokens = (n - n_slide) * seq_len + n_slide * cached_tokens(seq_len, s.sliding_window)
    return (batch * tokens * kv_bytes_per_token(s, kv_dtype, kv_layout, tp)
            - batch * seq_len * _shared_indexer_key_bytes(s, kv_dtype, kv_layout,
                                                          *(layers or (0, s.num_hidden_layers))))


def _shared_indexer_key_bytes(s: ModelSpec, kv_dtype: str, kv_layout: str, lo: int,
                              hi: int) -> int:
    """Indexer-key bytes per token that :func:`kv_bytes_per_token` counts on every layer of
    ``[lo, hi)`` but HY-V4's top-k-sharing layers do not cache (no indexer: no
    ``update_indexer``); 0 elsewhere."""
    n = shared_indexer_layers(s, lo, hi)
    return n * indexer_key_bytes_per_token(s.mla, kv_layout, BYTES_PER_ELEMENT[kv_dtype]) \
        if n else 0


# ----------------------------------------------------------------------------------------------
# activations
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ActivationModel:
    """Per-token element counts of the prefill phases on one GPU (see :func:`activation_model`);
    :meth:`terms` turns them into bytes for ``tokens`` tokens of ``sequences`` sequences."""

    hidden: int
    attention: int
    dense_ffn: int
    moe_per_token: int
    moe_per_pair: int
    pairs_per_token: tuple[int, int]  # (numerator, denominator): dp_attn·k / ep
    logits_per_sequence: int  # fp32 elements
    act_bytes: int

    def peak(self, tokens: int, sequences: int) -> int:
        """:func:`activation_peak` of :meth:`terms`, without building the dict."""
        T = tokens
        moe = 0
        if self.moe_per_pair:
            pairs = -(-T * self.pairs_per_token[0] // self.pairs_per_token[1])
            moe = T * self.moe_per_token + pairs * self.moe_per_pair
        layer = maximum(self.attention * T, self.dense_ffn * T, moe) * self.act_bytes
        return (T * self.hidden * self.act_bytes
                + maximum(layer, sequences * self.logits_per_sequence * LOGITS_BYTES))

    def terms(self, tokens: int, sequences: int) -> dict[str, int]:
        T, ab = tokens, self.act_bytes
        moe = 0
        if self.moe_per_pair:
            pairs = -(-T * self.pairs_per_token[0] // self.pairs_per_token[1])
            moe = (T * self.moe_per_token + pairs * self.moe_per_pair) * ab
        return {"residual": T * self.hidden * ab, "attention": T * self.attention * ab,
                "dense_ffn": T * self.dense_ffn * ab, "moe": moe,
                "logits": sequences * self.logits_per_sequence * LOGITS_BYTES}


# Cached: per-token element counts of one GPU depend only on the spec and the split.
@spec_cache(1024)
def activation_model(s: ModelSpec, lay: Layout, act_bytes: int, last_stage: bool = True,
                     has_dense: bool = True, has_moe: bool = True) -> ActivationModel:
    """Live tensors of one prefill forward on one GPU, by named phase (elements per token).

    ``T`` = tokens of this GPU's attention group. Each phase counts the tensors alive at its
    largest point, per GPU (heads and widths split as the weights are):

    * ``residual``: the hidden states between layers, ``T·h`` (always live).
    * ``attention``: normed input ``T·h``; q ``T·a_l·d_qk``; k, v ``T·g_l·d`` each (MLA: the
      latent ``kv_lora_rank + qk_rope`` plus decompressed ``a_l·d_qk`` keys and ``a_l·d_v``
      values, the prefill path of vLLM's MLA backend; JetMoE: ``top_k·g_l`` query heads);
      output ``T·a_l·d_v``. Flash attention assumed: no ``s×s`` score matrix (eager attention
      would add ``b·a·s²`` elements per layer).
    * ``dense_ffn``: normed input ``T·h``; gate+up ``T·n·f_l`` (n = 2 gated, 1 plain); the
      activation product ``T·f_l``.
    * ``moe``: normed input ``T·h``; router logits ``T·E``; per token-expert pair on this GPU
      (``T·dp_attn·k/ep``, the uniform-routing expectation) the dispatched token ``h``, gate+up
      ``n·f_e/etp``, product ``f_e/etp`` and the expert output ``h`` (vLLM ``fused_moe``'s three
      intermediate caches); shared experts as a dense FFN of width ``f_sh``.
    * ``logits``: ``V/tp`` per sequence in fp32 (:data:`LOGITS_BYTES`), last position only (what
      engines and ``generate()`` compute at prefill); on the last pipeline stage only.

    ``peak = residual + max(attention, dense_ffn, moe, logits)`` (:func:`activation_peak`).
    """
    h, d = s.hidden_size, s.head_dim
    a_l = _cdiv(s.num_attention_heads, lay.tp)
    g_l = _cdiv(s.num_key_value_heads, lay.tp)
    if s.mla is not None:
        m = s.mla
        attn = (h + a_l * m.qk_head_dim + (m.kv_lora_rank + m.qk_rope_head_dim)
                + a_l * m.qk_head_dim + 2 * a_l * m.v_head_dim)
    elif s.moa is not None:
        q = s.moa.top_k * g_l * d
        attn = h + q + 2 * g_l * d + q
    else:
        attn = h + 2 * a_l * d + 2 * g_l * d
    n_in = 2 if s.gated_ffn else 1
    dense = 0
    if has_dense and s.num_dense_layers:
        f_l = _cdiv(s.intermediate_size, lay.tp)
        dense = h + n_in * f_l + f_l
    moe_tok = moe_pair = 0
    if has_moe and s.is_moe:
        fe_l = _cdiv(s.moe_intermediate_size, lay.etp)
        moe_tok = h + s.router_width  # router logits: E (+ LongCat's Z zero experts)
        moe_pair = 2 * h + n_in * fe_l + fe_l
        if s.num_shared_experts:
            fsh_l = _cdiv(s.shared_expert_intermediate_size, lay.tp)
            moe_tok += n_in * fsh_l + fsh_l
    return ActivationModel(
        hidden=h, attention=attn, dense_ffn=dense, moe_per_token=moe_tok, moe_per_pair=moe_pair,
        pairs_per_token=(lay.dp_attn * max(s.num_experts_per_tok, 1), lay.ep),
        logits_per_sequence=_cdiv(s.head_vocab_size, lay.tp) if last_stage else 0,
        act_bytes=act_bytes)


def activation_peak(terms: dict[str, int]) -> int:
    """``residual + max(attention, dense_ffn, moe, logits)`` (see :func:`activation_model`)."""
    return terms["residual"] + max(terms["attention"], terms["dense_ffn"], terms["moe"],
                                   terms["logits"])


# ----------------------------------------------------------------------------------------------
# overhead
# ----------------------------------------------------------------------------------------------

def non_torch_bytes(gpus: int) -> int:
    """Memory outside PyTorch's allocator per GPU: :data:`NON_TORCH_BYTES_ONE_GPU` alone,
    :data:`NON_TORCH_BYTES_MULTI_GPU` when the replica spans GPUs (NCCL buffers; vLLM PR #10511)."""
    return NON_TORCH_BYTES_ONE_GPU if gpus == 1 else NON_TORCH_BYTES_MULTI_GPU


def cublas_workspace_bytes(threads: int = CUBLAS_WORKSPACES_INFERENCE) -> int:
    """cuBLAS workspaces held in the allocator by ``threads`` threads that ran GEMMs
    (:data:`CUBLAS_WORKSPACE_BYTES` each)."""
    return threads * CUBLAS_WORKSPACE_BYTES


def overhead_bytes(gpus: int, gpu_memory: int, utilization: float) -> dict[str, int]:
    """The overhead terms of one GPU: :func:`non_torch_bytes`, one
    :func:`cublas_workspace_bytes` and :func:`reserve_bytes`."""
    return {"non_torch": non_torch_bytes(gpus), "cublas_workspace": cublas_workspace_bytes(),
            "reserve": reserve_bytes(gpu_memory, utilization)}


def reserve_bytes(gpu_memory: int, utilization: float) -> int:
    """Memory the engine leaves free: ``gpu_memory − ⌊gpu_memory · utilization⌋`` (vLLM's
    ``--gpu-memory-utilization``, default 0.9: the instance plans weights, activations, non-torch
    memory and KV cache inside ``utilization × total``)."""
    return gpu_memory - math.floor(gpu_memory * utilization)


# ----------------------------------------------------------------------------------------------
# the report section
# ----------------------------------------------------------------------------------------------

@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class StageMemory:
    """One GPU of one pipeline stage at a given batch and context: bytes by part; ``total``
    is derived from the parts."""

    stage: int
    layers: tuple[int, int]
    weights: dict[str, int]
    kv_cache: int
    activations: dict[str, int]
    overhead: dict[str, int]
    state: int = 0  # hybrids: mixer states of the stage's sequences (constant in context)

    @property
    def weights_total(self) -> int:
        return sum(self.weights.values())

    @property
    def activation_peak(self) -> int:
        return activation_peak(self.activations)

    @property
    def overhead_total(self) -> int:
        return sum(self.overhead.values())

    @functools.cached_property  # computed once (the instance is frozen): the report reads it
    def total(self) -> int:     # for per_gpu, per_gpu_by_stage, fits, headroom and its rows
        return (self.weights_total + self.kv_cache + self.state + self.activation_peak
                + self.overhead_total)

    def to_dict(self) -> dict[str, Any]:
        return {"stage": self.stage, "layers": list(self.layers),
                "weights": self.weights_total, "kv_cache": self.kv_cache, "state": self.state,
                "activations": self.activation_peak, "overhead": self.overhead_total,
                "total": self.total, "weights_breakdown": dict(self.weights),
                "activations_breakdown": dict(self.activations),
                "overhead_breakdown": dict(self.overhead)}


@dataclass(frozen=True)
class StageModel:
    """One GPU of one pipeline stage as a function of (group batch, context): the fixed parts
    (weights, overhead) and the coefficients of the rest, so what-fits searches cost a few
    integer operations per probe."""

    stage: int
    layers: tuple[int, int]
    weights: dict[str, int]
    overhead: dict[str, int]
    kv_full: int  # KV bytes per sequence per token, summed over the stage's full layers
    kv_slide: int  # ... per cached token, summed over its sliding/chunked layers
    window: int | None
    acts: ActivationModel
    fixed: int
    chunk: int = 0  # max tokens per prefill forward (0: the whole batch at once)
    state: int = 0  # hybrids: mixer state bytes per sequence (constant in context)
    # DeepSeek-V4: ((bytes per compressed entry over the stage's layers, rate), ...): a
    # sequence of s tokens adds bytes·(s // rate) (estimator.compressed.stage_kv_coefficients)
    kv_entries: tuple = ()

    def prefill_tokens(self, batch_group: int, seq_len: int) -> tuple[int, int]:
        """(tokens, sequences) of the largest prefill forward: the whole group batch, or one
        chunk of ``max_num_batched_tokens`` (vLLM chunked prefill)."""
        t = batch_group * seq_len
        if self.chunk and t > self.chunk:
            return self.chunk, min(batch_group, self.chunk)
        return t, batch_group

    def kv(self, batch_group: int, seq_len: int) -> int:
        """KV cache plus (hybrids) the mixers' per-sequence state: what grows with the batch
        and what a decode step reads besides the weights."""
        slide = self.kv_slide * cached_tokens(seq_len, self.window) if self.kv_slide else 0
        for nbytes, rate in self.kv_entries:  # DeepSeek-V4's compressed entries
            slide = slide + nbytes * (seq_len // rate)
        return batch_group * (self.kv_full * seq_len + slide + self.state)

    def total(self, batch_group: int, seq_len: int) -> int:
        return (self.fixed + self.kv(batch_group, seq_len)
                + self.acts.peak(*self.prefill_tokens(batch_group, seq_len)))

    def at(self, batch_group: int, seq_len: int) -> StageMemory:
        return StageMemory(stage=self.stage, layers=self.layers, weights=self.weights,
                           kv_cache=self.kv(batch_group, seq_len) - batch_group * self.state,
                           state=batch_group * self.state,
                           activations=self.acts.terms(*self.prefill_tokens(batch_group,
                                                                            seq_len)),
                           overhead=self.overhead)


def stage_models(s: ModelSpec, lay: Layout, dtype: str, kv_dtype: str, kv_layout: str,
                 overhead: dict[str, int], chunk: int = 0,
                 vision: bool = True) -> tuple[StageModel, ...]:
    """One :class:`StageModel` per pipeline stage of ``lay`` (``chunk``: the
    ``max_num_batched_tokens`` option; ``vision``: the ``include_vision`` option)."""
    return _stage_models(s, lay, dtype, kv_dtype, kv_layout, tuple(overhead.items()), chunk,
                         vision)


# Cached: the stage models depend on the spec, the split, the dtypes and the GPU's overhead, not
# on the batch or the context (a report and its smallest_fit ladder, or a sweep over batch and
# seq_len, reuse them). The weight and overhead dicts inside are shared by every report built
# from one entry: read them, never mutate them (reports copy them into their own to_dict()).
@spec_cache(1024)
def _stage_models(s: ModelSpec, lay: Layout, dtype: str, kv_dtype: str, kv_layout: str,
                  overhead_items: tuple, chunk: int, vision: bool) -> tuple[StageModel, ...]:
    overhead = dict(overhead_items)
    fmts = weight_formats(dtype)
    lp = layer_params(s, lay.tp, lay.ep, lay.etp)
    act_b = activation_bytes(dtype)
    kv_tok = kv_bytes_per_token(s, kv_dtype, kv_layout, lay.tp)
    out = []
    for p, (lo, hi) in enumerate(lay.stage_layers):
        n, n_moe, n_slide = layer_kinds(s, lo, hi)
        n_kv = hybrid_counts(s, lo, hi)[0] if s.is_hybrid else n
        first, last = p == 0, p == lay.pp - 1
        w = stage_weight_bytes(s, lp, fmts, n, n_moe, first, last, lay.tp, lay.pp,
                               vision=vision, layers=(lo, hi))
        acts = activation_model(s, lay, act_b, last, has_dense=n_moe < n, has_moe=n_moe > 0)
        kv_full, kv_slide = ((n_kv - n_slide) * kv_tok
                             - _shared_indexer_key_bytes(s, kv_dtype, kv_layout, lo, hi),
                             n_slide * kv_tok)
        if s.has_layer_shapes:  # Gemma-4: shapes and K/V ownership by layer
            kv_full, kv_slide = layer_shaped_kv_bytes_per_token(s, kv_dtype, lay.tp, (lo, hi))
        entries = ()
        if s.compressed_attention is not None:  # DeepSeek-V4: window + compressed entries
            kv_slide, entries = compressed.stage_kv_coefficients(
                s, lo, hi, BYTES_PER_ELEMENT[kv_dtype], kv_layout)
            kv_full = 0
        out.append(StageModel(stage=p, layers=(lo, hi), weights=w, overhead=overhead,
                              kv_entries=entries,
                              kv_full=kv_full, kv_slide=kv_slide,
                              state=state_bytes(s, 1, ACTIVATION_DTYPE[dtype], kv_layout,
                                                lay.tp, (lo, hi)) if s.mixer else 0,
                              window=s.sliding_window, acts=acts,
                              fixed=sum(w.values()) + sum(overhead.values()), chunk=chunk))
    return tuple(out)


def _largest_fitting(excess, lo: int, hi: int, e_lo: int | None = None) -> int:
    """Largest ``x`` in ``[lo, hi]`` with ``excess(x) <= 0`` (bytes over the budget), given
    ``excess(lo) <= 0`` (``e_lo`` when already known) and ``excess`` nondecreasing.

    The answer of a plain bisection, in fewer probes: memory is nearly linear in the batch and
    the context, so each round probes where the chord between the bracket's ends crosses zero
    and the integer next to it (which settles an exactly linear stretch in two probes), and
    bisects once when that did not halve the bracket. Exact integers throughout.
    """
    e_hi = excess(hi)
    if e_hi <= 0:
        return hi
    if e_lo is None:
        e_lo = excess(lo)

    def probe(x: int) -> None:
        nonlocal lo, hi, e_lo, e_hi
        e = excess(x)
        if e <= 0:
            lo, e_lo = x, e
        else:
            hi, e_hi = x, e

    while hi - lo > 1:
        width = hi - lo
        x = min(max(lo + width * -e_lo // (e_hi - e_lo), lo + 1), hi - 1)  # chord's zero
        probe(x)
        x = x + 1 if lo == x else x - 1  # its neighbour across the crossing
        if lo < x < hi:
            probe(x)
        if hi - lo > max(width // 2, 1):
            probe((lo + hi) // 2)
    return lo


def max_batch(models: tuple[StageModel, ...], lay: Layout, seq_len: int, gpu_memory: int) -> int:
    """Largest batch whose busiest GPU fits at ``seq_len``: integer search per stage (memory
    is nondecreasing in the batch), bracketed by the KV cache alone, which grows linearly.
    Independent of the workload's own batch, so reports that differ only in it (the app's
    batch slider, a sweep over batch) share one search (:func:`_per_stage_models`)."""
    return _per_stage_models(_MAX_BATCH_CACHE, models, (lay.dp_attn, seq_len, gpu_memory),
                             lambda: _max_batch(models, lay.dp_attn, seq_len, gpu_memory))


def _max_batch(models: tuple[StageModel, ...], dp_attn: int, seq_len: int,
               gpu_memory: int) -> int:
    best = None
    for m in models:
        e1 = m.total(1, seq_len) - gpu_memory
        if e1 > 0:
            return 0
        per_seq_kv = max(m.kv(1, seq_len), 1)
        hi = (gpu_memory - m.fixed) // per_seq_kv + 1
        bg = _largest_fitting(lambda x, m=m: m.total(x, seq_len) - gpu_memory, 1, hi, e1)
        best = bg if best is None else min(best, bg)
    return best * dp_attn


def _per_stage_models(store: dict, models: tuple[StageModel, ...], args: tuple, compute):
    """``compute()``, remembered in ``store`` per (stage models, ``args``) (performance
    plumbing for the what-fits searches). Keyed on the identity of ``models`` (the stage
    models hold dicts: not hashable), which the entry keeps alive so the id cannot be reused;
    the stage models come from :func:`_stage_models`' cache, so one layout gives one tuple.
    Array operands (a vectorized sweep) are searched, not remembered. Bounded: the store is
    cleared at 1024 entries."""
    key = (id(models), *args)
    try:
        hit = store.get(key)
    except TypeError:  # array operands: searched, not cached
        return compute()
    if hit is not None and hit[0] is models:
        return hit[1]
    out = compute()
    if len(store) >= 1024:
        store.clear()
    store[key] = (models, out)
    return out


def max_seq_len(models: tuple[StageModel, ...], batch_group: int, gpu_memory: int) -> int:
    """Largest context whose busiest GPU fits at ``batch_group`` sequences per attention group:
    integer search over ``[1, MAX_SEQ_SEARCH]`` (memory is nondecreasing in ``seq_len``).
    Independent of the workload's own seq_len, so reports that differ only in it (the app's
    context slider, a sweep over seq_len) share one search (:func:`_per_stage_models`)."""
    return _per_stage_models(_MAX_SEQ_CACHE, models, (batch_group, gpu_memory),
                             lambda: _max_seq_len(models, batch_group, gpu_memory))


#: (id of the stage models, batch per group, GPU bytes) -> (the stage models, max_seq_len)
_MAX_SEQ_CACHE: dict = {}
#: (id of the stage models, attention groups, seq_len, GPU bytes) -> (the models, max_batch)
_MAX_BATCH_CACHE: dict = {}


def _max_seq_len(models: tuple[StageModel, ...], batch_group: int, gpu_memory: int) -> int:
    def excess(sl: int) -> int:
        return max(m.total(batch_group, sl) for m in models) - gpu_memory

    e1 = excess(1)
    return _largest_fitting(excess, 1, MAX_SEQ_SEARCH, e1) if e1 <= 0 else 0


@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class InferenceMemory:
    """Inference memory of ``model`` under ``opts`` on ``gpu`` (see the module docstring)."""

    weight_dtype: str
    kv_dtype: str
    kv_layout: str
    batch: int
    seq_len: int
    lay: Layout
    gpu_memory: int
    gpu_memory_utilization: float
    weights_breakdown: dict[str, int]
    kv_cache: int
    kv_cache_per_token: int
    activations_breakdown: dict[str, int]
    overhead_breakdown: dict[str, int]
    stages: tuple[StageMemory, ...]
    max_batch: int
    max_seq_len: int
    max_seq_len_memory: int
    max_seq_len_limited_by: str
    notes: tuple[str, ...] = field(default=())
    # The per-stage models behind ``stages`` and ``max_batch``, kept so the serving section
    # reuses them instead of rebuilding them (not part of the report).
    stage_models: tuple[StageModel, ...] = field(default=(), repr=False, compare=False)
    state: int = 0  # hybrids: mixer states of all ``batch`` sequences (constant in context)
    state_per_sequence: int = 0
    #: how tp/pp/ep were chosen (estimator.autolayout: auto or as given)
    layout_choice: dict | None = field(default=None, compare=False)
    #: the engine's start-up figures (estimator.engine): KV capacity, max concurrency
    engine: Any = field(default=None, compare=False)

    @property
    def weights(self) -> int:
        return sum(self.weights_breakdown.values())

    @property
    def activations(self) -> int:
        return activation_peak(self.activations_breakdown)

    @property
    def overhead(self) -> int:
        return sum(self.overhead_breakdown.values())

    @property
    def total(self) -> int:
        """One copy of everything, as one device large enough would hold it."""
        return self.weights + self.kv_cache + self.state + self.activations + self.overhead

    @functools.cached_property  # computed once (the instance is frozen)
    def per_gpu(self) -> StageMemory:
        """The busiest GPU: the pipeline stage with the largest total."""
        return max(self.stages, key=lambda st: st.total)

    @property
    def fits(self) -> bool:
        return self.per_gpu.total <= self.gpu_memory

    @property
    def headroom(self) -> int:
        return self.gpu_memory - self.per_gpu.total

    def to_dict(self) -> dict[str, Any]:
        busiest = self.per_gpu
        top = busiest.total
        return {
            "weight_dtype": self.weight_dtype,
            "kv_dtype": self.kv_dtype,
            "kv_layout": self.kv_layout,
            "weights": self.weights,
            "weights_breakdown": dict(self.weights_breakdown),
            "kv_cache": self.kv_cache,
            "kv_cache_per_token": self.kv_cache_per_token,
            "state": self.state,
            "state_per_sequence": self.state_per_sequence,
            "activations": self.activations,
            "activations_breakdown": dict(self.activations_breakdown),
            "overhead": self.overhead,
            "overhead_breakdown": dict(self.overhead_breakdown),
            "total": self.total,
            "per_gpu": busiest.to_dict(),
            "per_gpu_by_stage": [st.total for st in self.stages],
            "gpus": self.lay.gpus,
            "parallel": {"tp": self.lay.tp, "pp": self.lay.pp, "ep": self.lay.ep,
                         "gpus_per_stage": self.lay.group, "expert_tp": self.lay.etp,
                         "attention_dp": self.lay.dp_attn},
            "gpu_memory": self.gpu_memory,
            "gpu_memory_utilization": self.gpu_memory_utilization,
            "fits": top <= self.gpu_memory,  # self.fits
            "headroom": self.gpu_memory - top,  # self.headroom
            "max_batch": self.max_batch,
            "max_seq_len": self.max_seq_len,
            "max_seq_len_memory": self.max_seq_len_memory,
            "max_seq_len_limited_by": self.max_seq_len_limited_by,
            "sixteen_bit_tensors": sixteen_bit_tensors(self.weight_dtype),
            "conventions": conventions(self.weight_dtype, self.kv_layout),
            "notes": list(self.notes),
            "layout": fresh(self.layout_choice or {}),
            "engine": self.engine.to_dict() if self.engine is not None else None,
            "kv_capacity_tokens": self.engine.kv_capacity_tokens if self.engine else None,
            "max_concurrency": self.engine.max_concurrency if self.engine else None,
        }


def conventions(dtype: str, kv_layout: str) -> dict[str, str]:
    """The conventions behind every number of the inference-memory section (a fresh dict)."""
    return dict(_conventions(dtype, kv_layout))


@functools.lru_cache(maxsize=64)  # text that depends on the two strings alone
def _conventions(dtype: str, kv_layout: str) -> dict[str, str]:
    fmt = weight_formats(dtype)
    return {
        "weights": f"all parameters, every routed expert included: matrices {fmt['matrices']}, "
                   f"routed experts {fmt['routed_experts']}, other tensors {fmt['other']}; "
                   f"int4 = 4 bits + one fp16 scale per {INT4_GROUP_SIZE} weights; mxfp4 = 4 bits "
                   f"+ one E8M0 scale per {MXFP4_BLOCK_SIZE} (4.25 bits); multi-token-prediction "
                   "layers not loaded",
        "kv_cache": "per layer: elements per token x tokens kept (full layers: seq_len; "
                    "sliding/chunked layers: min(seq_len, window - 1), as transformers' "
                    "DynamicSlidingWindowLayer keeps) x kv_dtype bytes. Layout: "
                    + KV_LAYOUTS.get(kv_layout, "2·g·d per layer and token (K and V)"),
        "kv_cache_per_token": "bytes one token of context adds over all layers, before any "
                              "window cap (hybrids: the softmax-attention layers only)",
        "state": "hybrids: conv + recurrent state of every linear-attention / Mamba / short-conv "
                 "layer, per sequence and constant in context (estimator.mixers.state_elements; "
                 "engine layout keeps conv_kernel - 1 conv inputs as vLLM, transformers "
                 "conv_kernel; RG-LRU and RWKV-4 keep conv_kernel - 1 in both), in the "
                 "activation dtype (RG-LRU's and RWKV-4's recurrent state in fp32, as "
                 "transformers keeps it)",
        "activations": "the largest prefill forward (batch x seq_len tokens, or "
                       "max_num_batched_tokens when set: chunked prefill): residual + the largest "
                       "phase (attention, dense FFN, MoE, fp32 last-position logits); flash "
                       "attention, no s x s scores (memory.activation_model)",
        "overhead": "non_torch (CUDA context, NCCL: vLLM's measured 1.79 GiB on one GPU, "
                    "3.58 GiB at tp=2; vLLM PR #10511) + reserve ((1 - gpu_memory_utilization) "
                    "of the GPU, vLLM's headroom)",
        "parallelism": "tp splits heads (KV heads replicated when g < tp; tp must divide "
                       "num_attention_heads, vLLM's rule), FFN widths and the vocabulary; ep "
                       "splits routed experts (vLLM's determine_expert_map: the first E mod ep "
                       "ranks hold one more); pp splits layers by vLLM's split "
                       "(get_pp_indices: L // pp each, the remainder one by one to the stages "
                       "before the last; training's Megatron split gives it to the first "
                       "stages instead); a replica is pp·lcm(tp, ep) GPUs (dense: pp·tp); "
                       "ep > tp = data-parallel attention groups sharing the batch; "
                       "per_gpu = the busiest stage; the etp and num_gpus options are "
                       "training-only",
        "total": "one copy of weights + KV cache + activation peak + one GPU's overhead "
                 "(what a single large enough device would hold)",
        "fits": "per_gpu.total <= gpu_memory",
        "max_batch": "largest batch whose busiest GPU fits at seq_len",
        "max_seq_len": "largest context whose busiest GPU fits at batch; capped at "
                       "max_position_embeddings when the config gives it "
                       "(max_seq_len_memory: uncapped)",
    }


def stages_for(s: ModelSpec, opts, gpu, tp: int | None = None, pp: int | None = None,
               ep: int | None = None) -> tuple[Layout, tuple[StageModel, ...]]:
    """The layout of ``s`` under ``opts`` on ``gpu`` and its :func:`stage_models`; ``tp``,
    ``pp``, ``ep`` override the options' split (:func:`smallest_fit`'s rungs: the options are
    validated once, not rebuilt per rung)."""
    lay = layout(s, opts.tp if tp is None else tp, opts.pp if pp is None else pp,
                 opts.ep if ep is None else ep)
    overhead = overhead_bytes(lay.gpus, gpu.memory_bytes, opts.gpu_memory_utilization)
    return lay, stage_models(s, lay, opts.dtype, resolve_kv_dtype(opts.kv_dtype, opts.dtype),
                             opts.kv_cache, overhead, opts.max_num_batched_tokens,
                             opts.include_vision)


def busiest_bytes(models: tuple[StageModel, ...], lay: Layout, batch: int, seq_len: int) -> int:
    """Bytes on the busiest GPU for ``batch`` sequences of ``seq_len``: the largest stage total
    at ``⌈batch / dp_attn⌉`` sequences per attention group (``InferenceMemory.per_gpu.total``,
    without building the stages' breakdowns)."""
    b_group = _cdiv(batch, lay.dp_attn)
    return maximum(*(m.total(b_group, seq_len) for m in models))


def compute(model, opts, gpu, *, engine_section: bool = True,
            layout_choice: dict | None = None) -> InferenceMemory:
    """The inference-memory section for ``model`` under ``opts`` on ``gpu``. ``tp``/``pp``/``ep``
    = 0 (auto) are resolved first (:func:`estimator.autolayout.resolve`); ``engine_section``:
    add the engine's start-up figures (:mod:`estimator.engine`; the layout search skips them)."""
    s: ModelSpec = model.spec if hasattr(model, "spec") else model
    choice = layout_choice  # the caller resolved an auto layout already (report.estimate)
    from .autolayout import is_auto, resolve

    if is_auto(opts):
        opts, choice = resolve(model, opts, gpu)
    dtype, kv_dtype = opts.dtype, resolve_kv_dtype(opts.kv_dtype, opts.dtype)
    kv_layout = opts.kv_cache
    util = opts.gpu_memory_utilization
    mem = gpu.memory_bytes
    chunk = opts.max_num_batched_tokens
    lay, models = stages_for(s, opts, gpu)
    b, seq = opts.batch, opts.seq_len
    b_group = _cdiv(b, lay.dp_attn)
    stages = tuple(m.at(b_group, seq) for m in models)

    # model level: one copy on one device
    if lay.gpus == 1:  # the one stage of a single-GPU layout is exactly that copy
        weights, acts = dict(stages[0].weights), dict(stages[0].activations)
        kv = stages[0].kv_cache
    else:
        weights = weight_bytes(s, dtype, opts.include_vision)
        tokens, seqs = (min(b * seq, chunk), min(b, chunk)) if chunk else (b * seq, b)
        acts = activation_model(s, layout(s, 1, 1, 1), activation_bytes(dtype)).terms(tokens,
                                                                                     seqs)
        kv = kv_cache_bytes(s, b, seq, kv_dtype, kv_layout)
    n_kv = hybrid_counts(s)[0] if s.is_hybrid else s.num_hidden_layers
    per_token = (sum(layer_shaped_kv_bytes_per_token(s, kv_dtype)) if s.has_layer_shapes
                 else n_kv * kv_bytes_per_token(s, kv_dtype, kv_layout)
                 - _shared_indexer_key_bytes(s, kv_dtype, kv_layout, 0, s.num_hidden_layers))
    if s.compressed_attention is not None:  # DeepSeek-V4: what a long context adds per token
        per_token = sum(nb // rate for nb, rate in compressed.stage_kv_coefficients(
            s, 0, s.num_hidden_layers, BYTES_PER_ELEMENT[kv_dtype], kv_layout)[1])
    state_seq = state_bytes(s, 1, ACTIVATION_DTYPE[dtype], kv_layout) if s.mixer else 0

    max_s_mem = max_seq_len(models, b_group, mem)
    cap = s.max_position_embeddings
    if cap and max_s_mem > cap:
        max_s, limited = cap, "max_position_embeddings"
    elif max_s_mem >= MAX_SEQ_SEARCH:  # nothing grows with the context (no KV, chunked prefill)
        max_s, limited = max_s_mem, "search_bound"
    else:
        max_s, limited = max_s_mem, "memory"

    notes = []
    why_no_engine = engine_unmodelled(s, opts.engine)
    if why_no_engine:  # DeepSeek-V4, A.X-K2, HY-V4, engine-less mixers, unpinned engines
        notes.append(why_no_engine)
    if s.altup_num_inputs and engine_section and opts.engine == "sglang":
        notes.append(GEMMA3N_SGLANG_NOTE)
    if s.shared_block is not None:
        notes.append(ZAMBA_NOTE)
    if n_kv == 0:
        notes.append("no softmax-attention layer: no KV cache; each sequence keeps only its "
                     "constant mixer state, so the context grows memory only through the "
                     "prefill activations" + (" (bounded by max_num_batched_tokens: the "
                     f"search stops at {MAX_SEQ_SEARCH:,} tokens)" if limited == "search_bound"
                     else ""))
    if dtype == "mxfp4" and not s.is_moe:
        notes.append("mxfp4 quantizes routed experts only; this model has none, so every tensor "
                     "is bf16")
    if s.mla is None and kv_layout == "transformers":
        notes.append("kv_cache='transformers' changes MLA models only")
    if s.vision_params and not opts.include_vision:
        notes.append(f"include_vision=false: the {s.vision_params:,}-parameter vision encoder "
                     "and projector are not loaded (text-only serving)")
    if s.num_mtp_layers:
        notes.append(f"{s.num_mtp_layers} multi-token-prediction layer(s) not loaded "
                     "(speculative decoding with them would add their weights)")
    if lay.dp_attn > 1:
        notes.append(f"ep={lay.ep} > tp={lay.tp}: {lay.dp_attn} data-parallel attention groups "
                     f"per stage, {b_group} of the {b} sequences on each")
    if opts.ep > 1 and not s.is_moe:
        notes.append(f"ep={opts.ep} ignored: a dense model has no routed experts to split "
                     "(the replica is pp x tp GPUs)")
    if cap and seq > cap:
        notes.append(f"seq_len={seq} exceeds max_position_embeddings={cap}: estimated beyond "
                     "the model's trained context (memory and speed follow the formulas; "
                     "output quality there is not known)")
    return InferenceMemory(
        weight_dtype=dtype, kv_dtype=kv_dtype,
        kv_layout=kv_layout if s.mla is not None else ("moa" if s.moa is not None
                                                        else "standard"),
        batch=b, seq_len=seq, lay=lay, gpu_memory=mem, gpu_memory_utilization=util,
        weights_breakdown=weights,
        kv_cache=kv, kv_cache_per_token=per_token,
        activations_breakdown=acts,
        overhead_breakdown=overhead_bytes(1, mem, util),
        stages=stages, max_batch=max_batch(models, lay, seq, mem), max_seq_len=max_s,
        max_seq_len_memory=max_s_mem, max_seq_len_limited_by=limited, notes=tuple(notes),
        stage_models=models, state=b * state_seq, state_per_sequence=state_seq,
        layout_choice=choice or {"auto": False, "tp": lay.tp, "pp": lay.pp, "ep": lay.ep},
        engine=engine_figures(s, opts, gpu, lay, models) if engine_section else None)


#: Why the engine section has no SGLang figures for Gemma-3n.
GEMMA3N_SGLANG_NOTE = ("Gemma-3n under SGLang: the engine's start-up figures (KV pool, max "
                       "concurrency) are not modelled (its Gemma-3n model file and K/V-sharing "
                       "pool were not checked); engine='vllm' sizes them")


#: What inference memory says of DeepSeek-V4 (a :class:`~estimator.spec.CompressedAttention`).
V4_NOTE = ("DeepSeek-V4: KV cache = every layer's window of raw K=V rows + the compressed "
           "entries (1 per csa/hca rate tokens; CSA also its indexer keys), as transformers' "
           "V4 caches hold them (the compressors' open windows, < rate tokens, left out); "
           "attention, compressors and hyper-connections replicated on every TP rank "
           "(transformers' tp plan); prefill activations use the generic attention account "
           "(approximate: the compressors' and hyper-connections' tensors are not counted); "
           "the serving engine's start-up figures (KV pool, max concurrency) are not modelled "
           "for V4's compressed caches")


#: What inference memory says of Zamba/Zamba2 (a :class:`~estimator.spec.SharedBlock`).
ZAMBA_NOTE = ("Zamba/Zamba2: the shared attention+MLP block's weights counted once (num_mem_blocks "
              "copies), its KV cache per use (each hybrid layer caches its own K/V, as "
              "transformers' cache holds them), one GPU only; prefill activations use the "
              "generic hybrid account (approximate: the 2h-wide concatenated input of each use "
              "is not counted); the engine's start-up figures follow vLLM's Zamba2 (one "
              "Attention per use, a MambaMixer2 state per layer) where it builds this model "
              "(zamba2, tied embeddings, K/V heads = query heads), else they are not modelled")


def vllm_builds_zamba(s: ModelSpec, engine_name: str) -> bool:
    """Whether vLLM's ``vllm/model_executor/models/zamba2.py`` builds this spec as transformers
    counts it: Zamba2 only (vLLM has no Zamba-1), its ``QKVParallelLinear`` has
    ``num_attention_heads`` K/V heads (no GQA) over ``attention_hidden_size = a·d``, and it ties
    the lm_head and the ``num_mem_blocks`` blocks whatever ``tie_word_embeddings`` says."""
    b = s.shared_block
    return (engine_name == "vllm" and s.model_type == "zamba2" and b.tied
            and s.num_key_value_heads == s.num_attention_heads
            and s.num_attention_heads * s.head_dim == 2 * s.hidden_size)


#: What inference memory says of A.X-K2 (q_gate_proj and gated RMSNorms, :func:`is_axk2`).
AXK2_NOTE = ("A.X-K2: KV cache = DeepSeek-V3.2's (MLA latent + the DSA indexer's keys on every "
             "layer); prefill activations use the generic MLA account (approximate: the "
             "q_gate_proj output gate and the gated norms' tensors are not counted); the "
             "serving engine's start-up figures are not modelled: no upstream vLLM or SGLang "
             "A.X-K2 model was found to size its pages from (out-of-tree ones built on "
             "DeepSeek-V3.2's DSA exist; their cache specs were not pinned)")


#: What inference memory says of HY-V4 (hyper-connections, shared indexers, :func:`is_hy_v4`).
HYV4_NOTE = ("HY-V4: KV cache = the MLA latent on every layer + the DSA indexer's keys on the "
             "layers that run their own indexer (indexer_types 'full'); hyper-connections "
             "replicated on every TP rank; weights in one dtype (transformers keeps lm_head, "
             "the hyper-connections, sinks, router and indexer weights_proj/k_norm in fp32: "
             "not modelled); prefill activations use the generic MLA account (approximate: "
             "the hc_mult residual streams and the output gate are not counted); the serving "
             "engine's start-up figures are not modelled: neither vLLM nor SGLang sources in "
             "reach have an HY-V4 model to size its pages from")


def is_hy_v4(s: ModelSpec) -> bool:
    """HY-V4's blocks (``hc_mult``, :class:`~estimator.spec.MLA` ``gate_proj`` or
    ``indexer_layers``): no serving-engine model and no training activation account has them."""
    return bool(s.hc_mult or (s.mla is not None and (s.mla.gate_proj or s.mla.indexer_layers)))


#: ``(model_type, engine)`` pairs whose engine model is not pinned to the engine's code, and why:
#: their start-up figures (KV pool, concurrency) are refused instead of guessed. vLLM's
#: ``bailing_moe_v3.py`` (``BailingMoeV3KimiDeltaAttention.get_state_shape``:
#: ``MambaStateShapeCalculator.kda_state_shape``, ``kda_state_dtype``; MLA's latent) is the
#: Kimi-Linear plan this module already follows, so vLLM is sized for bailing_hybrid.
ENGINE_UNMODELLED: dict[tuple[str, str], str] = {
    ("bailing_hybrid", "sglang"): "SGLang's bailing_moe_v3 state pool for KDA layers is not "
                                  "transcribed here; the SGLang start-up figures are not modelled",
    ("lfm3", "vllm"): "vLLM has no lfm3 model (no vllm/model_executor/models/lfm3.py); the "
                      "vLLM start-up figures are not modelled",
    ("lfm3", "sglang"): "SGLang has no lfm3 model (no python/sglang/srt/models/lfm3.py); the "
                        "SGLang start-up figures are not modelled",
}


def engine_unmodelled(s: ModelSpec, engine_name: str) -> str | None:
    """Why serving engine ``engine_name``'s start-up figures are not modelled for ``s`` (the
    note inference memory shows), or None: DeepSeek-V4's compressed caches, A.X-K2 and HY-V4
    (no engine model in reach), the mixers of :data:`NO_ENGINE_MIXERS`, and the
    family/engine pairs of :data:`ENGINE_UNMODELLED`."""
    if s.compressed_attention is not None:
        return V4_NOTE
    if is_axk2(s):
        return AXK2_NOTE
    if is_hy_v4(s):
        return HYV4_NOTE
    if s.mixer is not None and s.mixer.kind in NO_ENGINE_MIXERS:
        return NO_ENGINE_MIXERS[s.mixer.kind]
    return ENGINE_UNMODELLED.get((s.model_type, engine_name))


def is_axk2(s: ModelSpec) -> bool:
    """A.X-K2's blocks (:class:`~estimator.spec.MLA` ``q_gate``, ``gated_norm_rank``): no
    serving-engine model and no training activation account has them."""
    return bool(s.gated_norm_rank or (s.mla is not None and s.mla.q_gate))


#: Mixer kinds no serving engine runs, with why (the engine section is left out, and the
#: inference notes say so).
NO_ENGINE_MIXERS = {
    "rglru": "RecurrentGemma: neither vLLM nor SGLang has a model for it (no "
             "RecurrentGemmaForCausalLM in vLLM's vllm/model_executor/models/registry.py, no "
             "recurrent_gemma model in SGLang's python/sglang/srt/models), so the serving "
             "engine's start-up figures (KV pool, max concurrency) are not modelled",
    "rwkv4": "RWKV-4: neither vLLM nor SGLang has a model for it (no RwkvForCausalLM in vLLM's "
             "vllm/model_executor/models/registry.py, only in third-party forks; no rwkv model "
             "in SGLang's python/sglang/srt/models), so the serving engine's start-up figures "
             "(state pool, max concurrency) are not modelled",
    "mlstm": "xLSTM: neither vLLM nor SGLang has a model for it (no xLSTM model in vLLM's "
             "vllm/model_executor/models/registry.py, only in NX-AI's fork; none in SGLang's "
             "python/sglang/srt/models), so the serving engine's start-up figures (state pool, "
             "max concurrency) are not modelled",
}


def engine_figures(s, opts, gpu, lay, models):
    """The engine's start-up figures for this layout (:func:`estimator.engine.compute`), or
    None where no engine model applies (:func:`engine_unmodelled`; Gemma-3n under SGLang,
    :data:`GEMMA3N_SGLANG_NOTE`; Zamba where vLLM does not build it as counted; the mixers of
    :data:`NO_ENGINE_MIXERS`)."""
    if engine_unmodelled(s, opts.engine):
        return None
    if s.altup_num_inputs and opts.engine == "sglang":  # GEMMA3N_SGLANG_NOTE
        return None
    if s.shared_block is not None and not vllm_builds_zamba(s, opts.engine):  # ZAMBA_NOTE
        return None
    from . import engine  # engine builds on this module: imported when first used

    return engine.compute(s, opts, gpu, lay, models)


#: Deployments tried by :func:`smallest_fit`, smallest first: tensor parallelism inside a node of
#: up to 8 GPUs, then pipeline stages across nodes (the usual vLLM/SGLang layout).
FIT_LADDER = ((1, 1), (2, 1), (4, 1), (8, 1), (8, 2), (8, 4), (8, 8), (8, 16))


def fit_ep(s: ModelSpec, tp: int, ep: int) -> int:
    """Expert parallelism :func:`smallest_fit` uses at tensor-parallel ``tp``: the largest
    divisor of ``tp`` that is at most the requested ``ep`` and divides ``num_experts`` (1 for a
    dense model or ``ep = 1``). Dividing ``tp`` keeps a stage at ``lcm(tp, ep) = tp`` GPUs, so
    every rung of :data:`FIT_LADDER` is exactly ``tp·pp`` GPUs; dividing ``E`` keeps the ranks
    even."""
    if not s.is_moe or ep <= 1:
        return 1
    return max(d for d in range(1, min(tp, ep) + 1) if tp % d == 0 and s.num_experts % d == 0)


def smallest_fit(model, opts, gpu) -> dict:
    """The fewest GPUs of ``gpu`` that hold ``model`` for ``opts.batch × opts.seq_len``.

    Walks :data:`FIT_LADDER` (tp, pp) with the other options unchanged, except ``ep``: the
    largest divisor of ``tp`` not above the requested ``ep`` that divides ``num_experts``
    (:func:`fit_ep`), so each layout is exactly ``tp·pp`` GPUs. Returns the first layout whose
    busiest GPU fits (:func:`compute`), with the per-GPU bytes of every layout tried. Layouts
    the model cannot take (tp an engine refuses, pp above the layer count) are skipped with the
    reason. Answers "does it fit on N × this GPU" without the user trying splits by hand.
    """
    s: ModelSpec = model.spec if hasattr(model, "spec") else model
    tried = []
    found = None
    for tp, pp in FIT_LADDER:
        ep = fit_ep(s, tp, opts.ep)
        try:
            # inference memory reads no num_gpus (the training job's size): only the split;
            # the busiest GPU's bytes are compute()'s per_gpu.total, without its searches
            lay, models = stages_for(s, opts, gpu, tp, pp, ep)
        except EstimatorError as e:
            tried.append({"gpus": tp * pp, "tp": tp, "pp": pp, "ep": ep, "error": str(e)})
            continue
        per_gpu = busiest_bytes(models, lay, opts.batch, opts.seq_len)
        row = {"gpus": lay.gpus, "tp": tp, "pp": pp, "ep": ep,
               "per_gpu": per_gpu, "fits": per_gpu <= gpu.memory_bytes}
        tried.append(row)
        if row["fits"]:
            found = row
            break
    if not s.is_moe:
        ep_rule = "ep = 1 (dense model)"
    elif opts.ep <= 1:
        ep_rule = "ep = 1 (as requested: experts split by tp)"
    else:
        ep_rule = (f"ep = the largest divisor of tp that is <= the requested ep={opts.ep} and "
                   f"divides num_experts={s.num_experts}, so each layout is tp x pp GPUs")
    return {"smallest": found, "tried": tried, "gpu": gpu.id,
            "batch": opts.batch, "seq_len": opts.seq_len,
            "method": "first of (tp, pp) = " + ", ".join(f"{t}x{p}" for t, p in FIT_LADDER)
                      + f" whose busiest GPU fits; {ep_rule}; other options unchanged"}


FORMULAS = [smallest_fit, fit_ep, tensor_bytes, weight_formats, sixteen_bit_tensors,
            activation_bytes, check_tp, pp_layer_ranges,
            layout, attention_matrix_params, layer_params, stage_weight_bytes, weight_bytes,
            kv_elements_per_token, cached_tokens, kv_cache_bytes, activation_model,
            layer_shaped_kv_bytes_per_token,
            activation_peak, non_torch_bytes, cublas_workspace_bytes, overhead_bytes,
            reserve_bytes, max_batch, max_seq_len]

__all__ = [f.__name__ for f in FORMULAS] + ["ActivationModel", "InferenceMemory", "Layout",
                                            "LayerParams", "StageMemory", "StageModel",
                                            "busiest_bytes", "compute", "conventions",
                                            "stage_models", "stages_for"]
