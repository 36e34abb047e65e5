"""Engine memory (estimator/engine.py): each term against the engine's own formula, transcribed
here with its source, and the totals against published start-up logs."""

from __future__ import annotations

import math

import pytest

import estimator
from estimator import engine, memory
from estimator.hardware import get_gpu

GIB = 2**30


# ---------------------------------------------------------------------------------------------
# vLLM, transcribed (vllm-project/vllm main, 2025-2026)
# ---------------------------------------------------------------------------------------------

def _cdiv(a, b):
    return -(-a // b)


def vllm_get_num_blocks(num_layers, available_memory, page_size):
    # vllm/v1/core/kv_cache_utils.py::get_num_blocks
    num_blocks = int(available_memory // page_size // num_layers)
    return max(num_blocks, 0)


def vllm_report_num_tokens(num_blocks, num_groups, min_block_size):
    # vllm/v1/core/kv_cache_utils.py::_report_kv_cache_config
    return num_blocks // num_groups * min_block_size


def vllm_full_max_memory_usage_bytes(max_model_len, block_size, page_size_bytes):
    # vllm/v1/kv_cache_interface.py::FullAttentionSpec.max_memory_usage_bytes
    return _cdiv(max_model_len, block_size) * page_size_bytes


def vllm_sliding_max_memory_usage_bytes(max_model_len, max_num_batched_tokens, sliding_window,
                                        block_size, page_size_bytes):
    # vllm/v1/kv_cache_interface.py::SlidingWindowSpec.max_memory_usage_bytes
    num_tokens = min(sliding_window - 1 + max_num_batched_tokens, max_model_len)
    return (_cdiv(num_tokens, block_size) + 1) * page_size_bytes


def vllm_max_concurrency(num_blocks, num_layer_per_group, group_usages, page_size_bytes):
    # vllm/v1/core/kv_cache_utils.py::get_max_concurrency_for_kv_cache_config
    max_memory_usage_per_request = num_layer_per_group * sum(group_usages)
    memory_per_block = page_size_bytes * num_layer_per_group
    num_block_per_request = _cdiv(max_memory_usage_per_request, memory_per_block)
    return num_blocks / num_block_per_request


def vllm_group_size(n_by_type):
    # vllm/v1/core/kv_cache_utils.py::_get_kv_cache_groups_uniform_page_size
    min_num_layers = min(n_by_type)
    group_size = min_num_layers
    max_num_layers = max(n_by_type)
    if max_num_layers < min_num_layers * 1.5:
        group_size = max_num_layers
    return group_size, [_cdiv(n, group_size) for n in n_by_type]


def vllm_triton_experts_workspace_elems(M, N, K, topk):
    # vllm/model_executor/layers/fused_moe/fused_moe.py::TritonExperts.workspace_shapes
    workspace1 = (M, topk, max(N // 2, K))
    workspace2 = (M, topk, max(N, K))
    output = (M, K)
    return math.prod(workspace1) + math.prod(workspace2) + math.prod(output)


def vllm_dummy_sampler_peak_bytes(num_reqs, vocab, model_dtype_bytes):
    # vllm/v1/worker/gpu_model_runner.py::_dummy_sampler_run (v0.9-v0.10): logits of num_reqs
    # rows, all-gathered to the full vocab (LogitsProcessor._gather_logits), sampled with
    # top_p=0.9, top_k=vocab-1 -> vllm/v1/sample/ops/topk_topp_sampler.py::apply_top_k_top_p:
    #   logits = logits.to(torch.float32)                            # sampler.py::forward
    #   logits_sort, logits_idx = logits.sort(dim=-1, descending=False)
    # live at the sort: model-dtype logits, fp32 logits, sorted fp32 values, int64 indices, and
    # the sort's scratch (ATen SortStable.cu::segmented_sort_pairs: int64 iota; cub
    # DeviceSegmentedRadixSort::SortPairs alternate fp32 keys + int64 values)
    n = num_reqs * vocab
    logits, fp32, sort_values, sort_indices = model_dtype_bytes * n, 4 * n, 4 * n, 8 * n
    iota, cub_keys, cub_values = 8 * n, 4 * n, 8 * n
    at_sort = logits + fp32 + sort_values + sort_indices + iota + cub_keys + cub_values
    # later, at logits_sort.scatter: + top_k_mask (bool), probs_sort, top_p_mask (bool), output
    at_scatter = logits + fp32 + sort_values + sort_indices + n + 4 * n + n + 4 * n
    return max(at_sort, at_scatter)


def vllm_marlin_mxfp4_layer_bytes(E, H, I):
    # vllm/model_executor/layers/quantization/mxfp4.py::Mxfp4MoEMethod.create_weights,
    # Mxfp4Backend.MARLIN (v0.10): "The moe marlin kernel requires that for each linear
    # n % 256 == 0 and k % 128 == 0"
    I = _cdiv(I, 128) * 128  # intermediate_size_per_partition_after_pad = round_up(I, 128)
    H = _cdiv(H, 256) * 256  # hidden_size = round_up(hidden_size, 256)
    w13_weight = E * 2 * I * (H // 2)       # uint8, two fp4 per byte
    w13_weight_scale = E * 2 * I * (H // 32)  # uint8 e8m0, mxfp4_block = 32
    w13_bias = E * 2 * I * 2                # bf16
    w2_weight = E * H * (I // 2)
    w2_weight_scale = E * H * (I // 32)
    w2_bias = E * H * 2
    return w13_weight + w13_weight_scale + w13_bias + w2_weight + w2_weight_scale + w2_bias


def sglang_profile_max_num_token(available_gpu_memory_gib, total_gpu_memory_gib,
                                 mem_fraction_static, cell_size):
    # python/sglang/srt/model_executor/model_runner.py::ModelRunner.profile_max_num_token
    rest_memory = available_gpu_memory_gib - total_gpu_memory_gib * (1 - mem_fraction_static)
    return int(rest_memory * (1 << 30) // cell_size)


class _SGLangServerArgs:
    # python/sglang/srt/server_args.py::ServerArgs._handle_gpu_memory_settings (SGLang PR #10975,
    # 2025-10), transcribed for the defaults (no speculative decoding, no piecewise graphs)
    def __init__(self, tp_size, pp_size=1, dp_size=1, enable_dp_attention=False):
        self.tp_size, self.pp_size, self.dp_size = tp_size, pp_size, dp_size
        self.enable_dp_attention = enable_dp_attention
        self.chunked_prefill_size = self.cuda_graph_max_bs = self.mem_fraction_static = None

    def _handle_gpu_memory_settings(self, gpu_mem):
        if gpu_mem < 20 * 1024:
            self.chunked_prefill_size, self.cuda_graph_max_bs = 2048, 8
        elif gpu_mem < 35 * 1024:
            self.chunked_prefill_size = 2048
            self.cuda_graph_max_bs = 24 if self.tp_size < 4 else 80
        elif gpu_mem < 60 * 1024:
            self.chunked_prefill_size = 4096
            self.cuda_graph_max_bs = 32 if self.tp_size < 4 else 160
        elif gpu_mem < 90 * 1024:
            self.chunked_prefill_size = 8192
            self.cuda_graph_max_bs = 256 if self.tp_size < 4 else 512
        elif gpu_mem < 160 * 1024:
            self.chunked_prefill_size = 8192
            self.cuda_graph_max_bs = 256 if self.tp_size < 4 else 512
        else:
            self.chunked_prefill_size, self.cuda_graph_max_bs = 16384, 512
        reserved_mem = 512
        reserved_mem += max(self.chunked_prefill_size, 2048) * 1.5
        reserved_mem += self.cuda_graph_max_bs * 2
        reserved_mem += self.tp_size * self.pp_size / 8 * 1024
        if self.enable_dp_attention:
            reserved_mem += self.cuda_graph_max_bs * self.dp_size * 3
            if self.cuda_graph_max_bs > 300:
                reserved_mem += self.cuda_graph_max_bs * self.dp_size * 1.5
        if gpu_mem is not None and gpu_mem > 60 * 1024:
            reserved_mem = max(reserved_mem, 10 * 1024)
        self.mem_fraction_static = round((gpu_mem - reserved_mem) / gpu_mem, 3)
        return self


def test_page_size_is_vllm_attention_spec():
    # AttentionSpec.page_size_bytes = 2 * block_size * num_kv_heads * head_size * dtype_size;
    # MLAAttentionSpec: block_size * num_kv_heads(1) * head_size(latent) * dtype_size
    m = estimator.load_model("mixtral-8x7b").spec
    for tp in (1, 2, 4, 8):
        assert engine.vllm_page_size_bytes(m, "engine", "bf16", tp) == 2 * 16 * (8 // tp) * 128 * 2
    d = estimator.load_model("deepseek-v3").spec
    assert engine.vllm_page_size_bytes(d, "engine", "bf16", 8) == 16 * 1 * 576 * 2
    q = estimator.load_model("qwen3-235b-a22b").spec  # 4 KV heads at tp=8: replicated, 1 each
    assert engine.vllm_page_size_bytes(q, "engine", "fp8", 8) == 2 * 16 * max(1, 4 // 8) * 128


@pytest.mark.parametrize("avail", [0, 1, 10**9, 53 * GIB + 12345, 137 * GIB])
@pytest.mark.parametrize("layers,page", [(32, 65536), (61, 18432), (18, 32768)])
def test_num_blocks_and_tokens_as_vllm(avail, layers, page):
    assert engine.vllm_num_blocks(avail, page, layers) == vllm_get_num_blocks(layers, avail, page)
    b = engine.vllm_num_blocks(avail, page, layers)
    assert engine.vllm_kv_tokens(b, 1) == vllm_report_num_tokens(b, 1, 16)
    assert engine.vllm_kv_tokens(b, 2) == vllm_report_num_tokens(b, 2, 16)


@pytest.mark.parametrize("counts", [(18, 18), (6, 30), (8, 9), (10, 20), (1, 47)])
def test_hybrid_groups_as_vllm(counts):
    size, groups = vllm_group_size(list(counts))
    assert engine.vllm_kv_groups(*counts) == (size, *groups)
    assert engine.vllm_kv_groups(48, 0) == (48, 1, 0)


@pytest.mark.parametrize("max_len", [1, 16, 1000, 4096, 131072])
@pytest.mark.parametrize("window", [None, 128, 4096])
def test_max_concurrency_as_vllm(max_len, window):
    page, mnbt, blocks = 65536, 8192, 12345
    if window is None:
        usage = [vllm_full_max_memory_usage_bytes(max_len, 16, page)]
        ours = engine.vllm_max_memory_usage_blocks(max_len, 16, None, mnbt)
        n_layer = 32
    else:  # gpt-oss style: one full and one sliding group of 18 layers
        usage = [vllm_full_max_memory_usage_bytes(max_len, 16, page),
                 vllm_sliding_max_memory_usage_bytes(max_len, mnbt, window, 16, page)]
        ours = (engine.vllm_max_memory_usage_blocks(max_len, 16, None, mnbt)
                + engine.vllm_max_memory_usage_blocks(max_len, 16, window, mnbt))
        n_layer = 18
    assert engine.vllm_max_concurrency(blocks, ours) == vllm_max_concurrency(
        blocks, n_layer, usage, page)


def test_moe_workspace_is_triton_experts():
    # Mixtral at tp=1: N = 2*14336, K = 4096, top-2; 8192 tokens (one chunk)
    s = estimator.load_model("mixtral-8x7b").spec
    lay = memory.layout(s, 1, 1, 1)
    t = engine.vllm_profile_peak(s, lay, 2, 8192, 256)
    ws = vllm_triton_experts_workspace_elems(8192, 2 * 14336, 4096, 2)
    router = 8192 * 8 * 2 + 8192 * 2 * 8
    assert t["moe"] == ws * 2 + router
    # chunking: at most VLLM_FUSED_MOE_CHUNK_SIZE tokens in the buffers
    big = engine.vllm_profile_peak(s, lay, 2, 100_000, 256)
    ws = vllm_triton_experts_workspace_elems(32768, 2 * 14336, 4096, 2)
    assert big["moe"] == ws * 2 + 100_000 * 8 * 2 + 100_000 * 2 * 8


@pytest.mark.parametrize("rows,vocab", [(256, 102400), (1024, 151936), (8, 151936)])
def test_sampler_peak_is_dummy_sampler_run(rows, vocab):
    assert engine.vllm_sampler_bytes(rows, vocab, 2) == vllm_dummy_sampler_peak_bytes(rows, vocab,
                                                                                      2)
    # the last stage samples the full vocabulary on every TP rank, after the forward
    s = estimator.load_model("qwen3-235b-a22b").spec
    lay = memory.layout(s, 4, 1, 1)
    t = engine.vllm_profile_peak(s, lay, 2, 8192, 1024)
    assert t["sampler"] == vllm_dummy_sampler_peak_bytes(1024, 151936, 2)
    assert engine.profile_peak_total(t) == max(
        t["residual"] + max(t["attention"], t["dense_ffn"], t["moe"]), t["sampler"])


def test_marlin_mxfp4_padding_is_create_weights():
    # gpt-oss-120b on one GPU: 36 layers of 128 experts, hidden 2880, expert width 2880
    r = estimator.estimate("gpt-oss-120b", dtype="mxfp4", tp=1, pp=1, ep=1, gpu="h100-sxm")
    routed = r.inference.stage_models[0].weights["routed_experts"]
    ours = engine.vllm_marlin_mxfp4_expert_bytes(routed, 2880, 2880)
    # the biases pad by one dimension, not two: 0.01% of the bytes
    assert abs(ours / (36 * vllm_marlin_mxfp4_layer_bytes(128, 2880, 2880)) - 1) < 1e-3
    assert engine.vllm_marlin_mxfp4(get_gpu("h100-sxm"), "mxfp4")
    assert not engine.vllm_marlin_mxfp4(get_gpu("b200"), "mxfp4")  # FP4 tensor cores
    assert not engine.vllm_marlin_mxfp4(get_gpu("h100-sxm"), "bf16")


def test_available_memory_is_determine_available_memory():
    # gpu_worker.py: requested_memory = total * util; available = requested - non_kv_cache
    # (memory_profiling: non_kv = weights + torch_peak_increase + non_torch_increase)
    total, util, w, peak, nt = 85061632000, 0.9, 61066575656, 600 * 2**20, 170 * 2**20
    assert engine.vllm_available_kv_bytes(total, util, w, peak, nt) == int(
        total * util - (w + peak + nt))


@pytest.mark.parametrize("gpu_mib", [15360, 23034, 24564, 46068, 81559, 143771, 183359])
@pytest.mark.parametrize("tp,pp,dp", [(1, 1, 1), (2, 1, 1), (4, 1, 1), (8, 1, 1), (8, 2, 1),
                                      (8, 1, 8), (16, 1, 4)])
def test_sglang_mem_fraction_is_handle_gpu_memory_settings(gpu_mib, tp, pp, dp):
    ref = _SGLangServerArgs(tp, pp, dp, dp > 1)._handle_gpu_memory_settings(gpu_mib)
    assert engine.sglang_gpu_memory_defaults(gpu_mib, tp) == (ref.chunked_prefill_size,
                                                              ref.cuda_graph_max_bs)
    assert engine.sglang_mem_fraction_static(gpu_mib, tp, pp, dp) == ref.mem_fraction_static


@pytest.mark.parametrize("frac", [0.79, 0.835, 0.88, 0.93])
def test_sglang_tokens_are_profile_max_num_token(frac):
    free0, w, cell = 78 * GIB, 40 * GIB, 98304
    ours = engine.sglang_max_total_tokens(free0, w, frac, cell)
    theirs = sglang_profile_max_num_token((free0 - w) / GIB, free0 / GIB, frac, cell)
    assert abs(ours - theirs) <= 1  # float GiB round trip


# ---------------------------------------------------------------------------------------------
# published start-up logs
# ---------------------------------------------------------------------------------------------

def test_log_qwen3_coder_30b_a3b_one_h100():
    """A vLLM launch script's comment (GitHub file, Barkla cluster job 10274103): Qwen3-Coder-
    30B-A3B (the qwen3-30b-a3b architecture) on one 80 GB card, --gpu-memory-utilization 0.90,
    --max-model-len 131072, --max-num-seqs 8: "Model loading took 56.9342 GiB", "GPU KV cache
    size: 150,272 tokens". The card is taken to be an H100 (79.22 GiB to CUDA); "took 56.9342
    GiB" has the four decimals of vLLM before 0.21, so no CUDA-graph estimate ('headroom')."""
    r = estimator.estimate("qwen3-30b-a3b", tp=1, pp=1, ep=1, seq_len=131072, max_num_seqs=8,
                           gpu="h100-sxm", vllm_cudagraph_memory="headroom")
    e = r.inference.engine
    assert abs(e.weights / (56.9342 * GIB) - 1) < 0.015
    assert abs(e.kv_capacity_tokens / 150272 - 1) < 0.05
    assert e.max_concurrency == pytest.approx(e.num_blocks / (131072 // 16))


def test_log_gpt_oss_120b_one_h100_end_to_end():
    """vLLM issue #23278 (https://github.com/vllm-project/vllm/issues/23278, 2025-08-20, vLLM
    0.10.1, torch 2.7.1, one "NVIDIA H100 PCIe"): gpt-oss-120b with the defaults: "Your GPU does
    not have native support for FP4 computation ... leveraging the Marlin kernel", "Model
    loading took 65.9651 GiB", "Available KV cache memory: -2.14 GiB" (the engine refuses to
    start). End to end: the MXFP4 experts padded as Marlin allocates them (2944 x 3072 instead
    of 2880 x 2880), the dummy sampler on 1024 rows of the 201,088-token vocabulary (7.3 GiB:
    why 120b does not start on one H100 with the defaults while 20b does)."""
    r = estimator.estimate("gpt-oss-120b", dtype="mxfp4", tp=1, pp=1, ep=1, gpu="h100-pcie",
                           seq_len=131072, vllm_cudagraph_memory="headroom")
    e = r.inference.engine
    assert (e.max_num_batched_tokens, e.max_num_seqs) == (8192, 1024)
    assert abs(e.weights / (65.9651 * GIB) - 1) < 0.015
    assert e.weights > r.inference.per_gpu.weights_total  # the padding is the engine's
    assert abs(e.available_kv - (-2.14 * GIB)) < 0.15 * GIB
    assert e.kv_capacity_tokens == 0 and any("refuse" in n for n in e.notes)


def test_log_qwen3_30b_a3b_tp4_weights():
    """vLLM issue #17469 (v0.8.5, tp=4): "Model loading took 14.2474 GiB" on every rank."""
    r = estimator.estimate("qwen3-30b-a3b", tp=4, pp=1, ep=1)
    assert abs(r.inference.per_gpu.weights_total / (14.2474 * GIB) - 1) < 0.015


def test_log_deepseek_v2_lite_pp2_end_to_end():
    """vLLM PR #20665 (https://github.com/vllm-project/vllm/pull/20665, 2025-07-09, vLLM main
    0.1.dev7548+gbaba038, between v0.9.2 and v0.10.0): ``vllm serve deepseek-ai/DeepSeek-V2-Lite
    --max-model-len=1024 --enforce-eager --tensor-parallel-size=2 --pipeline-parallel-size=2``
    on 4 x L4 ("device_name=NVIDIA_L4" in the fused-MoE config warning):
    "Available KV cache memory: 12.13 GiB" (ranks 0-1, 14 layers), "11.33 GiB" (ranks 2-3,
    13 layers, the sampler's stage), "GPU KV cache size: 807,792 tokens", "Maximum concurrency
    for 1,024 tokens per request: 788.86x". Computed end to end: L4 total 22.05 GiB (catalog,
    vLLM issue #20214), the L4 defaults 2048 batched tokens / 256 sequences, the smallest
    worker's blocks. The log has no "Model loading took" line; the first stage's available
    memory (weights + profile peak + 0.2 GiB non-torch) carries the weights."""
    r = estimator.estimate("deepseek-v2-lite", tp=2, pp=2, ep=1, gpu="l4", seq_len=1024,
                           vllm_cudagraph_memory="headroom")  # --enforce-eager
    e = r.inference.engine
    assert (e.max_num_batched_tokens, e.max_num_seqs) == (2048, 256)
    assert abs(e.available_kv / (12.13 * GIB) - 1) < 0.005
    assert abs(e.kv_capacity_tokens / 807792 - 1) < 0.05
    assert abs(e.max_concurrency / 788.86 - 1) < 0.05
    # the sampler stage: the dummy sampler on 256 rows of the 102,400-token vocabulary
    last = engine.vllm_available_kv_bytes(
        e.total_memory, 0.9, sum(r.inference.stage_models[1].weights.values()),
        engine.vllm_sampler_bytes(256, 102400, 2), engine.vllm_non_torch_bytes(4))
    assert abs(last / (11.33 * GIB) - 1) < 0.02


def test_log_deepseek_v2_lite_pp2_block_arithmetic():
    """The same log, block arithmetic only (from the logged available memory): the smallest
    worker sets the blocks; the MLA page is 16 x 576 x 2 bytes."""
    s = estimator.load_model("deepseek-v2-lite").spec
    lay = memory.layout(s, 2, 2, 1)
    assert [hi - lo for lo, hi in lay.stage_layers] == [14, 13]
    page = engine.vllm_page_size_bytes(s, "engine", "bf16", 2)
    blocks = min(engine.vllm_num_blocks(round(12.13 * GIB), page, 14),
                 engine.vllm_num_blocks(round(11.33 * GIB), page, 13))
    # the logged GiB are rounded to 0.01: 0.005 GiB is 0.04% of 12.13
    assert abs(engine.vllm_kv_tokens(blocks, 1) / 807792 - 1) < 0.001
    conc = engine.vllm_max_concurrency(blocks, engine.vllm_max_memory_usage_blocks(1024, 16, None,
                                                                                  2048))
    assert abs(conc / 788.86 - 1) < 0.001


def test_log_qwen3_235b_fp8_tp4_block_arithmetic():
    """vLLM issue #21348 (https://github.com/vllm-project/vllm/issues/21348, 2025-07, vLLM
    v0.9.2/v0.10.0; Qwen3-235B-A22B-FP8, ``vllm serve --tensor-parallel-size 4`` on 4 x H100,
    LMCache connector): "Available KV cache memory: 8.11 GiB" → "GPU KV cache size: 178,880
    tokens" (one KV head per GPU, 94 layers). The printed memory is one rank's; the smallest
    rank sets the count (here 1.2% fewer).

    End to end the estimate is 10.48 GiB (233,888 tokens, +31%), term by term: requested
    0.9 x 79.22 = 71.30 GiB; weights 55.11 GiB (fp8 matrices, bf16 embedding/lm_head/norms/
    router; the 128 x 128 block scales add 1/4096 byte per weight, not counted); torch peak
    5.51 GiB = the dummy sampler, 1024 rows x 151,936 logits x 38 bytes (the forward's 1.19 GiB
    is freed before it); non-torch 0.20 GiB. The 2.4 GiB left is memory outside PyTorch at
    tp=4 on NVLink: vLLM v0.9-v0.10 took ``init_snapshot`` *before*
    ``init_worker_distributed_environment`` (gpu_worker.py::init_device), so NCCL's
    communicator buffers count in ``non_torch_increase``; later versions snapshot after NCCL
    init (vLLM PR #25359, 2025-09: "NCCL buffers (~4.5 GiB for tensor parallelism) were
    allocated after the memory snapshot ... shows up as non-torch memory increase"). SGLang's
    line in the same issue ("#tokens: 367404", mem_fraction_static 0.93) implies 2.25 GiB in use
    before its first measurement, and vLLM PR #10511 logs +1.79 GiB non-torch from tp=1 to tp=2
    on H100: the same order, but no formula for NCCL's buffers (channels, NVLS) is pinned, so
    this log stays block arithmetic (not end to end)."""
    s = estimator.load_model("qwen3-235b-a22b").spec
    page = engine.vllm_page_size_bytes(s, "engine", "bf16", 4)
    tokens = engine.vllm_kv_tokens(engine.vllm_num_blocks(round(8.11 * GIB), page, 94), 1)
    assert 178880 <= tokens and tokens / 178880 - 1 < 0.02


def test_engine_section_in_report_and_monotone():
    r = estimator.estimate("mixtral-8x7b", tp=2, pp=1, ep=1, seq_len=32768)
    d = r.to_dict(compare=False)["memory"]["inference"]
    assert d["kv_capacity_tokens"] == d["engine"]["kv_capacity_tokens"] > 0
    assert d["max_concurrency"] == pytest.approx(d["engine"]["num_blocks"] / (32768 // 16))
    lo = estimator.estimate("mixtral-8x7b", tp=2, pp=1, ep=1, gpu_memory_utilization=0.8)
    hi = estimator.estimate("mixtral-8x7b", tp=2, pp=1, ep=1, gpu_memory_utilization=0.95)
    assert lo.inference.engine.kv_capacity_tokens < hi.inference.engine.kv_capacity_tokens
    sg = estimator.estimate("mixtral-8x7b", tp=2, pp=1, ep=1, engine="sglang")
    ref = _SGLangServerArgs(2)._handle_gpu_memory_settings(get_gpu("h100-sxm").memory_bytes
                                                            / 2**20)
    assert sg.inference.engine.engine == "sglang"
    assert sg.inference.engine.utilization == ref.mem_fraction_static


def test_driver_memory_is_sourced():
    assert engine.driver_memory_bytes(get_gpu("h200"))[0] == 150109880320
    assert engine.driver_memory_bytes(get_gpu("h100-sxm"))[0] == round(79.22 * GIB)


# ---------------------------------------------------------------------------------------------
# CUDA graphs (vLLM >= 0.21 subtracts an estimate before sizing the KV cache)
# ---------------------------------------------------------------------------------------------

def vllm_default_capture_sizes(max_num_seqs, max_num_batched_tokens):
    # vllm/config/vllm.py::VllmConfig._set_cudagraph_sizes (v0.11+), no speculative decoding:
    #   max_cudagraph_capture_size = min(max_num_seqs * 2, 512)
    #   max_cudagraph_capture_size = min(max_num_batched_tokens, max_cudagraph_capture_size)
    #   cudagraph_capture_sizes = [i for i in [1, 2, 4] if i <= max_cudagraph_capture_size]
    #   if max_cudagraph_capture_size >= 8:
    #       cudagraph_capture_sizes += list(range(8, min(max_cudagraph_capture_size + 1, 256), 8))
    #   if max_cudagraph_capture_size >= 256:
    #       cudagraph_capture_sizes += list(range(256, max_cudagraph_capture_size + 1, 16))
    m = min(min(max_num_seqs * 2, 512), max_num_batched_tokens)
    sizes = [i for i in [1, 2, 4] if i <= m]
    if m >= 8:
        sizes += list(range(8, min(m + 1, 256), 8))
    if m >= 256:
        sizes += list(range(256, m + 1, 16))
    return sizes


def vllm_profile_cudagraph_total(capture_descs, samples):
    # vllm/v1/worker/gpu_model_runner.py::GPUModelRunner.profile_cudagraph_memory (v0.21+):
    #   first_capture = mem_samples[0]
    #   # Use at least 1 MiB per graph for driver overhead
    #   per_graph = max(mem_samples[1] if len(mem_samples) > 1 else 0, 1 << 20)
    #   shared_memory_estimate[mode] = first_capture
    #   per_graph_estimate[mode] = per_graph * (len(descs) - 1)
    #   total_estimate = max(shared_memory_estimate.values()) + sum(per_graph_estimate.values())
    shared, per = {}, {}
    for mode, descs in capture_descs:
        mem_samples = samples[mode]
        shared[mode] = mem_samples[0]
        per[mode] = max(mem_samples[1] if len(mem_samples) > 1 else 0, 1 << 20) * (len(descs) - 1)
    return max(shared.values()) + sum(per.values())


@pytest.mark.parametrize("mns", [1, 3, 8, 64, 128, 200, 256, 1024])
@pytest.mark.parametrize("mnbt", [16, 300, 2048, 8192])
def test_cudagraph_sizes_are_set_cudagraph_sizes(mns, mnbt):
    assert list(engine.vllm_cudagraph_capture_sizes(mns, mnbt)) == vllm_default_capture_sizes(
        mns, mnbt)


def test_cudagraph_graph_counts_match_a_v0_21_log():
    """LMCache issue #3430 (https://github.com/LMCache/LMCache/issues/3430, 2026-05-28, vLLM
    0.21.0, Qwen3-8B on one 24 GB RTX A5000, so vLLM's small defaults 2048 batched tokens / 256
    sequences): "Profiling CUDA graph memory: PIECEWISE=51 (largest=512), FULL=35
    (largest=256)"."""
    d = engine.vllm_cudagraph_descs(256, 2048)
    assert (len(d["PIECEWISE"]), d["PIECEWISE"][-1]) == (51, 512)
    assert (len(d["FULL"]), d["FULL"][-1]) == (35, 256)


@pytest.mark.parametrize("samples", [
    {"PIECEWISE": [300 << 20, 7 << 20], "FULL": [40 << 20, 5 << 20]},
    {"PIECEWISE": [2 << 30, 0], "FULL": [3 << 30, 12345]},  # the 1 MiB floor
])
def test_cudagraph_estimate_is_profile_cudagraph_memory(samples):
    descs = engine.vllm_cudagraph_descs(256, 8192)
    ours = engine.vllm_cudagraph_estimate_bytes(
        {m: v[0] for m, v in samples.items()}, {m: v[1] for m, v in samples.items()},
        {m: len(v) for m, v in descs.items()})
    assert ours == vllm_profile_cudagraph_total(list(descs.items()), samples)


def test_cudagraph_estimate_is_subtracted_only_from_v0_21():
    """``determine_available_memory`` (v0.21+): ``available = requested − non_kv_cache_memory −
    cudagraph_memory_estimate_applied``; with 'headroom' (v0.11-v0.20, or the variable at 0)
    nothing is subtracted. The first capture of Mixtral at tp 2 is one forward of the largest
    capture size (512 tokens) through the fused-MoE buffers, each further graph 164 KiB per
    layer."""
    new = estimator.estimate("mixtral-8x7b", tp=2, pp=1, ep=1).inference.engine
    old = estimator.estimate("mixtral-8x7b", tp=2, pp=1, ep=1,
                             vllm_cudagraph_memory="headroom").inference.engine
    assert old.cudagraph == 0 and new.cudagraph > 0
    assert old.available_kv - new.available_kv == new.cudagraph
    s = estimator.load_model("mixtral-8x7b").spec
    lay = memory.layout(s, 2, 1, 1)
    t = engine.vllm_profile_peak(s, lay, 2, 512, 1024, False)
    first = t["residual"] + t["moe"]
    ws = vllm_triton_experts_workspace_elems(512, 2 * 14336 // 2, 4096, 2)
    assert t["moe"] == (ws + 512 * 8) * 2 + 512 * 2 * 8
    assert new.cudagraph == vllm_profile_cudagraph_total(
        list(engine.vllm_cudagraph_descs(1024, 8192).items()),
        {"PIECEWISE": [first, 32 * 164 * 1024], "FULL": [first, 32 * 164 * 1024]})


def test_auto_layout_is_one_the_engine_starts_on():
    """Llama-3-70B in bf16 on H100s: two GPUs hold the weights (65.7 GiB each) within the
    card's bytes, but vLLM at gpu_memory_utilization 0.9 has no memory left for the KV cache
    once its profile run (the dummy sampler on 1024 rows of the 128,256-token vocabulary) has
    run, and refuses to start. The automatic layout moves on to the first layout the engine
    starts on and runs the batch at once, and says why it skipped the smaller one."""
    two = estimator.estimate("llama-3-70b", tp=2, pp=1, ep=1)
    assert two.inference.fits and two.inference.engine.available_kv <= 0
    auto = estimator.estimate("llama-3-70b")
    lay = auto.to_dict(compare=False)["memory"]["inference"]["layout"]
    assert lay["auto"] and lay["gpus"] == 4 and lay["fits"]
    assert "tp=2 pp=1 ep=1" in lay["engine_refused"]
    e = auto.inference.engine
    assert e.available_kv > 0 and e.max_concurrency >= auto.options.batch
    # an explicit layout is kept as given, refused or not
    assert two.to_dict(compare=False)["memory"]["inference"]["layout"]["auto"] is False
