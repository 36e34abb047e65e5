"""Weight storage formats for what-if variants: block layouts and exact bytes.

A block format stores ``block`` weights in ``block_bits`` bits (the values plus the scales,
minimums and zero points that belong to the block). ``n`` weights take
``⌈⌈n/block⌉·block_bits / 8⌉`` bytes (:func:`tensor_bytes`); bits per weight =
``block_bits / block``. Counted over the ``n`` weights of a tensor class together (exact when
every row is a whole number of blocks, which :func:`check_group` enforces for the group size
the user picks). One-per-tensor scales (fp8 per-tensor, NVFP4's second-level fp32 scale) are
4 bytes per tensor, not counted (below 10⁻⁶ of a tensor of 4M weights).

The plain formats of :mod:`estimator.memory` (fp32, bf16, fp16, fp8, int8, int4, mxfp4) are
delegated to :func:`estimator.memory.tensor_bytes`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from . import memory
from .errors import EstimatorError

#: llama.cpp's super-block size for the K-quants (``ggml/src/ggml-common.h``: ``#define QK_K 256``;
#: ``gguf-py/gguf/constants.py``: ``QK_K = 256``).
QK_K = 256


@dataclass(frozen=True)
class BlockFormat:
    """``block`` weights stored in ``block_bits`` bits; matmuls run at the peak of
    ``compute`` (:meth:`estimator.hardware.GPU.peak_flops`)."""

    name: str
    block: int
    block_bits: int
    compute: str
    layout: str
    source: str

    @property
    def bits_per_weight(self) -> float:
        return self.block_bits / self.block


def _gguf(name: str, block: int, block_bytes: int, layout: str) -> BlockFormat:
    return BlockFormat(
        name=name, block=block, block_bits=8 * block_bytes, compute="bf16", layout=layout,
        source="llama.cpp gguf-py/gguf/constants.py GGML_QUANT_SIZES (block size, type size) "
               "and the block_* structs of ggml/src/ggml-common.h")


#: GGUF block types (llama.cpp). (block, bytes per block) from ``GGML_QUANT_SIZES``:
#: Q8_0 ``(32, 2 + 32)``; Q2_K ``(256, 2 + 2 + QK_K//16 + QK_K//4)``;
#: Q3_K ``(256, 2 + QK_K//4 + QK_K//8 + 12)``; Q4_K ``(256, 2 + 2 + QK_K//2 + 12)``;
#: Q5_K ``(256, 2 + 2 + QK_K//2 + QK_K//8 + 12)``; Q6_K ``(256, 2 + QK_K//2 + QK_K//4 + QK_K//16)``.
GGUF = {
    "Q8_0": _gguf("Q8_0", 32, 2 + 32, "fp16 scale d + 32 int8 quants"),
    "Q6_K": _gguf("Q6_K", QK_K, 2 + QK_K // 2 + QK_K // 4 + QK_K // 16,
                  "ql[128] low 4 bits + qh[64] high 2 bits + 16 int8 scales + fp16 d"),
    "Q5_K": _gguf("Q5_K", QK_K, 2 + 2 + QK_K // 2 + QK_K // 8 + 12,
                  "fp16 d, dmin + 12 bytes of 6-bit scales/mins + qh[32] + qs[128]"),
    "Q4_K": _gguf("Q4_K", QK_K, 2 + 2 + QK_K // 2 + 12,
                  "fp16 d, dmin + 12 bytes of 6-bit scales/mins + qs[128] 4-bit quants"),
    "Q3_K": _gguf("Q3_K", QK_K, 2 + QK_K // 4 + QK_K // 8 + 12,
                  "hmask[32] high bit + qs[64] low 2 bits + 12 bytes of 6-bit scales + fp16 d"),
    "Q2_K": _gguf("Q2_K", QK_K, 2 + 2 + QK_K // 16 + QK_K // 4,
                  "16 bytes of 4-bit scales/mins + qs[64] 2-bit quants + fp16 d, dmin"),
}

#: NVFP4 (NVIDIA, "Introducing NVFP4 for Efficient and Accurate Low-Precision Inference",
#: 2025; TensorRT Model Optimizer): FP4 E2M1 values, one FP8 E4M3 scale per 16 values, plus one
#: FP32 scale per tensor (not counted) → 4.5 bits per weight.
NVFP4 = BlockFormat("nvfp4", 16, 16 * 4 + 8, "bf16",
                    "16 FP4 E2M1 values + one FP8 E4M3 scale (+ one FP32 per tensor)",
                    "NVIDIA NVFP4 (TensorRT Model Optimizer docs); FP4 tensor cores only on "
                    "Blackwell, so charged at the bf16 peak")
#: DeepSeek-V3 fine-grained FP8 (arXiv 2412.19437 §3.3.2): weights in 128×128 tiles, one FP32
#: scale per tile (checkpoint ``weight_scale_inv``, ``weight_block_size: [128, 128]``).
FP8_BLOCK128 = BlockFormat("fp8-block128", 128 * 128, 128 * 128 * 8 + 32, "fp8",
                           "FP8 E4M3 values, one FP32 scale per 128x128 tile",
                           "DeepSeek-V3 report §3.3.2; its config.json quantization_config "
                           "weight_block_size [128, 128]")
#: NF4 with double quantization (Dettmers et al. 2023, QLoRA, arXiv 2305.14314 §3; bitsandbytes
#: ``Linear4bit``, ``blocksize=64``): 4-bit NF4 values, one 8-bit quantized absmax per 64
#: values, and one FP32 scale per 256 of those absmax values — "from 32/64 = 0.5 bits, to
#: 8/64 + 32/(64·256) = 0.127 bits" of scales per parameter (QLoRA §3). A block here is 64·256
#: weights: ``64·256·4 + 256·8 + 32`` bits.
NF4_DQ = BlockFormat("nf4-dq", 64 * 256, 64 * 256 * 4 + 256 * 8 + 32, "bf16",
                     "NF4 values, 8-bit absmax per 64, FP32 scale per 256 absmax (double "
                     "quantization)", "QLoRA (Dettmers et al. 2023, arXiv 2305.14314) §3; "
                     "bitsandbytes blocksize 64")

#: int4 with group size g: 4-bit values + one fp16 scale per g weights (GPTQ ``sym=True``,
#: ``group_size``), and with ``-zp`` one packed 4-bit zero point per group too (AutoAWQ
#: ``zero_point=True``; GPTQ ``sym=False``: ``qzeros`` packs eight 4-bit zeros per int32).
INT4_GROUP = re.compile(r"^int4-g(\d+)(-zp)?$")
INT4_SCALE_BITS = 16
INT4_ZERO_BITS = 4

FIXED = {f.name: f for f in (*GGUF.values(), NVFP4, FP8_BLOCK128, NF4_DQ)}
#: Formats :mod:`estimator.memory` already knows (delegated), with the peak their matmuls use.
PLAIN = {"fp32": "fp32", "bf16": "bf16", "fp16": "fp16", "fp8": "fp8", "int8": "int8",
         "int4": "bf16", "mxfp4": "bf16"}
#: Every name :func:`get_format` accepts (``int4-g<N>[-zp]`` besides).
NAMES = tuple(PLAIN) + tuple(FIXED) + ("int4-g<N>", "int4-g<N>-zp")


def get_format(name: str) -> BlockFormat | None:
    """The block format called ``name``; None for a plain format of :mod:`estimator.memory`;
    an :class:`EstimatorError` naming ``quant`` for anything else."""
    if name in PLAIN:
        return None
    if name in FIXED:
        return FIXED[name]
    m = INT4_GROUP.match(name) if isinstance(name, str) else None
    if m:
        g = int(m.group(1))
        if g < 1 or g > 1 << 20:
            raise EstimatorError("quant", name, "group size must be between 1 and 1048576")
        zp = bool(m.group(2))
        return BlockFormat(name, g, g * 4 + INT4_SCALE_BITS + (INT4_ZERO_BITS if zp else 0),
                           "bf16", f"4-bit values + fp16 scale{' + 4-bit zero' if zp else ''} "
                           f"per {g} weights",
                           "GPTQ/AutoGPTQ pack (qweight int32 x8, fp16 scales, qzeros int32 x8 "
                           "per group); AutoAWQ q_group_size")
    raise EstimatorError("quant", name, "unknown weight format; known: " + ", ".join(NAMES))


def compute_dtype(name: str) -> str:
    """The dtype whose tensor-core peak matmuls on ``name`` weights run at."""
    f = get_format(name)
    return PLAIN[name] if f is None else f.compute


def bits_per_weight(name: str) -> float:
    """Bits per weight of ``name`` over a whole number of blocks (plain formats: their width;
    int4: 4 + 16/128; mxfp4: 4.25)."""
    f = get_format(name)
    if f is not None:
        return f.bits_per_weight
    big = 1 << 20
    return memory.tensor_bytes(big, name) * 8 / big


def tensor_bytes(n: int, fmt: str) -> int:
    """Bytes of ``n`` weights in ``fmt``: ``⌈⌈n/block⌉·block_bits/8⌉`` for a block format
    (module docstring), :func:`estimator.memory.tensor_bytes` for a plain one."""
    f = get_format(fmt)
    if f is None:
        return memory.tensor_bytes(n, fmt)
    return -(-(-(-n // f.block) * f.block_bits) // 8)


def check_group(fmt: str, widths: dict[str, int]) -> None:
    """Refuse a group size that does not divide a quantized matrix's input width (GPTQ/AWQ
    group along the input dimension: a partial group at the end of every row is not a
    layout those kernels take). ``widths``: name → input width of the quantized matrices."""
    f = get_format(fmt)
    if f is None or not INT4_GROUP.match(fmt):
        return
    for what, w in widths.items():
        if w and w % f.block:
            raise EstimatorError("quant", fmt, f"group size {f.block} does not divide "
                                 f"{what}={w}")


__all__ = ["BlockFormat", "FIXED", "GGUF", "NAMES", "PLAIN", "bits_per_weight", "check_group",
           "compute_dtype", "get_format", "tensor_bytes"]
