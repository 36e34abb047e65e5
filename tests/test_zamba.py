"""Zamba2 (``modeling_zamba2.py``, transformers 5.24) against transformers itself.

* parameters: random configs exercising every switch (schedule, ``num_mem_blocks`` below,
  equal to and above the number of uses, q/k/v adapters on and off, adapter rank, biases,
  Mamba-2 heads/groups/state/conv, GQA without adapters, tied or untied head) built on the
  meta device; the total, the Mamba mixers' own parameters and the shared blocks' (counted once,
  as transformers ties them) must equal ours exactly; the default config too;
* FLOPs: FlopCounterMode on the eager CPU forward — everything outside the Mamba mixers (the
  shared blocks on every use, the per-use linears and adapters, the lm_head) equals our forward
  count without ``sequence_mixers``; the mixers' ``in_proj``/``out_proj`` equal
  ``2·mixer_matrix_params`` per token and layer;
* cache: the K/V tensors transformers' cache holds after a forward (batch 2, two lengths)
  equal ``memory.kv_cache_bytes`` (one K/V per *use*) and the conv/recurrent states
  ``memory.state_bytes`` (one per layer), the latter constant in length;
* vLLM: the KV plan (Mamba page, hybrid block size, groups) against vLLM's Zamba2 model file
  and cache specs, transcribed; the engine section only where vLLM builds the model;
* refusals and bad input: training, tp/pp > 1; adapters with GQA and unknown layer kinds are
  one-line errors naming the field (CLI exit 2).
"""

from __future__ import annotations

import json
import random
import re
import subprocess
import sys

import pytest

from estimator import memory
from estimator.errors import EstimatorError
from estimator.hf import spec_from_hf_config
from estimator.params import count_params


def _flag(rng: random.Random) -> bool:
    return rng.random() < 0.5


def gen_zamba2(rng: random.Random) -> dict:
    """A tiny Zamba2 config transformers accepts and runs (adapters need K/V heads = query
    heads dividing 2h; the Mamba heads divide ``expand·h``, the groups the heads)."""
    L = rng.randint(2, 7)
    kinds = [rng.choice(["mamba", "hybrid", "linear_attention"]) for _ in range(L)]
    if "hybrid" not in kinds:
        kinds[rng.randrange(L)] = "hybrid"
    adapters = _flag(rng)
    a = rng.choice([1, 2, 4])
    g = a if adapters else rng.choice([x for x in (1, 2, 4) if a % x == 0])
    h = a * rng.choice([4, 8]) if adapters else rng.choice([16, 24, 32])
    expand = rng.choice([1, 2])
    H = rng.choice([x for x in (1, 2, 4) if (expand * h) % x == 0])
    return {"vocab_size": rng.randint(37, 131), "hidden_size": h, "layers_block_type": kinds,
            "num_hidden_layers": L,
            "num_attention_heads": a, "num_key_value_heads": g,
            "intermediate_size": rng.choice([None, rng.randint(8, 40)]),
            "mamba_expand": expand, "n_mamba_heads": H,
            "mamba_ngroups": rng.choice([x for x in (1, 2) if H % x == 0]),
            "mamba_d_state": rng.choice([4, 8]), "mamba_d_conv": rng.choice([2, 3, 4]),
            "use_conv_bias": _flag(rng), "add_bias_linear": _flag(rng),
            "num_mem_blocks": rng.randint(1, 3), "use_shared_attention_adapter": adapters,
            "adapter_rank": rng.choice([2, 4, 8]), "tie_word_embeddings": _flag(rng),
            "use_mem_rope": _flag(rng), "chunk_size": 4, "max_position_embeddings": 64,
            "pad_token_id": 0, "bos_token_id": 0, "eos_token_id": 0}


def gen_zamba(rng: random.Random) -> dict:
    """A tiny Zamba-1 config: multi-head Mamba-1 (heads dividing ``expand·h``), one shared
    block, a schedule given or derived from ``attn_layer_period``/``attn_layer_offset``."""
    L = rng.randint(3, 8)
    a = rng.choice([1, 2, 4])
    h = rng.choice([16, 24, 32])
    expand = rng.choice([1, 2])
    d = {"vocab_size": rng.randint(37, 131), "hidden_size": h, "num_hidden_layers": L,
         "num_attention_heads": a, "num_key_value_heads": rng.choice(
             [x for x in (1, 2, 4) if a % x == 0]),
         "intermediate_size": rng.randint(8, 40), "mamba_expand": expand,
         "n_mamba_heads": rng.choice([x for x in (1, 2, 4) if (expand * h) % x == 0]),
         "mamba_d_state": rng.choice([4, 8]), "mamba_d_conv": rng.choice([2, 3, 4]),
         "mamba_dt_rank": rng.choice(["auto", 2, 3]), "mamba_conv_bias": _flag(rng),
         "mamba_proj_bias": _flag(rng), "tie_word_embeddings": _flag(rng),
         "max_position_embeddings": 64, "pad_token_id": 0, "bos_token_id": 0,
         "eos_token_id": 0}
    if _flag(rng):
        d["attention_head_dim"] = rng.choice([4, 6, 8])
    if _flag(rng):
        kinds = [rng.choice(["mamba", "hybrid"]) for _ in range(L)]
        kinds[rng.randrange(L)] = "hybrid"
        d["layers_block_type"] = kinds
    else:
        per = rng.randint(1, 4)
        d.update(attn_layer_period=per, attn_layer_offset=rng.randrange(per))
    if sum(t == "hybrid" for t in _zamba_kinds(d)) == 1:
        d["tie_word_embeddings"] = False  # transformers 5.24 cannot build the tied case (below)
    return d


def _zamba_kinds(d: dict) -> list[str]:
    """ZambaConfig.__post_init__'s schedule for ``d``."""
    if "layers_block_type" in d:
        return d["layers_block_type"]
    per, off = d["attn_layer_period"], d["attn_layer_offset"]
    return ["mamba", "mamba", "hybrid"] + ["hybrid" if i % per == off else "mamba"
                                           for i in range(d["num_hidden_layers"] - 3)]


GENERATORS = {"zamba2": gen_zamba2, "zamba": gen_zamba}
#: the attribute of a hybrid layer that holds the shared block
SHARED = {"zamba2": "shared_transformer", "zamba": "shared_transf"}


def configs(n: int, salt: str) -> list[dict]:
    out = []
    for mt, gen in GENERATORS.items():
        rng = random.Random(f"{mt}-{salt}")
        out += [{"model_type": mt, **gen(rng)} for _ in range(n)]
    return out


def _ids(cases: list[dict]) -> list[str]:
    return [f"{c['model_type']}-{i}" for i, c in enumerate(cases)]


PARAM_CASES = configs(12, "params")


@pytest.mark.parametrize("cfg", PARAM_CASES, ids=_ids(PARAM_CASES))
def test_params_exact(cfg):
    pytest.importorskip("transformers")
    from hf_oracle import build, numel

    model = build(cfg)
    spec = spec_from_hf_config(cfg)
    p = count_params(spec)
    assert p.total == numel(model) == p.active_with_embedding, cfg
    # every layer's Mamba-2 mixer (layers.i.mamba / layers.i.mamba_decoder.mamba)
    mamba = re.compile(r"\.layers\.\d+\.(mamba_decoder\.)?mamba\.")
    assert p.sequence_mixers == sum(t.numel() for n, t in model.named_parameters()
                                    if mamba.search(n)), cfg
    # the shared blocks: what model.parameters() holds of them (tied copies once), split into
    # what is shared (attention, MLP, norms) and what each use owns (adapters) + the linears
    shared = {n: t.numel() for n, t in model.named_parameters()
              if f".{SHARED[cfg['model_type']]}." in n}
    adapters = sum(v for n, v in shared.items() if "_adapter_list." in n)
    linears = sum(t.numel() for n, t in model.named_parameters() if re.search(
        r"\.layers\.\d+\.linear\.", n))
    assert p.attention + p.dense_ffn == sum(
        v for n, v in shared.items() if "_adapter_list." not in n and "layernorm" not in n)
    assert p.other == adapters + linears, cfg
    assert spec.shared_block.uses == tuple(hf_uses(cfg))


def test_zamba_with_one_hybrid_layer_and_tied_embeddings():
    """transformers 5.24 raises building a tied Zamba-1 with one hybrid layer (its
    ``_tied_weights_keys`` regex finds no other block to tie); the same model untied builds, and
    differs only by its own lm_head (one use: nothing else to tie)."""
    pytest.importorskip("transformers")
    from hf_oracle import build, numel

    cfg = {"model_type": "zamba", "hidden_size": 32, "num_hidden_layers": 4,
           "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 50,
           "intermediate_size": 40,
           "layers_block_type": ["mamba", "hybrid", "mamba", "mamba"]}
    with pytest.raises(ValueError):
        build({**cfg, "tie_word_embeddings": True})
    untied = numel(build({**cfg, "tie_word_embeddings": False}))
    assert count_params(spec_from_hf_config({**cfg, "tie_word_embeddings": True})).total \
        == untied - 50 * 32


def hf_uses(cfg) -> list[int]:
    from hf_oracle import hf_config

    return [i for i, t in enumerate(hf_config(cfg).layers_block_type) if t == "hybrid"]


def test_default_config_equals_transformers_and_its_54_layer_schedule():
    """No schedule given: transformers builds its class default, 54 layers (9 hybrid), and
    accepts only num_hidden_layers = 54 with it."""
    pytest.importorskip("transformers")
    from hf_oracle import build, hf_config, numel

    cfg = {"model_type": "zamba2", "hidden_size": 64, "num_attention_heads": 4,
           "vocab_size": 101, "num_hidden_layers": 54}
    spec = spec_from_hf_config(cfg)
    assert spec.num_hidden_layers == 54 == len(hf_config(cfg).layers_block_type)
    assert list(spec.shared_block.uses) == hf_config(cfg).hybrid_layer_ids
    assert count_params(spec).total == numel(build(cfg))


def test_weights_and_memory_follow_the_count():
    from family_configs import assert_weights_and_training_params_add_up  # noqa: F401

    for cfg in PARAM_CASES[:4]:
        spec = spec_from_hf_config(cfg)
        pc = count_params(spec)
        assert sum(memory.weight_bytes(spec, "bf16").values()) == 2 * pc.total


FLOP_CASES = configs(3, "flops")


@pytest.mark.parametrize("cfg", FLOP_CASES, ids=_ids(FLOP_CASES))
def test_flops_outside_the_recurrence_match_flopcountermode(cfg):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model
    from torch.utils.flop_counter import FlopCounterMode

    from estimator.flops import forward_flops
    from estimator.mixers import mixer_matrix_params

    model = eager_model(cfg)
    spec = spec_from_hf_config(cfg)
    b, T = 1, 8
    ids = torch.randint(1, cfg["vocab_size"], (b, T))
    with torch.no_grad(), FlopCounterMode(display=False) as fc:
        model(ids, use_cache=False)
    counts = {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}
    prefix = f"{type(model).__name__}.model.layers"
    mods = [f"{prefix}.{i}.mamba_decoder.mamba" if i in spec.shared_block.uses
            else f"{prefix}.{i}.mamba" for i in range(spec.num_hidden_layers)]
    mixer_total = sum(counts.get(m, 0) for m in mods)
    linear_names = {f"{type(model).__name__}.{n}" for n, m in model.named_modules()
                    if isinstance(m, torch.nn.Linear)}
    mixer_linear = sum(c for n, c in counts.items()
                       if n in linear_names and any(n.startswith(m + ".") for m in mods))
    ours = forward_flops(spec, b, T, "full", "all")
    assert counts["Global"] - mixer_total == ours.total - ours.sequence_mixers, cfg
    n, m = spec.num_mixer_layers, spec.mixer
    if m.kind == "mamba":
        # ZambaMambaMixer.slow_forward applies x_proj_weight and dt_proj_weight as bare
        # per-head matmuls, outside any nn.Linear (modeling_zamba.py)
        mixer_linear += b * T * n * 2 * m.inner * (2 * m.dt_rank + 2 * m.state_size)
    assert mixer_linear == b * T * n * 2 * mixer_matrix_params(m, spec.hidden_size)


@pytest.mark.parametrize("cfg", FLOP_CASES, ids=_ids(FLOP_CASES))
def test_decode_flops_outside_the_recurrence_match_flopcountermode(cfg):
    """One token after ``ctx`` cached: everything outside the Mamba mixers (the shared blocks on
    every use over ``ctx + 1`` keys, linears, adapters, lm_head) equals ``decode_flops`` without
    ``sequence_mixers``."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model
    from torch.utils.flop_counter import FlopCounterMode

    from estimator.flops import decode_flops

    model = eager_model(cfg)
    spec = spec_from_hf_config(cfg)
    prefix = f"{type(model).__name__}.model.layers"
    mods = [f"{prefix}.{i}.mamba_decoder.mamba" if i in spec.shared_block.uses
            else f"{prefix}.{i}.mamba" for i in range(spec.num_hidden_layers)]
    for ctx in (3, 6):
        ids = torch.randint(1, cfg["vocab_size"], (1, ctx + 1))
        with torch.no_grad():
            cache = model(ids[:, :ctx], use_cache=True).past_key_values
            with FlopCounterMode(display=False) as fc:
                model(ids[:, ctx:], past_key_values=cache, use_cache=True)
        counts = {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}
        mix = sum(counts.get(m, 0) for m in mods)
        ours = decode_flops(spec, ctx, "transformers")
        assert counts["Global"] - mix == ours.total - ours.sequence_mixers, (ctx, cfg)


CACHE_CASES = configs(3, "cache")


@pytest.mark.parametrize("cfg", CACHE_CASES, ids=_ids(CACHE_CASES))
def test_cache_matches_transformers(cfg):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model
    from test_hybrids import _cache_bytes

    model = eager_model(cfg)
    spec = spec_from_hf_config(cfg)
    b, states = 2, set()
    for T in (5, 9):
        ids = torch.randint(1, cfg["vocab_size"], (b, T))
        with torch.no_grad():
            out = model(ids, use_cache=True)
        kv, state = _cache_bytes(out.past_key_values)
        assert kv == memory.kv_cache_bytes(spec, b, T, "fp32", "transformers") > 0, (T, cfg)
        assert state == memory.state_bytes(spec, b, "fp32", "transformers") > 0, (T, cfg)
        states.add(state)
    assert len(states) == 1


def test_training_engine_and_model_parallel_are_refused_with_a_reason():
    from estimator import estimate

    cfg = PARAM_CASES[0]
    r = estimate(spec_from_hf_config(cfg), tp=1, pp=1, ep=1)
    d = r.to_dict()
    assert "Zamba2" in d["training"]["not_applicable"]
    assert any("Zamba2" in n for n in d["memory"]["inference"]["notes"])
    for opt in ("tp", "pp"):
        with pytest.raises(EstimatorError) as e:
            memory.layout(spec_from_hf_config(cfg), **{"tp": 1, "pp": 1, "ep": 1, opt: 2})
        assert e.value.field == opt


@pytest.mark.parametrize("change,field", [
    ({"use_shared_attention_adapter": True, "num_key_value_heads": 2},
     "use_shared_attention_adapter"),
    ({"layers_block_type": ["mamba", "attention"]}, "layers_block_type[1]"),
    ({"n_mamba_heads": 3}, "n_mamba_heads"),
    ({"mamba_ngroups": 3}, "mamba_ngroups"),
    ({"num_attention_heads": 200}, "num_attention_heads"),
    ({"layers_block_type": None}, "num_hidden_layers"),
    ({"layers_block_type": ["mamba"]}, "layers_block_type"),
    ({"model_type": "zamba", "attention_hidden_size": 48}, "attention_hidden_size"),
    ({"model_type": "zamba", "n_mamba_heads": 5}, "n_mamba_heads"),
    ({"model_type": "zamba", "layers_block_type": None}, "num_hidden_layers"),
    ({"model_type": "zamba", "num_key_value_heads": 3}, "num_key_value_heads"),
])
def test_bad_config_names_the_field_cli_exit_2(tmp_path, change, field):
    cfg = {"model_type": "zamba2", "hidden_size": 32, "num_attention_heads": 4,
           "intermediate_size": 40, "num_key_value_heads": 4,
           "vocab_size": 101, "num_hidden_layers": 2, "layers_block_type": ["mamba", "hybrid"],
           **change}
    with pytest.raises(EstimatorError) as e:
        spec_from_hf_config(cfg)
    assert e.value.field == field
    p = tmp_path / "z.json"
    p.write_text(json.dumps(cfg))
    run = subprocess.run([sys.executable, "-m", "estimator", "report", str(p)],
                         capture_output=True, text=True)
    assert run.returncode == 2 and "Traceback" not in run.stderr
    assert len(run.stderr.strip().splitlines()) == 1 and field in run.stderr


# ---------------------------------------------------------------------------------------------
# vLLM's Zamba2 (vllm/model_executor/models/zamba2.py, vllm-project/vllm main 2025-2026)
# ---------------------------------------------------------------------------------------------

def test_zamba2_vllm_plan_is_vllms_zamba2():
    """vLLM's ``Zamba2Attention`` builds one ``Attention(num_heads, attention_head_dim)`` per use
    ("KV cache is unique for every attention layer": ``dpa_list``; ``num_kv_heads`` defaults to
    ``num_heads``) and every layer a ``MambaMixer2`` whose state is
    ``Zamba2ForCausalLM.get_mamba_state_shape_from_config`` = ``mamba2_state_shape(expand·h,
    mamba_ngroups, n_mamba_heads, mamba_headdim, mamba_d_state, mamba_d_conv)``: the plan's
    Mamba page, hybrid block size and groups (U attention layers, L Mamba layers) are those."""
    from test_engine import vllm_group_size
    from test_engine_hybrid import (
        BF16,
        MambaStateShapeCalculator,
        vllm_full_attention_page_size_bytes,
        vllm_hybrid_block_and_padding,
        vllm_mamba_page_size_bytes,
    )

    from estimator import engine

    cfg = {"model_type": "zamba2", "hidden_size": 2560, "num_hidden_layers": 54,
           "num_attention_heads": 32, "vocab_size": 32000, "n_mamba_heads": 80,
           "mamba_ngroups": 2, "use_shared_attention_adapter": True, "num_mem_blocks": 2}
    s = spec_from_hf_config(cfg)
    shapes = MambaStateShapeCalculator.mamba2_state_shape(1, 5120, 2, 80, 64, 64, 4)
    mamba = vllm_mamba_page_size_bytes(shapes, (BF16, BF16))
    assert engine.vllm_mamba_page_bytes(s.mixer, s.hidden_size, 1, "bf16") == mamba
    attn1 = vllm_full_attention_page_size_bytes(1, 32, 2 * 2560 // 32, BF16)
    block, padded = vllm_hybrid_block_and_padding(attn1, mamba, 16)
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", 1, 0, 54, 8192, 8192)
    assert (plan.block_size, plan.page, plan.mamba_page) == (block, padded, mamba)
    size, groups = vllm_group_size([9, 54])
    assert (plan.group_size, plan.groups) == (size, sum(groups))


def test_engine_figures_only_where_vllm_builds_the_model():
    """vLLM has no Zamba-1 and its Zamba2 attention has no GQA and always ties the lm_head and
    the shared blocks: the engine section is given for the rest only."""
    from estimator import estimate

    base = {"model_type": "zamba2", "hidden_size": 64, "num_hidden_layers": 3,
            "num_attention_heads": 4, "vocab_size": 101,
            "layers_block_type": ["mamba", "hybrid", "hybrid"]}
    cases = [(base, True), ({**base, "num_key_value_heads": 2}, False),
             ({**base, "tie_word_embeddings": False}, False),
             ({**base, "model_type": "zamba", "intermediate_size": 96,
               "num_key_value_heads": 4}, False)]
    for cfg, given in cases:
        d = estimate(spec_from_hf_config(cfg), tp=1, pp=1, ep=1).to_dict()
        assert (d["memory"]["inference"]["engine"] is not None) == given, cfg
    d = estimate(spec_from_hf_config(base), tp=1, pp=1, ep=1, engine="sglang").to_dict()
    assert d["memory"]["inference"]["engine"] is None
