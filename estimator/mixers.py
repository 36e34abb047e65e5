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
"""

from __future__ import annotations

from .spec import Mixer


def conv_dim(m: Mixer, h: int) -> int:
    """Channels of the mixer's depthwise causal conv.

    Gated DeltaNet: ``2·Hk·Dk + Hv·Dv`` (q, k, v; ``Qwen3NextGatedDeltaNet.conv_dim``);
    Mamba-1: the inner width ``I`` (``JambaMambaMixer.conv1d``); Mamba-2: ``I + 2·G·N``
    (x, B, C; ``BambaMixer.conv_dim``); short conv: ``h`` (``Lfm2ShortConv.conv``);
    lightning attention has none.
    """
    if m.kind == "gated_deltanet":
        return 2 * m.num_k_heads * m.head_k_dim + m.inner
    if m.kind == "mamba":
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
    ``output_gate`` h → a·d, ``out_proj`` a·d → h.
    """
    i = m.inner
    if m.kind == "gated_deltanet":
        key = m.num_k_heads * m.head_k_dim
        return h * (2 * key + 2 * i) + h * 2 * m.num_heads + i * h
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
    (``conv_bias``). Lightning: RMSNorm(a·d).
    """
    i, k = m.inner, m.conv_kernel
    p = mixer_matrix_params(m, h)
    if m.kind == "gated_deltanet":
        return p + conv_dim(m, h) * k + 2 * m.num_heads + m.head_dim
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

    Recurrent state: Gated DeltaNet ``Hv·Dk·Dv`` (one Dk×Dv matrix per value head,
    ``recurrent_states``); Mamba-1 ``I·N``; Mamba-2 ``H·P·N`` (heads × head_dim × d_state);
    lightning ``a·d·d`` (MiniMax's ``linear_cache``: one d×d key-value state per head);
    short conv none.
    """
    width = m.conv_kernel - 1 if layout == "engine" else m.conv_kernel
    conv = conv_dim(m, h) * width
    if m.kind == "gated_deltanet":
        rec = m.num_heads * m.head_k_dim * m.head_dim
    elif m.kind in ("mamba", "mamba2"):
        rec = m.inner * m.state_size
    elif m.kind == "lightning":
        rec = m.num_heads * m.head_dim * m.head_dim
    else:
        rec = 0
    return {"conv": conv, "recurrent": rec}


def recurrence_flops_per_token(m: Mixer, h: int) -> int:
    """FLOPs per token of the mixer's sequence recurrence (beyond its projections), in the
    recurrent (token-by-token) form that decode runs and that bounds the chunked forms:

    * Gated DeltaNet (arXiv 2412.06464 eq. 10): ``S ← αS(I − βkkᵀ) + βvkᵀ``, ``o = Sq`` per
      value head: ``k·S`` (Dk·Dv MACs), the rank-1 update (Dk·Dv), ``S·q`` (Dk·Dv) —
      ``3·Hv·Dk·Dv`` MACs, plus the conv ``conv_dim·K``.
    * Mamba-1/2 (arXiv 2312.00752 Alg. 2; 2405.21060 §3): state update ``h ← Ā·h + B̄x`` and
      read-out ``y = C·h`` over I·N state elements: ``2·I·N`` MACs, plus the conv.
    * Lightning attention (arXiv 2501.08313 §2.2, recurrent form ``kv ← λ·kv + kᵀv``,
      ``o = q·kv``): ``2·a·d·d`` MACs.
    * Short conv: the conv ``h·K`` MACs.

    ``FLOPS_PER_MAC = 2``. The chunked training kernels do more (intra-chunk attention of
    chunk ``C``: ~``C`` keys per query, FLA ``chunk_gated_delta_rule``); the recurrent form is
    the algorithm's count, named as such in reports.
    """
    conv = conv_dim(m, h) * m.conv_kernel
    if m.kind == "gated_deltanet":
        macs = 3 * m.num_heads * m.head_k_dim * m.head_dim + conv
    elif m.kind in ("mamba", "mamba2"):
        macs = 2 * m.inner * m.state_size + conv
    elif m.kind == "lightning":
        macs = 2 * m.num_heads * m.head_dim * m.head_dim
    else:
        macs = conv
    return 2 * macs


FORMULAS = [conv_dim, mixer_matrix_params, mixer_params, state_elements,
            recurrence_flops_per_token]
