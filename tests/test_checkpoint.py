"""Checkpoint bytes from safetensors headers, checked against files written by the
``safetensors`` package itself: per dtype, the bytes torch says the tensors occupy
(``numel · element_size``, packed int4 and MXFP4 blocks included), and in total the file size
less the header."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import single_gpu  # noqa: E402  (tp = pp = ep = 1 unless a test sets them)

from estimator.checkpoint import checkpoint_bytes, read_header
from estimator.errors import EstimatorError

torch = pytest.importorskip("torch")
st = pytest.importorskip("safetensors.torch")

ROOT = Path(__file__).resolve().parents[1]
H, I, E, B = 256, 512, 4, 128  # hidden, expert width, experts, quantization block


def fp8_block_scaled() -> dict:
    """DeepSeek-V3 / Qwen3-FP8 style: F8_E4M3 weights, one F32 scale per 128×128 block."""
    return {"model.layers.0.mlp.gate_proj.weight": torch.zeros(I, H, dtype=torch.float8_e4m3fn),
            "model.layers.0.mlp.gate_proj.weight_scale_inv":
                torch.ones(I // B, H // B, dtype=torch.float32),
            "model.norm.weight": torch.ones(H, dtype=torch.bfloat16)}


def awq_int4() -> dict:
    """AWQ/GPTQ style: int4 packed eight to an I32, F16 scales and packed zeros per group."""
    return {"q_proj.qweight": torch.zeros(H, H // 8, dtype=torch.int32),
            "q_proj.qzeros": torch.zeros(H // B, H // 8, dtype=torch.int32),
            "q_proj.scales": torch.ones(H // B, H, dtype=torch.float16),
            "embed_tokens.weight": torch.zeros(1000, H, dtype=torch.float16)}


def mxfp4() -> dict:
    """gpt-oss style: experts as MXFP4 blocks (two values per U8) with one U8 (E8M0) scale per
    32 values, everything else BF16."""
    return {"experts.gate_up_proj_blocks": torch.zeros(E, 2 * I, H // 32, 16, dtype=torch.uint8),
            "experts.gate_up_proj_scales": torch.zeros(E, 2 * I, H // 32, dtype=torch.uint8),
            "experts.gate_up_proj_bias": torch.zeros(E, 2 * I, dtype=torch.bfloat16),
            "router.weight": torch.zeros(E, H, dtype=torch.bfloat16)}


def _names(t: torch.Tensor) -> str:
    return {torch.float8_e4m3fn: "F8_E4M3", torch.float32: "F32", torch.bfloat16: "BF16",
            torch.int32: "I32", torch.float16: "F16", torch.uint8: "U8"}[t.dtype]


@pytest.mark.parametrize("make", [fp8_block_scaled, awq_int4, mxfp4])
def test_bytes_per_dtype_equal_what_the_tensors_occupy(make, tmp_path):
    tensors = make()
    # a sharded checkpoint: two files, as model-0000x-of-0000y.safetensors
    names = sorted(tensors)
    half = len(names) // 2
    st.save_file({n: tensors[n] for n in names[:half]}, tmp_path / "model-00001.safetensors")
    st.save_file({n: tensors[n] for n in names[half:]}, tmp_path / "model-00002.safetensors",
                 metadata={"format": "pt"})
    ck = checkpoint_bytes(tmp_path)
    expected: dict[str, int] = {}
    for t in tensors.values():
        expected[_names(t)] = expected.get(_names(t), 0) + t.numel() * t.element_size()
    assert dict(ck.bytes_by_dtype) == expected
    assert ck.tensors == len(tensors)
    on_disk = 0
    for f in tmp_path.glob("*.safetensors"):
        (n,) = struct.unpack("<Q", f.read_bytes()[:8])
        on_disk += f.stat().st_size - 8 - n
    assert ck.total_bytes == on_disk  # the weights' exact size: every data byte, no more


def test_cli_prints_exact_bytes_and_reads_a_cached_hub_snapshot(tmp_path):
    snap = tmp_path / "hub" / "models--acme--tiny-awq" / "snapshots" / ("a" * 40)
    snap.mkdir(parents=True)
    (snap.parents[1] / "refs").mkdir()
    (snap.parents[1] / "refs" / "main").write_text("a" * 40)
    tensors = awq_int4()
    st.save_file(tensors, snap / "model.safetensors")
    total = sum(t.numel() * t.element_size() for t in tensors.values())
    env = {**os.environ, "HF_HUB_CACHE": str(tmp_path / "hub"), "HF_HUB_OFFLINE": "1"}
    res = subprocess.run([sys.executable, "-m", "estimator", "checkpoint", "acme/tiny-awq",
                          "--format", "json"], cwd=ROOT, capture_output=True, text=True,
                         env=env, timeout=120)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["total_bytes"] == total
    res = subprocess.run([sys.executable, "-m", "estimator", "checkpoint",
                          str(snap / "model.safetensors")], cwd=ROOT, capture_output=True,
                         text=True, timeout=120)
    assert "| **total** |" in res.stdout and f"{total:,}" in res.stdout


def _file(header: object, data: int) -> bytes:
    raw = json.dumps(header).encode()
    return struct.pack("<Q", len(raw)) + raw + b"\0" * data


@pytest.mark.parametrize("blob, message", [
    (b"\x01\x02", "shorter than 8 bytes"),
    (struct.pack("<Q", 2**40) + b"{}", "header length"),
    (struct.pack("<Q", 4) + b"nope", "not valid JSON"),
    (_file([], 0), "not a JSON object"),
    (_file({"w": {"dtype": "F99", "shape": [1], "data_offsets": [0, 1]}}, 1),
     "unknown safetensors dtype"),
    (_file({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 16]}}, 8),
     "within the 8 data bytes"),
    (_file({"w": {"dtype": "F32", "shape": [4], "data_offsets": [0, 8]}}, 16), "F32[4] needs 16"),
    (_file({"w": {"dtype": "F32", "shape": [-4], "data_offsets": [0, 8]}}, 16), "list of sizes"),
])
def test_hostile_headers_are_one_line_errors(blob, message, tmp_path):
    f = tmp_path / "x.safetensors"
    f.write_bytes(blob)
    with pytest.raises(EstimatorError, match=message.replace("[", r"\[").replace("]", r"\]")):
        read_header(f)


def test_missing_sources(tmp_path, monkeypatch):
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path))
    with pytest.raises(EstimatorError, match="holds no .safetensors files"):
        checkpoint_bytes(tmp_path)
    with pytest.raises(EstimatorError, match="not in the Hugging Face cache"):
        checkpoint_bytes("acme/absent")
    with pytest.raises(EstimatorError, match="not found"):
        checkpoint_bytes(tmp_path / "nothing" / "here.safetensors")


def _tiny_moe_config() -> dict:
    """A small Qwen3-MoE config.json (the family's own field names)."""
    return {"model_type": "qwen3_moe", "architectures": ["Qwen3MoeForCausalLM"],
            "hidden_size": H, "intermediate_size": I, "moe_intermediate_size": I // 4,
            "num_hidden_layers": 2, "num_attention_heads": 4, "num_key_value_heads": 2,
            "head_dim": 64, "num_experts": E, "num_experts_per_tok": 2, "vocab_size": 1000,
            "max_position_embeddings": 4096, "tie_word_embeddings": False}


def test_report_of_a_quantized_checkpoint_carries_its_exact_weights(tmp_path):
    """A folder with config.json and FP8 block-scaled safetensors: the report's checkpoint
    weights figure is the header byte count, beside the architecture's estimate."""
    from estimator import formats

    (tmp_path / "config.json").write_text(json.dumps(_tiny_moe_config()))
    tensors = {**fp8_block_scaled(), **{f"w{i}": torch.zeros(B, B, dtype=torch.float8_e4m3fn)
                                        for i in range(3)}}
    st.save_file(tensors, tmp_path / "model.safetensors")
    exact = sum(t.numel() * t.element_size() for t in tensors.values())
    r = single_gpu.estimate(str(tmp_path), dtype="fp8")
    d = r.to_dict()
    assert d["checkpoint"]["weights"] == exact == d["checkpoint"]["total_bytes"]
    assert d["checkpoint"]["estimated_weights"] == d["memory"]["inference"]["weights"]
    assert d["checkpoint"]["bytes_by_dtype"]["F8_E4M3"] == (I * H + 3 * B * B)
    md = formats.render(r, "md")
    assert "## Checkpoint (safetensors headers)" in md and "| weights | " in md
    assert f"{exact:,}" in md
    # a sharded snapshot with a shard missing: the report says so instead of failing
    (tmp_path / "model.safetensors.index.json").write_text(json.dumps(
        {"metadata": {}, "weight_map": {"a": "model.safetensors", "b": "model-2.safetensors"}}))
    d = single_gpu.estimate(str(tmp_path)).to_dict()
    assert "1 shard(s) missing" in d["checkpoint"]["not_applicable"]
    assert d["params"]["total"] > 0
