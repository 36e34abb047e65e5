"""LongCat-Flash (``longcat_flash``) against transformers 5.24, the reference implementation.

* parameters: random tiny configs on the meta device equal our total exactly (the checkpoint's
  count: :func:`hf_oracle.numel` leaves out the ``gate_up_proj`` rows transformers allocates
  for zero-computation experts; a real forward shows they are never read);
* schedule: ``2·num_layers`` sublayers, the MoE on the even ones, each with two MLA blocks;
* KV cache: transformers' cache tensors after a CPU forward equal ``memory.kv_cache_bytes``
  (MLA latent on every sublayer: our ``engine`` layout);
* FLOPs: FlopCounterMode on the eager model equals our forward count outside the routed
  experts, and the experts' own count equals the real-expert picks the router made (hooked)
  times one expert's FLOPs — zero experts cost nothing;
* the model card's figures: 560B total, 18.6B–31.3B active per token, 27B on average.
"""

from __future__ import annotations

import random

import pytest

from estimator import memory
from estimator.errors import EstimatorError
from estimator.hf import spec_from_hf_config
from estimator.params import (
    count_params,
    expert_params,
    real_experts_per_token,
    zero_expert_active_range,
)


def gen_longcat(rng: random.Random) -> dict:
    a = rng.choice([1, 2, 4])
    E = rng.randint(2, 6)
    Z = rng.choice([0, 1, 2, 3])
    # top-k >= 2: with moe_topk 1, LongcatFlashExperts.forward's squeeze(0) drops the k axis
    # and its torch.where unpacking fails (transformers 5.24); published configs use 12
    K = rng.randint(2, E + Z)
    d = {"model_type": "longcat_flash", "num_layers": rng.randint(1, 3),
         "vocab_size": rng.randint(37, 131), "hidden_size": rng.choice([16, 24, 32]),
         "num_attention_heads": a, "max_position_embeddings": 64,
         "tie_word_embeddings": rng.random() < 0.5, "attention_bias": rng.random() < 0.5,
         "q_lora_rank": rng.choice([4, 8, 12]), "kv_lora_rank": rng.choice([4, 8, 12]),
         "qk_nope_head_dim": rng.choice([4, 8]), "qk_rope_head_dim": rng.choice([2, 4]),
         "v_head_dim": rng.choice([4, 6, 8]), "ffn_hidden_size": rng.randint(8, 40),
         "expert_ffn_hidden_size": rng.randint(4, 24), "n_routed_experts": E, "moe_topk": K,
         "zero_expert_num": Z, "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0}
    d["head_dim"] = d["qk_rope_head_dim"]  # the rotary embedding's width (default 64)
    if rng.random() < 0.3:
        d["router_bias"] = True
    return d


def configs(n: int, salt: str) -> list[dict]:
    rng = random.Random(f"longcat-{salt}")
    return [gen_longcat(rng) for _ in range(n)]


PARAM_CASES = configs(12, "params")


@pytest.mark.parametrize("cfg", PARAM_CASES, ids=[f"params-{i}" for i in range(12)])
def test_params_exact(cfg):
    pytest.importorskip("transformers")
    from hf_oracle import build, numel, unused_zero_expert_params

    model = build(cfg)
    spec = spec_from_hf_config(cfg)
    c = count_params(spec)
    assert c.total == numel(model), cfg
    # the rows left out are exactly the Z zero experts' gate_up_proj, in every layer
    Z = cfg["zero_expert_num"]
    assert unused_zero_expert_params(model) == (cfg["num_layers"] * Z * 2
                                                * cfg["expert_ffn_hidden_size"]
                                                * cfg["hidden_size"])
    assert c.routed_experts == numel(model, "mlp.experts.")
    assert c.router == numel(model, "mlp.router.")
    assert c.buffers == sum(b.numel() for n, b in model.named_buffers()
                            if "e_score_correction_bias" in n)
    # schedule: two sublayers per layer, the MoE on the even ones
    assert spec.num_hidden_layers == 2 * cfg["num_layers"] == model.config.num_hidden_layers
    assert spec.moe_layers == tuple(range(0, spec.num_hidden_layers, 2))
    assert c.attention == numel(model, "self_attn.")
    assert c.shared_experts + c.dense_ffn == numel(model, "mlps.")


def test_zero_expert_rows_are_never_read():
    """The rows :func:`hf_oracle.numel` leaves out: NaN in them changes nothing."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model

    cfg = {**configs(1, "nan")[0], "n_routed_experts": 3, "zero_expert_num": 3, "moe_topk": 5}
    model = eager_model(cfg)
    ids = torch.randint(1, cfg["vocab_size"], (2, 7))
    with torch.no_grad():
        ref = model(ids).logits
        for layer in model.model.layers:
            layer.mlp.experts.gate_up_proj[3:] = float("nan")
        out = model(ids).logits
    torch.testing.assert_close(out, ref)


CACHE_CASES = configs(3, "cache")


@pytest.mark.parametrize("cfg", CACHE_CASES, ids=[f"cache-{i}" for i in range(3)])
def test_cache_matches_transformers(cfg):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model

    model = eager_model(cfg)
    spec = spec_from_hf_config(cfg)
    b = 2
    for T in (5, 9):
        with torch.no_grad():
            cache = model(torch.randint(1, cfg["vocab_size"], (b, T)),
                          use_cache=True).past_key_values
        held = sum(t.numel() * t.element_size() for layer in cache.layers
                   for t in (layer.keys, layer.values) if torch.is_tensor(t))
        assert len(cache.layers) == spec.num_hidden_layers
        # transformers 5.x caches MLA's latent and rope key (our engine layout)
        assert held == memory.kv_cache_bytes(spec, b, T, "fp32", "engine"), (T, cfg)


FLOP_CASES = configs(4, "flops")


@pytest.mark.parametrize("cfg", FLOP_CASES, ids=[f"flops-{i}" for i in range(4)])
def test_flops_match_flopcountermode(cfg):
    """Everything but the routed experts equals our forward count; the experts module costs
    one expert's FLOPs per real-expert pick of the router (recorded by a hook), zero for the
    zero-computation picks — what ``num_experts_per_tok`` (real experts per token) counts."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model
    from torch.utils.flop_counter import FlopCounterMode

    from estimator.flops import FLOPS_PER_MAC, forward_flops

    model = eager_model(cfg)
    spec = spec_from_hf_config(cfg)
    E = cfg["n_routed_experts"]
    real = []
    for layer in model.model.layers:
        layer.mlp.router.register_forward_hook(
            lambda mod, inp, out: real.append(int((out[2] < E).sum())))
    b, T = 2, 6
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(torch.randint(1, cfg["vocab_size"], (b, T)), use_cache=False)
    counts = {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}
    prefix = f"{type(model).__name__}.model.layers"
    experts = sum(counts.get(f"{prefix}.{i}.mlp.experts", 0) for i in range(cfg["num_layers"]))
    ours = forward_flops(spec, b, T, "full", "all")
    assert counts["Global"] - experts == ours.total - ours.routed_experts, cfg
    assert experts == sum(real) * FLOPS_PER_MAC * expert_params(spec), cfg
    if not cfg["zero_expert_num"]:  # no zero experts: every pick is real, as counted
        assert experts == ours.routed_experts


def test_real_experts_per_token_conventions():
    assert real_experts_per_token(512, 256, 12) == 8 == 12 * 512 // 768
    assert real_experts_per_token(512, 256, 12, "all_real") == 12
    assert real_experts_per_token(4, 2, 5) == 3  # 5·4/6 = 3.33 → 3, and at least 5 − 2
    assert real_experts_per_token(2, 3, 4) == 2  # 4·2/5 = 1.6 → 2
    assert real_experts_per_token(1, 3, 1) == 1  # 0.25 → at least one


BAD = [
    ({"num_layers": 2, "num_hidden_layers": 5}, "num_hidden_layers"),
    ({"moe_topk": 99}, "moe_topk"),
    ({"q_lora_rank": None}, "q_lora_rank"),
    ({"num_layers": None}, "num_layers"),
]


@pytest.mark.parametrize("change,field", BAD, ids=[b[1] for b in BAD])
def test_bad_config_names_the_field(change, field):
    cfg = {**configs(1, "bad")[0], **change}
    with pytest.raises(EstimatorError) as e:
        spec_from_hf_config(cfg)
    assert e.value.field == field


def test_num_hidden_layers_alone_is_halved_as_transformers_does():
    pytest.importorskip("transformers")

    from hf_oracle import hf_config

    cfg = configs(1, "halved")[0]
    n = cfg.pop("num_layers")
    for L in (2 * n, 2 * n + 1):
        c = {**cfg, "num_hidden_layers": L}
        assert spec_from_hf_config(c).num_hidden_layers == 2 * hf_config(c).num_layers


def test_spec_refuses_inconsistent_zero_experts():
    import estimator

    s = estimator.load_model("longcat-flash-chat").spec
    for change, field in (({"num_experts_per_tok": 13}, "router_top_k"),
                          ({"num_experts_per_tok": 1, "num_zero_experts": 5},
                           "num_experts_per_tok"),
                          ({"router_top_k": 1000}, "router_top_k"),
                          ({"num_zero_experts": 0}, "num_zero_experts")):
        with pytest.raises(EstimatorError) as e:
            s.replace(**change)
        assert e.value.field == field, change


# ----------------------------------------------------------------------------------------------
# the model card (meituan-longcat/LongCat-Flash-Chat; arXiv 2509.01322)
# ----------------------------------------------------------------------------------------------

BILLION = 10**9


def test_card_active_range_and_average():
    """'activating 18.6 to 31.3 billion parameters (out of 560 billion total) ... an average
    of ~27 billion': 0 and 12 real experts per token without the input embedding (the card
    truncates: 18.69B, 31.38B), and the uniform convention's 8 (27.15B)."""
    import estimator

    m = estimator.load_model("longcat-flash-chat")
    s, c = m.spec, count_params(m.spec)
    lo, hi = (x - c.embedding for x in zero_expert_active_range(s))
    assert 18_600_000_000 <= lo < 18_700_000_000
    assert 31_300_000_000 <= hi < 31_400_000_000
    assert s.num_experts_per_tok == 8 and s.router_top_k == 12
    assert round(c.active_without_embedding / BILLION) == 27
    # the range is what a sweep over the real experts per token gives
    sweep = {k: count_params(s.replace(num_experts_per_tok=k)).active_without_embedding
             for k in (1, 12)}
    each = s.num_moe_layers * expert_params(s)
    assert sweep[1] - each == lo and sweep[12] == hi


def test_report_runs_and_says_the_convention():
    import estimator

    r = estimator.estimate("longcat-flash-chat", gpu="h200", num_gpus=16, tp=8, ep=16, pp=2)
    d = r.to_dict()
    assert d["params"]["total"] == 560_664_958_976
    text = " ".join(r.model.spec.notes)
    assert "real experts per token" in text and "sublayers" in text
