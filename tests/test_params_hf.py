"""Exactness of the parameter model: our counts == transformers' own models on the meta device.

For every supported family (and the ``llama4`` multimodal wrapper) we draw many seeded random
configs that exercise the family's quirks — odd hidden sizes, MQA/GQA/MHA, explicit ``head_dim``,
tied/untied embeddings, bias flags, dense-layer patterns, MLA with and without ``q_lora_rank``,
shared experts, q/k norms, sliding-window layer types — build transformers' model from the same
dict on the meta device, and require:

* ``count_params(spec).total == sum(p.numel() for p in model.parameters())`` exactly;
* each component of our breakdown equals the parameters whose transformers module name makes the
  component unambiguous (embedding, lm_head, routed experts, router, shared experts, attention,
  layer norms, dense FFN);
* active parameters equal the total minus the unused ``(E−k)/E`` share of each expert module, with
  the expert modules' sizes read from the transformers model (not from our formulas);
* DeepSeek-V3 / GLM-4.5 buffers and multi-token-prediction (MTP) counts equal transformers'
  ``e_score_correction_bias`` buffers and its own ``MtpModel``.
"""

from __future__ import annotations

import random
import re
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import family_configs  # noqa: E402
import hf_oracle  # noqa: E402
import hybrid_configs  # noqa: E402
import layer_shape_configs  # noqa: E402

from estimator.errors import EstimatorError  # noqa: E402
from estimator.hf import FAMILIES, spec_from_hf_config  # noqa: E402
from estimator.params import count_params  # noqa: E402

CONFIGS_PER_FAMILY = 12
# hybrids (linear attention, Mamba, short conv) are checked in tests/test_hybrids.py
# LongCat-Flash has its own tests (tests/test_longcat.py: sublayers, zero-computation experts),
# Zamba and Zamba2 too (tests/test_zamba.py: shared blocks, per-use adapters)
ALL_TYPES = sorted(set([*FAMILIES, "llama4"]) - set(hybrid_configs.GENERATORS)
                   - {"longcat_flash", "zamba2", "zamba"})

# ----------------------------------------------------------------------------------------------
# random configs, one generator per family
# ----------------------------------------------------------------------------------------------


def _divisors(n: int) -> list[int]:
    return [d for d in range(1, n + 1) if n % d == 0]


def _attn(rng: random.Random, head_dim: str = "free") -> dict:
    """Heads, kv heads (MQA, GQA or MHA) and hidden size.

    ``head_dim``: "free" — explicit head_dim half of the time, hidden size then unconstrained
    (odd sizes included); "divisible" — explicit head_dim allowed but hidden must stay a multiple
    of the heads (transformers' Llama checks it); "none" — head_dim derived as hidden/heads.
    RoPE needs an even head dim, so every head dim drawn is even.
    """
    a = rng.choice([1, 2, 3, 4, 6, 8])
    g = rng.choice(_divisors(a))
    d = {"num_attention_heads": a, "num_key_value_heads": g}
    explicit = head_dim != "none" and rng.random() < 0.5
    if explicit and head_dim == "free":
        d["hidden_size"] = rng.randint(9, 70)
        d["head_dim"] = rng.choice(range(2, 26, 2))
    elif explicit:
        d["hidden_size"] = a * rng.randint(2, 12)
        d["head_dim"] = rng.choice([x for x in range(2, 26, 2) if x * a != d["hidden_size"]])
    else:
        d["hidden_size"] = a * rng.choice(range(2, 18, 2))
    return d


def _trunk(rng: random.Random, tie: bool = True) -> dict:
    d = {"num_hidden_layers": rng.randint(1, 6), "vocab_size": rng.randint(37, 301)}
    if tie:
        d["tie_word_embeddings"] = rng.random() < 0.5
    return d


def _moe(rng: random.Random, e_key: str = "num_local_experts") -> dict:
    E = rng.randint(1, 9)
    return {e_key: E, "num_experts_per_tok": rng.randint(1, E)}


def _flag(rng: random.Random) -> bool:
    return rng.random() < 0.5


def gen_llama(rng):
    return {**_trunk(rng), **_attn(rng, "divisible"), "intermediate_size": rng.randint(5, 99),
            "attention_bias": _flag(rng), "mlp_bias": _flag(rng)}


def gen_mistral(rng):
    return {**_trunk(rng), **_attn(rng), "intermediate_size": rng.randint(5, 99),
            "sliding_window": rng.choice([None, 16, 4096])}


def _qwen_window(rng, L):
    d = {}
    r = rng.random()
    if r < 0.3:
        d.update(use_sliding_window=True, sliding_window=rng.randint(4, 64),
                 max_window_layers=rng.randint(0, L))
    elif r < 0.5:
        d.update(sliding_window=rng.randint(4, 64),
                 layer_types=[rng.choice(["sliding_attention", "full_attention"])
                              for _ in range(L)])
    return d


def gen_qwen2(rng):
    t = _trunk(rng)
    return {**t, **_attn(rng), "intermediate_size": rng.randint(5, 99),
            **_qwen_window(rng, t["num_hidden_layers"])}


def gen_qwen3(rng):
    t = _trunk(rng)
    return {**t, **_attn(rng), "intermediate_size": rng.randint(5, 99),
            "attention_bias": _flag(rng), **_qwen_window(rng, t["num_hidden_layers"])}


def gen_gemma(rng):
    return {**_trunk(rng), **_attn(rng), "intermediate_size": rng.randint(5, 99),
            "attention_bias": _flag(rng)}


def gen_mixtral(rng):
    return {**_trunk(rng), **_attn(rng), **_moe(rng), "intermediate_size": rng.randint(5, 99),
            "sliding_window": rng.choice([None, 32])}


def gen_phimoe(rng):
    return {**_trunk(rng), **_attn(rng), **_moe(rng), "intermediate_size": rng.randint(5, 99),
            "attention_bias": _flag(rng), "lm_head_bias": _flag(rng)}


def gen_granitemoe(rng):
    return {**_trunk(rng), **_attn(rng), **_moe(rng), "intermediate_size": rng.randint(5, 99),
            "attention_bias": _flag(rng)}


def gen_olmoe(rng):
    return {**_trunk(rng), **_attn(rng, "none"), **_moe(rng, "num_experts"),
            "intermediate_size": rng.randint(5, 99), "attention_bias": _flag(rng),
            "clip_qkv": rng.choice([None, 8.0])}


def _qwen_moe_layers(rng, L):
    d = {}
    r = rng.random()
    if r < 0.3:
        d["decoder_sparse_step"] = rng.randint(1, 3)
    elif r < 0.6:
        d["mlp_only_layers"] = sorted(rng.sample(range(L), rng.randint(0, L)))
    elif r < 0.8:
        d["decoder_sparse_step"] = rng.randint(1, 3)
        d["mlp_only_layers"] = sorted(rng.sample(range(L), rng.randint(0, L)))
    return d


def gen_qwen2_moe(rng):
    t = _trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_attn(rng), **_moe(rng, "num_experts"), "intermediate_size": rng.randint(5, 99),
         "moe_intermediate_size": rng.randint(3, 40),
         "shared_expert_intermediate_size": rng.randint(3, 70), **_qwen_moe_layers(rng, L),
         **_qwen_window(rng, L)}
    if _flag(rng):
        d["qkv_bias"] = _flag(rng)
    return d


def gen_qwen3_moe(rng):
    t = _trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_attn(rng), **_moe(rng, "num_experts"), "intermediate_size": rng.randint(5, 99),
         "moe_intermediate_size": rng.randint(3, 40), "attention_bias": _flag(rng),
         **_qwen_moe_layers(rng, L)}
    if rng.random() < 0.2:
        d.update(use_sliding_window=True, sliding_window=rng.randint(4, 64))
    return d


def _mla(rng, v3: bool):
    a = rng.choice([1, 2, 3, 4, 8])
    t = _trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, "num_attention_heads": a, "hidden_size": a * rng.randint(2, 10),
         "intermediate_size": rng.randint(5, 99), "moe_intermediate_size": rng.randint(3, 40),
         **_moe(rng, "n_routed_experts"),
         "q_lora_rank": rng.choice([None, rng.randint(3, 30)]),
         "kv_lora_rank": rng.randint(3, 30), "qk_nope_head_dim": rng.choice(range(2, 18, 2)),
         "qk_rope_head_dim": rng.choice(range(2, 18, 2)), "v_head_dim": rng.randint(1, 17),
         "first_k_dense_replace": rng.randint(0, L), "n_shared_experts": rng.randint(0, 3),
         "attention_bias": _flag(rng)}
    if _flag(rng):
        d["num_key_value_heads"] = a
    if not v3 and _flag(rng):
        d["mlp_bias"] = _flag(rng)
    if v3:
        d["num_nextn_predict_layers"] = rng.randint(0, 2)
    return d


def gen_deepseek_v2(rng):
    return _mla(rng, v3=False)


def gen_deepseek_v3(rng):
    return _mla(rng, v3=True)


def gen_glm4_moe(rng):
    t = _trunk(rng)
    return {**t, **_attn(rng), **_moe(rng, "n_routed_experts"),
            "intermediate_size": rng.randint(5, 99), "moe_intermediate_size": rng.randint(3, 40),
            "first_k_dense_replace": rng.randint(0, t["num_hidden_layers"]),
            "n_shared_experts": rng.randint(0, 3), "use_qk_norm": _flag(rng),
            "attention_bias": _flag(rng), "num_nextn_predict_layers": rng.randint(0, 2)}


def gen_gpt_oss(rng):
    t = _trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_attn(rng), **_moe(rng), "intermediate_size": rng.randint(5, 99),
         "attention_bias": _flag(rng), "sliding_window": rng.randint(4, 200)}
    if _flag(rng):
        d["layer_types"] = [rng.choice(["sliding_attention", "full_attention"]) for _ in range(L)]
    return d


def gen_llama4_text(rng):
    t = _trunk(rng)
    L = t["num_hidden_layers"]
    d = {**t, **_attn(rng), **_moe(rng), "intermediate_size": rng.randint(5, 99),
         "intermediate_size_mlp": rng.randint(5, 99), "attention_bias": _flag(rng),
         "use_qk_norm": _flag(rng)}
    r = rng.random()
    if r < 0.4:
        d["interleave_moe_layer_step"] = rng.randint(1, 3)
    elif r < 0.7:
        d["moe_layers"] = sorted(rng.sample(range(L), rng.randint(0, L)))
    if _flag(rng):
        d["attention_chunk_size"] = rng.choice([None, 64])
    return d


def gen_llama4(rng):
    return {"text_config": {**gen_llama4_text(rng), "model_type": "llama4_text"}}


def gen_dbrx(rng):
    a = rng.choice([1, 2, 3, 4, 6, 8])
    E = rng.randint(1, 9)
    return {"d_model": a * rng.choice(range(2, 18, 2)), "n_heads": a,
            "n_layers": rng.randint(1, 6), "vocab_size": rng.randint(37, 301),
            "attn_config": {"kv_n_heads": rng.choice(_divisors(a)), "rope_theta": 10000.0},
            "ffn_config": {"ffn_hidden_size": rng.randint(5, 99), "moe_num_experts": E,
                           "moe_top_k": rng.randint(1, E)}}


def gen_jetmoe(rng):
    E = rng.randint(1, 9)
    k = rng.randint(1, E)
    g = rng.randint(1, 4)
    d = {**_trunk(rng), "hidden_size": rng.randint(9, 70), "num_key_value_heads": g,
         "kv_channels": rng.choice(range(2, 18, 2)), "intermediate_size": rng.randint(5, 99),
         "num_local_experts": E, "num_experts_per_tok": k}
    if _flag(rng):
        d["num_attention_heads"] = g * k  # transformers derives it; config.json files carry it
    return d


GENERATORS = {name[4:]: fn for name, fn in globals().items() if name.startswith("gen_")}
GENERATORS.update(family_configs.GENERATORS)  # the families added with the family table
GENERATORS.update(layer_shape_configs.GENERATORS)  # per-layer attention shapes (Gemma-4)


def random_configs(model_type: str, n: int = CONFIGS_PER_FAMILY) -> list[dict]:
    rng = random.Random(f"params-{model_type}")
    return [{"model_type": model_type, **GENERATORS[model_type](rng)} for _ in range(n)]


def test_every_family_has_a_generator():
    assert set(GENERATORS) == set(ALL_TYPES)


# ----------------------------------------------------------------------------------------------
# classifying transformers' parameters by module name
# ----------------------------------------------------------------------------------------------

_FFN = r"\.(mlp|feed_forward|ffn|block_sparse_moe)\."  # the FFN/MoE block of a layer
# JetMoE: mlp.{input,output}_linear; Gemma-4: layers.N.experts beside layers.N.mlp
_EXPERTS = (_FFN + r"(experts\.|input_linear|output_linear)"
            + r"|\.layers\.\d+\.experts\.")
_COMPONENT_PATTERNS = [  # first match wins; patterns read transformers' module names
    ("embedding", r"(embed_tokens|embed_tokens_per_layer|\.wte|\.wpe|embed_in|word_embeddings"
                  r"|embed_positions"
                  r"|tokens_embed|positions_embed|^transformer\.w)\.weight$"),  # GPT-1, CTRL
    ("lm_head", r"^(lm_head|output_projection)\."),  # BioGPT: output_projection
    ("shared_experts", r"\.(shared_experts?(_gate)?|shared_mlp)\."),
    ("routed_experts", _EXPERTS),
    ("router", _FFN + r"(gate\.|router\.|expert_bias$)"  # AFMoE: mlp.expert_bias
               r"|\.layers\.\d+\.router\."),  # Gemma-4: proj, scale, per_expert_scale
    ("attention", r"\.(self_attn|self_attention|attn|attention|multi_head_attention)\."),
    ("norms", r"(input_layernorm|post_attention_layernorm|post_feedforward_layernorm"
              r"|pre_feedforward_layernorm|post_self_attn_layernorm|[a-z]+_mlp_layernorm|norm_[12f]|post_norm[12]|self_attn_layer_norm"
              r"|attention_layernorm|feedforward_layernorm"
              r"|word_embeddings_layernorm|^(biogpt|model)\.layer_norm"  # BLOOM; BioGPT, XGLM
              r"|\.layernorm[12]?|\.post_mlp_layernorm"  # CTRL; A.X-K1
              r"|^model\.norm|final_layer_?norm|\.ln_([12f]|attn|mlp))\."),
    ("other", r"\.mlp\.bias$"),  # JetMoE's bias after the expert mix
    # Gemma-4's per-layer inputs: their norms, then the projections
    ("norms", r"(per_layer_projection_norm|post_per_layer_input_norm)\."),
    ("other", r"(per_layer_model_projection|per_layer_input_gate|per_layer_projection)\."),
    # Gemma-3n's AltUp and LAuReL: their norms, then the matrices and the output scale
    ("norms", r"\.(altup\.router_norm|laurel\.post_laurel_norm)\."),
    ("other", r"\.(altup|laurel|altup_projections|altup_unembed_projections)\."),
    # OPT: fc1/fc2 directly in the layer
    ("dense_ffn", r"\.(mlp\.|feed_forward\.|ffn\.|(?=fc[12]\.))(gate_proj|up_proj|down_proj"
                  r"|gate_up_proj|c_fc|c_proj|dense_h_to_4h|dense_4h_to_h|fc1|fc2|fc_in|fc_out"
                  r"|act_fn|ffn_sub_norm|[02])\."),  # Apertus: xIELU's scalars; BitNet; CTRL's
    # ffn = Sequential(Linear, ReLU, Linear)
]


def hf_breakdown(model) -> dict[str, int]:
    out = {name: 0 for name, _ in _COMPONENT_PATTERNS}
    out["sequence_mixers"] = 0  # hybrids only (tests/test_hybrids.py)
    for n, p in model.named_parameters():
        for comp, pat in _COMPONENT_PATTERNS:
            if re.search(pat, n):
                out[comp] += p.numel()
                break
        else:
            raise AssertionError(f"unclassified transformers parameter {n}")
    return out


def _experts_and_topk(cfg) -> tuple[int, int]:
    if hasattr(cfg, "ffn_config"):  # DBRX
        return cfg.ffn_config.moe_num_experts, cfg.ffn_config.moe_top_k
    for key in ("num_local_experts", "n_routed_experts", "num_experts"):
        if getattr(cfg, key, None) is not None:
            k = getattr(cfg, "top_k_experts", None)  # Gemma-4
            return getattr(cfg, key), k if k is not None else cfg.num_experts_per_tok
    if getattr(cfg, "moe_topk", None) is not None:  # AriaTextConfig
        return cfg.moe_num_experts, cfg.moe_topk
    raise AssertionError("no expert count")


def hf_active(model, cfg) -> int:
    """Total minus the (E−k)/E unused share of every expert module transformers built.

    Expert modules are found by name (their sizes are transformers'); JetMoE's attention experts
    (``self_attention.experts.{input,output}_linear``) are routed with the same E and k.
    """
    E, k = _experts_and_topk(cfg)
    moa = r"self_attention\.experts\.(input|output)_linear"
    expert_numel = sum(p.numel() for n, p in model.named_parameters()
                       if re.search(_EXPERTS, n) or re.search(moa, n))
    unused = expert_numel * (E - k)
    assert unused % E == 0
    return hf_oracle.numel(model) - unused // E


# ----------------------------------------------------------------------------------------------
# the tests
# ----------------------------------------------------------------------------------------------

CASES = [(mt, i, cfg) for mt in ALL_TYPES for i, cfg in enumerate(random_configs(mt))]


@pytest.mark.parametrize("model_type,i,cfg", CASES, ids=[f"{mt}-{i}" for mt, i, _ in CASES])
def test_counts_equal_transformers(model_type, i, cfg):
    model = hf_oracle.build(cfg)
    spec = spec_from_hf_config(cfg)
    ours = count_params(spec)
    assert ours.total == hf_oracle.numel(model), cfg
    assert ours.breakdown == hf_breakdown(model), cfg
    hf_cfg = model.config
    if spec.is_moe:
        assert ours.active == hf_active(model, hf_cfg), cfg
    else:
        assert ours.active == ours.total
    # the three active conventions differ exactly by the embedding tables (learned position
    # embeddings, GPT-2's wpe, are input embeddings too: Kaplan et al. §2.1 exclude them)
    emb = model.get_input_embeddings().weight
    tied = model.get_output_embeddings().weight is emb
    head = hf_oracle.numel(model, "lm_head") + hf_oracle.numel(model, "output_projection")
    pos = sum(hf_oracle.numel(model, f".{n}.") for n in ("wpe", "embed_positions",
                                                          "positions_embed",
                                                          "embed_tokens_per_layer"))
    assert ours.embedding_tied == tied
    assert ours.active_non_embedding == ours.active - emb.numel() - pos - head
    assert ours.active_without_embedding == ours.active - (0 if tied else emb.numel()) - pos


@pytest.mark.parametrize("model_type", ["deepseek_v3", "glm4_moe"])
def test_router_correction_buffer_equals_transformers(model_type):
    for cfg in random_configs(model_type, 6):
        model = hf_oracle.build(cfg)
        ours = count_params(spec_from_hf_config(cfg))
        assert ours.buffers == hf_oracle.buffer_numel(model, "e_score_correction_bias"), cfg


@pytest.mark.parametrize("model_type", ["deepseek_v3", "glm4_moe"])
def test_mtp_equals_transformers_mtp_model(model_type):
    """Our ``mtp`` = transformers' ``MtpModel`` minus the embedding/head it shares."""
    from transformers.modeling_layers import MtpModel

    for cfg in random_configs(model_type, 6):
        n_mtp = cfg["num_nextn_predict_layers"]
        ours = count_params(spec_from_hf_config(cfg))
        if n_mtp == 0:
            assert ours.mtp == 0
            continue
        main = hf_oracle.build(cfg)
        with warnings.catch_warnings(), torch.device("meta"):
            warnings.simplefilter("ignore")  # zero-width shared experts: "no-op init" warnings
            mtp = MtpModel(main, n_mtp)
        shared = (hf_oracle.numel(mtp, "embed_tokens") + hf_oracle.numel(mtp, "shared_head"))
        assert ours.mtp == hf_oracle.numel(mtp) - shared, cfg


def test_mixtral_active_from_one_expert_module():
    """Mixtral-style: active = total − (E−k) · (one expert's HF parameters) · n_moe_layers."""
    for cfg in random_configs("mixtral", 8):
        model = hf_oracle.build(cfg)
        experts = model.model.layers[0].mlp.experts
        E, k = cfg["num_local_experts"], cfg["num_experts_per_tok"]
        one = sum(p[0].numel() for p in experts.parameters())  # tensors are (E, ...)
        L = cfg["num_hidden_layers"]
        ours = count_params(spec_from_hf_config(cfg))
        assert ours.active == hf_oracle.numel(model) - (E - k) * one * L


# ----------------------------------------------------------------------------------------------
# which layers slide (feeds the KV-cache model): per-layer windows as transformers builds them
# ----------------------------------------------------------------------------------------------

# every layer: config.sliding_window
_WINDOW_FROM_CONFIG = {"mistral", "mixtral", "phimoe", "phi3", "starcoder2", "ministral3"}
# self_attn.sliding_window
_WINDOW_ATTR = {"qwen2", "qwen3", "qwen2_moe", "qwen3_moe", "gpt_oss", "smollm3", "afmoe",
                "cwm", "mellum", "flint"}
_WINDOW_BY_LAYER_TYPES = {"dots1", "exaone_moe", "ministral", "olmo3", "exaone4", "gemma2",
                          "gemma3_text", "cohere2", "cohere2_moe", "vaultgemma",
                          "granite_swa", "granitemoe_swa", "kolibri1", "gemma4_text",
                          "mimo_v2_flash", "laguna", "gemma4_unified_text", "gemma3n_text",
                          "cohere_compass_text"}


def hf_windows(model, model_type: str) -> list[int | None]:
    cfg = model.config
    if model_type in ("llama4", "llama4_text"):  # chunked attention, by layer_types
        return [cfg.attention_chunk_size if t == "chunked_attention" else None
                for t in cfg.layer_types]
    if model_type in _WINDOW_BY_LAYER_TYPES:  # the layer types transformers' cache is built from
        return [cfg.sliding_window if t == "sliding_attention" and cfg.sliding_window else None
                for t in cfg.layer_types]
    if model_type not in _WINDOW_FROM_CONFIG | _WINDOW_ATTR:  # no per-layer window attribute
        return [None] * cfg.num_hidden_layers
    layers = model.model.layers if hasattr(model, "model") else model.transformer.blocks
    out = []
    for layer in layers:
        if model_type in _WINDOW_FROM_CONFIG:
            w = cfg.sliding_window
        elif model_type in _WINDOW_ATTR:
            w = getattr(layer.self_attn, "sliding_window", None)
        else:
            w = None
        out.append(w or None)  # 0 means no window (qwen2_moe without use_sliding_window)
    return out


@pytest.mark.parametrize("model_type", ALL_TYPES)
def test_sliding_layers_equal_transformers(model_type):
    for cfg in random_configs(model_type):
        spec = spec_from_hf_config(cfg)
        ours = [spec.sliding_window if i in spec.sliding_window_layers else None
                for i in range(spec.num_hidden_layers)]
        assert ours == hf_windows(hf_oracle.build(cfg), model_type), cfg


# ----------------------------------------------------------------------------------------------
# DeepSeek's moe_layer_freq: transformers 5.24 ignores it, DeepSeek's reference code does not
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_type", ["deepseek_v2", "deepseek_v3"])
def test_moe_layer_freq_follows_deepseek_reference(model_type):
    """Layer i is MoE iff i >= first_k_dense_replace and i % moe_layer_freq == 0 (DeepSeek's
    ``modeling_deepseek.py``). transformers cannot build such a model, so the expected total is
    assembled from transformers' own layers: each layer's FFN block is taken from an all-MoE or an
    all-dense transformers build, following that rule."""
    rng = random.Random(f"freq-{model_type}")
    for _ in range(6):
        cfg = {"model_type": model_type, **GENERATORS[model_type](rng)}
        L = cfg["num_hidden_layers"] = rng.randint(2, 7)
        freq = rng.randint(2, 3)
        first = rng.randint(0, 2)
        moe_model = hf_oracle.build({**cfg, "first_k_dense_replace": 0})
        dense_model = hf_oracle.build({**cfg, "first_k_dense_replace": L})
        expected = hf_oracle.numel(dense_model)
        for i in range(L):
            if i >= first and i % freq == 0:
                expected += (hf_oracle.numel(moe_model.model.layers[i].mlp)
                             - hf_oracle.numel(dense_model.model.layers[i].mlp))
        spec = spec_from_hf_config({**cfg, "first_k_dense_replace": first,
                                    "moe_layer_freq": freq})
        assert count_params(spec).total == expected, cfg


# ----------------------------------------------------------------------------------------------
# the random configs really cover the quirks they are meant to
# ----------------------------------------------------------------------------------------------

def test_random_configs_cover_the_quirks():
    specs = {mt: [spec_from_hf_config(c) for c in random_configs(mt)] for mt in ALL_TYPES}
    every = [s for ss in specs.values() for s in ss]

    def seen(pred, family=None):
        return any(pred(s) for s in (specs[family] if family else every))

    assert seen(lambda s: s.hidden_size % 2 == 1)
    assert seen(lambda s: s.num_key_value_heads == 1 < s.num_attention_heads)  # MQA
    assert seen(lambda s: s.num_key_value_heads == s.num_attention_heads > 1)  # MHA
    assert seen(lambda s: 1 < s.num_key_value_heads < s.num_attention_heads)  # GQA
    for fam in ("llama", "mistral", "qwen2", "qwen3", "gemma", "mixtral", "phimoe",
                "granitemoe", "qwen2_moe", "qwen3_moe", "glm4_moe", "gpt_oss", "llama4_text"):
        assert seen(lambda s: s.head_dim * s.num_attention_heads != s.hidden_size, fam), fam
    for fam in ALL_TYPES:
        if fam != "dbrx":  # DBRX refuses tied embeddings
            assert seen(lambda s: s.tie_word_embeddings, fam), fam
        assert seen(lambda s: not s.tie_word_embeddings, fam), fam
    for fam in ("deepseek_v2", "deepseek_v3"):
        assert seen(lambda s: s.mla.q_lora_rank is None, fam)
        assert seen(lambda s: s.mla.q_lora_rank is not None, fam)
        assert seen(lambda s: s.attention_bias, fam)
    for fam in ("deepseek_v2", "deepseek_v3", "glm4_moe"):
        assert seen(lambda s: s.num_shared_experts == 0, fam)
        assert seen(lambda s: s.num_shared_experts > 1, fam)
        assert seen(lambda s: 0 < s.num_moe_layers < s.num_hidden_layers, fam)
    assert seen(lambda s: s.ffn_bias and s.shared_expert_bias, "deepseek_v2")
    for fam in ("qwen2_moe", "qwen3_moe", "llama4_text"):
        assert seen(lambda s: 0 < s.num_moe_layers < s.num_hidden_layers, fam), fam
        assert seen(lambda s: s.num_moe_layers == s.num_hidden_layers, fam), fam
    assert seen(lambda s: s.num_moe_layers == 0, "llama4_text")
    assert seen(lambda s: s.qk_norm == "head", "glm4_moe")
    assert seen(lambda s: s.qk_norm == "none", "glm4_moe")
    assert seen(lambda s: not s.attention_bias, "qwen2_moe")
    assert seen(lambda s: s.lm_head_bias and s.tie_word_embeddings, "phimoe")
    assert seen(lambda s: s.ffn_bias, "llama")
    assert seen(lambda s: s.num_experts_per_tok == s.num_experts > 1)
    assert seen(lambda s: s.num_experts == 1)
    for fam in ("qwen2", "qwen3", "qwen2_moe", "gpt_oss", "llama4_text"):
        assert seen(lambda s: 0 < len(s.sliding_window_layers) < s.num_hidden_layers, fam), fam
    assert seen(lambda s: s.num_mtp_layers == 2, "deepseek_v3")
    # the families of the family table
    for fam in family_configs.GENERATORS:
        # MLA has no head_dim; these derive it as hidden / heads in transformers (Helium's
        # o_proj needs it)
        if fam not in ("glm4_moe_lite", "granite", "phi3", "starcoder2", "cohere", "cohere2",
                       "gpt_neox", "helium", "gpt2", "gpt_bigcode", "falcon", "granite_swa",
                       "jais2", "phi", "gptj", "codegen", "gpt_neo", "persimmon", "minicpm3",
                       "sarvam_mla", "youtu", "stablelm", "mpt", "opt", "bloom", "xglm",
                       "biogpt", "bitnet", "gpt-sw3", "openai-gpt", "ctrl"):
            assert seen(lambda s: s.head_dim * s.num_attention_heads != s.hidden_size, fam), fam
    for fam in ("ernie4_5_moe", "dots1", "exaone_moe", "glm4_moe_lite", "granitemoeshared",
                "cohere2_moe"):
        assert seen(lambda s: s.num_shared_experts == 0, fam), fam
        assert seen(lambda s: s.num_shared_experts > 0, fam), fam
    for fam in ("ernie4_5_moe", "dots1", "exaone_moe", "glm4_moe_lite", "cohere2_moe"):
        assert seen(lambda s: 0 < s.num_moe_layers < s.num_hidden_layers, fam), fam
        assert seen(lambda s: s.num_moe_layers == s.num_hidden_layers, fam), fam
    for fam in ("dots1", "exaone_moe", "smollm3"):
        assert seen(lambda s: 0 < len(s.sliding_window_layers) < s.num_hidden_layers, fam), fam
    assert seen(lambda s: s.attention_out_bias and s.ffn_bias, "smollm3")
    assert seen(lambda s: s.attention_bias and not s.attention_out_bias, "helium")
    # Falcon: one norm (parallel) or two (sequential, or the new architecture)
    assert seen(lambda s: s.norms_per_layer == 1, "falcon")
    assert seen(lambda s: s.norms_per_layer == 2, "falcon")
    assert seen(lambda s: any("ALiBi" in x for x in s.notes), "falcon")
    assert seen(lambda s: 1 == s.num_key_value_heads < s.num_attention_heads, "falcon")
    assert seen(lambda s: 1 == s.num_key_value_heads < s.num_attention_heads, "gpt_bigcode")
    assert seen(lambda s: s.qk_norm == "head" and s.tie_word_embeddings, "phi")
    assert seen(lambda s: 1 < s.num_key_value_heads == s.num_attention_heads, "gpt_bigcode")
    assert seen(lambda s: s.ffn_bias and s.lm_head_bias and s.tie_word_embeddings,
                "ernie4_5_moe")
    # the families moved out of coverage.py's not_yet
    assert seen(lambda s: s.embedding_norm, "bloom")
    assert seen(lambda s: s.sub_norms and s.attention_bias, "bitnet")
    assert seen(lambda s: not s.final_norm and s.position_embeddings, "openai-gpt")
    assert seen(lambda s: s.lm_head_bias and s.tie_word_embeddings, "ctrl")
    assert seen(lambda s: s.lm_head_bias and not s.tie_word_embeddings, "ctrl")
    assert seen(lambda s: s.moe_output_norm and 0 < s.num_moe_layers < s.num_hidden_layers,
                "axk1")
    assert seen(lambda s: s.intermediate_size != 4 * s.hidden_size, "gpt-sw3")
    assert seen(lambda s: s.position_embeddings, "biogpt")


def test_one_expert_mixtral_is_mistral_plus_router():
    """transformers' Mixtral with E = k = 1 is its Mistral plus a 1-output router per layer, and
    our counts agree with both (the dense == one-expert-MoE invariant, against the oracle)."""
    for cfg in random_configs("mistral", 6):
        moe_cfg = {**cfg, "model_type": "mixtral", "num_local_experts": 1,
                   "num_experts_per_tok": 1}
        dense, moe = hf_oracle.build(cfg), hf_oracle.build(moe_cfg)
        L, h = cfg["num_hidden_layers"], cfg["hidden_size"]
        assert hf_oracle.numel(moe) == hf_oracle.numel(dense) + L * h
        d = count_params(spec_from_hf_config(cfg))
        m = count_params(spec_from_hf_config(moe_cfg))
        assert (d.total, m.total, m.active) == (hf_oracle.numel(dense), hf_oracle.numel(moe),
                                                 hf_oracle.numel(moe))


@pytest.mark.parametrize("model_type", sorted(family_configs.GENERATORS))
def test_weights_and_training_params_equal_the_count(model_type):
    """Inference weight bytes (bf16) and the parameters one training GPU holds without model
    parallelism both add up to the count checked above against transformers: learned positions,
    BLOOM's embedding norm, GPT-1's missing final norm, a tied lm_head's own bias (CTRL) and
    A.X-K1's MoE output norms included."""
    from estimator import load_model

    for cfg in family_configs.random_configs(model_type, 4, salt="sums"):
        family_configs.assert_weights_and_training_params_add_up(load_model(cfg))


def test_aria_zero_shared_experts_with_mlp_bias_is_refused_naming_the_field():
    """transformers builds Aria's shared MLP even at zero width: with ``mlp_bias`` its down_proj
    keeps an h-wide bias per layer, which the spec cannot say, so the loader refuses it by name
    (and loads the same config without the bias exactly)."""
    cfg = {"model_type": "aria_text", "hidden_size": 16, "num_hidden_layers": 2,
           "num_attention_heads": 2, "vocab_size": 50, "intermediate_size": 8,
           "moe_num_experts": 2, "moe_topk": 1, "moe_num_shared_experts": 0, "mlp_bias": True}
    model = hf_oracle.build(cfg)
    shared = sum(p.numel() for n, p in model.named_parameters() if ".shared_experts." in n)
    assert shared == 2 * 16  # the two down_proj biases
    with pytest.raises(EstimatorError, match="moe_num_shared_experts=0"):
        spec_from_hf_config(cfg)
    cfg["mlp_bias"] = False
    assert count_params(spec_from_hf_config(cfg)).total == hf_oracle.numel(hf_oracle.build(cfg))
