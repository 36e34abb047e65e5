"""Zamba's shared transformer block: parameters once per block, FLOPs and KV cache per use.

Shapes from ``transformers/models/zamba2/modeling_zamba2.py`` (transformers 5.24, the
reference; Zamba2 report arXiv 2411.15242 Fig. 2), symbols of :class:`~estimator.spec.
SharedBlock`: ``h`` hidden size, ``a``/``g`` query/KV heads, ``d = 2h // a``
(``Zamba2Config.attention_head_dim``), ``f`` the MLP width, ``M`` shared blocks
(``num_mem_blocks``), ``U`` uses (``hybrid_layer_ids``), ``r_a``/``r_m`` adapter ranks.

Convention (the one transformers' model itself follows): a shared block's parameters are
counted **once** in totals, weights and active parameters — ``Zamba2Model.get_layers`` builds
one ``Zamba2AttentionDecoderLayer`` per hybrid layer and ties every block after the first ``M``
to block ``use mod M`` through ``_tied_weights_keys``, so ``model.parameters()`` holds ``M``
copies (only with ``tie_word_embeddings`` true: see :class:`~estimator.spec.SharedBlock`
``tied``); its FLOPs and KV cache are counted **per use** (each use runs the block on its own
input and caches its own K/V under its layer index).

Importing this module imports nothing but the spec.
"""

from __future__ import annotations

from .spec import ModelSpec


def attention_input(s: ModelSpec) -> int:
    """Width the shared attention reads: ``2h`` (``Zamba2Config.attention_hidden_size``: the
    hidden state concatenated with the input embeddings)."""
    return 2 * s.hidden_size


def block_attention_params(s: ModelSpec) -> int:
    """One shared block's attention (``Zamba2Attention``, no biases): ``q_proj`` 2h·a·d,
    ``k_proj``/``v_proj`` 2h·g·d each, ``o_proj`` a·d·h."""
    h, a, g, d = s.hidden_size, s.num_attention_heads, s.num_key_value_heads, s.head_dim
    return attention_input(s) * (a + 2 * g) * d + a * d * h


def block_mlp_params(s: ModelSpec) -> int:
    """One shared block's MLP (``Zamba2MLP``): ``gate_up_proj`` h → 2f and ``down_proj`` f → h,
    biases ``2f + h`` with ``add_bias_linear`` (the spec's ``ffn_bias``)."""
    h, f = s.hidden_size, s.intermediate_size
    return 3 * h * f + ((2 * f + h) if s.ffn_bias else 0)


def block_norm_params(s: ModelSpec) -> int:
    """One shared block's RMSNorms: ``input_layernorm`` (2h) and ``pre_ff_layernorm`` (h)."""
    return attention_input(s) + s.hidden_size


def attention_adapter_params(s: ModelSpec) -> int:
    """One use's q/k/v LoRA adapters (``linear_{q,k,v}_adapter_list``: 2h → r_a → 2h each,
    no bias); 0 without ``use_shared_attention_adapter``."""
    r, w = s.shared_block.attention_adapter_rank, attention_input(s)
    return 3 * 2 * w * r


def mlp_adapter_params(s: ModelSpec) -> int:
    """One use's MLP adapter (``gate_up_proj_adapter_list``: h → r_m → 2f, no bias)."""
    r = s.shared_block.mlp_adapter_rank
    return r * (s.hidden_size + 2 * s.intermediate_size)


def per_use_linear_params(s: ModelSpec) -> int:
    """One use's ``Zamba2HybridLayer.linear`` (h → h, no bias), not shared."""
    return s.hidden_size * s.hidden_size


def blocks(s: ModelSpec) -> int:
    """Shared blocks transformers builds: ``min(M, U)`` (``Zamba2Model.get_layers`` creates a
    new block for each use until it has ``num_mem_blocks``, then cycles through them); ``U``
    untied copies when ``tied`` is false (see :class:`~estimator.spec.SharedBlock`)."""
    b = s.shared_block
    return min(b.num_blocks, len(b.uses)) if b.tied else len(b.uses)


def adapter_sets(s: ModelSpec) -> int:
    """Adapter sets (one per entry of an ``*_adapter_list`` that is not ``nn.Identity``) in the
    model: a block with ``block_id`` ``k`` holds one for every use ``i`` with ``i mod M == k``,
    so tied blocks hold ``U`` in all; untied, use ``j``'s copy holds ``n_(j mod M)`` of them,
    ``Σ_k n_k²`` in all (``n_k`` = uses with ``i mod M == k``)."""
    b = s.shared_block
    U, M = len(b.uses), b.num_blocks
    if b.tied:
        return U
    return sum(len(range(k, U, M)) ** 2 for k in range(min(M, U)))


def params(s: ModelSpec) -> dict[str, int]:
    """The shared block's parameters by :class:`~estimator.params.ParamCounts` component:
    ``attention`` and ``dense_ffn`` (:func:`blocks`, once each), ``norms`` (the same),
    ``other`` (per use: the ``linear``; the LoRA adapters, :func:`adapter_sets`)."""
    b = s.shared_block
    M, U = blocks(s), len(b.uses)
    return dict(attention=M * block_attention_params(s), dense_ffn=M * block_mlp_params(s),
                norms=M * block_norm_params(s),
                other=U * per_use_linear_params(s) + adapter_sets(s) * (
                    attention_adapter_params(s) + mlp_adapter_params(s)))


def attention_matmul_params_per_use(s: ModelSpec) -> int:
    """Matrix parameters one use multiplies on the attention side: the block's q/k/v/o, its
    q/k/v adapters and its ``linear`` (FLOPs = 2 × this per token)."""
    return block_attention_params(s) + attention_adapter_params(s) + per_use_linear_params(s)


def mlp_matmul_params_per_use(s: ModelSpec) -> int:
    """Matrix parameters one use multiplies in the MLP: ``gate_up_proj``, ``down_proj`` and the
    MLP adapter (biases are additions, 0 FLOPs)."""
    return 3 * s.hidden_size * s.intermediate_size + mlp_adapter_params(s)
