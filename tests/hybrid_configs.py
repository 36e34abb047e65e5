"""Random tiny configs for the hybrid families (linear attention, Mamba, short conv), one
generator each, shared by tests/test_hybrids.py (parameters on the meta device, cache tensors
after a real CPU forward, FLOPs). Each draws the family's schedule (which layers are attention,
mixer, MoE, FFN-less), its mixer sizes and bias flags, small enough for a CPU forward; every
config is one transformers' own config class accepts and can run. Pure data, no torch.
"""

from __future__ import annotations

import random


def _flag(rng: random.Random) -> bool:
    return rng.random() < 0.5


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _attn(rng, explicit_head_dim: bool = True) -> dict:
    a = rng.choice([1, 2, 4])
    g = rng.choice(_divisors(a))
    d = {"num_attention_heads": a, "num_key_value_heads": g}
    if explicit_head_dim and _flag(rng):
        d["hidden_size"] = rng.choice([16, 24, 32])
        d["head_dim"] = rng.choice([x for x in (4, 6, 8) if x * a != d["hidden_size"]])
    else:
        d["hidden_size"] = a * rng.choice([4, 8, 12])
    return d


def _trunk(rng, L=(2, 6)) -> dict:
    return {"num_hidden_layers": rng.randint(*L), "vocab_size": rng.randint(37, 131),
            "max_position_embeddings": 64, "tie_word_embeddings": _flag(rng),
            "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0}


def _kinds(rng, L: int, a: str, b: str) -> list[str]:
    return [rng.choice([a, b]) for _ in range(L)]


def gen_qwen3_next(rng):
    t, at = _trunk(rng), _attn(rng)
    at.setdefault("head_dim", at["hidden_size"] // at["num_attention_heads"])
    L = t["num_hidden_layers"]
    hk = rng.choice([1, 2])
    d = {**t, **at, "linear_num_key_heads": hk, "linear_num_value_heads": hk * rng.choice([1, 2]),
         "linear_key_head_dim": rng.choice([4, 8]), "linear_value_head_dim": rng.choice([4, 6, 8]),
         "linear_conv_kernel_dim": rng.choice([2, 3, 4]), "attention_bias": _flag(rng),
         "num_experts": rng.randint(1, 6), "moe_intermediate_size": rng.randint(4, 24),
         "shared_expert_intermediate_size": rng.randint(4, 24),
         "intermediate_size": rng.randint(8, 40)}
    d["num_experts_per_tok"] = rng.randint(1, min(3, d["num_experts"]))
    if _flag(rng):
        d["layer_types"] = _kinds(rng, L, "linear_attention", "full_attention")
    else:
        d["full_attention_interval"] = rng.randint(1, 4)
    if _flag(rng):
        d["decoder_sparse_step"] = rng.randint(1, 2)
    if _flag(rng):
        d["mlp_only_layers"] = sorted(rng.sample(range(L), rng.randint(0, L)))
    return d


def _gen_qwen3_5(rng, moe: bool) -> dict:
    t, at = _trunk(rng), _attn(rng)
    at.setdefault("head_dim", at["hidden_size"] // at["num_attention_heads"])
    L = t["num_hidden_layers"]
    hk = rng.choice([1, 2])
    d = {**t, **at, "linear_num_key_heads": hk, "linear_num_value_heads": hk * rng.choice([1, 2]),
         "linear_key_head_dim": rng.choice([4, 8]), "linear_value_head_dim": rng.choice([4, 6, 8]),
         "linear_conv_kernel_dim": rng.choice([2, 3, 4]), "attention_bias": _flag(rng)}
    if moe:
        E = rng.randint(1, 6)
        d.update(num_experts=E, num_experts_per_tok=rng.randint(1, min(3, E)),
                 moe_intermediate_size=rng.randint(4, 24),
                 shared_expert_intermediate_size=rng.randint(4, 24))
    else:
        d["intermediate_size"] = rng.randint(8, 40)
    if _flag(rng):
        d["layer_types"] = _kinds(rng, L, "linear_attention", "full_attention")
    else:
        d["full_attention_interval"] = rng.randint(1, 4)
    return d


def gen_qwen3_5_text(rng):
    return _gen_qwen3_5(rng, moe=False)


def gen_qwen3_5_moe_text(rng):
    return _gen_qwen3_5(rng, moe=True)


def gen_jamba(rng):
    t, at = _trunk(rng), _attn(rng, explicit_head_dim=False)
    ap = rng.randint(1, 4)
    ep = rng.randint(1, 3)
    E = rng.randint(1, 6)
    return {**t, **at, "intermediate_size": rng.randint(8, 40), "num_experts": E,
            "num_experts_per_tok": rng.randint(1, min(2, E)),
            "attn_layer_period": ap, "attn_layer_offset": rng.randrange(ap),
            "expert_layer_period": ep, "expert_layer_offset": rng.randrange(ep),
            "mamba_d_state": rng.choice([2, 4, 8]), "mamba_d_conv": rng.choice([2, 3, 4]),
            "mamba_expand": rng.choice([1, 2]),
            "mamba_dt_rank": rng.choice(["auto", 3, 5]),
            "mamba_conv_bias": _flag(rng), "mamba_proj_bias": _flag(rng),
            "use_mamba_kernels": False}


def _mamba2_sizes(rng, h: int, expand_key: str | None = "mamba_expand") -> dict:
    expand = rng.choice([1, 2])
    inner = expand * h
    heads = rng.choice([x for x in _divisors(inner) if x <= 8])
    d = {"mamba_n_heads": heads, "mamba_d_head": rng.choice([inner // heads, "auto"]),
         "mamba_n_groups": rng.choice(_divisors(heads)), "mamba_d_state": rng.choice([2, 4, 8]),
         "mamba_d_conv": rng.choice([2, 3, 4]), "mamba_conv_bias": _flag(rng),
         "mamba_proj_bias": _flag(rng), "mamba_chunk_size": 4}
    if expand_key:
        d[expand_key] = expand
    return d


def gen_bamba(rng):
    t, at = _trunk(rng), _attn(rng, explicit_head_dim=False)
    L = t["num_hidden_layers"]
    return {**t, **at, **_mamba2_sizes(rng, at["hidden_size"]),
            "intermediate_size": rng.randint(8, 40), "attention_bias": _flag(rng),
            "mlp_bias": _flag(rng),
            "attn_layer_indices": sorted(rng.sample(range(L), rng.randint(0, L)))}


def gen_granitemoehybrid(rng):
    t, at = _trunk(rng), _attn(rng, explicit_head_dim=False)
    L = t["num_hidden_layers"]
    E = rng.choice([0, 1, 3, 6])
    d = {**t, **at, **_mamba2_sizes(rng, at["hidden_size"]),
         "intermediate_size": rng.randint(4, 24), "shared_intermediate_size": rng.randint(4, 24),
         "num_local_experts": E, "num_experts_per_tok": rng.randint(1, max(1, min(2, E))),
         "attention_bias": _flag(rng),
         "layer_types": _kinds(rng, L, "mamba", "attention") if _flag(rng)
         else _kinds(rng, L, "linear_attention", "full_attention")}
    return d


def gen_nemotron_h(rng):
    t, at = _trunk(rng), _attn(rng)
    at.setdefault("head_dim", at["hidden_size"] // at["num_attention_heads"])
    L = rng.randint(2, 7)
    t.pop("num_hidden_layers")
    kinds = [rng.choice("M*-E") for _ in range(L)]
    heads = rng.choice([2, 4, 8])
    d = {**t, **at, "mamba_num_heads": heads, "mamba_head_dim": rng.choice([2, 4, 8]),
         "n_groups": rng.choice(_divisors(heads)), "ssm_state_size": rng.choice([2, 4, 8]),
         "conv_kernel": rng.choice([2, 3, 4]), "use_conv_bias": _flag(rng),
         "use_bias": _flag(rng), "mlp_bias": _flag(rng), "chunk_size": 4,
         "intermediate_size": rng.randint(4, 40), "n_routed_experts": rng.randint(1, 6),
         "moe_intermediate_size": rng.randint(4, 24),
         "moe_shared_expert_intermediate_size": rng.randint(4, 24)}
    d["num_experts_per_tok"] = rng.randint(1, min(2, d["n_routed_experts"]))
    if _flag(rng):
        d["hybrid_override_pattern"] = "".join(kinds)
    else:
        names = {"M": "mamba", "*": "attention", "-": "mlp", "E": "moe"}
        d["layers_block_type"] = [names[k] for k in kinds]
    return d


def gen_falcon_h1(rng):
    t, at = _trunk(rng, (1, 4)), _attn(rng)
    h = at["hidden_size"]
    sizes = _mamba2_sizes(rng, h)
    heads = sizes["mamba_n_heads"]
    inner = sizes["mamba_expand"] * h
    if _flag(rng):  # an explicit mamba_d_ssm (then expand is unused)
        d_head = rng.choice([2, 4])
        sizes.update(mamba_d_head=d_head, mamba_d_ssm=heads * d_head)
    else:
        sizes.update(mamba_d_head=inner // heads, mamba_d_ssm=None)
    return {**t, **at, **sizes, "intermediate_size": rng.randint(8, 40),
            "attention_bias": _flag(rng), "mlp_bias": _flag(rng),
            "projectors_bias": _flag(rng), "mamba_rms_norm": _flag(rng)}


def gen_lfm2(rng):
    t, at = _trunk(rng), _attn(rng, explicit_head_dim=False)
    L = t["num_hidden_layers"]
    d = {**t, **at, "intermediate_size": rng.randint(8, 60), "conv_bias": _flag(rng),
         "conv_L_cache": rng.choice([2, 3, 4]), "block_auto_adjust_ff_dim": _flag(rng),
         "block_multiple_of": rng.choice([1, 4, 16]),
         "block_ffn_dim_multiplier": rng.choice([1.0, 1.5, 0.75])}
    if _flag(rng):
        d["layer_types"] = _kinds(rng, L, "conv", "full_attention")
    else:
        d["full_attn_idxs"] = sorted(rng.sample(range(L), rng.randint(0, L)))
    return d


def gen_lfm2_moe(rng):
    t, at = _trunk(rng), _attn(rng, explicit_head_dim=False)
    L = t["num_hidden_layers"]
    E = rng.randint(1, 6)
    return {**t, **at, "intermediate_size": rng.randint(8, 40),
            "moe_intermediate_size": rng.randint(4, 24), "num_experts": E,
            "num_experts_per_tok": rng.randint(1, min(2, E)),
            "num_dense_layers": rng.randint(0, L), "use_expert_bias": _flag(rng),
            "conv_bias": _flag(rng), "conv_L_cache": rng.choice([2, 3, 4]),
            "layer_types": _kinds(rng, L, "conv", "full_attention")}


def gen_minimax(rng):
    t, at = _trunk(rng), _attn(rng)
    L = t["num_hidden_layers"]
    E = rng.randint(1, 6)
    d = {**t, **at, "intermediate_size": rng.randint(8, 40), "num_local_experts": E,
         "num_experts_per_tok": rng.randint(1, min(2, E)), "block_size": 4}
    if _flag(rng):
        d["layer_types"] = _kinds(rng, L, "linear_attention", "full_attention")
    return d


def _mla(rng) -> dict:
    a = rng.choice([1, 2, 4])
    # published MLA configs set num_key_value_heads = heads (eager attention repeats K/V by
    # a // num_key_value_heads; our count ignores the field)
    return {"kv_lora_rank": rng.choice([4, 8, 12]), "qk_nope_head_dim": rng.choice([4, 8]),
            "qk_rope_head_dim": rng.choice([2, 4]), "v_head_dim": rng.choice([4, 6, 8]),
            "num_attention_heads": a, "num_key_value_heads": a,
            "hidden_size": rng.choice([16, 24, 32]), "attention_bias": _flag(rng)}


def _deepseek_moe(rng, L: int, E_key: str, k_key: str) -> dict:
    E = rng.randint(2, 6)  # the grouped router takes the top 2 of each group
    d = {E_key: E, k_key: rng.randint(1, min(3, E)), "moe_intermediate_size": rng.randint(4, 24),
         "intermediate_size": rng.randint(8, 40), "n_group": 1, "topk_group": 1}
    if _flag(rng):
        d["mlp_layer_types"] = _kinds(rng, L, "dense", "sparse")
    else:
        d["first_k_dense_replace"] = rng.randint(0, L)
    return d


def gen_deepseek_v32(rng):
    """DeepSeek-V3.2: MLA + the DSA indexer; ``index_topk`` below and above the test lengths."""
    t = _trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_mla(rng), **_deepseek_moe(rng, L, "n_routed_experts", "num_experts_per_tok"),
         "q_lora_rank": rng.choice([4, 8, 12]), "n_shared_experts": rng.randint(0, 2),
         "index_n_heads": rng.choice([1, 2, 4]), "index_topk": rng.choice([2, 3, 5, 64])}
    d["index_head_dim"] = d["qk_rope_head_dim"] + rng.choice([0, 2, 4])
    if _flag(rng):
        d["num_nextn_predict_layers"] = 1
    return d


def gen_glm_moe_dsa(rng):
    """GLM-5 (glm_moe_dsa): DeepSeek-V3.2's generator; every layer runs its own indexer, said
    by an explicit all-"full" ``indexer_types``, an all-``F`` ``index_topk_pattern`` or the
    default (``index_topk_freq`` 1)."""
    d = gen_deepseek_v32(rng)
    L = d["num_hidden_layers"]
    how = rng.choice(["types", "pattern", "default"])
    if how == "types":
        d["indexer_types"] = ["full"] * L
    elif how == "pattern":
        d["index_topk_pattern"] = "F" * L
    return d


def gen_axk2(rng):
    """A.X-K2: DeepSeek-V3.2's generator (always Q-LoRA, no MTP field) with a gated-norm rank,
    routing ungrouped (n_group null, A.X-K2-Light) or in one group, and the MoE layers from
    ``mlp_layer_types`` or the legacy ``first_k_dense_replace`` / ``moe_layer_freq``."""
    d = gen_deepseek_v32(rng)
    d.pop("num_nextn_predict_layers", None)
    d["gated_norm_rank"] = rng.randint(1, 9)
    if _flag(rng):
        d["n_group"] = d["topk_group"] = None
    if "first_k_dense_replace" in d:
        d["moe_layer_freq"] = rng.randint(1, 2)
    elif _flag(rng):
        del d["mlp_layer_types"]  # the default: the first layer dense
    return d


def gen_hy_v4(rng):
    """HY-V4: MLA + the DSA indexer on the ``indexer_types`` "full" layers (explicit, the first
    always full, or the default every-4th rule), output gate, sinks, ``hc_mult`` streams, the
    MoE layers from ``mlp_layer_types`` or the default (first layer dense)."""
    t = _trunk(rng)
    L = t["num_hidden_layers"]
    E = rng.randint(2, 6)
    d = {**t, **_mla(rng), "n_routed_experts": E, "num_experts_per_tok": rng.randint(1, min(3, E)),
         "moe_intermediate_size": rng.randint(4, 24), "intermediate_size": rng.randint(8, 40),
         "q_lora_rank": rng.choice([4, 8, 12]), "n_shared_experts": rng.randint(0, 2),
         "index_n_heads": rng.choice([1, 2, 4]), "index_topk": rng.choice([2, 3, 5, 64]),
         "hc_mult": rng.randint(1, 4)}
    d["index_head_dim"] = d["qk_rope_head_dim"] + rng.choice([0, 2, 4])
    if _flag(rng):
        d["mlp_layer_types"] = _kinds(rng, L, "dense", "sparse")
    if _flag(rng):
        d["indexer_types"] = ["full"] + _kinds(rng, L - 1, "full", "shared")
    return d


def gen_kimi_linear(rng):
    """Kimi-Linear: KDA + MLA (NoPE), the schedule from ``layer_types``, the checkpoint's
    1-based ``linear_attn_config`` lists, or the default (every 4th layer from the 5th MLA)."""
    t = _trunk(rng, (2, 7))
    L = t["num_hidden_layers"]
    d = {**t, **_mla(rng), **_deepseek_moe(rng, L, "num_experts", "num_experts_per_token"),
         "q_lora_rank": rng.choice([None, 8]), "num_shared_experts": rng.randint(0, 2)}
    H, D, K = rng.choice([1, 2, 4]), rng.choice([4, 6, 8]), rng.choice([2, 3, 4])
    lt = _kinds(rng, L, "linear_attention", "full_attention")
    how = rng.choice(["nested", "flat", "default"])
    if how == "nested":
        d["linear_attn_config"] = {
            "num_heads": H, "head_dim": D, "short_conv_kernel_size": K,
            "full_attn_layers": [i + 1 for i, x in enumerate(lt) if x == "full_attention"],
            "kda_layers": [i + 1 for i, x in enumerate(lt) if x == "linear_attention"]}
    else:
        d.update(linear_num_heads=H, linear_head_dim=D, linear_conv_kernel_dim=K)
        if how == "flat":
            d["layer_types"] = lt
    return d



def gen_bailing_hybrid(rng):
    """Ling 3.0 (bailing_hybrid): KDA with full-rank gates + gated MLA over DeepSeek-V3's MoE;
    the KDA sizes from the explicit ``linear_*`` keys or from ``num_attention_heads`` /
    ``head_dim`` / ``short_conv_kernel_size``; the schedule from ``layer_types`` or
    ``layer_group_size``."""
    t = _trunk(rng, (2, 7))
    L = t["num_hidden_layers"]
    d = {**t, **_mla(rng), **_deepseek_moe(rng, L, "num_experts", "num_experts_per_token"),
         "q_lora_rank": rng.choice([None, 8]), "num_shared_experts": rng.randint(0, 2),
         "kda_safe_gate": _flag(rng), "num_nextn_predict_layers": rng.randint(0, 1)}
    if _flag(rng):
        d.update(linear_num_heads=rng.choice([1, 2, 4]), linear_head_dim=rng.choice([4, 6, 8]),
                 linear_conv_kernel_dim=rng.choice([2, 3, 4]))
    else:
        d.update(head_dim=rng.choice([4, 6, 8]), short_conv_kernel_size=rng.choice([2, 3, 4]))
    if _flag(rng):
        d["layer_types"] = _kinds(rng, L, "linear_attention", "full_attention")
    else:
        d["layer_group_size"] = rng.randint(1, 4)
    return d


def gen_lfm3(rng):
    """LFM3: short conv, full and sliding attention (explicit or the default period-4
    schedule), a window below and above the test lengths, sandwich norms, the
    per-head attention gate and attention biases on or off."""
    t, at = _trunk(rng, (2, 7)), _attn(rng)
    at.setdefault("head_dim", at["hidden_size"] // at["num_attention_heads"])
    L = t["num_hidden_layers"]
    d = {**t, **at, "intermediate_size": rng.randint(8, 60), "conv_bias": _flag(rng),
         "conv_L_cache": rng.choice([2, 3, 4]), "use_sandwich_norm": _flag(rng),
         "use_attention_gate": _flag(rng), "attention_bias": _flag(rng),
         "sliding_window": rng.choice([3, 4, 16])}
    if _flag(rng):
        d["layer_types"] = [rng.choice(["conv", "sliding_attention", "full_attention"])
                            for _ in range(L)]
    return d


def gen_deepseek_v4(rng):
    """DeepSeek-V4: compressed attention (sliding, CSA, HCA layers from ``layer_types``, the
    legacy ``compress_ratios`` or the default schedule), small compress rates and windows
    below and above the test lengths so the caches hold full and partial windows, hash-routed
    MoE layers from ``mlp_layer_types`` or ``num_hash_layers``, hyper-connections."""
    t = _trunk(rng, (2, 6))
    t["tie_word_embeddings"] = False  # DeepseekV4ForCausalLM always has its own lm_head
    L = t["num_hidden_layers"]
    a = rng.choice([1, 2, 4])
    d = rng.choice([8, 16])
    E = rng.randint(1, 6)
    rope = rng.choice([2, 4])
    g = rng.choice([x for x in (1, 2, 4) if (a * d) % x == 0])
    cfg = {**t, "hidden_size": rng.choice([16, 24, 32]), "num_attention_heads": a,
           "head_dim": d, "qk_rope_head_dim": rope, "q_lora_rank": rng.choice([4, 8, 12]),
           "o_groups": g, "o_lora_rank": rng.choice([4, 6, 8]),
           "n_routed_experts": E, "num_experts_per_tok": rng.randint(1, min(3, E)),
           "moe_intermediate_size": rng.randint(4, 24), "hc_mult": rng.choice([1, 2, 3, 4]),
           "hc_sinkhorn_iters": rng.choice([1, 3]), "sliding_window": rng.choice([3, 4, 16]),
           "index_n_heads": rng.choice([1, 2, 4]), "index_head_dim": rope + rng.choice([0, 4]),
           "index_topk": rng.choice([1, 2, 64])}
    how = rng.choice(["types", "ratios", "default"])
    kinds = ["sliding_attention", "compressed_sparse_attention", "heavily_compressed_attention"]
    if how == "types":
        cfg["layer_types"] = [rng.choice(kinds) for _ in range(L)]
    elif how == "ratios":  # published configs list the MTP layer too
        cfg["compress_ratios"] = [rng.choice([0, 4, 128]) for _ in range(L + 1)]
    if how != "ratios" or _flag(rng):
        cfg["compress_rates"] = {"compressed_sparse_attention": rng.choice([2, 3, 4]),
                                 "heavily_compressed_attention": rng.choice([3, 5, 8])}
    if _flag(rng):
        cfg["mlp_layer_types"] = [rng.choice(["hash_moe", "moe"]) for _ in range(L)]
    else:
        cfg["num_hash_layers"] = rng.randint(0, L)
    return cfg


# pure state-space models: no attention heads, no FFN

def _ssm_trunk(rng) -> dict:
    t = _trunk(rng, (1, 4))
    t.pop("max_position_embeddings")  # the Mamba config classes have none
    return {**t, "hidden_size": rng.choice([8, 12, 16, 24])}


def _gen_mamba1(rng) -> dict:
    d = {**_ssm_trunk(rng), "state_size": rng.choice([2, 4, 8]),
         "conv_kernel": rng.choice([2, 3, 4]), "expand": rng.choice([1, 2, 3]),
         "time_step_rank": rng.choice(["auto", 1, 3, 5]), "use_bias": _flag(rng),
         "use_conv_bias": _flag(rng)}
    if _flag(rng):  # published configs carry it; transformers' config then ignores expand
        d["intermediate_size"] = rng.choice([8, 20, 36])
    return d


def gen_mamba(rng):
    return _gen_mamba1(rng)


def gen_falcon_mamba(rng):
    return _gen_mamba1(rng)


def gen_mamba2(rng):
    t = _ssm_trunk(rng)
    expand = rng.choice([1, 2])
    inner = expand * t["hidden_size"]
    heads = rng.choice([x for x in _divisors(inner) if x <= 8])
    return {**t, "expand": expand, "num_heads": heads, "head_dim": inner // heads,
            "n_groups": rng.choice(_divisors(heads)), "state_size": rng.choice([2, 4, 8]),
            "conv_kernel": rng.choice([2, 3, 4]), "use_bias": _flag(rng),
            "use_conv_bias": _flag(rng), "chunk_size": rng.choice([2, 4, 16])}


def gen_olmo_hybrid(rng):
    """OLMo-Hybrid: explicit or derived (``OlmoHybridConfig.__post_init__``) linear sizes and
    schedule; at least one layer of each kind when ``layer_types`` is given (its config
    refuses all-linear or all-attention schedules)."""
    t, at = _trunk(rng, (2, 6)), _attn(rng, explicit_head_dim=False)
    L = t["num_hidden_layers"]
    d = {**t, **at, "intermediate_size": rng.randint(8, 40), "attention_bias": _flag(rng),
         "linear_conv_kernel_dim": rng.choice([2, 3, 4])}
    if _flag(rng):
        hk = rng.choice([1, 2])
        d.update(linear_num_key_heads=hk, linear_num_value_heads=hk * rng.choice([1, 2]),
                 linear_key_head_dim=rng.choice([4, 8]),
                 linear_value_head_dim=rng.choice([4, 6, 8]))
    if _flag(rng):
        lt = _kinds(rng, L, "linear_attention", "full_attention")
        lt[0], lt[-1] = "linear_attention", "full_attention"
        d["layer_types"] = lt
    return d


def gen_lara_mini(rng):
    """Lara-Mini: GDN, sliding and full attention (explicit or the default period-5
    schedule), a window below and above the test lengths, MoE + ungated shared expert."""
    t, at = _trunk(rng, (2, 7)), _attn(rng)
    at.setdefault("head_dim", at["hidden_size"] // at["num_attention_heads"])
    L = t["num_hidden_layers"]
    hk = rng.choice([1, 2])
    E = rng.randint(1, 6)
    d = {**t, **at, "linear_num_key_heads": hk, "linear_num_value_heads": hk * rng.choice([1, 2]),
         "linear_key_head_dim": rng.choice([4, 8]), "linear_value_head_dim": rng.choice([4, 6, 8]),
         "linear_conv_kernel_dim": rng.choice([2, 3, 4]), "attention_bias": _flag(rng),
         "num_experts": E, "num_experts_per_tok": rng.randint(1, min(3, E)),
         "moe_intermediate_size": rng.randint(4, 24),
         "shared_expert_intermediate_size": rng.randint(4, 24),
         "sliding_window": rng.choice([3, 4, 16])}
    if _flag(rng):
        d["layer_types"] = [rng.choice(["linear_attention", "sliding_attention",
                                        "full_attention"]) for _ in range(L)]
    return d


def gen_recurrent_gemma(rng):
    """RecurrentGemma: ``block_types`` (1-3 entries, repeated over the layers) of recurrent and
    local-attention blocks; ``lru_width`` a multiple of the heads (or null: h); an odd
    ``intermediate_size`` now and then (the MLP is ``intermediate_size // 2`` wide); a window
    shorter and longer than the test lengths; h not always a multiple of the heads."""
    t = _trunk(rng)
    a = rng.choice([1, 2, 4])
    d = {**t, "num_attention_heads": a,
         "num_key_value_heads": rng.choice(_divisors(a)),
         "hidden_size": a * rng.choice([4, 8, 12]) + (rng.choice([0, 0, 2]) if a > 2 else 0),
         "intermediate_size": rng.randint(4, 41), "conv1d_width": rng.randint(2, 4),
         "attention_window_size": rng.choice([3, 4, 6, 16]), "attention_bias": _flag(rng),
         "block_types": [rng.choice(["recurrent", "attention"])
                         for _ in range(rng.randint(1, 3))]}
    d.pop("max_position_embeddings")
    if _flag(rng) or d["hidden_size"] % a:  # lru_width null means h
        d["lru_width"] = a * rng.choice([2, 4, 6])
    return d


def gen_rwkv(rng):
    """RWKV-4: ``attention_hidden_size`` and ``intermediate_size`` given or null (h, 4h);
    ``attention_hidden_size`` = h where a forward keeps state (``RwkvModel.forward`` sizes the
    WKV state by ``hidden_size``)."""
    t = _ssm_trunk(rng)
    # RwkvPreTrainedModel._init_weights divides by num_hidden_layers - 1: at least 2 layers
    d = {**t, "hidden_size": rng.choice([8, 12, 16, 24]), "num_hidden_layers": rng.randint(2, 4)}
    if _flag(rng):
        d["attention_hidden_size"] = rng.choice([d["hidden_size"], 8, 20])
    if _flag(rng):
        d["intermediate_size"] = rng.randint(4, 48)
    return d


def gen_xlstm(rng):
    """xLSTM: heads, q/k and value width factors whose widths are multiples of 64 (transformers
    sizes its cache by the widths rounded up to 64 and the layers by the unrounded ones: only
    equal ones run), the FFN factor and rounding, ``weight_mode`` single or fused, a small
    ``chunk_size`` so the chunkwise kernel and its remainder both run; ``tie_word_embeddings``
    drawn (xLSTM never ties); ``num_blocks`` given now and then."""
    t = _ssm_trunk(rng)
    h = rng.choice([64, 128])
    d = {**t, "hidden_size": h, "num_heads": rng.choice([1, 2, 4]),
         "qk_dim_factor": 64 * rng.choice([1, 2]) / h, "v_dim_factor": rng.choice([1.0, 1.5, 2.0]),
         "ffn_proj_factor": rng.choice([1.0, 1.3, 2.667]),
         "ffn_round_up_to_multiple_of": rng.choice([16, 64]),
         "weight_mode": rng.choice(["single", "fused"]), "chunk_size": rng.choice([2, 4])}
    if d["v_dim_factor"] * h % 64:
        d["v_dim_factor"] = 1.0
    if _flag(rng):
        d["num_blocks"] = d["num_hidden_layers"]
    return d


GENERATORS = {name[4:]: fn for name, fn in globals().items() if name.startswith("gen_")}


def random_configs(model_type: str, n: int, salt: str = "") -> list[dict]:
    rng = random.Random(f"hybrid-{model_type}-{salt}")
    return [{"model_type": model_type, **GENERATORS[model_type](rng)} for _ in range(n)]
