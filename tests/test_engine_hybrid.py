"""Engine memory of DeepSeek Sparse Attention and hybrid (Mamba / linear-attention) models
(estimator/engine.py): vLLM's KV specs, page unification and grouping, and SGLang's NSA cell
size, transcribed here with their sources and fed with the published config.json values."""

from __future__ import annotations

import math

import pytest
from test_engine import vllm_group_size as vllm_uniform_page_size_groups  # one transcription

import estimator
from estimator import engine

GIB = 2**30
BF16, FP8, UINT8, FP32 = 2, 1, 1, 4


def _cdiv(a, b):
    return -(-a // b)


# ---------------------------------------------------------------------------------------------
# vLLM, transcribed (vllm-project/vllm main, 2025-2026)
# ---------------------------------------------------------------------------------------------

def vllm_mla_real_page_size_bytes(block_size, num_kv_heads, head_size, dtype_size,
                                  cache_dtype_str=None):
    # vllm/v1/kv_cache_interface.py::MLAAttentionSpec.real_page_size_bytes
    if cache_dtype_str == "fp8_ds_mla":
        # See `vllm/v1/attention/backends/mla/flashmla_sparse.py` for details.
        return block_size * 656
    return block_size * num_kv_heads * head_size * dtype_size


def vllm_full_attention_page_size_bytes(block_size, num_kv_heads, head_size, dtype_size):
    # vllm/v1/kv_cache_interface.py::AttentionSpec.real_page_size_bytes
    return 2 * block_size * num_kv_heads * head_size * dtype_size


def vllm_indexer_cache_spec(index_head_dim, block_size):
    # vllm/model_executor/models/deepseek_v2.py::Indexer.__init__:
    #   self.k_cache = DeepseekV32IndexerCache(
    #       head_dim=self.head_dim + self.head_dim // self.quant_block_size * 4,
    #       dtype=torch.uint8, ...)          # quant_block_size = 128
    # DeepseekV32IndexerCache.get_kv_cache_spec -> MLAAttentionSpec(block_size, num_kv_heads=1,
    #                                                              head_size, dtype)
    head_dim = index_head_dim + index_head_dim // 128 * 4
    return vllm_mla_real_page_size_bytes(block_size, 1, head_dim, UINT8)


def vllm_uniform_type_num_blocks(available_memory, page_sizes):
    # vllm/v1/core/kv_cache_utils.py::get_kv_cache_config_from_groups, UniformTypeKVCacheSpecs:
    #   num_blocks = available_memory // kv_cache_groups[0].kv_cache_spec.page_size_bytes
    # UniformTypeKVCacheSpecs.page_size_bytes = sum(spec.page_size_bytes for every layer)
    return available_memory // sum(page_sizes)


def vllm_uniform_type_max_concurrency(num_blocks, num_layers, max_model_len, block_size,
                                      page_sizes):
    # kv_cache_utils.py::get_max_concurrency_for_kv_cache_config with one
    # UniformTypeKVCacheSpecs group of num_layers layers;
    # UniformTypeKVCacheSpecs.max_memory_usage_bytes = max_num_pages * page_size_bytes
    page = sum(page_sizes)
    max_num_pages = _cdiv(max_model_len, block_size)  # FullAttentionSpec.max_memory_usage_bytes
    max_memory_usage_per_request = num_layers * max_num_pages * page
    memory_per_block = page * num_layers
    return num_blocks / _cdiv(max_memory_usage_per_request, memory_per_block)


class MambaStateShapeCalculator:
    # vllm/model_executor/layers/mamba/mamba_utils.py
    @classmethod
    def linear_attention_state_shape(cls, num_heads, tp_size, head_dim):
        return ((num_heads // tp_size, head_dim, head_dim),)

    @classmethod
    def mamba1_state_shape(cls, tp_world_size, intermediate_size, state_size, conv_kernel):
        conv_state_shape = (intermediate_size // tp_world_size, conv_kernel - 1)
        temporal_state_shape = (intermediate_size // tp_world_size, state_size)
        conv_state_shape = conv_state_shape[1], conv_state_shape[0]
        return conv_state_shape, temporal_state_shape

    @classmethod
    def mamba2_state_shape(cls, tp_world_size, intermediate_size, n_groups, num_heads,
                           head_dim, state_size, conv_kernel):
        n_groups = n_groups + cls.extra_groups_for_head_shards(n_groups, tp_world_size)
        conv_dim = intermediate_size + 2 * n_groups * state_size
        conv_state_shape = (conv_kernel - 1, conv_dim // tp_world_size)
        temporal_state_shape = (num_heads // tp_world_size, head_dim, state_size)
        return conv_state_shape, temporal_state_shape

    @classmethod
    def short_conv_state_shape(cls, tp_world_size, intermediate_size, conv_kernel):
        return ((conv_kernel - 1, intermediate_size // tp_world_size),)

    @classmethod
    def extra_groups_for_head_shards(cls, ngroups, tp_size):
        if ngroups % tp_size == 0:
            return 0
        return tp_size - ngroups

    @classmethod
    def gated_delta_net_state_shape(cls, tp_world_size, num_k_heads, num_v_heads, head_k_dim,
                                    head_v_dim, conv_kernel_size, num_spec=0):
        conv_dim = head_k_dim * num_k_heads * 2 + head_v_dim * num_v_heads
        conv_state_shape = (conv_dim // tp_world_size, conv_kernel_size - 1 + num_spec)
        conv_state_shape = conv_state_shape[1], conv_state_shape[0]
        temporal_state_shape = (num_v_heads // tp_world_size, head_k_dim, head_v_dim)
        return conv_state_shape, temporal_state_shape

    @classmethod
    def kda_state_shape(cls, tp_world_size, num_heads, head_dim, num_k_heads=None,
                        head_k_dim=None, conv_kernel_size=4, num_spec=0):
        num_k_heads = num_heads if num_k_heads is None else num_k_heads
        head_k_dim = head_dim if head_k_dim is None else head_k_dim
        proj_size = num_heads * head_dim
        proj_k_size = num_k_heads * head_k_dim
        conv_state_shape = (proj_size // tp_world_size, conv_kernel_size - 1)
        conv_state_k_shape = (proj_k_size // tp_world_size, conv_kernel_size - 1)
        recurrent_state_shape = (num_heads // tp_world_size, head_dim, head_dim)
        conv_state_shape = conv_state_shape[1], conv_state_shape[0]
        conv_state_k_shape = conv_state_k_shape[1], conv_state_k_shape[0]
        return conv_state_shape, conv_state_k_shape, conv_state_k_shape, recurrent_state_shape


def vllm_mamba_page_size_bytes(shapes, dtype_sizes):
    # vllm/v1/kv_cache_interface.py::MambaSpec.page_size_bytes
    return sum(math.prod(shape) * d for shape, d in zip(shapes, dtype_sizes))


def vllm_hybrid_block_and_padding(attn_page_size_1_token, mamba_page_size,
                                  kernel_block_alignment_size, block_size=None):
    # vllm/model_executor/models/config.py::HybridAttentionMambaModelConfig
    # .verify_and_update_config, mamba_cache_mode "none" (no prefix caching)
    attn_block_size = kernel_block_alignment_size * _cdiv(
        mamba_page_size, kernel_block_alignment_size * attn_page_size_1_token)
    if block_size is None or block_size < attn_block_size:
        block_size = attn_block_size
    attn_page_size = block_size * attn_page_size_1_token
    assert attn_page_size >= mamba_page_size
    mamba_page_size_padded = attn_page_size
    return block_size, mamba_page_size_padded


def vllm_general_max_concurrency(num_blocks, group_size, group_usage_bytes, page_size):
    # kv_cache_utils.py::get_max_concurrency_for_kv_cache_config; the attention group's
    # FullAttentionSpec.max_memory_usage_bytes = cdiv(max_model_len, block_size) * page, the
    # Mamba groups' MambaSpec.max_memory_usage_bytes = page_size_bytes * (1 + 0 speculative)
    max_memory_usage_per_request = group_size * sum(group_usage_bytes)
    memory_per_block = page_size * group_size
    return num_blocks / _cdiv(max_memory_usage_per_request, memory_per_block)


# ---------------------------------------------------------------------------------------------
# SGLang, transcribed
# ---------------------------------------------------------------------------------------------

def sglang_nsa_cell_size(kv_lora_rank, qk_rope_head_dim, index_head_dim, num_layers, kv_size):
    # python/sglang/srt/model_executor/model_runner_kv_cache_mixin.py, use_mla_backend:
    #   cell_size = (kv_lora_rank + qk_rope_head_dim) * num_layers * kv_size
    #   if is_deepseek_nsa(hf_config):
    #       indexer_size_per_token = index_head_dim
    #                                + index_head_dim // NSATokenToKVPool.quant_block_size * 4
    #       cell_size += indexer_size_per_token * num_layers * element_size(uint8)
    cell = (kv_lora_rank + qk_rope_head_dim) * num_layers * kv_size
    return cell + (index_head_dim + index_head_dim // 128 * 4) * num_layers * UINT8


# ---------------------------------------------------------------------------------------------
# DeepSeek Sparse Attention (DeepSeek-V3.2-Exp config.json: 61 layers, kv_lora_rank 512,
# qk_rope_head_dim 64, index_head_dim 128)
# ---------------------------------------------------------------------------------------------

@pytest.mark.parametrize("kv_dtype,dtype_size,cache_dtype_str",
                         [("bf16", BF16, "auto"), ("fp8", FP8, "fp8_ds_mla")])
def test_dsa_pages_are_mla_and_indexer_specs(kv_dtype, dtype_size, cache_dtype_str):
    s = estimator.load_model("deepseek-v3.2-exp").spec
    mla, idx = engine.vllm_dsa_page_bytes(s, kv_dtype)
    assert mla == vllm_mla_real_page_size_bytes(64, 1, 512 + 64, dtype_size, cache_dtype_str)
    assert idx == vllm_indexer_cache_spec(128, 64) == 64 * 132
    # fp8_ds_mla's 656 bytes: 512 fp8 latent + 4 fp32 scales (one per 128) + 64 bf16 RoPE
    assert 512 + 512 // 128 * 4 + 64 * 2 == 656


@pytest.mark.parametrize("kv_dtype,dtype_size,cache_dtype_str",
                         [("bf16", BF16, "auto"), ("fp8", FP8, "fp8_ds_mla")])
@pytest.mark.parametrize("avail", [0, 10**9, 37 * GIB + 12345])
@pytest.mark.parametrize("max_len", [1, 4096, 163840])
def test_dsa_blocks_and_concurrency_are_uniform_type(kv_dtype, dtype_size, cache_dtype_str,
                                                     avail, max_len):
    s = estimator.load_model("deepseek-v3.2-exp").spec
    plan = engine.vllm_kv_plan(s, "engine", kv_dtype, "bf16", 8, 0, 61, max_len, 8192)
    pages = ([vllm_mla_real_page_size_bytes(64, 1, 576, dtype_size, cache_dtype_str)] * 61
             + [vllm_indexer_cache_spec(128, 64)] * 61)
    blocks = engine.vllm_num_blocks(avail, plan.page, plan.group_size)
    assert blocks == vllm_uniform_type_num_blocks(avail, pages)
    assert engine.vllm_kv_tokens(blocks, plan.groups, plan.min_block_size) == blocks * 64
    if blocks:
        assert engine.vllm_max_concurrency(blocks, plan.blocks_per_request) == \
            vllm_uniform_type_max_concurrency(blocks, 122, max_len, 64, pages)


@pytest.mark.parametrize("kv_dtype,kv_size", [("bf16", BF16), ("fp8", FP8)])
@pytest.mark.parametrize("tp", [1, 8])
def test_dsa_sglang_cell_is_nsa(kv_dtype, kv_size, tp):
    s = estimator.load_model("deepseek-v3.2-exp").spec
    assert engine.sglang_cell_size(s, "engine", kv_dtype, tp, 0, 61) == sglang_nsa_cell_size(
        512, 64, 128, 61, kv_size)
    assert engine.sglang_cell_size(s, "engine", kv_dtype, tp, 0, 30) == sglang_nsa_cell_size(
        512, 64, 128, 30, kv_size)


def test_dsa_section_counts_the_indexer():
    """End to end: the indexer's 132 bytes per token and layer cut vLLM's capacity against the
    MLA latent alone, and the engine runs 64-token blocks."""
    r = estimator.estimate("deepseek-v3.2-exp", tp=8, pp=2, ep=8, seq_len=32768,
                           gpu="h200")
    e = r.inference.engine
    assert e.block_size == 64 and e.page_size == 64 * (1152 + 132)
    assert e.kv_capacity_tokens == e.num_blocks * 64
    # the smallest worker's memory, cut in blocks of 64 tokens x (MLA + indexer) x its layers
    layers = [hi - lo for lo, hi in (m.layers for m in r.inference.stage_models)]
    assert e.num_blocks in {e.available_kv // (64 * 1284 * n) for n in layers}
    sg = estimator.estimate("deepseek-v3.2-exp", tp=8, pp=2, ep=8, seq_len=32768, gpu="h200",
                            engine="sglang").inference.engine
    assert sg.page_size in {sglang_nsa_cell_size(512, 64, 128, n, BF16) for n in layers}


# ---------------------------------------------------------------------------------------------
# hybrids, from the published config.json values
# ---------------------------------------------------------------------------------------------

# Qwen3-Next-80B-A3B config.json: linear_num_key_heads 16, linear_key_head_dim 128,
# linear_num_value_heads 32, linear_value_head_dim 128, linear_conv_kernel_dim 4;
# attention num_key_value_heads 2, head_dim 256; 48 layers, full_attention_interval 4.
@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_qwen3_next_plan_is_vllm(tp):
    s = estimator.load_model("qwen3-next-80b-a3b").spec
    shapes = MambaStateShapeCalculator.gated_delta_net_state_shape(tp, 16, 32, 128, 128, 4)
    mamba = vllm_mamba_page_size_bytes(shapes, (BF16, BF16))  # gated_delta_net_state_dtype
    assert engine.vllm_mamba_page_bytes(s.mixer, s.hidden_size, tp, "bf16") == mamba
    attn1 = vllm_full_attention_page_size_bytes(1, max(1, 2 // tp), 256, BF16)
    block, padded = vllm_hybrid_block_and_padding(attn1, mamba, 16)
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", tp, 0, 48, 32768, 8192)
    assert (plan.block_size, plan.page, plan.mamba_page) == (block, padded, mamba)
    size, groups = vllm_uniform_page_size_groups([12, 36])
    assert (plan.group_size, plan.groups) == (size, sum(groups))
    blocks = 54321
    usage = [_cdiv(32768, block) * padded] + [padded] * groups[1]
    assert engine.vllm_max_concurrency(blocks, plan.blocks_per_request) == \
        vllm_general_max_concurrency(blocks, size, usage, padded)
    # "GPU KV cache size": num_blocks // len(groups) * min_block_size
    assert engine.vllm_kv_tokens(blocks, plan.groups, plan.min_block_size) == \
        blocks // sum(groups) * block
    if tp == 4:  # vLLM's start-up line for Qwen3-Next at tp 4: "Setting attention block
        assert block == 272  # size to 272 tokens" (16 · cdiv(274,432, 16 · 1,024))


# Nemotron-H-8B config.json: hidden 4096, mamba_num_heads 128, mamba_head_dim 64, n_groups 8,
# ssm_state_size 128, conv_kernel 4, expand 2; num_key_value_heads 8, head_dim 128.
# Granite-4.0-H-Small: the same Mamba-2 sizes with n_groups 1.
@pytest.mark.parametrize("preset,n_groups", [("nemotron-h-8b", 8), ("granite-4.0-h-small", 1)])
@pytest.mark.parametrize("tp", [1, 2, 4])
def test_mamba2_plan_is_vllm(preset, n_groups, tp):
    s = estimator.load_model(preset).spec
    shapes = MambaStateShapeCalculator.mamba2_state_shape(tp, 8192, n_groups, 128, 64, 128, 4)
    mamba = vllm_mamba_page_size_bytes(shapes, (BF16, BF16))  # mamba2_state_dtype, auto
    assert engine.vllm_mamba_page_bytes(s.mixer, s.hidden_size, tp, "bf16") == mamba
    attn1 = vllm_full_attention_page_size_bytes(1, 8 // tp, 128, BF16)
    block, padded = vllm_hybrid_block_and_padding(attn1, mamba, 16)
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", tp, 0, s.num_hidden_layers, 8192,
                               8192)
    assert (plan.block_size, plan.page) == (block, padded)


def test_granite_4_h_block_size_is_published():
    """vllm-gaudi PR #1453 (https://github.com/vllm-project/vllm-gaudi/pull/1453, 2026-05):
    "528 is required for Granite 4.0-H (granitemoehybrid) without prefix caching (16-token FA
    alignment)"."""
    r = estimator.estimate("granite-4.0-h-small", tp=1, pp=1, ep=1)
    assert r.inference.engine.block_size == 528


# Jamba-1.5-Mini config.json: hidden 4096, mamba_expand 2, mamba_d_state 16, mamba_d_conv 4;
# num_key_value_heads 8, head_dim 128; 32 layers, attention every 8th (4 attention layers).
@pytest.mark.parametrize("tp", [1, 2])
def test_jamba_plan_is_vllm(tp):
    s = estimator.load_model("jamba-1.5-mini").spec
    shapes = MambaStateShapeCalculator.mamba1_state_shape(tp, 8192, 16, 4)
    mamba = vllm_mamba_page_size_bytes(shapes, (BF16, BF16))
    assert engine.vllm_mamba_page_bytes(s.mixer, s.hidden_size, tp, "bf16") == mamba
    block, padded = vllm_hybrid_block_and_padding(
        vllm_full_attention_page_size_bytes(1, 8 // tp, 128, BF16), mamba, 16)
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", tp, 0, 32, 8192, 8192)
    assert (plan.block_size, plan.page) == (block, padded)
    size, groups = vllm_uniform_page_size_groups([4, 28])
    assert (plan.group_size, plan.groups) == (size, sum(groups))


# MiniMax-M1 config.json: num_attention_heads 64, head_dim 128 (lightning state a·d·d),
# num_key_value_heads 8.
@pytest.mark.parametrize("tp", [8, 16])
def test_minimax_plan_is_vllm(tp):
    s = estimator.load_model("minimax-m1").spec
    mamba = vllm_mamba_page_size_bytes(
        MambaStateShapeCalculator.linear_attention_state_shape(64, tp, 128), (BF16,))
    assert engine.vllm_mamba_page_bytes(s.mixer, s.hidden_size, tp, "bf16") == mamba
    block, padded = vllm_hybrid_block_and_padding(
        vllm_full_attention_page_size_bytes(1, max(1, 8 // tp), 128, BF16), mamba, 16)
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", tp, 0, 80, 8192, 8192)
    assert (plan.block_size, plan.page) == (block, padded)


# Kimi-Linear-48B-A3B config.json: linear_attn_config num_heads 32, head_dim 128,
# short_conv_kernel_size 4; MLA kv_lora_rank 512, qk_rope_head_dim 64.
@pytest.mark.parametrize("tp", [1, 2, 4])
def test_kimi_linear_plan_is_vllm(tp):
    s = estimator.load_model("kimi-linear-48b-a3b").spec
    shapes = MambaStateShapeCalculator.kda_state_shape(tp, 32, 128, conv_kernel_size=4)
    # kda_state_dtype: (state, state, state, torch.float32)
    mamba = vllm_mamba_page_size_bytes(shapes, (BF16, BF16, BF16, FP32))
    assert engine.vllm_mamba_page_bytes(s.mixer, s.hidden_size, tp, "bf16") == mamba
    # MLA attention: MLAAttentionSpec page, kernel_block_alignment_size 64
    attn1 = vllm_mla_real_page_size_bytes(1, 1, 576, BF16)
    block, padded = vllm_hybrid_block_and_padding(attn1, mamba, 64)
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", tp, 0, 27, 8192, 8192)
    assert (plan.block_size, plan.page) == (block, padded)


# LFM2-8B-A1B config.json: hidden 2048, conv_L_cache 3; num_key_value_heads 8, head_dim 64.
def test_lfm2_plan_is_vllm():
    s = estimator.load_model("lfm2-8b-a1b").spec
    mamba = vllm_mamba_page_size_bytes(
        MambaStateShapeCalculator.short_conv_state_shape(1, 2048, 3), (BF16,))
    assert engine.vllm_mamba_page_bytes(s.mixer, s.hidden_size, 1, "bf16") == mamba
    block, padded = vllm_hybrid_block_and_padding(
        vllm_full_attention_page_size_bytes(1, 8, 64, BF16), mamba, 16, 16)
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", 1, 0, 24, 8192, 8192)
    assert (plan.block_size, plan.page) == (block, padded)


def test_hybrid_section_state_slots_limit_concurrency():
    """A hybrid request holds one block per Mamba group whatever its length: at a 256-token
    context the three state blocks are 3/4 of what a request takes."""
    r = estimator.estimate("qwen3-next-80b-a3b", tp=4, pp=1, ep=4, seq_len=256)
    e = r.inference.engine
    assert e.block_size == 272
    # per request: 1 attention block (256 tokens) + 3 Mamba groups' blocks
    assert e.max_concurrency == pytest.approx(e.num_blocks / 4)
    sg = estimator.estimate("qwen3-next-80b-a3b", tp=4, pp=1, ep=4, engine="sglang")
    assert sg.inference.engine.page_size == 12 * 2 * 1 * 256 * 2  # 12 attention layers only


def test_fp8_kv_on_hybrids_is_pinned_by_the_state_page():
    """vLLM issue #55196 (https://github.com/vllm-project/vllm/issues/55196, 2026-09, from
    vLLM's own ``get_kv_cache_configs``): on Mamba/GDN hybrids ``--kv-cache-dtype fp8`` "gives
    1.84x at 32k context and 1.00x (no gain) at short context": "the Mamba state is not quantized
    by --kv-cache-dtype and all groups share one uniform page, so the bf16 Mamba page pins
    bytes-per-block". Here: the same blocks, the attention block twice as long, and the same
    concurrency for requests that fit one block."""
    def run(kv, seq):
        return estimator.estimate("qwen3-next-80b-a3b", tp=4, pp=1, ep=4, seq_len=seq,
                                  kv_dtype=kv).inference.engine
    bf, f8 = run("bf16", 256), run("fp8", 256)
    assert f8.num_blocks == bf.num_blocks and f8.block_size == 2 * bf.block_size
    assert f8.max_concurrency / bf.max_concurrency == pytest.approx(1.0)
    ratio = run("fp8", 32768).max_concurrency / run("bf16", 32768).max_concurrency
    assert 1.8 < ratio < 2.0  # 3 state blocks per request are not halved


# ---------------------------------------------------------------------------------------------
# SGLang's MambaPool for hybrids
# ---------------------------------------------------------------------------------------------

def sglang_gdn_mamba_cache_per_req(tp, linear_key_head_dim, linear_num_key_heads,
                                   linear_value_head_dim, linear_num_value_heads,
                                   linear_conv_kernel_dim, mamba_layers):
    # python/sglang/srt/configs/qwen3_next.py::Qwen3NextConfig.hybrid_gdn_params and
    # .mamba_cache_per_req: conv_dtype = torch.bfloat16, ssm_dtype = torch.float32
    conv_dim = (linear_key_head_dim * linear_num_key_heads * 2
                + linear_value_head_dim * linear_num_value_heads)
    conv_state_shape = (conv_dim // tp, linear_conv_kernel_dim - 1)
    temporal_state_shape = (linear_num_value_heads // tp, linear_key_head_dim,
                            linear_value_head_dim)
    return (math.prod(conv_state_shape) * BF16
            + math.prod(temporal_state_shape) * FP32) * mamba_layers


def sglang_mamba2_cache_per_req(tp, intermediate_size, n_groups, num_heads, head_dim,
                                state_size, conv_kernel, mamba_layers):
    # python/sglang/srt/configs/mamba_utils.py::Mamba2StateShape.create and
    # Mamba2CacheParams.mamba_cache_per_req (Mamba2StateDType: conv bfloat16,
    # temporal SGLANG_MAMBA_SSM_DTYPE "float32")
    n_groups = n_groups + (0 if n_groups % tp == 0 else tp - n_groups)
    conv_dim = intermediate_size + 2 * n_groups * state_size
    conv = (conv_dim // tp, conv_kernel - 1)
    temporal = (num_heads // tp, head_dim, state_size)
    return (math.prod(conv) * BF16 + math.prod(temporal) * FP32) * mamba_layers


def sglang_profile_max_num_token_hybrid(available_gpu_memory, total_gpu_memory,
                                        mem_fraction_static, cell_size, mamba_cache_per_req,
                                        mamba_full_memory_ratio=0.9):
    # python/sglang/srt/model_executor/model_runner_kv_cache_mixin.py::profile_max_num_token
    # and handle_max_mamba_cache (no speculative decoding, radix cache on, GiB floats)
    rest_memory = available_gpu_memory - total_gpu_memory * (1 - mem_fraction_static)
    mamba_state_memory_raw = (rest_memory * mamba_full_memory_ratio
                              / (1 + mamba_full_memory_ratio))
    max_mamba_cache_size = int((mamba_state_memory_raw * (1 << 30)) // mamba_cache_per_req)
    mamba_state_memory = max_mamba_cache_size * mamba_cache_per_req / (1 << 30)
    rest_memory = rest_memory - mamba_state_memory
    return int(rest_memory * (1 << 30)) // cell_size, max_mamba_cache_size


@pytest.mark.parametrize("tp", [1, 2, 4, 8])
def test_sglang_mamba_cache_per_req_is_sglang(tp):
    q = estimator.load_model("qwen3-next-80b-a3b").spec
    assert engine.sglang_mamba_cache_per_req(q.mixer, q.hidden_size, tp, 36) == \
        sglang_gdn_mamba_cache_per_req(tp, 128, 16, 128, 32, 4, 36)
    n = estimator.load_model("nemotron-h-8b").spec  # 24 Mamba-2 layers, n_groups 8
    if tp <= 8:
        assert engine.sglang_mamba_cache_per_req(n.mixer, n.hidden_size, tp, 24) == \
            sglang_mamba2_cache_per_req(tp, 8192, 8, 128, 64, 128, 4, 24)


@pytest.mark.parametrize("frac", [0.8, 0.88, 0.93])
@pytest.mark.parametrize("per_req", [123_456, 3_456_789, 25 << 20])
def test_sglang_hybrid_tokens_are_handle_max_mamba_cache(frac, per_req):
    free0, w, cell = 78 * GIB, 40 * GIB, 24576
    tok, slots = engine.sglang_hybrid_max_total_tokens(free0, w, frac, cell, per_req)
    ref_tok, ref_slots = sglang_profile_max_num_token_hybrid((free0 - w) / GIB, free0 / GIB,
                                                             frac, cell, per_req)
    assert slots == ref_slots and abs(tok - ref_tok) <= 1  # float GiB round trip


def test_sglang_qwen3_next_section_has_the_mamba_pool():
    """Qwen3-Next at tp 4 under SGLang (``--tp 4``, SGLang's Qwen3-Next doc, PR #15337:
    ``--mamba-full-memory-ratio`` "default is 0.9", ``--mamba-ssm-dtype`` "default setting is
    float32"): the state slots take 0.9/1.9 of the memory after the weights, the 12 attention
    layers' tokens the rest, and the running requests are capped at a third of the slots."""
    r = estimator.estimate("qwen3-next-80b-a3b", tp=4, pp=1, ep=4, engine="sglang",
                           seq_len=4096)
    e = r.inference.engine
    per_req = sglang_gdn_mamba_cache_per_req(4, 128, 16, 128, 32, 4, 36)
    tok, slots = sglang_profile_max_num_token_hybrid(
        (e.total_memory - engine.SGLANG_CONTEXT_BYTES - e.weights) / GIB,
        (e.total_memory - engine.SGLANG_CONTEXT_BYTES) / GIB, e.utilization, e.page_size,
        per_req)
    assert e.page_size == 12 * 2 * 1 * 256 * 2
    assert abs(e.kv_capacity_tokens - tok) <= 1
    assert e.max_concurrency == min(e.kv_capacity_tokens / 4096, slots // 3)
    assert any(f"{slots:,} request states" in n for n in e.notes)


# ---------------------------------------------------------------------------------------------
# a published hybrid start-up log
# ---------------------------------------------------------------------------------------------

QWEN3_NEXT_TP2_H200 = dict(  # vLLM 0.10.2, 2 x H200, the published log's own figures
    total=139.81, requested=125.83, weights=74.2812, peak=5.58, non_torch=1.38, graphs=2.37,
    available=44.59, blocks=7162, block=544, tokens=973_760, concurrency=14.77)


def test_log_qwen3_next_tp2_h200_end_to_end():
    """A vLLM 0.10.2 start-up log kept in a public repository (code corpus file of the
    LegalAI-DataPipeline run, 2025-10-23): ``python -m vllm.entrypoints.openai.api_server --model
    Qwen3-Next-80B-A3B-Instruct --tensor-parallel-size 2`` on two H200s ("device_name=
    NVIDIA_H200"; defaults: utilization 0.9, 8192 batched tokens, max model len 262,144, prefix
    caching off): "Setting attention block size to 544 tokens", "Model loading took 74.2812
    GiB", "Available KV cache memory: 44.59 GiB", "GPU KV cache size: 973,760 tokens", "Maximum
    concurrency for 262,144 tokens per request: 14.77x", "num_gpu_blocks is: 7162", and the
    breakdown "Free memory on device (139.21/139.81 GiB) ... Actual usage is 74.28 GiB for
    weight, 5.58 GiB for peak activation, 1.38 GiB for non-torch memory, and 2.37 GiB for
    CUDAGraph memory". End to end (0.10.2 captures the graphs after the KV cache:
    'headroom'): weights −0.04%, block size exact, KV tokens +2.9%. The 1.27 GiB gap is
    the non-torch term: 0.10.2 snapshots before NCCL init (see test_engine.py's Qwen3-235B
    log), so NCCL's buffers at tp 2 are charged (1.38 GiB logged, 0.20 modelled for >= 0.11)."""
    g = QWEN3_NEXT_TP2_H200
    r = estimator.estimate("qwen3-next-80b-a3b", tp=2, pp=1, ep=2, gpu="h200", seq_len=262144,
                           vllm_cudagraph_memory="headroom")
    e = r.inference.engine
    assert abs(e.total_memory / GIB - g["total"]) < 0.01
    assert abs(e.weights / (g["weights"] * GIB) - 1) < 0.015
    assert e.block_size == g["block"]
    assert abs(engine.profile_peak_total(e.activation_peak) / GIB - g["peak"]) < 0.1
    assert abs(e.kv_capacity_tokens / g["tokens"] - 1) < 0.05
    assert abs(e.max_concurrency / g["concurrency"] - 1) < 0.05
    # with the logged non-torch memory in place of ours, the engine's own arithmetic
    avail = engine.vllm_available_kv_bytes(e.total_memory, 0.9, e.weights,
                                           engine.profile_peak_total(e.activation_peak),
                                           round(g["non_torch"] * GIB))
    assert abs(avail / (g["available"] * GIB) - 1) < 0.005


def test_log_qwen3_next_tp2_h200_block_arithmetic():
    """The same log from its own available memory: 12 attention + 36 Gated DeltaNet layers
    in groups of 12 (one attention group, three state groups) of 544-token pages; the blocks,
    the "GPU KV cache size" and the concurrency exactly as printed."""
    g = QWEN3_NEXT_TP2_H200
    s = estimator.load_model("qwen3-next-80b-a3b").spec
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", 2, 0, 48, 262144, 8192)
    blocks = engine.vllm_num_blocks(round(g["available"] * GIB), plan.page, plan.group_size)
    assert blocks == g["blocks"]
    assert engine.vllm_kv_tokens(blocks, plan.groups, plan.min_block_size) == g["tokens"]
    assert round(engine.vllm_max_concurrency(blocks, plan.blocks_per_request), 2) == \
        g["concurrency"]


# A Ling-3.0-shaped bailing_hybrid config.json (modeling_bailing_hybrid.py): KDA with 32 heads
# of 128 and a 4-wide conv, MLA with kv_lora_rank 512 + qk_rope_head_dim 64, one MLA layer in
# every group of 4. vLLM's bailing_moe_v3.py sizes the KDA state with kda_state_shape /
# kda_state_dtype, as for Kimi-Linear.
LING3 = {"model_type": "bailing_hybrid", "hidden_size": 2048, "num_hidden_layers": 8,
         "vocab_size": 1000, "intermediate_size": 4096, "num_attention_heads": 16,
         "num_key_value_heads": 16, "linear_num_heads": 32, "linear_head_dim": 128,
         "linear_conv_kernel_dim": 4, "layer_group_size": 4, "kv_lora_rank": 512,
         "q_lora_rank": None, "qk_nope_head_dim": 128, "qk_rope_head_dim": 64,
         "v_head_dim": 128, "num_experts": 16, "num_experts_per_token": 2,
         "moe_intermediate_size": 512, "num_shared_experts": 1, "first_k_dense_replace": 1,
         "max_position_embeddings": 32768}


@pytest.mark.parametrize("tp", [1, 2, 4])
def test_bailing_hybrid_plan_is_vllm(tp, tmp_path):
    import json

    from estimator.hf import spec_from_hf_config

    s = spec_from_hf_config(LING3)
    assert (s.mixer.kind, s.mixer.full_rank_gates) == ("kimi_delta", True)
    shapes = MambaStateShapeCalculator.kda_state_shape(tp, 32, 128, conv_kernel_size=4)
    mamba = vllm_mamba_page_size_bytes(shapes, (BF16, BF16, BF16, FP32))
    assert engine.vllm_mamba_page_bytes(s.mixer, s.hidden_size, tp, "bf16") == mamba
    block, padded = vllm_hybrid_block_and_padding(
        vllm_mla_real_page_size_bytes(1, 1, 576, BF16), mamba, 64)
    plan = engine.vllm_kv_plan(s, "engine", "bf16", "bf16", tp, 0, 27, 8192, 8192)
    assert (plan.block_size, plan.page) == (block, padded)
    path = tmp_path / "config.json"
    path.write_text(json.dumps(LING3))
    r = estimator.estimate(str(path), tp=tp, pp=1, ep=1, num_gpus=tp, engine="vllm")
    assert r.inference.engine is not None


@pytest.mark.parametrize("model_type,engine_name,why", [
    ("bailing_hybrid", "sglang", "SGLang's bailing_moe_v3"),
    ("lfm3", "vllm", "vLLM has no lfm3 model"),
    ("lfm3", "sglang", "SGLang has no lfm3 model")])
def test_unpinned_engines_are_left_out_with_the_reason(model_type, engine_name, why, tmp_path):
    """Where the engine's code for a family is not transcribed (or does not exist), the
    engine section is absent and the notes say why, instead of a guessed KV pool."""
    import json

    import hybrid_configs

    cfg = LING3 if model_type == "bailing_hybrid" else hybrid_configs.random_configs(
        "lfm3", 1, "engine")[0]
    path = tmp_path / "config.json"
    path.write_text(json.dumps(cfg))
    d = estimator.estimate(str(path), tp=1, pp=1, ep=1, num_gpus=1,
                           engine=engine_name).to_dict()
    inf = d["memory"]["inference"]
    assert inf["engine"] is None and any(n.startswith(why) for n in inf["notes"])
