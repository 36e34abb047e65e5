"""GPU catalog (configs/hardware.yaml): every entry loads with its sources, and the figures of
the GPUs added for issue 11 are the datasheets' (dense = half the sparse figure)."""

from __future__ import annotations

import pytest

from estimator.hardware import HARDWARE_FILE, get_gpu, load_catalog
from estimator.presets import read_file

TB = 1e12
GIB = 2**30


def _raw() -> dict:
    return {g["id"]: g for g in read_file(HARDWARE_FILE)["gpus"]}


def test_every_entry_loads_with_sources_and_a_dated_price():
    raw = _raw()
    for gid, gpu in load_catalog().items():
        g = raw[gid]
        assert gpu.source.startswith(("http", "NVIDIA", "AMD", "AWS")), gid
        assert gpu.memory_bytes > 0 and gpu.bandwidth_bytes_s > 0 and gpu.bf16_flops > 0, gid
        assert g.get("memory_note"), gid
        assert gpu.price_per_hour_usd > 0 and g.get("price_note"), gid
        assert len(str(gpu.price_as_of)) >= 7, gid  # "YYYY-MM"
        assert gpu.interconnect is not None and gpu.interconnect.source, gid
        if gpu.cuda_total_memory_bytes:
            # the driver's total sits below the marketed / nvidia-smi capacity, with a source
            assert gpu.cuda_total_memory_bytes <= gpu.memory_bytes, gid
            assert g.get("cuda_total_memory_note") or g.get("measured"), gid
        if gpu.fp4_flops:  # where given, FP4 > FP8 > BF16 (each tier at least doubles)
            assert gpu.fp4_flops >= 2 * gpu.fp8_flops >= 4 * gpu.bf16_flops * 0.99, gid


@pytest.mark.parametrize("gid,mem_gb,bw_tbs,bf16,fp8,fp4,nvlink_domain", [
    # HGX B300 (nvidia.com/hgx): 8 GPUs, BF16 36 / FP8 72 PFLOPS sparse, FP4 108 PFLOPS dense
    ("b300", 288, 8.0, 36e15 / 2 / 8, 72e15 / 2 / 8, 108e15 / 8, 8),
    # GB300 NVL72: BF16 360 / FP8 720 PFLOPS sparse, FP4 1,080 PFLOPS dense, over 72 GPUs
    ("gb300", 279, 576 / 72, 360e15 / 2 / 72, 720e15 / 2 / 72, 1080e15 / 72, 72),
    # A10G (Baseten's A10/A10G table): 24 GB, 600 GB/s, 70 TFLOPS BF16, no FP8
    ("a10g", 24, 0.6, 70e12, None, None, 1),
    # RTX 5090 (RTX Blackwell whitepaper): FP16 838 / FP8 1,676 sparse with FP16 accumulate,
    # FP32 accumulate halves again; 3,352 FP4 TOPS sparse
    ("rtx-5090", 32, 1.792, 838e12 / 2 / 2, 1676e12 / 2 / 2, 3352e12 / 2, 1),
])
def test_added_gpus_are_their_datasheets(gid, mem_gb, bw_tbs, bf16, fp8, fp4, nvlink_domain):
    g = get_gpu(gid)
    assert _raw()[gid]["memory_gb"] == mem_gb
    assert g.bandwidth_bytes_s == pytest.approx(bw_tbs * TB)
    assert g.bf16_flops == pytest.approx(bf16, rel=0.01)
    assert (g.fp8_flops is None) == (fp8 is None)
    if fp8:
        assert g.fp8_flops == pytest.approx(fp8, rel=0.01)
    assert (g.fp4_flops is None) == (fp4 is None)
    if fp4:
        assert g.fp4_flops == pytest.approx(fp4, rel=0.01)
    assert g.interconnect.nvlink_domain == nvlink_domain


def test_driver_reported_memory_where_sourced():
    # nvidia-smi totals as published (MiB x 2^20): A10G 23028, RTX 5090 32607, L4 23034
    assert get_gpu("a10g").memory_bytes == 23028 * 2**20
    assert get_gpu("rtx-5090").memory_bytes == 32607 * 2**20
    assert get_gpu("l4").memory_bytes == 23034 * 2**20
    # PyTorch's total on the L4s of vLLM's CI (vLLM issue #20214): 22.05 GiB
    assert get_gpu("l4").cuda_total_memory_bytes == round(22.05 * GIB)


def test_new_gpus_estimate_end_to_end():
    import estimator
    for gid in ("b300", "gb300", "a10g", "rtx-5090"):
        r = estimator.estimate("qwen3-30b-a3b", gpu=gid, tp=0, pp=0, ep=0)
        assert r.inference.engine.kv_capacity_tokens > 0, gid
