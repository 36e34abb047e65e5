"""DeepSeek-V4's block: compressed attention, hyper-connections and hash-routed MoE layers.

Parameters, forward FLOPs and cache bytes of a spec with a
:class:`~estimator.spec.CompressedAttention` block, counted from transformers 5.24's
``models/deepseek_v4/modeling_deepseek_v4.py`` (the reference; DeepSeek-V4 report §2.2-2.3):

* every layer: ``DeepseekV4Attention`` (Q-LoRA queries, one shared K=V head, grouped low-rank
  output, per-head sinks) over a sliding window of raw keys;
* CSA layers (``compressed_sparse_attention``): ``DeepseekV4CSACompressor`` (two overlapping
  series of width ``2d`` pooled every ``csa_rate`` tokens) and its ``DeepseekV4Indexer``;
* HCA layers (``heavily_compressed_attention``): ``DeepseekV4HCACompressor`` (width ``d``,
  every ``hca_rate`` tokens);
* two ``DeepseekV4HyperConnection`` per layer and the ``DeepseekV4HyperHead``.

The rest of the model (embedding, MoE experts, router, shared expert, norms, lm_head) is the
spec's ordinary fields and is counted by :mod:`estimator.params` / :mod:`estimator.flops`.
Pure integer arithmetic; tests/test_hybrids.py checks every count against transformers
(meta-device parameters, cache tensors after a CPU forward, FlopCounterMode).
"""

from __future__ import annotations

from ._frozen import minimum
from .spec import ModelSpec

FLOPS_PER_MAC = 2  # as estimator.flops (imported there from here would be circular)


def layer_kind(s: ModelSpec, i: int) -> str:
    """``"csa"``, ``"hca"`` or ``"sliding"``: layer ``i``'s attention type (``layer_types``)."""
    c = s.compressed_attention
    return "csa" if i in c.csa_layers else "hca" if i in c.hca_layers else "sliding"


def attention_core_params(s: ModelSpec) -> int:
    """``DeepseekV4Attention`` without its compressor: ``q_a_proj`` ``h·r`` + ``q_a_norm`` ``r``
    + ``q_b_proj`` ``r·a·d`` + ``kv_proj`` ``h·d`` + ``kv_norm`` ``d`` + ``o_a_proj`` ``a·d·o``
    (``o_groups`` blocks of ``a·d/G → o``) + ``o_b_proj`` ``G·o·h`` + ``sinks`` ``a``
    (``r`` = q_lora_rank, ``o`` = o_lora_rank, ``G`` = o_groups; no biases)."""
    c, h, a, d = s.compressed_attention, s.hidden_size, s.num_attention_heads, s.head_dim
    r, o, G = c.q_lora_rank, c.o_lora_rank, c.o_groups
    return h * r + r + r * a * d + h * d + d + a * d * o + G * o * h + a


def compressor_params(s: ModelSpec, kind: str) -> int:
    """The compressor of a CSA or HCA layer (0 on a sliding-only layer).

    HCA (``DeepseekV4HCACompressor``): ``kv_proj`` and ``gate_proj`` ``h·d`` each,
    ``position_bias`` ``m'·d``, ``kv_norm`` ``d``. CSA (``DeepseekV4CSACompressor``): the same at
    width ``2d`` and rate ``m`` (``kv_norm`` stays ``d``), plus the indexer
    (``DeepseekV4Indexer``): ``kv_proj``/``gate_proj`` ``h·2c``, ``position_bias`` ``m·2c``,
    ``kv_norm`` ``c``, ``q_b_proj`` ``r·n_I·c``, ``weights_proj`` ``h·n_I``
    (``c`` = index_head_dim, ``n_I`` = index_n_heads)."""
    c, h, d = s.compressed_attention, s.hidden_size, s.head_dim
    if kind == "hca":
        return 2 * h * d + c.hca_rate * d + d
    if kind != "csa":
        return 0
    ci, ni = c.index_head_dim, c.index_n_heads
    indexer = 2 * h * 2 * ci + c.csa_rate * 2 * ci + ci + c.q_lora_rank * ni * ci + h * ni
    return 2 * h * 2 * d + c.csa_rate * 2 * d + d + indexer


def attention_params(s: ModelSpec) -> int:
    """Every layer's attention with its compressor (:func:`attention_core_params`,
    :func:`compressor_params`)."""
    c, L = s.compressed_attention, s.num_hidden_layers
    return (L * attention_core_params(s) + len(c.csa_layers) * compressor_params(s, "csa")
            + len(c.hca_layers) * compressor_params(s, "hca"))


def layer_attention_params(s: ModelSpec, i: int) -> tuple[int, int]:
    """``(matrices, vectors)`` of layer ``i``'s attention and compressor (what a quantized format
    quantizes, and its norms, sinks and position biases: the inference-memory split)."""
    c, h, a, d = s.compressed_attention, s.hidden_size, s.num_attention_heads, s.head_dim
    r, o, G = c.q_lora_rank, c.o_lora_rank, c.o_groups
    kind = layer_kind(s, i)
    mat = h * r + r * a * d + h * d + a * d * o + G * o * h
    if kind == "csa":
        ci, ni = c.index_head_dim, c.index_n_heads
        mat += 2 * h * 2 * d + 2 * h * 2 * ci + r * ni * ci + h * ni
    elif kind == "hca":
        mat += 2 * h * d
    total = attention_core_params(s) + compressor_params(s, kind)
    return mat, total - mat


def stage_parts(s: ModelSpec, lo: int, hi: int, last: bool) -> dict[str, int]:
    """Parameters of layers ``[lo, hi)`` that :mod:`estimator.memory` cannot read from its
    uniform per-layer account: attention matrices and vectors layer by layer
    (:func:`layer_attention_params`), hyper-connection matrices (``fn``) and vectors (``base``,
    ``scale``), the hyper head on the last stage, and the buffers (:func:`buffers`) of the
    stage's MoE layers. At ``[0, L)`` they add up to :func:`attention_params`,
    :func:`hyper_connection_params` and :func:`buffers`."""
    c, h, n = s.compressed_attention, s.hidden_size, s.compressed_attention.hc_mult
    w = (2 + n) * n
    mat = vec = 0
    for i in range(lo, hi):
        m, v = layer_attention_params(s, i)
        mat, vec = mat + m, vec + v
    hash_n = sum(1 for i in c.hash_moe_layers if lo <= i < hi)
    moe_n = sum(1 for i in s.moe_layers if lo <= i < hi)
    return {"attention_mat": mat, "attention_vec": vec,
            "hc_mat": (hi - lo) * 2 * w * n * h + (n * n * h if last else 0),
            "hc_vec": (hi - lo) * 2 * (w + 3) + (n + 1 if last else 0),
            "buffers": (moe_n - hash_n) * s.num_experts
            + hash_n * s.vocab_size * s.num_experts_per_tok}


def stage_kv_coefficients(s: ModelSpec, lo: int, hi: int, bytes_per_element: int,
                          kv_layout: str) -> tuple[int, tuple[tuple[int, int], ...]]:
    """``(window bytes per cached raw token, ((bytes per entry, rate), ...))`` of layers
    ``[lo, hi)``: :func:`kv_cache_bytes` of one sequence is ``window·min(s, w − 1) +
    Σ bytes·(s // rate)`` (the inference-memory stage model's form)."""
    c, d = s.compressed_attention, s.head_dim
    n_csa = sum(1 for i in c.csa_layers if lo <= i < hi)
    n_hca = sum(1 for i in c.hca_layers if lo <= i < hi)
    n_sliding = (hi - lo) - n_csa - n_hca
    window = (hi - lo + (n_sliding if kv_layout == "transformers" else 0)) * d
    entries = tuple((n * width * bytes_per_element, rate) for n, width, rate in (
        (n_csa, d + c.index_head_dim, c.csa_rate), (n_hca, d, c.hca_rate)) if n)
    return window * bytes_per_element, entries


def hyper_connection_params(s: ModelSpec) -> int:
    """Hyper-connections (mHC): per layer two ``DeepseekV4HyperConnection`` (``fn``
    ``(2+n)·n × n·h``, ``base`` ``(2+n)·n``, ``scale`` 3), plus the ``DeepseekV4HyperHead``
    (``hc_fn`` ``n × n·h``, ``hc_base`` ``n``, ``hc_scale`` 1); ``n`` = hc_mult."""
    n, h, L = s.compressed_attention.hc_mult, s.hidden_size, s.num_hidden_layers
    w = (2 + n) * n
    return L * 2 * (w * n * h + w + 3) + n * n * h + n + 1


def buffers(s: ModelSpec) -> int:
    """Checkpoint buffers: ``e_score_correction_bias`` (E) on every top-k MoE layer and the
    hash table ``tid2eid`` (V × k) on every hash-routed one (``DeepseekV4HashRouter``)."""
    n_hash = len(s.compressed_attention.hash_moe_layers)
    return ((s.num_moe_layers - n_hash) * s.num_experts
            + n_hash * s.vocab_size * s.num_experts_per_tok)


def matmul_params_per_token(s: ModelSpec) -> int:
    """Weights every token multiplies in the attention blocks and hyper-connections, as
    multiply-adds: :func:`attention_params` less its vectors (norms, sinks, position biases),
    plus the hyper-connections' ``fn`` (``(2+n)·n·n·h``, twice per layer), their stream mix
    ``comb``ᵀ·streams (``n·n·h``, twice per layer) and the hyper head's ``hc_fn``
    (``n·n·h``)."""
    c, h, a, d = s.compressed_attention, s.hidden_size, s.num_attention_heads, s.head_dim
    r, o, G, L = c.q_lora_rank, c.o_lora_rank, c.o_groups, s.num_hidden_layers
    core = h * r + r * a * d + h * d + a * d * o + G * o * h
    ci, ni = c.index_head_dim, c.index_n_heads
    csa = 2 * h * 2 * d + 2 * h * 2 * ci + r * ni * ci + h * ni
    hca = 2 * h * d
    n = c.hc_mult
    hc = L * 2 * ((2 + n) * n * n * h + n * n * h) + n * n * h
    return L * core + len(c.csa_layers) * csa + len(c.hca_layers) * hca + hc


def compressed_entries(seq_len: int, rate: int) -> int:
    """Compressed entries a CSA/HCA compressor has emitted after ``seq_len`` tokens: one per
    full window, ``seq_len // rate`` (``store_compression_weights`` keeps the remainder)."""
    return seq_len // rate


def core_flops(s: ModelSpec, batch: int, seq_len: int, attention: str) -> tuple[int, int, int]:
    """``(QKᵀ, A·V, indexer scores)`` FLOPs of every layer's attention core on ``batch``
    sequences of ``seq_len`` (no cache, one forward).

    ``full`` (eager, what FlopCounterMode measures): each query times every raw key and every
    compressed entry, ``s·(s + C)`` pairs per head (``C`` = ``s // rate`` entries; 0 on sliding
    layers), ``2·a·d`` each for ``QKᵀ`` and ``A·V``; CSA's indexer scores every query against
    every compressed indexer key: ``2·n_I·c·s·C``. ``causal``: the keys a query can use, in the
    continuous form of :func:`estimator.flops.attended_pairs_x2`: ``min(x, w)`` raw keys plus
    ``x/rate`` compressed ones (HCA) or ``min(x/rate, index_topk)`` (CSA, whose indexer scores
    the ``x/rate`` it may see)."""
    c, a, d = s.compressed_attention, s.num_attention_heads, s.head_dim
    S, W = seq_len, s.sliding_window
    L = s.num_hidden_layers
    ci, ni = c.index_head_dim, c.index_n_heads
    n_csa, n_hca = len(c.csa_layers), len(c.hca_layers)
    if attention == "full":
        pairs2 = (2 * L * S * S + 2 * n_csa * S * compressed_entries(S, c.csa_rate)
                  + 2 * n_hca * S * compressed_entries(S, c.hca_rate))
        idx2 = 2 * n_csa * S * compressed_entries(S, c.csa_rate)
    else:
        raw2 = S * S if W >= S else 2 * S * W - W * W
        hca2 = S * S // c.hca_rate
        m, K = c.csa_rate, c.index_topk
        csa2 = S * S // m if S <= m * K else 2 * S * K - m * K * K
        pairs2 = L * raw2 + n_hca * hca2 + n_csa * csa2
        idx2 = n_csa * (S * S // m)
    unit = batch * FLOPS_PER_MAC
    return (unit * pairs2 * a * d // 2, unit * pairs2 * a * d // 2, unit * idx2 * ni * ci // 2)


def decode_core_flops(s: ModelSpec, context_len: int) -> tuple[int, int]:
    """``(QKᵀ, indexer scores)`` FLOPs of one new token after ``context_len`` cached ones, over
    all layers (``A·V`` equals ``QKᵀ``: K = V, both ``d`` wide). Keys per layer: the window's
    ``min(context_len + 1, w)`` raw rows (the cache's ``w − 1`` plus the new one), plus on HCA
    layers all ``(context_len + 1) // rate`` compressed entries and on CSA layers the
    ``index_topk`` the indexer keeps, at most all of them (what a sparse kernel reads; eager
    attention multiplies every entry and masks the rest); CSA's indexer scores every entry,
    ``2·n_I·c`` each."""
    c, a, d = s.compressed_attention, s.num_attention_heads, s.head_dim
    n = context_len + 1
    raw = minimum(n, s.sliding_window)
    csa = n // c.csa_rate
    keys = (s.num_hidden_layers * raw + len(c.hca_layers) * (n // c.hca_rate)
            + len(c.csa_layers) * minimum(csa, c.index_topk))
    idx = len(c.csa_layers) * csa * FLOPS_PER_MAC * c.index_n_heads * c.index_head_dim
    return FLOPS_PER_MAC * a * d * keys, idx


def kv_cache_bytes(s: ModelSpec, batch: int, seq_len: int, bytes_per_element: int,
                   kv_layout: str = "engine") -> int:
    """Cached keys of ``batch`` sequences of ``seq_len`` tokens: per layer the sliding window's
    raw K=V rows (``min(s, w − 1)`` of ``d``: ``DeepseekV4HCACache.update`` keeps the last
    ``w − 1``; a sliding-only layer's ``DynamicSlidingWindowLayer`` stores K and V as two
    tensors in the ``transformers`` layout, once in ``engine``), plus the compressed entries
    (``s // rate`` of ``d``; CSA also ``s // rate`` indexer keys of ``index_head_dim``). The
    compressors' partial windows are :func:`compressor_state_bytes`."""
    c, d, L = s.compressed_attention, s.head_dim, s.num_hidden_layers
    raw = minimum(seq_len, s.sliding_window - 1)
    n_sliding = L - len(c.csa_layers) - len(c.hca_layers)
    rows = (L + (n_sliding if kv_layout == "transformers" else 0)) * raw * d
    rows += len(c.hca_layers) * compressed_entries(seq_len, c.hca_rate) * d
    rows += len(c.csa_layers) * compressed_entries(seq_len, c.csa_rate) * (d + c.index_head_dim)
    return batch * rows * bytes_per_element


def compressor_state_bytes(s: ModelSpec, batch: int, seq_len: int,
                           bytes_per_element: int) -> int:
    """The compressors' pending state (``DeepseekV4HCACache`` / ``DeepseekV4CSACache``): the
    ``s mod rate`` tokens of an unfinished window, projected K and gate (``2·d`` on HCA;
    ``2·2d`` plus the indexer's ``2·2c`` on CSA), and on CSA once a window closed the last
    window's overlap half (``rate`` rows of K and gate, ``d`` and ``c`` wide). Bounded by the
    rate, so independent of the context beyond it."""
    c, d, ci = s.compressed_attention, s.head_dim, s.compressed_attention.index_head_dim
    hca = (seq_len % c.hca_rate) * 2 * d
    csa = (seq_len % c.csa_rate) * 2 * (2 * d + 2 * ci)
    if seq_len >= c.csa_rate:
        csa += c.csa_rate * 2 * (d + ci)
    return batch * (len(c.hca_layers) * hca + len(c.csa_layers) * csa) * bytes_per_element
