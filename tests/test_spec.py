"""Bad input is refused with an error naming the field and the value; invariants of the counts.

Rejections are checked both on :class:`ModelSpec` itself and through the Hugging Face importer
(what a user's config.json goes through). Invariants (STYLE.md §7): a one-expert top-1 MoE block
is the dense FFN plus its router; total parameters do not depend on k; active ≤ total, and
active is linear in k with active == total at k == E.
"""

from __future__ import annotations

import copy
import math

import pytest
from hf_minimal import REQUIRED, minimal

from estimator.errors import EstimatorError
from estimator.hf import DEFAULTS, SUPPORTED_MODEL_TYPES, spec_from_hf_config
from estimator.params import count_params, router_params
from estimator.spec import MAX_DIM, MLA, MoA, ModelSpec

BASE = dict(name="t", model_type="custom", num_hidden_layers=4, hidden_size=64, vocab_size=100,
            num_attention_heads=8, num_key_value_heads=2, intermediate_size=96)
MOE = dict(BASE, num_experts=8, num_experts_per_tok=2, moe_intermediate_size=32,
           moe_layers=(0, 1, 2, 3))
MLA_OK = MLA(q_lora_rank=16, kv_lora_rank=8, qk_nope_head_dim=4, qk_rope_head_dim=2,
             v_head_dim=4)


def _raises(field: str, value, fn, *args, **kw) -> EstimatorError:
    with pytest.raises(EstimatorError) as e:
        fn(*args, **kw)
    err = e.value
    assert err.field == field, str(err)
    text = str(err)
    assert text.startswith(f"{field}="), text
    if not (isinstance(value, float) and math.isnan(value)):
        assert repr(value)[:40] in text, text
    return err


# ----------------------------------------------------------------------------------------------
# ModelSpec: impossible values
# ----------------------------------------------------------------------------------------------

SPEC_BAD = [
    # (base, changes, field, value)
    (BASE, dict(num_hidden_layers=0), "num_hidden_layers", 0),
    (BASE, dict(num_hidden_layers=-3), "num_hidden_layers", -3),
    (BASE, dict(hidden_size=0), "hidden_size", 0),
    (BASE, dict(vocab_size=-1), "vocab_size", -1),
    (BASE, dict(num_attention_heads=0), "num_attention_heads", 0),
    (BASE, dict(num_key_value_heads=0), "num_key_value_heads", 0),
    (BASE, dict(head_dim=-8), "head_dim", -8),
    (BASE, dict(intermediate_size=-1), "intermediate_size", -1),
    (BASE, dict(intermediate_size=0), "intermediate_size", 0),  # dense layers need a width
    (BASE, dict(hidden_size=MAX_DIM + 1), "hidden_size", MAX_DIM + 1),
    (BASE, dict(num_mtp_layers=-1), "num_mtp_layers", -1),
    (BASE, dict(sliding_window=0), "sliding_window", 0),
    (BASE, dict(max_position_embeddings=0), "max_position_embeddings", 0),
    # heads
    (BASE, dict(hidden_size=60), "num_attention_heads", 8),  # 60 % 8 without head_dim
    (BASE, dict(num_key_value_heads=3), "num_key_value_heads", 3),  # 8 % 3
    (BASE, dict(num_key_value_heads=16), "num_key_value_heads", 16),  # kv > heads
    # wrong types
    (BASE, dict(hidden_size="64"), "hidden_size", "64"),
    (BASE, dict(hidden_size=64.0), "hidden_size", 64.0),
    (BASE, dict(hidden_size=True), "hidden_size", True),
    (BASE, dict(hidden_size=None), "hidden_size", None),
    (BASE, dict(num_hidden_layers=float("nan")), "num_hidden_layers", float("nan")),
    (BASE, dict(vocab_size=[100]), "vocab_size", [100]),
    (BASE, dict(tie_word_embeddings=1), "tie_word_embeddings", 1),
    (BASE, dict(attention_bias="yes"), "attention_bias", "yes"),
    (BASE, dict(norm_type="batchnorm"), "norm_type", "batchnorm"),
    (BASE, dict(qk_norm="l2"), "qk_norm", "l2"),
    (BASE, dict(name=3), "name", 3),
    (BASE, dict(model_type=None), "model_type", None),
    (BASE, dict(max_position_embeddings="long"), "max_position_embeddings", "long"),
    # MoE
    (MOE, dict(num_experts_per_tok=9), "num_experts_per_tok", 9),  # k > E
    (MOE, dict(num_experts_per_tok=0), "num_experts_per_tok", 0),  # k = 0 for MoE
    (MOE, dict(num_experts=-1), "num_experts", -1),
    (MOE, dict(num_experts=8.0), "num_experts", 8.0),
    (MOE, dict(num_experts_per_tok=float("nan")), "num_experts_per_tok", float("nan")),
    (MOE, dict(moe_intermediate_size=0), "moe_intermediate_size", 0),
    (MOE, dict(num_experts=0, num_experts_per_tok=0), "moe_layers", (0, 1, 2, 3)),
    (BASE, dict(num_experts_per_tok=2), "num_experts_per_tok", 2),  # k without experts
    (MOE, dict(moe_layers=(0, 4)), "moe_layers", 4),  # out of range
    (MOE, dict(moe_layers=(-1,)), "moe_layers", -1),
    (MOE, dict(moe_layers=(0, 0, 1)), "moe_layers", (0, 0, 1)),  # duplicated
    (MOE, dict(moe_layers=("0",)), "moe_layers", "0"),
    (MOE, dict(moe_layers=[0, 1]), "moe_layers", [0, 1]),  # must be a tuple
    (MOE, dict(num_shared_experts=1), "shared_expert_intermediate_size", 0),
    (MOE, dict(shared_expert_intermediate_size=64), "num_shared_experts", 0),
    (MOE, dict(num_shared_experts=-1), "num_shared_experts", -1),
    # sliding windows
    (BASE, dict(sliding_window=16, sliding_window_layers=(4,)), "sliding_window_layers", 4),
    (BASE, dict(sliding_window_layers=(0,)), "sliding_window", None),
    # MLA / MoA
    (BASE, dict(mla=MLA(0, 8, 4, 2, 4)), "q_lora_rank", 0),
    (BASE, dict(mla=MLA(None, 0, 4, 2, 4)), "kv_lora_rank", 0),
    (BASE, dict(mla=MLA(None, 8, 4, 2, 0)), "v_head_dim", 0),
    (BASE, dict(mla=MLA(None, 8, 0, 0, 4)), "qk_nope_head_dim", 0),
    (BASE, dict(mla=MLA("16", 8, 4, 2, 4)), "q_lora_rank", "16"),
    (MOE, dict(moa=MoA(num_experts=4, top_k=5)), "moa.top_k", 5),
    (MOE, dict(moa=MoA(num_experts=0, top_k=1)), "moa.num_experts", 0),
]


@pytest.mark.parametrize("base,changes,field,value", SPEC_BAD,
                         ids=[f"{f}={v!r}" for _, _, f, v in SPEC_BAD])
def test_spec_rejects(base, changes, field, value):
    _raises(field, value, ModelSpec, **{**base, **changes})


def test_spec_accepts_the_bases():
    for base in (BASE, MOE):
        ModelSpec(**base)
    ModelSpec(**dict(BASE, mla=MLA_OK, num_key_value_heads=8))
    ModelSpec(**dict(BASE, hidden_size=60, head_dim=8))  # explicit head_dim lifts divisibility


def test_replace_validates():
    _raises("num_experts_per_tok", 9, ModelSpec(**MOE).replace, num_experts_per_tok=9)


# ----------------------------------------------------------------------------------------------
# the Hugging Face importer: what a config.json goes through
# ----------------------------------------------------------------------------------------------

def test_unknown_model_type_says_where_the_supported_list_is():
    """The message names the field, why, and where all the supported names are (not all 130+
    of them: that buried the reason)."""
    err = str(_raises("model_type", "reformer", spec_from_hf_config,
                      {"model_type": "reformer"}))
    assert "list --families" in err and f"{len(SUPPORTED_MODEL_TYPES)} model_type" in err
    assert "\n" not in err and len(err) < 600


def test_unknown_model_type_says_why_and_how_to_write_a_custom_spec():
    err = str(_raises("model_type", "qwen4_exp", spec_from_hf_config,
                      {"model_type": "qwen4_exp"}))
    assert "Hybrids section" in err and "model_type: custom" in err
    err = str(_raises("model_type", "my_llm", spec_from_hf_config,
                      {"model_type": "my_llm", "architectures": ["MyLlmForCausalLM"]}))
    assert "model_type: custom" in err


def test_architectures_fallback_reads_the_named_family():
    """Kimi-K2 ships ``model_type: kimi_k2`` with ``architectures: [DeepseekV3ForCausalLM]``: it
    loads as deepseek_v3, counts as the deepseek_v3 config would, and says so in its notes."""
    cfg = minimal("deepseek_v3")
    ref = spec_from_hf_config(cfg)
    kimi = spec_from_hf_config({**cfg, "model_type": "kimi_k2",
                                "architectures": ["DeepseekV3ForCausalLM"]})
    assert kimi == ref.replace(model_type="deepseek_v3")
    assert count_params(kimi) == count_params(ref)
    assert any("kimi_k2" in n and "DeepseekV3ForCausalLM" in n for n in kimi.notes)
    assert not any("kimi_k2" in n for n in ref.notes)
    # a known model_type is never overridden by its architectures
    assert spec_from_hf_config({**cfg, "architectures": ["LlamaForCausalLM"]}) == ref


def test_real_context_lengths_load_and_absurd_ones_are_refused():
    """Llama-4-Scout-17B-16E-Instruct's config.json has max_position_embeddings = 10,485,760."""
    cfg = {"model_type": "llama4", "text_config": dict(REQUIRED["llama4_text"],
                                                       max_position_embeddings=10_485_760)}
    assert spec_from_hf_config(cfg).max_position_embeddings == 10_485_760
    cfg["text_config"]["max_position_embeddings"] = 10**13
    err = str(_raises("max_position_embeddings", 10**13, spec_from_hf_config, cfg))
    assert "must be <=" in err
    _raises("sliding_window", 10**13, spec_from_hf_config,
            dict(minimal("mistral"), sliding_window=10**13))


def test_missing_or_odd_model_type():
    err = _raises("model_type", None, spec_from_hf_config, {"hidden_size": 64})
    assert "missing" in str(err) and "list --families" in str(err)
    _raises("model_type", ["llama"], spec_from_hf_config, {"model_type": ["llama"]})
    _raises("config", "list", spec_from_hf_config, [("model_type", "llama")])


def test_llama4_needs_text_config():
    _raises("text_config", None, spec_from_hf_config, {"model_type": "llama4"})
    _raises("text_config", "x", spec_from_hf_config, {"model_type": "llama4", "text_config": "x"})
    cfg = {"model_type": "llama4", "text_config": dict(REQUIRED["llama4_text"])}
    del cfg["text_config"]["vocab_size"]
    _raises("text_config.vocab_size", None, spec_from_hf_config, cfg)


REQUIRED_FIELDS = [(f, k) for f in sorted(REQUIRED) for k in REQUIRED[f]
                   if not (f == "dbrx" and k == "ffn_config")]


@pytest.mark.parametrize("family,key", REQUIRED_FIELDS,
                         ids=[f"{f}.{k}" for f, k in REQUIRED_FIELDS])
def test_each_required_field_is_required(family, key):
    """Dropping (or nulling) any one required field is an error naming it, never a default."""
    cfg = minimal(family)
    spec_from_hf_config(cfg)  # the full minimal dict is fine
    del cfg[key]
    err = _raises(key, None, spec_from_hf_config, cfg)
    assert family in str(err) and "missing" in str(err)
    _raises(key, None, spec_from_hf_config, {**minimal(family), key: None})


@pytest.mark.parametrize("key", sorted(REQUIRED["dbrx"]["ffn_config"]))
def test_each_required_dbrx_ffn_field_is_required(key):
    cfg = minimal("dbrx")
    cfg["ffn_config"] = {k: v for k, v in cfg["ffn_config"].items() if k != key}
    _raises(f"ffn_config.{key}", None, spec_from_hf_config, cfg)


def test_dbrx_needs_ffn_config():
    cfg = minimal("dbrx")
    del cfg["ffn_config"]
    _raises("ffn_config", None, spec_from_hf_config, cfg)


def test_dense_width_required_only_when_dense_layers_exist():
    cfg = minimal("deepseek_v2")  # first_k_dense_replace defaults to 0: no dense layer
    spec_from_hf_config(cfg)
    _raises("intermediate_size", None, spec_from_hf_config, {**cfg, "first_k_dense_replace": 1})
    cfg = minimal("qwen3_moe")
    _raises("intermediate_size", None, spec_from_hf_config, {**cfg, "mlp_only_layers": [1]})
    cfg = minimal("llama4_text")
    _raises("intermediate_size_mlp", None, spec_from_hf_config,
            {**cfg, "interleave_moe_layer_step": 2})


def _with(family: str, **changes) -> dict:
    cfg = copy.deepcopy(minimal(family))
    cfg.update(changes)
    return cfg


HF_BAD = [
    # (config, field, value)
    (_with("llama", hidden_size="64"), "hidden_size", "64"),
    (_with("llama", hidden_size=64.5), "hidden_size", 64.5),
    (_with("llama", num_hidden_layers=True), "num_hidden_layers", True),
    (_with("llama", num_hidden_layers=float("nan")), "num_hidden_layers", float("nan")),
    (_with("llama", vocab_size=0), "vocab_size", 0),
    (_with("llama", num_attention_heads=-4), "num_attention_heads", -4),
    (_with("llama", hidden_size=63), "num_attention_heads", 32),
    (_with("llama", num_key_value_heads=5), "num_key_value_heads", 5),
    (_with("llama", num_key_value_heads=64), "num_key_value_heads", 64),
    (_with("llama", num_key_value_heads="8"), "num_key_value_heads", "8"),
    (_with("llama", head_dim=2.5), "head_dim", 2.5),
    (_with("llama", tie_word_embeddings="true"), "tie_word_embeddings", "true"),
    (_with("llama", attention_bias=1), "attention_bias", 1),
    (_with("mixtral", num_experts_per_tok=5), "num_experts_per_tok", 5),
    (_with("mixtral", num_experts_per_tok=0), "num_experts_per_tok", 0),
    (_with("mixtral", num_local_experts=0), "num_local_experts", 0),
    (_with("mixtral", num_local_experts="8"), "num_local_experts", "8"),
    (_with("mixtral", sliding_window="4k"), "sliding_window", "4k"),
    (_with("gpt_oss", num_experts_per_tok=float("nan")), "num_experts_per_tok", float("nan")),
    (_with("deepseek_v3", n_routed_experts=1), "num_experts_per_tok", 2),
    (_with("deepseek_v3", first_k_dense_replace=-1), "first_k_dense_replace", -1),
    (_with("deepseek_v3", moe_layer_freq=0), "moe_layer_freq", 0),
    (_with("deepseek_v3", n_shared_experts=-1), "n_shared_experts", -1),
    (_with("deepseek_v3", kv_lora_rank=0), "kv_lora_rank", 0),
    (_with("deepseek_v3", q_lora_rank=0), "q_lora_rank", 0),
    (_with("glm4_moe", use_qk_norm="no"), "use_qk_norm", "no"),
    (_with("qwen2_moe", decoder_sparse_step=0), "decoder_sparse_step", 0),
    (_with("qwen2_moe", mlp_only_layers=[9]), "mlp_only_layers", 9),
    (_with("qwen2_moe", mlp_only_layers="0"), "mlp_only_layers", "0"),
    (_with("qwen2_moe", shared_expert_intermediate_size=-1), "shared_expert_intermediate_size", -1),
    (_with("qwen3_moe", num_experts=-2), "num_experts", -2),
    (_with("qwen2", use_sliding_window=True, sliding_window=-5), "sliding_window", -5),
    (_with("qwen2", layer_types=["full_attention"]), "layer_types", ["full_attention"]),
    (_with("llama4_text", moe_layers=[0, 0], intermediate_size_mlp=80), "moe_layers", (0, 0)),
    (_with("llama4_text", moe_layers=[4]), "moe_layers", 4),
    (_with("llama4_text", interleave_moe_layer_step=0), "interleave_moe_layer_step", 0),
    (_with("olmoe", head_dim=4), "head_dim", 4),
    (_with("dbrx", tie_word_embeddings=True), "tie_word_embeddings", True),
    (_with("dbrx", attn_config=[1]), "attn_config", [1]),
    (_with("dbrx", ffn_config=dict(ffn_hidden_size=48, moe_num_experts=4, moe_top_k=5)),
     "ffn_config.moe_top_k", 5),
    (_with("jetmoe", num_experts_per_tok=9), "num_experts_per_tok", 9),
    (_with("jetmoe", kv_channels=0), "kv_channels", 0),
    (_with("jetmoe", head_dim=0), "head_dim", 0),  # JetMoeConfig.attribute_map: an alias
    (_with("llama", head_dim=0), "head_dim", 0),
]


@pytest.mark.parametrize("cfg,field,value", HF_BAD,
                         ids=[f"{c['model_type']}.{f}={v!r}" for c, f, v in HF_BAD])
def test_hf_importer_rejects(cfg, field, value):
    _raises(field, value, spec_from_hf_config, cfg)


def test_llama4_wrapper_errors_name_the_text_config_path():
    cfg = {"model_type": "llama4", "text_config": _with("llama4_text", num_experts_per_tok=9)}
    _raises("text_config.num_experts_per_tok", 9, spec_from_hf_config, cfg)


# ----------------------------------------------------------------------------------------------
# invariants
# ----------------------------------------------------------------------------------------------

def test_dense_equals_one_expert_top1_moe_plus_router():
    """A one-expert, top-1 MoE block whose expert has the dense width is the dense FFN plus its
    router (h·1 per layer): total and active alike (megablocks' one-expert test)."""
    variants = [dict(), dict(tie_word_embeddings=True), dict(attention_bias=True, ffn_bias=True),
                dict(mla=MLA_OK, num_key_value_heads=8), dict(norm_type="layernorm",
                                                               norm_bias=True)]
    for extra in variants:
        dense = ModelSpec(**{**BASE, **extra})
        layers = tuple(range(BASE["num_hidden_layers"]))
        moe = dense.replace(num_experts=1, num_experts_per_tok=1, moe_layers=layers,
                            moe_intermediate_size=dense.intermediate_size,
                            expert_bias=dense.ffn_bias)
        d, m = count_params(dense), count_params(moe)
        router = len(layers) * router_params(moe)
        assert router == len(layers) * dense.hidden_size
        assert m.routed_experts == d.dense_ffn and m.dense_ffn == 0
        assert m.total == d.total + router
        assert m.active == d.active + router
        assert m.routed_inactive == 0


def _moe_specs() -> list[ModelSpec]:
    """MoE specs of every MoE family (minimal configs) plus hand-built variants."""
    specs = []
    for family in sorted(REQUIRED):
        spec = spec_from_hf_config(minimal(family))
        if spec.is_moe:
            specs.append(spec)
    specs.append(ModelSpec(**dict(MOE, num_shared_experts=2, shared_expert_intermediate_size=64,
                                  moe_layers=(1, 3))))
    specs.append(ModelSpec(**dict(MOE, mla=MLA_OK, num_key_value_heads=8)))
    return specs


def _with_k(spec: ModelSpec, k: int) -> ModelSpec:
    if spec.moa is not None:  # JetMoE routes its attention experts with the same k
        return spec.replace(num_experts_per_tok=k, moa=MoA(spec.moa.num_experts, k),
                            num_attention_heads=k * spec.num_key_value_heads)
    if spec.num_zero_experts:  # LongCat-Flash: k real experts among the router's picks
        return spec.replace(num_experts_per_tok=k, router_top_k=max(spec.router_top_k, k))
    return spec.replace(num_experts_per_tok=k)


def test_moe_families_are_covered():
    assert {s.model_type for s in _moe_specs()} >= {
        "mixtral", "phimoe", "granitemoe", "olmoe", "qwen2_moe", "qwen3_moe", "deepseek_v2",
        "deepseek_v3", "glm4_moe", "gpt_oss", "llama4_text", "dbrx", "jetmoe"}


@pytest.mark.parametrize("spec", _moe_specs(), ids=lambda s: s.model_type)
def test_total_independent_of_k_and_active_linear_in_k(spec):
    E = spec.num_experts
    counts = [count_params(_with_k(spec, k)) for k in range(1, E + 1)]
    totals = {c.total for c in counts}
    assert len(totals) == 1
    total = totals.pop()
    actives = [c.active for c in counts]
    assert all(a <= total for a in actives)
    assert actives[-1] == total  # k == E: every expert is used
    steps = {b - a for a, b in zip(actives, actives[1:])}
    assert len(steps) <= 1 and all(s > 0 for s in steps)  # linear and increasing in k
    for c in counts:
        assert c.active_without_embedding <= c.active
        assert c.active_non_embedding <= c.active_without_embedding


def test_every_family_has_defaults_and_a_minimal_config():
    assert set(DEFAULTS) == set(REQUIRED)


def test_a_pruned_head_is_a_prefix_of_an_untied_vocabulary():
    """Apertus-1.5's output_vocab_size: above vocab_size, or with a tied head (whose weight is
    the embedding's, all vocab_size rows), it names the field; equal to vocab_size it is the
    unpruned head, as Apertus1p5TextConfig normalizes it."""
    cfg = dict(minimal("apertus1p5_text"), output_vocab_size=10**3)
    assert "vocab_size=101" in str(_raises("output_vocab_size", 1000, spec_from_hf_config, cfg))
    cfg.update(output_vocab_size=50, tie_word_embeddings=True)
    assert "tie_word_embeddings" in str(_raises("output_vocab_size", 50, spec_from_hf_config,
                                                cfg))
    cfg.update(output_vocab_size=101)
    assert spec_from_hf_config(cfg).output_vocab_size == 0


def test_a_wrapper_of_a_supported_language_model_says_how_to_load_it():
    """Apertus-1.5 ships a wrapper config (model_type apertus1p5) around a supported text
    model: the refusal says to pass the text_config with its model_type, and doing so loads."""
    for wrapper, text in (("apertus1p5", "apertus1p5_text"),):
        tc = dict(minimal(text))
        tc.pop("model_type")  # as a wrapper's file may leave it to the wrapper
        err = str(_raises("model_type", wrapper, spec_from_hf_config,
                          {"model_type": wrapper, "text_config": tc}))
        assert f'"model_type": "{text}"' in err
        assert spec_from_hf_config({**tc, "model_type": text}).model_type == text
    # a model_type that is no string, beside a text_config, is still one named error
    _raises("model_type", ["apertus1p5"], spec_from_hf_config,
            {"model_type": ["apertus1p5"], "text_config": {"model_type": ["x"]}})
