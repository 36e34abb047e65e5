"""Sequence mixers that are not softmax attention: parameters, per-sequence state, FLOPs.

One function per quantity, each a closed form of a :class:`~estimator.spec.Mixer`'s sizes
(symbols of the modeling files named in :data:`~estimator.spec.MIXER_KINDS`). The oracles:

* parameters — transformers' own modules on the meta device (tests/test_hybrids.py, random
  configs per family);
* state — the conv and recurrent tensors transformers' cache holds after a real CPU forward
  (``LinearAttentionLayer.conv_states`` / ``recurrent_states``; MiniMax's ``linear_cache``):
  their size does not depend on the number of tokens, so they are ``memory.inference.state``,
  apart from the KV cache that grows with tokens;
* FLOPs — the matmuls of the projections (what ``FlopCounterMode`` counts) plus the recurrence
  of each published algorithm, written below with its source.

Conv-state layout (the ``kv_cache`` option, as for MLA): ``engine`` keeps the last
``conv_kernel − 1`` inputs (vLLM ``model_executor/layers/mamba/mamba_utils.py``,
``MambaStateShapeCalculator``: ``conv_state_shape = (conv_dim, conv_kernel - 1)``);
``transformers`` keeps ``conv_kernel`` of them (``cache_utils.LinearAttentionLayer``, measured).
RecurrentGemma's RG-LRU keeps its state in its own modules, not in the cache object
(``RecurrentGemmaRecurrentBlock.conv1d_state``: the last ``conv1d_width − 1`` inputs, both
layouts; ``RecurrentGemmaRglru.recurrent_states``: fp32 whatever the model dtype,
:func:`recurrent_state_bytes`).
"""

from __future__ import annotations

from .spec import MLA, Mixer


def conv_dim(m: Mixer, h: int) -> int:
    """Channels of the mixer's depthwise causal conv.

    Gated DeltaNet: ``2·Hk·Dk + Hv·Dv`` (q, k, v; ``Qwen3NextGatedDeltaNet.conv_dim``);
    Mamba-1: the inner width ``I`` (``JambaMambaMixer.conv1d``); Mamba-2: ``I + 2·G·N``
    (x, B, C; ``BambaMixer.conv_dim``); Kimi Delta Attention: ``3·H·D`` (q, k, v;
    ``KimiLinearDeltaAttention.conv_dim``); short conv: ``h`` (``Lfm2ShortConv.conv``);
    RG-LRU: ``lru_width`` (``RecurrentGemmaRecurrentBlock.conv_1d``); RWKV-4: ``2h``, the
    token shifts of the time mix and the channel mix (each keeps the previous token's
    ``h``-wide input, ``state[1]`` and ``state[0]`` of ``RwkvModel.forward``); lightning
    attention has none.
    """
    if m.kind == "rwkv4":
        return 2 * h
    if m.kind in ("gated_deltanet", "kimi_delta"):
        return 2 * m.num_k_heads * m.head_k_dim + m.inner
    if m.kind in ("mamba", "rglru"):
        return m.inner
    if m.kind == "mamba2":
        return m.inner + 2 * m.num_k_heads * m.state_size
    if m.kind == "short_conv":
        return h
    return 0


def mixer_matrix_params(m: Mixer, h: int) -> int:
    """Parameters of the mixer's projection matrices (the part split by tensor parallelism).

    Gated DeltaNet: ``in_proj_qkvz`` h → 2·Hk·Dk + 2·Hv·Dv, ``in_proj_ba`` h → 2·Hv,
    ``out_proj`` Hv·Dv → h. Mamba-1: ``in_proj`` h → 2I, ``x_proj`` I → R + 2N, ``dt_proj``
    R → I, ``out_proj`` I → h. Mamba-2: ``in_proj`` h → 2I + 2GN + H, ``out_proj`` I → h.
    Short conv: ``in_proj`` h → 3h, ``out_proj`` h → h. Lightning: ``qkv_proj`` h → 3·a·d,
    ``output_gate`` h → a·d, ``out_proj`` a·d → h. Kimi Delta Attention
    (``modeling_kimi_linear.KimiLinearDeltaAttention``, H heads of D): ``q/k/v_proj`` h → H·D
    each, ``b_proj`` h → H, the low-rank forget gate ``f_a_proj`` h → D, ``f_b_proj`` D → H·D,
    the low-rank output gate ``g_a_proj`` h → D, ``g_b_proj`` D → H·D, ``o_proj`` H·D → h.
    With ``full_rank_gates`` (``modeling_bailing_hybrid.BailingHybridDeltaAttention``) the two
    gates are ``forget_gate.f_proj`` h → H·D and ``g_proj`` h → H·D, no biases.
    RG-LRU (``RecurrentGemmaRecurrentBlock``, inner width ``I`` = ``lru_width``): ``linear_y``
    and ``linear_x`` h → I, ``linear_out`` I → h (its block-diagonal gates are not matrices
    of this kind: :func:`mixer_params`).
    RWKV-4 (``RwkvSelfAttention``, ``RwkvFeedForward``; ``A`` = ``attention_hidden_size``,
    ``f`` = ``ffn_dim``; no biases): time mix ``key``/``value``/``receptance`` h → A,
    ``output`` A → h; channel mix ``key`` h → f, ``value`` f → h, ``receptance`` h → h.
    mLSTM (``xLSTMLayer``, H heads, ``Dk``/``Dv`` per head; ``weight_mode`` single or fused,
    the same sizes): ``q``/``k`` h → H·Dk, ``v`` and ``ogate_preact`` h → H·Dv,
    ``igate_preact``/``fgate_preact`` h → H, ``out_proj`` H·Dv → h.
    """
    i = m.inner
    if m.kind == "rwkv4":
        return 4 * h * i + 2 * h * m.ffn_dim + h * h
    if m.kind == "mlstm":
        return h * (2 * m.num_k_heads * m.head_k_dim + 2 * i + 2 * m.num_heads) + i * h
    if m.kind == "rglru":
        return 3 * h * i
    if m.kind == "gated_deltanet":
        key = m.num_k_heads * m.head_k_dim
        return h * (2 * key + 2 * i) + h * 2 * m.num_heads + i * h
    if m.kind == "kimi_delta":
        d = m.head_dim
        gates = 2 * h * i if m.full_rank_gates else 2 * (h * d + d * i)
        return 3 * h * i + h * m.num_heads + gates + i * h
    if m.kind == "mamba":
        return h * 2 * i + i * (m.dt_rank + 2 * m.state_size) + m.dt_rank * i + i * h
    if m.kind == "mamba2":
        return h * (2 * i + 2 * m.num_k_heads * m.state_size + m.num_heads) + i * h
    if m.kind == "short_conv":
        return 3 * h * h + h * h
    # lightning
    return 3 * h * i + h * i + i * h


def mixer_params(m: Mixer, h: int) -> int:
    """All parameters of one mixer layer: :func:`mixer_matrix_params` plus the small ones.

    Gated DeltaNet: conv ``conv_dim·K`` (no bias), ``dt_bias`` and ``A_log`` (Hv each), the
    gated RMSNorm over one head (Dv). Mamba-1 (``JambaMambaMixer``): conv ``I·K`` (+ I bias),
    ``dt_proj`` bias I, ``A_log`` I·N, ``D`` I, in/out biases with ``proj_bias``, Jamba's dt/B/C
    RMSNorms ``R + 2N``. Mamba-2 (``BambaMixer``): conv ``conv_dim·K`` (+ bias), ``dt_bias``,
    ``A_log``, ``D`` (H each), the gated RMSNorm I (absent in Falcon-H1 without
    ``mamba_rms_norm``), ``in_proj`` bias with ``proj_bias``, ``out_proj`` bias with
    ``out_bias``. Short conv: conv ``h·K``, biases on all three with ``proj_bias``
    (``conv_bias``). Lightning: RMSNorm(a·d). Kimi Delta Attention: conv ``3·H·D·K`` (no
    bias), the forget gate's ``dt_bias`` (H·D, per channel) and ``A_log`` (H), the gated
    RMSNorm ``o_norm`` over one head (D); the same in ``BailingHybridDeltaAttention`` (its one
    fp32 ``conv1d`` over the 3·H·D q/k/v channels, ``forget_gate.dt_bias`` and ``A_log``).
    RG-LRU: the biases of ``linear_y``/``linear_x`` (I each) and ``linear_out`` (h), conv
    ``I·K`` + I bias, and ``RecurrentGemmaRglru``'s ``recurrent_param`` (I) and two
    block-diagonal gates (``input_gate_weight``, ``recurrent_gate_weight``: ``H`` blocks of
    ``D×D``, ``H·D`` bias each; ``H`` = ``num_attention_heads``, ``D = I/H``).
    RWKV-4: ``time_decay`` and ``time_first`` (A each), the token-shift mixes
    ``time_mix_key``/``_value``/``_receptance`` (h each) of the time mix and
    ``time_mix_key``/``_receptance`` of the channel mix. mLSTM: the input and forget gates'
    biases (H each, always on) and ``multihead_norm``'s weight (H·Dv).
    """
    i, k = m.inner, m.conv_kernel
    p = mixer_matrix_params(m, h)
    if m.kind == "rwkv4":
        return p + 2 * i + 5 * h
    if m.kind == "mlstm":  # the gates' biases (always on) and multihead_norm's weight
        return p + 2 * m.num_heads + i
    if m.kind == "rglru":
        gates = 2 * (m.num_heads * m.head_dim * m.head_dim + i)
        return p + 2 * i + h + i * k + i + i + gates
    if m.kind == "gated_deltanet":
        return p + conv_dim(m, h) * k + 2 * m.num_heads + m.head_dim
    if m.kind == "kimi_delta":
        return p + conv_dim(m, h) * k + i + m.num_heads + m.head_dim
    if m.kind == "mamba":
        p += i * k + (i if m.conv_bias else 0) + i + i * m.state_size + i
        if m.proj_bias:
            p += 2 * i + h
        if m.bc_norms:
            p += m.dt_rank + 2 * m.state_size
        return p
    if m.kind == "mamba2":
        c = conv_dim(m, h)
        p += c * k + (c if m.conv_bias else 0) + 3 * m.num_heads
        p += i if m.gated_norm else 0
        if m.proj_bias:
            p += 2 * i + 2 * m.num_k_heads * m.state_size + m.num_heads
        return p + (h if m.out_bias else 0)
    if m.kind == "short_conv":
        return p + h * k + (3 * h + h + h if m.proj_bias else 0)
    return p + i  # lightning: its RMSNorm


def state_elements(m: Mixer, h: int, layout: str = "engine") -> dict[str, int]:
    """Elements one mixer layer keeps per sequence, whatever its length: ``conv`` and
    ``recurrent`` (see the module docstring for the two conv layouts).

    Recurrent state: Gated DeltaNet and Kimi Delta Attention ``Hv·Dk·Dv`` (one Dk×Dv matrix
    per value head, ``recurrent_states``); Mamba-1 ``I·N``; Mamba-2 ``H·P·N`` (heads ×
    head_dim × d_state); lightning ``a·d·d`` (MiniMax's ``linear_cache``: one d×d key-value
    state per head); RG-LRU ``I`` (``recurrent_states``, one value per channel); short conv
    none; RWKV-4 ``3·A`` (the WKV numerator, denominator and running maximum, ``state[2:5]``);
    mLSTM ``H·(Dk·Dv + Dk + 1)`` (``xLSTMCache.rnn_state``: the matrix memory C, the normaliser
    n and the stabiliser m per head, in the model dtype).
    RG-LRU's conv state is ``conv_kernel − 1`` columns in both layouts
    (``RecurrentGemmaRecurrentBlock.forward`` keeps ``conv_state[:, :, 1:]``, measured), as is
    RWKV-4's token shift (one previous input per mix).
    """
    width = (m.conv_kernel - 1 if layout == "engine" or m.kind in ("rglru", "rwkv4")
             else m.conv_kernel)
    conv = conv_dim(m, h) * width
    if m.kind in ("gated_deltanet", "kimi_delta"):
        rec = m.num_heads * m.head_k_dim * m.head_dim
    elif m.kind in ("mamba", "mamba2"):
        rec = m.inner * m.state_size
    elif m.kind == "lightning":
        rec = m.num_heads * m.head_dim * m.head_dim
    elif m.kind == "rglru":
        rec = m.inner
    elif m.kind == "rwkv4":
        rec = 3 * m.inner
    elif m.kind == "mlstm":
        rec = m.num_heads * (m.head_k_dim * m.head_dim + m.head_k_dim + 1)
    else:
        rec = 0
    return {"conv": conv, "recurrent": rec}


#: Mixer kinds whose recurrent state is fp32 whatever the model dtype: RecurrentGemma
#: (``RecurrentGemmaRecurrentBlock._setup_cache`` and ``RecurrentGemmaRglru._rnn_scan``:
#: ``dtype=torch.float32`` / ``acc_dtype=torch.float32``), RWKV-4 (``RwkvModel.forward``:
#: ``state[2:5]`` in ``torch.float32``, the two token shifts in the model dtype).
FP32_RECURRENT_STATE = ("rglru", "rwkv4")


def recurrent_state_bytes(m: Mixer, dtype_bytes: int) -> int:
    """Bytes of one recurrent-state element: 4 for :data:`FP32_RECURRENT_STATE` kinds, else the
    state dtype's ``dtype_bytes`` (the conv state always takes ``dtype_bytes``)."""
    return F32 if m.kind in FP32_RECURRENT_STATE else dtype_bytes


def recurrence_flops_per_token(m: Mixer, h: int) -> int:
    """FLOPs per token of the mixer's sequence recurrence (beyond its projections), in the
    recurrent (token-by-token) form that decode runs and that bounds the chunked forms:

    * Gated DeltaNet (arXiv 2412.06464 eq. 10): ``S ← αS(I − βkkᵀ) + βvkᵀ``, ``o = Sq`` per
      value head: ``k·S`` (Dk·Dv MACs), the rank-1 update (Dk·Dv), ``S·q`` (Dk·Dv) —
      ``3·Hv·Dk·Dv`` MACs, plus the conv ``conv_dim·K``.
    * Kimi Delta Attention (Kimi Linear, arXiv 2510.26692 §3.1): the same delta rule with a
      per-channel decay ``S ← (I − βkkᵀ)·Diag(α)·S + βkvᵀ``: the decay is element-wise, so the
      same ``3·H·D·D`` MACs, plus the conv.
    * Mamba-1/2 (arXiv 2312.00752 Alg. 2; 2405.21060 §3): state update ``h ← Ā·h + B̄x`` and
      read-out ``y = C·h`` over I·N state elements: ``2·I·N`` MACs, plus the conv.
    * Lightning attention (arXiv 2501.08313 §2.2, recurrent form ``kv ← λ·kv + kᵀv``,
      ``o = q·kv``): ``2·a·d·d`` MACs.
    * Short conv: the conv ``h·K`` MACs.
    * RG-LRU (arXiv 2402.19427 §2.4; ``RecurrentGemmaRglru.forward``): the two block-diagonal
      gates ``x·W_a``, ``x·W_x`` (``2·I·D`` MACs, ``torch.baddbmm``), the conv ``I·K`` and the
      scan ``h ← a·h + x̃`` (``I`` MACs).
    * RWKV-4 (arXiv 2305.13048 eq. 16-17, the recurrent form ``rwkv_linear_attention_cpu``
      runs): per channel of A, the output ``(a + e^{u+k}·v)/(b + e^{u+k})`` and the state update
      ``a ← e^{−w}·a + e^k·v``, ``b ← e^{−w}·b + e^k`` (``4·A`` MACs), plus the five token-shift
      interpolations ``x·μ + x₋₁·(1 − μ)`` (``5·h`` MACs, ``x₋₁ + μ·(x − x₋₁)``).
    * mLSTM (arXiv 2405.04517 eq. 19-27, ``mlstm_recurrent_step_native``): per head
      ``C ← f·C + i·v kᵀ`` (Dk·Dv), ``n ← f·n + i·k`` (Dk), ``h̃ = C q`` (Dk·Dv) and ``nᵀq``
      (Dk): ``H·(2·Dk·Dv + 2·Dk)`` MACs.

    ``FLOPS_PER_MAC = 2``. The chunked training kernels do more (intra-chunk attention of
    chunk ``C``: ~``C`` keys per query, FLA ``chunk_gated_delta_rule``); the recurrent form is
    the algorithm's count, named as such in reports.
    """
    conv = conv_dim(m, h) * m.conv_kernel
    if m.kind in ("gated_deltanet", "kimi_delta"):
        macs = 3 * m.num_heads * m.head_k_dim * m.head_dim + conv
    elif m.kind in ("mamba", "mamba2"):
        macs = 2 * m.inner * m.state_size + conv
    elif m.kind == "lightning":
        macs = 2 * m.num_heads * m.head_dim * m.head_dim
    elif m.kind == "rglru":
        macs = 2 * m.inner * m.head_dim + conv + m.inner
    elif m.kind == "rwkv4":
        macs = 4 * m.inner + 5 * h
    elif m.kind == "mlstm":
        macs = m.num_heads * (2 * m.head_k_dim * m.head_dim + 2 * m.head_k_dim)
    else:
        macs = conv
    return 2 * macs


# ----------------------------------------------------------------------------------------------
# DeepSeek Sparse Attention: the lightning indexer of an MLA layer (DeepSeek-V3.2)
# ----------------------------------------------------------------------------------------------

#: The indexer key cache of the DeepSeek reference and of the engines: fp8 keys plus one fp32
#: scale per block of 128 channels (DeepSeek-V3.2-Exp ``inference/model.py::Indexer``:
#: ``k_cache`` float8_e4m3fn ``[B, S, index_head_dim]``, ``k_scale_cache`` float32
#: ``[B, S, index_head_dim // block_size]``, ``block_size = 128``; vLLM
#: ``DeepseekV32IndexerBackend`` and SGLang ``NSATokenToKVPool`` pack the same
#: ``index_head_dim + index_head_dim // 128 · 4`` bytes per token as uint8).
INDEXER_QUANT_BLOCK = 128
INDEXER_SCALE_BYTES = 4


def indexer_matrix_params(m: MLA, h: int) -> int:
    """The lightning indexer's matrices (``DeepseekV32Indexer``; DeepSeek-V3.2-Exp technical report,
    ``DeepSeek_V3_2.pdf`` §1):
    ``wq_b`` q_lora_rank → Hi·Di (it reads MLA's normed ``q_a_proj`` latent), ``wk`` h → Di
    (one key head shared by all indexer heads), ``weights_proj`` h → Hi (the per-head weights
    ``w``). No biases. 0 without an indexer."""
    if not m.index_n_heads:
        return 0
    return (m.q_lora_rank * m.index_n_heads * m.index_head_dim + h * m.index_head_dim
            + h * m.index_n_heads)


def indexer_params(m: MLA, h: int) -> int:
    """:func:`indexer_matrix_params` plus ``k_norm``, a LayerNorm(Di) with weight and bias."""
    if not m.index_n_heads:
        return 0
    return indexer_matrix_params(m, h) + 2 * m.index_head_dim


def indexer_score_flops_per_pair(m: MLA) -> int:
    """FLOPs of the indexer on one (query, key) pair: ``I_t,s = Σ_j w_t,j · ReLU(q_t,j · k_s)``
    (DeepSeek-V3.2-Exp report eq. 1): the dot products ``Hi·Di`` MACs and the weighted head
    sum ``Hi`` MACs. transformers computes both as matmuls over every cached key
    (``torch.matmul(q, kᵀ)`` then ``weights @ scores``), so FlopCounterMode counts them."""
    return 2 * (m.index_n_heads * m.index_head_dim + m.index_n_heads)


def indexer_key_bytes_per_token(m: MLA, kv_layout: str, kv_bytes: int) -> int:
    """Bytes one DSA layer's indexer caches per token: ``engine`` (DeepSeek reference, vLLM,
    SGLang) fp8 keys + fp32 block scales, ``Di + 4·⌈Di/128⌉`` (132 for Di = 128) whatever the
    KV dtype; ``transformers`` (``cache_utils.DynamicIndexedLayer.indexer_keys``) ``Di``
    elements in the model's dtype (``kv_bytes`` each)."""
    if not m.index_n_heads:
        return 0
    if kv_layout == "transformers":
        return m.index_head_dim * kv_bytes
    return (m.index_head_dim
            + -(-m.index_head_dim // INDEXER_QUANT_BLOCK) * INDEXER_SCALE_BYTES)


def shared_indexer_layers(s, lo: int = 0, hi: int | None = None) -> int:
    """Layers of ``[lo, hi)`` that reuse an earlier layer's top-k instead of running an indexer
    (HY-V4's ``indexer_types`` "shared", ``modeling_hy_v4.HYV4Attention``: ``indexer = None``,
    no indexer weights, keys or scores): what every per-layer indexer count (params, FLOPs,
    cache) subtracts. 0 unless ``mla.indexer_layers`` lists the layers with an indexer."""
    m = s.mla
    hi = s.num_hidden_layers if hi is None else hi
    if m is None or not m.indexer_layers:
        return 0
    return (hi - lo) - sum(1 for i in m.indexer_layers if lo <= i < hi)


FORMULAS = [conv_dim, mixer_matrix_params, mixer_params, state_elements, recurrent_state_bytes,
            recurrence_flops_per_token, indexer_matrix_params, indexer_params,
            indexer_score_flops_per_pair, indexer_key_bytes_per_token, shared_indexer_layers]


# ----------------------------------------------------------------------------------------------
# training: the tensors one mixer layer saves for the backward
# ----------------------------------------------------------------------------------------------

#: Chunk length of the delta-rule kernels (transformers ``torch_chunk_gated_delta_rule`` /
#: ``torch_chunk_kda`` default ``chunk_size=64``; FLA ``chunk_local_cumsum(g, chunk_size=64)``):
#: the eager path pads the sequence to a multiple of it, FLA's ``A`` has 64 columns per token.
DELTA_CHUNK = 64
#: Mamba-2's SSD chunk in the published configs (``chunk_size`` 256 in Bamba, Granite-4.0-H,
#: Nemotron-H, Falcon-H1; transformers' default): the spec does not carry it, training uses it.
MAMBA2_CHUNK = 256
#: MiniMax's lightning-attention block (``MiniMaxConfig.block_size`` default and the published
#: MiniMax-Text-01 / M1 configs): the spec does not carry it, training uses it.
LIGHTNING_BLOCK = 256
#: Bytes of the fp32 intermediates the eager references compute in (``.float()`` upcasts).
F32 = 4

MIXER_ACTIVATION_CONVENTIONS = {
    "megatron": ("fused kernels: what their autograd Functions save — FLA "
                 "``ChunkGatedDeltaRuleFunction`` (q, k and their l2-norm rstd, v, g, beta, A), "
                 "causal-conv1d (its input), FLA's gated RMSNorm (x, z, rstd); mamba_ssm "
                 "``MambaSplitConv1dScanCombinedFn`` (its in_proj output, the scan output, "
                 "the norm's rstd), ``MambaInnerFn`` (Mamba-1: in_proj and x_proj outputs, "
                 "B, C, the scan output and its fp32 per-2048-token states) or Jamba's "
                 "``SelectiveScanFn`` path; the chunk intermediates are recomputed in the "
                 "backward. Lightning and Kimi Delta Attention layers have no fused set here "
                 "and count as attention layers"),
    "pytorch_eager": ("transformers 5.24's torch paths under plain autograd, measured with "
                      "MemTracker (tests/test_hybrid_training.py): the chunked delta rule and "
                      "SSD scan in fp32 with every chunk intermediate saved, Mamba-1's "
                      "token-by-token scan (one fp32 state per token), the conv's K − 1 padding "
                      "columns, lightning attention's per-block scores and states, Kimi Delta "
                      "Attention's chunked rule (fp32 C × C × D decay products per chunk); "
                      "16-bit model weights (Ling's KDA conv in fp32, as it loads)"),
}


def _chunked(seq: int, chunk: int) -> int:
    """``seq`` padded to a multiple of ``chunk`` (the torch paths' ``pad_size``)."""
    return -(-seq // chunk) * chunk


def mixer_activation_terms(m: Mixer, h: int, batch: int, seq: int, e: int,
                           framework: str, ssd_chunk: int = MAMBA2_CHUNK,
                           scaled_input: bool = False, block: int = 0) -> dict[str, int]:
    """Bytes one mixer layer saves for its backward, one micro-batch of ``batch`` sequences of
    ``seq`` tokens, ``e`` bytes per activation, one GPU without tensor parallelism; the mixer's
    input (the pre-norm's output) is counted by the caller. ``framework`` names the convention
    (:data:`MIXER_ACTIVATION_CONVENTIONS`). Keys say which tensor each term is.

    The ``pytorch_eager`` sets are transcribed from transformers 5.24's torch paths (checked
    tensor by tensor with ``torch.distributed._tools.mem_tracker.MemTracker`` and autograd's
    saved tensors in tests/test_hybrid_training.py); the ``megatron`` sets from the fused
    kernels' ``save_for_backward`` (see each kind's helper). ``ssd_chunk``: Mamba-2's chunk
    length (the config's ``chunk_size``/``mamba_chunk_size``, which the spec does not carry).
    ``scaled_input``: the mixer scales its input before ``in_proj`` (Falcon-H1's
    ``hidden_states * self.ssm_in_multiplier`` in ``FalconH1Mixer.forward``, both paths), so
    ``in_proj`` keeps that ``h``-wide copy besides the norm output the caller counts.
    ``block``: lightning attention's block (the config's ``block_size``; default
    :data:`LIGHTNING_BLOCK`).
    """
    fn = _EAGER if framework == "pytorch_eager" else _FUSED
    if m.kind == "mamba2":
        terms = fn[m.kind](m, h, batch, seq, e, ssd_chunk)
    elif m.kind == "lightning":
        terms = fn[m.kind](m, h, batch, seq, e, block or LIGHTNING_BLOCK)
    else:
        terms = fn[m.kind](m, h, batch, seq, e)
    if scaled_input:
        terms["mixer_scaled_input"] = e * batch * seq * h
    return terms


def _gdn_eager(m: Mixer, h: int, b: int, s: int, e: int) -> dict[str, int]:
    """Gated DeltaNet, ``Qwen3NextGatedDeltaNet.forward`` + ``torch_chunk_gated_delta_rule``
    (modeling_qwen3_next.py; the same in qwen3_5). ``T = b·s``; the delta rule runs on ``Tp``
    tokens padded to 64 (``nc`` chunks of ``C = 64``), in fp32, keys repeated to ``Hv`` heads:

    * conv: ``causal_conv1d_fn``'s torch fallback (``Conv1d`` with ``K − 1`` padding, then
      ``silu``) saves its input ``cat(q, k, v)`` and the padded output (``s + K − 1`` columns);
    * gates: ``b.sigmoid()`` (16-bit), ``softplus(a.float() + dt_bias)`` input and output;
    * delta rule, fp32 ``Tp × Hv``-row tensors: eight of width ``Dk`` (l2norm inputs of q and
      k, padded q and k, ``k_beta``, ``k_cumdecay``, the decayed q and k of the chunk loop),
      three of width ``Dv`` (padded v, ``new_values``, ``v_new``), eight scalars per row (beta,
      two l2norm ``inv_norm``, three ``cum_decay.exp()``, ... ); five ``C × C`` matrices per
      chunk and head (``pairwise_decay``, ``k_beta @ kᵀ``, ``ut_system``, ``q @ kᵀ``,
      ``intra_chunk_attn``), the recurrent state entering each chunk (``Dk × Dv``), the
      ``C × C`` boolean mask;
    * ``Qwen3NextRMSNormGated``: fp32 input, ``gate.float()``, ``silu(gate)``, ``rsqrt``, the
      16-bit cast and ``weight ·`` product it multiplies, and ``out_proj``'s input.
    """
    hv, dk, dv, c = m.num_heads, m.head_k_dim, m.head_dim, DELTA_CHUNK
    T, tp_ = b * s, b * _chunked(s, c)
    nc = tp_ // (b * c)
    cd = conv_dim(m, h)
    return {
        "mixer_conv_input": e * T * cd,
        "mixer_conv_output": e * b * cd * (s + m.conv_kernel - 1),
        "mixer_gates": e * T * hv + 2 * F32 * T * hv,
        "mixer_delta_rows": F32 * tp_ * hv * (8 * dk + 3 * dv + 6),
        "mixer_delta_chunk_matrices": F32 * b * hv * nc * (5 * c * c + dk * dv + 1) + c * c,
        "mixer_gated_norm": 3 * F32 * T * hv * dv + 2 * e * T * hv * dv + F32 * T * hv,
        "mixer_out_proj_input": e * T * hv * dv,
        # ``-A_log.float().exp()`` and its product saved as views (Hv each), the fp64 scalar
        # ``query * scaling`` keeps
        "mixer_params_views": 2 * F32 * hv + 8,
    }


def _kda_eager(m: Mixer, h: int, b: int, s: int, e: int) -> dict[str, int]:
    """Kimi Delta Attention, ``KimiLinearDeltaAttention.forward`` (modeling_kimi_linear.py) and
    ``BailingHybridDeltaAttention.forward`` (modeling_bailing_hybrid.py, ``full_rank_gates``)
    with their identical torch ``chunk_kimi_delta_attention``: ``T = b·s`` tokens, ``i = H·D``,
    the delta rule on ``Tp = b·sp`` tokens (``sp`` = ``s`` padded to ``C`` = 64, ``nc`` chunks)
    in fp32, keys and values per head (no grouping):

    * the conv: ``causal_conv1d_fn``'s torch fallback keeps its input ``cat(q, k, v)`` (``3i``)
      and the ``silu``'s input, the ``s + K − 1`` padded conv output — in fp32 with
      ``fp32_conv`` (Ling keeps ``conv1d`` and ``A_log`` in fp32: ``_keep_in_fp32_modules_strict``;
      the input is cast to the weight's dtype);
    * the forget gate, fp32: Kimi's low-rank ``f_a_proj`` output (``D``, 16-bit), ``exp(g)``,
      ``1 + exp(g)`` and ``softplus(g)`` (``i`` each), the ``g > 20`` mask (1 byte per element),
      ``exp(A_log)`` and its negation (``H`` each); Ling's bounded gate (``bounded_gate``,
      ``kda_safe_gate``) ``gate_input`` and ``sigmoid`` (``i`` each), ``exp(A_log)``
      (``H``, in ``A_log``'s dtype), or without the bound ``gate_input`` and ``softplus``
      (``i`` each) and ``exp(A_log)`` and its negation (``H`` each);
      ``sigmoid(b_proj(x))`` (``H``, 16-bit);
    * the delta rule, fp32: the l2norm inputs of q and k (``T × i`` each) and their norms
      (``T × H``); on ``Tp`` rows: the scaled q, padded k and v, ``v·β``, ``k·β``,
      ``exp(cumsum g)``, ``k·β·exp(g)``, each chunk's ``exp(g_i)``, ``exp(g_last − g_i)``,
      ``k_i·exp(g_last − g_i)`` and ``v_new`` (``i`` each), ``k_cumdecay`` (``i``, saved only
      when a second chunk reads it), padded β (``H``); per chunk and head the ``C × C × D``
      decay mask and ``k·β ⊙ k`` product (whole sequence) and ``q_i ⊙ k_i`` product (per
      chunk), the ``C × C`` ``attn + I`` and ``attn_intra``, the forward-substitution loop's
      row and block clones (``Σ_{r<C} r + r²``), the ``D × D`` state entering each chunk,
      ``exp(g_last)`` (``D``) and ``q_i·exp(g_i)`` (``C·D``, chunks after the first); three
      ``C × C`` boolean masks;
    * the gated RMSNorm ``o_norm`` (fp32): its input, ``rsqrt`` (``H``), ``x̂``, ``weight · x̂``,
      ``sigmoid(gate)`` (``i`` each except ``rsqrt``) and the weight's fp32 copy (``D``); Kimi's
      low-rank ``g_a_proj`` output (``D``, 16-bit); ``o_proj``'s 16-bit input.
    """
    H, D, K, c = m.num_heads, m.head_dim, m.conv_kernel, DELTA_CHUNK
    i = H * D
    T, tp_ = b * s, b * _chunked(s, c)
    nc = tp_ // (b * c)
    cb = F32 if m.fp32_conv else e  # Ling's conv1d and A_log stay fp32 in a 16-bit model
    if m.full_rank_gates:
        gate = F32 * 2 * T * i + (1 if m.bounded_gate else 2) * cb * H
        low_rank = 0
    else:  # -exp(A_log) * where(g > 20, g, log(1 + exp(g))), g = f_b(f_a(x)) + dt_bias
        gate = F32 * 3 * T * i + T * i + 2 * F32 * H
        low_rank = 2 * e * T * D  # f_a_proj and g_a_proj outputs
    loop = b * H * nc * (c * (c - 1) // 2 + (c - 1) * c * (2 * c - 1) // 6)
    return {
        "mixer_conv_input": cb * T * 3 * i,
        "mixer_conv_output": cb * b * 3 * i * (s + K - 1),
        "mixer_gates": gate + e * T * H + low_rank,
        "mixer_delta_l2norm": F32 * (2 * T * i + 2 * T * H),
        "mixer_delta_rows": F32 * tp_ * ((9 + (1 if nc > 1 else 0)) * i + H),
        "mixer_delta_pair_products": F32 * 3 * tp_ * c * i,
        "mixer_delta_chunk_matrices": F32 * (2 * tp_ * H * c + loop),
        # the state entering each chunk; the update after the last chunk is discarded
        # (output_final_state=False), so only the first nc − 1 updates keep their tensors
        "mixer_delta_states": F32 * b * H * D * D * nc
        + F32 * b * (nc - 1) * (H * D + 3 * c * i),
        "mixer_delta_masks": 3 * c * c,
        "mixer_gated_norm": F32 * (4 * T * i + T * H + D),
        "mixer_out_proj_input": e * T * i,
    }


def _short_conv_eager(m: Mixer, h: int, b: int, s: int, e: int) -> dict[str, int]:
    """LFM2 gated short conv, ``Lfm2ShortConv.forward`` (modeling_lfm2.py): ``B·x`` saves the
    ``in_proj`` output (one ``3h`` storage: B and x are views of it), the conv (torch fallback of
    ``causal_conv1d_fn``: ``Conv1d`` padded by ``K − 1``) its input ``B·x``, ``C · conv`` the
    padded conv output, ``out_proj`` its input."""
    T = b * s
    return {"mixer_in_proj_output": e * T * 3 * h, "mixer_conv_input": e * T * h,
            "mixer_conv_output": e * b * h * (s + m.conv_kernel - 1),
            "mixer_out_proj_input": e * T * h}


def _mamba2_eager(m: Mixer, h: int, b: int, s: int, e: int, c: int = MAMBA2_CHUNK
                  ) -> dict[str, int]:
    """Mamba-2 ``torch_forward`` (modeling_nemotron_h / bamba / granitemoehybrid; the SSD of Dao
    & Gu 2024 in chunks of ``C`` = :data:`MAMBA2_CHUNK`, fp32, on ``Tp`` padded tokens):

    * the ``in_proj`` output (``2I + 2GN + H``; the conv input is a view of it), the padded conv
      output, ``dt + dt_bias`` and its softplus (16-bit), their fp32 products;
    * SSD, fp32: five ``Tp × I`` (padded x, ``x·dt``, ...), four ``Tp × H``, five ``Tp × H·N``
      (B and C repeated to the heads), three ``Tp × H·C`` (``C·Bᵀ``, the segment-sum decay, their
      product); per chunk and head the ``P × N`` states twice (with the initial state), the
      ``(nc + 1)²`` inter-chunk decay, four boolean ``tril`` masks;
    * the gated RMSNorm (fp32, per group of ``I/G``): five ``T × I`` tensors and ``G`` ``rsqrt``
      per token (without it, Falcon-H1's ``scan_output * silu(gate)``: the fp32 scan output
      and ``silu(gate)``), then ``out_proj``'s 16-bit input.
    """
    H, P, G, N = m.num_heads, m.head_dim, m.num_k_heads, m.state_size
    i = m.inner
    T, tp_ = b * s, b * _chunked(s, c)
    nc = tp_ // (b * c)
    cd = conv_dim(m, h)
    # without the gated norm (Falcon-H1, ``mamba_rms_norm: false``): ``scan_output *
    # silu(gate)`` keeps the fp32 scan output and the 16-bit ``silu(gate)``
    norm = (5 * F32 * T * i + F32 * T * G) if m.gated_norm else F32 * T * i + e * T * i
    return {
        "mixer_in_proj_output": e * T * (2 * i + 2 * G * N + H),
        "mixer_conv_output": e * b * cd * (s + m.conv_kernel - 1),
        "mixer_dt": 2 * e * T * H,
        "mixer_ssd_rows": F32 * tp_ * (5 * i + 4 * H + 5 * H * N + 3 * H * c),
        "mixer_ssd_states": F32 * b * H * (P * N * (2 * nc + 1) + (nc + 1) ** 2)
        + 2 * (nc + 1) ** 2 + 2 * c * c,
        "mixer_gated_norm": norm,
        "mixer_out_proj_input": e * T * i,
        "mixer_params_views": 2 * F32 * H,
    }


def _mamba_eager(m: Mixer, h: int, b: int, s: int, e: int) -> dict[str, int]:
    """Mamba-1, ``JambaMambaMixer`` + ``mamba_selective_scan``'s recurrent loop
    (modeling_jamba.py): one state per token.

    * 16-bit: the ``in_proj`` output (``2I``; ``silu(z)`` reads a view), the padded conv output,
      the conv's ``silu`` output and its contiguous copy (``x_proj`` input), ``silu(z)``, ``dt``
      before and after softplus, ``out_proj``'s input, each step's state cast to 16 bits for
      ``state @ C`` (``I·N`` per token), the dt/B/C RMSNorms' casts and outputs
      (``2R + 3N``), the zero initial state;
    * fp32: the scan output and ``x.float()`` (``I`` each), ``discrete_A`` and ``discrete_B``
      (``I·N`` each), ``B.float()``, the norms' fp32 inputs (``R + 2N``) and ``rsqrt`` (3),
      each step's fp32 state (``I·N``, all steps but the first), ``A`` and ``D`` views.

    The dt/B/C rows differ by model (:func:`_mamba_eager_norm_rows`); the rest is the same
    scan in ``MambaMixer`` (modeling_mamba.py) and ``FalconMambaMixer``'s torch path.
    """
    i, N = m.inner, m.state_size
    T = b * s
    norms = _mamba_eager_norm_rows(m)
    return {
        "mixer_in_proj_output": e * T * 2 * i,
        "mixer_conv_output": e * b * i * (s + m.conv_kernel - 1),
        "mixer_rows_16bit": e * T * (6 * i + norms[0]),
        "mixer_rows_fp32": F32 * T * (2 * i + 2 * i * N + N + norms[1]),
        "mixer_scan_states": e * T * i * N + F32 * b * i * N * (s - 1) + e * b * i * N,
        "mixer_params_views": F32 * (i + 2 * i * N),
    }


def _lightning_eager(m: Mixer, h: int, b: int, s: int, e: int, blk: int = LIGHTNING_BLOCK
                     ) -> dict[str, int]:
    """MiniMax lightning attention, ``MiniMaxLightningAttention.forward`` (modeling_minimax.py)
    in training (no cache: the block loop), ``a > 1`` heads of ``d`` (``i = a·d``), blocks of
    ``blk`` tokens (``nb = ceil(s/blk)``, the last ``c_last = s − (nb−1)·blk`` long):

    * ``silu(qkv_proj(x))`` keeps the projection (``3i``); q, k, v are head-strided views of
      its output, which each 4-D ``torch.matmul`` copies to fold batch and heads (the copies
      are what it saves; one head would keep views instead);
    * per block of ``c`` and head: the q, kᵀ and v copies of the intra part (``c·d`` each),
      ``(q kᵀ) * diagonal_decay`` (``c²``), the state entering it (``d²``, zeros for the
      first); ``q * query_decay`` (``c·d``) except in the first block (its state is the
      constant zeros); ``(k * key_decay)ᵀ`` and v copies of the state update (``c·d`` each)
      except in the last block, whose final state no output reads; the ``block_decay``
      (``a``) of blocks 2 … nb − 1;
    * ``MiniMaxRMSNorm`` over ``i`` (fp32 input and ``rsqrt``, the 16-bit cast), its output
      and ``sigmoid(output_gate(x))`` (kept by their product), ``out_proj``'s input (``i``).
    """
    a, d = m.num_heads, m.head_dim
    i = a * d
    T = b * s
    nb = -(-s // blk)
    lengths = [blk] * (nb - 1) + [s - (nb - 1) * blk]
    per_head = (sum(c * c + 3 * c * d + d * d for c in lengths)
                + d * sum(lengths[1:]) + 2 * d * sum(lengths[:-1]))
    return {"mixer_qkv_proj_output": e * T * 3 * i,
            "mixer_blocks": e * b * a * per_head,
            "mixer_block_decays": e * a * max(0, nb - 2),
            "mixer_norm": F32 * T * (i + 1) + e * T * i,
            "mixer_gate": 2 * e * T * i,
            "mixer_out_proj_input": e * T * i}


def _mamba_eager_norm_rows(m: Mixer) -> tuple[int, int]:
    """(16-bit, fp32) elements per token the eager Mamba-1 keeps around ``x_proj``'s output
    (``R + 2N``: dt, B, C):

    * Jamba's weighted RMSNorms (``bc_norms``, ``JambaRMSNorm``): each keeps its fp32 input and
      ``rsqrt`` (one per row) and the 16-bit cast the weight multiplies; their outputs dt
      (``dt_proj.weight @ dt`` keeps it) and C (each step's ``state @ C``) — ``2R + 3N`` and
      ``R + 2N + 3``;
    * Falcon-Mamba's weightless ones (``weightless_bc_norms``,
      ``FalconMambaWeightlessRMSNorm``: ``x.float() * rsqrt(...)`` cast back, no weight): the
      same without the casts — ``R + N`` and ``R + 2N + 3``;
    * Mamba (no norms): dt and C are views of ``x_proj``'s output, which stays — ``R + 2N``, 0.
    """
    R, N = m.dt_rank, m.state_size
    if m.bc_norms:
        return 2 * R + 3 * N, R + 2 * N + 3
    if m.weightless_bc_norms:
        return R + N, R + 2 * N + 3
    return R + 2 * N, 0


def _gdn_fused(m: Mixer, h: int, b: int, s: int, e: int) -> dict[str, int]:
    """Gated DeltaNet on the fused kernels ``Qwen3NextGatedDeltaNet.forward``
    (modeling_qwen3_next.py) dispatches to when they are installed — Dao-AILab's
    ``causal_conv1d_fn`` and FLA's ``chunk_gated_delta_rule`` and gated RMSNorm — what each
    autograd Function keeps (``T = b·s`` tokens, no padding: the kernels mask the last chunk):

    * ``CausalConv1dFn.forward`` (causal-conv1d ``causal_conv1d/causal_conv1d_interface.py``):
      ``ctx.save_for_backward(x, weight, bias, seq_idx, initial_states)`` — ``x`` is
      ``cat(q, k, v)`` (channel-last: no copy), ``conv_dim`` per token; the ``silu`` output is
      recomputed in the backward;
    * ``ChunkGatedDeltaRuleFunction.forward`` (FLA ``fla/ops/gated_delta_rule/chunk.py``, with
      ``use_qk_l2norm_in_kernel=True``): ``ctx.save_for_backward(q, q_rstd, k, k_rstd, v, g,
      beta, A, initial_state, cu_seqlens)`` — the l2-normalised q and k (``Hk·Dk`` each, 16-bit;
      transformers passes them at the key heads), their fp32 ``rstd`` (``Hk`` each), v
      (``Hv·Dv``), ``g`` after ``chunk_local_cumsum`` (fp32: ``output_dtype=torch.float``),
      ``beta`` (16-bit, ``b.sigmoid()``'s output, which the sigmoid keeps too), ``A`` after
      ``solve_tril(output_dtype=k.dtype)`` (``[B, T, Hv, 64]``); ``initial_state`` None;
    * the decay in eager torch, ``-A_log.float().exp() * softplus(a.float() + dt_bias)``:
      softplus keeps its fp32 input, the product the fp32 softplus output (``Hv`` per token
      each) and ``-exp(A_log)``, ``exp`` its result (``Hv`` fp32 each, once per layer);
    * ``LayerNormGatedFunction.forward`` (FLA ``fla/modules/fused_norm_gate.py``):
      ``ctx.save_for_backward(residual_out, g, weight, bias, mean, rstd)`` — the core output
      and the gate ``z`` (``Hv·Dv`` each, 16-bit), ``rstd`` fp32 per row of ``Dv`` (``mean`` is
      None for RMSNorm);
    * ``out_proj``'s input (``Hv·Dv``).
    """
    hv, hk, dk, dv = m.num_heads, m.num_k_heads, m.head_k_dim, m.head_dim
    T = b * s
    return {
        "mixer_conv_input": e * T * conv_dim(m, h),
        "mixer_delta_qk": 2 * (e * T * hk * dk + F32 * T * hk),
        "mixer_delta_v": e * T * hv * dv,
        "mixer_delta_g_beta": F32 * T * hv + e * T * hv,
        "mixer_delta_A": e * T * hv * DELTA_CHUNK,
        "mixer_gates": 2 * F32 * T * hv,
        "mixer_gated_norm": 2 * e * T * hv * dv + F32 * T * hv,
        "mixer_out_proj_input": e * T * hv * dv,
        "mixer_params_views": 2 * F32 * hv,
    }


def _mamba2_fused(m: Mixer, h: int, b: int, s: int, e: int, c: int = MAMBA2_CHUNK
                  ) -> dict[str, int]:
    """Mamba-2 on mamba_ssm's fused path, which ``BambaMixer.forward`` (and Granite-4.0-H's,
    Nemotron-H's) takes in training: ``mamba_split_conv1d_scan_combined`` with the gated
    RMSNorm and ``out_proj`` inside (``T = b·s``; the chunk length ``c`` changes nothing kept):

    * ``MambaSplitConv1dScanCombinedFn.forward`` (state-spaces/mamba
      ``mamba_ssm/ops/triton/ssd_combined.py``): ``ctx.save_for_backward(zxbcdt,
      conv1d_weight, conv1d_bias, out_x, A, D, dt_bias, initial_states, seq_idx,
      rmsnorm_weight, rstd, outproj_weight, outproj_bias)`` — the ``in_proj`` output
      ``zxbcdt`` (``2I + 2GN + H`` per token), the scan output before the norm ``out_x``
      (``I``, the input dtype), ``rstd`` (fp32, one per group of ``I/G``: ``_layer_norm_fwd``
      with ``group_size = dim // ngroups``; None without the norm); the conv output, x/B/C and
      the norm's output are recomputed in the backward;
    * ``A = -exp(A_log.float())`` outside it: ``exp`` keeps its result and the Function ``A``
      (``H`` fp32 each, once per layer).
    """
    H, G, N, i = m.num_heads, m.num_k_heads, m.state_size, m.inner
    T = b * s
    return {
        "mixer_in_proj_output": e * T * (2 * i + 2 * G * N + H),
        "mixer_scan_output": e * T * i,
        "mixer_gated_norm": F32 * T * G if m.gated_norm else 0,
        "mixer_params_views": 2 * F32 * H,
    }


#: Sequence positions per chunk of mamba_ssm's selective-scan forward kernel: it keeps one
#: fp32 ``(A, B·x)`` pair per state element and chunk for the backward (state-spaces/mamba
#: ``csrc/selective_scan/selective_scan.cpp``, ``selective_scan_fwd``:
#: ``n_chunks = (seqlen + 2048 - 1) / 2048``; ``x = torch::empty({batch_size, dim, n_chunks,
#: dstate * 2}, ... weight_type)``).
SCAN_CHUNK = 2048


def _mamba_fused(m: Mixer, h: int, b: int, s: int, e: int) -> dict[str, int]:
    """Mamba-1 on the CUDA kernels transformers calls when they are installed
    (``T = b·s`` tokens, ``nch = ceil(s/2048)`` scan chunks, :data:`SCAN_CHUNK`).

    Mamba and Falcon-Mamba in training (``MambaMixer`` / ``FalconMambaMixer.forward``,
    ``self.training and cache is None``) call ``mamba_inner_fn``: state-spaces/mamba
    ``mamba_ssm/ops/selective_scan_interface.py``, ``MambaInnerFn.forward`` with the default
    ``checkpoint_lvl=1`` (``conv1d_out, delta = None, None``: recomputed in the backward):
    ``ctx.save_for_backward(xz, conv1d_weight, conv1d_bias, x_dbl, x_proj_weight,
    delta_proj_weight, out_proj_weight, conv1d_out, delta, A, B, C, D, delta_bias,
    scan_intermediates, b_rms_weight, c_rms_weight, dt_rms_weight, out)`` —

    * ``xz``: the ``in_proj`` output, which transformers passes transposed, so
      ``xz.contiguous()`` copies it (``2I`` per token); ``x_dbl``: ``x_proj``'s output
      (``R + 2N``); ``B`` and ``C``: contiguous ``(b, 1, N, L)`` copies (after Falcon-Mamba's
      RMSNorms: the same size); ``out``: the scan output before the gate (``I``, the input
      dtype: ``torch::empty_like(delta)``); ``scan_intermediates``: fp32
      ``(b, I, nch, 2N)``;
    * ``A = -torch.exp(self.A_log.float())`` before the call (``exp`` keeps its result, the
      Function ``A``: ``I·N`` fp32 each), ``self.D.float()`` and ``dt_proj.bias.float()``
      (fp32 copies of 16-bit weights, ``I`` each), once per layer.

    Jamba (``bc_norms``; ``JambaMambaMixer.forward`` has no fused shortcut) runs the pieces:
    ``causal_conv1d_fn`` (causal-conv1d ``CausalConv1dFn.forward``:
    ``ctx.save_for_backward(x, weight, bias, seq_idx, initial_states)``; ``x`` is a
    channel-last view of the ``in_proj`` output, ``2I``), ``x_proj`` keeps the conv output
    (``I``), the three eager ``JambaRMSNorm`` (fp32 inputs ``R + 2N``, fp32 ``rsqrt`` 3, the
    16-bit casts ``R + 2N``), ``dt_proj.weight @ dt`` keeps the normed dt (``R``), then
    ``selective_scan_fn`` (``SelectiveScanFn.forward`` with ``z``:
    ``ctx.save_for_backward(u, delta, A, B, C, D, z, delta_bias, x, out, cu_seqlens)``):
    ``u`` a contiguous copy of the conv output (``I``), ``delta`` (``I``), contiguous B and C
    (``N`` each), ``z`` a contiguous copy of the gate (``I``), ``x`` the fp32 scan
    intermediates, ``out`` (``I``); ``out_proj`` keeps the gated output it returns (``I``).
    """
    i, N, R = m.inner, m.state_size, m.dt_rank
    T = b * s
    nch = -(-s // SCAN_CHUNK)
    params = F32 * (2 * i * N + 2 * i)
    scan = F32 * b * i * nch * 2 * N
    if not m.bc_norms:
        return {"mixer_in_proj_output": e * T * 2 * i, "mixer_x_proj_output": e * T * (R + 2 * N),
                "mixer_scan_BC": e * T * 2 * N, "mixer_scan_output": e * T * i,
                "mixer_scan_intermediates": scan, "mixer_params_views": params}
    return {"mixer_in_proj_output": e * T * 2 * i,
            "mixer_conv_output": e * T * i,
            "mixer_bc_norms": F32 * T * (R + 2 * N + 3) + e * T * (R + 2 * N),
            "mixer_dt": e * T * R,
            "mixer_scan_inputs": e * T * (3 * i + 2 * N),  # u, delta, z copies; B, C
            "mixer_scan_output": e * T * i,
            "mixer_scan_intermediates": scan,
            "mixer_out_proj_input": e * T * i,
            "mixer_params_views": params}


def _short_conv_fused(m: Mixer, h: int, b: int, s: int, e: int) -> dict[str, int]:
    """LFM2's gated short conv, ``Lfm2ShortConv.forward`` (modeling_lfm2.py) with causal-conv1d
    installed: as :func:`_short_conv_eager` but the conv is ``CausalConv1dFn``
    (causal-conv1d ``causal_conv1d/causal_conv1d_interface.py``:
    ``ctx.save_for_backward(x, weight, bias, seq_idx, initial_states)``), which keeps its input
    ``B·x`` and returns ``s`` columns, no padding: the ``in_proj`` output (``3h``; ``B·x`` and
    ``C · conv`` keep views of it), ``B·x`` (``h``), the conv output (``h``, kept by
    ``C · conv``) and ``out_proj``'s input (``h``)."""
    T = b * s
    return {"mixer_in_proj_output": e * T * 3 * h, "mixer_conv_input": e * T * h,
            "mixer_conv_output": e * T * h, "mixer_out_proj_input": e * T * h}


_EAGER = {"gated_deltanet": _gdn_eager, "short_conv": _short_conv_eager,
          "mamba2": _mamba2_eager, "mamba": _mamba_eager, "lightning": _lightning_eager,
          "kimi_delta": _kda_eager}
#: the fused-kernel (``megatron``) sets transcribed so far; a mixer without one counts as an
#: attention layer under that framework (training._mixer_terms)
_FUSED = {"gated_deltanet": _gdn_fused, "mamba2": _mamba2_fused, "mamba": _mamba_fused,
          "short_conv": _short_conv_fused}
