"""Shrunk copies of real architectures: same structure, sizes a laptop CPU can run in seconds.

What is kept: the family, the expert count ``E``, top-k ``k``, shared experts and their gate,
biases, norms, tied embeddings, q/k norms, attention sinks, MLA's rank ratios, and every *kind*
of layer the model has (dense / MoE × full / sliding-window attention). What shrinks: widths
(hidden size, FFN and expert widths, vocabulary, all scaled by the same factor), the number of
heads (the GQA group size capped at 4), the head width (16), the number of layers (one per layer
kind, at least two) and the sliding window (:data:`WINDOW`, so a short workload crosses it).

:func:`shrink_hf_config` rewrites a Hugging Face ``config.json`` (so transformers' own classes
and :func:`estimator.hf.spec_from_hf_config` read the same shrunk model); :func:`shrink_spec`
does the same to a :class:`ModelSpec` that has no config.json (the app's editor).
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import EstimatorError
from ..hf import spec_from_hf_config
from ..spec import MLA, ModelSpec

HEAD_DIM = 16  # head width of shrunk models
MAX_GROUP = 4  # query heads per K/V head, at most
MLA_DIVISOR = 8  # every MLA width (ranks, nope/rope/v head dims) is divided by this
MLA_HEADS = 4
MLA_HIDDEN = 128
WINDOW = 16  # sliding window / attention chunk of shrunk models


@dataclass(frozen=True)
class Size:
    """How far :func:`plan` shrinks: head width, MLA divisor/heads/hidden, sliding window."""

    head_dim: int
    mla_divisor: int
    mla_heads: int
    mla_hidden: int
    window: int


#: ``small``: laptop-CPU size (the default; seconds for every preset). ``medium``: GPU size —
#: head width 128, so a shrunk Llama-3-8B has h = 1024 and a 32k vocabulary (~10^8 parameters),
#: large enough that allocator granularity and library workspaces are a small share of a peak.
SIZES = {"small": Size(HEAD_DIM, MLA_DIVISOR, MLA_HEADS, MLA_HIDDEN, WINDOW),
         "medium": Size(128, 2, 8, 1024, 128)}
MIN_VOCAB = 256
VOCAB_MULTIPLE = 64
WIDTH_MULTIPLE = 8

#: Families :func:`shrink_hf_config` knows how to rewrite.
HF_FAMILIES = ("llama", "mistral", "qwen2", "qwen3", "mixtral", "phimoe", "olmoe", "granitemoe",
               "qwen2_moe", "qwen3_moe", "deepseek_v2", "deepseek_v3", "glm4_moe", "gpt_oss",
               "llama4", "llama4_text", "dbrx")


def _round(x: float, multiple: int, minimum: int) -> int:
    return max(minimum, int(round(x / multiple)) * multiple)


def heads(a: int, g: int) -> tuple[int, int]:
    """Shrunk (query heads, K/V heads): MHA → 4/4; GQA/MQA keep grouping, group size ≤ 4."""
    r = a // g
    if r == 1:
        return 4, 4
    g2 = 2 if g >= 2 else 1
    return g2 * min(r, MAX_GROUP), g2


def plan(spec: ModelSpec, size: str = "small") -> dict[str, Any]:
    """The shrunk sizes for ``spec`` (shared by both rewriters so they cannot disagree)."""
    z = _size(size)
    if spec.mla is not None:
        a2, g2, h2 = z.mla_heads, z.mla_heads, z.mla_hidden
    else:
        a2, g2 = heads(spec.num_attention_heads, spec.num_key_value_heads)
        h2 = a2 * z.head_dim
    scale = h2 / spec.hidden_size

    def w(x: int) -> int:
        return _round(x * scale, WIDTH_MULTIPLE, WIDTH_MULTIPLE) if x else 0

    p = dict(hidden=h2, heads=a2, kv_heads=g2, head_dim=z.head_dim,
             vocab=_round(spec.vocab_size * scale, VOCAB_MULTIPLE, MIN_VOCAB),
             ffn=w(spec.intermediate_size), expert=w(spec.moe_intermediate_size),
             shared=w(spec.shared_expert_intermediate_size),
             window=min(spec.sliding_window, z.window) if spec.sliding_window else None)
    if spec.mla is not None:
        m, q = spec.mla, z.mla_divisor
        p["mla"] = MLA(
            q_lora_rank=None if m.q_lora_rank is None else max(1, m.q_lora_rank // q),
            kv_lora_rank=max(1, m.kv_lora_rank // q),
            qk_nope_head_dim=m.qk_nope_head_dim // q,
            qk_rope_head_dim=max(2, m.qk_rope_head_dim // q) if m.qk_rope_head_dim else 0,
            v_head_dim=max(1, m.v_head_dim // q))
    return p


def _size(size: str) -> Size:
    if size not in SIZES:
        raise EstimatorError("size", size, "must be one of " + ", ".join(SIZES))
    return SIZES[size]


def layer_picks(spec: ModelSpec) -> list[int]:
    """Original layer indices kept: the first layer of each kind (dense/MoE × full/sliding)."""
    seen: dict[tuple[bool, bool], int] = {}
    sw = set(spec.sliding_window_layers)
    for i in range(spec.num_hidden_layers):
        seen.setdefault((spec.is_moe_layer(i), i in sw), i)
    picks = sorted(seen.values())
    if len(picks) == 1:
        picks = [picks[0], picks[0]]
    return picks


def shrink_spec(spec: ModelSpec, size: str = "small") -> ModelSpec:
    """A small :class:`ModelSpec` with the structure of ``spec`` (see module docstring)."""
    if spec.moa is not None:
        raise EstimatorError("moa", spec.moa, "shrinking mixture-of-attention specs is not "
                             "supported")
    if spec.is_hybrid:  # the reference decoder (validation/reference.py) has no such mixers
        raise EstimatorError("mixer_layers", spec.num_mixer_layers, "shrinking hybrid specs "
                             "(linear attention, Mamba, short conv) is not supported yet")
    if spec.mla is not None and spec.mla.index_n_heads:  # no indexer in the reference decoder
        raise EstimatorError("index_n_heads", spec.mla.index_n_heads, "shrinking DeepSeek "
                             "Sparse Attention specs is not supported yet")
    p = plan(spec, size)
    picks = layer_picks(spec)
    sw = set(spec.sliding_window_layers)
    moe = tuple(j for j, i in enumerate(picks) if spec.is_moe_layer(i))
    sliding = tuple(j for j, i in enumerate(picks) if i in sw)
    kw: dict[str, Any] = dict(
        name=f"{spec.name}-shrunk", num_hidden_layers=len(picks), hidden_size=p["hidden"],
        vocab_size=p["vocab"], num_attention_heads=p["heads"], num_key_value_heads=p["kv_heads"],
        head_dim=p["head_dim"], intermediate_size=p["ffn"] if len(moe) < len(picks) else 0,
        moe_intermediate_size=p["expert"] if moe else 0, moe_layers=moe,
        shared_expert_intermediate_size=p["shared"], sliding_window=p["window"] if sliding
        else None, sliding_window_layers=sliding, num_mtp_layers=0, vision_params=0,
        max_position_embeddings=None)
    if not moe:
        kw.update(num_experts=0, num_experts_per_tok=0)
    if spec.mla is not None:
        kw.update(mla=p["mla"], head_dim=p["mla"].v_head_dim)
    return spec.replace(**kw)


# ----------------------------------------------------------------------------------------------
# Hugging Face config.json
# ----------------------------------------------------------------------------------------------

# Quantization is not run on shrunk models; RoPE scaling tables (longrope) are sized for the
# original head width and RoPE is element-wise (0 FLOPs, no parameters), so both are dropped.
_DROP = ("quantization_config", "auto_map", "architectures", "transformers_version",
         "torch_dtype", "dtype", "rope_scaling", "rope_parameters")
_TOKEN_IDS = {"bos_token_id": 0, "eos_token_id": 1, "pad_token_id": None}


def shrink_hf_config(cfg: Mapping[str, Any], size: str = "small") -> dict[str, Any]:
    """A shrunk copy of a transformers ``config.json`` dict (see module docstring).

    Quantization settings are dropped (shrunk models run unquantized) and token ids are moved
    inside the shrunk vocabulary. ``llama4`` wrappers keep only their ``text_config``.
    """
    mt = cfg.get("model_type")
    if mt not in HF_FAMILIES:
        raise EstimatorError("model_type", mt, "no shrink rule for this family; supported: "
                             + ", ".join(HF_FAMILIES))
    if mt == "llama4":
        return {"model_type": "llama4", "text_config": shrink_hf_config(
            {**cfg["text_config"], "model_type": "llama4_text"}, size)}
    spec = spec_from_hf_config(cfg)
    p = plan(spec, size)
    c = {k: copy.deepcopy(v) for k, v in cfg.items() if k not in _DROP}
    c.update({k: v for k, v in _TOKEN_IDS.items() if k in c or v is not None})
    if mt == "dbrx":
        return _shrink_dbrx(c, p)
    c.update(hidden_size=p["hidden"], num_attention_heads=p["heads"],
             num_key_value_heads=p["kv_heads"], vocab_size=p["vocab"])
    if "head_dim" in c or mt in ("qwen3", "qwen3_moe", "gpt_oss", "llama4_text", "glm4_moe"):
        c["head_dim"] = p["head_dim"]
    for key in ("intermediate_size", "moe_intermediate_size", "shared_expert_intermediate_size",
                "intermediate_size_mlp"):
        if cfg.get(key):
            c[key] = _round(cfg[key] * p["hidden"] / spec.hidden_size, WIDTH_MULTIPLE,
                            WIDTH_MULTIPLE)
    if p["window"] is not None:
        c["sliding_window"] = p["window"]
    L = 2
    if mt in ("deepseek_v2", "deepseek_v3", "glm4_moe"):
        m = p.get("mla")
        if m is not None:
            c.update(q_lora_rank=m.q_lora_rank, kv_lora_rank=m.kv_lora_rank,
                     qk_nope_head_dim=m.qk_nope_head_dim, qk_rope_head_dim=m.qk_rope_head_dim,
                     v_head_dim=m.v_head_dim)
            c.pop("head_dim", None)
        first = 1 if spec.num_dense_layers else 0
        c["first_k_dense_replace"] = first
        c["moe_layer_freq"] = 1
        c["num_nextn_predict_layers"] = 0
        L = first + 1 if first else 2
    elif mt in ("qwen2_moe", "qwen3_moe"):
        if spec.num_dense_layers:  # keep one dense (mlp_only) layer
            c["mlp_only_layers"], c["decoder_sparse_step"] = [0], 1
        if c.get("use_sliding_window"):
            c["max_window_layers"] = 1
    elif mt in ("qwen2", "qwen3"):
        if c.get("use_sliding_window"):
            c["max_window_layers"] = 1
    elif mt == "gpt_oss":
        c["layer_types"] = ["sliding_attention", "full_attention"]
    elif mt == "llama4_text":
        L = 4  # moe every `interleave_moe_layer_step`, NoPE (full) layer every 4th
        for key in ("moe_layers", "no_rope_layers", "layer_types"):
            c.pop(key, None)
        c["attention_chunk_size"] = p["window"] or _size(size).window
        c["no_rope_layer_interval"] = 4
    if "layer_types" in c and mt != "gpt_oss":
        c.pop("layer_types")
    c["num_hidden_layers"] = L
    return c


def _shrink_dbrx(c: dict[str, Any], p: dict[str, Any]) -> dict[str, Any]:
    attn = dict(c.get("attn_config") or {})
    ffn = dict(c.get("ffn_config") or {})
    scale = p["hidden"] / c["d_model"]
    attn["kv_n_heads"] = p["kv_heads"]
    ffn["ffn_hidden_size"] = _round(ffn["ffn_hidden_size"] * scale, WIDTH_MULTIPLE,
                                    WIDTH_MULTIPLE)
    c.update(d_model=p["hidden"], n_heads=p["heads"], vocab_size=p["vocab"], n_layers=2,
             attn_config=attn, ffn_config=ffn)
    return c
