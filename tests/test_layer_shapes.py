"""Exactness for families whose attention shapes, K/V ownership and inputs differ by layer
(Gemma-4, Gemma-3n, MiMo-V2-Flash, Laguna: tests/layer_shape_configs.py). Parameters are
checked with every other family in tests/test_params_hf.py; here, on the same random configs:

* forward FLOPs == ``FlopCounterMode`` on transformers' eager implementation (full attention
  convention, lm_head on every position), below and above the sliding window;
* KV-cache bytes == the cache tensors transformers holds after a ``use_cache=True`` forward
  (K/V-sharing layers cache nothing; full layers at their own head dim and K/V heads).
"""

from __future__ import annotations

import copy
import warnings

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("transformers")

import family_configs  # noqa: E402
import layer_shape_configs  # noqa: E402

from estimator.flops import forward_flops  # noqa: E402
from estimator.hf import spec_from_hf_config  # noqa: E402
from estimator.memory import kv_cache_bytes  # noqa: E402
from estimator.params import count_params  # noqa: E402

CASES = [(mt, cfg) for mt in sorted(layer_shape_configs.GENERATORS)
         for cfg in layer_shape_configs.random_configs(mt, 6, salt="exact")]


def _build(cfg: dict):
    from transformers import AutoConfig, AutoModelForCausalLM

    d = copy.deepcopy(cfg)
    mt = d.pop("model_type")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(
            AutoConfig.for_model(mt, **d), attn_implementation="eager",
            experts_implementation="eager", dtype=torch.float32)
    return model.eval().requires_grad_(False)


@pytest.mark.parametrize("model_type,cfg", CASES, ids=[f"{mt}-{i}" for i, (mt, _) in
                                                        enumerate(CASES)])
def test_flops_and_kv_cache_equal_transformers(model_type, cfg):
    from torch.utils.flop_counter import FlopCounterMode

    torch.set_num_threads(1)
    model, spec = _build(cfg), spec_from_hf_config(cfg)
    for seq in (4, 9):  # the windows (3, 5, 6, 40) straddle these lengths
        ids = torch.randint(0, spec.vocab_size, (2, seq),
                            generator=torch.Generator().manual_seed(1))
        counter = FlopCounterMode(display=False)
        with counter:
            model(input_ids=ids, use_cache=False)
        assert forward_flops(spec, 2, seq).total == counter.get_total_flops(), (seq, cfg)
        with torch.no_grad():
            cache = model(input_ids=ids, use_cache=True).past_key_values
        measured = sum(t.numel() * t.element_size() for layer in cache.layers
                       for t in (layer.keys, layer.values) if t is not None)
        assert kv_cache_bytes(spec, 2, seq, "fp32", "engine") == measured, (seq, cfg)


def test_random_configs_cover_the_quirks():
    specs = [spec_from_hf_config(c) for c in layer_shape_configs.random_configs(
        "gemma4_text", 12, salt="exact")]
    assert any(s.kv_shared_layers and s.wide_ffn_layers for s in specs)
    assert any(s.full_attention_k_eq_v and s.full_attention_kv_heads for s in specs)
    assert any(s.full_attention_head_dim != s.head_dim for s in specs)
    assert any(s.per_layer_input_size for s in specs)
    assert any(not s.per_layer_input_size for s in specs)
    assert any(s.moe_beside_dense for s in specs)
    assert any(0 < len(s.sliding_window_layers) < s.num_hidden_layers for s in specs)
    mimo = [spec_from_hf_config(c) for c in layer_shape_configs.random_configs(
        "mimo_v2_flash", 6, salt="exact")]
    assert any(s.sliding_layer_sinks and s.full_attention_kv_heads * 2
               == s.num_key_value_heads for s in mimo)
    assert any(0 < s.num_moe_layers < s.num_hidden_layers for s in mimo)
    assert any(s.attention_v_head_dim != s.head_dim for s in mimo)
    assert any(s.attention_bias for s in mimo)
    unified = [spec_from_hf_config(c) for c in layer_shape_configs.random_configs(
        "gemma4_unified_text", 6, salt="exact")]
    assert any(s.kv_shared_layers and s.wide_ffn_layers for s in unified)
    laguna = [spec_from_hf_config(c) for c in layer_shape_configs.random_configs(
        "laguna", 6, salt="exact")]
    assert any(len(set(s.layer_query_heads)) > 1 for s in laguna)
    assert {s.attention_gate_proj for s in laguna} == {"head", "channel"}
    assert any(0 < s.num_moe_layers < s.num_hidden_layers for s in laguna)
    assert any(s.sliding_window_layers for s in laguna)
    g3n = layer_shape_configs.random_configs("gemma3n_text", 6, salt="exact")
    specs = [spec_from_hf_config(c) for c in g3n]
    assert any(s.kv_shared_layers for s in specs) and any(not s.kv_shared_layers for s in specs)
    assert {s.altup_num_inputs for s in specs} > {1}  # one stream and several
    assert any(max(c["activation_sparsity_pattern"]) > 0 for c in g3n)  # the top-k runs
    assert any(isinstance(c["intermediate_size"], list) for c in g3n)
    assert any(0 < len(s.sliding_window_layers) < s.num_hidden_layers for s in specs)


def test_gemma3n_refuses_what_it_cannot_express():
    """One clear line naming the field: MLP widths that differ by layer (MatFormer slices),
    K/V-sharing layers without an earlier producer of their kind (transformers'
    ``kv_sharing_modes`` raises too), an active AltUp stream out of range."""
    from estimator.errors import EstimatorError

    base = {"model_type": "gemma3n_text", "num_hidden_layers": 5, "hidden_size": 16,
            "num_attention_heads": 2, "vocab_size": 50, "intermediate_size": 32,
            "num_kv_shared_layers": 0}
    spec_from_hf_config(base)
    for bad, field in (({"intermediate_size": [32, 32, 64, 32, 32]}, "intermediate_size"),
                       ({"num_kv_shared_layers": 1}, "num_kv_shared_layers"),
                       ({"altup_num_inputs": 2, "altup_active_idx": 2}, "altup_active_idx"),
                       ({"activation_sparsity_pattern": [0.95]}, "activation_sparsity_pattern")):
        with pytest.raises(EstimatorError) as e:
            spec_from_hf_config({**base, **bad})
        assert e.value.field == field


@pytest.mark.parametrize("model_type", sorted(layer_shape_configs.GENERATORS))
def test_weights_and_training_params_equal_the_count(model_type):
    """Inference weight bytes (bf16) and the parameters one training GPU holds without model
    parallelism both add up to the count checked against transformers (per-layer embedding
    table, double-wide MLPs, K/V-sharing layers and the MoE block's extra norms included); at
    pp = 2 the stages' weights add up to the same (plus the tied head's second copy)."""
    from estimator import load_model
    from estimator.memory import stage_weight_bytes, weight_bytes, weight_formats
    from estimator.params import count_params

    for cfg in layer_shape_configs.random_configs(model_type, 6, salt="sums"):
        m = load_model(cfg)
        family_configs.assert_weights_and_training_params_add_up(m)
        pc = count_params(m.spec)
        L = m.spec.num_hidden_layers
        if L < 2:
            continue
        fmts = weight_formats("bf16")
        halves = [stage_weight_bytes(m.spec, None, fmts, hi - lo, 0, lo == 0, hi == L, 1, 2,
                                     layers=(lo, hi)) for lo, hi in ((0, L // 2), (L // 2, L))]
        expert = weight_bytes(m.spec, "bf16")["routed_experts"]  # uniform across layers
        tied = 2 * m.spec.vocab_size * m.spec.hidden_size if m.spec.tie_word_embeddings else 0
        got = sum(v for h in halves for k, v in h.items() if k != "routed_experts")
        assert got + expert == 2 * (pc.total + pc.buffers) + tied, cfg


def _gemma4_wrapper_configs(n: int) -> list[dict]:
    """Gemma-4 multimodal configs: the text model with or without vision and audio encoders
    (odd audio widths included: its heads take ``h // a``)."""
    import random

    rng = random.Random("gemma4-wrapper")
    out = []
    for text in layer_shape_configs.random_configs("gemma4_text", n, salt="wrapper"):
        cfg = {"model_type": "gemma4", "text_config": text}
        if rng.random() < 0.8:
            a = rng.choice([1, 2, 4])
            cfg["vision_config"] = {
                "hidden_size": rng.choice([8, 16, 24]), "intermediate_size": rng.randint(5, 40),
                "num_hidden_layers": rng.randint(1, 3), "num_attention_heads": a,
                "num_key_value_heads": rng.choice([x for x in (1, 2, 4) if a % x == 0]),
                "head_dim": rng.choice([2, 4, 6]), "patch_size": rng.choice([2, 4]),
                "position_embedding_size": rng.randint(5, 50)}
        if rng.random() < 0.7:
            a = rng.choice([1, 2, 4])
            cfg["audio_config"] = {
                "hidden_size": a * rng.choice([4, 6, 8]) + rng.choice([0, 1]),
                "num_hidden_layers": rng.randint(1, 3), "num_attention_heads": a,
                "subsampling_conv_channels": [rng.choice([4, 8, 10]), rng.choice([3, 5])],
                "conv_kernel_size": rng.choice([3, 5]), "output_proj_dims": rng.randint(3, 20)}
        if rng.random() < 0.5:
            cfg["tie_word_embeddings"] = rng.random() < 0.5
        out.append(cfg)
    return out


@pytest.mark.parametrize("cfg", _gemma4_wrapper_configs(8), ids=lambda c: "gemma4")
def test_gemma4_wrapper_equals_transformers(cfg):
    """``Gemma4ForConditionalGeneration`` on the meta device: the vision and audio encoders with
    their embedders equal ``params.vision``; the rest (language model and head) ``total``."""
    import hf_oracle
    import transformers

    hc = hf_oracle.hf_config(cfg)
    with warnings.catch_warnings(), torch.device("meta"):
        warnings.simplefilter("ignore")
        model = transformers.Gemma4ForConditionalGeneration(hc)
    mm = model.model
    towers = sum(hf_oracle.numel(x) for x in (mm.vision_tower, mm.audio_tower, mm.embed_vision,
                                                mm.embed_audio) if x is not None)
    c = count_params(spec_from_hf_config(cfg))
    assert (c.vision, c.total) == (towers, hf_oracle.numel(model) - towers), cfg


@pytest.mark.parametrize("model_type", sorted(layer_shape_configs.GENERATORS))
def test_layer_shaped_custom_spec_round_trips(model_type, tmp_path):
    """A spec with per-layer fields written as a ``custom`` YAML loads back equal (the tuple
    fields come back from YAML lists)."""
    import yaml

    import estimator

    for i, cfg in enumerate(layer_shape_configs.random_configs(model_type, 3, salt="yaml")):
        spec = spec_from_hf_config(cfg)
        d = {**spec.to_dict(), "model_type": "custom"}
        p = tmp_path / f"{i}.yaml"
        p.write_text(yaml.safe_dump(d))
        assert estimator.load_model(str(p)).spec.replace(model_type=model_type) == spec


@pytest.mark.parametrize("i", range(4))
def test_gemma3n_wrapper_language_model_equals_transformers(i):
    """``Gemma3nForConditionalGeneration`` on the meta device, its timm vision tower (timm is
    not installed here) stood in by a one-parameter module: everything but the towers and
    their embedders (``vision_tower``, ``audio_tower``, ``embed_vision``, ``embed_audio``)
    equals ``total`` — the language model and the head the wrapper's ``tie_word_embeddings``
    decides. The towers are left out and said so (params.vision = 0)."""
    from unittest import mock

    import hf_oracle
    import transformers
    import transformers.models.gemma3n.modeling_gemma3n as mg

    real = mg.AutoModel.from_config

    def from_config(config, **kw):
        if config.model_type == "gemma3n_vision":  # TimmWrapperModel needs timm
            return torch.nn.Linear(1, 1, bias=False)
        return real(config, **kw)

    text = layer_shape_configs.random_configs("gemma3n_text", 4, salt="wrapper")[i]
    text = {k: v for k, v in text.items() if k not in ("model_type", "tie_word_embeddings")}
    cfg = {"model_type": "gemma3n", "text_config": text, "tie_word_embeddings": i % 2 == 0}
    hc = hf_oracle.hf_config(cfg)
    with (warnings.catch_warnings(), torch.device("meta"),
          mock.patch.object(mg.AutoModel, "from_config", from_config)):
        warnings.simplefilter("ignore")
        model = transformers.Gemma3nForConditionalGeneration(hc)
    towers = sum(p.numel() for n, p in model.named_parameters() if n.split(".")[1] in
                 ("vision_tower", "audio_tower", "embed_vision", "embed_audio"))
    spec = spec_from_hf_config(cfg)
    c = count_params(spec)
    assert c.total == hf_oracle.numel(model) - towers, cfg
    assert c.vision == 0 and any("not counted" in n for n in spec.notes)
    assert spec.model_type == "gemma3n" and spec.tie_word_embeddings is (i % 2 == 0)


def test_gemma3n_default_config_equals_transformers():
    """transformers' own default ``Gemma3nTextConfig`` (the E4B shape: 35 layers, 15 of them
    sharing K/V, per-layer embeddings of 262,144 x 35 x 256, AltUp over 4 streams, LAuReL of
    rank 64), as its ``to_dict`` writes it, counts like ``Gemma3nForCausalLM`` on the meta
    device; the table of per-layer embeddings is the gap between with and without
    embedding."""
    import hf_oracle
    from transformers import Gemma3nTextConfig

    cfg = Gemma3nTextConfig().to_dict()
    model = hf_oracle.build(cfg)
    c = count_params(spec_from_hf_config(cfg))
    assert c.total == hf_oracle.numel(model)
    assert c.active_with_embedding - c.active_without_embedding == 262_144 * 35 * 256
