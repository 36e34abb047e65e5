"""What-if variants (estimator/whatif.py, estimator/quant.py) against independent references:

* pruned models: transformers on the meta device, built from the preset's own config.json with
  fewer experts (several families);
* block formats: llama.cpp's own ``gguf`` package (``GGML_QUANT_SIZES``), the bits per weight
  llama.cpp's ``ggml-common.h`` states in its comments, and blocks packed byte by byte here
  from the C structs / the GPTQ and QLoRA layouts;
* offloading: a Monte-Carlo simulation of top-k routing with an LRU cache per layer, and the
  invariants (more cache → faster; every expert cached → the same speed as on-GPU);
* LoRA adapters: the ``nn.Linear`` shapes of transformers' modules.
"""

from __future__ import annotations

import random
import struct
import subprocess
import sys
from collections import OrderedDict

import pytest
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)

import estimator
from estimator import quant, whatif
from estimator.errors import EstimatorError
from estimator.params import count_params
from estimator.presets import load_model

# ----------------------------------------------------------------------------------------------
# block formats
# ----------------------------------------------------------------------------------------------

#: Bits per weight as llama.cpp's ggml-common.h comments state them ("Effectively 2.625 bits per
#: weight", ...); Q8_0 = 34 bytes per 32 (its static_assert: sizeof(ggml_half) + QK8_0).
PUBLISHED_BPW = {"Q2_K": 2.625, "Q3_K": 3.4375, "Q4_K": 4.5, "Q5_K": 5.5, "Q6_K": 6.5625,
                 "Q8_0": 8.5}


@pytest.mark.parametrize("name", sorted(PUBLISHED_BPW))
def test_gguf_bits_per_weight_match_llama_cpp_comments(name):
    assert quant.bits_per_weight(name) == PUBLISHED_BPW[name]


@pytest.mark.parametrize("name", sorted(PUBLISHED_BPW))
def test_gguf_block_sizes_match_gguf_py(name):
    gguf = pytest.importorskip("gguf")
    block, type_size = gguf.constants.GGML_QUANT_SIZES[getattr(gguf.GGMLQuantizationType, name)]
    f = quant.get_format(name)
    assert (f.block, f.block_bits) == (block, 8 * type_size)
    # bytes of a tensor: gguf-py's own shape→bytes rule
    shape = (4096, 14336)
    assert quant.tensor_bytes(shape[0] * shape[1], name) == \
        gguf.quants.quant_shape_to_byte_shape(shape, getattr(gguf.GGMLQuantizationType, name))[-1] \
        * shape[0]


def _pack_block(name: str) -> bytes:
    """One block, packed field by field from llama.cpp's C structs (ggml-common.h)."""
    half = struct.pack("<e", 0.5)
    qk = 256
    if name == "Q8_0":
        return half + bytes(32)
    if name == "Q2_K":  # scales[QK_K/16], qs[QK_K/4], d, dmin
        return bytes(qk // 16) + bytes(qk // 4) + half + half
    if name == "Q3_K":  # hmask[QK_K/8], qs[QK_K/4], scales[12], d
        return bytes(qk // 8) + bytes(qk // 4) + bytes(12) + half
    if name == "Q4_K":  # d, dmin, scales[12], qs[QK_K/2]
        return half + half + bytes(12) + bytes(qk // 2)
    if name == "Q5_K":  # d, dmin, scales[12], qh[QK_K/8], qs[QK_K/2]
        return half + half + bytes(12) + bytes(qk // 8) + bytes(qk // 2)
    if name == "Q6_K":  # ql[QK_K/2], qh[QK_K/4], scales[QK_K/16], d
        return bytes(qk // 2) + bytes(qk // 4) + bytes(qk // 16) + half
    raise KeyError(name)


@pytest.mark.parametrize("name", sorted(PUBLISHED_BPW))
def test_gguf_bytes_equal_packed_blocks(name):
    n_blocks = 7
    block = 32 if name == "Q8_0" else 256
    assert quant.tensor_bytes(n_blocks * block, name) == n_blocks * len(_pack_block(name))


def test_int4_group_bytes_equal_a_gptq_packing():
    """GPTQ packs eight 4-bit values per int32 (qweight), one fp16 scale per group and row,
    eight 4-bit zeros per int32 (qzeros): build those arrays for a 256×512 matrix."""
    rows, cols, g = 256, 512, 128
    qweight = struct.pack(f"<{rows * cols // 8}i", *([0] * (rows * cols // 8)))
    scales = struct.pack(f"<{rows * cols // g}e", *([1.0] * (rows * cols // g)))
    qzeros = struct.pack(f"<{rows * cols // g // 8}i", *([0] * (rows * cols // g // 8)))
    assert quant.tensor_bytes(rows * cols, "int4-g128") == len(qweight) + len(scales)
    assert quant.tensor_bytes(rows * cols, "int4-g128-zp") == \
        len(qweight) + len(scales) + len(qzeros)


def test_nvfp4_mxfp4_and_nf4_bytes_equal_their_layouts():
    n = 1 << 16
    # NVFP4: two E2M1 values per byte, one E4M3 byte per 16
    assert quant.tensor_bytes(n, "nvfp4") == len(bytes(n // 2) + bytes(n // 16))
    # MXFP4 (OCP MX): two E2M1 per byte, one E8M0 byte per 32
    assert quant.tensor_bytes(n, "mxfp4") == len(bytes(n // 2) + bytes(n // 32))
    # QLoRA NF4 + double quantization: 4-bit values, uint8 absmax per 64, fp32 per 256 absmax
    absmax8 = bytes(n // 64)
    absmax_scale = struct.pack(f"<{n // 64 // 256}f", *([1.0] * (n // 64 // 256)))
    assert quant.tensor_bytes(n, "nf4-dq") == n // 2 + len(absmax8) + len(absmax_scale)
    # QLoRA §3: 8/64 + 32/(64·256) = 0.127 bits of constants per parameter
    assert quant.bits_per_weight("nf4-dq") - 4 == pytest.approx(0.127, abs=5e-4)


def test_bad_formats_and_groups_are_refused_naming_the_option():
    with pytest.raises(EstimatorError, match="quant"):
        quant.get_format("Q9_K")
    with pytest.raises(EstimatorError, match="does not divide hidden_size"):
        estimator.what_if("mixtral-8x7b", quant=["int4-g100"])
    with pytest.raises(EstimatorError, match="mxfp4"):
        estimator.what_if("llama-3-8b", quant=["mxfp4"])
    with pytest.raises(EstimatorError, match="prune_experts"):
        estimator.what_if("mixtral-8x7b", prune_experts=9)
    with pytest.raises(EstimatorError, match="offload_cache_experts"):
        estimator.what_if("mixtral-8x7b", offload_cache_experts=-1)
    with pytest.raises(EstimatorError, match="lora_targets"):
        estimator.what_if("mixtral-8x7b", lora_targets="everything")


# ----------------------------------------------------------------------------------------------
# pruning: exact against transformers
# ----------------------------------------------------------------------------------------------

EXPERT_KEYS = {"mixtral": ("num_local_experts", "num_experts_per_tok"),
               "qwen3_moe": ("num_experts", "num_experts_per_tok"),
               "olmoe": ("num_experts", "num_experts_per_tok"),
               "qwen2_moe": ("num_experts", "num_experts_per_tok"),
               "deepseek_v3": ("n_routed_experts", "num_experts_per_tok")}


@pytest.mark.parametrize("slug,keep", [("mixtral-8x7b", 6), ("mixtral-8x7b", 1),
                                       ("qwen3-30b-a3b", 64), ("olmoe-1b-7b", 16),
                                       ("qwen1.5-moe-a2.7b", 30), ("deepseek-v3", 128)])
def test_pruned_params_equal_transformers_meta(slug, keep):
    pytest.importorskip("transformers")
    import hf_oracle

    m = load_model(slug)
    cfg = dict(m.hf_config)
    e_key, k_key = EXPERT_KEYS[cfg["model_type"]]
    cfg[e_key] = keep
    cfg[k_key] = min(cfg[k_key], keep)
    expected = hf_oracle.numel(hf_oracle.build(cfg))
    assert count_params(whatif.pruned_spec(m.spec, keep)).total == expected


# ----------------------------------------------------------------------------------------------
# offloading
# ----------------------------------------------------------------------------------------------

def _simulate_misses(E: int, k: int, b: int, C: int, steps: int, seed: int) -> float:
    """Mean experts fetched per step in one layer: each step, b tokens pick k distinct experts
    uniformly; experts not in the LRU cache of C are fetched, then the step's experts become
    the most recently used (evicting the least recently used beyond C)."""
    rng = random.Random(seed)
    cache: OrderedDict[int, None] = OrderedDict()
    misses = 0
    warm = 200
    for step in range(steps + warm):
        used = set()
        for _ in range(b):
            used.update(rng.sample(range(E), k))
        if step >= warm:
            misses += sum(1 for e in used if e not in cache)
        for e in used:
            cache[e] = None
            cache.move_to_end(e)
        while len(cache) > C:
            cache.popitem(last=False)
    return misses / steps


@pytest.mark.parametrize("E,k,b,C", [(8, 2, 1, 4), (8, 2, 4, 2), (64, 8, 1, 16), (128, 8, 2, 32)])
def test_offload_misses_match_monte_carlo_lru(E, k, b, C):
    sim = _simulate_misses(E, k, b, C, steps=40_000, seed=E * 1000 + C)
    assert whatif.offload_misses_per_layer(E, k, b, C) == pytest.approx(sim, rel=0.01)


def _offload_row(**kw):
    rows = estimator.what_if("mixtral-8x7b", gpu="h100-sxm", quant=[], kv_variants=[],
                             **kw)["rows"]
    return next(r for r in rows if r["kind"] == "offload")


def test_offload_more_cache_is_faster_and_all_cached_is_the_on_gpu_speed():
    speeds = [_offload_row(offload_cache_experts=c)["decode_tokens_per_s"] for c in range(9)]
    assert all(a < b for a, b in zip(speeds, speeds[1:-1]))
    on_gpu = next(r for r in estimator.what_if("mixtral-8x7b", gpu="h100-sxm",
                                                 quant=["int4-g128"], kv_variants=[])["rows"]
                  if r["name"] == "int4-g128")
    experts_only = estimator.what_if("mixtral-8x7b", gpu="h100-sxm", kv_variants=[])["rows"]
    experts_only = next(r for r in experts_only if r["name"] == "experts int4-g128")
    full = _offload_row(offload_cache_experts=8)
    assert full["decode_tokens_per_s"] == experts_only["decode_tokens_per_s"]
    assert full["per_gpu_bytes"] == experts_only["per_gpu_bytes"]
    assert on_gpu["weights_bytes"] < experts_only["weights_bytes"]
    # a measured hit rate of 1 is the on-GPU speed too; 0 is slower than C/E
    assert _offload_row(offload_hit_rate=1.0)["decode_tokens_per_s"] == \
        experts_only["decode_tokens_per_s"]
    assert _offload_row(offload_hit_rate=0.0)["decode_tokens_per_s"] < \
        _offload_row()["decode_tokens_per_s"]


def test_offload_holds_less_than_the_whole_model_on_one_24gb_gpu():
    r = estimator.what_if("mixtral-8x7b", gpu="rtx-4090", offload_cache_experts=4)
    off = next(x for x in r["rows"] if x["kind"] == "offload")
    base = next(x for x in r["rows"] if x["kind"] == "baseline")
    assert off["gpus"] == 1 and off["fits"]
    assert off["per_gpu_bytes"] < off["weights_bytes"]  # part of the experts live on the host
    assert base["gpus"] > 1


# ----------------------------------------------------------------------------------------------
# LoRA
# ----------------------------------------------------------------------------------------------

@pytest.mark.parametrize("slug,targets,suffixes", [
    ("llama-3-8b", ("attention",), ("q_proj", "k_proj", "v_proj", "o_proj")),
    ("llama-3-8b", ("attention", "mlp"), ("q_proj", "k_proj", "v_proj", "o_proj",
                                           "gate_proj", "up_proj", "down_proj")),
    ("mixtral-8x7b", ("attention",), ("q_proj", "k_proj", "v_proj", "o_proj")),
    ("qwen1.5-moe-a2.7b", ("attention", "mlp"), ("q_proj", "k_proj", "v_proj", "o_proj",
                                                  "shared_expert.gate_proj",
                                                  "shared_expert.up_proj",
                                                  "shared_expert.down_proj")),
])
def test_lora_adapter_params_equal_linear_shapes(slug, targets, suffixes):
    pytest.importorskip("transformers")
    import hf_oracle
    import torch

    r = 8
    model = hf_oracle.build(dict(load_model(slug).hf_config))
    expected = sum(r * (mod.in_features + mod.out_features)
                   for name, mod in model.named_modules()
                   if isinstance(mod, torch.nn.Linear) and name.endswith(suffixes)
                   and "lm_head" not in name)
    assert whatif.lora_adapter_params(load_model(slug).spec, r, targets) == expected


def test_qlora_needs_less_memory_than_lora():
    rows = estimator.what_if("mixtral-8x7b", quant=[], kv_variants=[])["rows"]
    lora = next(r for r in rows if r["kind"] == "lora")
    qlora = next(r for r in rows if r["kind"] == "qlora")
    assert lora["adapter_params"] == qlora["adapter_params"] > 0
    assert qlora["training_peak_bytes_per_gpu"] < lora["training_peak_bytes_per_gpu"]


# ----------------------------------------------------------------------------------------------
# the table: invariants and interfaces
# ----------------------------------------------------------------------------------------------

def test_default_table_has_one_row_of_each_kind_and_consistent_figures():
    r = estimator.what_if("mixtral-8x7b", gpu="h100-sxm")
    kinds = {row["kind"] for row in r["rows"]}
    assert kinds == {"baseline", "quantize", "prune", "distill", "offload", "lora", "qlora"}
    base = r["rows"][0]
    assert base["params_total"] == 46_702_792_704
    by_name = {row["name"]: row for row in r["rows"]}
    # 4-bit fits on one 80 GB GPU; bf16 does not
    assert by_name["int4-g128"]["gpus"] == 1 and base["gpus"] == 2
    # fewer bits per weight → fewer weight bytes (same tensors quantized)
    order = ["Q8_0", "Q6_K", "Q5_K", "Q4_K", "Q3_K", "Q2_K"]
    w = [by_name[n]["weights_bytes"] for n in order]
    assert w == sorted(w, reverse=True)
    for row in r["rows"]:
        assert set(whatif.ROW_FIELDS) <= set(row)
        assert row["quality_note"]
        if row["fits"]:
            assert row["per_gpu_bytes"] <= r["gpu_memory_bytes"]
    # the baseline row is the estimate itself at its fewest-GPU layout
    rep = single_gpu.estimate("mixtral-8x7b", gpu="h100-sxm", tp=2)
    assert base["per_gpu_bytes"] == rep.inference.per_gpu.total
    assert base["weights_bytes"] == rep.inference.weights


def test_dense_model_has_no_moe_rows():
    kinds = {row["kind"] for row in estimator.what_if("llama-3-8b")["rows"]}
    assert kinds == {"baseline", "quantize", "lora", "qlora"}


def test_cli_whatif_formats_and_bad_input():
    import json

    out = subprocess.run([sys.executable, "-m", "estimator", "whatif", "mixtral-8x7b",
                          "--format", "json", "--quant", "Q4_K", "--prune-experts", "6",
                          "--offload-cache-experts", "4", "--lora-rank", "8"],
                         capture_output=True, text=True, check=True).stdout
    d = json.loads(out)
    names = [r["name"] for r in d["rows"]]
    assert "Q4_K" in names and "prune to 6/8 experts" in names
    assert any(n.startswith("offload") and "cache 4/8" in n for n in names)
    md = subprocess.run([sys.executable, "-m", "estimator", "whatif", "mixtral-8x7b"],
                        capture_output=True, text=True, check=True).stdout
    assert md.startswith("# What if") and "| Q4_K |" in md
    bad = subprocess.run([sys.executable, "-m", "estimator", "whatif", "mixtral-8x7b",
                          "--prune-experts", "9"], capture_output=True, text=True)
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "prune_experts" in bad.stderr


def test_default_rows_skip_group_sizes_that_do_not_divide_the_model():
    # gpt-oss: hidden 2880 = 22.5 x 128 = 45 x 64; the default table must still run
    import estimator
    from estimator.errors import EstimatorError

    names = [r["name"] for r in estimator.what_if("gpt-oss-20b")["rows"]]
    assert 2880 % 128 and not 2880 % 64
    assert "int4-g128" not in names and "experts int4-g128" not in names
    assert any(n.startswith("offload experts (int4-g64)") for n in names), names
    with pytest.raises(EstimatorError, match="group size 128 does not divide hidden_size=2880"):
        estimator.what_if("gpt-oss-20b", quant=["int4-g128"])
