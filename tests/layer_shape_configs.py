"""Random tiny configs of the families whose attention shapes, K/V ownership or inputs differ
by layer (Gemma-4, Gemma-3n, MiMo-V2-Flash, Laguna), shared by the exactness tests: parameters
against transformers on the meta device (tests/test_params_hf.py), forward FLOPs against
FlopCounterMode and KV-cache bytes against transformers' cache tensors
(tests/test_layer_shapes.py). Pure data, no torch.
"""

from __future__ import annotations

import random


def _flag(rng: random.Random) -> bool:
    return rng.random() < 0.5


def gen_gemma4_text(rng: random.Random) -> dict:
    """Gemma-4 text: sliding and full layers with different head dims (``global_head_dim``),
    K=V full layers with their own K/V heads, K/V shared across the last layers, double-wide
    MLPs, per-layer embeddings, the MoE block beside the MLP."""
    a = rng.choice([2, 4, 8])
    g = rng.choice([x for x in (1, 2, 4) if a % x == 0])
    L = rng.randint(2, 8)
    d = {"num_hidden_layers": L, "vocab_size": rng.randint(37, 211),
         "max_position_embeddings": 64, "tie_word_embeddings": _flag(rng),
         "num_attention_heads": a, "num_key_value_heads": g,
         "hidden_size": rng.choice([16, 24, 32, 40]), "head_dim": rng.choice([4, 6, 8]),
         "global_head_dim": rng.choice([4, 8, 12, 16]),
         "intermediate_size": rng.randint(5, 60), "attention_bias": _flag(rng),
         "sliding_window": rng.choice([3, 5, 6, 40])}
    if rng.random() < 0.6:
        d["layer_types"] = [rng.choice(["sliding_attention", "full_attention"])
                            for _ in range(L)]
        d["layer_types"][-1] = "full_attention"
    types = d.get("layer_types") or ["sliding_attention" if (i + 1) % 6 else "full_attention"
                                     for i in range(L)]
    types = types[:-1] + ["full_attention"]
    if _flag(rng):
        d["attention_k_eq_v"] = True
        if _flag(rng):
            d["num_global_key_value_heads"] = rng.choice([x for x in (1, 2) if a % x == 0])
    d["use_double_wide_mlp"] = _flag(rng)
    if rng.random() < 0.3:
        d["hidden_size_per_layer_input"] = 0
    else:
        d.update(hidden_size_per_layer_input=rng.choice([2, 4, 6]),
                 vocab_size_per_layer_input=d["vocab_size"])
        # share K/V over the last n layers where every layer kind has an earlier producer
        # (only with per-layer inputs, as the released models do: transformers 5.24's
        # Gemma4TextModel._maybe_slice_kv_shared_inputs fails without them)
        ok = [n for n in range(L) if set(types[:L - n]) == set(types)]
        d["num_kv_shared_layers"] = rng.choice(ok)
    if _flag(rng):
        E = rng.randint(1, 6)
        d.update(enable_moe_block=True, num_experts=E, top_k_experts=rng.randint(1, min(E, 3)),
                 moe_intermediate_size=rng.randint(3, 30))
    return d


def gen_mimo_v2_flash(rng: random.Random) -> dict:
    """MiMo-V2-Flash: sliding layers with twice the K/V heads and sinks, value head dim apart
    from the q/k head dim, dense and MoE layers (mlp_layer_types), biased q/k/v."""
    g = rng.choice([1, 2])
    a = 2 * g * rng.choice([1, 2])
    L = rng.randint(2, 7)
    E = rng.randint(2, 6)  # the group top-2 of the router needs two experts
    d = {"num_hidden_layers": L, "vocab_size": rng.randint(37, 211),
         "max_position_embeddings": 64, "tie_word_embeddings": _flag(rng),
         "num_attention_heads": a, "num_key_value_heads": g,
         "hidden_size": rng.choice([16, 24, 32]), "head_dim": rng.choice([4, 6, 8, 12]),
         "v_head_dim": rng.choice([2, 4, 6, 10]), "intermediate_size": rng.randint(5, 60),
         "moe_intermediate_size": rng.randint(3, 30), "n_routed_experts": E,
         "num_experts_per_tok": rng.randint(1, min(E, 3)), "attention_bias": _flag(rng)}
    if _flag(rng):
        d["sliding_window_size"] = rng.choice([2, 4, 5, 39])
    else:
        d["sliding_window"] = rng.choice([3, 5, 6, 40])
    if rng.random() < 0.5:
        d["layer_types"] = [rng.choice(["sliding_attention", "full_attention"])
                            for _ in range(L)]
    if rng.random() < 0.5:
        d["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(L)]
    return d


def gen_laguna(rng: random.Random) -> dict:
    """Laguna: query heads by layer (multiples of the K/V heads), per-head or per-channel
    output gate, q/k/v/o biases, dense and MoE layers with a shared expert, sliding layers."""
    g = rng.choice([1, 2])
    L = rng.randint(1, 6)
    E = rng.randint(1, 6)
    d = {"num_hidden_layers": L, "vocab_size": rng.randint(37, 211),
         "max_position_embeddings": 64, "tie_word_embeddings": _flag(rng),
         "num_attention_heads": 2 * g, "num_key_value_heads": g,
         "hidden_size": rng.choice([16, 24, 32]), "head_dim": rng.choice([4, 6, 8]),
         "intermediate_size": rng.randint(5, 60), "moe_intermediate_size": rng.randint(3, 30),
         "shared_expert_intermediate_size": rng.randint(3, 30), "num_experts": E,
         "num_experts_per_tok": rng.randint(1, min(E, 3)), "attention_bias": _flag(rng),
         "gating": rng.choice([True, "per-head", "per-element"]),
         "sliding_window": rng.choice([3, 5, 6, 40])}
    if rng.random() < 0.7:
        d["num_attention_heads_per_layer"] = [g * rng.randint(1, 4) for _ in range(L)]
    if rng.random() < 0.6:
        d["layer_types"] = [rng.choice(["sliding_attention", "full_attention"])
                            for _ in range(L)]
    if rng.random() < 0.5:
        d["mlp_layer_types"] = [rng.choice(["dense", "sparse"]) for _ in range(L)]
    return d


def gen_gemma4_unified_text(rng: random.Random) -> dict:
    """Gemma-4 unified's text model: Gemma-4's block without per-layer embeddings and MoE."""
    d = gen_gemma4_text(rng)
    for k in ("hidden_size_per_layer_input", "vocab_size_per_layer_input", "enable_moe_block",
              "num_experts", "top_k_experts", "moe_intermediate_size"):
        d.pop(k, None)
    L = d["num_hidden_layers"]
    types = d.get("layer_types") or ["sliding_attention" if (i + 1) % 6 else "full_attention"
                                     for i in range(L)]
    types = types[:-1] + ["full_attention"]
    d["num_kv_shared_layers"] = rng.choice([n for n in range(L)
                                            if set(types[:L - n]) == set(types)])
    return d


def gen_gemma3n_text(rng: random.Random) -> dict:
    """Gemma-3n text: sliding and full layers (default every fifth full, or random), K/V shared
    across the last layers, per-layer embeddings, AltUp over 1-4 streams (active stream
    anywhere), LAuReL, one MLP width given as an int or a per-layer list, activation sparsity
    on some layers (its Gaussian top-k runs only when a value is > 0), q/k/v/o biases."""
    a = rng.choice([2, 4, 8])
    g = rng.choice([x for x in (1, 2, 4) if a % x == 0])
    L = rng.randint(2, 8)
    f = rng.randint(5, 60)
    n = rng.randint(1, 4)
    d = {"num_hidden_layers": L, "vocab_size": rng.randint(37, 211),
         "max_position_embeddings": 64, "tie_word_embeddings": _flag(rng),
         "num_attention_heads": a, "num_key_value_heads": g,
         "hidden_size": rng.choice([16, 24, 32, 40]), "head_dim": rng.choice([4, 6, 8]),
         "intermediate_size": [f] * L if _flag(rng) else f, "attention_bias": _flag(rng),
         "sliding_window": rng.choice([3, 5, 6, 40]),
         "hidden_size_per_layer_input": rng.choice([2, 4, 6]),
         "altup_num_inputs": n, "altup_active_idx": rng.randrange(n),
         "altup_correct_scale": _flag(rng), "laurel_rank": rng.randint(1, 9),
         "activation_sparsity_pattern": [rng.choice([0.0, 0.0, 0.5, 0.95]) for _ in range(L)]}
    d["vocab_size_per_layer_input"] = rng.randint(5, d["vocab_size"])
    if rng.random() < 0.6:
        d["layer_types"] = [rng.choice(["sliding_attention", "full_attention"])
                            for _ in range(L)]
    types = d.get("layer_types") or ["full_attention" if (i + 1) % 5 == 0
                                     else "sliding_attention" for i in range(L)]
    # share K/V over the last n layers where every layer kind has an earlier producer
    d["num_kv_shared_layers"] = rng.choice([k for k in range(L)
                                            if set(types[:L - k]) == set(types)])
    return d


GENERATORS = {name[4:]: fn for name, fn in globals().items() if name.startswith("gen_")}


def random_configs(model_type: str, n: int, salt: str = "") -> list[dict]:
    rng = random.Random(f"layer-shapes-{model_type}-{salt}")
    return [{"model_type": model_type, **GENERATORS[model_type](rng)} for _ in range(n)]
