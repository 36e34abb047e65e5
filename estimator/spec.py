"""The architecture spec: one typed, immutable description of a decoder-only transformer.

Dense and Mixture-of-Experts models share one dataclass. Field names follow the Hugging Face
`transformers` configuration classes where one exists (``hidden_size``, ``num_key_value_heads``,
``num_experts_per_tok``, ``moe_intermediate_size`` ...), so a reader who knows
``configuration_mixtral.py`` can read this file. Family quirks that change what the reference
implementation instantiates are explicit fields, never silent special cases:

* which layers are MoE (``moe_layers``: an explicit tuple of layer indices, built by the importer
  from ``first_k_dense_replace`` / ``decoder_sparse_step`` / ``mlp_only_layers`` /
  ``interleave_moe_layer_step`` / ``moe_layer_freq``);
* shared experts (one MLP of total width ``shared_expert_intermediate_size``) and their
  sigmoid gate;
* MLA (DeepSeek-V2/V3 latent attention, :class:`MLA`);
* mixture-of-attention heads (JetMoE, :class:`MoA`);
* q/k norms, biases, attention sinks, sliding-window layers, tied embeddings, norm type;
* multi-token-prediction (MTP) layers, counted separately from the main model;
* hybrid layer kinds (:class:`Mixer`): which layers replace softmax attention with a linear-
  attention, state-space or short-convolution mixer (``mixer_layers``), which run both in
  parallel (Falcon-H1), and which layers have no mixer or no FFN (Nemotron-H's one-sublayer
  blocks). The schedule is stored as index tuples, like ``moe_layers``; :attr:`ModelSpec.
  layer_kinds` spells it out per layer.

Validation happens once, at construction: every impossible value raises
:class:`~estimator.errors.EstimatorError` naming the field and the value. Everything downstream
trusts a constructed spec.
"""

from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field
from typing import Literal

from .errors import EstimatorError
from .limits import MAX_NOTES, maximum_for

NormType = Literal["rmsnorm", "layernorm"]
QKNorm = Literal["none", "head", "full"]


@dataclass(frozen=True)
class MLA:
    """Multi-head latent attention (DeepSeek-V2, arXiv 2405.04434 §2.1; ``modeling_deepseek_v3``).

    Queries: ``q_lora_rank`` is None → one ``q_proj`` (h → a·(nope+rope)); otherwise
    ``q_a_proj`` (h → q_lora_rank), RMSNorm(q_lora_rank), ``q_b_proj``
    (q_lora_rank → a·(nope+rope)).
    Keys/values: ``kv_a_proj_with_mqa`` (h → kv_lora_rank + rope), RMSNorm(kv_lora_rank),
    ``kv_b_proj`` (kv_lora_rank → a·(nope + v)). Output: ``o_proj`` (a·v → h).

    DeepSeek Sparse Attention (DeepSeek-V3.2, ``modeling_deepseek_v32.DeepseekV32Indexer``;
    ``index_n_heads > 0``): a lightning indexer of ``index_n_heads`` heads of
    ``index_head_dim`` scores every previous token and the MLA core attends only to the
    ``index_topk`` best (:mod:`estimator.mixers`, ``indexer_*``). 0 → plain MLA.

    ``q_gate`` (A.X-K2, ``modeling_axk2.AXK2Attention``): ``q_gate_proj`` (2·q_lora_rank →
    a·(qk_nope + qk_rope + v), no bias; it reads the normed and the raw ``q_a_proj`` output side
    by side) replaces ``q_b_proj``; its ``v`` half of every head is a sigmoid gate on the
    attention output before ``o_proj``.

    HY-V4 (``modeling_hy_v4.HYV4Attention``): ``gate_proj`` (h → a·v, no bias) is a sigmoid gate
    on the attention output; ``indexer_layers`` lists the layers that run their own indexer
    when others reuse the previous one's top-k (``indexer_types`` "shared": no indexer weights,
    keys or scores there; arXiv 2603.12201); () → every layer has one.
    """

    q_lora_rank: int | None
    kv_lora_rank: int
    qk_nope_head_dim: int
    qk_rope_head_dim: int
    v_head_dim: int
    index_n_heads: int = 0
    index_head_dim: int = 0
    index_topk: int = 0
    q_gate: bool = False
    gate_proj: bool = False
    indexer_layers: tuple[int, ...] = ()

    @property
    def qk_head_dim(self) -> int:
        return self.qk_nope_head_dim + self.qk_rope_head_dim


@dataclass(frozen=True)
class MoA:
    """Mixture of attention heads (JetMoE, arXiv 2404.07413 §2; HF ``modeling_jetmoe``).

    Each of ``num_experts`` attention experts owns a query projection (h → g·d) and an output
    projection (g·d → h); a token uses ``top_k`` of them, so it has ``top_k·g`` query heads that
    all share one K/V projection (h → 2·g·d). A router (h → E, no bias) and one output bias (h)
    complete the block.
    """

    num_experts: int
    top_k: int


@dataclass(frozen=True)
class CompressedAttention:
    """DeepSeek-V4's block (``modeling_deepseek_v4.py``, transformers 5.24; DeepSeek-V4 report
    §2.2-2.3), everything the spec's other fields cannot say.

    Attention on every layer (``DeepseekV4Attention``): ``q_a_proj`` (h → ``q_lora_rank``),
    RMSNorm(``q_lora_rank``), ``q_b_proj`` (→ a·d), one shared K=V head ``kv_proj`` (h → d) with
    RMSNorm(d), a grouped low-rank output (``o_a_proj``: ``o_groups`` blocks of a·d/G →
    ``o_lora_rank``; ``o_b_proj``: G·``o_lora_rank`` → h) and ``a`` attention sinks. Every layer
    attends over a sliding window of its own raw keys (``spec.sliding_window``). Compressed
    layers add a compressor that pools every ``rate`` tokens into one cached entry:
    ``csa_layers`` (CSA, rate ``csa_rate``: two overlapping series, width 2d, plus the lightning
    indexer of ``index_n_heads`` × ``index_head_dim`` with its own compressor, keeping
    ``index_topk`` entries) and ``hca_layers`` (HCA, rate ``hca_rate``, width d).
    Residual: ``hc_mult`` hyper-connection streams (mHC, ``DeepseekV4HyperConnection``: before
    attention and before the MoE, ``fn`` (2+n)·n × n·h, ``base`` (2+n)·n, ``scale`` 3; a hyper
    head n × n·h + n + 1 before the final norm). ``hash_moe_layers`` route by a frozen
    token → expert table (``tid2eid``, a V × k buffer) instead of a learned top-k.
    """

    q_lora_rank: int
    o_groups: int
    o_lora_rank: int
    hc_mult: int
    csa_layers: tuple[int, ...] = ()
    hca_layers: tuple[int, ...] = ()
    csa_rate: int = 4
    hca_rate: int = 128
    index_n_heads: int = 0
    index_head_dim: int = 0
    index_topk: int = 0
    hash_moe_layers: tuple[int, ...] = ()


@dataclass(frozen=True)
class SharedBlock:
    """Zamba's shared transformer block (``modeling_zamba2.py``, transformers 5.24; Zamba2
    report arXiv 2411.15242 Fig. 2), everything the spec's other fields cannot say.

    Every layer is a Mamba block (the spec's ``mixer`` on all layers, no FFN of its own). The
    hybrid layers ``uses`` (``hybrid_layer_ids``) first run a shared transformer block on
    ``concat(hidden, input embeddings)`` (width ``2h``): RMSNorm(2h), attention whose q/k/v read
    ``2h`` (``head_dim`` = ``2h // a``) and whose ``o_proj`` writes ``h``, RMSNorm(h) and a gated
    MLP of the spec's ``intermediate_size`` (``gate_up_proj`` h → 2f, ``down_proj``; biases
    with ``ffn_bias``); then a per-use ``linear`` h → h whose output is added to the Mamba
    block's input. ``num_blocks`` (``num_mem_blocks``) such blocks exist, used round-robin, so
    their parameters count once each; per use (not shared): the ``linear``, the MLP's LoRA
    adapter (``gate_up_proj_adapter``: h → ``mlp_adapter_rank`` → 2f) and, with
    ``attention_adapter_rank`` > 0 (``use_shared_attention_adapter``), LoRA adapters on q, k
    and v (2h → r → 2h each). FLOPs and the KV cache are per use. ``tied`` false: transformers
    5.24 ties the blocks only when ``tie_word_embeddings`` is true
    (``PreTrainedModel.get_expanded_tied_weights_keys`` returns no ties otherwise), so each use
    then owns an untied copy of its block, adapters of every use of that block included.
    """

    uses: tuple[int, ...]
    num_blocks: int = 1
    attention_adapter_rank: int = 0
    mlp_adapter_rank: int = 0
    tied: bool = True


#: Sequence-mixer kinds other than softmax attention, with the reference each is counted from
#: (transformers 5.24 ``modeling_*.py``; the paper of the algorithm).
MIXER_KINDS: dict[str, str] = {
    "gated_deltanet": "Gated DeltaNet (Yang et al. 2024, arXiv 2412.06464); "
                      "modeling_qwen3_next.Qwen3NextGatedDeltaNet",
    "mamba": "Mamba selective SSM (Gu & Dao 2023, arXiv 2312.00752); "
             "modeling_jamba.JambaMambaMixer",
    "mamba2": "Mamba-2 SSD (Dao & Gu 2024, arXiv 2405.21060); modeling_bamba.BambaMixer, "
              "modeling_nemotron_h.NemotronHMamba2Mixer, modeling_granitemoehybrid, "
              "modeling_falcon_h1",
    "short_conv": "gated short convolution (LFM2); modeling_lfm2.Lfm2ShortConv",
    "lightning": "lightning attention, linear attention with decay (MiniMax-01, arXiv "
                 "2501.08313); modeling_minimax.MiniMaxLightningAttention",
    "kimi_delta": "Kimi Delta Attention, a gated delta rule with per-channel decay (Kimi "
                  "Linear, arXiv 2510.26692); modeling_kimi_linear.KimiLinearDeltaAttention",
    "rglru": "Griffin's recurrent block: a conv1d and the Real-Gated Linear Recurrent Unit "
             "with block-diagonal gates (De et al. 2024, arXiv 2402.19427); "
             "modeling_recurrent_gemma.RecurrentGemmaRecurrentBlock",
    "rwkv4": "RWKV-4's whole block: time mixing (token shift, WKV recurrence) and channel "
             "mixing (Peng et al. 2023, arXiv 2305.13048); modeling_rwkv.RwkvSelfAttention "
             "and RwkvFeedForward",
    "mlstm": "xLSTM's mLSTM layer: matrix memory with exponential input and sigmoid forget "
             "gates (Beck et al. 2024, arXiv 2405.04517; xLSTM-7B, arXiv 2503.13427); "
             "modeling_xlstm.xLSTMLayer",
}


@dataclass(frozen=True)
class Mixer:
    """A sequence mixer that is not softmax attention; its memory does not grow with context.

    Sizes by ``kind`` (symbols of the modeling files named in :data:`MIXER_KINDS`):

    * ``gated_deltanet``: ``num_heads`` value heads of ``head_dim`` (``linear_num_value_heads``,
      ``linear_value_head_dim``), ``num_k_heads`` key heads of ``head_k_dim``, a depthwise
      causal conv of ``conv_kernel`` over q, k and v.
    * ``mamba`` (Mamba-1): ``head_dim`` = the inner width ``expand·h`` (``num_heads`` = 1;
      Zamba-1's multi-head Mamba-1 has ``num_heads`` heads of ``head_dim``, with the same
      parameter, state and FLOP counts, which depend on the inner width only),
      ``state_size`` = ``d_state``, ``dt_rank``, conv of ``conv_kernel``; ``bc_norms``: Jamba's
      RMSNorms on dt, B and C; ``weightless_bc_norms``: Falcon-Mamba's, without weights (no
      parameters; they change the tensors training keeps).
    * ``mamba2``: ``num_heads`` SSM heads of ``head_dim`` (inner width ``num_heads·head_dim``),
      ``num_k_heads`` = ``n_groups`` of B/C, ``state_size`` = ``d_state``; ``gated_norm``: the
      gated RMSNorm before ``out_proj``; ``out_bias``: bias on ``out_proj`` (Falcon-H1's
      ``projectors_bias``; else ``proj_bias``).
    * ``short_conv``: LFM2's ``in_proj`` (h → 3h), depthwise conv of ``conv_kernel``
      (``conv_L_cache``), ``out_proj``; ``proj_bias`` = ``conv_bias`` for all three.
    * ``lightning``: ``num_heads`` heads of ``head_dim`` (the attention heads).
    * ``kimi_delta``: ``num_heads`` heads of ``head_dim`` (``linear_num_heads``,
      ``linear_head_dim``), keys the same (``num_k_heads``, ``head_k_dim``), a depthwise
      causal conv of ``conv_kernel`` over q, k and v; ``full_rank_gates``: the forget and
      output gates are single ``h → H·D`` projections (``modeling_bailing_hybrid``'s
      ``BailingHybridForgetGate.f_proj`` and ``g_proj``) instead of Kimi-Linear's low-rank
      ``f_a_proj``/``f_b_proj`` and ``g_a_proj``/``g_b_proj`` pairs; ``bounded_gate``: the
      forget gate is ``kda_lower_bound · sigmoid(exp(A_log) · f)`` (``kda_safe_gate``) instead
      of ``−exp(A_log) · softplus(f)`` (no parameters; it changes what training keeps);
      ``fp32_conv``: the conv weights (and ``A_log``) stay fp32 in a 16-bit model (Ling's
      ``_keep_in_fp32_modules_strict``), so the conv runs, and training keeps its tensors, in
      fp32.
    * ``rglru``: Griffin's recurrent block; ``num_heads`` diagonal blocks of ``head_dim``
      (``num_attention_heads`` blocks of ``lru_width // num_attention_heads``: inner width
      ``lru_width``), a depthwise conv of ``conv_kernel`` (``conv1d_width``) with bias; every
      projection has a bias.
    * ``rwkv4``: one RWKV-4 block's time mixing and channel mixing together (the channel mix
      is RWKV's FFN, but its receptance gate and token shift are not the spec's FFN, so the
      layer is FFN-less and the mixer carries it): ``head_dim`` = ``attention_hidden_size``
      (``num_heads`` = 1), ``ffn_dim`` = the channel mix's ``intermediate_size``,
      ``conv_kernel`` 2 (the token shift: one previous input kept per mix).
    * ``mlstm``: ``num_heads`` heads with values of ``head_dim`` and queries/keys of
      ``head_k_dim`` (``num_k_heads`` = ``num_heads``); per-head input and forget gates, a
      sigmoid output gate of the value width, a per-head LayerNorm; no conv.
    """

    kind: str
    num_heads: int = 1
    head_dim: int = 1
    num_k_heads: int = 0
    head_k_dim: int = 0
    state_size: int = 0
    conv_kernel: int = 0
    dt_rank: int = 0
    conv_bias: bool = False
    proj_bias: bool = False
    out_bias: bool = False
    gated_norm: bool = False
    bc_norms: bool = False
    weightless_bc_norms: bool = False
    ffn_dim: int = 0
    full_rank_gates: bool = False
    bounded_gate: bool = False
    fp32_conv: bool = False

    @property
    def inner(self) -> int:
        """Width of the mixer's value path (``num_heads · head_dim``)."""
        return self.num_heads * self.head_dim


#: Per-layer sequence-mixer kinds of :attr:`ModelSpec.layer_kinds` besides :data:`MIXER_KINDS`.
ATTENTION_KINDS = ("full_attention", "sliding_attention", "none")
#: Per-layer FFN kinds.
FFN_KINDS = ("dense", "moe", "none")


@dataclass(frozen=True)
class ModelSpec:
    """A decoder-only transformer, dense or MoE, exact enough to count every parameter.

    Symbols used in docstrings elsewhere: ``L`` = num_hidden_layers, ``h`` = hidden_size,
    ``a`` = num_attention_heads, ``g`` = num_key_value_heads, ``d`` = head_dim,
    ``f`` = intermediate_size, ``E`` = num_experts, ``k`` = num_experts_per_tok,
    ``f_e`` = moe_intermediate_size, ``f_sh`` = shared_expert_intermediate_size, ``V`` = vocab_size.
    """

    # --- identity --------------------------------------------------------------------------
    name: str
    model_type: str  # the Hugging Face family it was read as ("custom" for hand-made specs)

    # --- trunk ------------------------------------------------------------------------------
    num_hidden_layers: int
    hidden_size: int
    vocab_size: int
    tie_word_embeddings: bool = False
    norm_type: NormType = "rmsnorm"
    norm_bias: bool = False  # LayerNorm with a bias vector (PhiMoE)
    norm_weight: bool = True  # False: norms without learnable parameters (OLMo-1's LayerNorm)
    # norms of width h per layer: 2 (pre-attention, pre-FFN; or OLMo-2's two post-norms),
    # 4 (Gemma-2/3, GLM-4: pre and post around both), 1 (Cohere's parallel block)
    norms_per_layer: int = 2
    lm_head_bias: bool = False  # PhiMoE's ``lm_head_bias``
    # rows of a pruned lm_head (Apertus-1.5's ``output_vocab_size``: the text-only prefix of the
    # vocabulary; the input embedding keeps all vocab_size rows); 0 = vocab_size
    output_vocab_size: int = 0
    # a norm of width h on the token embeddings before the first layer (BLOOM's
    # word_embeddings_layernorm), besides the final norm
    embedding_norm: bool = False
    final_norm: bool = True  # False: no norm after the last layer (GPT-1's post-norm blocks)

    # --- attention --------------------------------------------------------------------------
    num_attention_heads: int = 1
    num_key_value_heads: int = 1
    head_dim: int = 0  # 0 → hidden_size // num_attention_heads (filled in __post_init__)
    attention_bias: bool = False  # bias on q/k/v projections
    attention_out_bias: bool = False  # bias on the output projection
    fused_qkv: bool = False  # one Wqkv matrix (DBRX); same count, recorded for fidelity
    qk_norm: QKNorm = "none"  # "head": RMSNorm(d) on q and k; "full": RMSNorm(a·d), RMSNorm(g·d)
    attention_sinks: bool = False  # gpt-oss: one learned logit per query head
    sliding_window: int | None = None
    sliding_window_layers: tuple[int, ...] = ()  # layer indices that use the window
    mla: MLA | None = None
    moa: MoA | None = None
    compressed_attention: CompressedAttention | None = None  # DeepSeek-V4
    shared_block: SharedBlock | None = None  # Zamba2: one attention+MLP block reused

    # --- feed-forward -----------------------------------------------------------------------
    intermediate_size: int = 0  # dense-layer FFN width (0 allowed only if every layer is MoE)
    gated_ffn: bool = True  # SwiGLU/GeGLU: 3 matrices; plain: 2
    ffn_bias: bool = False  # bias in the dense-layer MLP
    # learned scalars of each dense MLP's activation (Apertus' xIELU: alpha_p and alpha_n)
    ffn_activation_params: int = 0
    # BitNet's sub-norms: a norm of width h before o_proj (attn_sub_norm) and one of width f
    # before down_proj (ffn_sub_norm) in every dense layer
    sub_norms: bool = False

    # --- mixture of experts -----------------------------------------------------------------
    num_experts: int = 0  # routed experts E (0 → dense model)
    num_experts_per_tok: int = 0  # k
    moe_intermediate_size: int = 0  # f_e
    moe_layers: tuple[int, ...] = ()  # indices of MoE layers
    expert_bias: bool = False  # biases inside each expert (gpt-oss)
    moe_output_bias: bool = False  # one bias (h) after the expert mix (JetMoE)
    router_bias: bool = False
    num_shared_experts: int = 0
    shared_expert_intermediate_size: int = 0  # total width of the shared-expert MLP
    shared_expert_bias: bool = False  # biases in the shared-expert MLP (DeepSeek-V2 mlp_bias)
    shared_expert_gate: bool = False  # qwen2_moe: sigmoid gate Linear(h, 1)
    router_score_correction_bias: bool = False  # DeepSeek-V3 buffer, in checkpoints
    moe_output_norm: bool = False  # A.X-K1: a norm of width h on each MoE block's output
    # A.X-K2's gated RMSNorm (modeling_axk2.AXK2GatedRMSNorm): the input norm of every layer and
    # the post-attention norm of every MoE layer carry a gate MLP h → r → h (no biases, SiLU)
    # whose sigmoid scales the normed input; r = gated_norm_rank (0: plain norms)
    gated_norm_rank: int = 0
    # HY-V4's hyper-connections (modeling_hy_v4.HYV4HyperConnection, HYV4HyperHead): hc_mult
    # residual streams, mixed before attention and before the FFN of every layer (fn 2n × n·h,
    # base 2n, scale 2) and by a head before the final norm (n × n·h, n, 1); 0: none
    hc_mult: int = 0
    # LongCat-Flash's zero-computation experts (arXiv 2509.01322 §2.1): Z identity experts in
    # the router's pool besides the E routed ones. The router scores E + Z and picks its top
    # ``router_top_k`` of them; a zero expert returns its input (no parameters, no FLOPs), so
    # ``num_experts_per_tok`` is the number of *real* experts per token the estimate assumes
    # (a convention: estimator.params.ZERO_EXPERT_CONVENTIONS). 0 / 0: no zero experts.
    num_zero_experts: int = 0
    router_top_k: int = 0

    # --- extras -----------------------------------------------------------------------------
    num_mtp_layers: int = 0  # DeepSeek-V3/GLM-4.5 multi-token prediction, outside the main model
    vision_params: int = 0  # multimodal wrapper: vision encoder + projector (estimator/vision.py)
    position_embeddings: int = 0  # learned absolute positions (GPT-2's wpe): rows of width h
    max_position_embeddings: int | None = None
    notes: tuple[str, ...] = field(default=(), compare=False)

    # --- hybrid sequence mixers ---
    mixer: Mixer | None = None  # the non-attention mixer of a hybrid
    mixer_layers: tuple[int, ...] = ()  # layers that run ``mixer`` instead of attention
    parallel_mixer: bool = False  # Falcon-H1: mixer_layers run attention *and* the mixer
    mixerless_layers: tuple[int, ...] = ()  # Nemotron-H FFN-only blocks (no sequence mixer)
    ffnless_layers: tuple[int, ...] = ()  # Nemotron-H mixer-only blocks (no FFN)
    # Qwen3-Next: q_proj also emits a sigmoid output gate (h → 2·a·d; a·d more biases with
    # attention_bias)
    attention_output_gate: bool = False
    # a sigmoid gate per query head from the layer input, bias-free ``g_proj`` h → a, scaling
    # each head's attention output before ``o_proj`` (``BailingHybridAttention`` on MLA,
    # ``Lfm3Attention``); Laguna's softplus gate on per-layer heads is ``attention_gate_proj``
    attention_head_gate: bool = False

    # --- per-layer attention shapes and per-layer inputs (Gemma-4, ``modeling_gemma4``) ---
    # The full-attention layers (attention layers not in ``sliding_window_layers``) may have
    # their own K/V heads and head dim (``num_global_key_value_heads``, ``global_head_dim``);
    # 0 → the model's ``num_key_value_heads`` / ``head_dim``.
    full_attention_kv_heads: int = 0
    full_attention_head_dim: int = 0
    # full-attention layers have no v_proj: values are the k_proj output (``attention_k_eq_v``)
    full_attention_k_eq_v: bool = False
    # layers that reuse the K/V of the last earlier layer of their kind (``num_kv_shared_layers``):
    # no k_proj/v_proj/k_norm, no cache of their own
    kv_shared_layers: tuple[int, ...] = ()
    # Per-layer embeddings (PLE): a table of ``per_layer_input_vocab`` rows of
    # ``L·per_layer_input_size``, a projection h → L·p and, per layer, a gate h → p and a
    # projection p → h (``hidden_size_per_layer_input``, ``vocab_size_per_layer_input``)
    per_layer_input_size: int = 0
    per_layer_input_vocab: int = 0
    # value head dim of every layer when it differs from the q/k head dim (MiMo-V2-Flash's
    # ``v_head_dim``; v_proj and o_proj use it); 0 → the layer's head dim
    attention_v_head_dim: int = 0
    # sliding layers have one learned sink logit per query head, full layers none
    # (MiMo-V2-Flash; gpt-oss's sinks on every layer are ``attention_sinks``)
    sliding_layer_sinks: bool = False
    # query heads of every layer when they differ by layer (Laguna's
    # ``num_attention_heads_per_layer``; K/V heads stay ``num_key_value_heads``); () → a
    layer_query_heads: tuple[int, ...] = ()
    # a softplus output gate ``g_proj`` from the layer input, no bias (Laguna's ``gating``):
    # "head" h → a_i (one gate per head), "channel" h → a_i·d; "none" → no gate
    attention_gate_proj: str = "none"
    # layers whose dense MLP is 2·intermediate_size wide (``use_double_wide_mlp``)
    wide_ffn_layers: tuple[int, ...] = ()
    # each MoE layer also runs the dense MLP beside its experts, with three more norms of width
    # h and a router with an input scale (h) and per-expert scales (E) (``enable_moe_block``)
    moe_beside_dense: bool = False
    # --- Gemma-3n's residual streams (``modeling_gemma3n``) ---------------------------------
    # AltUp (``altup_num_inputs`` = n streams of width h, Baykal et al. 2023): per layer a
    # router h → n with its norm, prediction (n → n²) and correction (n → n) coefficients and an
    # output scale (h); before the first layer n − 1 projections h → h widen the embedding into
    # the streams and after the last n − 1 more fold them back. 0 → no AltUp.
    altup_num_inputs: int = 0
    # LAuReL (``laurel_rank`` = r): per layer a low-rank residual h → r → h with a norm (h).
    # 0 → none.
    laurel_rank: int = 0

    def __post_init__(self) -> None:
        _validate(self)
        if self.head_dim == 0:
            object.__setattr__(self, "head_dim", self.hidden_size // self.num_attention_heads)

    # --- derived ----------------------------------------------------------------------------
    @property
    def is_moe(self) -> bool:
        return self.num_experts > 0 and bool(self.moe_layers)

    @property
    def head_vocab_size(self) -> int:
        """Rows of the lm_head and width of the logits: :attr:`output_vocab_size` when the head
        is pruned, else :attr:`vocab_size`."""
        return self.output_vocab_size or self.vocab_size

    @property
    def router_width(self) -> int:
        """Outputs of each MoE layer's router: the ``E`` routed experts plus LongCat-Flash's
        ``Z`` zero-computation experts (:attr:`num_zero_experts`)."""
        return self.num_experts + self.num_zero_experts

    @property
    def num_moe_layers(self) -> int:
        return len(self.moe_layers)

    @property
    def num_dense_layers(self) -> int:
        """Layers with a dense FFN (not MoE, not FFN-less; every layer with Gemma-4's
        ``moe_beside_dense``)."""
        if self.moe_beside_dense:
            return self.num_hidden_layers
        if self.ffnless_layers:
            return self.num_hidden_layers - len(self.moe_layers) - len(self.ffnless_layers)
        return self.num_hidden_layers - len(self.moe_layers)

    # --- per-layer attention shapes (Gemma-4) -----------------------------------------------
    @property
    def has_layer_shapes(self) -> bool:
        """True when attention shapes, K/V ownership or inputs differ by layer (Gemma-4), or
        the block carries Gemma-3n's AltUp/LAuReL residual streams (counted layer by layer
        with them)."""
        return bool(self.full_attention_kv_heads or self.full_attention_head_dim
                    or self.full_attention_k_eq_v or self.kv_shared_layers
                    or self.per_layer_input_size or self.wide_ffn_layers
                    or self.moe_beside_dense or self.attention_v_head_dim
                    or self.sliding_layer_sinks or self.layer_query_heads
                    or self.attention_gate_proj != "none" or self.altup_num_inputs
                    or self.laurel_rank)

    def query_heads(self, i: int) -> int:
        """Query heads of layer ``i`` (``layer_query_heads``, else ``num_attention_heads``)."""
        return self.layer_query_heads[i] if self.layer_query_heads else self.num_attention_heads

    def kind_query_heads(self) -> tuple[int, int]:
        """``(Σ query heads over the full-attention layers, Σ over the sliding layers)``."""
        slide = set(self.sliding_window_layers)
        full = win = 0
        for i in range(self.num_hidden_layers):
            if i in slide:
                win += self.query_heads(i)
            else:
                full += self.query_heads(i)
        return full, win

    def attention_kind_dims(self, sliding: bool) -> tuple[int, int, int]:
        """``(K/V heads, q/k head dim, value head dim)`` of the sliding or the full-attention
        layers: the full-attention overrides apply to layers not in ``sliding_window_layers``."""
        g = self.num_key_value_heads if sliding or not self.full_attention_kv_heads \
            else self.full_attention_kv_heads
        d = self.head_dim if sliding or not self.full_attention_head_dim \
            else self.full_attention_head_dim
        return g, d, self.attention_v_head_dim or d

    def layer_attention_shape(self, i: int) -> tuple[int, int, int, bool, bool]:
        """``(K/V heads, q/k head dim, value head dim, values reuse keys, owns K/V)`` of
        attention layer ``i`` (:meth:`attention_kind_dims`); a layer in ``kv_shared_layers``
        owns no K/V (no projections, no cache)."""
        sliding = i in self.sliding_window_layers
        g, d, dv = self.attention_kind_dims(sliding)
        return (g, d, dv, self.full_attention_k_eq_v and not sliding,
                i not in self.kv_shared_layers)

    # --- hybrid layer kinds -----------------------------------------------------------------
    @property
    def is_hybrid(self) -> bool:
        """True when some layer is not a plain attention + FFN block."""
        return bool(self.mixer_layers or self.mixerless_layers or self.ffnless_layers)

    @property
    def num_mixer_layers(self) -> int:
        """Layers that run :attr:`mixer` (with attention too when :attr:`parallel_mixer`)."""
        return len(self.mixer_layers)

    @property
    def num_attention_layers(self) -> int:
        """Layers with softmax attention (and a KV cache that grows with tokens); Zamba's
        uses of its shared block (:class:`SharedBlock`), each with its own KV cache."""
        if self.shared_block is not None:
            return len(self.shared_block.uses)
        if not self.mixer_layers and not self.mixerless_layers:
            return self.num_hidden_layers
        replaced = 0 if self.parallel_mixer else len(self.mixer_layers)
        return self.num_hidden_layers - replaced - len(self.mixerless_layers)

    @property
    def layer_kinds(self) -> tuple[tuple[str, str], ...]:
        """``(sequence-mixer kind, FFN kind)`` of every layer, spelled out from the index tuples:
        mixer ``full_attention`` / ``sliding_attention`` / a :data:`MIXER_KINDS` key /
        ``"<kind>+attention"`` (Falcon-H1's parallel block) / ``none``; FFN ``dense`` / ``moe``
        / ``none``. For display and tests; the formulas use the counts."""
        mix, moe, slide = set(self.mixer_layers), set(self.moe_layers), \
            set(self.sliding_window_layers)
        no_mix, no_ffn = set(self.mixerless_layers), set(self.ffnless_layers)
        out = []
        for i in range(self.num_hidden_layers):
            attn = "sliding_attention" if i in slide else "full_attention"
            if i in no_mix:
                m = "none"
            elif i in mix:
                m = self.mixer.kind + ("+attention" if self.parallel_mixer else "")
            else:
                m = attn
            f = "none" if i in no_ffn else ("moe" if i in moe else "dense")
            out.append((m, f))
        return tuple(out)

    def is_moe_layer(self, i: int) -> bool:
        return i in self._moe_set

    @property
    def _moe_set(self) -> frozenset[int]:
        return frozenset(self.moe_layers)

    def __hash__(self) -> int:
        # Specs key the per-spec caches (count_params, per_token_flops, ...). The generated
        # __hash__ would rebuild a ~40-field tuple on every lookup; this hashes the same fields
        # (those compared by __eq__) once per instance and keeps the result.
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash(tuple(getattr(self, f.name) for f in _HASHED_FIELDS))
            object.__setattr__(self, "_hash", h)
        return h

    def replace(self, **changes) -> ModelSpec:
        """A validated copy with ``changes`` applied (``dataclasses.replace``)."""
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)


_MIXER_INTS = ("num_heads", "head_dim", "num_k_heads", "head_k_dim", "state_size",
               "conv_kernel", "dt_rank", "ffn_dim")
_MIXER_BOOLS = ("conv_bias", "proj_bias", "out_bias", "gated_norm", "bc_norms",
                "weightless_bc_norms", "full_rank_gates", "bounded_gate", "fp32_conv")


def _validate_mixer(m: Mixer) -> None:
    if m.kind not in MIXER_KINDS:
        raise EstimatorError("mixer.kind", m.kind, "unknown sequence-mixer kind; one of "
                             + ", ".join(MIXER_KINDS))
    for n in _MIXER_INTS:
        check_int("mixer." + n, getattr(m, n), 1 if n in ("num_heads", "head_dim") else 0)
    for n in _MIXER_BOOLS:
        if not isinstance(getattr(m, n), bool):
            raise EstimatorError("mixer." + n, getattr(m, n), "must be true or false")
    need = {"gated_deltanet": ("num_k_heads", "head_k_dim", "conv_kernel"),
            "mamba": ("state_size", "conv_kernel", "dt_rank"),
            "mamba2": ("num_k_heads", "state_size", "conv_kernel"),
            "short_conv": ("conv_kernel",), "lightning": (),
            "kimi_delta": ("num_k_heads", "head_k_dim", "conv_kernel"),
            "rglru": ("conv_kernel",), "rwkv4": ("conv_kernel", "ffn_dim"),
            "mlstm": ("num_k_heads", "head_k_dim")}[m.kind]
    for n in need:
        if getattr(m, n) < 1:
            raise EstimatorError("mixer." + n, getattr(m, n), f"must be >= 1 for a {m.kind} mixer")
    if m.kind == "mamba2" and m.num_heads % m.num_k_heads:
        raise EstimatorError("mixer.num_k_heads", m.num_k_heads,
                             f"(n_groups) must divide mixer.num_heads={m.num_heads}")
    if m.kind in ("gated_deltanet", "kimi_delta") and m.num_heads % m.num_k_heads:
        raise EstimatorError("mixer.num_k_heads", m.num_k_heads,
                             f"must divide mixer.num_heads={m.num_heads}")


def _validate_hybrid(s: ModelSpec) -> None:
    """Hybrid schedules: index tuples in range, disjoint where they must be, a mixer when
    mixer layers are named."""
    if (s.mixer is None and not s.mixer_layers and not s.mixerless_layers
            and not s.ffnless_layers and s.parallel_mixer is False):
        return  # not a hybrid: nothing to check (the common case, kept fast for sweeps)
    if s.mixer is not None and not isinstance(s.mixer, Mixer):
        raise EstimatorError("mixer", s.mixer, "must be a Mixer block or None")
    if not isinstance(s.parallel_mixer, bool):
        raise EstimatorError("parallel_mixer", s.parallel_mixer, "must be true or false")
    if s.mixer is not None:
        _validate_mixer(s.mixer)
    if s.mixer_layers and s.mixer is None:
        raise EstimatorError("mixer_layers", s.mixer_layers,
                             "are set, so a mixer block is required")
    if s.mixer is not None and not s.mixer_layers:
        raise EstimatorError("mixer_layers", (), "a mixer is given but no layer uses it")
    for a, b in (("mixer_layers", "mixerless_layers"), ("mixerless_layers", "ffnless_layers"),
                 ("moe_layers", "ffnless_layers"), ("sliding_window_layers", "mixerless_layers")):
        both = set(getattr(s, a)) & set(getattr(s, b))
        if both:
            raise EstimatorError(b, min(both), f"layer is also in {a}")
    if not s.parallel_mixer and set(s.mixer_layers) & set(s.sliding_window_layers):
        i = min(set(s.mixer_layers) & set(s.sliding_window_layers))
        raise EstimatorError("sliding_window_layers", i, "layer runs the mixer, not attention")


_HASHED_FIELDS = tuple(f for f in dataclasses.fields(ModelSpec) if f.compare)


def fields_of(cls=ModelSpec) -> list[str]:
    return [f.name for f in dataclasses.fields(cls)]


# ----------------------------------------------------------------------------------------------
# validation
# ----------------------------------------------------------------------------------------------

_INT_FIELDS_POSITIVE = ("num_hidden_layers", "hidden_size", "vocab_size", "num_attention_heads",
                        "num_key_value_heads")
_INT_FIELDS_NONNEG = ("head_dim", "intermediate_size", "num_experts", "num_experts_per_tok",
                      "moe_intermediate_size", "num_shared_experts",
                      "shared_expert_intermediate_size", "num_mtp_layers", "num_zero_experts",
                      "router_top_k", "gated_norm_rank", "hc_mult", "output_vocab_size")
_BOOL_FIELDS = ("tie_word_embeddings", "norm_bias", "norm_weight", "lm_head_bias",
                "embedding_norm", "final_norm", "sub_norms", "moe_output_norm",
                "attention_bias",
                "attention_out_bias", "fused_qkv", "attention_sinks", "gated_ffn", "ffn_bias",
                "expert_bias", "moe_output_bias", "router_bias", "shared_expert_bias",
                "shared_expert_gate",
                "router_score_correction_bias", "attention_output_gate", "attention_head_gate")
# (Gemma-4's per-layer fields are validated by _validate_layer_shapes)

# Sizes above this are certainly typos (a 10^7-wide layer has 10^14 parameters per matrix).
MAX_DIM = 10_000_000
# Context lengths are another scale: real configs reach 10,485,760 (Llama-4-Scout's
# max_position_embeddings) and sliding windows are sometimes set to the full context. A billion
# tokens is 100x the longest published context; beyond it the value is a typo.
MAX_CONTEXT = 1_000_000_000


def check_int(name: str, value: object, minimum: int = 1, maximum: int = MAX_DIM) -> int:
    """Return ``value`` if it is a plain int in ``[minimum, maximum]``, else raise naming
    ``name``."""
    if isinstance(value, bool) or not isinstance(value, int):
        if isinstance(value, float) and math.isnan(value):
            raise EstimatorError(name, value, "must be an integer, got NaN")
        raise EstimatorError(name, value, f"must be an integer, got {type(value).__name__}")
    if value < minimum:
        raise EstimatorError(name, value, f"must be >= {minimum}")
    top = maximum_for(name, maximum)  # layers, experts, heads: estimator/limits.py
    if value > top:
        raise EstimatorError(name, value, f"must be <= {top:,}")
    return value


def _validate(s: ModelSpec) -> None:
    if not isinstance(s.name, str):
        raise EstimatorError("name", s.name, "must be a string")
    if not isinstance(s.model_type, str):
        raise EstimatorError("model_type", s.model_type, "must be a string")
    if s.max_position_embeddings is not None:
        check_int("max_position_embeddings", s.max_position_embeddings, 1, MAX_CONTEXT)
    for blk, cls in (("mla", MLA), ("moa", MoA)):  # a dict or a number from a file or the API
        if getattr(s, blk) is not None and not isinstance(getattr(s, blk), cls):
            raise EstimatorError(blk, getattr(s, blk), f"must be an {cls.__name__} block or None")
    if (not isinstance(s.notes, tuple) or len(s.notes) > MAX_NOTES
            or not all(isinstance(n, str) for n in s.notes)):
        raise EstimatorError("notes", s.notes, f"must be a list of at most {MAX_NOTES} strings")
    for n in _INT_FIELDS_POSITIVE:
        check_int(n, getattr(s, n), 1)
    for n in _INT_FIELDS_NONNEG:
        check_int(n, getattr(s, n), 0)
    check_int("norms_per_layer", s.norms_per_layer, 1, 8)
    if s.output_vocab_size > s.vocab_size:
        raise EstimatorError("output_vocab_size", s.output_vocab_size,
                             f"must not exceed vocab_size={s.vocab_size} (the head keeps a "
                             "prefix of the vocabulary)")
    if s.output_vocab_size not in (0, s.vocab_size) and s.tie_word_embeddings:
        raise EstimatorError("output_vocab_size", s.output_vocab_size,
                             "a pruned lm_head cannot share the embedding's weight "
                             "(tie_word_embeddings must be false)")
    check_int("ffn_activation_params", s.ffn_activation_params, 0, 8)
    check_int("vision_params", s.vision_params, 0, MAX_DIM**2)  # a count, not a size
    check_int("position_embeddings", s.position_embeddings, 0, MAX_CONTEXT)
    for n in _BOOL_FIELDS:
        if not isinstance(getattr(s, n), bool):
            raise EstimatorError(n, getattr(s, n), "must be true or false")
    if s.norm_type not in ("rmsnorm", "layernorm"):
        raise EstimatorError("norm_type", s.norm_type, "must be 'rmsnorm' or 'layernorm'")
    if s.qk_norm not in ("none", "head", "full"):
        raise EstimatorError("qk_norm", s.qk_norm, "must be 'none', 'head' or 'full'")
    L = s.num_hidden_layers
    a, g = s.num_attention_heads, s.num_key_value_heads
    if s.mla is None and s.moa is None:
        if g > a:
            raise EstimatorError("num_key_value_heads", g,
                                 f"must not exceed num_attention_heads={a}")
        if a % g:
            raise EstimatorError("num_key_value_heads", g,
                                 f"must divide num_attention_heads={a}")
        if s.head_dim == 0 and s.hidden_size % a:
            raise EstimatorError("num_attention_heads", a,
                                 f"must divide hidden_size={s.hidden_size} "
                                 "(or give head_dim explicitly)")
    if s.mla is not None:
        m = s.mla
        if m.q_lora_rank is not None:
            check_int("q_lora_rank", m.q_lora_rank, 1)
        check_int("kv_lora_rank", m.kv_lora_rank, 1)
        check_int("qk_nope_head_dim", m.qk_nope_head_dim, 0)
        check_int("qk_rope_head_dim", m.qk_rope_head_dim, 0)
        check_int("v_head_dim", m.v_head_dim, 1)
        if m.qk_head_dim < 1:
            raise EstimatorError("qk_nope_head_dim", m.qk_nope_head_dim,
                                 "qk_nope_head_dim + qk_rope_head_dim must be >= 1")
        for n in ("index_n_heads", "index_head_dim", "index_topk"):
            check_int(n, getattr(m, n), 0 if not m.index_n_heads else 1)
        if not isinstance(m.q_gate, bool):
            raise EstimatorError("q_gate", m.q_gate, "must be true or false")
        if m.q_gate and m.q_lora_rank is None:  # q_gate_proj reads the q_a_proj latent
            raise EstimatorError("q_lora_rank", None, "A.X-K2's q_gate_proj needs a q_lora_rank")
        if not isinstance(m.gate_proj, bool):
            raise EstimatorError("gate_proj", m.gate_proj, "must be true or false")
        if m.indexer_layers != ():
            check_layer_indices("indexer_layers", m.indexer_layers, L)
            if not m.index_n_heads or 0 not in m.indexer_layers or s.is_hybrid:
                raise EstimatorError("indexer_layers", m.indexer_layers, "needs an indexer "
                                     "(index_n_heads), layer 0 among them and no hybrid mixers")
        if m.index_n_heads:
            if m.q_lora_rank is None:  # the indexer's wq_b reads the q_a_proj latent
                raise EstimatorError("q_lora_rank", None, "DeepSeek Sparse Attention's "
                                     "indexer needs a q_lora_rank")
            if m.index_head_dim < m.qk_rope_head_dim:
                raise EstimatorError("index_head_dim", m.index_head_dim,
                                     f"must be >= qk_rope_head_dim={m.qk_rope_head_dim}")
    if s.moa is not None:
        check_int("moa.num_experts", s.moa.num_experts, 1)
        check_int("moa.top_k", s.moa.top_k, 1)
        if s.moa.top_k > s.moa.num_experts:
            raise EstimatorError("moa.top_k", s.moa.top_k,
                                 f"must not exceed moa.num_experts={s.moa.num_experts}")
    if s.sliding_window is not None:
        check_int("sliding_window", s.sliding_window, 1, MAX_CONTEXT)
    for name, idx in (("moe_layers", s.moe_layers), ("sliding_window_layers",
                                                      s.sliding_window_layers),
                      ("mixer_layers", s.mixer_layers), ("mixerless_layers", s.mixerless_layers),
                      ("ffnless_layers", s.ffnless_layers)):
        if idx != ():
            check_layer_indices(name, idx, L)
    if s.sliding_window_layers and s.sliding_window is None:
        raise EstimatorError("sliding_window", None,
                             "sliding_window_layers are set, so a window size is required")
    if s.has_layer_shapes:
        _validate_layer_shapes(s)
    if s.compressed_attention is not None:
        _validate_compressed(s)
    if s.shared_block is not None:
        _validate_shared_block(s)
    if s.hc_mult and (s.compressed_attention is not None or s.is_hybrid):
        raise EstimatorError("hc_mult", s.hc_mult, "HY-V4's hyper-connections do not combine "
                             "with compressed attention or hybrid mixers")
    check_moe(s)


def check_layer_indices(name: str, idx, L: int) -> None:
    """A spec field listing layers (``moe_layers``, ``kv_shared_layers`` ...): a tuple of
    distinct indices in ``[0, L)``."""
    if not isinstance(idx, tuple):
        raise EstimatorError(name, idx, "must be a tuple of layer indices")
    for i in idx:
        if isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < L:
            raise EstimatorError(name, i, f"layer index must be in [0, {L})")
    if len(set(idx)) != len(idx):
        raise EstimatorError(name, idx, "has repeated layer indices")


def _validate_layer_shapes(s: ModelSpec) -> None:
    """Per-layer fields (Gemma-4, MiMo-V2-Flash, Laguna): sizes in range, layer lists valid,
    no hybrid mixers."""
    for n in ("full_attention_kv_heads", "full_attention_head_dim", "per_layer_input_size",
              "per_layer_input_vocab", "attention_v_head_dim", "laurel_rank"):
        check_int(n, getattr(s, n), 0)
    check_int("altup_num_inputs", s.altup_num_inputs, 0, 64)
    for n in ("full_attention_k_eq_v", "moe_beside_dense", "sliding_layer_sinks"):
        if not isinstance(getattr(s, n), bool):
            raise EstimatorError(n, getattr(s, n), "must be true or false")
    g = s.full_attention_kv_heads
    if g and (g > s.num_attention_heads or s.num_attention_heads % g):
        raise EstimatorError("full_attention_kv_heads", g,
                             f"must divide num_attention_heads={s.num_attention_heads}")
    if bool(s.per_layer_input_size) != bool(s.per_layer_input_vocab):
        raise EstimatorError("per_layer_input_vocab", s.per_layer_input_vocab,
                             "per_layer_input_size and per_layer_input_vocab go together")
    L = s.num_hidden_layers
    for name in ("kv_shared_layers", "wide_ffn_layers"):
        check_layer_indices(name, getattr(s, name), L)
    if s.mla is not None or s.moa is not None or s.is_hybrid:
        raise EstimatorError("kv_shared_layers", s.kv_shared_layers, "per-layer attention "
                             "shapes apply to standard attention without hybrid mixers only")
    if s.attention_gate_proj not in ("none", "head", "channel"):
        raise EstimatorError("attention_gate_proj", s.attention_gate_proj,
                             "must be 'none', 'head' or 'channel'")
    if s.layer_query_heads:
        q = s.layer_query_heads
        if not isinstance(q, tuple) or len(q) != L:
            raise EstimatorError("layer_query_heads", q, f"must be a list of {L} head counts")
        for i, a in enumerate(q):
            check_int(f"layer_query_heads[{i}]", a, 1)
            for g in {s.num_key_value_heads, s.full_attention_kv_heads or s.num_key_value_heads}:
                if a % g:
                    raise EstimatorError(f"layer_query_heads[{i}]", a,
                                         f"must be a multiple of the K/V heads ({g})")
    if s.full_attention_k_eq_v and s.attention_v_head_dim:
        raise EstimatorError("attention_v_head_dim", s.attention_v_head_dim,
                             "values that reuse the keys have the key head dim")
    if s.moe_beside_dense and s.intermediate_size < 1:
        raise EstimatorError("intermediate_size", s.intermediate_size,
                             "must be >= 1: moe_beside_dense runs the dense MLP in MoE layers")


def _validate_compressed(s: ModelSpec) -> None:
    """DeepSeek-V4's block: sizes in range, layer lists valid and disjoint, a window."""
    c = s.compressed_attention
    if not isinstance(c, CompressedAttention):
        raise EstimatorError("compressed_attention", c, "must be a CompressedAttention block")
    for n in ("q_lora_rank", "o_groups", "o_lora_rank", "hc_mult", "csa_rate", "hca_rate"):
        check_int("compressed_attention." + n, getattr(c, n), 1)
    for n in ("index_n_heads", "index_head_dim", "index_topk"):
        check_int("compressed_attention." + n, getattr(c, n), 1 if c.csa_layers else 0)
    if (s.num_attention_heads * s.head_dim) % c.o_groups:
        raise EstimatorError("compressed_attention.o_groups", c.o_groups,
                             f"must divide num_attention_heads x head_dim="
                             f"{s.num_attention_heads * s.head_dim}")
    L = s.num_hidden_layers
    for name in ("csa_layers", "hca_layers", "hash_moe_layers"):
        idx = getattr(c, name)
        if not isinstance(idx, tuple) or any(
                isinstance(i, bool) or not isinstance(i, int) or not 0 <= i < L for i in idx):
            raise EstimatorError("compressed_attention." + name, idx,
                                 f"must be a tuple of layer indices in [0, {L})")
        if len(set(idx)) != len(idx):
            raise EstimatorError("compressed_attention." + name, idx, "has repeated layers")
    both = set(c.csa_layers) & set(c.hca_layers)
    if both:
        raise EstimatorError("compressed_attention.hca_layers", min(both),
                             "layer is also in csa_layers")
    if not set(c.hash_moe_layers) <= set(s.moe_layers):
        raise EstimatorError("compressed_attention.hash_moe_layers", c.hash_moe_layers,
                             "hash-routed layers must be MoE layers")
    if s.sliding_window is None or s.num_key_value_heads != 1:
        raise EstimatorError("sliding_window", s.sliding_window, "DeepSeek-V4's attention "
                             "needs a sliding window and one shared K=V head")
    if s.mla is not None or s.moa is not None or s.is_hybrid or s.has_layer_shapes:
        raise EstimatorError("compressed_attention", c, "does not combine with mla, moa, "
                             "hybrid mixers or per-layer attention shapes")


def _validate_shared_block(s: ModelSpec) -> None:
    """Zamba's shared block: uses are layer indices, every layer a Mamba layer without its own
    FFN, a dense model with plain (non-MLA) attention."""
    b = s.shared_block
    if not isinstance(b, SharedBlock):
        raise EstimatorError("shared_block", b, "must be a SharedBlock or None")
    check_layer_indices("shared_block.uses", b.uses, s.num_hidden_layers)
    check_int("shared_block.num_blocks", b.num_blocks, 1)
    check_int("shared_block.attention_adapter_rank", b.attention_adapter_rank, 0)
    check_int("shared_block.mlp_adapter_rank", b.mlp_adapter_rank, 0)
    if not isinstance(b.tied, bool):
        raise EstimatorError("shared_block.tied", b.tied, "must be true or false")
    L = s.num_hidden_layers
    if (s.mixer is None or len(s.mixer_layers) != L or len(s.ffnless_layers) != L
            or s.parallel_mixer or s.mixerless_layers):
        raise EstimatorError("shared_block", b, "needs a mixer on every layer and no per-layer "
                             "FFN (Zamba's Mamba layers)")
    if (s.num_experts or s.mla is not None or s.moa is not None or s.sliding_window_layers
            or s.has_layer_shapes or s.compressed_attention is not None):
        raise EstimatorError("shared_block", b, "does not combine with experts, mla, moa, "
                             "sliding windows or per-layer attention shapes")
    if s.intermediate_size < 1:
        raise EstimatorError("intermediate_size", s.intermediate_size,
                             "must be >= 1: the shared block has an MLP")


def check_moe(s: ModelSpec) -> None:
    """The rules that tie the MoE and FFN widths together (part of validation; a vectorized
    sweep runs them over its array operands)."""
    L = s.num_hidden_layers
    E, k = s.num_experts, s.num_experts_per_tok
    if E:
        if k < 1:
            raise EstimatorError("num_experts_per_tok", k, "must be >= 1 for an MoE model")
        if k > E:
            raise EstimatorError("num_experts_per_tok", k, f"must not exceed num_experts={E}")
        if s.moe_layers and s.moe_intermediate_size < 1:
            raise EstimatorError("moe_intermediate_size", s.moe_intermediate_size,
                                 "must be >= 1 for an MoE model")
    else:
        if s.moe_layers:
            raise EstimatorError("moe_layers", s.moe_layers, "given but num_experts is 0")
        if k:
            raise EstimatorError("num_experts_per_tok", k, "given but num_experts is 0")
    if s.num_zero_experts or s.router_top_k:
        _check_zero_experts(s)
    _validate_hybrid(s)
    if len(s.moe_layers) + len(s.ffnless_layers) < L and s.intermediate_size < 1:
        raise EstimatorError("intermediate_size", s.intermediate_size,
                             "must be >= 1: the model has dense FFN layers")
    if s.num_shared_experts and s.shared_expert_intermediate_size < 1:
        raise EstimatorError("shared_expert_intermediate_size",
                             s.shared_expert_intermediate_size,
                             "must be >= 1 when num_shared_experts > 0")
    if s.shared_expert_intermediate_size and not s.num_shared_experts:
        raise EstimatorError("num_shared_experts", s.num_shared_experts,
                             "must be >= 1 when shared_expert_intermediate_size is set")


def _check_zero_experts(s: ModelSpec) -> None:
    """LongCat-Flash's zero-computation experts: the router's top-``router_top_k`` over
    ``E + Z`` holds the ``k`` real experts assumed per token and ``router_top_k − k`` zero
    experts."""
    Z, K, k = s.num_zero_experts, s.router_top_k, s.num_experts_per_tok
    if not s.num_experts:
        raise EstimatorError("num_zero_experts", Z, "need routed experts (num_experts > 0)")
    if Z < 1:
        raise EstimatorError("num_zero_experts", Z, "must be >= 1 when router_top_k is set")
    if K < k:
        raise EstimatorError("router_top_k", K, f"must be >= num_experts_per_tok={k} (the real "
                             "experts among the router's picks)")
    if K > s.router_width:
        raise EstimatorError("router_top_k", K, f"must not exceed num_experts + "
                             f"num_zero_experts={s.router_width}")
    if K - k > Z:
        raise EstimatorError("num_experts_per_tok", k, f"router_top_k={K} picks would need "
                             f"{K - k} zero experts; there are {Z}")
