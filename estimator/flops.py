"""Floating-point operations: forward, backward and training, by component, dense and MoE.

What is counted: matrix multiplications only, at ``FLOPS_PER_MAC = 2`` FLOPs per multiply-add
(a ``(m×k)·(k×n)`` product is ``2·m·k·n``). Norms, activations, softmax, RoPE, residual adds,
biases and the embedding lookup are not counted — they are <1% of a transformer's work and they
are exactly what ``torch.utils.flop_counter.FlopCounterMode`` leaves out too, which lets
``tests/test_flops.py`` compare our forward count with a measured one on transformers' own eager
code of every supported family (REFERENCE.md §2, §5).

Attention conventions (``attention="full" | "causal"``, the ``attention_flops`` option):

* ``full`` — the executed square: every query times every key of its sequence, ``s²`` pairs per
  head and layer, for full *and* sliding-window / chunked layers. That is what an eager
  implementation runs (transformers' ``eager_attention_forward`` multiplies the whole ``s×s``
  matrix and then adds a mask; masking skips no work) and what FlopCounterMode measures. It is
  also PaLM's convention (arXiv 2204.02311 App. B: ``6N + 12·L·H·Q·T``).
* ``causal`` — only the query-key pairs the mask keeps, as a block-skipping kernel
  (FlashAttention) executes: Megatron-LM's halving, ``s²/2`` pairs
  (``megatron/training/training.py::num_floating_point_operations``: "causal mask (only half of
  the mask is non-zero)"), the convention of DeepSeek's published 155/250 GFLOPs per token
  (arXiv 2505.09343 Table 2). A query at position ``x`` is counted with ``x`` keys, the
  continuous form of the triangle (exactly ``s(s+1)/2`` with the diagonal: 1/s relative, ignored
  as Megatron ignores it). On a sliding-window layer of window ``w`` it is counted with
  ``min(w, x)`` keys: ``s·w − w²/2`` pairs when ``s > w``, the same as a full layer otherwise; on
  Llama-4's chunked layers (chunk ``C``) with the keys of its own chunk only. DeepSeek Sparse
  Attention (DeepSeek-V3.2): the MLA core is counted with ``min(index_topk, x)`` keys (the
  sliding-window count with ``w = index_topk``), its indexer with the ``x`` previous keys; under
  ``full`` both are the square eager runs.

Training (:func:`training_flops`, :class:`FlopReport`): backward =
``BACKWARD_PER_FORWARD = 2`` × forward for every matmul (one product for the input gradient,
one for the weight gradient; Megatron's "3x: forward, backward wgrad, backward dgrad"; Kaplan
et al. 2020 §2.1), so model FLOPs = ``FORWARD_BACKWARD = 3`` × forward. Activation
recomputation adds one more forward of what is recomputed (:func:`recompute_flops`);
FlashAttention's backward recomputes ``QKᵀ`` (:func:`flash_attention_recompute_flops`). Both are
hardware FLOPs, not model FLOPs (PaLM App. B's MFU counts neither).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any

from . import compressed, shared_block
from ._frozen import is_value, minimum, spec_cache
from .errors import EstimatorError
from .mixers import (
    indexer_matrix_params,
    indexer_score_flops_per_pair,
    mixer_matrix_params,
    recurrence_flops_per_token,
    shared_indexer_layers,
)
from .params import count_params, gate_width, gated_norm_params, hyper_connection_params
from .spec import ModelSpec

#: One multiply-add = 2 floating-point operations (REFERENCE.md §2).
FLOPS_PER_MAC = 2
#: Backward of a matmul = 2 matmuls of the same size: dgrad (input) and wgrad (weights).
BACKWARD_PER_FORWARD = 2
#: Forward + backward = 3 × forward for matmuls (Megatron ``forward_backward_expansion_factor``).
FORWARD_BACKWARD = 1 + BACKWARD_PER_FORWARD
#: Kaplan/Chinchilla's ``C ≈ 6·N·D``: 2 FLOPs per parameter forward, ×3 for training.
SIX_N = FLOPS_PER_MAC * FORWARD_BACKWARD
#: Matrices in a gated FFN (SwiGLU/GeGLU: gate, up, down) and in a plain one (up, down).
GATED_FFN_MATMULS = 3
PLAIN_FFN_MATMULS = 2

ATTENTION_CONVENTIONS = {
    "full": "executed square: s² query-key pairs per head and layer, sliding-window and chunked "
            "layers included (what eager attention runs and FlopCounterMode measures; PaLM "
            "App. B)",
    "causal": "masked pairs skipped: s²/2 per head and layer (Megatron-LM "
              "num_floating_point_operations, DeepSeek arXiv 2505.09343 Table 2); sliding-window "
              "layers min(window, position) keys per query; chunked layers their own chunk",
}
LM_HEAD_MODES = {
    "all": "logits on every position (training, FlopCounterMode on a full forward)",
    "last": "logits on the last position of each sequence only (inference prefill)",
}
RECOMPUTE_MODES = {
    "none": "no activation recomputation",
    "selective": "the attention core (QKᵀ, softmax, A·V) is recomputed in backward "
                 "(Korthikanti et al. 2022, arXiv 2205.05198 §4.2)",
    "full": "every transformer layer's forward is rerun in backward; the output layer (lm_head) "
            "is not (Korthikanti et al. 2022 §4; Megatron --recompute-granularity full)",
}

#: Components of :class:`FlopBreakdown`, in display order.
COMPONENTS = ("attention_projections", "attention_scores", "attention_values", "router",
              "routed_experts", "shared_experts", "dense_ffn", "lm_head", "sequence_mixers",
              "mtp", "per_layer_inputs", "residual_streams")


@dataclass(frozen=True, slots=True)
class FlopBreakdown:
    """Forward FLOPs by component; ``total`` is the sum of the parts.

    ``attention_projections``: q/k/v/o (MLA's low-rank projections; JetMoE's top-k attention
    experts and shared K/V). ``attention_scores``: ``QKᵀ``. ``attention_values``: ``A·V``.
    ``router``: MoE routers and JetMoE's attention router. ``routed_experts``: the ``k`` experts
    each token visits. ``shared_experts``: shared experts and Qwen2-MoE's 1-output gate.
    ``dense_ffn``: FFNs of dense layers. ``lm_head``: the output projection.
    """

    attention_projections: int = 0
    attention_scores: int = 0
    attention_values: int = 0
    router: int = 0
    routed_experts: int = 0
    shared_experts: int = 0
    dense_ffn: int = 0
    lm_head: int = 0
    #: hybrids: the non-attention mixers — their projections plus the recurrence
    #: (:func:`sequence_mixer_flops_per_token`)
    sequence_mixers: int = 0
    #: training with multi-token prediction: the MTP modules' own matmuls (``eh_proj`` and their
    #: transformer blocks, attention core included; :func:`mtp_forward_flops`); their pass
    #: through the shared output head is in ``lm_head``. 0 in every inference forward.
    mtp: int = 0
    #: Gemma-4's per-layer-input matrices (:func:`per_layer_input_flops_per_token`)
    per_layer_inputs: int = 0
    #: Gemma-3n's AltUp and LAuReL matmuls (:func:`residual_stream_flops_per_token`)
    residual_streams: int = 0

    @property
    def total(self) -> int:
        # the COMPONENTS, spelled out: read many times per report, a generator is 4x slower
        return (self.attention_projections + self.attention_scores + self.attention_values
                + self.router + self.routed_experts + self.shared_experts + self.dense_ffn
                + self.lm_head + self.sequence_mixers + self.mtp + self.per_layer_inputs
                + self.residual_streams)

    @property
    def attention_core(self) -> int:
        """``QKᵀ`` + ``A·V``: the sequence-length-dependent part."""
        return self.attention_scores + self.attention_values

    def to_dict(self) -> dict[str, int]:
        return {c: getattr(self, c) for c in COMPONENTS}


# ----------------------------------------------------------------------------------------------
# building blocks (per token or per sequence, one layer)
# ----------------------------------------------------------------------------------------------

def matmul_flops(m: int, k: int, n: int) -> int:
    """FLOPs of an ``(m×k)·(k×n)`` product: ``FLOPS_PER_MAC·m·k·n`` (REFERENCE.md §2)."""
    return FLOPS_PER_MAC * m * k * n


def ffn_flops_per_token(h: int, f: int, gated: bool) -> int:
    """One FFN of width ``f`` on one token: gated (SwiGLU/GeGLU: gate, up, down) ``3·2·h·f``,
    plain ``2·2·h·f`` (Shazeer 2020, arXiv 2002.05202; Megatron ``ffn_expansion_factor``)."""
    return (GATED_FFN_MATMULS if gated else PLAIN_FFN_MATMULS) * matmul_flops(1, h, f)


def attention_projection_flops_per_token(s: ModelSpec) -> int:
    """One layer's attention projections on one token, forward.

    Standard MHA/GQA/MQA (``modeling_llama.LlamaAttention``): ``2·h·(a·d + 2·g·d) + 2·a·d·h``.
    MLA (DeepSeek-V2 arXiv 2405.04434 §2.1; ``modeling_deepseek_v3``): ``q_proj`` or
    ``q_a_proj``+``q_b_proj``, ``kv_a_proj_with_mqa`` (h → r_kv + rope), ``kv_b_proj``
    (r_kv → a·(nope + v)) on every position, ``o_proj`` (a·v → h) — Megatron's MLA count;
    DeepSeek Sparse Attention adds its indexer's matrices
    (:func:`~estimator.mixers.indexer_matrix_params`); A.X-K2's ``q_gate_proj`` replaces
    ``q_b_proj`` (:class:`~estimator.spec.MLA`).
    MoA (JetMoE arXiv 2404.07413 §2; ``modeling_jetmoe``): the shared ``kv_proj`` (h → 2·g·d)
    plus ``top_k`` query/output expert pairs (h → g·d → h); the router is in
    :func:`router_flops_per_token`.
    ``attention_head_gate`` adds ``g_proj`` (h → a, one gate per head: BailingHybridAttention,
    Lfm3Attention), standard or MLA.
    """
    h, a, g, d = s.hidden_size, s.num_attention_heads, s.num_key_value_heads, s.head_dim
    head_gate = matmul_flops(1, h, a) if s.attention_head_gate else 0
    if s.mla is not None:
        m = s.mla
        if m.q_lora_rank is None:
            q = matmul_flops(1, h, a * m.qk_head_dim)
        elif m.q_gate:  # A.X-K2's q_gate_proj (2·r_q → a·(qk + v)) instead of q_b_proj
            q = matmul_flops(1, h, m.q_lora_rank) + matmul_flops(
                1, 2 * m.q_lora_rank, a * (m.qk_head_dim + m.v_head_dim))
        else:
            q = matmul_flops(1, h, m.q_lora_rank) + matmul_flops(1, m.q_lora_rank,
                                                                 a * m.qk_head_dim)
        kv = (matmul_flops(1, h, m.kv_lora_rank + m.qk_rope_head_dim)
              + matmul_flops(1, m.kv_lora_rank, a * (m.qk_nope_head_dim + m.v_head_dim)))
        gate = matmul_flops(1, h, a * m.v_head_dim) if m.gate_proj else 0  # HY-V4's gate_proj
        # DeepSeek Sparse Attention: the indexer's wq_b, wk and weights_proj on every token
        return (q + kv + gate + matmul_flops(1, a * m.v_head_dim, h) + head_gate
                + FLOPS_PER_MAC * indexer_matrix_params(m, h))
    if s.moa is not None:
        kv = matmul_flops(1, h, 2 * g * d)
        return kv + s.moa.top_k * (matmul_flops(1, h, g * d) + matmul_flops(1, g * d, h))
    gate = matmul_flops(1, h, a * d) if s.attention_output_gate else 0  # Qwen3-Next
    return matmul_flops(1, h, (a + 2 * g) * d) + matmul_flops(1, a * d, h) + gate + head_gate


def sequence_mixer_flops_per_token(s: ModelSpec) -> int:
    """One mixer layer (hybrids) on one token, forward: its projection matrices
    (``FLOPS_PER_MAC · mixer_matrix_params``, what FlopCounterMode counts on their
    ``nn.Linear``) plus the recurrence of the published algorithm in its recurrent form
    (:func:`estimator.mixers.recurrence_flops_per_token`, sources there), which grows linearly
    with the sequence — no ``s²`` term."""
    if s.mixer is None:
        return 0
    h = s.hidden_size
    return (FLOPS_PER_MAC * mixer_matrix_params(s.mixer, h)
            + recurrence_flops_per_token(s.mixer, h))


def attention_dims(s: ModelSpec) -> tuple[int, int, int]:
    """``(query heads, q/k head dim, v head dim)`` of the attention core.

    MLA: ``a`` heads of ``qk_nope + qk_rope`` for ``QKᵀ`` and ``v_head_dim`` for ``A·V`` (as
    transformers and Megatron compute it, decompressed). JetMoE: ``top_k·g`` heads of ``d``.
    """
    if s.mla is not None:
        return s.num_attention_heads, s.mla.qk_head_dim, s.mla.v_head_dim
    return s.num_attention_heads, s.head_dim, s.head_dim


def is_chunked_attention(s: ModelSpec) -> bool:
    """Llama-4 lists its chunked-attention layers as ``sliding_window_layers`` (see hf.py)."""
    return s.model_type in ("llama4", "llama4_text")


def attended_pairs_x2(seq_len: int, window: int | None, attention: str,
                      chunked: bool = False) -> int:
    """Twice the number of (query, key) pairs one head of one layer computes on one sequence.

    Doubled so that the causal halving stays an exact integer (see the module docstring for
    the conventions). ``full``: ``2·s²`` whatever the window (eager runs the square).
    ``causal``: ``s²`` (Megatron's ``s²/2``); with a sliding window ``w < s``: ``2·s·w − w²``
    (``∫₀ˢ min(w, x) dx``); with Llama-4 chunks of ``C``: ``(s // C)·C² + (s mod C)²``.
    """
    if attention == "full":
        return 2 * seq_len * seq_len
    if window is None or window >= seq_len:
        return seq_len * seq_len
    if chunked:
        n, r = divmod(seq_len, window)
        return n * window * window + r * r
    return 2 * seq_len * window - window * window


def attention_core_flops_per_sequence(s: ModelSpec, seq_len: int, window: int | None,
                                      attention: str) -> tuple[int, int]:
    """``(QKᵀ, A·V)`` FLOPs of one layer on one sequence: ``2·pairs·a·d_qk`` and
    ``2·pairs·a·d_v`` (Kaplan et al. 2020 Table 1 ``2·n_ctx·d_attn`` per token and its A·V twin;
    ``pairs`` from :func:`attended_pairs_x2`)."""
    heads, d_qk, d_v = attention_dims(s)
    p2 = attended_pairs_x2(seq_len, window, attention, chunked=is_chunked_attention(s))
    return (FLOPS_PER_MAC * p2 * heads * d_qk // 2, FLOPS_PER_MAC * p2 * heads * d_v // 2)


def layer_attention_projection_flops_per_token(s: ModelSpec, i: int) -> int:
    """Attention layer ``i``'s projections on one token for specs with per-layer shapes
    (:func:`~estimator.params.layer_attention_params`): ``q_proj`` ``2·h·a·d_i``, ``o_proj``
    ``2·a·dv_i·h``; a layer that owns its K/V adds ``k_proj`` ``2·h·g_i·d_i`` and (unless values
    reuse keys) ``v_proj`` ``2·h·g_i·dv_i``; a K/V-sharing layer computes neither; Laguna's
    ``a_i`` query heads and ``g_proj`` (:func:`~estimator.params.gate_width`)."""
    h, a = s.hidden_size, s.query_heads(i)
    g, d, dv, k_eq_v, owns_kv = s.layer_attention_shape(i)
    k = g * d if owns_kv else 0
    v = g * dv if owns_kv and not k_eq_v else 0
    # Laguna's g_proj (gate_width outputs) reads the layer input like q/k/v
    return matmul_flops(1, h, a * d + k + v + gate_width(s, i)) + matmul_flops(1, a * dv, h)


def per_layer_input_flops_per_token(s: ModelSpec) -> int:
    """Gemma-4's per-layer inputs on one token (:func:`~estimator.params.
    per_layer_input_params`): ``per_layer_model_projection`` ``2·h·L·p`` and per layer the gate
    ``h → p`` and projection ``p → h``; the table lookup is a gather (0 FLOPs)."""
    p, L, h = s.per_layer_input_size, s.num_hidden_layers, s.hidden_size
    return matmul_flops(1, h, L * p) + L * 2 * matmul_flops(1, h, p) if p else 0


def residual_stream_flops_per_token(s: ModelSpec) -> int:
    """Gemma-3n's AltUp and LAuReL on one token (:func:`~estimator.params.
    residual_stream_params`; ``modeling_gemma3n``), forward, ``n = altup_num_inputs``,
    ``r = laurel_rank``. Per layer: ``Gemma3nTextAltUp.predict`` runs the router ``2·h·n``, the
    prediction coefficients ``2·n·n²`` and mixes the ``n`` streams of every channel
    (``matmul`` of ``[h, n]`` by ``[n, n]``: ``2·h·n²``); ``correct`` runs the router again
    ``2·h·n`` and the correction coefficients ``2·n·n``; LAuReL ``2·h·r + 2·r·h``. Per model:
    ``altup_projections`` and ``altup_unembed_projections``, ``2·(n − 1)`` matmuls ``h → h``.
    Norms, scales and the element-wise correction are no matmuls (0, as FlopCounterMode)."""
    n, r, h, L = s.altup_num_inputs, s.laurel_rank, s.hidden_size, s.num_hidden_layers
    altup = (2 * matmul_flops(1, h, n) + matmul_flops(1, n, n * n) + matmul_flops(h, n, n)
             + matmul_flops(1, n, n)) if n else 0
    model = 2 * (n - 1) * matmul_flops(1, h, h) if n else 0
    return L * (altup + 2 * matmul_flops(1, h, r)) + model


def kind_attention_dims(s: ModelSpec) -> tuple[tuple[int, int], tuple[int, int]]:
    """``((d, dv) of the full layers, (d, dv) of the sliding layers)``: q/k and value head dims
    of the attention core by layer kind (:meth:`~estimator.spec.ModelSpec.attention_kind_dims`;
    both :func:`attention_dims`' unless the spec has per-layer shapes)."""
    if not s.has_layer_shapes:
        _, d_qk, d_v = attention_dims(s)
        return (d_qk, d_v), (d_qk, d_v)
    return s.attention_kind_dims(False)[1:], s.attention_kind_dims(True)[1:]


def router_flops_per_token(s: ModelSpec) -> int:
    """One MoE layer's router on one token: ``2·h·E`` (REFERENCE.md §2; Megatron ignores it);
    ``E + Z`` outputs with LongCat-Flash's zero-computation experts (``spec.router_width``).

    JetMoE's attention router (``2·h·E_attn`` on every layer) is added in :func:`forward_flops`.
    """
    return matmul_flops(1, s.hidden_size, s.router_width)


def routed_expert_flops_per_token(s: ModelSpec) -> int:
    """One MoE layer's routed experts on one token: ``k`` FFNs of width ``f_e`` (Fedus et al.
    2021, arXiv 2101.03961 §2: compute follows the ``k`` experts a token visits; no capacity
    padding — dropless)."""
    return s.num_experts_per_tok * ffn_flops_per_token(s.hidden_size, s.moe_intermediate_size,
                                                        s.gated_ffn)


def shared_expert_flops_per_token(s: ModelSpec) -> int:
    """One MoE layer's shared experts on one token: one FFN of total width ``f_sh`` (DeepSeekMoE
    arXiv 2401.06066 §3.2), plus Qwen2-MoE's sigmoid gate ``Linear(h, 1)`` (``2·h``)."""
    if not s.num_shared_experts:
        return 0
    f = ffn_flops_per_token(s.hidden_size, s.shared_expert_intermediate_size, s.gated_ffn)
    return f + (matmul_flops(1, s.hidden_size, 1) if s.shared_expert_gate else 0)


def dense_ffn_flops_per_token(s: ModelSpec) -> int:
    """One dense layer's FFN on one token (width ``intermediate_size``)."""
    return ffn_flops_per_token(s.hidden_size, s.intermediate_size, s.gated_ffn)


def lm_head_flops_per_position(s: ModelSpec) -> int:
    """The output projection on one position: ``2·h·V`` (tied or not, it is a matmul; ``V`` the
    head's rows, :attr:`~estimator.spec.ModelSpec.head_vocab_size`)."""
    return matmul_flops(1, s.hidden_size, s.head_vocab_size)


# ----------------------------------------------------------------------------------------------
# forward, training, decode
# ----------------------------------------------------------------------------------------------

def _check_workload(batch: int, seq_len: int, attention: str, lm_head: str) -> None:
    for name, v in (("batch", batch), ("seq_len", seq_len)):
        if isinstance(v, bool) or not isinstance(v, int) or v < 1:
            raise EstimatorError(name, v, "must be an integer >= 1")
    if attention not in ATTENTION_CONVENTIONS:
        raise EstimatorError("attention_flops", attention, "must be 'full' or 'causal'")
    if lm_head not in LM_HEAD_MODES:
        raise EstimatorError("lm_head", lm_head, "must be 'all' or 'last'")


@spec_cache(512)
def per_token_flops(s: ModelSpec) -> FlopBreakdown:
    """Position-independent forward FLOPs of one token through the whole model, by component
    (attention core excluded: it depends on the position; lm_head on this token).

    Sum over layer *types* — dense/MoE FFN and full/sliding attention are independent, so layer
    counts suffice: ``L`` attention projections, per MoE layer router + ``k`` routed experts +
    shared experts, per dense layer the dense FFN, JetMoE's attention router on every layer.
    DeepSeek-V4: ``attention_projections`` holds its attention, compressor and indexer
    projections and the hyper-connections' mixing matmuls
    (:func:`estimator.compressed.matmul_params_per_token`).
    Zamba2 (:mod:`estimator.shared_block`): per *use* of the shared block, its q/k/v/o (reading
    ``2h``), q/k/v adapters and per-use ``linear`` in ``attention_projections``, its MLP and
    MLP adapter in ``dense_ffn``; the Mamba-2 mixer of every layer in ``sequence_mixers``.
    A.X-K2's gated-norm MLPs: every layer's in ``attention_projections``, every MoE layer's
    second one in ``router``.
    Cached per spec (a frozen, hashable dataclass).
    """
    L, h = s.num_hidden_layers, s.hidden_size
    n_moe = s.num_moe_layers
    n_dense = s.num_dense_layers
    router = n_moe * router_flops_per_token(s) if n_moe else 0
    if s.moa is not None:
        router += L * matmul_flops(1, h, s.moa.num_experts)
    if s.compressed_attention is not None:  # DeepSeek-V4: compressors, indexer, mHC
        return FlopBreakdown(
            attention_projections=FLOPS_PER_MAC * compressed.matmul_params_per_token(s),
            router=router, routed_experts=n_moe * routed_expert_flops_per_token(s),
            shared_experts=n_moe * shared_expert_flops_per_token(s),
            lm_head=lm_head_flops_per_position(s))
    if s.shared_block is not None:  # Zamba2: the shared block on each of its uses
        uses = len(s.shared_block.uses)
        return FlopBreakdown(
            attention_projections=uses * FLOPS_PER_MAC
            * shared_block.attention_matmul_params_per_use(s),
            dense_ffn=uses * FLOPS_PER_MAC * shared_block.mlp_matmul_params_per_use(s),
            lm_head=lm_head_flops_per_position(s),
            sequence_mixers=s.num_mixer_layers * sequence_mixer_flops_per_token(s))
    if s.has_layer_shapes:  # Gemma-4: attention and FFN widths by layer
        f, wide = s.intermediate_size, len(s.wide_ffn_layers)
        return FlopBreakdown(
            attention_projections=sum(layer_attention_projection_flops_per_token(s, i)
                                      for i in range(L)),
            router=router,
            routed_experts=n_moe * routed_expert_flops_per_token(s) if n_moe else 0,
            shared_experts=n_moe * shared_expert_flops_per_token(s),
            dense_ffn=n_dense * dense_ffn_flops_per_token(s)
            + wide * (ffn_flops_per_token(h, 2 * f, s.gated_ffn)
                      - ffn_flops_per_token(h, f, s.gated_ffn)),
            lm_head=lm_head_flops_per_position(s),
            per_layer_inputs=per_layer_input_flops_per_token(s),
            residual_streams=residual_stream_flops_per_token(s))
    # A.X-K2's gated norms (params.gated_norm_params: h → r → h): the input norm's gate with
    # the attention projections, the MoE post-attention norm's gate with the router
    gate = FLOPS_PER_MAC * gated_norm_params(s)
    # HY-V4: no indexer matrices on layers that share a top-k; the hyper-connections' fn / hc_fn
    # mixing matmuls (F.linear on the n·h-wide streams) with the attention projections
    extra = FLOPS_PER_MAC * hyper_connection_params(s)[0]
    if s.mla is not None:
        extra -= shared_indexer_layers(s) * FLOPS_PER_MAC * indexer_matrix_params(s.mla, h)
    return FlopBreakdown(
        attention_projections=s.num_attention_layers * attention_projection_flops_per_token(s)
        + L * gate + extra,
        router=router + n_moe * gate,
        routed_experts=n_moe * routed_expert_flops_per_token(s) if n_moe else 0,
        shared_experts=n_moe * shared_expert_flops_per_token(s),
        dense_ffn=n_dense * dense_ffn_flops_per_token(s) if n_dense else 0,
        lm_head=lm_head_flops_per_position(s),
        sequence_mixers=s.num_mixer_layers * sequence_mixer_flops_per_token(s),
    )


def forward_flops(s: ModelSpec, batch: int, seq_len: int, attention: str = "full",
                  lm_head: str = "all") -> FlopBreakdown:
    """Forward matmul FLOPs of ``batch`` sequences of ``seq_len`` tokens, by component.

    ``T = batch·seq_len`` tokens through every position-independent matmul
    (:func:`per_token_flops`), plus per sequence the attention core of every layer
    (:func:`attention_core_flops_per_sequence`: full layers and sliding/chunked layers, two
    counts), plus the lm_head on every position (``lm_head='all'``) or on the last one
    (``'last'``). Conventions: module docstring. The embedding lookup is a gather: 0 FLOPs.
    """
    _check_workload(batch, seq_len, attention, lm_head)
    return _forward(s, per_token_flops(s), batch, seq_len, attention, lm_head)


def _forward(s: ModelSpec, p: FlopBreakdown, batch: int, seq_len: int, attention: str,
             lm_head: str) -> FlopBreakdown:
    """:func:`forward_flops` from ``p = per_token_flops(s)`` (validated inputs)."""
    T = batch * seq_len
    n_window = len(s.sliding_window_layers)
    n_full = s.num_attention_layers - n_window
    indexer = 0
    if s.mla is not None and s.mla.index_n_heads:
        # DeepSeek Sparse Attention: the MLA core over the index_topk selected keys (a query at
        # position x attends min(x, topk): the sliding-window count with w = topk, causal; eager
        # runs the full square and masks), the indexer over every previous key
        pairs_x2 = n_full * attended_pairs_x2(seq_len, s.mla.index_topk, attention)
        indexer = (batch * (n_full - shared_indexer_layers(s))
                   * attended_pairs_x2(seq_len, None, attention)
                   * indexer_score_flops_per_pair(s.mla) // 2)
    else:
        pairs_x2 = n_full * attended_pairs_x2(seq_len, None, attention)
    if n_window:
        pairs_x2 += n_window * attended_pairs_x2(seq_len, s.sliding_window, attention,
                                                 chunked=is_chunked_attention(s))
    heads, d_qk, d_v = attention_dims(s)
    core = batch * FLOPS_PER_MAC * heads * pairs_x2  # FLOPS_PER_MAC is even: // 2 is exact
    scores, values = core * d_qk // 2 + indexer, core * d_v // 2
    if s.compressed_attention is not None:  # DeepSeek-V4: raw window + compressed entries
        scores, values, indexer = compressed.core_flops(s, batch, seq_len, attention)
        scores += indexer
    if s.has_layer_shapes:  # Gemma-4, MiMo-V2-Flash, Laguna: heads and dims by layer kind
        (d_f, dv_f), (d_w, dv_w) = kind_attention_dims(s)
        a_f, a_w = s.kind_query_heads()
        full_x2 = attended_pairs_x2(seq_len, None, attention)
        win_x2 = attended_pairs_x2(seq_len, s.sliding_window, attention) if n_window else 0
        unit = batch * FLOPS_PER_MAC
        scores = unit * (a_f * full_x2 * d_f + a_w * win_x2 * d_w) // 2
        values = unit * (a_f * full_x2 * dv_f + a_w * win_x2 * dv_w) // 2
    return FlopBreakdown(
        attention_projections=T * p.attention_projections,
        attention_scores=scores,
        attention_values=values,
        router=T * p.router,
        routed_experts=T * p.routed_experts,
        shared_experts=T * p.shared_experts,
        dense_ffn=T * p.dense_ffn,
        lm_head=(T if lm_head == "all" else batch) * p.lm_head,
        sequence_mixers=T * p.sequence_mixers,
        per_layer_inputs=T * p.per_layer_inputs,
        residual_streams=T * p.residual_streams,
    )


def mtp_block_flops_per_token(s: ModelSpec) -> int:
    """Position-independent forward FLOPs of one multi-token-prediction module on one token
    (DeepSeek-V3, arXiv 2412.19437 §2.2): the projection ``M_k`` of the concatenated
    ``[RMSNorm(h); RMSNorm(Emb)]`` (``2h → h``, transformers' ``MtpLayer.eh_proj``) and its
    transformer block, of the kind :func:`estimator.params.mtp_params` counts (an MoE block when
    the model has experts: router + ``k`` routed + shared experts; else the dense FFN).
    Megatron-LM's ``num_floating_point_operations`` counts the same (``2·h·h`` MACs per module
    for ``eh_proj``, the block as the last layer's kind); its ``3·h`` for the norms is not
    matmul work and is left out here, as everywhere."""
    h = s.hidden_size
    block = attention_projection_flops_per_token(s)
    if s.num_experts:
        block += (router_flops_per_token(s) + routed_expert_flops_per_token(s)
                  + shared_expert_flops_per_token(s))
    else:
        block += dense_ffn_flops_per_token(s)
    return matmul_flops(1, 2 * h, h) + block


def mtp_forward_flops(s: ModelSpec, batch: int, seq_len: int, attention: str = "full"
                      ) -> tuple[int, int]:
    """``(modules, head)``: forward FLOPs of the ``num_mtp_layers`` MTP modules on ``batch``
    sequences of ``seq_len`` tokens in training, and of their passes through the shared output
    head (:func:`lm_head_flops_per_position` on every position, once per module).

    Each module runs its block on every position (:func:`mtp_block_flops_per_token`) plus one
    full-attention layer's core (:func:`attended_pairs_x2` in the ``attention`` convention) —
    as Megatron-LM counts it (``num_floating_point_operations``: the MTP layers are added to
    the layer count over the whole ``seq_len``, logits ``× (mtp_num_layers + 1)``); DeepSeek's
    depth-``k`` module predicts ``seq_len − k`` positions, ``k/seq_len`` less."""
    n = s.num_mtp_layers
    if not n:
        return 0, 0
    T = batch * seq_len
    heads, d_qk, d_v = attention_dims(s)
    core = batch * FLOPS_PER_MAC * heads * attended_pairs_x2(seq_len, None, attention)
    block = T * mtp_block_flops_per_token(s) + core * (d_qk + d_v) // 2
    return n * block, n * T * lm_head_flops_per_position(s)


def training_forward(s: ModelSpec, fwd: FlopBreakdown, batch: int, seq_len: int,
                     attention: str, mtp: bool) -> FlopBreakdown:
    """The forward a training step runs: ``fwd`` (:func:`forward_flops` of the same workload)
    plus, when ``mtp`` (the ``mtp_training`` option) and the spec has MTP modules, their work
    (:func:`mtp_forward_flops`: ``mtp`` component, head passes added to ``lm_head``)."""
    if not (mtp and s.num_mtp_layers):
        return fwd
    modules, head = mtp_forward_flops(s, batch, seq_len, attention)
    return dataclasses.replace(fwd, mtp=modules, lm_head=fwd.lm_head + head)


def backward_flops(fwd: FlopBreakdown) -> int:
    """Backward = ``BACKWARD_PER_FORWARD`` × forward for every matmul, attention core included
    (dgrad + wgrad; for ``QKᵀ``/``A·V`` the two operand gradients)."""
    return BACKWARD_PER_FORWARD * fwd.total


def recompute_flops(fwd: FlopBreakdown, recompute: str) -> int:
    """Extra forward work of activation recomputation (see :data:`RECOMPUTE_MODES`).

    ``full``: every layer again (all components but ``lm_head``; the MTP modules' blocks
    included). ``selective``: the attention core again (``QKᵀ`` + ``A·V``; Korthikanti et al.
    2022 §4.2; the MTP block's core is inside ``mtp`` and not counted). ``none``: 0.
    """
    if recompute == "full":
        return fwd.total - fwd.lm_head
    if recompute == "selective":
        return fwd.attention_core
    if recompute == "none":
        return 0
    raise EstimatorError("recompute", recompute, "must be 'none', 'selective' or 'full'")


def capacity_padding_flops(fwd: FlopBreakdown, capacity_factor: float) -> float:
    """Extra expert-GEMM FLOPs executed (forward + backward) per ``fwd`` when experts run padded
    to a fixed capacity (Megatron ``--moe-expert-capacity-factor`` with
    ``--moe-pad-expert-input-to-capacity``; GShard/Switch-style static shapes): every expert
    runs ``capacity = T·k/E·CF`` token slots (``moe_utils.get_capacity``: ``ceil(T·k/E·CF)``),
    i.e. ``CF×`` the routed-expert work of a dropless run (REFERENCE §2); ``CF < 1`` drops
    tokens, so the GPUs execute less. Model FLOPs are unchanged (a padded slot or a dropped
    token is not model work); ``capacity_factor = 0`` means dropless: 0. The per-expert ceiling
    is ignored (under ``E`` slots per step). Without padding, what runs depends on routing.
    """
    if capacity_factor <= 0:
        return 0.0
    return FORWARD_BACKWARD * (capacity_factor - 1) * fwd.routed_experts


def flash_attention_recompute_flops(fwd: FlopBreakdown) -> int:
    """FlashAttention's backward recomputes ``S = QKᵀ`` instead of storing it (Dao 2023,
    arXiv 2307.08691 Algorithm 2; torch's ``sdpa_backward_flop_count`` counts 5 products against
    the forward's 2): one more ``QKᵀ`` per training step."""
    return fwd.attention_scores


def training_flops(s: ModelSpec, batch: int, seq_len: int, attention: str = "full",
                   recompute: str = "none") -> int:
    """Training FLOPs of one forward+backward over ``batch × seq_len`` tokens, activation
    recomputation included: ``FORWARD_BACKWARD·fwd + recompute`` (logits on every position)."""
    fwd = forward_flops(s, batch, seq_len, attention)
    return FORWARD_BACKWARD * fwd.total + recompute_flops(fwd, recompute)


def six_n_flops_per_token(n_active: int) -> int:
    """``6·N`` training FLOPs per token (Kaplan et al. 2020 Eq. 2.2 with backward = 2× forward;
    Chinchilla arXiv 2203.15556 ``C ≈ 6ND``), ``N`` = active parameters."""
    return SIX_N * n_active


def six_n_with_attention_per_token(n_active: int, fwd_per_seq: FlopBreakdown,
                                   seq_len: int) -> float:
    """PaLM's ``6N + 12·L·H·Q·T`` (arXiv 2204.02311 App. B) generalised: ``6·N`` plus
    ``FORWARD_BACKWARD`` × the attention core per token in the chosen convention (PaLM's own is
    ``full``; GQA/MLA/sliding windows are handled by the detailed count)."""
    return SIX_N * n_active + FORWARD_BACKWARD * fwd_per_seq.attention_core / seq_len


MLA_DECODE_LAYOUTS = {
    "engine": "absorbed MLA (DeepSeek-V2 arXiv 2405.04434 §2.1.2: W_UK folded into the query, "
              "W_UV into the output; vLLM/SGLang/FlashMLA decode): attention runs over the "
              "cached latent, kv_b_proj never runs",
    "transformers": "as transformers 5.24 runs it: the latent is cached and kv_b_proj "
                    "re-expands every cached position at every step, then attention is "
                    "computed on decompressed K/V",
}


def mla_absorbed_flops_per_token(s: ModelSpec) -> int:
    """One MLA layer's projections for one decoded token with absorbed weights (DeepSeek-V2
    arXiv 2405.04434 §2.1.2): queries as usual, ``kv_a_proj_with_mqa``, then
    ``q_nope·W_UK`` (``a·nope·r_kv`` MACs) and ``(A·c)·W_UV`` (``a·r_kv·v`` MACs) in place of
    ``kv_b_proj``, and ``o_proj``. Attention then spans ``r_kv + rope`` (scores) and ``r_kv``
    (values) per head and key (:func:`decode_flops`)."""
    m = s.mla
    a = s.num_attention_heads
    std = attention_projection_flops_per_token(s)
    kv_b = matmul_flops(1, m.kv_lora_rank, a * (m.qk_nope_head_dim + m.v_head_dim))
    absorb = (matmul_flops(1, a * m.qk_nope_head_dim, m.kv_lora_rank)
              + matmul_flops(1, a * m.kv_lora_rank, m.v_head_dim))
    return std - kv_b + absorb


def decode_keys(s: ModelSpec, context_len: int) -> tuple[int, int]:
    """Keys one new query multiplies on ``(a full layer, a sliding/chunked layer)`` after
    ``context_len`` cached tokens: ``context_len + 1`` on full layers; ``min(context_len + 1,
    window)`` on sliding layers (transformers' sliding cache keeps ``window − 1`` tokens plus the
    new one); on Llama-4's chunked layers the keys of the current chunk, ``context_len mod C +
    1`` (transformers' chunked cache multiplies ``min(context_len + 1, C)`` and masks the rest)."""
    keys = context_len + 1
    if not s.sliding_window_layers:
        return keys, 0
    w = s.sliding_window
    return keys, (context_len % w) + 1 if is_chunked_attention(s) else minimum(keys, w)


def decode_flops(s: ModelSpec, context_len: int, mla_layout: str = "engine",
                 _per_token: FlopBreakdown | None = None) -> FlopBreakdown:
    """Forward FLOPs of generating one token after ``context_len`` cached tokens (KV cache).

    Every position-independent matmul once, the lm_head once, and the attention core over the
    keys of :func:`decode_keys` (one query sees all its keys: no causal convention arises).
    MLA per ``mla_layout`` (:data:`MLA_DECODE_LAYOUTS`): ``engine`` absorbs ``kv_b_proj``
    (:func:`mla_absorbed_flops_per_token`; scores over ``r_kv + rope``, values over ``r_kv`` per
    head and key); ``transformers`` adds ``kv_b_proj`` on every cached latent
    (``2·r_kv·a·(nope + v)`` per cached token and layer) and attends over decompressed K/V.
    DeepSeek Sparse Attention: the indexer scores all ``context_len + 1`` keys
    (:func:`~estimator.mixers.indexer_score_flops_per_pair`), the MLA core at most
    ``index_topk`` of them. Hybrids with MLA (Kimi-Linear): only the attention layers.
    DeepSeek-V4: :func:`estimator.compressed.decode_core_flops`.
    """
    if _per_token is None:  # a caller's values (compute() passes validated Options' values)
        if (isinstance(context_len, bool) or not isinstance(context_len, int)
                or context_len < 0):
            raise EstimatorError("context_len", context_len, "must be an integer >= 0")
        if mla_layout not in MLA_DECODE_LAYOUTS:
            raise EstimatorError("kv_cache", mla_layout, "must be 'engine' or 'transformers'")
    if s.compressed_attention is not None:  # DeepSeek-V4: window + compressed entries
        one = _per_token or per_token_flops(s)
        qk, idx = compressed.decode_core_flops(s, context_len)
        return dataclasses.replace(one, attention_scores=qk + idx, attention_values=qk)
    L = s.num_attention_layers  # MLA layers (all but a hybrid's mixer layers)
    n_window = len(s.sliding_window_layers)
    k_full, k_win = decode_keys(s, context_len)
    indexer = 0
    if s.mla is not None and s.mla.index_n_heads:  # DSA: the indexer scores every cached key,
        indexer = ((L - n_window - shared_indexer_layers(s)) * k_full
                   * indexer_score_flops_per_pair(s.mla))
        k_full = minimum(k_full, s.mla.index_topk)  # the MLA core only the top-k
    key_sum = (L - n_window) * k_full + n_window * k_win
    one = _per_token or per_token_flops(s)
    proj = one.attention_projections
    heads, d_qk, d_v = attention_dims(s)
    if s.mla is not None:
        m = s.mla
        if mla_layout == "engine":  # per layer: the absorbed projections for the usual ones
            proj += L * (mla_absorbed_flops_per_token(s) - attention_projection_flops_per_token(s))
            d_qk, d_v = m.kv_lora_rank + m.qk_rope_head_dim, m.kv_lora_rank
        else:
            proj += L * context_len * matmul_flops(1, m.kv_lora_rank,
                                                   heads * (m.qk_nope_head_dim + m.v_head_dim))
    dkeys, dvals = d_qk * key_sum, d_v * key_sum
    if s.has_layer_shapes:  # Gemma-4, MiMo-V2-Flash, Laguna: heads and dims by layer kind
        (d_f, dv_f), (d_w, dv_w) = kind_attention_dims(s)
        a_f, a_w = s.kind_query_heads()
        heads = 1  # the sums below carry the heads
        dkeys = a_f * k_full * d_f + a_w * k_win * d_w
        dvals = a_f * k_full * dv_f + a_w * k_win * dv_w
    return FlopBreakdown(
        attention_projections=proj,
        attention_scores=FLOPS_PER_MAC * heads * dkeys + indexer,
        attention_values=FLOPS_PER_MAC * heads * dvals,
        router=one.router, routed_experts=one.routed_experts, shared_experts=one.shared_experts,
        dense_ffn=one.dense_ffn, lm_head=one.lm_head, sequence_mixers=one.sequence_mixers,
        per_layer_inputs=one.per_layer_inputs, residual_streams=one.residual_streams,
    )


def decode_flops_per_token(s: ModelSpec, context_len: int, mla_layout: str = "engine") -> int:
    """Total of :func:`decode_flops`: FLOPs of one decode step for one sequence."""
    return decode_flops(s, context_len, mla_layout).total


# ----------------------------------------------------------------------------------------------
# the report section
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class FlopReport:
    """FLOPs of the workload in ``Options`` (exact integers; per-token values are ratios)."""

    convention: str
    batch: int
    seq_len: int
    lm_head: str
    forward: FlopBreakdown  # batch × seq_len tokens
    train_forward: FlopBreakdown  # one sequence of seq_len, logits everywhere (training)
    recompute: str
    flash_attention: bool
    spec: ModelSpec
    step_sequences: int  # micro_batch × grad_accum × dp
    decode: FlopBreakdown  # one new token after seq_len cached tokens
    mla_layout: str = "engine"  # opts.kv_cache: how an MLA model's decode is counted
    decode_is_mla: bool = False
    capacity_factor: float = 0.0  # MoE expert padding: hardware FLOPs only

    @property
    def n_active(self) -> int:
        """Active parameters per token, ``with_embedding`` (the project default; computed on
        demand: only the 6·N figures need it)."""
        return count_params(self.spec).active_with_embedding

    @property
    def tokens(self) -> int:
        return self.batch * self.seq_len

    @property
    def forward_per_token(self) -> float:
        return self.forward.total / self.tokens

    @property
    def training_model_flops_per_token(self) -> float:
        """``FORWARD_BACKWARD`` × forward per token: model FLOPs (PaLM App. B's MFU numerator,
        what Megatron and DeepSeek publish)."""
        return FORWARD_BACKWARD * self.train_forward.total / self.seq_len

    @property
    def recompute_per_token(self) -> float:
        return recompute_flops(self.train_forward, self.recompute) / self.seq_len

    @property
    def flash_recompute_per_token(self) -> float:
        if not self.flash_attention:
            return 0.0
        return flash_attention_recompute_flops(self.train_forward) / self.seq_len

    @property
    def training_per_token(self) -> float:
        """Forward + backward + activation recomputation, per token."""
        return self.training_model_flops_per_token + self.recompute_per_token

    @property
    def capacity_padding_per_token(self) -> float:
        return capacity_padding_flops(self.train_forward, self.capacity_factor) / self.seq_len

    @property
    def training_hardware_per_token(self) -> float:
        """Everything the GPUs execute: also FlashAttention's in-backward ``QKᵀ`` recompute and
        the padded expert slots of a capacity factor."""
        return (self.training_per_token + self.flash_recompute_per_token
                + self.capacity_padding_per_token)

    @property
    def mtp_note(self) -> str:
        """Whether the training figures include the spec's multi-token-prediction modules."""
        n = self.spec.num_mtp_layers
        if not n:
            return "MTP training: none (the model has no multi-token-prediction modules)"
        if not self.train_forward.mtp:
            return (f"MTP training: off (mtp_training=False): the model's {n} "
                    "multi-token-prediction module(s) are not trained and not counted")
        return (f"MTP training: on (mtp_training=True, as DeepSeek-V3's pretraining): {n} "
                f"multi-token-prediction module(s) trained "
                f"with the model, {self.train_forward.mtp / self.seq_len:,.0f} forward FLOPs per "
                "token in their projections and blocks plus one more pass of the shared output "
                "head each (in lm_head); the inference forward and decode exclude them")

    def to_dict(self) -> dict[str, Any]:
        tf = self.train_forward
        n_active = self.n_active
        fwd_pt = tf.total / self.seq_len
        step_fwd = self.step_sequences * tf.total
        step_extra = self.step_sequences * recompute_flops(tf, self.recompute)
        flash = flash_attention_recompute_flops(tf) if self.flash_attention else 0
        training, recompute = self.training_per_token, self.recompute_per_token  # read once
        return {
            "convention": self.convention,
            "convention_note": ATTENTION_CONVENTIONS[self.convention],
            "flops_per_mac": FLOPS_PER_MAC,
            "counted": "matrix multiplications only (norms, activations, softmax, RoPE, biases, "
                       "embedding lookup: 0)",
            "batch": self.batch,
            "seq_len": self.seq_len,
            "tokens": self.tokens,
            "lm_head": self.lm_head,
            "forward": self.forward.total,
            "forward_per_token": self.forward_per_token,
            "breakdown": self.forward.to_dict(),
            "backward": backward_flops(self.forward),
            "training_per_token": training,
            "training_model_flops_per_token": self.training_model_flops_per_token,
            "training_hardware_per_token": self.training_hardware_per_token,
            "training_multiplier": training / fwd_pt,
            "training_multiplier_explanation": (
                f"forward (1) + backward ({BACKWARD_PER_FORWARD}× forward: input and weight "
                f"gradients) = {FORWARD_BACKWARD}× forward for every matmul; recompute="
                f"'{self.recompute}' adds {recompute / fwd_pt:.3f}× "
                f"({RECOMPUTE_MODES[self.recompute]}). Per token of a {self.seq_len}-token "
                "sequence with logits on every position. training_model_flops_per_token omits "
                "recomputation (the MFU convention); training_hardware_per_token adds "
                "FlashAttention's in-backward QKᵀ recompute when flash_attention is on."),
            "mtp_training": self.mtp_note,
            "recompute": self.recompute,
            "recompute_per_token": recompute,
            "flash_attention": self.flash_attention,
            "flash_attention_recompute_per_token": self.flash_recompute_per_token,
            "capacity_factor": self.capacity_factor,
            "capacity_padding_per_token": self.capacity_padding_per_token,
            "six_n_active_per_token": six_n_flops_per_token(n_active),
            "six_n_active_plus_attention_per_token": six_n_with_attention_per_token(
                n_active, tf, self.seq_len),
            "n_active": n_active,
            "n_active_convention": "with_embedding (params.active_by_convention.with_embedding)",
            "decode_per_token": self.decode.total,
            "decode_breakdown": self.decode.to_dict(),
            "decode_note": (f"one new token after {self.seq_len} cached tokens, one sequence; "
                            + (MLA_DECODE_LAYOUTS[self.mla_layout] if self.decode_is_mla
                               else "attention over the cached keys plus the new one")),
            "training_step": {
                "sequences": self.step_sequences,
                "tokens": self.step_sequences * self.seq_len,
                "model_flops": FORWARD_BACKWARD * step_fwd,
                "flops": FORWARD_BACKWARD * step_fwd + step_extra,
                "hardware_flops": FORWARD_BACKWARD * step_fwd + step_extra
                + self.step_sequences * flash
                + self.step_sequences * capacity_padding_flops(tf, self.capacity_factor),
            },
        }


def compute(model, opts, gpu=None) -> FlopReport:  # noqa: ARG001  (gpu: same signature as peers)
    """The FLOPs section of the report for ``model`` (a :class:`~estimator.presets.Model` or a
    spec) under ``opts`` (batch, seq_len, attention_flops, recompute, flash_attention,
    micro_batch, grad_accum, dp; kv_cache picks the MLA decode layout)."""
    s = model.spec if hasattr(model, "spec") else model
    conv = opts.attention_flops  # opts: validated Options (batch, seq_len >= 1; conv a choice)
    p = per_token_flops(s)
    fwd = _forward(s, p, opts.batch, opts.seq_len, conv, "all")
    train_fwd = training_forward(
        s, fwd if is_value(opts.batch, 1) else _forward(s, p, 1, opts.seq_len, conv, "all"),
        1, opts.seq_len, conv, opts.mtp_training)
    return FlopReport(
        convention=conv, batch=opts.batch, seq_len=opts.seq_len, lm_head="all", forward=fwd,
        train_forward=train_fwd, recompute=opts.recompute,
        flash_attention=opts.flash_attention, spec=s,
        step_sequences=opts.micro_batch * opts.grad_accum * max(opts.dp, 1),
        decode=decode_flops(s, opts.seq_len, opts.kv_cache, p), mla_layout=opts.kv_cache,
        decode_is_mla=s.mla is not None,
        capacity_factor=opts.capacity_factor if s.is_moe else 0.0,
    )


FORMULAS = [matmul_flops, ffn_flops_per_token, attention_projection_flops_per_token,
            attention_dims, attended_pairs_x2, attention_core_flops_per_sequence,
            router_flops_per_token, routed_expert_flops_per_token,
            shared_expert_flops_per_token, dense_ffn_flops_per_token,
            lm_head_flops_per_position, per_token_flops, forward_flops, backward_flops,
            recompute_flops, flash_attention_recompute_flops, capacity_padding_flops,
            training_flops,
            six_n_flops_per_token, six_n_with_attention_per_token,
            mla_absorbed_flops_per_token, decode_keys, decode_flops, decode_flops_per_token,
            sequence_mixer_flops_per_token, mtp_block_flops_per_token, mtp_forward_flops,
            training_forward, residual_stream_flops_per_token]

__all__ = [f.__name__ for f in FORMULAS] + [
    "FlopBreakdown", "FlopReport", "compute", "COMPONENTS", "FLOPS_PER_MAC",
    "BACKWARD_PER_FORWARD", "FORWARD_BACKWARD", "SIX_N", "ATTENTION_CONVENTIONS",
    "LM_HEAD_MODES", "RECOMPUTE_MODES", "MLA_DECODE_LAYOUTS"]
