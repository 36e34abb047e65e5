"""Engine memory: what vLLM or SGLang prints at start-up — KV-cache capacity in tokens and the
maximum concurrency at ``seq_len`` tokens per request — from the engine's own arithmetic.

Each term is the engine's formula, cited by file and function, applied to this estimator's exact
weight bytes (:mod:`estimator.memory`). Named option ``engine``: ``vllm`` (default) or ``sglang``.

**vLLM v1** (``vllm/v1/worker/gpu_worker.py::Worker.determine_available_memory`` with
``vllm/utils/mem_utils.py::memory_profiling``)::

    requested = total_memory × gpu_memory_utilization          # init_snapshot.total_memory
    available_kv = requested − (weights + torch_peak_increase + non_torch_increase)

``total_memory`` is what ``torch.cuda.mem_get_info()`` reports (:func:`driver_memory_bytes`), not
the marketing capacity. The baseline snapshot is taken *after* NCCL is initialised (vLLM PR
#25359, 2025-09, in v0.11; v0.9-v0.10 took it before ``init_worker_distributed_environment``, so
NCCL's buffers counted as non-torch memory there: "~4.5 GiB for tensor parallelism" on H100 in
that PR, 2.4 GiB in the Qwen3-235B tp=4 log of ``tests/test_engine.py``; not modelled), so the
CUDA context and NCCL's init buffers come out of the ``1 − utilization`` headroom.

CUDA graphs (option ``vllm_cudagraph_memory``, :data:`VLLM_CUDAGRAPH_MODES`): vLLM captures them
after the KV cache is allocated (``compile_or_warm_up_model`` → ``capture_model``, "Graph
capturing finished in N secs, took X GiB"). In 0.11-0.20 (``headroom``) they come out of the
``1 − utilization`` headroom and do not change the KV capacity. From 0.21.0 (``profiled``, the
default here, as in vLLM) ``determine_available_memory`` first runs
``GPUModelRunner.profile_cudagraph_memory`` — a throwaway capture of the two largest graphs of
each mode on a minimal KV cache, extrapolated linearly — and subtracts it::

    available_kv = requested − non_kv_cache_memory − cudagraph_memory_estimate_applied

(:func:`vllm_cudagraph_memory`: the graph counts of ``cudagraph_capture_sizes``, the first
capture = one forward at the largest size, each further graph a measured per-layer figure).
``torch_peak_increase`` is the peak of the profile run, a forward of ``max_num_batched_tokens``
tokens (:func:`vllm_profile_peak`, the fused-MoE workspaces of ``TritonExperts.workspace_shapes``
included) or, after it, the dummy sampler on ``min(max_num_seqs, max_num_batched_tokens)`` rows of
the full vocabulary (:func:`vllm_sampler_bytes`: the top-k/top-p sort, 38 bytes per logit), which
dominates at the large defaults (1024 rows x 152k logits = 5.5 GiB). The KV cache is then cut
into blocks (``vllm/v1/core/kv_cache_utils.py``: ``get_num_blocks``, ``_report_kv_cache_config``,
``get_max_concurrency_for_kv_cache_config``; per-layer page sizes from
``vllm/v1/kv_cache_interface.py``), sliding-window layers grouped as
``_get_kv_cache_groups_uniform_page_size`` groups them, layers of different K/V shapes on pages
unified by block size and K/V-sharing layers without a cache (:func:`vllm_layer_shaped_plan`);
with pipeline stages every worker sizes its own cache and the engine keeps the smallest block
count. DeepSeek Sparse Attention
(DeepSeek-V3.2) adds the indexer's key cache as a second spec per layer, and hybrids
(Mamba, Gated DeltaNet, lightning attention, KDA, short conv) a Mamba-state spec per mixer
layer whose page sets the attention block size: :func:`vllm_kv_plan`.

**SGLang** (``python/sglang/srt/model_executor/model_runner.py``,
``ModelRunner.profile_max_num_token``)::

    rest = free_after_load − free_at_init × (1 − mem_fraction_static)
    max_total_num_tokens = rest // cell_size     # cell_size: sglang_cell_size

The default ``mem_fraction_static`` reserves room for activations and CUDA graphs
(``python/sglang/srt/server_args.py::ServerArgs._handle_gpu_memory_settings``, SGLang PR #10975,
2025-10; :func:`sglang_mem_fraction_static`): ``chunked_prefill_size`` and ``cuda_graph_max_bs``
by the GPU's memory (nvidia-smi MiB) and tp, then ``reserved_mem`` (MiB) = 512 +
``max(chunked_prefill_size, 2048)·1.5`` + ``cuda_graph_max_bs·2`` (the CUDA graphs) +
``tp·pp/8·1024`` (+ ``cuda_graph_max_bs·dp·3``, and ·1.5 more above 300, with data-parallel
attention), at least 10 GiB on GPUs above 60 GiB, and ``mem_fraction_static = round((gpu_mem −
reserved_mem) / gpu_mem, 3)``. Activations and CUDA graphs live in the ``1 −
mem_fraction_static`` share, so here graph memory sets the KV capacity through the fraction.

Hybrids (:func:`sglang_hybrid_max_total_tokens`, ``handle_max_mamba_cache``): the memory
left after the weights is split between the MambaPool (``mamba_full_memory_ratio`` 0.9 → 0.9/1.9
of it, in request slots of :func:`sglang_mamba_cache_per_req`, recurrent states fp32) and the
token pool of the softmax-attention layers; running requests ≤ slots // 3.

(SGLang before PR #10975 used 0.88 / 0.87 / 0.85 / 0.81 / 0.79 at tp 1 / 2 / 4 / 8 / 16.)
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import memory
from ._frozen import remembered, spec_cache
from .errors import EstimatorError
from .memory import ACTIVATION_DTYPE, BYTES_PER_ELEMENT, GIB, Layout
from .spec import Mixer, ModelSpec

ENGINES = ("vllm", "sglang")

#: vLLM's KV block size on CUDA (``vllm/config/cache.py::CacheConfig.block_size``: 16 when unset
#: by the attention backend; FlashMLA forces 64 for MLA models on Hopper, not modelled).
VLLM_BLOCK_SIZE = 16
#: Block size of DeepSeek Sparse Attention models (``vllm/platforms/cuda.py::CudaPlatform.
#: check_and_update_config``: "Forcing kv cache block size to 64 for FlashMLASparse backend").
VLLM_SPARSE_MLA_BLOCK_SIZE = 64
#: ``--kv-cache-dtype fp8`` on DeepSeek-V3.2 becomes ``fp8_ds_mla``
#: (``vllm/model_executor/models/config.py::DeepseekV32ForCausalLM.verify_and_update_config``),
#: whose page is ``block_size · 656`` bytes (``vllm/v1/kv_cache_interface.py::MLAAttentionSpec.
#: real_page_size_bytes``, the layout of ``v1/attention/backends/mla/flashmla_sparse.py``): per
#: token the ``kv_lora_rank`` latent in fp8 (512), one fp32 scale per 128 of it (4 × 4) and the
#: RoPE key in bf16 (64 × 2).
VLLM_FP8_DS_MLA_TILE = 128
VLLM_FP8_DS_MLA_SCALE_BYTES = 4
VLLM_FP8_DS_MLA_ROPE_BYTES = 2
#: Attention block-size alignment when vLLM raises the block size of a hybrid model
#: (``HybridAttentionMambaModelConfig.verify_and_update_config``: multiples of 16 for
#: FlashAttention/FlashInfer; 64 for MLA backends other than CUTLASS).
VLLM_HYBRID_BLOCK_ALIGN = 16
VLLM_HYBRID_MLA_BLOCK_ALIGN = 64
#: Tokens the fused-MoE kernel processes per chunk (``vllm/envs.py::VLLM_FUSED_MOE_CHUNK_SIZE``,
#: default 32768 in 2025 releases): the workspaces are sized for at most this many tokens.
VLLM_FUSED_MOE_CHUNK_SIZE = 32768
#: vLLM's defaults when ``max_num_batched_tokens`` / ``max_num_seqs`` are not given
#: (``vllm/engine/arg_utils.py::EngineArgs.get_batch_defaults``, ``vllm serve``): 8192 / 1024 on
#: GPUs with >= 70 GiB that are not A100s, else 2048 / 256.
VLLM_SERVE_DEFAULTS_LARGE = (8192, 1024)
VLLM_SERVE_DEFAULTS_SMALL = (2048, 256)
VLLM_LARGE_GPU_BYTES = 70 * GIB
#: Bytes per logit the dummy sampler run holds at its peak (``GPUModelRunner._dummy_sampler_run``,
#: vLLM v0.9-v0.10, 2025-07): the logits are all-gathered to the full vocabulary on every TP rank
#: (``LogitsProcessor._gather_logits``) and sampled with ``top_p=0.9``, ``top_k=V-1``, so
#: ``vllm/v1/sample/ops/topk_topp_sampler.py::apply_top_k_top_p`` sorts them. At the sort these
#: are live, per element of ``num_reqs x V``: the model-dtype logits (``act_bytes``), their fp32
#: copy (``Sampler.forward``: ``logits.to(torch.float32)``), the sorted values (4) and int64
#: indices (8) ``logits.sort`` returns, and the sort's own scratch (ATen
#: ``native/cuda/SortStable.cu::segmented_sort_pairs``: an int64 index sequence, 8, and cub
#: ``DeviceSegmentedRadixSort::SortPairs``'s alternate key and value buffers, 4 + 8; the path
#: ATen takes from 128 rows up; fewer rows are a few MB either way). The later masks, softmax
#: and scatter (28 bytes with bf16 logits) stay below this. Checked end to end: gpt-oss-120b on
#: one H100 (1024 x 201,088 logits = 7.3 GiB) lands within 0.1 GiB of vLLM 0.10.1's log.
SAMPLER_FP32_COPY = 4
SAMPLER_SORT_OUT = 4 + 8
SAMPLER_SORT_SCRATCH = 8 + 4 + 8
#: vLLM's MXFP4 experts on NVIDIA GPUs without FP4 tensor cores (Hopper, Ampere, Ada) run
#: weight-only Marlin kernels, which need ``n % 256 == 0`` and ``k % 128 == 0`` in both expert
#: GEMMs: ``vllm/model_executor/layers/quantization/mxfp4.py::Mxfp4MoEMethod.create_weights``
#: (``Mxfp4Backend.MARLIN``, v0.10-v0.11) allocates the experts with
#: ``intermediate_size_per_partition`` rounded up to 128 and ``hidden_size`` to 256 (gpt-oss:
#: 2880 x 2880 → 2944 x 3072, +9.0% expert bytes).
VLLM_MARLIN_MXFP4_INTERMEDIATE_ALIGN = 128
VLLM_MARLIN_MXFP4_HIDDEN_ALIGN = 256
#: Memory outside PyTorch's allocator that the profile run adds after the baseline snapshot:
#: 0.16 GiB on one H100 (vLLM PR #12126 log, "non_torch_memory takes 0.16GiB"); 0.20 GiB per GPU
#: with tensor parallelism (vLLM PR #14447 log, 4 x RTX 4090, "non_torch_memory takes 0.20GiB":
#: NCCL's lazily allocated channel buffers). Measured figures of one setup each, not formulas.
VLLM_NON_TORCH_ONE_GPU = round(0.16 * GIB)
VLLM_NON_TORCH_MULTI_GPU = round(0.20 * GIB)
#: Where vLLM's CUDA graphs come from (option ``vllm_cudagraph_memory``):
#: ``profiled`` — vLLM >= 0.21.0 (``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1``, its default
#: "since v0.21.0" as the start-up line says; the estimate exists since vLLM PR #30515,
#: 2025-12, opt-in before 0.21): ``determine_available_memory`` subtracts
#: ``GPUModelRunner.profile_cudagraph_memory()`` before the KV cache is sized;
#: ``headroom`` — vLLM 0.11-0.20 (or ``VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0``, or
#: ``--enforce-eager``): the graphs are captured after the KV cache is allocated
#: (``compile_or_warm_up_model`` → ``capture_model``), out of the ``1 − utilization`` headroom.
VLLM_CUDAGRAPH_MODES = ("profiled", "headroom")
#: ``CompilationConfig`` default capture sizes (``VllmConfig._set_cudagraph_sizes``, v0.11+):
#: ``max_cudagraph_capture_size = min(max_num_seqs · 2, 512, max_num_batched_tokens)``; sizes
#: 1, 2, 4, then every 8 below 256, then every 16 up to the maximum.
VLLM_CUDAGRAPH_MAX_CAPTURE_SIZE = 512
#: ``profile_cudagraph_memory``: "Use at least 1 MiB per graph for driver overhead".
VLLM_CUDAGRAPH_MIN_PER_GRAPH_BYTES = 1 << 20
#: Marginal bytes of one more captured graph, per decoder layer on the GPU (graph exec memory
#: grows with the kernel nodes, i.e. with the layers): 164 KiB, from the one v0.21.0 start-up
#: log with every input known (LMCache issue #3430, Qwen3-8B, 36 layers, one 24 GB card,
#: ``PIECEWISE=51 (largest=512), FULL=35 (largest=256)``, "Estimated CUDA graph memory: 0.52
#: GiB total": (0.52 GiB − 48 MiB first capture) / (50 + 34) graphs / 36 layers). A measured
#: figure of one setup (vLLM issue #50780 measures ~24 MiB per FULL graph of a 64-layer hybrid,
#: 384 KiB per layer), not a formula.
VLLM_CUDAGRAPH_BYTES_PER_LAYER_GRAPH = 164 * 1024
#: SGLang's ``(chunked_prefill_size, cuda_graph_max_bs at tp < 4, at tp >= 4)`` by GPU memory
#: (``_handle_gpu_memory_settings``: "< 20 GiB: T4, 4080"; "< 35: A10, 4090, 5090"; "< 60: A100
#: 40GB, L40"; "< 90: H100, A100"; "< 160: H20, H200"; else "B200, MI300"), upper bounds in MiB.
SGLANG_GPU_MEMORY_DEFAULTS = ((20 * 1024, 2048, 8, 8), (35 * 1024, 2048, 24, 80),
                              (60 * 1024, 4096, 32, 160), (90 * 1024, 8192, 256, 512),
                              (160 * 1024, 8192, 256, 512), (None, 16384, 512, 512))
#: ``reserved_mem`` terms of ``_handle_gpu_memory_settings`` (MiB): constant metadata, MiB per
#: prefill-chunk token, MiB per CUDA-graph batch row, MiB per GPU of the model (``tp·pp/8·1024``),
#: MiB per graph row per attention group with DP attention (and the extra above 300 rows), the
#: floor on GPUs above 60 GiB.
SGLANG_RESERVED_BASE_MIB = 512
SGLANG_RESERVED_PER_CHUNK_TOKEN_MIB = 1.5
SGLANG_RESERVED_PER_GRAPH_BS_MIB = 2
SGLANG_RESERVED_PER_GPU_MIB = 1024 / 8
SGLANG_RESERVED_DP_PER_GRAPH_BS_MIB = 3
SGLANG_RESERVED_DP_LARGE_BS = 300
SGLANG_RESERVED_DP_LARGE_PER_GRAPH_BS_MIB = 1.5
SGLANG_RESERVED_FLOOR_MIB = 10 * 1024
SGLANG_RESERVED_FLOOR_ABOVE_MIB = 60 * 1024
#: Memory taken before SGLang's first ``get_available_gpu_memory`` (CUDA context, NCCL init):
#: 0.5 GiB, an assumption (the CUDA context of a Hopper GPU is ~0.5 GiB; NCCL's init buffers
#: add a few hundred MB at tp > 1, not counted).
SGLANG_CONTEXT_BYTES = GIB // 2
#: SGLang's hybrid (Mamba / linear-attention) state pool: ``ServerArgs.mamba_full_memory_ratio``
#: (0.9: the MambaPool gets 0.9 / 1.9 of the memory left after the weights, the token pool the
#: rest), ``MAMBA_CACHE_SIZE_MAX_RUNNING_REQUESTS_RATIO`` (3 state slots per running request with
#: the radix cache on, ``model_runner_kv_cache_mixin.py``), and the state dtypes
#: (``configs/mamba_utils.py::Mamba2StateDType``: conv states ``SGLANG_MAMBA_CONV_DTYPE``
#: bfloat16, recurrent states ``SGLANG_MAMBA_SSM_DTYPE`` float32 by default; KDA's recurrent
#: state fp32 as in vLLM).
SGLANG_MAMBA_FULL_MEMORY_RATIO = 0.9
SGLANG_MAMBA_SLOTS_PER_REQUEST = 3
SGLANG_MAMBA_CONV_BYTES = 2
SGLANG_MAMBA_SSM_BYTES = 4


def driver_memory_bytes(gpu) -> tuple[int, str]:
    """``(bytes, source)``: the device total as ``torch.cuda.mem_get_info()`` reports it — the
    catalog's ``cuda_total_memory_bytes`` where sourced — else the catalog's ``memory_bytes``."""
    v = getattr(gpu, "cuda_total_memory_bytes", None)
    if v:
        return int(v), "cuda_total_memory_bytes (what torch.cuda.mem_get_info reports)"
    return gpu.memory_bytes, "memory_bytes (no driver figure in the catalog for this GPU)"


def vllm_serve_defaults(gpu) -> tuple[int, int]:
    """``(max_num_batched_tokens, max_num_seqs)`` vLLM picks for ``vllm serve`` on ``gpu``
    (``EngineArgs.get_batch_defaults``: large values on >= 70 GiB GPUs other than A100)."""
    total, _ = driver_memory_bytes(gpu)
    big = total >= VLLM_LARGE_GPU_BYTES and "a100" not in gpu.id.lower()
    return VLLM_SERVE_DEFAULTS_LARGE if big else VLLM_SERVE_DEFAULTS_SMALL


# ----------------------------------------------------------------------------------------------
# KV blocks (vLLM)
# ----------------------------------------------------------------------------------------------

def vllm_page_size_bytes(s: ModelSpec, kv_layout: str, kv_dtype: str, tp: int,
                         block_size: int = VLLM_BLOCK_SIZE) -> int:
    """Bytes of one KV block of one layer on one GPU (``vllm/v1/kv_cache_interface.py``):
    ``AttentionSpec.page_size_bytes = 2 · block_size · num_kv_heads · head_size · dtype_size``
    (K and V); ``MLAAttentionSpec``: ``block_size · head_size · dtype_size`` with the latent
    ``kv_lora_rank + qk_rope_head_dim`` as head size, one KV head. Per GPU the KV heads are
    ``max(1, g // tp)`` (:func:`estimator.memory.kv_elements_per_token`)."""
    return (block_size * memory.kv_elements_per_token(s, kv_layout, tp)
            * BYTES_PER_ELEMENT[kv_dtype])


def vllm_max_memory_usage_blocks(max_model_len: int, block_size: int, window: int | None,
                                 max_num_batched_tokens: int) -> int:
    """Blocks one request of ``max_model_len`` tokens needs in one layer
    (``kv_cache_interface.py``): full attention ``cdiv(max_model_len, block_size)``; sliding
    window ``cdiv(min(window − 1 + max_num_batched_tokens, max_model_len), block_size) + 1``
    (``SlidingWindowSpec.max_memory_usage_bytes``)."""
    if window is None:
        return -(-max_model_len // block_size)
    tokens = min(window - 1 + max_num_batched_tokens, max_model_len)
    return -(-tokens // block_size) + 1


def vllm_kv_groups(n_full: int, n_slide: int) -> tuple[int, int, int]:
    """``(group_size, full groups, sliding groups)`` for a worker holding ``n_full`` full and
    ``n_slide`` sliding-window layers (:func:`vllm_group_layout` of the two counts)."""
    size, groups = vllm_group_layout((n_full, n_slide))
    return size, groups[0], groups[1]


def vllm_group_layout(counts: tuple[int, ...]) -> tuple[int, tuple[int, ...]]:
    """``(group_size, groups per kind)`` for a worker holding ``counts[i]`` layers of each KV
    kind (full attention, sliding window, Mamba state; ``vllm/v1/core/kv_cache_utils.py``):
    one group of every layer when there is one kind (``_get_kv_cache_groups_uniform_spec``);
    otherwise ``_get_kv_cache_groups_uniform_page_size``: group size = the smallest count, or
    the largest when it is below 1.5× the smallest, and ``cdiv(count, group_size)`` groups per
    kind (the last one padded)."""
    present = [c for c in counts if c]
    if len(present) <= 1:
        return sum(present), tuple(1 if c else 0 for c in counts)
    lo, hi = min(present), max(present)
    size = hi if hi < lo * 1.5 else lo
    return size, tuple(-(-c // size) for c in counts)


def vllm_num_blocks(available: int, page_size: int, group_size: int) -> int:
    """``get_num_blocks``: ``available // page_size // num_layers`` (``num_layers`` = the group
    size: each of that many tensors is shared by one layer of every group), at least 0."""
    if available <= 0 or group_size <= 0:
        return 0
    return available // page_size // group_size


def vllm_kv_tokens(num_blocks: int, num_groups: int, block_size: int = VLLM_BLOCK_SIZE) -> int:
    """"GPU KV cache size: N tokens" (``_report_kv_cache_config``, 2025 releases):
    ``num_blocks // len(kv_cache_groups) · min_block_size``. (Later releases print
    ``int(max_concurrency · max_model_len)`` instead, as quoted in vLLM issue #51041; the two
    agree for one group of full attention and differ for hybrids.)"""
    return num_blocks // max(num_groups, 1) * block_size


def vllm_max_concurrency(num_blocks: int, blocks_per_request: int) -> float:
    """"Maximum concurrency for N tokens per request" (``get_max_concurrency_for_kv_cache_config``):
    ``num_blocks / cdiv(group_size · Σ_groups max_memory_usage, page_size · group_size)`` — the
    blocks one request needs summed over the groups (:func:`vllm_max_memory_usage_blocks`)."""
    return num_blocks / blocks_per_request if blocks_per_request else 0.0


# ----------------------------------------------------------------------------------------------
# KV pages of DeepSeek Sparse Attention and of hybrid (Mamba / linear-attention) models (vLLM)
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class VllmKVPlan:
    """How vLLM cuts one worker's KV memory: every KV tensor has ``page`` bytes per block of
    ``block_size`` tokens; ``group_size`` tensors share the memory (``get_num_blocks``:
    ``available // page // group_size`` blocks); ``groups`` KV-cache groups share the block
    pool; one request of ``max_model_len`` tokens needs ``blocks_per_request`` blocks."""

    page: int
    block_size: int
    group_size: int
    groups: int
    blocks_per_request: int
    min_block_size: int  # "GPU KV cache size" counts blocks of the smallest group block size
    mamba_page: int = 0  # hybrids: the unpadded Mamba page (bytes per sequence and layer)
    refused: str = ""  # why vLLM refuses to build this cache (then no blocks), else ""


def vllm_dsa_page_bytes(s: ModelSpec, kv_dtype: str,
                        block_size: int = VLLM_SPARSE_MLA_BLOCK_SIZE) -> tuple[int, int]:
    """``(MLA page, indexer page)`` in bytes of one DeepSeek-V3.2 layer (DSA) for one block.

    MLA (``MLAAttentionSpec.real_page_size_bytes``): ``block_size · 656`` with an fp8 KV cache
    (``fp8_ds_mla``: ``kv_lora_rank`` fp8 + ``kv_lora_rank/128`` fp32 scales + RoPE key in
    bf16), else ``block_size · (kv_lora_rank + qk_rope_head_dim) · dtype_size``. Indexer
    (``vllm/model_executor/models/deepseek_v2.py::DeepseekV32IndexerCache.get_kv_cache_spec``:
    an ``MLAAttentionSpec`` of one head of ``head_dim + head_dim // 128 · 4`` uint8, set by
    ``Indexer.__init__``): ``block_size · (Di + Di/128 · 4)`` (132 bytes per token for
    Di = 128), whatever the KV dtype. Both replicated on every TP rank."""
    m = s.mla
    if BYTES_PER_ELEMENT[kv_dtype] == 1:  # fp8 -> fp8_ds_mla
        per_token = (m.kv_lora_rank
                     + m.kv_lora_rank // VLLM_FP8_DS_MLA_TILE * VLLM_FP8_DS_MLA_SCALE_BYTES
                     + m.qk_rope_head_dim * VLLM_FP8_DS_MLA_ROPE_BYTES)
    else:
        per_token = (m.kv_lora_rank + m.qk_rope_head_dim) * BYTES_PER_ELEMENT[kv_dtype]
    indexer = memory.indexer_key_bytes_per_token(m, "engine", 1)
    return block_size * per_token, block_size * indexer


def vllm_mamba_state_elements(m: Mixer, h: int, tp: int) -> tuple[tuple[int, str], ...]:
    """``(elements, dtype role)`` of each state tensor of one mixer layer on one GPU, as
    ``vllm/model_executor/layers/mamba/mamba_utils.py::MambaStateShapeCalculator`` shapes them
    (roles: ``conv`` and ``ssm`` follow ``MambaStateDtypeCalculator``, ``fp32`` is fixed):

    * Mamba-1 ``mamba1_state_shape``: conv ``(K−1, I/tp)``, ssm ``(I/tp, N)``;
    * Mamba-2 ``mamba2_state_shape``: ``G' = G + extra_groups_for_head_shards(G, tp)``
      (``tp − G`` when ``tp`` does not divide ``G``), conv ``(K−1, (I + 2·G'·N)/tp)``, ssm
      ``(H/tp, P, N)``;
    * Gated DeltaNet ``gated_delta_net_state_shape``: conv ``(K−1, (2·Hk·Dk + Hv·Dv)/tp)``,
      ssm ``(Hv/tp, Dk, Dv)``;
    * Kimi Delta Attention ``kda_state_shape``: three convs ``(K−1, H·D/tp)`` (q, k, v) and
      the recurrent state ``(H/tp, D, D)`` in fp32 (``kda_state_dtype``);
    * lightning attention ``linear_attention_state_shape``: ``(a // tp, d, d)``;
    * short conv ``short_conv_state_shape``: ``(K−1, h/tp)``.
    """
    k1 = m.conv_kernel - 1
    if m.kind == "mamba":
        i = m.inner // tp
        return (k1 * i, "conv"), (i * m.state_size, "ssm")
    if m.kind == "mamba2":
        g = m.num_k_heads + (0 if m.num_k_heads % tp == 0 else tp - m.num_k_heads)
        conv = (m.inner + 2 * g * m.state_size) // tp
        return (k1 * conv, "conv"), (m.num_heads // tp * m.head_dim * m.state_size, "ssm")
    if m.kind == "gated_deltanet":
        conv = (2 * m.num_k_heads * m.head_k_dim + m.inner) // tp
        return ((k1 * conv, "conv"),
                (m.num_heads // tp * m.head_k_dim * m.head_dim, "ssm"))
    if m.kind == "kimi_delta":
        q = m.inner // tp
        kk = m.num_k_heads * m.head_k_dim // tp
        return ((k1 * q, "conv"), (k1 * kk, "conv"), (k1 * kk, "conv"),
                (m.num_heads // tp * m.head_dim * m.head_dim, "fp32"))
    if m.kind == "lightning":
        return ((m.num_heads // tp * m.head_dim * m.head_dim, "ssm"),)
    if m.kind == "short_conv":
        return ((k1 * (h // tp), "conv"),)
    raise EstimatorError("mixer", m.kind, "has no vLLM state shape here")


def vllm_mamba_page_bytes(m: Mixer, h: int, tp: int, state_dtype: str) -> int:
    """``MambaSpec.page_size_bytes`` (``kv_cache_interface.py``): ``Σ prod(shape) ·
    dtype_size`` over the state tensors (:func:`vllm_mamba_state_elements`), one sequence of one
    layer. ``state_dtype``: the model dtype (``mamba_cache_dtype`` / ``mamba_ssm_cache_dtype``
    ``auto``); the ``fp32`` tensors stay 4 bytes."""
    b = BYTES_PER_ELEMENT[state_dtype]
    return sum(n * (4 if role == "fp32" else b)
               for n, role in vllm_mamba_state_elements(m, h, tp))


def vllm_hybrid_block_size(mamba_page: int, attn_page_1_token: int, align: int,
                           default: int = VLLM_BLOCK_SIZE) -> int:
    """The attention block size vLLM sets for a hybrid model without prefix caching
    (``HybridAttentionMambaModelConfig.verify_and_update_config``): ``align · cdiv(mamba_page,
    align · attn_page_1_token)``, kept when larger than the configured block size. The Mamba
    page is then padded to ``block_size · attn_page_1_token`` (``mamba_page_size_padded``) so
    that every KV tensor has one page size."""
    return max(default, align * -(-mamba_page // (align * attn_page_1_token)))


def vllm_kv_plan(s: ModelSpec, kv_layout: str, kv_dtype: str, state_dtype: str, tp: int,
                 lo: int, hi: int, max_model_len: int, max_num_batched_tokens: int
                 ) -> VllmKVPlan:
    """The KV plan of the worker holding layers ``[lo, hi)`` (:class:`VllmKVPlan`).

    * DeepSeek Sparse Attention: every layer has an MLA spec and an indexer spec of different
      page sizes but the same kind, so ``UniformTypeKVCacheSpecs`` puts all of them in one
      group (``kv_cache_utils.py::get_kv_cache_groups`` → ``_get_kv_cache_groups_uniform_type``;
      ``get_kv_cache_config_from_groups``: ``available // Σ page_size_bytes`` blocks), blocks of
      :data:`VLLM_SPARSE_MLA_BLOCK_SIZE` (:func:`vllm_dsa_page_bytes`).
    * Hybrids: attention layers (full, sliding, or MLA) and Mamba-state layers share one page
      size (:func:`vllm_hybrid_block_size`), grouped by :func:`vllm_group_layout`; a request
      needs ``cdiv(max_model_len, block)`` blocks per full-attention group and one per Mamba
      group (``MambaSpec.max_memory_usage_bytes`` = one page, no prefix caching).
    * Attention-free models (Mamba, Mamba-2): the same Mamba page, unpadded, one group of all
      the worker's layers (``get_num_blocks``: ``available // page // layers``), block size
      ``max_model_len`` (``MambaBase.get_kv_cache_spec``), one page per request.
    * Softmax attention without MLA (JetMoE's MoA aside), full and sliding layers, the same
      shape on every layer or per-layer shapes (Gemma-4, MiMo-V2-Flash, Laguna):
      :func:`vllm_layer_shaped_plan` (grouped for the whole model, as vLLM groups them, then
      projected onto the worker).
    * Otherwise (MLA, MoA) full and sliding-window layers counted on this worker
      (:func:`vllm_page_size_bytes`, :func:`vllm_group_layout`).
    """
    if s.mixer is None and s.mla is None and s.moa is None:
        return vllm_layer_shaped_plan(s, kv_dtype, tp, lo, hi, max_model_len,
                                      max_num_batched_tokens)
    n, _, n_slide = memory.layer_kinds(s, lo, hi)
    if s.mla is not None and s.mla.index_n_heads:
        mla, idx = vllm_dsa_page_bytes(s, kv_dtype)
        block = VLLM_SPARSE_MLA_BLOCK_SIZE
        return VllmKVPlan(page=mla + idx, block_size=block, group_size=n, groups=1,
                          blocks_per_request=vllm_max_memory_usage_blocks(
                              max_model_len, block, None, max_num_batched_tokens),
                          min_block_size=block)
    n_mix = 0
    block, align, mamba_page = VLLM_BLOCK_SIZE, VLLM_BLOCK_SIZE, 0
    if s.mixer is not None:
        n_attn, n_mix, _ = memory.hybrid_counts(s, lo, hi)
        mamba_page = vllm_mamba_page_bytes(s.mixer, s.hidden_size, tp, state_dtype)
        if n_attn == 0 and memory.hybrid_counts(s)[0] == 0:
            # attention-free (Mamba, Mamba-2): one MambaSpec group of every layer, the Mamba
            # block size is max_model_len, one page per request, nothing to pad to
            return VllmKVPlan(page=mamba_page, block_size=max_model_len, group_size=n_mix,
                              groups=1, blocks_per_request=1, min_block_size=max_model_len,
                              mamba_page=mamba_page)
    attn_1 = vllm_page_size_bytes(s, kv_layout, kv_dtype, tp, 1)
    if s.mixer is not None:
        n_slide = min(n_slide, n_attn)
        n = n_attn
        align = VLLM_HYBRID_MLA_BLOCK_ALIGN if s.mla is not None else VLLM_HYBRID_BLOCK_ALIGN
        block = vllm_hybrid_block_size(mamba_page, attn_1, align,
                                       max(VLLM_BLOCK_SIZE, align))
    size, (g_full, g_slide, g_mix) = vllm_group_layout((n - n_slide, n_slide, n_mix))
    per_req = (g_full * vllm_max_memory_usage_blocks(max_model_len, block, None,
                                                      max_num_batched_tokens)
               + g_slide * vllm_max_memory_usage_blocks(max_model_len, block, s.sliding_window,
                                                        max_num_batched_tokens)
               + g_mix)
    # Mamba groups' block size is max_model_len (MambaBase.get_kv_cache_spec, no prefix caching)
    return VllmKVPlan(page=block * attn_1, block_size=block, group_size=size,
                      groups=g_full + g_slide + g_mix, blocks_per_request=per_req,
                      min_block_size=min(block, max_model_len) if g_mix else block,
                      mamba_page=mamba_page)


# ----------------------------------------------------------------------------------------------
# per-layer attention shapes (vLLM): Gemma-4, MiMo-V2-Flash, Laguna
# ----------------------------------------------------------------------------------------------

def vllm_attention_page_bytes(kv_heads: int, head_size: int, head_size_v: int, kv_dtype: str,
                              tp: int, block_size: int = VLLM_BLOCK_SIZE) -> int:
    """``AttentionSpec.real_page_size_bytes`` (``vllm/v1/kv_cache_interface.py``, with
    ``head_size_v``, the value head size, as ``FullAttentionSpec`` and, in 2026 releases,
    ``SlidingWindowSpec`` carry it): ``block_size · num_kv_heads · (head_size + head_size_v) ·
    dtype_size``, ``num_kv_heads = max(1, kv_heads // tp)`` per GPU (``Attention``: "
    ``self.num_kv_heads = max(1, self.total_num_kv_heads // tp_size)``")."""
    return (block_size * max(1, kv_heads // tp) * (head_size + head_size_v)
            * BYTES_PER_ELEMENT[kv_dtype])


def vllm_layer_kv_specs(s: ModelSpec, kv_dtype: str, tp: int
                        ) -> tuple[tuple[int, tuple[bool, int, int, int], int], ...]:
    """``(layer, spec, page bytes at VLLM_BLOCK_SIZE)`` of every layer that gets a KV-cache
    spec, in layer order; ``spec = (sliding, KV heads per GPU, head_size, head_size_v)`` tells
    the specs apart as vLLM's dataclass equality does. ``GPUModelRunner.get_kv_cache_spec``:
    a layer with ``kv_sharing_target_layer_name`` (Gemma-3n/Gemma-4's last
    ``num_kv_shared_layers``, :attr:`ModelSpec.kv_shared_layers`) is skipped — "We skip
    creating a KVCacheSpec for it, so that KV cache management logic will act as this layer
    does not exist"; every other layer
    pages its own K/V heads and head sizes (:meth:`ModelSpec.layer_attention_shape`;
    ``vllm/model_executor/models/gemma4.py``: ``global_head_dim`` on full layers, and
    ``num_global_key_value_heads`` there with ``attention_k_eq_v``, whose values still fill
    the V half of the cache; ``mimo_v2_flash.py``: ``head_size_v=v_head_dim``)."""
    slide = set(s.sliding_window_layers)
    out = []
    for i in range(s.num_hidden_layers):
        g, d, dv, _, owns = s.layer_attention_shape(i)
        if owns:
            out.append((i, (i in slide, max(1, g // tp), d, dv),
                        vllm_attention_page_bytes(g, d, dv, kv_dtype, tp)))
    return tuple(out)


def vllm_layer_shaped_plan(s: ModelSpec, kv_dtype: str, tp: int, lo: int, hi: int,
                           max_model_len: int, max_num_batched_tokens: int) -> VllmKVPlan:
    """The KV plan of the worker holding layers ``[lo, hi)`` of a softmax-attention model,
    its layers alike or differing in K/V heads, head sizes or K/V ownership
    (``vllm/v1/core/kv_cache_utils.py::get_kv_cache_groups`` over the
    specs of :func:`vllm_layer_kv_specs`, grouped for the whole model and projected onto the
    worker as ``get_kv_cache_configs`` does):

    * one spec for every layer (``is_kv_cache_spec_uniform``): one group,
      ``available // page // layers`` blocks;
    * one kind, different shapes (``UniformTypeKVCacheSpecs``: all full attention, or all
      sliding with one window): one group whose page is the sum of the worker's layer pages,
      ``available // Σ page`` blocks (``get_kv_cache_config_from_groups``), one request needing
      the most blocks any layer needs;
    * otherwise ``unify_kv_cache_spec_page_size``: every page raised to the largest by
      multiplying its block size by ``max_page // page`` (vLLM raises ``NotImplementedError``
      when that does not divide: :attr:`VllmKVPlan.refused`), then
      ``_get_kv_cache_groups_uniform_page_size``: layers grouped by spec (group size by
      :func:`vllm_group_layout`, layer ``j`` of a spec's ``k`` groups in group ``j mod k``),
      ``available // max_page // group_size`` blocks with ``group_size`` the worker's largest
      group, and a request needing ``Σ_groups`` the blocks of its spec
      (``get_max_concurrency_for_kv_cache_config``); the "GPU KV cache size" counts blocks of
      the smallest group block size.

    The sliding window is the spec's (transformers') window. vLLM's MiMo-V2-Flash reads the
    reference config's ``sliding_window_size``, one less (``MiMoV2FlashConfig`` adds the query),
    so a request's blocks per sliding group come out one more than vLLM's when ``window − 2 +
    max_num_batched_tokens`` is a multiple of the block size (not at the defaults: 128 − 1 +
    8,192 tokens are 520 blocks either way); not modelled.
    """
    page, group_size, groups, refused = vllm_layer_kv_groups(s, kv_dtype, tp, lo, hi)
    if refused:
        return VllmKVPlan(page=page, block_size=VLLM_BLOCK_SIZE, group_size=0, groups=0,
                          blocks_per_request=0, min_block_size=VLLM_BLOCK_SIZE,
                          refused=refused)
    win = s.sliding_window
    per_req = sum(vllm_max_memory_usage_blocks(max_model_len, block, win if sliding else None,
                                               max_num_batched_tokens)
                  for sliding, block in groups)
    smallest = min(block for _, block in groups)
    return VllmKVPlan(page=page, block_size=smallest, group_size=group_size,
                      groups=len(groups), blocks_per_request=per_req, min_block_size=smallest)


# Cached: the grouping depends on the spec and the split only, not on the context length an
# estimate sweep varies (a 60-layer model: ~70 µs a call uncached).
@spec_cache(1024)
def vllm_layer_kv_groups(s: ModelSpec, kv_dtype: str, tp: int, lo: int, hi: int
                         ) -> tuple[int, int, tuple[tuple[bool, int], ...], str]:
    """``(page, group_size, groups, refused)`` of :func:`vllm_layer_shaped_plan`: the page of
    every KV tensor, the worker's ``get_num_blocks`` layer count, ``(sliding, block_size)`` of
    every KV-cache group of the model (empty groups on this worker included, as
    ``_project_kv_cache_groups_to_worker`` keeps them), and why vLLM refuses, or ``""``."""
    specs = vllm_layer_kv_specs(s, kv_dtype, tp)
    kinds = {(spec, page) for _, spec, page in specs}
    if len({spec[0] for spec, _ in kinds}) <= 1:
        # one spec (or one kind of spec: UniformTypeKVCacheSpecs): a single group
        on = [p for i, _, p in specs if lo <= i < hi]
        sliding = bool(specs) and specs[0][1][0]
        if len(kinds) <= 1:
            return (specs[0][2] if specs else 0), len(on), ((sliding, VLLM_BLOCK_SIZE),), ""
        return sum(on), 1, ((sliding, VLLM_BLOCK_SIZE),), ""
    top = max(p for _, p in kinds)
    if any(top % p for _, p in kinds):
        return top, 0, (), ("page sizes " + ", ".join(f"{p:,}" for p in sorted(
            {p for _, p in kinds})) + " bytes do not divide the largest: vLLM's "
            "unify_kv_cache_spec_page_size raises NotImplementedError")
    by_spec: dict[tuple, list[int]] = {}
    for i, spec, p in specs:  # same_type_layers: insertion (layer) order
        by_spec.setdefault((spec, VLLM_BLOCK_SIZE * top // p), []).append(i)
    _, n_groups = vllm_group_layout(tuple(len(v) for v in by_spec.values()))
    sizes, groups = [], []
    for ((spec, block), layers), k in zip(by_spec.items(), n_groups):
        for j in range(k):
            sizes.append(sum(1 for i in layers[j::k] if lo <= i < hi))
            groups.append((spec[0], block))
    return top, max(sizes), tuple(groups), ""


# ----------------------------------------------------------------------------------------------
# profile-run peak (vLLM)
# ----------------------------------------------------------------------------------------------

def vllm_profile_peak(s: ModelSpec, lay: Layout, act_bytes: int, tokens: int, num_reqs: int,
                      last_stage: bool = True, has_dense: bool = True,
                      has_moe: bool = True) -> dict[str, int]:
    """``torch_peak_increase`` of vLLM's profile run on one GPU, by named phase (bytes):
    ``residual + max(attention, dense_ffn, moe, sampler)``.

    ``T`` = ``tokens`` (``max_num_batched_tokens``, ``GPUModelRunner.profile_run`` →
    ``_dummy_run``). ``residual``: the hidden states and vLLM's separate residual stream,
    ``2·T·h``. ``attention``/``dense_ffn``: as :func:`estimator.memory.activation_model`.
    ``moe``: router logits ``T·E`` (a ``ReplicatedLinear`` in the model dtype), top-k weights
    and ids ``T·k·(4 + 4)``, and the fused-MoE kernel's buffers for ``M = min(T,
    VLLM_FUSED_MOE_CHUNK_SIZE)`` tokens (``vllm/model_executor/layers/fused_moe/fused_moe.py::
    TritonExperts.workspace_shapes``): ``workspace1 = M·k·max(N/2, K)``, ``workspace2 =
    M·k·max(N, K)``, ``output = M·K`` with ``N = 2·f_e/etp`` (gate and up), ``K = h``. The
    shapes are ``M × topk`` whatever share of the experts the rank holds (with expert
    parallelism non-local pairs are masked by ``expert_map``, not dropped from the buffers), and
    with data-parallel attention ``M`` is every attention group's tokens (vLLM's default
    all-gather dispatch: ``T · dp_attn``). Shared experts as a dense FFN.
    ``sampler``: the last stage's dummy sampler run on ``num_reqs = min(max_num_seqs,
    max_num_batched_tokens)`` rows, the full vocabulary ``V`` wide on every TP rank (the logits
    are all-gathered), :func:`vllm_sampler_bytes`. It runs after the forward has returned, so
    the forward's buffers are gone (:func:`profile_peak_total`).
    """
    h = s.hidden_size
    base = memory.activation_model(s, lay, act_bytes, last_stage, has_dense, has_moe)
    T = tokens
    out = {"residual": 2 * T * h * act_bytes,
           "attention": T * base.attention * act_bytes,
           "dense_ffn": T * base.dense_ffn * act_bytes,
           "moe": 0, "sampler": 0}
    if has_moe and s.is_moe:
        k = max(s.num_experts_per_tok, 1)
        f_l = -(-s.moe_intermediate_size // lay.etp)
        n = (2 if s.gated_ffn else 1) * f_l
        m = min(T * lay.dp_attn, VLLM_FUSED_MOE_CHUNK_SIZE)
        work = m * k * (max(n // 2, h) + max(n, h)) + m * h
        shared = 0
        if s.num_shared_experts:
            fsh = -(-s.shared_expert_intermediate_size // lay.tp)
            shared = T * ((2 if s.gated_ffn else 1) * fsh + fsh)
        out["moe"] = (T * s.router_width + work + shared) * act_bytes + T * k * 8
    if last_stage:
        out["sampler"] = vllm_sampler_bytes(min(num_reqs, T), s.head_vocab_size,
                                            act_bytes)
    return out


def vllm_sampler_bytes(num_reqs: int, vocab: int, act_bytes: int) -> int:
    """Peak bytes of ``_dummy_sampler_run`` on ``num_reqs`` rows of ``vocab`` logits: at the
    top-k/top-p sort, ``act_bytes + SAMPLER_FP32_COPY + SAMPLER_SORT_OUT +
    SAMPLER_SORT_SCRATCH`` bytes per logit (38 with bf16; see the constants)."""
    return num_reqs * vocab * (act_bytes + SAMPLER_FP32_COPY + SAMPLER_SORT_OUT
                               + SAMPLER_SORT_SCRATCH)


def profile_peak_total(terms: dict[str, int]) -> int:
    """``max(residual + max(attention, dense_ffn, moe), sampler)`` of :func:`vllm_profile_peak`:
    the forward's buffers and the sampler's are never live together (``profile_run`` samples
    from the ``num_reqs`` rows ``_dummy_run`` returns, after the forward has freed the rest)."""
    forward = terms["residual"] + max(terms["attention"], terms["dense_ffn"], terms["moe"])
    return max(forward, terms["sampler"])


def vllm_marlin_mxfp4(gpu, dtype: str) -> bool:
    """Whether vLLM runs ``dtype`` experts through Marlin on ``gpu``: MXFP4 weights on an NVIDIA
    GPU whose catalog entry has no FP4 tensor-core peak (``fp4_tflops``)."""
    return (dtype == "mxfp4" and getattr(gpu, "fp4_flops", None) is None
            and "NVIDIA" in gpu.name)


def vllm_marlin_mxfp4_expert_bytes(routed_bytes: int, hidden: int, intermediate: int) -> int:
    """Routed-expert bytes as ``Mxfp4MoEMethod.create_weights`` allocates them for Marlin: every
    expert matrix (``w13``: ``2·I × H``, ``w2``: ``H × I``, values and E8M0 scales alike) padded
    to ``round_up(I, 128) × round_up(H, 256)``; ``I`` = the per-GPU expert width."""
    def up(x: int, a: int) -> int:
        return -(-x // a) * a
    padded = (up(intermediate, VLLM_MARLIN_MXFP4_INTERMEDIATE_ALIGN)
              * up(hidden, VLLM_MARLIN_MXFP4_HIDDEN_ALIGN))
    return routed_bytes * padded // (intermediate * hidden)


def vllm_kv_shared_projection_bytes(s: ModelSpec, tp: int, lo: int, hi: int,
                                    fmts: dict[str, str]) -> int:
    """Gemma-3n's K/V projections that vLLM holds on the K/V-sharing layers ``[lo, hi)`` and
    the model's parameters do not have: ``vllm/model_executor/models/gemma3n.py::
    Gemma3nAttention`` builds ``qkv_proj`` (``QKVParallelLinear``: ``max(1, g // tp)`` K/V
    heads a rank) and ``k_norm`` on every layer and only points the shared layers' cache at an
    earlier layer (``kv_sharing_target_layer_name``); transformers builds no ``k_proj``/
    ``v_proj``/``k_norm`` there (``Gemma3nTextAttention.is_kv_shared_layer``). Per layer
    ``2·h·g_r·d`` matrix elements (``+ 2·g_r·d`` biases with ``attention_bias``) and ``d``
    (``k_norm``); 0 for other families."""
    if not s.altup_num_inputs:
        return 0
    n = sum(1 for i in s.kv_shared_layers if lo <= i < hi)
    g_r, d = max(1, s.num_key_value_heads // tp), s.head_dim
    vec = (2 * g_r * d if s.attention_bias else 0) + d
    return (memory.tensor_bytes(n * 2 * s.hidden_size * g_r * d, fmts["matrices"])
            + memory.tensor_bytes(n * vec, fmts["other"]))


def vllm_non_torch_bytes(gpus: int) -> int:
    """:data:`VLLM_NON_TORCH_ONE_GPU` on one GPU, :data:`VLLM_NON_TORCH_MULTI_GPU` when NCCL
    runs (the replica spans GPUs)."""
    return VLLM_NON_TORCH_ONE_GPU if gpus == 1 else VLLM_NON_TORCH_MULTI_GPU


def vllm_available_kv_bytes(total: int, utilization: float, weights: int, torch_peak: int,
                            non_torch: int, cudagraph: int = 0) -> int:
    """``Worker.determine_available_memory``: ``int(total · utilization − (weights +
    torch_peak_increase + non_torch_increase) − cudagraph_memory_estimate_applied)`` (may be
    negative: the engine then refuses). ``cudagraph``: :func:`vllm_cudagraph_memory` in vLLM
    >= 0.21, 0 before (:data:`VLLM_CUDAGRAPH_MODES`)."""
    return int(total * utilization - (weights + torch_peak + non_torch) - cudagraph)


def vllm_cudagraph_capture_sizes(max_num_seqs: int, max_num_batched_tokens: int
                                 ) -> tuple[int, ...]:
    """``compilation_config.cudagraph_capture_sizes`` by default (``_set_cudagraph_sizes``,
    :data:`VLLM_CUDAGRAPH_MAX_CAPTURE_SIZE`), ascending: 1, 2, 4, multiples of 8 below 256,
    multiples of 16 from 256, up to ``min(2 · max_num_seqs, 512, max_num_batched_tokens)``."""
    top = min(max_num_seqs * 2, VLLM_CUDAGRAPH_MAX_CAPTURE_SIZE, max_num_batched_tokens)
    sizes = [1, 2, 4] + list(range(8, 256, 8)) + list(range(256, top + 1, 16))
    return tuple(x for x in sizes if x <= top)


def vllm_cudagraph_descs(max_num_seqs: int, max_num_batched_tokens: int
                         ) -> dict[str, tuple[int, ...]]:
    """Graphs per runtime mode under the default ``cudagraph_mode=FULL_AND_PIECEWISE``
    (``CudagraphDispatcher.initialize_cudagraph_keys``, what "Profiling CUDA graph memory:
    PIECEWISE=n (largest=m), FULL=…" lists): a PIECEWISE graph per capture size, a FULL graph
    per uniform-decode size, i.e. capture sizes up to ``max_num_seqs`` (one token per request,
    no speculative decoding)."""
    sizes = vllm_cudagraph_capture_sizes(max_num_seqs, max_num_batched_tokens)
    return {"PIECEWISE": sizes, "FULL": tuple(x for x in sizes if x <= max_num_seqs)}


def vllm_cudagraph_estimate_bytes(first_capture: dict[str, int], per_graph: dict[str, int],
                                  graphs: dict[str, int]) -> int:
    """The total of ``GPUModelRunner.profile_cudagraph_memory`` (vLLM >= 0.21) from its
    samples: per mode, the first (largest) capture's memory and the second's, extrapolated to
    the mode's other graphs (at least 1 MiB each); FULL and PIECEWISE share one pool, so
    ``max_mode(first_capture) + Σ_mode max(per_graph, 1 MiB) · (graphs − 1)``."""
    modes = [m for m, n in graphs.items() if n]
    if not modes:
        return 0
    return (max(first_capture[m] for m in modes)
            + sum(max(per_graph[m], VLLM_CUDAGRAPH_MIN_PER_GRAPH_BYTES) * (graphs[m] - 1)
                  for m in modes))


def vllm_cudagraph_memory(s: ModelSpec, lay: Layout, act_bytes: int, max_num_seqs: int,
                          max_num_batched_tokens: int, layers: int, has_dense: bool = True,
                          has_moe: bool = True) -> int:
    """What vLLM >= 0.21 subtracts for CUDA graphs on one GPU holding ``layers`` decoder
    layers (:func:`vllm_cudagraph_estimate_bytes`), with its two measured samples modelled:
    the first capture of a mode holds the graph pool, one forward's activations at the mode's
    largest size (the forward terms of :func:`vllm_profile_peak` at that many tokens, no
    sampler); each further graph adds its exec memory,
    ``layers · VLLM_CUDAGRAPH_BYTES_PER_LAYER_GRAPH``. Remembered per argument set: it does not
    depend on ``seq_len``, which an estimate sweep varies most (saves ~15 µs of a ~100 µs
    estimate)."""
    return remembered(_GRAPH_CACHE, (s, lay, act_bytes, max_num_seqs, max_num_batched_tokens,
                                     layers, has_dense, has_moe), _CACHE_MAX,
                      lambda: _vllm_cudagraph_memory(s, lay, act_bytes, max_num_seqs,
                                                     max_num_batched_tokens, layers, has_dense,
                                                     has_moe))


_GRAPH_CACHE: dict = {}


def _vllm_cudagraph_memory(s: ModelSpec, lay: Layout, act_bytes: int, max_num_seqs: int,
                           max_num_batched_tokens: int, layers: int, has_dense: bool,
                           has_moe: bool) -> int:
    descs = vllm_cudagraph_descs(max_num_seqs, max_num_batched_tokens)
    first, per = {}, {}
    for mode, sizes in descs.items():
        if sizes:
            t = vllm_profile_peak(s, lay, act_bytes, sizes[-1], max_num_seqs, False, has_dense,
                                  has_moe)
            first[mode] = t["residual"] + max(t["attention"], t["dense_ffn"], t["moe"])
        per[mode] = layers * VLLM_CUDAGRAPH_BYTES_PER_LAYER_GRAPH
    return vllm_cudagraph_estimate_bytes(first, per, {m: len(v) for m, v in descs.items()})


def sglang_gpu_memory_defaults(gpu_mem_mib: float, tp: int) -> tuple[int, int]:
    """``(chunked_prefill_size, cuda_graph_max_bs)`` SGLang picks for a GPU of ``gpu_mem_mib``
    (:data:`SGLANG_GPU_MEMORY_DEFAULTS`)."""
    for upper, chunk, bs_small, bs_large in SGLANG_GPU_MEMORY_DEFAULTS:
        if upper is None or gpu_mem_mib < upper:
            return chunk, (bs_small if tp < 4 else bs_large)
    raise AssertionError("unreachable: the last bucket has no bound")


def sglang_mem_fraction_static(gpu_mem_mib: float, tp: int, pp: int = 1, dp_attn: int = 1
                               ) -> float:
    """SGLang's default ``mem_fraction_static`` (``_handle_gpu_memory_settings``, module
    docstring) for a GPU of ``gpu_mem_mib`` MiB, ``tp``, ``pp`` and ``dp_attn`` data-parallel
    attention groups (``enable_dp_attention`` when > 1)."""
    chunk, max_bs = sglang_gpu_memory_defaults(gpu_mem_mib, tp)
    reserved = (SGLANG_RESERVED_BASE_MIB + max(chunk, 2048) * SGLANG_RESERVED_PER_CHUNK_TOKEN_MIB
                + max_bs * SGLANG_RESERVED_PER_GRAPH_BS_MIB + tp * pp * SGLANG_RESERVED_PER_GPU_MIB)
    if dp_attn > 1:
        reserved += max_bs * dp_attn * SGLANG_RESERVED_DP_PER_GRAPH_BS_MIB
        if max_bs > SGLANG_RESERVED_DP_LARGE_BS:
            reserved += max_bs * dp_attn * SGLANG_RESERVED_DP_LARGE_PER_GRAPH_BS_MIB
    if gpu_mem_mib > SGLANG_RESERVED_FLOOR_ABOVE_MIB:
        reserved = max(reserved, SGLANG_RESERVED_FLOOR_MIB)
    return round((gpu_mem_mib - reserved) / gpu_mem_mib, 3)


@spec_cache(1024)  # per-layer shapes: a loop over the layers, independent of the context
def sglang_cell_size(s: ModelSpec, kv_layout: str, kv_dtype: str, tp: int, lo: int, hi: int
                     ) -> int:
    """KV bytes of one token over this GPU's layers ``[lo, hi)``
    (``python/sglang/srt/model_executor/model_runner_kv_cache_mixin.py``, the ``cell_size`` of
    ``profile_max_num_token``): MLA ``(kv_lora_rank + qk_rope_head_dim) · layers ·
    kv_size``, plus for DeepSeek-V3.2 (``is_deepseek_nsa``) the indexer key ``(Di + Di // 128 ·
    4) · layers`` uint8 bytes (``NSATokenToKVPool.quant_block_size`` = 128,
    ``index_k_with_scale_buffer_dtype`` = uint8); MHA/GQA ``kv_heads(tp) · (head_dim +
    v_head_dim) · layers · kv_size``. Both are :func:`estimator.memory.kv_bytes_per_token`.
    Hybrids count their softmax-attention layers only (``HybridLinearKVPool`` keeps KV for
    ``full_attention_layer_ids``).

    Layers of different shapes (:attr:`ModelSpec.has_layer_shapes`): the ``is_hybrid_swa``
    branch of ``get_cell_size_per_token``, ``(full_per_token · full_layers_num + swa_per_token
    · swa_layers_num) · kv_size`` with ``full_per_token = get_num_kv_heads(tp) · (head_dim +
    v_head_dim)`` and ``swa_per_token = get_swa_num_kv_heads(tp) · (swa_head_dim +
    swa_v_head_dim)`` (MiMo-V2-Flash's ``swa_*`` config fields), i.e. every layer at its own
    shape, ``max(1, g // tp)`` heads (``ModelConfig.get_num_kv_heads``); K/V-sharing layers
    are left out as vLLM leaves them out (not checked against SGLang's Gemma-4), and the
    layers are this GPU's (SGLang counts the model's ``full_attention_layer_ids`` /
    ``swa_attention_layer_ids``; the same at ``pp = 1``)."""
    if s.has_layer_shapes and s.mixer is None and s.mla is None:
        shapes = (s.layer_attention_shape(i) for i in range(lo, hi))
        return sum(vllm_attention_page_bytes(g, d, dv, kv_dtype, tp, 1)
                   for g, d, dv, _, owns in shapes if owns)
    n = memory.hybrid_counts(s, lo, hi)[0] if s.mixer is not None else hi - lo
    return n * memory.kv_bytes_per_token(s, kv_dtype, kv_layout, tp)


def sglang_max_total_tokens(free_at_init: int, weights: int, mem_fraction_static: float,
                            cell_size: int) -> int:
    """``profile_max_num_token``: ``rest = (free_at_init − weights) − free_at_init · (1 −
    mem_fraction_static)``; ``int(rest // cell_size)`` tokens (``cell_size``: KV bytes of one
    token over all layers on this GPU)."""
    rest = (free_at_init - weights) - free_at_init * (1 - mem_fraction_static)
    return max(int(rest // cell_size), 0)


def sglang_mamba_cache_per_req(m: Mixer, h: int, tp: int, layers: int) -> int:
    """``Mamba2CacheParams.mamba_cache_per_req`` (``python/sglang/srt/configs/mamba_utils.py``):
    ``(prod(conv) · conv dtype + prod(temporal) · ssm dtype) · len(layers)``: one request's
    states over the ``layers`` mixer layers on this GPU, the shapes those of
    :func:`vllm_mamba_state_elements` (SGLang's ``Mamba2StateShape`` /
    ``hybrid_gdn_params`` / ``KimiLinearStateShape`` are the same), conv states in bf16 and
    recurrent states in fp32 (:data:`SGLANG_MAMBA_SSM_BYTES`)."""
    per_layer = sum(n * (SGLANG_MAMBA_CONV_BYTES if role == "conv" else SGLANG_MAMBA_SSM_BYTES)
                    for n, role in vllm_mamba_state_elements(m, h, tp))
    return per_layer * layers


def sglang_hybrid_max_total_tokens(free_at_init: int, weights: int, mem_fraction_static: float,
                                   cell_size: int, mamba_per_req: int,
                                   ratio: float = SGLANG_MAMBA_FULL_MEMORY_RATIO
                                   ) -> tuple[int, int]:
    """``(max_total_num_tokens, max_mamba_cache_size)`` of a hybrid model
    (``ModelRunnerKVCacheMixin.profile_max_num_token`` → ``handle_max_mamba_cache``, no
    speculative decoding, radix cache on, ``max_mamba_cache_size`` unset): the memory left
    after the weights, ``rest`` as in :func:`sglang_max_total_tokens`, is split so that Mamba
    states : KV cache = ``mamba_full_memory_ratio``; the MambaPool gets ``int(rest · ratio / (1
    + ratio) // mamba_cache_per_req)`` request slots, and the token pool what those slots
    leave, ``(rest − slots · mamba_cache_per_req) // cell_size`` tokens."""
    rest = (free_at_init - weights) - free_at_init * (1 - mem_fraction_static)
    if rest <= 0 or mamba_per_req <= 0:
        return 0, 0
    slots = int(rest * ratio / (1 + ratio) // mamba_per_req)
    rest -= slots * mamba_per_req
    return max(int(rest) // cell_size, 0), slots


# ----------------------------------------------------------------------------------------------
# the section
# ----------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class EngineMemory:
    """What the engine prints at start-up, per GPU of the busiest worker (module docstring)."""

    engine: str
    total_memory: int
    total_memory_source: str
    utilization: float
    requested: int
    weights: int
    activation_peak: dict[str, int]
    non_torch: int
    available_kv: int
    page_size: int
    block_size: int
    num_blocks: int
    kv_capacity_tokens: int
    max_model_len: int
    max_concurrency: float
    max_num_batched_tokens: int
    max_num_seqs: int
    attention_groups: int
    notes: tuple[str, ...] = ()
    cudagraph: int = 0  # vLLM >= 0.21: the CUDA-graph estimate subtracted before the KV cache

    def to_dict(self) -> dict[str, Any]:
        return {
            "engine": self.engine, "total_memory": self.total_memory,
            "total_memory_source": self.total_memory_source,
            "utilization": self.utilization, "requested": self.requested,
            "weights": self.weights, "activation_peak": profile_peak_total(self.activation_peak)
            if self.activation_peak else 0,
            "activation_breakdown": dict(self.activation_peak), "non_torch": self.non_torch,
            "cudagraph": self.cudagraph,
            "available_kv": self.available_kv, "page_size": self.page_size,
            "block_size": self.block_size, "num_blocks": self.num_blocks,
            "kv_capacity_tokens": self.kv_capacity_tokens,
            "kv_capacity_tokens_all_replicas": self.kv_capacity_tokens * self.attention_groups,
            "max_model_len": self.max_model_len, "max_concurrency": self.max_concurrency,
            "max_num_batched_tokens": self.max_num_batched_tokens,
            "max_num_seqs": self.max_num_seqs, "attention_groups": self.attention_groups,
            "notes": list(self.notes),
        }


#: (spec, options, GPU id, GPU memory, layout) -> EngineMemory: a deterministic function of
#: these (the stage models follow from them), cached so a repeated estimate reuses it.
_CACHE: dict = {}
_CACHE_MAX = 1024


def compute(s: ModelSpec, opts, gpu, lay: Layout, stage_models) -> EngineMemory:
    """The engine section for the layout ``lay`` and its per-stage models (weights per GPU);
    cached per (spec, options, GPU, layout)."""
    return remembered(_CACHE, (s, opts, gpu.id, gpu.memory_bytes, lay), _CACHE_MAX,
                      lambda: _compute(s, opts, gpu, lay, stage_models))


def _compute(s: ModelSpec, opts, gpu, lay: Layout, stage_models) -> EngineMemory:
    engine = opts.engine
    if engine not in ENGINES:
        raise EstimatorError("engine", engine, "must be one of " + ", ".join(ENGINES))
    total, source = driver_memory_bytes(gpu)
    kv_dtype = memory.resolve_kv_dtype(opts.kv_dtype, opts.dtype)
    act_b = memory.activation_bytes(opts.dtype)
    max_len = opts.seq_len
    d_tokens, d_seqs = vllm_serve_defaults(gpu)
    mnbt = opts.max_num_batched_tokens or d_tokens
    mns = opts.max_num_seqs or d_seqs
    notes = []
    if engine == "vllm":
        util = opts.gpu_memory_utilization
        requested = int(total * util)
        state_dtype = ACTIVATION_DTYPE[opts.dtype]
        non_torch = vllm_non_torch_bytes(lay.gpus)
        marlin = s.is_moe and vllm_marlin_mxfp4(gpu, opts.dtype)
        f_l = -(-s.moe_intermediate_size // lay.etp) if marlin else 0
        graphs = opts.vllm_cudagraph_memory
        if graphs not in VLLM_CUDAGRAPH_MODES:
            raise EstimatorError("vllm_cudagraph_memory", graphs,
                                 "must be one of " + ", ".join(VLLM_CUDAGRAPH_MODES))
        attention_free = s.mixer is not None and memory.hybrid_counts(s)[0] == 0
        best = None
        for m in stage_models:
            lo, hi = m.layers
            n, n_moe, _ = memory.layer_kinds(s, lo, hi)
            ffnless = memory.hybrid_counts(s, lo, hi)[2] if s.mixer is not None else 0
            has_dense, has_moe = n_moe < n - ffnless, n_moe > 0
            w = sum(m.weights.values()) + vllm_kv_shared_projection_bytes(
                s, lay.tp, lo, hi, memory.weight_formats(opts.dtype))
            if marlin and f_l:
                routed = m.weights.get("routed_experts", 0)
                w += vllm_marlin_mxfp4_expert_bytes(routed, s.hidden_size, f_l) - routed
            peak = vllm_profile_peak(s, lay, act_b, mnbt, mns, m.stage == lay.pp - 1,
                                     has_dense, has_moe)
            graph = (vllm_cudagraph_memory(s, lay, act_b, mns, mnbt, hi - lo, has_dense,
                                           has_moe) if graphs == "profiled" else 0)
            avail = vllm_available_kv_bytes(total, util, w, profile_peak_total(peak), non_torch,
                                            graph)
            plan = vllm_kv_plan(s, opts.kv_cache, kv_dtype, state_dtype, lay.tp, lo, hi,
                                max_len, mnbt)
            blocks = vllm_num_blocks(avail, plan.page, plan.group_size)
            if best is None or blocks < best[0]:
                best = (blocks, avail, w, peak, plan, graph)
        blocks, avail, w, peak, plan, graph = best
        page = plan.page
        tokens = vllm_kv_tokens(blocks, plan.groups, plan.min_block_size)
        conc = vllm_max_concurrency(blocks, plan.blocks_per_request)
        if attention_free:
            notes.append("no attention layer: vLLM's cache holds one Mamba state page per layer "
                         "and request (MambaSpec, mamba_cache_mode 'none'); max_concurrency is "
                         "the page count and does not depend on max_model_len; "
                         "kv_capacity_tokens = pages x max_model_len (vLLM's Mamba block size)")
        if s.mla is not None and s.mla.index_n_heads:
            notes.append("DeepSeek Sparse Attention: MLA and indexer-key pages in one group of "
                         f"{VLLM_SPARSE_MLA_BLOCK_SIZE}-token blocks (fp8 KV = fp8_ds_mla, 656 "
                         "bytes per token; indexer 132 bytes per token)")
        if plan.mamba_page and not attention_free:
            notes.append(f"hybrid: attention blocks of {plan.block_size} tokens, so that one "
                         f"page ({page:,} bytes) holds one sequence's state of a mixer layer "
                         f"({plan.mamba_page:,} bytes, padded); every request takes one block "
                         "per Mamba group whatever its length (no prefix caching); the 'GPU KV "
                         "cache size' divides the blocks by all groups, state groups included")
        if plan.refused:
            notes.append("vLLM would refuse to start: " + plan.refused)
        elif s.has_layer_shapes and s.mixer is None and s.mla is None and (
                s.kv_shared_layers or plan.block_size != plan.min_block_size
                or plan.groups > 1 or plan.group_size == 1):
            notes.append(_layer_shaped_note(s, plan))
        if marlin:
            notes.append("MXFP4 experts padded as vLLM's Marlin backend allocates them on GPUs "
                         "without FP4 tensor cores (intermediate to 128, hidden to 256)")
        if avail < 0:
            notes.append("the weights and the profile run exceed the requested memory: vLLM "
                         "would refuse to start (negative KV cache memory)")
        if graphs == "profiled":
            notes.append(f"CUDA graphs: {graph / GIB:.2f} GiB estimated during profiling and "
                         "subtracted before the KV cache is sized (vLLM >= 0.21, "
                         "VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=1; 'headroom' for 0.11-0.20)")
        else:
            notes.append("CUDA graphs captured after the KV cache is allocated (vLLM 0.11-0.20 "
                         "or VLLM_MEMORY_PROFILER_ESTIMATE_CUDAGRAPHS=0): they come out of the "
                         "1 - gpu_memory_utilization headroom and do not change the KV capacity")
        notes.append("the CUDA context and NCCL's init buffers come out of the 1 - "
                     "gpu_memory_utilization headroom (vLLM >= 0.11; 0.9-0.10 counted NCCL's "
                     "buffers against the KV cache, ~2 GiB per H100 at tp=4)")
        return EngineMemory(
            engine=engine, total_memory=total, total_memory_source=source, utilization=util,
            requested=requested, weights=w, activation_peak=peak, non_torch=non_torch,
            available_kv=avail, page_size=page, block_size=plan.block_size, num_blocks=blocks,
            kv_capacity_tokens=tokens, max_model_len=max_len, max_concurrency=conc,
            max_num_batched_tokens=mnbt, max_num_seqs=mns, attention_groups=lay.dp_attn,
            notes=tuple(notes), cudagraph=graph)
    # sglang: one token pool over all of this GPU's layers (sliding layers kept whole, as
    # SGLang's default pool does outside its hybrid-SWA configurator)
    gpu_mib = gpu.memory_bytes / 2**20  # get_device_memory_capacity: nvidia-smi's total, MiB
    frac = opts.mem_fraction_static or sglang_mem_fraction_static(gpu_mib, lay.tp, lay.pp,
                                                                  lay.dp_attn)
    chunk, graph_bs = sglang_gpu_memory_defaults(gpu_mib, lay.tp)
    free0 = total - SGLANG_CONTEXT_BYTES
    n_attn = memory.hybrid_counts(s)[0] if s.is_hybrid else s.num_hidden_layers
    if n_attn == 0:
        notes.append("no attention layer: no KV token pool; SGLang's separate Mamba state pool "
                     "is not modelled")
    hybrid = s.mixer is not None and n_attn > 0
    best = None
    for m in stage_models:
        lo, hi = m.layers
        cell = sglang_cell_size(s, opts.kv_cache, kv_dtype, lay.tp, lo, hi)
        w = sum(m.weights.values())
        slots = 0
        if hybrid and cell:
            per_req = sglang_mamba_cache_per_req(s.mixer, s.hidden_size, lay.tp,
                                                 memory.hybrid_counts(s, lo, hi)[1])
            tok, slots = sglang_hybrid_max_total_tokens(free0, w, frac, cell, per_req)
        else:
            tok = sglang_max_total_tokens(free0, w, frac, cell) if cell else 0
        if best is None or tok < best[0]:
            best = (tok, w, cell, slots)
    tok, w, cell, slots = best
    avail = tok * cell
    conc = tok / max_len if max_len else 0.0
    if hybrid:
        conc = min(conc, slots // SGLANG_MAMBA_SLOTS_PER_REQUEST)
        notes.append(f"hybrid: the MambaPool holds {slots:,} request states "
                     f"(mamba_full_memory_ratio {SGLANG_MAMBA_FULL_MEMORY_RATIO}: states get "
                     f"{SGLANG_MAMBA_FULL_MEMORY_RATIO}/{1 + SGLANG_MAMBA_FULL_MEMORY_RATIO:.1f} "
                     "of the memory after the weights; conv bf16, recurrent fp32); the tokens "
                     "are those of the softmax-attention layers (HybridLinearKVPool) in the "
                     f"rest; max_running_requests <= slots // {SGLANG_MAMBA_SLOTS_PER_REQUEST}")
    if s.sliding_window_layers:
        notes.append("sliding-window layers counted at full length (SGLang's default token "
                     "pool; its hybrid-SWA pool is not modelled)")
    notes.append(f"mem_fraction_static={frac}: activations (chunked_prefill_size {chunk}) "
                 f"and CUDA graphs (cuda_graph_max_bs {graph_bs}) live in the remaining "
                 f"{1 - frac:.3f} of the memory free at start-up")
    return EngineMemory(
        engine=engine, total_memory=total, total_memory_source=source, utilization=frac,
        requested=int(free0 * frac), weights=w, activation_peak={}, non_torch=0,
        available_kv=avail, page_size=cell, block_size=1, num_blocks=tok,
        kv_capacity_tokens=tok, max_model_len=max_len,
        max_concurrency=conc, max_num_batched_tokens=mnbt,
        max_num_seqs=mns, attention_groups=lay.dp_attn, notes=tuple(notes))


def _layer_shaped_note(s: ModelSpec, plan: VllmKVPlan) -> str:
    shared = (f"{len(s.kv_shared_layers)} K/V-sharing layers get no cache "
              "(kv_sharing_target_layer_name); " if s.kv_shared_layers else "")
    if s.altup_num_inputs and s.kv_shared_layers:  # vllm_kv_shared_projection_bytes
        shared += ("vLLM's Gemma-3n still holds their K/V projections (counted in the "
                   "weights); ")
    if plan.groups == 1 and plan.group_size == 1:
        return (shared + "layers of one attention kind with different shapes: one group "
                "(UniformTypeKVCacheSpecs) whose page is the sum of the layers' pages")
    return (shared + f"pages unified at {plan.page:,} bytes (unify_kv_cache_spec_page_size: "
            "smaller pages get proportionally larger blocks); "
            f"{plan.groups} groups of up to {plan.group_size} layers")


def conventions(engine: str) -> str:
    if engine == "sglang":
        return ("SGLang profile_max_num_token: (free after load) - (free at init) x (1 - "
                "mem_fraction_static), divided by the KV bytes of one token; free at init = "
                "driver total - 0.5 GiB CUDA context (assumed)")
    return ("vLLM v1 determine_available_memory: driver total x gpu_memory_utilization - "
            "weights - profile-run peak at max_num_batched_tokens (fused-MoE workspaces, "
            "sampler) - non-torch increase - CUDA-graph estimate (vLLM >= 0.21; option "
            "vllm_cudagraph_memory); blocks of 16 tokens per layer "
            "(kv_cache_utils.get_num_blocks; 64 with DeepSeek-V3.2's indexer cache; hybrids: "
            "attention blocks raised to one Mamba-state page), smallest worker wins; the CUDA "
            "context uses the headroom")


__all__ = ["ENGINES", "EngineMemory", "VllmKVPlan", "compute", "conventions",
           "driver_memory_bytes", "profile_peak_total", "sglang_cell_size",
           "sglang_gpu_memory_defaults", "sglang_hybrid_max_total_tokens",
           "sglang_mamba_cache_per_req", "sglang_max_total_tokens",
           "sglang_mem_fraction_static",
           "vllm_available_kv_bytes", "vllm_cudagraph_capture_sizes", "vllm_cudagraph_descs",
           "vllm_cudagraph_estimate_bytes", "vllm_cudagraph_memory", "vllm_kv_groups",
           "vllm_kv_tokens", "vllm_marlin_mxfp4",
           "vllm_marlin_mxfp4_expert_bytes",
           "vllm_max_concurrency", "vllm_max_memory_usage_blocks", "vllm_non_torch_bytes",
           "vllm_num_blocks", "vllm_page_size_bytes", "vllm_profile_peak", "vllm_sampler_bytes",
           "vllm_serve_defaults", "vllm_dsa_page_bytes", "vllm_group_layout",
           "vllm_hybrid_block_size", "vllm_kv_plan", "vllm_mamba_page_bytes",
           "vllm_mamba_state_elements"]

