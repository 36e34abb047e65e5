"""Hybrid sequence mixers (issue #13) against transformers 5.24, the reference implementation.

* parameters: every random config of tests/hybrid_configs.py built on the meta device; the total
  and the mixer layers' own parameters must equal ours exactly;
* cache split: a real CPU forward (fp32, batch 2, two lengths) fills transformers' cache; the
  K/V tensors it holds must equal ``memory.kv_cache_bytes`` (softmax-attention layers only) and
  the conv/recurrent states ``memory.state_bytes`` with the ``transformers`` layout, the same at
  both lengths;
* bad schedules: unknown layer kinds and lists of the wrong length are errors naming the field;
* DeepSeek-V3.2 and GLM-5 (DSA) and Kimi-Linear (KDA + MLA): the same checks (MLA caches its
  latent in transformers 5.x, our ``engine`` layout; DSA's indexer keys in the model dtype),
  plus the indexer's top-k selection against transformers' own mask and decode FLOPs.
"""

from __future__ import annotations

import re

import hybrid_configs
import pytest

from estimator import compressed, memory
from estimator.errors import EstimatorError
from estimator.hf import spec_from_hf_config
from estimator.params import count_params

HYBRIDS = sorted(hybrid_configs.GENERATORS)
N_PARAM = 10  # random configs per family (meta device: milliseconds each)
N_CACHE = 3  # random configs per family for the CPU forward

#: The module that holds a layer's mixer in each family's modeling file.
MIXER_MODULE = {"qwen3_next": "linear_attn", "jamba": "mamba", "bamba": "mamba",
                "granitemoehybrid": "mamba", "falcon_h1": "mamba", "nemotron_h": "mixer",
                "lfm2": "conv", "lfm2_moe": "conv", "minimax": "self_attn",
                "qwen3_5_text": "linear_attn", "qwen3_5_moe_text": "linear_attn",
                "kimi_linear": "self_attn", "deepseek_v32": "self_attn", "glm_moe_dsa": "self_attn",
                "mamba": "mixer", "falcon_mamba": "mixer", "mamba2": "mixer",
                "olmo_hybrid": "linear_attn", "lara_mini": "linear_attn",
                "deepseek_v4": "self_attn", "axk2": "self_attn", "hy_v4": "self_attn",
                "bailing_hybrid": "self_attn", "lfm3": "conv",
                "recurrent_gemma": "temporal_block",
                # RWKV-4's rwkv4 mixer is the whole block: time mix and channel mix
                "rwkv": "attention|feed_forward", "xlstm": "mlstm_layer"}
#: The trunk's list of layers when it is not ``layers``.
LAYER_LIST = {"rwkv": "blocks", "xlstm": "blocks"}

#: Models with no attention layer at all (every block ``norm → Mamba mixer``): transformers
#: names their trunk ``backbone`` and returns the cache as ``out.cache``.
PURE_SSM = ("mamba", "falcon_mamba", "mamba2")


def _trunk_name(model) -> str:
    """``model`` or ``backbone``: the attribute of the causal LM that holds ``layers``."""
    return model.base_model_prefix


def test_every_hybrid_family_loads_and_has_a_generator():
    from estimator.hf import FAMILIES
    assert set(HYBRIDS) <= set(FAMILIES)
    assert set(MIXER_MODULE) == set(HYBRIDS)


PARAM_CASES = [(mt, i, cfg) for mt in HYBRIDS
               for i, cfg in enumerate(hybrid_configs.random_configs(mt, N_PARAM, "params"))]


@pytest.mark.parametrize("model_type,i,cfg", PARAM_CASES,
                         ids=[f"{mt}-{i}" for mt, i, _ in PARAM_CASES])
def test_params_exact(model_type, i, cfg):
    pytest.importorskip("transformers")
    from hf_oracle import build, numel

    model = build(cfg)
    spec = spec_from_hf_config(cfg)
    p = count_params(spec)
    assert p.total == numel(model), cfg
    mod = MIXER_MODULE[model_type]
    layers = "|".join(map(str, spec.mixer_layers)) or "x"
    listed = LAYER_LIST.get(model_type, "layers")
    pat = re.compile(rf"\.{listed}\.({layers})\.({mod})\.")
    assert p.sequence_mixers == sum(t.numel() for n, t in model.named_parameters()
                                    if pat.search(n)), cfg
    # the schedule: which layers run what, as transformers built them
    kinds = spec.layer_kinds
    for li, layer in enumerate(getattr(getattr(model, _trunk_name(model)), listed)):
        names = {n.split(".")[0] for n, _ in layer.named_parameters()}
        if kinds[li][0] == "none":
            assert not names & set(mod.split("|")) or model_type == "nemotron_h"
        elif "+" not in kinds[li][0] and "attention" not in kinds[li][0]:
            assert set(mod.split("|")) <= names


def _cache_bytes(cache) -> tuple[int, int]:
    """(K/V bytes, state bytes) of transformers' cache after a forward. A tensor held twice
    (DeepSeek-V4's K=V layers: ``values`` is ``keys``) is counted once; DeepSeek-V4's
    compressed entries are K/V, its compressors' pending windows (``buffer_*``, ``overlap_*``)
    state."""
    import torch

    kv = state = 0
    for layer in getattr(cache, "layers", []):
        seen = set()
        for name in ("keys", "values", "indexer_keys"):  # + DSA's indexer key cache
            t = getattr(layer, name, None)
            if torch.is_tensor(t) and t.numel() and t.data_ptr() not in seen:
                seen.add(t.data_ptr())
                kv += t.numel() * t.element_size()
        for t in (getattr(layer, "compressed_kv", None) or {}).values():
            if torch.is_tensor(t):
                kv += t.numel() * t.element_size()
        for name in ("buffer_kv", "buffer_gate", "overlap_kv", "overlap_gate"):
            for t in (getattr(layer, name, None) or {}).values():
                if torch.is_tensor(t):
                    state += t.numel() * t.element_size()
        for name in ("conv_states", "recurrent_states"):
            for t in (getattr(layer, name, None) or {}).values():
                if torch.is_tensor(t):
                    state += t.numel() * t.element_size()
    for t in getattr(cache, "linear_cache", []) or []:  # MiniMaxCache
        if torch.is_tensor(t):
            state += t.numel() * t.element_size()
    return kv, state


def _transformers_kv(spec, b: int, T: int) -> int:
    """What transformers 5.24 caches per token, in our terms: softmax attention's K/V
    (``transformers`` layout); MLA's latent (``cache.update(kv_nope, k_rot)``: our ``engine``
    layout) and DSA's indexer keys in the model dtype (``DynamicIndexedLayer.indexer_keys``:
    the ``transformers`` indexer layout, not the engines' fp8 + scales)."""
    if spec.mla is None:
        return memory.kv_cache_bytes(spec, b, T, "fp32", "transformers")
    return (memory.kv_cache_bytes(spec, b, T, "fp32", "engine")
            - memory.indexer_cache_bytes(spec, b, T, "fp32", "engine")
            + memory.indexer_cache_bytes(spec, b, T, "fp32", "transformers"))


def _recurrent_gemma_cache_bytes(model, ids) -> tuple[int, int]:
    """(K/V bytes, state bytes) of RecurrentGemma after a prefill of ``ids``: its output
    returns no cache, so the test hands it one (``DynamicCache(config)``, what
    ``RecurrentGemmaModel.forward`` builds itself) after resetting the layers' own states
    (``_setup_cache``); the K/V sit in the cache's sliding-window layers, the RG-LRU states in
    the modules (``temporal_block.conv1d_state``, ``temporal_block.rg_lru.recurrent_states``)."""
    import torch
    from transformers import DynamicCache

    cache = DynamicCache(config=model.config)
    model._setup_cache(model.config, ids.shape[0], ids.device, model.dtype)
    with torch.no_grad():
        model(ids, use_cache=True, cache=cache)
    kv, _ = _cache_bytes(cache)
    state = 0
    for layer in model.model.layers:
        block = layer.temporal_block
        if hasattr(block, "rg_lru"):
            for t in (block.conv1d_state, block.rg_lru.recurrent_states):
                state += t.numel() * t.element_size()
    return kv, state


def test_recurrent_gemma_state_stays_fp32_in_bf16():
    """The RG-LRU's recurrent state is fp32 in a bf16 model (``_setup_cache``,
    ``_rnn_scan(acc_dtype=torch.float32)``), its conv state bf16; the K/V bf16."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model

    for cfg in hybrid_configs.random_configs("recurrent_gemma", 3, "bf16"):
        cfg = {**cfg, "block_types": ["recurrent", "attention"]}
        model = eager_model(cfg).to(torch.bfloat16)
        spec = spec_from_hf_config(cfg)
        ids = torch.randint(1, cfg["vocab_size"], (2, 7))
        kv, state = _recurrent_gemma_cache_bytes(model, ids)
        assert kv == memory.kv_cache_bytes(spec, 2, 7, "bf16", "transformers"), cfg
        assert state == memory.state_bytes(spec, 2, "bf16", "transformers"), cfg
        assert state != memory.state_bytes(spec, 2, "fp32", "transformers") // 2, cfg


def _runnable(model_type: str, cfg: dict) -> dict:
    """``cfg`` as a real forward can run it: transformers 5.24 cannot initialize an xLSTM with
    ``weight_mode: fused`` (``xLSTMPreTrainedModel._init_weights`` copies a 2H-wide bias into an
    H-wide slice), so the forward tests take the ``single`` twin (the same sizes; the meta
    build, which initializes nothing, counts both)."""
    return {**cfg, "weight_mode": "single"} if model_type == "xlstm" else cfg


CACHE_CASES = [(mt, i, cfg) for mt in HYBRIDS
               for i, cfg in enumerate(hybrid_configs.random_configs(mt, N_CACHE, "cache"))]
# RWKV-4's forward with a state needs attention_hidden_size = hidden_size (its state tensors
# are hidden_size wide)
CACHE_CASES = [(mt, i, {**cfg, "attention_hidden_size": cfg["hidden_size"]}
                if mt == "rwkv" else _runnable(mt, cfg)) for mt, i, cfg in CACHE_CASES]


@pytest.mark.parametrize("model_type,i,cfg", CACHE_CASES,
                         ids=[f"{mt}-{i}" for mt, i, _ in CACHE_CASES])
def test_cache_split_matches_transformers(model_type, i, cfg):
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model

    model = eager_model(cfg)
    spec = spec_from_hf_config(cfg)
    if spec.num_attention_layers == 0 and model_type not in (*PURE_SSM, "rwkv", "xlstm"):
        pytest.skip("transformers 5.24 cannot run a hybrid's cache without an attention layer "
                    "(DynamicCache.get_seq_length raises)")
    b = 2
    seen_state = set()
    for T in (5, 9):
        ids = torch.randint(1, cfg["vocab_size"], (b, T))
        if model_type == "xlstm":  # xLSTMCache.rnn_state: (C, n, m) per layer
            with torch.no_grad():
                out = model(ids, use_cache=True)
            state = sum(t.numel() * t.element_size() for ts in out.cache.rnn_state.values()
                        for t in ts)
            assert spec.num_attention_layers == 0 and _transformers_kv(spec, b, T) == 0
            assert state == memory.state_bytes(spec, b, "fp32", "transformers"), (T, cfg)
            seen_state.add(state)
            continue
        if model_type == "rwkv":  # RwkvModel returns its five state tensors as out.state
            with torch.no_grad():
                out = model(ids, use_cache=True)
            state = sum(t.numel() * t.element_size() for t in out.state)
            assert spec.num_attention_layers == 0 and _transformers_kv(spec, b, T) == 0
            assert state == memory.state_bytes(spec, b, "fp32", "transformers"), (T, cfg)
            seen_state.add(state)
            continue
        if model_type == "recurrent_gemma":
            kv, state = _recurrent_gemma_cache_bytes(model, ids)
            assert kv == _transformers_kv(spec, b, T), (T, cfg)
            assert state == memory.state_bytes(spec, b, "fp32", "transformers"), (T, cfg)
            continue
        with torch.no_grad():
            out = model(ids, use_cache=True)
        cache = out.cache if model_type in PURE_SSM else out.past_key_values
        kv, state = _cache_bytes(cache)
        assert kv == _transformers_kv(spec, b, T), (T, cfg)
        if spec.compressed_attention is not None:  # DeepSeek-V4: the compressors' open window
            assert state == compressed.compressor_state_bytes(spec, b, T, 4), (T, cfg)
            continue
        assert state == memory.state_bytes(spec, b, "fp32", "transformers"), (T, cfg)
        seen_state.add(state)
    assert len(seen_state) <= 1  # constant in length


def test_engine_layout_keeps_one_conv_column_less():
    """vLLM keeps ``conv_kernel - 1`` conv inputs (mamba_utils.MambaStateShapeCalculator)."""
    cfg = hybrid_configs.random_configs("bamba", 1, "engine")[0]
    s = spec_from_hf_config(cfg)
    from estimator.mixers import conv_dim
    diff = (memory.state_bytes(s, 1, "bf16", "transformers")
            - memory.state_bytes(s, 1, "bf16", "engine"))
    assert diff == s.num_mixer_layers * conv_dim(s.mixer, s.hidden_size) * 2


# ----------------------------------------------------------------------------------------------
# bad schedules
# ----------------------------------------------------------------------------------------------

BAD = [
    ("qwen3_next", {"layer_types": ["linear_attention", "banana"]}, "layer_types[1]"),
    ("qwen3_next", {"layer_types": ["linear_attention"]}, "layer_types"),
    ("minimax", {"layer_types": "full_attention"}, "layer_types"),
    ("granitemoehybrid", {"layer_types": ["mamba", "attention", "conv"]}, "layer_types[2]"),
    ("lfm2_moe", {"layer_types": ["conv", "full_attention", "mamba"]}, "layer_types[2]"),
    ("nemotron_h", {"hybrid_override_pattern": "M*X-"}, "hybrid_override_pattern[2]"),
    ("nemotron_h", {"layers_block_type": ["mamba", "transformer"]}, "layers_block_type[1]"),
    ("bamba", {"attn_layer_indices": [0, 99]}, "attn_layer_indices"),
    ("bamba", {"mamba_d_head": 3}, "mamba_d_head"),
    ("jamba", {"attn_layer_offset": 9, "attn_layer_period": 4}, "attn_layer_offset"),
    ("kimi_linear", {"layer_types": ["linear_attention", "full_attention", "kda"]},
     "layer_types[2]"),
    ("kimi_linear", {"linear_attn_config": {"full_attn_layers": [3], "kda_layers": [0, 2]}},
     "linear_attn_config.kda_layers[0]"),
    ("kimi_linear", {"linear_attn_config": {"full_attn_layers": [3], "kda_layers": [1]}},
     "linear_attn_config.kda_layers"),
    ("bailing_hybrid", {"layer_types": ["linear_attention", "full_attention", "kda"]},
     "layer_types[2]"),
    ("lfm3", {"layer_types": ["conv", "sliding_attention", "mamba"]}, "layer_types[2]"),
    ("lfm3", {"layer_types": ["conv", "sliding_attention", "full_attention"],
              "sliding_window": None}, "sliding_window"),
    ("deepseek_v32", {"mlp_layer_types": ["dense", "sparse"]}, "mlp_layer_types"),
    ("deepseek_v32", {"q_lora_rank": None}, "q_lora_rank"),
    ("glm_moe_dsa", {"q_lora_rank": None}, "q_lora_rank"),
    ("axk2", {"q_lora_rank": None}, "q_lora_rank"),
    ("hy_v4", {"q_lora_rank": None}, "q_lora_rank"),
    ("hy_v4", {"indexer_types": ["full", "full"]}, "indexer_types"),
    ("hy_v4", {"indexer_types": ["shared", "full", "full"]}, "indexer_types[0]"),
    ("hy_v4", {"indexer_types": ["full", "sparse", "full"]}, "indexer_types[1]"),
    ("glm_moe_dsa", {"indexer_types": ["full", "full", "shared"]}, "indexer_types"),
    ("glm_moe_dsa", {"indexer_types": ["full", "sparse", "full"]}, "indexer_types[1]"),
    ("glm_moe_dsa", {"indexer_types": ["shared", "full", "full"]}, "indexer_types[0]"),
    ("glm_moe_dsa", {"index_topk_pattern": "FFS"}, "index_topk_pattern"),
    ("glm_moe_dsa", {"index_topk_pattern": "FxF"}, "index_topk_pattern[1]"),
    ("glm_moe_dsa", {"index_topk_freq": 2}, "index_topk_freq"),
]


@pytest.mark.parametrize("model_type,change,field", BAD, ids=[f"{b[0]}-{b[2]}" for b in BAD])
def test_bad_schedule_names_the_field(model_type, change, field):
    cfg = {**hybrid_configs.random_configs(model_type, 1, "bad")[0], **change}
    if model_type == "nemotron_h":  # the schedule under test replaces the generated one
        cfg.pop("layers_block_type" if "hybrid_override_pattern" in change
                else "hybrid_override_pattern", None)
    if model_type == "kimi_linear":
        cfg.pop("layer_types", None)
        cfg.pop("linear_attn_config", None)
        cfg.update(change)
    if model_type == "hy_v4":  # the indexer schedule under test replaces the generated one
        cfg.pop("mlp_layer_types", None)
        cfg.update(change, num_hidden_layers=3)
    if model_type == "glm_moe_dsa":  # the indexer schedule under test replaces the generated one
        for key in ("indexer_types", "index_topk_pattern", "index_topk_freq", "mlp_layer_types"):
            cfg.pop(key, None)
        cfg.update(change, num_hidden_layers=3)
    elif model_type in ("qwen3_next", "minimax", "granitemoehybrid", "lfm2_moe", "kimi_linear",
                        "deepseek_v32", "bailing_hybrid", "lfm3"):
        cfg["num_hidden_layers"] = 3 if "[2]" in field else 2 if "[1]" in field else 3
    with pytest.raises(EstimatorError) as e:
        spec_from_hf_config(cfg)
    assert e.value.field == field


@pytest.mark.parametrize("model_type", ["qwen3_next", "kimi_linear"])
def test_bad_schedule_cli_exit_2_one_line(tmp_path, model_type):
    import json
    import subprocess
    import sys

    cfg = {**hybrid_configs.random_configs(model_type, 1, "cli")[0], "num_hidden_layers": 2,
           "layer_types": ["linear_attention", "mamba3"]}
    f = tmp_path / "config.json"
    f.write_text(json.dumps(cfg))
    r = subprocess.run([sys.executable, "-m", "estimator", "report", str(f)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1 and "layer_types[1]" in lines[0] and "Traceback" not in r.stderr


def test_spec_refuses_inconsistent_schedules():
    base = spec_from_hf_config(hybrid_configs.random_configs("bamba", 1, "spec")[0])
    L = base.num_hidden_layers
    with pytest.raises(EstimatorError) as e:
        base.replace(mixer_layers=(L,))
    assert e.value.field == "mixer_layers"
    with pytest.raises(EstimatorError) as e:
        base.replace(mixer=None)
    assert e.value.field in ("mixer_layers",)
    with pytest.raises(EstimatorError) as e:
        base.replace(mixer=base.mixer.__class__(kind="retnet"))
    assert e.value.field == "mixer.kind"


# ----------------------------------------------------------------------------------------------
# FLOPs: FlopCounterMode on transformers' eager path
# ----------------------------------------------------------------------------------------------

FLOP_CASES = [(mt, i, _runnable(mt, cfg)) for mt in HYBRIDS
              for i, cfg in enumerate(hybrid_configs.random_configs(mt, 2, "flops"))]
# RecurrentGemma: also schedules that mix both block kinds (its two draws above do not)
_RG_MIXED = (["recurrent", "attention"], ["recurrent", "recurrent", "attention"])
FLOP_CASES += [("recurrent_gemma", 2 + i, {**cfg, "block_types": bt}) for i, (cfg, bt) in
               enumerate(zip(hybrid_configs.random_configs("recurrent_gemma", 2, "flops-mixed"),
                             _RG_MIXED))]


@pytest.mark.parametrize("model_type,i,cfg", FLOP_CASES,
                         ids=[f"{mt}-{i}" for mt, i, _ in FLOP_CASES])
def test_flops_outside_the_recurrence_match_flopcountermode(model_type, i, cfg):
    """Everything but the mixers' recurrence is matmuls FlopCounterMode counts exactly: the
    model's count outside the mixer modules equals our forward total without
    ``sequence_mixers``, and the mixers' own ``nn.Linear`` projections equal
    ``2·mixer_matrix_params`` per token and layer. The recurrence itself (chunked delta rule,
    SSD scan, lightning blocks) runs on the CPU as multiply-then-sum and ``solve_triangular``
    that FlopCounterMode counts as 0 or pads to the chunk (REFERENCE.md §7): it is the
    published algorithm's count (estimator.mixers.recurrence_flops_per_token), not measured."""
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
    mods = MIXER_MODULE[model_type].split("|")
    # FlopCounterMode's module names
    prefix = (f"{type(model).__name__}.{_trunk_name(model)}."
              + LAYER_LIST.get(model_type, "layers"))
    mixer_total = sum(counts.get(f"{prefix}.{li}.{mod}", 0) for li in spec.mixer_layers
                      for mod in mods)
    linear_names = {f"{type(model).__name__}.{n}" for n, m in model.named_modules()
                    if isinstance(m, torch.nn.Linear)}
    mixer_linear = sum(c for n, c in counts.items() if n in linear_names and any(
        n.startswith(f"{prefix}.{li}.{mod}.") for li in spec.mixer_layers for mod in mods))
    ours = forward_flops(spec, b, T, "full", "all")
    assert counts["Global"] - mixer_total == ours.total - ours.sequence_mixers, cfg
    m, h, n = spec.mixer, spec.hidden_size, spec.num_mixer_layers
    if m is not None:
        if m.kind == "mamba":
            # JambaMambaMixer.slow_forward (and MambaMixer / FalconMambaMixer.forward) apply
            # dt_proj as ``self.dt_proj.weight @ x``, a bare matmul outside the nn.Linear call
            # (modeling_jamba.py, modeling_mamba.py, modeling_falcon_mamba.py)
            mixer_linear += b * T * n * 2 * m.dt_rank * m.inner
        assert mixer_linear == b * T * n * 2 * mixer_matrix_params(m, h), cfg
    if m is not None and m.kind == "short_conv":
        # LFM2's short conv is a Conv1d FlopCounterMode counts, so the whole mixer is measured;
        # the eager fallback (modeling_lfm2.causal_conv1d_fn) convolves with padding K - 1 and
        # keeps the first T outputs: K - 1 extra outputs per sequence, 2·h·K FLOPs each
        K = m.conv_kernel
        assert mixer_total == ours.sequence_mixers + b * n * 2 * h * K * (K - 1), cfg
    if m is not None and m.kind == "rglru":
        # RecurrentGemma's recurrent block is measured whole too: the gates are torch.baddbmm
        # and the conv a Conv1d (padding K - 1, the first T outputs kept: K - 1 extra outputs
        # per sequence); only the scan h = a*h + x (elementwise, I MACs per token) is not seen
        K, i = m.conv_kernel, m.inner
        assert mixer_total == (ours.sequence_mixers - b * T * n * 2 * i
                               + b * n * 2 * i * K * (K - 1)), cfg
    if m is not None and m.kind == "rwkv4":
        # RWKV-4: every matmul is an nn.Linear; the WKV recurrence and the token-shift mixes are
        # elementwise (rwkv_linear_attention_cpu), which FlopCounterMode does not count
        assert mixer_total == mixer_linear, cfg


def test_hybrid_ratio_sweep_follows_transformers_schedule():
    """A sweep over Qwen3-Next's full_attention_interval: the KV cache follows the number of
    full-attention layers transformers' own config class derives for each interval."""
    pytest.importorskip("transformers")

    from hf_oracle import hf_config

    import estimator

    base = estimator.load_model("qwen3-next-80b-a3b")
    rows = estimator.sweep("qwen3-next-80b-a3b", {"full_attention_interval": [1, 2, 3, 4, 8],
                                                   "seq_len": [4096]})
    s = base.spec
    per_layer = 2 * s.num_key_value_heads * s.head_dim * 2 * 4096  # K and V, bf16
    for r in rows:
        cfg = {**base.hf_config, "full_attention_interval": r["full_attention_interval"]}
        cfg.pop("layer_types", None)
        n_full = hf_config(cfg).layer_types.count("full_attention")
        assert not r["error"] and r["kv_cache_bytes"] == n_full * per_layer


def test_spec_sweep_over_depth_keeps_the_hybrid_period():
    import estimator
    from estimator.sweep import _spec_changes

    s = estimator.load_model("jamba-1.5-mini").spec
    out = _spec_changes(s, {"num_hidden_layers": 64})
    t = s.replace(**out)
    assert t.num_attention_layers == 8 and t.num_mixer_layers == 56


def test_gated_delta_rule_recurrence_flops_on_the_reference():
    """The recurrence count of Gated DeltaNet (3·Hv·Dk·Dv MACs per token, mixers.
    recurrence_flops_per_token without the conv): transformers' reference
    ``torch_recurrent_gated_delta_rule`` computes it as multiply-then-sum, which
    FlopCounterMode counts as 0, so the test writes the same three contractions per token as
    batched matmuls (kᵀS, the rank-1 update k·δᵀ, qᵀS), requires their output and final state
    to equal the reference's, and counts those."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from torch.utils.flop_counter import FlopCounterMode
    from transformers.models.qwen3_next.modeling_qwen3_next import (
        torch_recurrent_gated_delta_rule,
    )

    from estimator.mixers import conv_dim, recurrence_flops_per_token
    from estimator.spec import Mixer

    torch.manual_seed(0)
    b, T, Hk, Hv, Dk, Dv = 2, 5, 2, 4, 8, 6
    q, k = torch.randn(b, T, Hk, Dk), torch.randn(b, T, Hk, Dk)
    v = torch.randn(b, T, Hv, Dv)
    g, beta = -torch.rand(b, T, Hv), torch.rand(b, T, Hv)
    ref, ref_state = torch_recurrent_gated_delta_rule(q, k, v, g, beta, output_final_state=True)

    def recurrent_matmuls():
        qq = q.repeat_interleave(Hv // Hk, 2).transpose(1, 2) / Dk ** 0.5
        kk = k.repeat_interleave(Hv // Hk, 2).transpose(1, 2)
        vv, gg, bb = v.transpose(1, 2), g.transpose(1, 2), beta.transpose(1, 2)
        S = torch.zeros(b, Hv, Dk, Dv)
        out = []
        for t in range(T):
            S = S * gg[:, :, t].exp()[..., None, None]
            kv_mem = (kk[:, :, t, None, :] @ S).squeeze(-2)  # kᵀS: Dk·Dv MACs
            delta = (vv[:, :, t] - kv_mem) * bb[:, :, t, None]
            S = S + kk[:, :, t, :, None] @ delta[..., None, :]  # k·δᵀ: Dk·Dv MACs
            out.append((qq[:, :, t, None, :] @ S).squeeze(-2))  # qᵀS: Dk·Dv MACs
        return torch.stack(out, 2).transpose(1, 2), S

    with FlopCounterMode(display=False) as fc:
        mine, state = recurrent_matmuls()
    torch.testing.assert_close(mine, ref)
    torch.testing.assert_close(state, ref_state)
    m = Mixer(kind="gated_deltanet", num_heads=Hv, head_dim=Dv, num_k_heads=Hk, head_k_dim=Dk,
              conv_kernel=4)
    conv = 2 * conv_dim(m, 16) * m.conv_kernel
    assert fc.get_total_flops() == b * T * (recurrence_flops_per_token(m, 16) - conv)


@pytest.mark.parametrize("slug", ["qwen3-next-80b-a3b", "jamba-1.5-mini", "nemotron-h-8b"])
@pytest.mark.parametrize("pp", [1, 4])
def test_training_model_states_hold_every_hybrid_parameter_once(slug, pp):
    """Summed over pipeline stages, training's model states (16 B per parameter, Adam, no
    ZeRO) hold exactly the transformers-checked total: mixers instead of attention where the
    schedule says so, no FFN in Nemotron-H's mixer-only blocks."""
    import estimator

    r = estimator.estimate(slug, num_gpus=pp, pp=pp, adam_bytes=16, zero=0).to_dict()
    states = sum(st["model_states"] for st in r["memory"]["training"]["stages"])
    assert states == 16 * count_params(estimator.load_model(slug).spec).total


# ----------------------------------------------------------------------------------------------
# Qwen3.5 multimodal wrappers: the text model of hybrid_configs under text_config, a vision tower
# ----------------------------------------------------------------------------------------------

def _qwen3_5_wrapper_configs(wrapper: str, n: int) -> list[dict]:
    import random

    rng = random.Random(f"{wrapper}-wrapper")
    out = []
    for text in hybrid_configs.random_configs(wrapper + "_text", n, "wrapper"):
        text = {k: v for k, v in text.items() if k != "model_type"}
        tie = text.pop("tie_word_embeddings")
        cfg = {"model_type": wrapper, "text_config": text}
        where = rng.choice(["top", "text", "none"])
        if where == "top":
            cfg["tie_word_embeddings"] = tie
        elif where == "text":
            text["tie_word_embeddings"] = tie
        if rng.random() < 0.8:  # else transformers' default tower
            cfg["vision_config"] = dict(
                depth=rng.randint(1, 2), hidden_size=rng.choice([8, 16]),
                intermediate_size=rng.randint(5, 30), num_heads=2,
                patch_size=rng.choice([2, 4]), temporal_patch_size=rng.choice([1, 2]),
                spatial_merge_size=rng.choice([1, 2]), out_hidden_size=text["hidden_size"],
                num_position_embeddings=rng.choice([4, 16]))
        out.append(cfg)
    return out


WRAPPER_CASES = _qwen3_5_wrapper_configs("qwen3_5", 4) + _qwen3_5_wrapper_configs("qwen3_5_moe", 4)


@pytest.mark.parametrize("cfg", WRAPPER_CASES, ids=lambda c: c["model_type"])
def test_qwen3_5_wrapper_params_equal_transformers(cfg):
    """Qwen3_5(Moe)ForConditionalGeneration on the meta device: the vision tower equals
    ``params.vision`` and the rest (language model, lm_head tied by the top-level flag) our
    total."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import transformers
    from hf_oracle import hf_config, numel

    cls = getattr(transformers, {"qwen3_5": "Qwen3_5ForConditionalGeneration",
                                 "qwen3_5_moe": "Qwen3_5MoeForConditionalGeneration"}[
        cfg["model_type"]])
    with torch.device("meta"):
        model = cls(hf_config(cfg))
    vision = numel(model.model.visual)
    c = count_params(spec_from_hf_config(cfg))
    assert c.vision == vision, cfg
    assert c.total == numel(model) - vision, cfg


# ----------------------------------------------------------------------------------------------
# DeepSeek Sparse Attention: the top-k selection the FLOP count assumes
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("model_type", ["deepseek_v32", "glm_moe_dsa", "axk2", "hy_v4"])
@pytest.mark.parametrize("topk,T", [(3, 8), (5, 5), (64, 7)])
def test_dsa_attends_min_position_topk_keys_as_counted(topk, T, model_type, monkeypatch):
    """The sparse MLA core's causal count (``flops._forward``: ``attended_pairs_x2`` with the
    window ``index_topk``) against transformers' own selection: the keys its indexer leaves
    unmasked in the mask handed to eager attention are ``Σ_x min(x, topk)`` per head and
    sequence — our continuous form plus the diagonal (``min(topk, T)``, the 1/s term the causal
    convention drops, flops module docstring). Eager attention still multiplies the whole
    square (the ``full`` count FlopCounterMode confirms in the test above)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import importlib

    from hf_oracle import eager_model

    from estimator.flops import attended_pairs_x2

    mod = importlib.import_module(f"transformers.models.{model_type}.modeling_{model_type}")
    cfg = {**hybrid_configs.random_configs(model_type, 1, "dsa")[0], "index_topk": topk}
    kept = []
    orig = mod.eager_attention_forward

    def counting(module, q, k, v, attention_mask, *a, **kw):
        kept.append(int((attention_mask == 0).sum()))
        return orig(module, q, k, v, attention_mask, *a, **kw)

    monkeypatch.setattr(mod, "eager_attention_forward", counting)
    model = eager_model(cfg)
    b = 2
    with torch.no_grad():
        model(torch.randint(1, cfg["vocab_size"], (b, T)), use_cache=False)
    spec = spec_from_hf_config(cfg)
    assert len(kept) == spec.num_hidden_layers
    for n in kept:
        assert 2 * n == b * (attended_pairs_x2(T, topk, "causal") + min(topk, T))


@pytest.mark.parametrize("model_type", ["deepseek_v32", "glm_moe_dsa", "axk2", "hy_v4"])
@pytest.mark.parametrize("topk", [64, 3])
def test_dsa_decode_flops_against_flopcountermode(topk, model_type):
    """One decoded token after ``ctx`` cached ones, transformers 5.24 eager (latent cache,
    ``kv_b_proj`` re-run on every cached position: ``mla_layout="transformers"``): the counter
    sees the indexer over all ``ctx + 1`` keys and dense MLA attention over all of them (the
    top-k is a mask). So FlopCounterMode equals ``decode_flops`` exactly when ``index_topk``
    covers the context, and exceeds it by the masked keys' ``QKᵀ`` and ``A·V`` otherwise."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model
    from torch.utils.flop_counter import FlopCounterMode

    from estimator.flops import FLOPS_PER_MAC, attention_dims, decode_flops_per_token

    cfg = {**hybrid_configs.random_configs(model_type, 1, "decode")[0], "index_topk": topk}
    spec = spec_from_hf_config(cfg)
    model = eager_model(cfg)
    heads, dqk, dv = attention_dims(spec)
    for ctx in (2, 5, 9):
        ids = torch.randint(1, cfg["vocab_size"], (1, ctx + 1))
        with torch.no_grad():
            cache = model(ids[:, :ctx], use_cache=True).past_key_values
            with FlopCounterMode(display=False) as fc:
                model(ids[:, ctx:], past_key_values=cache, use_cache=True)
        masked = max(0, ctx + 1 - topk)
        extra = spec.num_hidden_layers * masked * FLOPS_PER_MAC * heads * (dqk + dv)
        assert fc.get_total_flops() == decode_flops_per_token(spec, ctx, "transformers") + extra


@pytest.mark.parametrize("model_type", ["kimi_linear", "bailing_hybrid"])
def test_kda_mla_decode_outside_the_recurrence_against_flopcountermode(model_type):
    """Kimi-Linear and Ling 3.0 (bailing_hybrid) decode (one token after ``ctx``): everything
    outside the KDA modules — the MLA layers (latent cache, ``kv_b_proj`` re-run on the cached
    positions; bailing_hybrid's per-head ``g_proj`` gate), MoE, lm_head —
    equals ``decode_flops`` without ``sequence_mixers``, counted on the attention layers only;
    the KDA modules' own ``nn.Linear`` projections equal ``2·mixer_matrix_params`` per layer."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import eager_model
    from torch.utils.flop_counter import FlopCounterMode

    from estimator.flops import decode_flops
    from estimator.mixers import mixer_matrix_params

    checked = 0
    for i, cfg in enumerate(hybrid_configs.random_configs(model_type, 3, "decode")):
        spec = spec_from_hf_config(cfg)
        if not spec.num_mixer_layers or not spec.num_attention_layers:
            continue
        checked += 1
        model = eager_model(cfg)
        prefix = f"{type(model).__name__}.model.layers"
        linear = {f"{type(model).__name__}.{n}" for n, m in model.named_modules()
                  if isinstance(m, torch.nn.Linear)}
        for ctx in (3, 6):
            ids = torch.randint(1, cfg["vocab_size"], (1, ctx + 1))
            with torch.no_grad():
                cache = model(ids[:, :ctx], use_cache=True).past_key_values
                with FlopCounterMode(display=False) as fc:
                    model(ids[:, ctx:], past_key_values=cache, use_cache=True)
            counts = {k: sum(v.values()) for k, v in fc.get_flop_counts().items()}
            mix = sum(counts.get(f"{prefix}.{li}.self_attn", 0) for li in spec.mixer_layers)
            mix_linear = sum(c for n, c in counts.items() if n in linear and any(
                n.startswith(f"{prefix}.{li}.self_attn.") for li in spec.mixer_layers))
            ours = decode_flops(spec, ctx, "transformers")
            assert counts["Global"] - mix == ours.total - ours.sequence_mixers, (i, ctx, cfg)
            assert mix_linear == spec.num_mixer_layers * 2 * mixer_matrix_params(
                spec.mixer, spec.hidden_size), (i, cfg)
    assert checked


# ----------------------------------------------------------------------------------------------
# attention-free models (Mamba, Mamba-2): everything downstream of a spec with no KV cache
# ----------------------------------------------------------------------------------------------

def test_attention_free_model_memory_engine_and_tp():
    """Falcon-Mamba-7B: no KV cache at all; the per-sequence state and vLLM's page are the
    shapes of ``vllm/model_executor/layers/mamba/mamba_utils.py``
    (``MambaStateShapeCalculator.mamba1_state_shape``: conv ``(I/tp, K − 1)``, temporal
    ``(I/tp, N)``, in the model dtype); vLLM gives one page per layer and request
    (``MambaSpec.max_memory_usage_bytes``, ``mamba_cache_mode="none"``), so the concurrency is
    the block count ``available // page // layers``; TP must divide the inner width
    (``mamba_mixer.py``); with chunked prefill nothing grows with the context."""
    import estimator

    I, K, N, L = 8192, 4, 16, 64  # tiiuae/falcon-mamba-7b config.json
    page = (I * (K - 1) + I * N) * 2
    m = estimator.estimate("falcon-mamba-7b").to_dict()["memory"]["inference"]
    assert m["kv_cache"] == m["kv_cache_per_token"] == 0
    assert m["state_per_sequence"] == L * page
    e = m["engine"]
    assert e["page_size"] == page
    assert e["max_concurrency"] == e["num_blocks"] == e["available_kv"] // page // L
    assert m["max_seq_len_limited_by"] == "memory"  # the prefill activations, nothing else
    assert any(n.startswith("no softmax-attention layer") for n in m["notes"])
    m2 = estimator.estimate("falcon-mamba-7b", tp=2).to_dict()["memory"]["inference"]
    assert m2["engine"]["page_size"] == page // 2
    with pytest.raises(EstimatorError) as err:
        estimator.estimate("falcon-mamba-7b", tp=3)
    assert err.value.field == "tp"
    chunked = estimator.estimate("falcon-mamba-7b", max_num_batched_tokens=8192).to_dict()
    assert chunked["memory"]["inference"]["max_seq_len_limited_by"] == "search_bound"
    s = estimator.estimate("falcon-mamba-7b", engine="sglang").to_dict()["memory"]["inference"]
    assert s["engine"]["kv_capacity_tokens"] == 0  # no KV token pool (its Mamba pool: a note)


def test_mamba2_tp_follows_vllm_heads_and_groups():
    """``mamba_mixer2.py``: ``num_heads % tp == 0`` and ``n_groups % tp == 0 or n_groups == 1``."""
    from estimator.memory import check_tp

    base = {"model_type": "mamba2", "num_hidden_layers": 2, "hidden_size": 64,
            "vocab_size": 101, "expand": 2, "num_heads": 8, "head_dim": 16}
    for groups, ok in ((1, (1, 2, 4, 8)), (2, (1, 2)), (4, (1, 2, 4)), (8, (1, 2, 4, 8))):
        s = spec_from_hf_config({**base, "n_groups": groups})
        for tp in (1, 2, 4, 8):
            if tp in ok:
                check_tp(s, tp)
            else:
                with pytest.raises(EstimatorError):
                    check_tp(s, tp)


# ----------------------------------------------------------------------------------------------
# DeepSeek-V4: components, active parameters with hash-routed layers, decode FLOPs
# ----------------------------------------------------------------------------------------------

V4_CASES = hybrid_configs.random_configs("deepseek_v4", 6, "v4-active")


@pytest.mark.parametrize("cfg", V4_CASES, ids=[f"deepseek_v4-{i}" for i in range(len(V4_CASES))])
def test_deepseek_v4_components_and_active_parameters(cfg):
    """Every component against transformers' named parameters and buffers, and the active
    count against the experts one token actually reaches: a CPU forward of one token whose hash
    tables (``tid2eid``, zeros at init) are filled with distinct experts, as a checkpoint's are,
    records each MoE layer's ``top_k_index``; active = total − the experts it never touched."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import build, hf_config, numel
    from transformers import AutoModelForCausalLM

    spec = spec_from_hf_config(cfg)
    p = count_params(spec)
    meta = build(cfg)
    named = dict(meta.named_parameters())

    def part(*keys):
        return sum(t.numel() for n, t in named.items() if any(k in n for k in keys))

    assert p.total == numel(meta)
    assert p.attention == part(".self_attn.")
    assert p.other == part("_hc.", "hc_head.")  # hyper-connections
    assert p.routed_experts == part(".mlp.experts.")
    assert p.router == part(".mlp.gate.")
    assert p.shared_experts == part(".mlp.shared_experts.")
    assert p.norms == part("layernorm", "model.norm.")
    assert p.buffers == sum(t.numel() for n, t in meta.named_buffers()
                            if "tid2eid" in n or "e_score_correction_bias" in n)

    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(cfg), experts_implementation="eager",
                                             attn_implementation="eager").eval()
    E, k = spec.num_experts, spec.num_experts_per_tok
    hit = []
    for layer in model.model.layers:
        gate = layer.mlp.gate
        if hasattr(gate, "tid2eid"):
            rows = [torch.randperm(E)[:k] for _ in range(len(gate.tid2eid))]
            gate.tid2eid.copy_(torch.stack(rows))
        layer.mlp.experts.register_forward_hook(
            lambda mod, args, out: hit.append(len(set(args[1].flatten().tolist()))))
    with torch.no_grad():
        model(torch.tensor([[3]]), use_cache=False)
    assert len(hit) == spec.num_moe_layers and all(n == k for n in hit)
    per_expert = model.model.layers[0].mlp.experts.gate_up_proj[0].numel() + \
        model.model.layers[0].mlp.experts.down_proj[0].numel()
    assert p.active_with_embedding == p.total - sum(E - n for n in hit) * per_expert


@pytest.mark.parametrize("i,topk", [(0, 64), (1, 1), (2, 2), (3, 64)])
def test_deepseek_v4_decode_flops_against_flopcountermode(i, topk):
    """One token decoded after ``ctx`` cached ones, transformers 5.24 eager (the V4 caches):
    the counter sees the window's raw keys, every compressed entry and the indexer over all of
    them (the top-k is a mask), so it equals ``decode_flops`` plus the CSA entries beyond
    ``index_topk`` (``QKᵀ`` and ``A·V``, ``2·a·d`` each per entry)."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from hf_oracle import hf_config
    from torch.utils.flop_counter import FlopCounterMode
    from transformers import AutoModelForCausalLM

    from estimator.flops import FLOPS_PER_MAC, decode_flops_per_token

    cfg = {**hybrid_configs.random_configs("deepseek_v4", 4, "decode")[i], "index_topk": topk}
    spec = spec_from_hf_config(cfg)
    c = spec.compressed_attention
    torch.manual_seed(0)
    model = AutoModelForCausalLM.from_config(hf_config(cfg), experts_implementation="eager",
                                             attn_implementation="eager").eval()
    for ctx in (2, 5, 9, 17):
        ids = torch.randint(1, cfg["vocab_size"], (1, ctx + 1))
        with torch.no_grad():
            cache = model(ids[:, :ctx], use_cache=True).past_key_values
            with FlopCounterMode(display=False) as fc:
                model(ids[:, ctx:], past_key_values=cache, use_cache=True)
        masked = max(0, (ctx + 1) // c.csa_rate - topk)
        extra = len(c.csa_layers) * masked * 2 * FLOPS_PER_MAC * spec.num_attention_heads \
            * spec.head_dim
        assert fc.get_total_flops() == decode_flops_per_token(spec, ctx) + extra, ctx


#: DeepSeek-V4-Flash's config.json as third-party code quotes it ("Snapshot from
#: https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash/blob/main/config.json"; the same sizes
#: in several independent repositories): the publisher's file itself was not found in the
#: search tools, so it is not a preset (configs/models) — only this cross-check with the card.
V4_FLASH_QUOTED = {
    "model_type": "deepseek_v4", "hidden_size": 4096, "num_hidden_layers": 43,
    "num_attention_heads": 64, "num_key_value_heads": 1, "head_dim": 512, "q_lora_rank": 1024,
    "o_lora_rank": 1024, "o_groups": 8, "qk_rope_head_dim": 64, "vocab_size": 129280,
    "n_routed_experts": 256, "n_shared_experts": 1, "num_experts_per_tok": 6,
    "moe_intermediate_size": 2048, "index_n_heads": 64, "index_head_dim": 128,
    "index_topk": 512, "sliding_window": 128, "hc_mult": 4, "hc_sinkhorn_iters": 20,
    "num_hash_layers": 3, "num_nextn_predict_layers": 1, "tie_word_embeddings": False,
    "compress_ratios": [0, 0] + [4, 128] * 20 + [4, 0], "max_position_embeddings": 1048576}


def test_deepseek_v4_flash_quoted_config_matches_card_and_transformers():
    """The card (https://huggingface.co/deepseek-ai/DeepSeek-V4-Flash, as quoted by
    https://github.com/antirez/ds4/blob/main/MODEL_CARD.md): 284B total, 13B active. Ours:
    284.33B, 13.27B without the input embedding (DeepSeek's convention for V3: PUBLISHER_
    CONVENTIONS), equal to transformers' meta-device model; the MTP layer is outside both."""
    from test_presets import rounds_to

    spec = spec_from_hf_config(V4_FLASH_QUOTED)
    p = count_params(spec)
    assert rounds_to(p.total, 284 * 10**9) and rounds_to(p.active_without_embedding, 13 * 10**9)
    assert (len(spec.compressed_attention.csa_layers), len(spec.compressed_attention.hca_layers),
            spec.compressed_attention.hash_moe_layers) == (21, 20, (0, 1, 2))
    pytest.importorskip("transformers")
    from hf_oracle import build, numel

    assert p.total == numel(build(V4_FLASH_QUOTED))


@pytest.mark.parametrize("cfg", V4_CASES[:3], ids=[f"deepseek_v4-{i}" for i in range(3)])
def test_deepseek_v4_report_memory_and_refusals(cfg, tmp_path):
    """Downstream of the counts: the whole report runs; its weights are transformers'
    parameters and buffers in bf16 (one GPU), its KV cache :func:`memory.kv_cache_bytes` (the
    window + compressed entries checked against transformers' caches above) and the pipeline
    stages share both exactly; the serving engine's start-up figures and training say they are
    not modelled (a section that names why, a CLI exit 2 with one line for ``plan``)."""
    import json

    import estimator
    from estimator import cli

    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    spec = spec_from_hf_config(cfg)
    L = spec.num_hidden_layers
    for pp in (1, 2) if L >= 2 else (1,):
        r = estimator.estimate(str(path), tp=1, pp=pp, ep=1, num_gpus=pp, seq_len=37, batch=3)
        d = r.to_dict()
        inf = d["memory"]["inference"]
        assert inf["kv_cache"] == memory.kv_cache_bytes(spec, 3, 37, "bf16", "engine")
        assert sum(st.kv_cache for st in r.inference.stages) == inf["kv_cache"]
        assert inf["engine"] is None and any(n.startswith("DeepSeek-V4") for n in inf["notes"])
        assert d["training"]["field"] == d["memory"]["training"]["field"] == "model_type"
    p = count_params(spec)
    from estimator.presets import spec_from_fields  # a custom spec file round-trips the block
    assert spec_from_fields(json.loads(json.dumps(spec.to_dict()))) == spec
    pytest.importorskip("transformers")
    from hf_oracle import build

    meta = build(cfg)
    n = sum(t.numel() for t in meta.parameters()) + sum(
        t.numel() for name, t in meta.named_buffers() if "tid2eid" in name or "e_score" in name)
    assert sum(memory.weight_bytes(spec, "bf16").values()) == 2 * n == 2 * (p.total + p.buffers)
    assert cli.main(["plan", str(path), "--num-gpus", "8"]) == 2


# ----------------------------------------------------------------------------------------------
# A.X-K2: q_gate_proj and gated norms as transformers builds them; downstream refusals
# ----------------------------------------------------------------------------------------------

PARTS_CASES = [(mt, i, cfg) for mt in ("axk2", "hy_v4")
               for i, cfg in enumerate(hybrid_configs.random_configs(mt, 4, mt + "-parts"))]


@pytest.mark.parametrize("model_type,i,cfg", PARTS_CASES,
                         ids=[f"{mt}-{i}" for mt, i, _ in PARTS_CASES])
def test_axk2_hy_v4_components_and_report(model_type, i, cfg, tmp_path):
    """A.X-K2 and HY-V4 against transformers' named parameters on the meta device: attention
    (A.X-K2's q_gate_proj instead of q_b_proj; HY-V4's gate_proj, sinks and an indexer only on
    the "full" layers), norms (A.X-K2's gated input norms and MoE post-attention norms), HY-V4's
    hyper-connections in ``other``; inference weights in bf16 are transformers' parameters and
    buffers, pipeline stages share them and the KV cache exactly; the serving engine's figures
    and training say they are not modelled (CLI ``plan``: exit 2)."""
    import json

    import estimator
    from estimator import cli

    spec = spec_from_hf_config(cfg)
    p = count_params(spec)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    L = spec.num_hidden_layers
    for pp in (1, 2) if L >= 2 else (1,):
        r = estimator.estimate(str(path), tp=1, pp=pp, ep=1, num_gpus=pp, seq_len=37, batch=3)
        d = r.to_dict()
        inf = d["memory"]["inference"]
        assert inf["kv_cache"] == memory.kv_cache_bytes(spec, 3, 37, "bf16", "engine")
        assert sum(st.kv_cache for st in r.inference.stages) == inf["kv_cache"]
        assert inf["engine"] is None and any(
            n.startswith({"axk2": "A.X-K2", "hy_v4": "HY-V4"}[model_type]) for n in inf["notes"])
        assert d["training"]["field"] == d["memory"]["training"]["field"] == "model_type"
        tied_copy = 2 * spec.vocab_size * spec.hidden_size if (
            spec.tie_word_embeddings and pp > 1) else 0  # the last stage's own lm_head
        assert sum(sum(st.weights.values()) for st in r.inference.stages) == sum(
            memory.weight_bytes(spec, "bf16").values()) + tied_copy
    assert cli.main(["plan", str(path), "--num-gpus", "8"]) == 2
    from estimator.presets import spec_from_fields  # a custom spec file round-trips the block
    assert spec_from_fields(json.loads(json.dumps(spec.to_dict()))) == spec
    pytest.importorskip("transformers")
    from hf_oracle import build

    meta = build(cfg)
    named = dict(meta.named_parameters())

    def part(*keys):
        return sum(t.numel() for n, t in named.items() if any(k in n for k in keys))

    assert p.attention == part(".self_attn.")
    assert p.norms == part("input_layernorm", "post_attention_layernorm", "model.norm.")
    assert p.other == part("_hc.", "hc_head.")
    if model_type == "axk2":
        assert not any("q_b_proj" in n for n in named)
    else:
        own = [li for li, layer in enumerate(meta.model.layers)
               if layer.self_attn.indexer is not None]
        assert list(spec.mla.indexer_layers or range(L)) == own
    n_buf = sum(t.numel() for n, t in meta.named_buffers() if "e_score_correction_bias" in n)
    assert p.buffers == n_buf
    assert sum(memory.weight_bytes(spec, "bf16").values()) == 2 * (p.total + n_buf)


# ----------------------------------------------------------------------------------------------
# RecurrentGemma downstream: no engine model, training refused, schedule errors
# ----------------------------------------------------------------------------------------------

def test_recurrent_gemma_report_engine_and_training_refusals(tmp_path, capsys):
    """The whole report runs on a RecurrentGemma config; its state is the RG-LRU state checked
    against transformers above (fp32 recurrent part in a bf16 model); vLLM and SGLang have no
    model for it, so the engine section is left out with the reason in the notes; training
    says it is not modelled (a section naming ``model_type``; ``plan`` exits 2 with one line)."""
    import json

    import estimator
    from estimator import cli

    cfg = {**hybrid_configs.random_configs("recurrent_gemma", 1, "report")[0],
           "block_types": ["recurrent", "recurrent", "attention"], "num_hidden_layers": 5}
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    spec = spec_from_hf_config(cfg)
    d = estimator.estimate(str(path), tp=1, pp=1, num_gpus=1, seq_len=37, batch=3).to_dict()
    inf = d["memory"]["inference"]
    assert inf["state"] == memory.state_bytes(spec, 3, "bf16", "engine")
    assert inf["kv_cache"] == memory.kv_cache_bytes(spec, 3, 37, "bf16", "engine")
    assert inf["engine"] is None and any(n.startswith("RecurrentGemma: neither vLLM")
                                         for n in inf["notes"])
    assert d["training"]["field"] == d["memory"]["training"]["field"] == "model_type"
    assert "RecurrentGemma" in d["training"]["not_applicable"]
    capsys.readouterr()
    assert cli.main(["plan", str(path), "--num-gpus", "8"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "model_type" in err[0]


def test_rwkv_state_stays_fp32_in_bf16(tmp_path):
    """RWKV-4 in bf16: the two token shifts (``state[0:2]``) are bf16, the WKV numerator,
    denominator and maximum (``state[2:5]``) fp32 (``RwkvModel.forward``); the report runs,
    with no engine section (no vLLM/SGLang model), training refused and tp > 1 refused."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import json

    from hf_oracle import eager_model

    import estimator

    for cfg in hybrid_configs.random_configs("rwkv", 3, "bf16"):
        cfg = {**cfg, "attention_hidden_size": cfg["hidden_size"]}
        model = eager_model(cfg).to(torch.bfloat16)
        spec = spec_from_hf_config(cfg)
        with torch.no_grad():
            out = model(torch.randint(1, cfg["vocab_size"], (2, 6)), use_cache=True)
        state = sum(t.numel() * t.element_size() for t in out.state)
        assert state == memory.state_bytes(spec, 2, "bf16", "transformers"), cfg
        assert state == memory.state_bytes(spec, 2, "bf16", "engine"), cfg
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    d = estimator.estimate(str(path), tp=1, pp=1, num_gpus=1, seq_len=37, batch=3).to_dict()
    inf = d["memory"]["inference"]
    assert inf["kv_cache"] == 0
    assert inf["state"] == 3 * memory.state_bytes(spec, 1, "bf16", "engine")
    assert inf["engine"] is None and any(n.startswith("RWKV-4: neither vLLM")
                                         for n in inf["notes"])
    assert d["training"]["field"] == "model_type" and "RWKV-4" in d["training"]["not_applicable"]
    with pytest.raises(EstimatorError) as e:
        estimator.estimate(str(path), tp=2, pp=1, num_gpus=2)
    assert e.value.field == "tp"


def test_xlstm_state_in_model_dtype_and_refusals(tmp_path):
    """xLSTM in bf16: ``xLSTMCache`` holds C, n and m in the model dtype (the kernels' fp32
    state is copied in); the report runs with no engine section, training refused, tp 1."""
    torch = pytest.importorskip("torch")
    pytest.importorskip("transformers")
    import json

    from hf_oracle import eager_model

    import estimator

    for cfg in hybrid_configs.random_configs("xlstm", 3, "bf16"):
        cfg = {**cfg, "weight_mode": "single"}
        model = eager_model(cfg).to(torch.bfloat16)
        spec = spec_from_hf_config(cfg)
        with torch.no_grad():
            out = model(torch.randint(1, cfg["vocab_size"], (2, 7)), use_cache=True)
        state = sum(t.numel() * t.element_size() for ts in out.cache.rnn_state.values()
                    for t in ts)
        assert state == memory.state_bytes(spec, 2, "bf16", "transformers"), cfg
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    d = estimator.estimate(str(path), tp=1, pp=1, num_gpus=1, seq_len=37, batch=3).to_dict()
    inf = d["memory"]["inference"]
    assert inf["kv_cache"] == 0 and inf["state"] == 3 * memory.state_bytes(spec, 1, "bf16")
    assert inf["engine"] is None and any(n.startswith("xLSTM: neither vLLM")
                                         for n in inf["notes"])
    assert d["training"]["field"] == "model_type" and "xLSTM" in d["training"]["not_applicable"]
    with pytest.raises(EstimatorError) as e:
        estimator.estimate(str(path), tp=2, pp=1, num_gpus=2)
    assert e.value.field == "tp"


@pytest.mark.parametrize("change,field", [
    ({"use_bias": True}, "use_bias"),
    ({"embedding_dim": 32}, "embedding_dim"),
    ({"num_blocks": 7}, "num_blocks"),
    ({"num_heads": 3}, "qk_dim_factor"),
    ({"qk_dim_factor": -1}, "qk_dim_factor"),
])
def test_xlstm_bad_config_names_the_field(change, field):
    cfg = {**hybrid_configs.random_configs("xlstm", 1, "bad")[0], **change}
    with pytest.raises(EstimatorError) as e:
        spec_from_hf_config(cfg)
    assert e.value.field == field


@pytest.mark.parametrize("change,field", [
    ({"block_types": ["recurrent", "mlp"]}, "block_types[1]"),
    ({"block_types": []}, "block_types"),
    ({"block_types": "recurrent"}, "block_types"),
    ({"lru_width": 10, "num_attention_heads": 4, "num_key_value_heads": 1}, "lru_width"),
])
def test_recurrent_gemma_bad_config_names_the_field(change, field):
    cfg = {**hybrid_configs.random_configs("recurrent_gemma", 1, "bad")[0], **change}
    with pytest.raises(EstimatorError) as e:
        spec_from_hf_config(cfg)
    assert e.value.field == field
