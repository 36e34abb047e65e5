"""Random tiny configs for the families of ``estimator.hf.TABLE`` (and the other families added
with it), one generator each, shared by the exactness tests: parameters and breakdown against
transformers on the meta device (tests/test_params_hf.py), forward FLOPs against FlopCounterMode
on the eager implementation (tests/test_flops.py), and KV-cache bytes against transformers' cache
tensors (tests/test_memory_inference.py).

Each generator draws the family's quirks (head_dim != hidden/heads, MQA/GQA/MHA, tied or untied
embeddings, bias flags, dense/MoE layer patterns, shared experts, sliding-window layer patterns)
with sizes small enough for a real CPU forward. Head dims are even (RoPE). Pure data, no torch.
"""

from __future__ import annotations

import random


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _flag(rng: random.Random) -> bool:
    return rng.random() < 0.5


def attn(rng: random.Random, explicit_head_dim: bool = True) -> dict:
    """Heads (MHA/GQA/MQA) and a hidden size; an explicit, different head_dim half the time."""
    a = rng.choice([1, 2, 4, 8])
    g = rng.choice(_divisors(a))
    d = {"num_attention_heads": a, "num_key_value_heads": g}
    if explicit_head_dim and _flag(rng):
        d["hidden_size"] = rng.choice([16, 24, 40, 48])
        d["head_dim"] = rng.choice([x for x in (4, 6, 8, 12) if x * a != d["hidden_size"]])
    else:
        d["hidden_size"] = a * rng.choice([4, 6, 8, 12])
    return d


def trunk(rng: random.Random, L: tuple[int, int] = (1, 5), tie: bool = True) -> dict:
    d = {"num_hidden_layers": rng.randint(*L), "vocab_size": rng.randint(37, 211),
         "max_position_embeddings": 64}
    if tie:
        d["tie_word_embeddings"] = _flag(rng)
    return d


def experts(rng: random.Random, e_key: str, k_key: str = "num_experts_per_tok") -> dict:
    E = rng.randint(1, 8)
    return {e_key: E, k_key: rng.randint(1, min(E, 3))}


def sliding(rng: random.Random, L: int, window: tuple[int, ...] = (3, 5, 6, 40)) -> dict:
    """A small window (straddled by the tests' lengths) and, a third of the time, layer_types."""
    d = {"sliding_window": rng.choice(window)}
    if rng.random() < 0.35:
        d["layer_types"] = [rng.choice(["sliding_attention", "full_attention"]) for _ in range(L)]
    return d


def gen_ernie4_5_moe(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **attn(rng), **experts(rng, "moe_num_experts", "moe_k"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "use_bias": _flag(rng), "moe_num_shared_experts": rng.randint(0, 2),
         "moe_layer_interval": rng.randint(1, 2), "moe_layer_start_index": rng.randint(0, L - 1)}
    if _flag(rng):
        d["moe_layer_end_index"] = rng.randint(0, L - 1)
    return d


def gen_hunyuan_v1_moe(rng):
    a = attn(rng)
    a.setdefault("head_dim", a["hidden_size"] // a["num_attention_heads"])
    return {**trunk(rng), **a, **experts(rng, "num_experts", "moe_topk"),
            "intermediate_size": rng.randint(5, 60), "attention_bias": _flag(rng)}


def gen_aria_text(rng):
    n_shared = rng.randint(0, 2)
    return {**trunk(rng), **attn(rng), **experts(rng, "moe_num_experts", "moe_topk"),
            "intermediate_size": rng.randint(5, 60), "attention_bias": _flag(rng),
            "moe_num_shared_experts": n_shared, "mlp_bias": n_shared > 0 and _flag(rng)}


def gen_minimax_m2(rng):
    a = attn(rng)
    a.setdefault("head_dim", a["hidden_size"] // a["num_attention_heads"])
    return {**trunk(rng), **a, **experts(rng, "num_local_experts"),
            "intermediate_size": rng.randint(5, 60)}


def gen_dots1(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **attn(rng), **experts(rng, "n_routed_experts"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "n_shared_experts": rng.randint(0, 2), "first_k_dense_replace": rng.randint(0, L),
         "attention_bias": _flag(rng), "max_window_layers": rng.randint(0, L)}
    if rng.random() < 0.7:
        d.update(sliding(rng, L))
    else:
        d["sliding_window"] = None
    return d


def gen_glm4_moe_lite(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    a = rng.choice([1, 2, 4])
    d = {**t, "num_attention_heads": a, "num_key_value_heads": a,
         "hidden_size": a * rng.choice([4, 8, 12]), **experts(rng, "n_routed_experts"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "n_shared_experts": rng.randint(0, 2), "n_group": 1, "topk_group": 1,
         "q_lora_rank": rng.choice([None, rng.randint(3, 20)]), "kv_lora_rank": rng.randint(3, 20),
         "qk_nope_head_dim": rng.choice([2, 4, 8]), "qk_rope_head_dim": rng.choice([2, 4, 8]),
         "v_head_dim": rng.randint(1, 12), "attention_bias": _flag(rng)}
    if _flag(rng):
        d["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(L)]
    return d


def gen_granitemoeshared(rng):
    return {**trunk(rng), **attn(rng), **experts(rng, "num_local_experts"),
            "intermediate_size": rng.randint(5, 60), "attention_bias": _flag(rng),
            "shared_intermediate_size": rng.choice([0, rng.randint(3, 40)])}


def gen_flex_olmo(rng):
    return {**trunk(rng), **attn(rng), **experts(rng, "num_experts"),
            "intermediate_size": rng.randint(5, 60), "attention_bias": _flag(rng),
            "pad_token_id": 0}


def gen_exaone_moe(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **attn(rng), **experts(rng, "num_experts"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "num_shared_experts": rng.randint(0, 2), "first_k_dense_replace": rng.randint(0, L),
         "sliding_window_pattern": rng.randint(1, 3), **sliding(rng, L)}
    if _flag(rng):
        d["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(L)]
    return d


def _dense(rng, explicit_head_dim=True, L=(1, 5)) -> dict:
    return {**trunk(rng, L), **attn(rng, explicit_head_dim),
            "intermediate_size": rng.randint(5, 60)}


def _with_sliding(rng, d: dict, **extra) -> dict:
    if rng.random() < 0.8:
        d.update(sliding(rng, d["num_hidden_layers"]), **extra)
    return d


def _dense_explicit_head_dim(rng):
    """:func:`_dense` with ``head_dim`` written out (families whose config requires it, or
    whose transformers class reads it rather than ``hidden_size / heads``)."""
    d = _dense(rng)
    d.setdefault("head_dim", d["hidden_size"] // d["num_attention_heads"])
    return d


def gen_ministral(rng):
    d = _dense_explicit_head_dim(rng)
    return _with_sliding(rng, d)


def gen_granite(rng):
    return {**_dense(rng, explicit_head_dim=False), "attention_bias": _flag(rng),
            "mlp_bias": _flag(rng)}


def gen_seed_oss(rng):
    d = _dense_explicit_head_dim(rng)
    return {**d, "attention_bias": _flag(rng), "attention_out_bias": _flag(rng),
            "mlp_bias": _flag(rng), "pad_token_id": 0}


def gen_ernie4_5(rng):
    d = _dense_explicit_head_dim(rng)
    return {**d, "use_bias": _flag(rng)}


def gen_olmo2(rng):
    return {**_dense(rng), "attention_bias": _flag(rng), "pad_token_id": 0}


def gen_olmo3(rng):
    return _with_sliding(rng, {**_dense(rng), "attention_bias": _flag(rng), "pad_token_id": 0})


def gen_exaone4(rng):
    return _with_sliding(rng, _dense(rng), sliding_window_pattern=rng.randint(1, 3))


def gen_gemma2(rng):
    d = _dense_explicit_head_dim(rng)
    return _with_sliding(rng, {**d, "attention_bias": _flag(rng)})


def gen_gemma3_text(rng):
    d = _dense_explicit_head_dim(rng)
    return _with_sliding(rng, {**d, "attention_bias": _flag(rng)},
                         sliding_window_pattern=rng.randint(1, 3))


def gen_glm4(rng):
    d = _dense_explicit_head_dim(rng)
    return {**d, "attention_bias": _flag(rng), "pad_token_id": 0}


def gen_phi3(rng):
    d = {**_dense(rng, explicit_head_dim=False), "pad_token_id": 0}
    if _flag(rng):
        d["sliding_window"] = rng.choice([3, 5, 6])
    return d


def gen_starcoder2(rng):
    d = {**_dense(rng, explicit_head_dim=False), "use_bias": _flag(rng)}
    if _flag(rng):
        d["sliding_window"] = rng.choice([3, 5, 6])
    return d


def gen_cohere(rng):
    return {**_dense(rng, explicit_head_dim=False), "attention_bias": _flag(rng),
            "use_qk_norm": _flag(rng)}


def gen_cohere2(rng):
    return _with_sliding(rng, {**_dense(rng, explicit_head_dim=False),
                               "attention_bias": _flag(rng)},
                         sliding_window_pattern=rng.randint(1, 3))


def gen_cohere_compass_text(rng):
    d = _with_sliding(rng, {**_dense(rng), "attention_bias": _flag(rng)})
    if _flag(rng):  # NoPE full layers (a null entry: no rotary embedding there)
        d["rope_parameters"] = {"full_attention": None,
                                "sliding_attention": {"rope_type": "default", "rope_theta": 1e4}}
    return d


def gen_gpt_neox(rng):
    a = rng.choice([1, 2, 4, 8])
    return {**trunk(rng), "num_attention_heads": a, "hidden_size": a * rng.choice([4, 6, 8]),
            "intermediate_size": rng.randint(5, 60), "attention_bias": _flag(rng),
            "use_parallel_residual": _flag(rng)}


def gen_helium(rng):
    d = _dense(rng, explicit_head_dim=False)
    # Helium's o_proj needs a·d == h; its default head_dim (128) would not run at these sizes
    d["head_dim"] = d["hidden_size"] // d["num_attention_heads"]
    return {**d, "attention_bias": _flag(rng), "mlp_bias": _flag(rng), "pad_token_id": 0}


def gen_smollm3(rng):
    d = {**_dense(rng), "attention_bias": _flag(rng), "mlp_bias": _flag(rng), "pad_token_id": 0}
    L = d["num_hidden_layers"]
    if rng.random() < 0.7:
        d.update(use_sliding_window=True, sliding_window=rng.choice([3, 5, 6]))
        r = rng.random()
        if r < 0.3:
            d["layer_types"] = [rng.choice(["sliding_attention", "full_attention"])
                                for _ in range(L)]
        elif r < 0.6:
            d["no_rope_layers"] = [rng.randint(0, 1) for _ in range(L)]
        else:
            d["no_rope_layer_interval"] = rng.randint(1, 3)
    return d


def gen_hunyuan_v1_dense(rng):
    d = _dense_explicit_head_dim(rng)
    return {**d, "attention_bias": _flag(rng), "pad_token_id": 0}


def gen_cohere2_moe(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **attn(rng), **experts(rng, "num_experts"),
         "intermediate_size": rng.randint(3, 30), "attention_bias": _flag(rng),
         "num_shared_experts": rng.randint(0, 2), "pad_token_id": 0,
         "sliding_window_pattern": rng.randint(1, 3),
         "prefix_dense_sliding_window_pattern": rng.randint(1, 3), **sliding(rng, L)}
    if _flag(rng):
        d["rms_norm_eps"] = 1e-5
    r = rng.random()
    if r < 0.35:
        d["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(L)]
    elif r < 0.7:
        d["first_k_dense_replace"] = rng.randint(0, L)
    if "dense" in d.get("mlp_layer_types", []) or d.get("first_k_dense_replace"):
        d["prefix_dense_intermediate_size"] = rng.randint(5, 60)
    return d


def gen_gpt2(rng):
    a = rng.choice([1, 2, 4, 8])
    d = {"n_layer": rng.randint(1, 4), "n_head": a, "n_embd": a * rng.choice([4, 6, 8]),
         "vocab_size": rng.randint(37, 211), "n_positions": rng.randint(32, 80)}
    if _flag(rng):
        d["n_inner"] = rng.randint(5, 60)
    if _flag(rng):
        d["tie_word_embeddings"] = _flag(rng)
    return d


def gen_falcon(rng):
    a = rng.choice([1, 2, 4, 8])
    d = {**trunk(rng, L=(1, 4)), "num_attention_heads": a,
         "hidden_size": a * rng.choice([4, 6, 8]), "bias": _flag(rng),
         "parallel_attn": _flag(rng), "alibi": rng.random() < 0.3}
    kind = rng.choice(["new", "multi_query", "mha"])
    # combinations transformers' FalconDecoderLayer.forward runs: the new architecture is
    # parallel; two parallel norms only with the new architecture
    if kind == "new":
        d.update(new_decoder_architecture=True, parallel_attn=True)
        if _flag(rng):
            d["num_kv_heads"] = rng.choice([g for g in range(1, a + 1) if a % g == 0])
        if _flag(rng):
            d["num_ln_in_parallel_attn"] = rng.choice([1, 2])
    else:
        d["multi_query"] = kind == "multi_query"
        if _flag(rng):
            d["num_ln_in_parallel_attn"] = 1
    if _flag(rng):
        d["ffn_hidden_size"] = rng.randint(5, 60)
    return d


def gen_arcee(rng):
    return {**_dense(rng), "attention_bias": _flag(rng), "mlp_bias": _flag(rng)}


def gen_ministral3(rng):
    d = _dense_explicit_head_dim(rng)
    if _flag(rng):
        d["sliding_window"] = rng.choice([3, 5, 6])
    return {**d, "pad_token_id": 0}


def gen_vaultgemma(rng):
    d = _dense_explicit_head_dim(rng)
    return _with_sliding(rng, {**d, "attention_bias": _flag(rng)})


def gen_granite_swa(rng):
    return _with_sliding(rng, {**_dense(rng, explicit_head_dim=False),
                               "attention_bias": _flag(rng), "mlp_bias": _flag(rng)})


def gen_glm(rng):
    d = _dense_explicit_head_dim(rng)
    return {**d, "attention_bias": _flag(rng), "pad_token_id": 0}


def gen_gpt_bigcode(rng):
    d = gen_gpt2(rng)
    if _flag(rng):
        d["multi_query"] = _flag(rng)
    return d


def gen_granitemoe_swa(rng):
    return _with_sliding(rng, gen_granitemoeshared(rng))


def gen_jais2(rng):
    return {**_dense(rng, explicit_head_dim=False), "attention_bias": _flag(rng),
            "mlp_bias": _flag(rng)}


def gen_phi(rng):
    # q/k LayerNorms are sized hidden / heads: no explicit head_dim; partial RoPE (half the
    # head by default) needs an even rotary width: head_dim a multiple of 4
    a = rng.choice([1, 2, 4, 8])
    g = rng.choice(_divisors(a))
    return {**trunk(rng), "num_attention_heads": a, "num_key_value_heads": g,
            "hidden_size": a * rng.choice([4, 8, 12]), "intermediate_size": rng.randint(5, 60),
            "qk_layernorm": _flag(rng)}


def gen_olmo(rng):
    d = {**_dense(rng), "attention_bias": _flag(rng), "pad_token_id": 0}
    if _flag(rng):
        d["clip_qkv"] = 8.0
    return d


def _gptj_like(rng, heads: list[int]) -> dict:
    a = rng.choice(heads)
    d_head = rng.choice([4, 8, 12])
    d = {"n_layer": rng.randint(1, 4), "n_head": a, "n_embd": a * d_head,
         "vocab_size": rng.randint(37, 211), "n_positions": 64,
         "rotary_dim": rng.choice([x for x in (2, 4, 8) if x <= d_head])}
    if _flag(rng):
        d["n_inner"] = rng.randint(5, 60)
    if _flag(rng):
        d["tie_word_embeddings"] = _flag(rng)
    return d


def gen_gptj(rng):
    return _gptj_like(rng, [1, 2, 4, 8])


def gen_codegen(rng):  # CodeGenAttention splits q/k/v into 4 model-parallel groups
    return _gptj_like(rng, [4, 8])


def gen_gpt_neo(rng):
    a = rng.choice([1, 2, 4, 8])
    L = rng.randint(1, 4)
    d = {"num_layers": L, "num_heads": a, "hidden_size": a * rng.choice([4, 6, 8]),
         "vocab_size": rng.randint(37, 211), "max_position_embeddings": rng.randint(32, 80),
         "attention_types": [[[rng.choice(["global", "local"])], 1] for _ in range(L)],
         "window_size": rng.choice([3, 5, 6])}
    if _flag(rng):
        d["intermediate_size"] = rng.randint(5, 60)
    if _flag(rng):
        d["tie_word_embeddings"] = _flag(rng)
    return d


# --- families added for current configs ------------------------------------------------------

def _attn_with_head_dim(rng) -> dict:
    """:func:`attn` with ``head_dim`` written out (families whose class default is 64-128)."""
    a = attn(rng)
    a.setdefault("head_dim", a["hidden_size"] // a["num_attention_heads"])
    return a


def _glm4_moe_experts(rng, e_key: str) -> dict:
    """GLM-4.5's router (Glm4MoeTopkRouter) sums the top 2 scores of each group: E >= 2."""
    E = rng.randint(2, 8)
    return {e_key: E, "num_experts_per_tok": rng.randint(1, min(E, 3))}


def gen_solar_open(rng):
    return {**trunk(rng), **_attn_with_head_dim(rng), **_glm4_moe_experts(rng, "n_routed_experts"),
            "moe_intermediate_size": rng.randint(3, 30), "n_shared_experts": rng.randint(0, 2),
            "attention_bias": _flag(rng), "n_group": 1, "topk_group": 1}


def gen_sarvam_moe(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    original = _flag(rng)  # sarvamai's own names (SarvamMoEConfig.attribute_map)
    d = {**t, **_attn_with_head_dim(rng),
         **_glm4_moe_experts(rng, "num_experts" if original else "n_routed_experts"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "num_shared_experts" if original else "n_shared_experts": rng.randint(0, 2),
         "use_qkv_bias" if original else "attention_bias": _flag(rng),
         "first_k_dense_replace": rng.randint(0, L), "use_qk_norm": _flag(rng),
         "n_group": 1, "topk_group": 1}
    return d


def gen_afmoe(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_attn_with_head_dim(rng), **experts(rng, "num_experts"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "num_shared_experts": rng.randint(0, 2), "num_dense_layers": rng.randint(0, L),
         "global_attn_every_n_layers": rng.randint(1, 3)}
    # a window always: AfmoeConfig's default layer_types slide, and transformers' sliding cache
    # fails without one
    return {**d, **sliding(rng, L)}


def gen_exaone(rng):
    d = {**_dense(rng), "attention_bias": _flag(rng), "mlp_bias": _flag(rng)}
    if _flag(rng):  # EXAONE's own config.json name
        d["num_layers"] = d.pop("num_hidden_layers")
    return d


def gen_internlm3(rng):
    d = _dense_explicit_head_dim(rng)
    b = _flag(rng)  # InternLM3Config refuses qkv_bias != bias
    if _flag(rng):
        return {**d, "qkv_bias": b, "bias": b}
    return {**d, "attention_bias": b, "mlp_bias": b}


def gen_iquestcoder(rng):
    d = _dense_explicit_head_dim(rng)
    return {**d, "attention_bias": _flag(rng), "mlp_bias": _flag(rng)}


def gen_hy_v3(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_attn_with_head_dim(rng), **experts(rng, "num_experts"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "num_shared_experts": rng.randint(0, 2), "attention_bias": _flag(rng),
         "mlp_bias": _flag(rng)}
    if _flag(rng):
        d["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(L)]
    return d


def gen_cwm(rng):
    d = {**_dense_explicit_head_dim(rng), "mlp_bias": _flag(rng)}
    # a window always: CwmConfig's default layer_types slide
    return {**d, **sliding(rng, d["num_hidden_layers"])}


def gen_nanochat(rng):
    return {**_dense(rng), "attention_bias": _flag(rng)}


def gen_nemotron(rng):
    d = _dense(rng)
    # partial RoPE (half the head by default) needs an even rotary width: a multiple of 4
    d["head_dim"] = rng.choice([4, 8, 12])
    return {**d, "attention_bias": _flag(rng), "mlp_bias": _flag(rng)}


def gen_persimmon(rng):
    a = rng.choice([1, 2, 4, 8])  # MHA, head_dim = h/a; partial RoPE: a multiple of 4
    return {**trunk(rng), "num_attention_heads": a, "hidden_size": a * rng.choice([4, 8, 12]),
            "intermediate_size": rng.randint(5, 60), "qk_layernorm": _flag(rng)}


def gen_stablelm(rng):
    a = rng.choice([1, 2, 4, 8])  # head_dim = h/a; partial RoPE (a quarter): a multiple of 8
    return {**trunk(rng), "num_attention_heads": a,
            "num_key_value_heads": rng.choice(_divisors(a)),
            "hidden_size": a * rng.choice([8, 16]), "intermediate_size": rng.randint(5, 60),
            "use_qkv_bias": _flag(rng), "use_parallel_residual": _flag(rng)}


def gen_minicpm3(rng):
    a = rng.choice([1, 2, 4])
    d = {**trunk(rng), "num_attention_heads": a, "num_key_value_heads": a,
         "hidden_size": a * rng.choice([4, 8, 12]), "intermediate_size": rng.randint(5, 60),
         "q_lora_rank": rng.choice([None, rng.randint(3, 20)]), "kv_lora_rank": rng.randint(3, 20),
         "qk_nope_head_dim": rng.choice([2, 4, 8]), "qk_rope_head_dim": rng.choice([2, 4, 8]),
         "attention_bias": _flag(rng), "mlp_bias": _flag(rng)}
    if _flag(rng):
        d["v_head_dim"] = rng.randint(1, 12)
    return d


def gen_youtu(rng):
    d = gen_minicpm3(rng)
    del d["mlp_bias"]  # YoutuMLP (Qwen3MLP) has none
    d.setdefault("v_head_dim", rng.randint(1, 12))
    return d


def gen_sarvam_mla(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    a = rng.choice([1, 2, 4])
    original = _flag(rng)  # sarvamai's own names (SarvamMLAConfig.attribute_map)
    d = {**t, "num_attention_heads": a, "hidden_size": a * rng.choice([4, 8, 12]),
         **_glm4_moe_experts(rng, "num_experts" if original else "n_routed_experts"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "num_shared_experts" if original else "n_shared_experts": rng.randint(0, 2),
         "first_k_dense_replace": rng.randint(0, L), "n_group": 1, "topk_group": 1,
         "kv_lora_rank": rng.randint(3, 20), "qk_nope_head_dim": rng.choice([2, 4, 8]),
         "qk_rope_head_dim": rng.choice([2, 4, 8]), "v_head_dim": rng.randint(1, 12),
         "attention_bias": _flag(rng)}
    if _flag(rng):
        d["q_lora_rank"] = rng.randint(3, 20)
    return d


def gen_mellum(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_attn_with_head_dim(rng), **experts(rng, "num_experts"),
         "moe_intermediate_size": rng.randint(3, 30), "attention_bias": _flag(rng),
         **sliding(rng, L)}
    if _flag(rng):
        d["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(L)]
        d["intermediate_size"] = rng.randint(5, 60)
    return d


def gen_mpt(rng):
    a = rng.choice([1, 2, 4, 8])
    d = {"n_layers": rng.randint(1, 4), "n_heads": a, "d_model": a * rng.choice([4, 6, 8]),
         "vocab_size": rng.randint(37, 211), "max_seq_len": 64}
    if _flag(rng):
        d["tie_word_embeddings"] = _flag(rng)
    if _flag(rng):  # transformers ignores both (4h MLP, no biases)
        d.update(expansion_ratio=rng.choice([2, 4]), no_bias=_flag(rng))
    return d


def gen_opt(rng):
    a = rng.choice([1, 2, 4, 8])
    h = a * rng.choice([4, 6, 8])
    d = {**trunk(rng, L=(1, 4)), "num_attention_heads": a, "hidden_size": h,
         "ffn_dim": rng.randint(5, 60), "enable_bias": _flag(rng),
         "layer_norm_elementwise_affine": rng.random() < 0.8, "pad_token_id": 1}
    if _flag(rng):
        d["word_embed_proj_dim"] = h
    return d


def gen_flint(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_attn_with_head_dim(rng), **experts(rng, "num_experts"),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "shared_expert_intermediate_size": rng.choice([0, rng.randint(3, 30)]),
         "attention_bias": _flag(rng), **sliding(rng, L)}
    if _flag(rng):
        d["mlp_only_layers"] = sorted(rng.sample(range(L), rng.randint(0, L)))
    if _flag(rng):
        d["decoder_sparse_step"] = rng.randint(1, 2)
    return d


def gen_kolibri1(rng):
    t = trunk(rng)
    return {**t, **_attn_with_head_dim(rng), **experts(rng, "num_local_experts"),
            "moe_intermediate_size": rng.randint(3, 30),
            "shared_expert_intermediate_size": rng.choice([0, rng.randint(3, 30)]),
            **sliding(rng, t["num_hidden_layers"])}  # Kolibri1Config needs a window


def gen_apertus(rng):
    d = {**_dense(rng), "attention_bias": _flag(rng)}
    if rng.random() < 0.3:
        d["hidden_act"] = "relu2"  # no learned scalars
    return d


def gen_apertus1p5_text(rng):
    """Apertus with an lm_head pruned to a prefix of the vocabulary (untied) half the time."""
    d = gen_apertus(rng)
    if _flag(rng):
        d["output_vocab_size"] = rng.randint(1, d["vocab_size"])
        d["tie_word_embeddings"] = False
    return d


def gen_hyperclovax(rng):
    return {**_dense(rng), "attention_bias": _flag(rng), "mlp_bias": _flag(rng),
            "use_post_norm": _flag(rng)}


def gen_bloom(rng):
    a = rng.choice([1, 2, 4, 8])
    d = {"n_layer": rng.randint(1, 4), "n_head": a, "vocab_size": rng.randint(37, 211)}
    d["n_embed" if _flag(rng) else "hidden_size"] = a * rng.choice([4, 6, 8])  # legacy key
    if _flag(rng):
        d["tie_word_embeddings"] = _flag(rng)
    return d


def gen_xglm(rng):
    a = rng.choice([1, 2, 4, 8])
    d = {"num_layers": rng.randint(1, 4), "attention_heads": a,
         "d_model": a * rng.choice([4, 6, 8]),
         "vocab_size": rng.randint(37, 211), "ffn_dim": rng.randint(5, 60),
         "max_position_embeddings": 64, "pad_token_id": 1}
    if _flag(rng):
        d["tie_word_embeddings"] = _flag(rng)
    return d


def gen_biogpt(rng):
    a = rng.choice([1, 2, 4, 8])
    return {**trunk(rng, L=(1, 4)), "num_attention_heads": a,
            "hidden_size": a * rng.choice([4, 6, 8]), "intermediate_size": rng.randint(5, 60),
            "pad_token_id": 1}


def gen_bitnet(rng):
    return {**trunk(rng), **attn(rng, explicit_head_dim=False),
            "intermediate_size": rng.randint(5, 60), "attention_bias": _flag(rng)}


def gen_gpt_sw3(rng):
    a = rng.choice([1, 2, 4])
    d = {"n_layer": rng.randint(1, 4), "n_head": a, "n_embd": a * rng.choice([4, 6, 8]),
         "vocab_size": rng.randint(37, 211), "n_positions": 64}
    if _flag(rng):
        d["n_inner"] = rng.randint(5, 60)
    if _flag(rng):
        d["tie_word_embeddings"] = _flag(rng)
    return d


def _gpt1_trunk(rng):
    a = rng.choice([1, 2, 4, 8])
    d = {"n_layer": rng.randint(1, 4), "n_head": a, "n_embd": a * rng.choice([4, 6, 8]),
         "vocab_size": rng.randint(37, 211), "n_positions": 64}
    if _flag(rng):
        d["tie_word_embeddings"] = _flag(rng)
    return d


def gen_openai_gpt(rng):
    return _gpt1_trunk(rng)


def gen_ctrl(rng):
    return {**_gpt1_trunk(rng), "dff": rng.randint(5, 60)}


def gen_axk1(rng):
    t = trunk(rng)
    L = t["num_hidden_layers"]
    a = rng.choice([1, 2, 4])
    # AXK1Config's num_key_value_heads default (64) only runs with 64 heads
    d = {**t, "num_attention_heads": a, "num_key_value_heads": a,
         "hidden_size": a * rng.choice([4, 8, 12]),
         **_glm4_moe_experts(rng, "n_routed_experts"), "n_group": 1, "topk_group": 1,
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "n_shared_experts": rng.randint(0, 2), "q_lora_rank": rng.randint(3, 20),
         "kv_lora_rank": rng.randint(3, 20), "qk_nope_head_dim": rng.choice([2, 4, 8]),
         "qk_rope_head_dim": rng.choice([2, 4, 8]), "v_head_dim": rng.randint(1, 12),
         "attention_bias": _flag(rng)}
    r = rng.random()
    if r < 0.4:
        d["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(L)]
    elif r < 0.8:
        d.update(first_k_dense_replace=rng.randint(0, L), moe_layer_freq=rng.randint(1, 2))
    return d


GENERATORS = {name[4:]: fn for name, fn in globals().items() if name.startswith("gen_")}
for _mt in ("gpt-sw3", "openai-gpt"):  # model_types with a hyphen
    GENERATORS[_mt] = GENERATORS.pop(_mt.replace("-", "_"))
#: Families whose transformers model keeps no KV cache (GPT-1 recomputes every position): no
#: cache tensors to compare with (tests/test_memory_inference.py skips them).
NO_TRANSFORMERS_CACHE = ("openai-gpt",)


def random_configs(model_type: str, n: int, salt: str = "") -> list[dict]:
    rng = random.Random(f"family-{model_type}-{salt}")
    return [{"model_type": model_type, **GENERATORS[model_type](rng)} for _ in range(n)]


def assert_weights_and_training_params_add_up(m) -> None:
    """Inference weight bytes (bf16) and the parameters one training GPU holds without model
    parallelism both equal the model's parameter count (which the callers check against
    transformers): a component one path forgets and the other counts fails here."""
    from estimator import make_options, training
    from estimator.hardware import get_gpu
    from estimator.memory import weight_bytes
    from estimator.params import count_params

    pc = count_params(m.spec)
    assert sum(weight_bytes(m.spec, "bf16").values()) == 2 * (pc.total + pc.buffers), m.spec.name
    if training.training_refusal(m.spec):  # Gemma-3n: training refused, naming why
        import pytest

        from estimator.errors import EstimatorError

        with pytest.raises(EstimatorError, match="not modelled"):
            training.compute_memory(m, make_options(), get_gpu("h100-sxm"))
        return
    w = training.compute_memory(m, make_options(), get_gpu("h100-sxm")).worst
    assert w.params_non_expert + w.params_expert == pc.total, m.spec.name
