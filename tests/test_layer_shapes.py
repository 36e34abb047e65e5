"""Exactness for families whose attention shapes, K/V ownership and inputs differ by layer
(Gemma-4, MiMo-V2-Flash, Laguna: tests/layer_shape_configs.py). Parameters are checked with every
other family in tests/test_params_hf.py; here, on the same random configs:

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

import layer_shape_configs  # noqa: E402

from estimator.flops import forward_flops  # noqa: E402
from estimator.hf import spec_from_hf_config  # noqa: E402
from estimator.memory import kv_cache_bytes  # noqa: E402

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


@pytest.mark.parametrize("model_type", sorted(layer_shape_configs.GENERATORS))
def test_weights_and_training_params_equal_the_count(model_type):
    """Inference weight bytes (bf16) and the parameters one training GPU holds without model
    parallelism both add up to the count checked against transformers (per-layer embedding
    table, double-wide MLPs, K/V-sharing layers and the MoE block's extra norms included); at
    pp = 2 the stages' weights add up to the same (plus the tied head's second copy)."""
    from estimator import load_model, make_options, training
    from estimator.hardware import get_gpu
    from estimator.memory import stage_weight_bytes, weight_bytes, weight_formats
    from estimator.params import count_params

    for cfg in layer_shape_configs.random_configs(model_type, 6, salt="sums"):
        m = load_model(cfg)
        pc = count_params(m.spec)
        assert sum(weight_bytes(m.spec, "bf16").values()) == 2 * (pc.total + pc.buffers), cfg
        w = training.compute_memory(m, make_options(), get_gpu("h100-sxm")).worst
        assert w.params_non_expert + w.params_expert == pc.total, cfg
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
