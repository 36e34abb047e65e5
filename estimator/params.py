"""Exact parameter counts, total and active per token, with a breakdown by component.

The oracle is the reference implementation: every count here equals
``sum(p.numel() for p in model.parameters())`` of Hugging Face ``transformers``' own model class
built from the same config on the ``meta`` device (tests/test_params_hf.py checks this on many
random configs per family). Integers throughout; no floating point.

Active parameters per token (REFERENCE.md §1; Fedus et al. 2021, arXiv 2101.03961 §2):
``active = total − (E − k)/E × routed_expert_params`` — the routed experts a token does not use.
JetMoE's attention experts (:class:`~estimator.spec.MoA`) are routed the same way. Publishers differ
on the embedding; three conventions are reported side by side, see :class:`ParamCounts`.
"""

from __future__ import annotations

import dataclasses
from dataclasses import asdict, dataclass

from . import compressed, shared_block
from ._frozen import spec_cache
from .errors import EstimatorError
from .mixers import indexer_params, mixer_params, shared_indexer_layers
from .spec import ModelSpec

#: Names of the active-parameter conventions, in the order reports show them.
ACTIVE_CONVENTIONS = {
    "with_embedding": "all parameters a token touches, input embedding included "
                      "(Mistral, Qwen, Meta, AI2 model cards)",
    "without_embedding": "excluding the input-embedding table; a tied table still counts as the "
                         "output head (DeepSeek, OpenAI gpt-oss model cards)",
    "non_embedding": "excluding both the input embedding and the lm_head (Kaplan et al. 2020, "
                     "arXiv 2001.08361 §2.1)",
}
#: Values of the ``active_convention`` option: ``publisher`` (each family's own, below) or one of
#: :data:`ACTIVE_CONVENTIONS`.
ACTIVE_CONVENTION_OPTIONS = ("publisher", *ACTIVE_CONVENTIONS)


@dataclass(frozen=True)
class PublisherConvention:
    """The active-parameter convention a family's publisher uses, and the card that shows it:
    ``card`` is the preset (``configs/models/<card>.yaml``) whose published figure matches this
    convention and no other at the card's precision (tests/test_active_convention.py checks it)."""

    convention: str
    card: str
    figure: str


_MISTRAL = ("with_embedding", "mixtral-8x7b",
            "Mistral AI, 'Mixtral of experts' (2023-12-11): 12.9B per token = 12.88B with the "
            "input embedding (12.75B without)")
_META = ("with_embedding", "llama-4-scout",
         "Meta, Llama-4-Scout-17B-16E card: 17B active = 17.17B with the input embedding "
         "(16.14B without)")

#: Each family's publisher convention, established only from a model card figure that fits it
#: and no other (the ``card`` preset's ``published`` block). Families absent here have no such
#: card yet: ``publisher`` falls back to ``with_embedding`` and says so
#: (:func:`active_convention_of`). A config read through the ``architectures`` fallback (Kimi-K2
#: as ``deepseek_v3``) takes the convention of the family it was read as.
PUBLISHER_CONVENTIONS: dict[str, PublisherConvention] = {
    "mixtral": PublisherConvention(*_MISTRAL),
    "phimoe": PublisherConvention(
        "with_embedding", "phi-3.5-moe",
        "Microsoft, Phi-3.5-MoE-instruct card: 6.6B active = 6.64B with the input embedding "
        "(6.51B without)"),
    "olmoe": PublisherConvention(
        "with_embedding", "olmoe-1b-7b",
        "AI2, OLMoE (arXiv 2409.02060): 1.3B active = 1.28B with the input embedding "
        "(1.18B without)"),
    "qwen2_moe": PublisherConvention(
        "with_embedding", "qwen1.5-moe-a2.7b",
        "Qwen, Qwen1.5-MoE-A2.7B card: 2.7B activated = 2.69B with the input embedding "
        "(2.38B without)"),
    "qwen3_moe": PublisherConvention(
        "with_embedding", "qwen3-30b-a3b",
        "Qwen, Qwen3-30B-A3B card: 3.3B activated = 3.353B with the input embedding, "
        "truncated (3.04B without)"),
    "deepseek_v2": PublisherConvention(
        "without_embedding", "deepseek-v2-lite",
        "DeepSeek, DeepSeek-V2-Lite card: 2.4B activated = 2.451B without the input embedding, "
        "truncated (2.66B with)"),
    "deepseek_v3": PublisherConvention(
        "without_embedding", "deepseek-v3",
        "DeepSeek-V3 report (arXiv 2412.19437): 37B activated = 36.63B without the input "
        "embedding (37.55B with)"),
    "glm4_moe": PublisherConvention(
        "non_embedding", "glm-4.5",
        "Z.ai, GLM-4.5 card: 32B active = 32.08B without the input embedding and lm_head "
        "(32.86B with the lm_head, 33.63B with both)"),
    "glm_moe_dsa": PublisherConvention(
        "non_embedding", "glm-5",
        "Z.ai, GLM-5 card: 40B active = 39.88B without the input embedding and lm_head "
        "(40.83B with the lm_head, 41.78B with both)"),
    "longcat_flash": PublisherConvention(
        "without_embedding", "longcat-flash-chat",
        "Meituan, LongCat-Flash-Chat card: ~27B activated on average = 27.15B without the "
        "input embedding at 8 real experts per token (27.95B with it); its 18.6B-31.3B range "
        "is 0 and 12 real experts without the embedding, truncated"),
    "gpt_oss": PublisherConvention(
        "without_embedding", "gpt-oss-120b",
        "OpenAI, gpt-oss model card (arXiv 2508.10925) Table 1: 5.13B active = 5.133B without "
        "the input embedding (5.71B with)"),
    "llama4": PublisherConvention(*_META),
    "llama4_text": PublisherConvention(*_META),
}


def active_convention_of(option: str, model_type: str) -> tuple[str, str]:
    """``(convention, why)`` for the ``active_convention`` option and a family: an explicit
    convention is taken as given; ``publisher`` reads :data:`PUBLISHER_CONVENTIONS`, else
    ``with_embedding``, saying that no card figure establishes the family's convention."""
    if option != "publisher":
        return option, "chosen (active_convention option)"
    pc = PUBLISHER_CONVENTIONS.get(model_type)
    if pc is None:
        return "with_embedding", (f"publisher: no model card figure establishes the "
                                  f"convention of {model_type!r}; with_embedding assumed")
    return pc.convention, f"publisher: {pc.figure}"


#: How many *real* experts a token of a model with zero-computation experts (LongCat-Flash,
#: arXiv 2509.01322 §2.1) is assumed to use: the router picks its top ``K`` of ``E`` routed
#: plus ``Z`` identity experts, and how many picks are real depends on the token. The importer
#: writes the ``uniform`` count into ``num_experts_per_tok``; every FLOP, active-parameter and
#: serving figure follows it, and a sweep over ``num_experts_per_tok`` (``K − Z`` … ``K``) gives
#: the rest of the range (:func:`zero_expert_active_range`).
ZERO_EXPERT_CONVENTIONS = {
    "uniform": "K·E/(E + Z) real experts per token, rounded to the nearest integer: the "
               "expectation when the router's K picks fall uniformly on the E + Z experts "
               "(LongCat-Flash: 12·512/768 = 8, its card's 27B average)",
    "all_real": "K: every pick a real expert (LongCat-Flash's card maximum, 31.3B)",
}


def real_experts_per_token(E: int, Z: int, K: int, convention: str = "uniform") -> int:
    """Real experts per token under a :data:`ZERO_EXPERT_CONVENTIONS` entry (``uniform``:
    ``round(K·E/(E+Z))``, at least ``max(1, K − Z)``; ``all_real``: ``K``)."""
    if convention == "all_real":
        return K
    n, d = K * E, E + Z
    return max(1, K - Z, (2 * n + d) // (2 * d))  # round half up, exact integers


def zero_expert_active_range(s: ModelSpec) -> tuple[int, int]:
    """``(fewest, most)`` active parameters per token (``with_embedding``) of a model with
    zero-computation experts: ``max(0, K − Z)`` real experts per token up to ``min(K, E)``
    (``K = router_top_k``). The spec's own ``num_experts_per_tok`` lies between."""
    c = count_params(s)
    K, Z, E = s.router_top_k, s.num_zero_experts, s.num_experts
    lo, hi = max(0, K - Z), min(K, E)
    each = s.num_moe_layers * expert_params(s)
    at_k = c.active_with_embedding
    k = s.num_experts_per_tok
    return at_k - (k - lo) * each, at_k + (hi - k) * each


@dataclass(frozen=True)
class ParamCounts:
    """Parameters by component; ``total`` is derived from the parts so they cannot disagree.

    ``routed_experts`` holds every routed expert of every MoE layer (all ``E``, whatever ``k``);
    ``routed_inactive`` is the share a single token does not use (``(E−k)/E`` of the routed
    experts, plus JetMoE's unused attention experts). ``buffers`` are checkpoint tensors that are
    not parameters (DeepSeek-V3's ``e_score_correction_bias``); ``mtp`` counts multi-token-
    prediction modules, which ship in the checkpoint but are outside the main model (their
    embedding and output head are shared with it, so are not counted again). ``vision``: a
    multimodal wrapper's vision encoder and projector (:mod:`estimator.vision`), outside
    ``total``, which is the language model.
    """

    embedding: int
    attention: int
    router: int
    routed_experts: int
    shared_experts: int
    dense_ffn: int
    norms: int
    lm_head: int
    other: int
    routed_inactive: int
    buffers: int = 0
    mtp: int = 0
    embedding_tied: bool = False
    vision: int = 0
    position_embedding: int = 0  # learned absolute positions, part of ``embedding`` (GPT-2's wpe)
    #: which convention :attr:`active` follows, and why (:func:`active_convention_of`)
    active_convention: str = "with_embedding"
    active_convention_source: str = "default of count_params"
    #: hybrids: the non-attention sequence mixers (Gated DeltaNet, Mamba, short conv, lightning
    #: attention) of every layer that runs one (:mod:`estimator.mixers`)
    sequence_mixers: int = 0
    #: Gemma-4's per-layer embedding table (``embed_tokens_per_layer``), part of ``embedding``:
    #: an input-only lookup, so excluded from ``without_embedding`` like learned positions
    per_layer_embedding: int = 0

    @property
    def total(self) -> int:
        return (self.embedding + self.attention + self.router + self.routed_experts
                + self.shared_experts + self.dense_ffn + self.norms + self.lm_head + self.other
                + self.sequence_mixers)

    @property
    def active_with_embedding(self) -> int:
        """Active per token, every parameter a token touches (what FLOPs and the 6·N figures
        use)."""
        return self.total - self.routed_inactive

    @property
    def active_without_embedding(self) -> int:
        """Without the input embeddings; a tied token table still counts, as the output head
        (learned position embeddings are input-only, so they never count)."""
        input_only = self.position_embedding + self.per_layer_embedding
        return self.active_with_embedding - (input_only if self.embedding_tied
                                             else self.embedding)

    @property
    def active_non_embedding(self) -> int:
        return self.active_with_embedding - self.embedding - self.lm_head

    @property
    def active_by_convention(self) -> dict[str, int]:
        return {"with_embedding": self.active_with_embedding,
                "without_embedding": self.active_without_embedding,
                "non_embedding": self.active_non_embedding}

    @property
    def active(self) -> int:
        """Active per token in :attr:`active_convention` (``with_embedding`` as
        :func:`count_params` returns it; a report's follows its ``active_convention``
        option)."""
        c = self.active_convention
        if c == "with_embedding":  # the default: skip building active_by_convention
            return self.active_with_embedding
        return self.active_by_convention[c]

    @property
    def non_embedding(self) -> int:
        """Total minus embedding and lm_head (Kaplan's N)."""
        return self.total - self.embedding - self.lm_head

    @property
    def breakdown(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in ("embedding", "attention", "router",
                                              "routed_experts", "shared_experts", "dense_ffn",
                                              "norms", "lm_head", "other", "sequence_mixers")}

    def to_dict(self) -> dict:
        return {
            "total": self.total,
            "active": self.active,
            "active_convention": self.active_convention,
            "active_convention_source": self.active_convention_source,
            "active_by_convention": self.active_by_convention,
            "conventions": dict(ACTIVE_CONVENTIONS),
            "non_embedding_total": self.non_embedding,
            "breakdown": self.breakdown,
            "routed_inactive_per_token": self.routed_inactive,
            "buffers": self.buffers,
            "mtp": self.mtp,
            "vision": self.vision,
            "position_embedding": self.position_embedding,
            "per_layer_embedding": self.per_layer_embedding,
            "embedding_tied": self.embedding_tied,
        }

    def as_flat(self) -> dict:
        return asdict(self)


# ----------------------------------------------------------------------------------------------
# per-component counts (one function per block; shapes as in the HF modeling files)
# ----------------------------------------------------------------------------------------------

def norm_params(s: ModelSpec, width: int) -> int:
    """RMSNorm(width): ``width`` weights; LayerNorm with bias: ``2·width``; none without
    learnable parameters (``norm_weight`` false: OLMo-1's ``OlmoLayerNorm``)."""
    if not s.norm_weight:
        return 0
    return 2 * width if (s.norm_type == "layernorm" and s.norm_bias) else width


def layer_norm_params(s: ModelSpec) -> int:
    """One layer's norms of width ``h``: ``norms_per_layer · norm(h)`` — 2 in a pre-norm block
    (``modeling_llama``: input and post-attention), 2 post-norms in OLMo-2
    (``modeling_olmo2``), 4 in Gemma-2/3 and GLM-4 (pre and post around attention and MLP:
    ``modeling_gemma2``, ``modeling_glm4``), 1 in Cohere's parallel attention+MLP block
    (``modeling_cohere.CohereDecoderLayer``: one input LayerNorm feeds both)."""
    return s.norms_per_layer * norm_params(s, s.hidden_size) + gated_norm_params(s)


def hyper_connection_params(s: ModelSpec, layers: int | None = None,
                            head: bool = True) -> tuple[int, int]:
    """``(matrices, vectors)`` of HY-V4's hyper-connections (``modeling_hy_v4``): per layer two
    ``HYV4HyperConnection`` (``fn`` 2n × n·h, ``base`` 2n, ``scale`` 2), and the
    ``HYV4HyperHead`` (``hc_fn`` n × n·h, ``hc_base`` n, ``hc_scale`` 1) when ``head``; n =
    ``hc_mult``, ``layers`` default all. (0, 0) without."""
    n, h = s.hc_mult, s.hidden_size
    if not n:
        return 0, 0
    L = s.num_hidden_layers if layers is None else layers
    return (L * 2 * 2 * n * n * h + (n * n * h if head else 0),
            L * 2 * (2 * n + 2) + (n + 1 if head else 0))


def gated_norm_params(s: ModelSpec) -> int:
    """One A.X-K2 gated RMSNorm's gate (``modeling_axk2.AXK2GateMLP``: ``fc1`` h → r, ``fc2``
    r → h, no biases; r = ``gated_norm_rank``): ``2·h·r``, 0 without. Every layer's input norm
    has one (in :func:`layer_norm_params`), every MoE layer's post-attention norm another
    (:func:`moe_norm_params`)."""
    return 2 * s.hidden_size * s.gated_norm_rank


def moe_norm_params(s: ModelSpec) -> int:
    """Norm parameters an MoE layer has beyond :func:`layer_norm_params`: A.X-K1's norm on the
    MoE output (``AXK1MoE.post_mlp_layernorm``, width h) and A.X-K2's gate on the
    post-attention norm (:func:`gated_norm_params`)."""
    return (norm_params(s, s.hidden_size) if s.moe_output_norm else 0) + gated_norm_params(s)


def attention_params(s: ModelSpec) -> int:
    """One layer's attention block, all attention experts included (norms inside it too).

    Standard (MHA/GQA/MQA, ``modeling_llama.LlamaAttention``): ``h·a·d + 2·h·g·d + a·d·h``,
    plus ``a·d + 2·g·d`` q/k/v biases, ``h`` output bias, q/k norms (of the block's
    :func:`norm_params` type), ``a`` sinks (gpt-oss), BitNet's ``attn_sub_norm`` (width ``h``,
    before ``o_proj``; ``sub_norms``).
    MLA (``modeling_deepseek_v3.DeepseekV3Attention``): see :class:`~estimator.spec.MLA`;
    with DeepSeek Sparse Attention its indexer (:func:`~estimator.mixers.indexer_params`).
    MoA (``modeling_jetmoe.JetMoeAttention``): see :class:`~estimator.spec.MoA`.
    ``attention_head_gate`` (standard or MLA): ``g_proj`` ``h·a``, one sigmoid gate per head
    (``modeling_bailing_hybrid.BailingHybridAttention``, ``modeling_lfm3.Lfm3Attention``).
    """
    h, a, g, d = s.hidden_size, s.num_attention_heads, s.num_key_value_heads, s.head_dim
    gate = h * a if s.attention_head_gate else 0
    if s.mla is not None:
        m = s.mla
        if m.q_lora_rank is None:
            q = h * a * m.qk_head_dim
        elif m.q_gate:  # A.X-K2: q_gate_proj 2·r_q → a·(qk + v) instead of q_b_proj
            q = (h * m.q_lora_rank + m.q_lora_rank
                 + 2 * m.q_lora_rank * a * (m.qk_head_dim + m.v_head_dim))
        else:
            q = h * m.q_lora_rank + m.q_lora_rank + m.q_lora_rank * a * m.qk_head_dim
        kv = (h * (m.kv_lora_rank + m.qk_rope_head_dim) + m.kv_lora_rank
              + m.kv_lora_rank * a * (m.qk_nope_head_dim + m.v_head_dim))
        o = a * m.v_head_dim * h
        bias = 0
        if s.attention_bias:  # DeepSeek: q_a_proj (or q_proj), kv_a_proj_with_mqa, o_proj
            bias += (m.q_lora_rank if m.q_lora_rank is not None else 0)
            bias += m.kv_lora_rank + m.qk_rope_head_dim
        if s.attention_out_bias:
            bias += h
        out_gate = h * a * m.v_head_dim if m.gate_proj else 0  # HY-V4's output gate_proj
        sinks = a if s.attention_sinks else 0  # HY-V4: one sink logit per head
        # DSA's lightning indexer (V3.2), on a layer that runs one (shared_indexer_layers)
        return q + kv + o + bias + gate + out_gate + sinks + indexer_params(m, h)
    if s.moa is not None:
        E = s.moa.num_experts
        kv = h * 2 * g * d
        experts = E * (h * g * d + g * d * h)
        router = h * E
        return kv + experts + router + h  # + the shared output bias
    p = h * a * d + 2 * h * g * d + a * d * h + gate
    if s.attention_bias:
        p += a * d + 2 * g * d
    if s.attention_output_gate:  # Qwen3NextAttention: q_proj is h → 2·a·d (queries and gate)
        p += h * a * d + (a * d if s.attention_bias else 0)
    if s.attention_out_bias:
        p += h
    if s.qk_norm == "head":  # one norm of width d for q, one for k (LayerNorm: + bias, Phi)
        p += 2 * norm_params(s, d)
    elif s.qk_norm == "full":
        p += norm_params(s, a * d) + norm_params(s, g * d)
    if s.attention_sinks:
        p += a
    if s.sub_norms:  # BitNetAttention.attn_sub_norm: RMSNorm(hidden_size) before o_proj
        p += norm_params(s, h)
    return p


def attention_inactive_params(s: ModelSpec) -> int:
    """Attention parameters one token does not use: JetMoE's unselected attention experts."""
    if s.moa is None:
        return 0
    h, g, d = s.hidden_size, s.num_key_value_heads, s.head_dim
    return (s.moa.num_experts - s.moa.top_k) * 2 * h * g * d


def mlp_params(h: int, f: int, gated: bool, bias: bool) -> int:
    """One MLP: gated (SwiGLU/GeGLU, Shazeer 2020 arXiv 2002.05202: gate, up, down) ``3·h·f``,
    plain ``2·h·f``; biases ``2f+h`` / ``f+h``."""
    n_in = 2 if gated else 1
    p = n_in * h * f + f * h
    if bias:
        p += n_in * f + h
    return p


def expert_params(s: ModelSpec) -> int:
    """One routed expert: an MLP of width ``f_e`` (biases only where ``expert_bias``)."""
    return mlp_params(s.hidden_size, s.moe_intermediate_size, s.gated_ffn, s.expert_bias)


def router_params(s: ModelSpec) -> int:
    """One MoE layer's router: ``h·E``, plus an ``E`` bias where ``router_bias`` (gpt-oss);
    ``E + Z`` outputs with LongCat-Flash's zero-computation experts (``spec.router_width``;
    ``modeling_longcat_flash.LongcatFlashTopkRouter.classifier``).

    (Qwen2-MoE's shared-expert gate is counted with the shared experts.)
    """
    return s.hidden_size * s.router_width + (s.router_width if s.router_bias else 0)


def shared_expert_params(s: ModelSpec) -> int:
    """One MoE layer's shared experts, one MLP of total width ``f_sh`` plus its gate (``h``).

    Qwen2-MoE builds ``shared_expert_gate`` (``Linear(h, 1)``) in every sparse block, even when
    ``shared_expert_intermediate_size`` is 0, so the gate is counted on its own.
    """
    p = 0
    if s.num_shared_experts:
        p = mlp_params(s.hidden_size, s.shared_expert_intermediate_size, s.gated_ffn,
                       s.shared_expert_bias)
    return p + (s.hidden_size if s.shared_expert_gate else 0)


def dense_ffn_params(s: ModelSpec) -> int:
    """One dense layer's FFN: an MLP of width ``f`` = ``intermediate_size`` (``modeling_llama``
    ``LlamaMLP``; biases where ``ffn_bias``, e.g. Llama's ``mlp_bias``), plus the learned
    scalars of its activation, ``ffn_activation_params`` (``activations.XIELUActivation``:
    ``alpha_p``, ``alpha_n``; Apertus), plus BitNet's ``ffn_sub_norm`` (a norm of width ``f``
    before ``down_proj``, ``modeling_bitnet.BitNetMLP``) where ``sub_norms``."""
    return (mlp_params(s.hidden_size, s.intermediate_size, s.gated_ffn, s.ffn_bias)
            + s.ffn_activation_params
            + (norm_params(s, s.intermediate_size) if s.sub_norms else 0))


def mtp_params(s: ModelSpec) -> int:
    """Multi-token-prediction modules (DeepSeek-V3, arXiv 2412.19437 §2.2; GLM-4.5).

    Per module: RMSNorm(h) on the embedding and on the hidden state, a projection ``2h → h``,
    one transformer block (an MoE block when the model has experts — transformers'
    ``MtpModel`` builds it with ``first_k_dense_replace = 0``) and a final norm. The embedding and
    output head are shared with the main model and not counted again. In the checkpoint, outside
    transformers' causal-LM model; tests compare with ``transformers.modeling_layers.MtpModel``.
    """
    if not s.num_mtp_layers:
        return 0
    h = s.hidden_size
    block = attention_params(s) + 2 * norm_params(s, h)
    if s.num_experts:
        block += s.num_experts * expert_params(s) + router_params(s) + shared_expert_params(s)
    else:
        block += dense_ffn_params(s)
    return s.num_mtp_layers * (3 * norm_params(s, h) + 2 * h * h + block)


# ----------------------------------------------------------------------------------------------
# per-layer attention shapes and per-layer inputs (Gemma-4)
# ----------------------------------------------------------------------------------------------

def layer_attention_params(s: ModelSpec, i: int) -> int:
    """Attention layer ``i`` of a spec with per-layer shapes (``modeling_gemma4.
    Gemma4TextAttention``, ``modeling_mimo_v2_flash.MiMoV2FlashAttention``): ``q_proj``
    ``h·a·d_i``, ``o_proj`` ``a·dv_i·h``; a layer that owns its K/V adds ``k_proj``
    ``h·g_i·d_i`` and ``v_proj`` ``h·g_i·dv_i`` (absent when values reuse keys). Biases where
    ``attention_bias`` (``a·d_i``, ``g_i·d_i``, ``g_i·dv_i``) and ``attention_out_bias`` (``h``);
    ``q_norm`` and ``k_norm`` (``d_i``) with ``qk_norm="head"`` (Gemma-4's ``v_norm`` has no
    weight); ``a`` sinks on sliding layers with ``sliding_layer_sinks``. Laguna
    (``modeling_laguna.LagunaAttention``): ``a = a_i`` query heads by layer, and a bias-free
    ``g_proj`` of ``h·a_i`` (one gate per head) or ``h·a_i·d_i`` (per channel)."""
    h, a = s.hidden_size, s.query_heads(i)
    g, d, dv, k_eq_v, owns_kv = s.layer_attention_shape(i)
    k = g * d if owns_kv else 0
    v = g * dv if owns_kv and not k_eq_v else 0
    p = h * a * d + a * dv * h + h * (k + v)
    if s.attention_bias:
        p += a * d + k + v
    if s.attention_out_bias:
        p += h
    if s.qk_norm == "head":
        p += (2 if owns_kv else 1) * norm_params(s, d)
    if s.sliding_layer_sinks and i in s.sliding_window_layers:
        p += a
    return p + h * gate_width(s, i)


def gate_width(s: ModelSpec, i: int) -> int:
    """Outputs of layer ``i``'s ``g_proj`` (Laguna): ``a_i`` per head, ``a_i·d_i`` per
    channel, 0 without the gate."""
    if s.attention_gate_proj == "none":
        return 0
    a = s.query_heads(i)
    return a if s.attention_gate_proj == "head" else a * s.layer_attention_shape(i)[1]


def per_layer_input_params(s: ModelSpec) -> tuple[int, int, int]:
    """Gemma-4's per-layer embeddings (PLE, ``modeling_gemma4.Gemma4TextModel`` and
    ``Gemma4TextDecoderLayer``): ``(table, matrices, norms)`` — ``embed_tokens_per_layer``
    ``V_p·L·p``; ``per_layer_model_projection`` ``h·L·p`` plus per layer
    ``per_layer_input_gate`` ``h·p`` and ``per_layer_projection`` ``p·h``; norms
    ``per_layer_projection_norm`` (``p``) and per layer ``post_per_layer_input_norm`` (``h``)."""
    p, L, h = s.per_layer_input_size, s.num_hidden_layers, s.hidden_size
    if not p:
        return 0, 0, 0
    return (s.per_layer_input_vocab * L * p, h * L * p + L * 2 * h * p,
            norm_params(s, p) + L * norm_params(s, h))


def residual_stream_params(s: ModelSpec) -> tuple[int, int, int, int]:
    """Gemma-3n's AltUp and LAuReL (``modeling_gemma3n``, transformers 5.24):
    ``(layer matrices, layer vectors, layer norms, model matrices)``, the first three per layer.

    ``Gemma3nTextAltUp`` (``n = altup_num_inputs``): ``modality_router`` ``h·n``,
    ``prediction_coefs`` ``n·n²``, ``correction_coefs`` ``n·n`` (matrices),
    ``correct_output_scale`` ``h`` (a vector), ``router_norm`` ``h``;
    ``Gemma3nTextLaurelBlock`` (``r = laurel_rank``): ``linear_left`` ``h·r``, ``linear_right``
    ``r·h``, ``post_laurel_norm`` ``h``. ``Gemma3nTextModel``: ``altup_projections`` and
    ``altup_unembed_projections``, ``n − 1`` matrices ``h·h`` each."""
    n, r, h = s.altup_num_inputs, s.laurel_rank, s.hidden_size
    mats = (h * n + n * n * n + n * n if n else 0) + 2 * h * r
    norms = (norm_params(s, h) if n else 0) + (norm_params(s, h) if r else 0)
    return mats, h if n else 0, norms, 2 * (n - 1) * h * h if n else 0


def _layer_shaped_parts(s: ModelSpec) -> dict[str, int]:
    """The components :func:`_count_params` sums layer by layer for specs with per-layer
    shapes: attention (:func:`layer_attention_params`), dense FFNs (``wide_ffn_layers`` twice
    ``f``), PLE (:func:`per_layer_input_params`) and ``moe_beside_dense``'s extra norms and router
    scales (``Gemma4TextRouter``: ``scale`` h, ``per_expert_scale`` E; its own norm has no
    weight), Gemma-3n's AltUp and LAuReL (:func:`residual_stream_params`, in ``other`` and
    ``norms``)."""
    table, mats, ple_norms = per_layer_input_params(s)
    h, f, n_moe, L = s.hidden_size, s.intermediate_size, s.num_moe_layers, s.num_hidden_layers
    rs_mats, rs_vecs, rs_norms, rs_model = residual_stream_params(s)
    wide = len(s.wide_ffn_layers)
    beside = s.moe_beside_dense
    return dict(
        attention=sum(layer_attention_params(s, i) for i in range(s.num_hidden_layers)),
        dense_ffn=(s.num_dense_layers * dense_ffn_params(s)
                   + wide * (mlp_params(h, 2 * f, s.gated_ffn, s.ffn_bias)
                             - mlp_params(h, f, s.gated_ffn, s.ffn_bias))) if f else 0,
        per_layer_table=table, per_layer_matrices=mats,
        residual_streams=L * (rs_mats + rs_vecs) + rs_model,
        norms=ple_norms + (3 * n_moe * norm_params(s, h) if beside else 0) + L * rs_norms,
        router=n_moe * (h + s.num_experts) if beside else 0)


def count_params(s: ModelSpec) -> ParamCounts:
    """:func:`_count_params` of a :class:`ModelSpec`; anything else is an
    :class:`~estimator.errors.EstimatorError` naming what it got (the API's input boundary)."""
    if not isinstance(s, ModelSpec):
        raise EstimatorError("spec", type(s).__name__, "must be a ModelSpec (load one with "
                             "estimator.load_model(...).spec)")
    return _count_params(s)


# Cached per spec (a frozen, hashable dataclass; ParamCounts is frozen too): one estimate()
# reads the counts from several sections, and a sweep repeats each spec over its options.
@spec_cache(1024)
def _count_params(s: ModelSpec) -> ParamCounts:
    """Exact parameter counts of ``s`` by component (oracle: transformers, module docstring).

    ``total = V·h`` (embedding) ``[+ P·h`` learned positions``] + V·h`` (lm_head, unless tied)
    ``[+ V`` lm_head bias``]``
    ``+ L_attn·attention + L_mix·mixer + L·layer_norms + norm(h)`` (final; none in GPT-1)
    ``[+ norm(h)`` BLOOM's embedding norm``] [+ n_moe·norm(h)`` A.X-K1's MoE output norms``]
    ``+ L_dense·dense_ffn``
    (hybrids: ``L_attn`` layers with softmax attention, ``L_mix`` with the
    :class:`~estimator.spec.Mixer`, :func:`~estimator.mixers.mixer_params`; ``L_dense`` =
    layers neither MoE nor FFN-less)
    ``+ n_moe·(E·expert + router + shared) [+ n_moe·h`` JetMoE output bias``]``.
    HY-V4: layers that share an indexer's top-k have none (:func:`~estimator.mixers.
    shared_indexer_layers`); its hyper-connections (:func:`hyper_connection_params`) in ``other``.
    DeepSeek-V4 (:mod:`estimator.compressed`): its attention and compressors in ``attention``,
    its hyper-connections in ``other``, hash tables and score biases in ``buffers``.
    Zamba2 (:mod:`estimator.shared_block`): the ``M`` shared blocks' attention, MLP and norms
    once each; the per-use ``linear`` and LoRA adapters in ``other``.
    Active per token (``with_embedding``): ``total − n_moe·(E−k)·expert − L·unused attention
    experts``. Buffers (``e_score_correction_bias``: ``n_moe·E``) and MTP modules are reported
    beside the total, not in it — transformers' causal-LM model has neither as parameters.
    """
    h, V, L = s.hidden_size, s.vocab_size, s.num_hidden_layers
    n_moe = s.num_moe_layers
    positions = s.position_embeddings * h  # GPT-2's wpe (modeling_gpt2.GPT2Model)
    embedding = V * h + positions
    # A tied head shares the embedding's weight, but its bias (PhiMoE) is its own parameter.
    Vh = s.head_vocab_size  # a pruned head (Apertus-1.5) has fewer rows than the embedding
    lm_head = (0 if s.tie_word_embeddings else Vh * h) + (Vh if s.lm_head_bias else 0)
    attention = s.num_attention_layers * attention_params(s)
    if s.mla is not None:  # HY-V4: layers that reuse an earlier indexer's top-k build none
        attention -= shared_indexer_layers(s) * indexer_params(s.mla, h)
    mixers = (len(s.mixer_layers) * mixer_params(s.mixer, h)) if s.mixer is not None else 0
    # the final norm (none in GPT-1) and BLOOM's LayerNorm on the embeddings
    # (modeling_bloom.BloomModel.word_embeddings_layernorm)
    norms = L * layer_norm_params(s) + (s.final_norm + s.embedding_norm) * norm_params(s, h)
    norms += n_moe * moe_norm_params(s)  # A.X-K1's MoE output norm, A.X-K2's gate
    dense_ffn = s.num_dense_layers * dense_ffn_params(s)
    routed = n_moe * s.num_experts * expert_params(s) if n_moe else 0
    router = n_moe * router_params(s) if n_moe else 0
    shared = n_moe * shared_expert_params(s)
    other = n_moe * h if s.moe_output_bias else 0
    inactive = 0
    if n_moe:
        inactive = n_moe * (s.num_experts - s.num_experts_per_tok) * expert_params(s)
    inactive += s.num_attention_layers * attention_inactive_params(s)
    buffers = n_moe * s.router_width if s.router_score_correction_bias else 0
    per_layer_table = 0
    if s.has_layer_shapes:  # Gemma-4: sum layer by layer (_layer_shaped_parts)
        parts = _layer_shaped_parts(s)
        attention, dense_ffn = parts["attention"], parts["dense_ffn"]
        per_layer_table = parts["per_layer_table"]
        embedding += per_layer_table
        other += parts["per_layer_matrices"] + parts["residual_streams"]
        norms += parts["norms"]
        router += parts["router"]
    other += sum(hyper_connection_params(s))  # HY-V4
    if s.compressed_attention is not None:  # DeepSeek-V4 (estimator.compressed)
        attention = compressed.attention_params(s)
        other += compressed.hyper_connection_params(s)
        buffers = compressed.buffers(s)
    if s.shared_block is not None:  # Zamba2 (estimator.shared_block): blocks once, per-use rest
        sb = shared_block.params(s)
        attention, dense_ffn = sb["attention"], sb["dense_ffn"]
        norms += sb["norms"]
        other += sb["other"]
    return ParamCounts(
        embedding=embedding, attention=attention, router=router, routed_experts=routed,
        shared_experts=shared, dense_ffn=dense_ffn, norms=norms, lm_head=lm_head, other=other,
        routed_inactive=inactive, buffers=buffers, mtp=mtp_params(s),
        embedding_tied=s.tie_word_embeddings, vision=s.vision_params,
        position_embedding=positions, sequence_mixers=mixers,
        per_layer_embedding=per_layer_table,
    )


@spec_cache(1024)
def count_params_as(s: ModelSpec, active_convention: str) -> ParamCounts:
    """:func:`count_params` with :attr:`ParamCounts.active` in the convention the
    ``active_convention`` option names for ``s``'s family (:func:`active_convention_of`)."""
    conv, why = active_convention_of(active_convention, s.model_type)
    return dataclasses.replace(count_params(s), active_convention=conv,
                               active_convention_source=why)


#: The public formula functions (the app's Methods page renders their docstrings).
FORMULAS = [count_params, active_convention_of, attention_params, attention_inactive_params,
            mlp_params, expert_params, router_params, shared_expert_params, dense_ffn_params,
            norm_params, layer_norm_params, gated_norm_params, moe_norm_params,
            hyper_connection_params, mtp_params,
            real_experts_per_token, zero_expert_active_range, layer_attention_params,
            per_layer_input_params, residual_stream_params]
