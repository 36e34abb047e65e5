"""vLLM's KV cache for models whose layers differ in K/V heads and head sizes, or share K/V
(Gemma-4, Gemma-3n, MiMo-V2-Flash, Laguna; estimator/engine.py::vllm_layer_shaped_plan): the
engine's spec building, page unification, grouping, block count, "GPU KV cache size" and maximum
concurrency, transcribed here from vLLM with their sources and fed with the layer shapes vLLM's
model files read from the config (not with the estimator's spec)."""

from __future__ import annotations

from dataclasses import dataclass, replace
from types import SimpleNamespace

import layer_shape_configs
import pytest

from estimator import engine, memory, serving
from estimator.hf import spec_from_hf_config
from estimator.memory import layout

transformers = pytest.importorskip("transformers")

BF16, FP8 = 2, 1
MNBT = 8192  # max_num_batched_tokens


def _cdiv(a, b):
    return -(-a // b)


# ---------------------------------------------------------------------------------------------
# vLLM, transcribed (vllm-project/vllm main, 2026)
# ---------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class AttentionSpec:
    # vllm/v1/kv_cache_interface.py: FullAttentionSpec / SlidingWindowSpec (sliding_window set)
    block_size: int
    num_kv_heads: int
    head_size: int
    head_size_v: int
    dtype_size: int
    sliding_window: int | None = None

    @property
    def page_size_bytes(self):
        # FullAttentionSpec.real_page_size_bytes (SlidingWindowSpec carries head_size_v too
        # since attention.py::Attention.get_kv_cache_spec passes it)
        return (self.block_size * self.num_kv_heads * (self.head_size + self.head_size_v)
                * self.dtype_size)

    def max_memory_usage_bytes(self, max_model_len, max_num_batched_tokens):
        if self.sliding_window is None:  # FullAttentionSpec.max_memory_usage_bytes
            return _cdiv(max_model_len, self.block_size) * self.page_size_bytes
        # SlidingWindowSpec.max_memory_usage_bytes
        num_tokens = min(self.sliding_window - 1 + max_num_batched_tokens, max_model_len)
        return (_cdiv(num_tokens, self.block_size) + 1) * self.page_size_bytes


def gemma4_kv_cache_spec(config, tp, dtype_size, block_size=16):
    # vllm/model_executor/models/gemma4.py (Gemma4DecoderLayer / Gemma4Attention.__init__) and
    # vllm/v1/worker/gpu_model_runner.py::get_kv_cache_spec (layers with
    # kv_sharing_target_layer_name get no spec)
    specs = {}
    L = config.num_hidden_layers
    for layer_idx in range(L):
        layer_type = config.layer_types[layer_idx]
        is_full_attention = layer_type == "full_attention"
        head_dim = (getattr(config, "global_head_dim", config.head_dim) if is_full_attention
                    else config.head_dim)
        use_k_eq_v = is_full_attention and getattr(config, "attention_k_eq_v", False)
        if use_k_eq_v:
            num_kv_heads = getattr(config, "num_global_key_value_heads", None) \
                or config.num_key_value_heads
        else:
            num_kv_heads = config.num_key_value_heads
        num_kv_shared_layers = getattr(config, "num_kv_shared_layers", 0) or 0
        kv_sharing_target_layer_name = None
        if num_kv_shared_layers > 0:
            first_kv_shared_layer_idx = L - num_kv_shared_layers
            if layer_idx >= first_kv_shared_layer_idx:
                prev_layers = config.layer_types[:first_kv_shared_layer_idx]
                kv_sharing_target_layer_name = (
                    len(prev_layers) - 1 - prev_layers[::-1].index(layer_type))
        if kv_sharing_target_layer_name is not None:
            continue
        sliding_window = config.sliding_window if layer_type == "sliding_attention" else None
        specs[layer_idx] = AttentionSpec(block_size, max(1, num_kv_heads // tp), head_dim,
                                         head_dim, dtype_size, sliding_window)
    return specs


def gemma3n_kv_cache_spec(config, tp, dtype_size, block_size=16):
    # vllm/model_executor/models/gemma3n.py::Gemma3nAttention.__init__: one K/V shape on every
    # layer (num_key_value_heads, head_dim), per_layer_sliding_window on sliding layers; a
    # layer at or after first_kv_shared_layer_idx = num_hidden_layers - num_kv_shared_layers
    # gets kv_sharing_target_layer_name (layer first - 2 if sliding else first - 1), so
    # gpu_model_runner.py::get_kv_cache_spec gives it no spec
    specs = {}
    first_kv_shared_layer_idx = config.num_hidden_layers - config.num_kv_shared_layers
    for layer_idx, t in enumerate(config.layer_types):
        if layer_idx >= first_kv_shared_layer_idx:
            continue
        specs[layer_idx] = AttentionSpec(block_size, max(1, config.num_key_value_heads // tp),
                                         config.head_dim, config.head_dim, dtype_size,
                                         config.sliding_window if t == "sliding_attention"
                                         else None)
    return specs


def mimo_v2_flash_kv_cache_spec(config, tp, dtype_size, block_size=16):
    # vllm/model_executor/models/mimo_v2_flash.py::MiMoV2FlashDecoderLayer: sliding layers
    # take swa_num_key_value_heads / swa_head_dim / swa_v_head_dim, the others
    # num_key_value_heads / head_dim / v_head_dim; Attention(..., head_size_v=v_head_dim).
    # The released config's swa_num_key_value_heads is twice num_key_value_heads, which is
    # what transformers' MiMoV2FlashAttention builds ("num_key_value_heads * 2 if is_swa"),
    # and sliding_window_size = transformers' sliding_window − 1 (MiMoV2FlashConfig).
    specs = {}
    for i, t in enumerate(config.layer_types):
        swa = t == "sliding_attention"
        g = config.num_key_value_heads * (2 if swa else 1)
        specs[i] = AttentionSpec(block_size, max(1, g // tp), config.head_dim,
                                 config.v_head_dim, dtype_size,
                                 config.sliding_window if swa else None)
    return specs


def uniform_kv_cache_spec(config, tp, dtype_size, block_size=16):
    # one K/V shape on every layer: vllm/model_executor/models/gemma3.py::Gemma3Attention
    # ("sliding_window = config.sliding_window if self.is_sliding else None"); Laguna's query
    # heads differ by layer (num_attention_heads_per_layer), its K/V heads and head_dim do not
    specs = {}
    for i, t in enumerate(config.layer_types):
        specs[i] = AttentionSpec(block_size, max(1, config.num_key_value_heads // tp),
                                 config.head_dim, config.head_dim, dtype_size,
                                 config.sliding_window if t == "sliding_attention" else None)
    return specs


KV_SPECS = {"gemma4_text": gemma4_kv_cache_spec, "gemma4_unified_text": gemma4_kv_cache_spec,
            "mimo_v2_flash": mimo_v2_flash_kv_cache_spec, "laguna": uniform_kv_cache_spec,
            "gemma3_text": uniform_kv_cache_spec, "gemma3n_text": gemma3n_kv_cache_spec}


def is_uniform_type(specs):
    # kv_cache_interface.py::UniformTypeKVCacheSpecs.is_uniform_type
    if len({s.block_size for s in specs.values()}) > 1:
        return False
    one = next(iter(specs.values()))
    if one.sliding_window is None:
        return all(s.sliding_window is None for s in specs.values())
    return all(s.sliding_window == one.sliding_window for s in specs.values())


def unify_kv_cache_spec_page_size(specs):
    # kv_cache_utils.py::unify_kv_cache_spec_page_size
    page_sizes = {s.page_size_bytes for s in specs.values()}
    if len(page_sizes) <= 1:
        return specs
    max_page_size = max(page_sizes)
    new = {}
    for name, spec in specs.items():
        if spec.page_size_bytes == max_page_size:
            new[name] = spec
        else:
            if max_page_size % spec.page_size_bytes != 0:
                raise NotImplementedError("The page size of the layer is not divisible by "
                                          "the maximum page size.")
            ratio = max_page_size // spec.page_size_bytes
            new[name] = replace(spec, block_size=spec.block_size * ratio)
    return new


def get_kv_cache_groups(specs):
    # kv_cache_utils.py::get_kv_cache_groups -> list of (layer names, spec, kind) with kind
    # "uniform_type" for one UniformTypeKVCacheSpecs group
    if len(set(specs.values())) == 1:  # is_kv_cache_spec_uniform
        return [(list(specs), next(iter(specs.values())), "spec")]
    if is_uniform_type(specs):  # _get_kv_cache_groups_uniform_type
        return [(list(specs), dict(specs), "uniform_type")]
    specs = unify_kv_cache_spec_page_size(specs)
    # _get_kv_cache_groups_uniform_page_size
    same_type_layers = {}
    for name, spec in specs.items():
        same_type_layers.setdefault(spec, []).append(name)
    min_num_layers = min(len(v) for v in same_type_layers.values())
    group_size = min_num_layers
    max_num_layers = max(len(v) for v in same_type_layers.values())
    if max_num_layers < min_num_layers * 1.5:
        group_size = max_num_layers
    grouped = []
    for spec, layers in same_type_layers.items():
        num_groups = _cdiv(len(layers), group_size)
        for i in range(num_groups):
            grouped.append((layers[i::num_groups], spec, "spec"))
    return grouped


def project_to_worker(groups, worker_layers):
    # kv_cache_utils.py::_project_kv_cache_groups_to_worker
    out = []
    for names, spec, kind in groups:
        names = [n for n in names if n in worker_layers]
        if kind == "uniform_type":
            spec = {n: spec[n] for n in names}
        out.append((names, spec, kind))
    return out


def num_blocks_tokens_concurrency(groups, available_memory, max_model_len):
    # kv_cache_utils.py::get_kv_cache_config_from_groups, _report_kv_cache_config and
    # get_max_concurrency_for_kv_cache_config for one worker's projected groups
    if len(groups) == 1 and groups[0][2] == "uniform_type":
        per_layer = groups[0][1]
        page = sum(s.page_size_bytes for s in per_layer.values())
        num_blocks = available_memory // page
        # UniformTypeKVCacheSpecs.max_memory_usage_bytes: max_num_pages * page_size_bytes
        max_num_pages = max(_cdiv(s.max_memory_usage_bytes(max_model_len, MNBT),
                                  s.page_size_bytes) for s in per_layer.values())
        n = len(groups[0][0])
        max_memory_usage_per_request = n * max_num_pages * page
        memory_per_block = page * n
        min_block_size = next(iter(per_layer.values())).block_size
    else:
        group_size = max(len(names) for names, _, _ in groups)
        page = groups[0][1].page_size_bytes
        assert all(spec.page_size_bytes == page for _, spec, _ in groups)
        num_blocks = max(int(available_memory // page // group_size), 0)  # get_num_blocks
        max_memory_usage_per_request = group_size * sum(
            spec.max_memory_usage_bytes(max_model_len, MNBT) for _, spec, _ in groups)
        memory_per_block = page * group_size
        min_block_size = min(spec.block_size for _, spec, _ in groups)
    num_tokens = num_blocks // len(groups) * min_block_size
    concurrency = num_blocks / _cdiv(max_memory_usage_per_request, memory_per_block)
    return num_blocks, num_tokens, concurrency


def _config(cfg):
    """The config attributes vLLM's model files read: config.json's own values over
    transformers' defaults, with transformers' ``layer_types`` (transformers 5.24 moves
    Gemma-4's ``global_head_dim`` into a per-layer view, which vLLM does not read)."""
    tc = transformers.AutoConfig.for_model(**cfg)
    return SimpleNamespace(**{**tc.to_dict(), **cfg, "layer_types": list(tc.layer_types)})


# ---------------------------------------------------------------------------------------------
# the estimator's plan against the transcription
# ---------------------------------------------------------------------------------------------

def _estimator(spec, kv_dtype, tp, lo, hi, avail, max_len):
    plan = engine.vllm_kv_plan(spec, "engine", kv_dtype, "bf16", tp, lo, hi, max_len, MNBT)
    blocks = engine.vllm_num_blocks(avail, plan.page, plan.group_size)
    return (plan, blocks, engine.vllm_kv_tokens(blocks, plan.groups, plan.min_block_size),
            engine.vllm_max_concurrency(blocks, plan.blocks_per_request))


def _check(spec, config, family, kv_dtype, dtype_size, tp, lo, hi, max_len, avails):
    specs = KV_SPECS[family](config, tp, dtype_size)
    worker = {n for n in specs if lo <= n < hi}
    try:
        groups = project_to_worker(get_kv_cache_groups(dict(specs)), worker)
    except NotImplementedError:
        plan = engine.vllm_kv_plan(spec, "engine", kv_dtype, "bf16", tp, lo, hi, max_len, MNBT)
        assert plan.refused
        return "refused"
    for avail in avails:
        plan, blocks, tokens, conc = _estimator(spec, kv_dtype, tp, lo, hi, avail, max_len)
        assert not plan.refused
        if not worker:  # a worker with no cache layer: vLLM reports nothing for it
            continue
        assert (blocks, tokens) == num_blocks_tokens_concurrency(groups, avail, max_len)[:2]
        assert conc == pytest.approx(num_blocks_tokens_concurrency(groups, avail, max_len)[2],
                                     rel=1e-12)
    return groups[0][2] if len(groups) == 1 else "groups"


CASES = [(mt, cfg) for mt in sorted(layer_shape_configs.GENERATORS)
         for cfg in layer_shape_configs.random_configs(mt, 12, salt="engine")]


@pytest.mark.parametrize("model_type,cfg", CASES,
                         ids=[f"{mt}-{i}" for i, (mt, _) in enumerate(CASES)])
def test_plan_is_vllm_on_random_layer_shaped_configs(model_type, cfg):
    config = _config(cfg)
    spec = spec_from_hf_config(cfg)
    L = spec.num_hidden_layers
    seen = set()
    for tp in (1, 2):
        for kv_dtype, size in (("bf16", BF16), ("fp8", FP8)):
            for lo, hi in ((0, L), (0, L // 2), (L // 2, L)):
                for max_len in (7, 64, 1000):
                    seen.add(_check(spec, config, model_type, kv_dtype, size, tp, lo, hi,
                                    max_len, (0, 12_345, 10**6, 987_654_321)))
    assert seen


def test_random_configs_reach_every_vllm_path():
    """The random configs exercise one spec, one kind of differing shapes, page unification
    with grouping, and vLLM's refusal (page sizes that do not divide)."""
    seen = set()
    for mt, cfg in CASES:
        config = _config(cfg)
        spec = spec_from_hf_config(cfg)
        seen.add(_check(spec, config, mt, "bf16", BF16, 1, 0, spec.num_hidden_layers, 64,
                        (10**6,)))
    assert seen >= {"spec", "groups", "refused"}, seen


# ---------------------------------------------------------------------------------------------
# real configs
# ---------------------------------------------------------------------------------------------

#: Gemma-4 31B text config as quoted in a third-party parser test (ollama/ollama
#: x/models/gemma4/gemma4_test.go::TestParseTextConfig31B: hidden 5376, 60 layers, 32 heads, 16
#: K/V heads, 4 global K/V heads, head_dim 256, global_head_dim 512, sliding_window 1024,
#: attention_k_eq_v, five sliding layers to one full); max_position_embeddings 262,144, the
#: model's published 256K context (that fixture has 131,072).
GEMMA4_31B = {"model_type": "gemma4_text", "hidden_size": 5376, "num_hidden_layers": 60,
              "intermediate_size": 21504, "num_attention_heads": 32, "num_key_value_heads": 16,
              "num_global_key_value_heads": 4, "head_dim": 256, "global_head_dim": 512,
              "vocab_size": 262144, "max_position_embeddings": 262144, "sliding_window": 1024,
              "attention_k_eq_v": True, "tie_word_embeddings": True, "num_kv_shared_layers": 0,
              "hidden_size_per_layer_input": 0, "use_double_wide_mlp": False,
              "layer_types": (["sliding_attention"] * 5 + ["full_attention"]) * 10}


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_gemma4_31b_plan_is_vllm(tp):
    spec = spec_from_hf_config(GEMMA4_31B)
    config = _config(GEMMA4_31B)
    assert _check(spec, config, "gemma4_text", "bf16", BF16, tp, 0, 60, 32768,
                  (40 * 2**30, 11 * 2**30 + 12345)) == "groups"
    plan = engine.vllm_kv_plan(spec, "engine", "bf16", "bf16", tp, 0, 60, 32768, MNBT)
    # by hand: sliding 16 tokens x 16/tp heads x (256 + 256) x 2 bytes; full layers have
    # max(1, 4/tp) heads of 512, half that page up to tp 4, so their blocks hold 32 tokens there
    # (at tp 8 both kinds keep one or two heads and the pages are equal)
    assert plan.page == 16 * (16 // tp) * 512 * 2
    full_block = 32 if tp <= 4 else 16
    # 50 sliding + 10 full: group size 10, 5 sliding groups + 1 full group
    assert (plan.group_size, plan.groups) == (10, 6)
    assert plan.blocks_per_request == (5 * (_cdiv(1023 + MNBT, 16) + 1)
                                       + _cdiv(32768, full_block))


#: Gemma-3 27B text config (google/gemma-3-27b-it config.json: hidden 5376, 62 layers, 32
#: heads, 16 K/V heads, head_dim 128, sliding_window 1024, five sliding layers to one full).
GEMMA3_27B = {"model_type": "gemma3_text", "hidden_size": 5376, "num_hidden_layers": 62,
              "num_attention_heads": 32, "num_key_value_heads": 16, "head_dim": 128,
              "intermediate_size": 21504, "sliding_window": 1024, "vocab_size": 262208}


@pytest.mark.parametrize("pp", [1, 2, 3, 4])
def test_gemma3_groups_for_the_whole_model_under_pipeline_parallelism(pp):
    """Gemma-3 (one K/V shape, 52 sliding + 10 full layers): vLLM groups the layers of the
    whole model (group size 10: 6 sliding groups + 1 full) and projects the groups onto each
    pipeline stage (get_kv_cache_configs), not per stage; at pp 3 a stage of ~21 layers holds
    3-4 full layers and up to 4 layers of one sliding group."""
    spec, config = spec_from_hf_config(GEMMA3_27B), _config(GEMMA3_27B)
    bounds = [round(62 * k / pp) for k in range(pp + 1)]
    for lo, hi in zip(bounds, bounds[1:]):
        for tp in (1, 2, 4):
            assert _check(spec, config, "gemma3_text", "bf16", BF16, tp, lo, hi, 32768,
                          (20 * 2**30, 7 * 2**30 + 1)) == "groups"
            plan = engine.vllm_kv_plan(spec, "engine", "bf16", "bf16", tp, lo, hi, 32768,
                                       MNBT)
            assert plan.groups == 7


def _mimo_spec(config):
    return spec_from_hf_config({"model_type": "mimo_v2_flash", **{
        k: getattr(config, k) for k in (
            "hidden_size", "num_hidden_layers", "num_attention_heads", "num_key_value_heads",
            "head_dim", "v_head_dim", "sliding_window", "layer_types", "intermediate_size",
            "moe_intermediate_size", "n_routed_experts", "num_experts_per_tok", "vocab_size",
            "max_position_embeddings")}})


def test_mimo_v2_flash_plan_is_vllm():
    # transformers' MiMoV2FlashConfig defaults (transformers 5.24): 48 layers, layer 0 and
    # every sixth full, num_key_value_heads 4 (8 on sliding layers), head_dim 192,
    # v_head_dim 128, sliding_window 129
    config = transformers.MiMoV2FlashConfig()
    spec = _mimo_spec(config)
    for tp in (1, 2, 4):
        assert _check(spec, config, "mimo_v2_flash", "bf16", BF16, tp, 0, 48, 65536,
                      (30 * 2**30,)) == "groups"
    plan = engine.vllm_kv_plan(spec, "engine", "bf16", "bf16", 1, 0, 48, 65536, MNBT)
    assert plan.page == 16 * 8 * (192 + 128) * 2  # sliding pages; full blocks hold 32 tokens
    assert (plan.group_size, plan.groups) == (9, 6)  # 9 full + 39 sliding: 1 + 5 groups


def test_k_v_sharing_layers_get_no_cache():
    """Gemma-4 with the last layers sharing K/V: their pages are not allocated, so the same
    memory holds more blocks than the same model without sharing."""
    base = dict(GEMMA4_31B, num_hidden_layers=12, layer_types=GEMMA4_31B["layer_types"][:12],
                hidden_size_per_layer_input=64, vocab_size_per_layer_input=262144)
    avail = 20 * 2**30
    out = []
    for shared in (0, 6):
        cfg = dict(base, num_kv_shared_layers=shared)
        spec, config = spec_from_hf_config(cfg), _config(cfg)
        _check(spec, config, "gemma4_text", "bf16", BF16, 1, 0, 12, 32768, (avail,))
        out.append(_estimator(spec, "bf16", 1, 0, 12, avail, 32768)[1])
    assert out[1] > out[0]


# ---------------------------------------------------------------------------------------------
# the section and the serving decode reads
# ---------------------------------------------------------------------------------------------

def test_engine_section_and_decode_reads_use_layer_shapes():
    spec = spec_from_hf_config(GEMMA4_31B)
    import estimator
    r = estimator.estimate(spec, tp=2, pp=1, ep=1, gpu="h100-sxm", seq_len=32768)
    e = r.inference.engine
    assert e.page_size == 16 * 8 * 512 * 2 and e.attention_groups == 1
    assert any("pages unified" in n for n in e.notes)
    # a decode step reads what each layer caches: 50 sliding layers x min(ctx, 1023) tokens x
    # 8 heads x (256 + 256) x 2 bytes, 10 full layers x ctx x 2 heads x (512 + 512) x 2 bytes
    lay = layout(spec, 2, 1, 1)
    models = memory.stage_models(spec, lay, "bf16", "bf16", "engine", {})
    reads = serving.decode_reads(spec, lay, "bf16", models, 32768, "engine")
    assert reads.kv_per_sequence == (50 * 1023 * 8 * 512 * 2 + 10 * 32768 * 2 * 1024 * 2)


# ---------------------------------------------------------------------------------------------
# SGLang
# ---------------------------------------------------------------------------------------------

def sglang_hybrid_swa_cell_size(full_layers_num, swa_layers_num, num_kv_heads, head_dim,
                                v_head_dim, swa_num_kv_heads, swa_head_dim, swa_v_head_dim,
                                tp, kv_size):
    # python/sglang/srt/model_executor/model_runner_kv_cache_mixin.py::get_cell_size_per_token,
    # model_config.is_hybrid_swa; get_num_kv_heads(tp) = max(1, total_num_kv_heads // tp)
    full_per_token = max(1, num_kv_heads // tp) * (head_dim + v_head_dim)
    swa_per_token = max(1, swa_num_kv_heads // tp) * (swa_head_dim + swa_v_head_dim)
    return (full_per_token * full_layers_num + swa_per_token * swa_layers_num) * kv_size


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
@pytest.mark.parametrize("kv_dtype,kv_size", [("bf16", BF16), ("fp8", FP8)])
def test_sglang_cell_size_is_hybrid_swa_branch(tp, kv_dtype, kv_size):
    # MiMo-V2-Flash's released config: num_key_value_heads 4, swa_num_key_value_heads 8,
    # head_dim = swa_head_dim = 192, v_head_dim = swa_v_head_dim = 128; 9 full and 39 sliding
    # layers (transformers' MiMoV2FlashConfig defaults carry the same shapes)
    config = transformers.MiMoV2FlashConfig()
    spec = _mimo_spec(config)
    n_full = config.layer_types.count("full_attention")
    assert (n_full, 48 - n_full) == (9, 39)
    assert engine.sglang_cell_size(spec, "engine", kv_dtype, tp, 0, 48) == \
        sglang_hybrid_swa_cell_size(9, 39, 4, 192, 128, 8, 192, 128, tp, kv_size)


def test_layer_shaped_experts_split_over_expert_parallel_ranks():
    """vLLM's FusedMoE holds ``E / ep`` experts per rank (``n_local_physical_experts =
    n_physical_experts // ep_size``, mimo_v2_flash.py): the routed-expert bytes one GPU holds
    at ``tp = ep`` are the single-GPU bytes (checked against transformers' parameter count in
    tests/test_layer_shapes.py) over ``ep``. The engine's KV memory starts from these bytes."""
    seen = 0
    for mt, cfg in CASES:
        spec = spec_from_hf_config(cfg)
        if not spec.is_moe:
            continue
        one = memory.stage_models(spec, layout(spec, 1, 1, 1), "bf16", "bf16", "engine",
                                  {})[0].weights["routed_experts"]
        for ep in (2, 3, 4):
            if spec.num_experts % ep or spec.num_attention_heads % ep:
                continue
            try:
                lay = layout(spec, ep, 1, ep)
            except Exception:  # a tp the engines refuse for this model's heads
                continue
            w = memory.stage_models(spec, lay, "bf16", "bf16", "engine", {})[0].weights
            assert w["routed_experts"] * ep == one, (mt, cfg, ep)
            seen += 1
    assert seen


# ---------------------------------------------------------------------------------------------
# a published start-up log
# ---------------------------------------------------------------------------------------------

def test_gemma4_31b_kv_cache_size_matches_vllm_issue_43308():
    """vLLM issue #43308 (gemma-4-31B-it AWQ, one A100 80GB, gpu_memory_utilization 0.9,
    "Total available KV cache memory remained constant (~50 GB)"): "GPU KV cache size" ~55k
    tokens in v0.20.0 and ~525k in v0.21.0. v0.20 printed ``num_blocks // groups ·
    min_block_size``; later releases print ``int(max_concurrency · max_model_len)``
    (``_report_kv_cache_config``, quoted in vLLM issue #51041), which counts the sliding
    layers at their window only. Assumed (not in the issue): max_model_len 262,144 (the
    model's context; 586k, +12%) or 131,072 (530k, +1.0%), the A100 defaults of ``vllm serve``
    (2,048 batched tokens), 50 GiB. Bars: 15%, for "~50 GB" and "~525k"; the estimate before
    per-layer shapes (every layer at 16 K/V heads of 256) gave 309k at 262,144, 41% low."""
    spec = spec_from_hf_config(GEMMA4_31B)
    avail = 50 * 2**30
    for max_len in (262144, 131072):  # 586,295 and 530,410 tokens (v0.21)
        plan = engine.vllm_kv_plan(spec, "engine", "bf16", "bf16", 1, 0, 60, max_len, 2048)
        blocks = engine.vllm_num_blocks(avail, plan.page, plan.group_size)
        v020 = engine.vllm_kv_tokens(blocks, plan.groups, plan.min_block_size)
        v021 = int(engine.vllm_max_concurrency(blocks, plan.blocks_per_request) * max_len)
        assert v020 == pytest.approx(55_000, rel=0.15)  # 54,608
        assert v021 == pytest.approx(525_000, rel=0.15)


def _vllm_gemma3n_rank_elements(config, tp):
    """``(other, shared K/V)``: elements one tensor-parallel rank holds, as
    vllm/model_executor/models/gemma3n.py builds them, of (a) the per-layer inputs, AltUp and
    LAuReL — ``Gemma3nTextModel``: ``per_layer_model_projection`` ColumnParallelLinear
    (h → L·p), ``altup_projections`` / ``altup_unembed_projections`` ColumnParallelLinear
    (h → h, n − 1 each); ``Gemma3nDecoderLayer``: ``per_layer_input_gate`` /
    ``per_layer_projection`` ReplicatedLinear; ``Gemma3nAltUp``: ``correction_coefs``,
    ``prediction_coefs``, ``modality_router`` ReplicatedLinear, ``correct_output_scale`` (h);
    ``Gemma3nLaurelBlock``: ``linear_left`` ColumnParallelLinear (h → r), ``linear_right``
    RowParallelLinear (r → h) — and (b) the K/V part of ``qkv_proj`` (QKVParallelLinear:
    ``max(1, g // tp)`` heads a rank) and ``k_norm`` of the K/V-sharing layers."""
    h, L, p = config.hidden_size, config.num_hidden_layers, config.hidden_size_per_layer_input
    n, r, d = config.altup_num_inputs, config.laurel_rank, config.head_dim
    assert (L * p) % tp == 0 and h % tp == 0 and r % tp == 0  # vllm divide() asserts
    model = h * (L * p // tp) + 2 * (n - 1) * h * (h // tp)
    layer = (2 * h * p + (n * n + n * n * n + h * n + h)
             + h * (r // tp) + (r // tp) * h)
    g_r = max(1, config.num_key_value_heads // tp)
    kv = 2 * h * g_r * d + (2 * g_r * d if config.attention_bias else 0) + d
    return model + L * layer, config.num_kv_shared_layers * kv


@pytest.mark.parametrize("tp", [1, 2])
def test_gemma3n_weights_follow_vllm_tensor_parallel_layout(tp):
    """Per-rank weights of Gemma-3n's per-layer inputs, AltUp and LAuReL (the ``other``
    component) and the K/V projections vLLM keeps on K/V-sharing layers equal vLLM's layout
    (transcribed above), on random configs whose widths vLLM can split."""
    from estimator.memory import stage_weight_bytes, weight_formats

    fmts = weight_formats("bf16")
    checked = 0
    for cfg in layer_shape_configs.random_configs("gemma3n_text", 40, salt="vllm-weights"):
        config = _config(cfg)
        L, p = config.num_hidden_layers, config.hidden_size_per_layer_input
        if tp > 1 and ((L * p) % tp or config.laurel_rank % tp
                       or config.num_attention_heads % tp):
            continue
        spec = spec_from_hf_config(cfg)
        w = stage_weight_bytes(spec, None, fmts, L, 0, True, True, tp, 1, layers=(0, L))
        other, kv = _vllm_gemma3n_rank_elements(config, tp)
        assert w["other"] == BF16 * other, cfg
        assert engine.vllm_kv_shared_projection_bytes(spec, tp, 0, L, fmts) == BF16 * kv, cfg
        checked += 1
    assert checked >= 5


def test_gemma3n_engine_section_holds_the_shared_layers_projections_and_refuses_sglang():
    """vLLM's weights = the stage's weights + the shared layers' K/V projections; SGLang's
    figures are not modelled for Gemma-3n (the section says so instead of a number)."""
    import estimator

    cfg = {"model_type": "gemma3n_text", "num_hidden_layers": 10, "hidden_size": 64,
           "num_attention_heads": 4, "num_key_value_heads": 2, "head_dim": 16,
           "vocab_size": 300, "intermediate_size": 128, "num_kv_shared_layers": 5,
           "hidden_size_per_layer_input": 8, "vocab_size_per_layer_input": 300}
    spec = spec_from_hf_config(cfg)
    r = estimator.estimate(spec, tp=1, pp=1, ep=1, gpu="h100-sxm", seq_len=4096)
    extra = BF16 * 5 * (2 * 64 * 2 * 16 + 16)  # 5 layers: k_proj, v_proj (h x g x d), k_norm
    assert r.inference.engine.weights == sum(r.inference.weights_breakdown.values()) + extra
    assert any("still holds their K/V projections" in n for n in r.inference.engine.notes)
    s = estimator.estimate(spec, tp=1, pp=1, ep=1, gpu="h100-sxm", seq_len=4096,
                           engine="sglang")
    assert s.inference.engine is None
    assert any("Gemma-3n under SGLang" in n for n in s.inference.notes)
