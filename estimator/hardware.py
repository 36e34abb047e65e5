"""GPU catalog: ``configs/hardware.yaml`` (vendor datasheet figures, each with its source, and
dated, user-editable prices). Peaks are dense (no 2:4 sparsity); real ceilings sit below them,
which is what the MFU/MBU options express (REFERENCE.md §6)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .errors import EstimatorError
from .presets import CONFIG_DIR, read_file

HARDWARE_FILE = CONFIG_DIR / "hardware.yaml"


@dataclass(frozen=True)
class GPU:
    id: str
    name: str
    memory_bytes: int  # capacity usable by the allocator, bytes
    bandwidth_bytes_s: float  # HBM bandwidth, bytes/s
    bf16_flops: float  # dense peak, FLOP/s
    fp8_flops: float | None
    price_per_hour_usd: float
    price_as_of: str
    source: str

    def peak_flops(self, dtype: str) -> float:
        """Dense tensor-core peak for the compute dtype (fp8/int8 use the fp8 rate if any)."""
        if dtype in ("fp8", "int8", "int4", "mxfp4") and self.fp8_flops:
            return self.fp8_flops
        return self.bf16_flops

    def to_dict(self) -> dict:
        return dict(self.__dict__)


@functools.lru_cache(maxsize=1)
def load_catalog() -> dict[str, GPU]:
    data = read_file(HARDWARE_FILE)
    out: dict[str, GPU] = {}
    for g in data["gpus"]:
        out[g["id"]] = GPU(
            id=g["id"], name=g["name"], memory_bytes=int(g["memory_bytes"]),
            bandwidth_bytes_s=float(g["bandwidth_tbs"]) * 1e12,
            bf16_flops=float(g["bf16_tflops"]) * 1e12,
            fp8_flops=float(g["fp8_tflops"]) * 1e12 if g.get("fp8_tflops") else None,
            price_per_hour_usd=float(g["price_per_hour_usd"]),
            price_as_of=str(g.get("price_as_of", data.get("as_of", ""))),
            source=str(g.get("source", "")))
    return out


def get_gpu(gpu_id: str) -> GPU:
    cat = load_catalog()
    if gpu_id not in cat:
        raise EstimatorError("gpu", gpu_id, "unknown GPU; known: " + ", ".join(cat))
    return cat[gpu_id]
