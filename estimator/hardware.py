"""GPU catalog: ``configs/hardware.yaml`` (vendor datasheet figures, each with its source, and
dated, user-editable prices). Peaks are dense (no 2:4 sparsity); real ceilings sit below them,
which is what the MFU/MBU options express (REFERENCE.md §6)."""

from __future__ import annotations

import functools
from dataclasses import dataclass

from .errors import EstimatorError
from .presets import CONFIG_DIR, read_file

HARDWARE_FILE = CONFIG_DIR / "hardware.yaml"
#: Dense TF32 tensor-core peak as a fraction of the dense BF16 peak: 494.7/989.4 (H100 SXM),
#: 156/312 (A100), 653.7/1307.4 (MI300X) TFLOP/s in the vendors' datasheets.
TF32_FRACTION_OF_BF16 = 0.5
#: Weight formats whose matmuls run in bf16 after dequantization (weight-only W4A16 kernels
#: such as Marlin/AWQ; MXFP4 experts on GPUs without FP4 tensor cores, as vLLM runs gpt-oss on
#: Hopper).
BF16_COMPUTE_FORMATS = ("int4", "mxfp4")


@dataclass(frozen=True)
class Interconnect:
    """How one GPU talks to the others (configs/hardware.yaml ``interconnect``, with its source).

    Bandwidths are per GPU and per direction, in bytes/s, as the datasheets give them (NVLink
    "900 GB/s" totals both directions: 450 GB/s each way). The network figure is a cluster
    property, the vendor's reference design (e.g. DGX H100: one 400 Gb/s NIC per GPU), not the
    chip's; the catalog says where it is an assumption.
    """

    nvlink_domain: int  # GPUs that reach each other over NVLink/NVSwitch (1 = none)
    nvlink_bytes_s: float  # per GPU, each way (0 = no NVLink)
    node_gpus: int  # GPUs per server: beyond the NVLink domain, inside it, traffic takes PCIe
    pcie_bytes_s: float  # per GPU, each way
    network_bytes_s: float  # per GPU, each way (scale-out NIC)
    source: str

    def link(self, span: int) -> str:
        """The slowest link a collective over ``span`` consecutive ranks crosses: ``nvlink``
        while the group fits one NVLink domain, ``pcie`` while it fits one server, else
        ``network``. Ranks are assumed packed (a group of 8 on 8-GPU servers is one server)."""
        if span <= 1:
            return "local"
        if span <= self.nvlink_domain and self.nvlink_bytes_s > 0:
            return "nvlink"
        if span <= self.node_gpus:
            return "pcie"
        return "network"

    def bytes_s(self, link: str) -> float:
        """Per-GPU, per-direction bandwidth of ``link`` (bytes/s); ``local`` is unbounded."""
        return {"nvlink": self.nvlink_bytes_s, "pcie": self.pcie_bytes_s,
                "network": self.network_bytes_s, "local": float("inf")}[link]


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
    #: What one device achieved (configs/hardware.yaml ``measured``, with provenance): the
    #: GPU validation's calibration, shown beside the datasheet figures, never used silently.
    measured: dict | None = None
    interconnect: Interconnect | None = None
    #: The device total as torch.cuda.mem_get_info() reports it (configs/hardware.yaml
    #: ``cuda_total_memory_bytes``, sourced per GPU; the engine model's usable memory), or None.
    cuda_total_memory_bytes: int | None = None
    #: Dense FP4 tensor-core peak (FLOP/s), where the datasheet gives one (Blackwell), else None.
    #: Information: :meth:`peak_flops` charges ``mxfp4`` at the bf16 peak (weight-only kernels).
    fp4_flops: float | None = None

    def peak_flops(self, dtype: str) -> float:
        """Dense tensor-core peak (FLOP/s) that matmuls on ``dtype`` weights run at — the one
        peak-for-dtype rule of the project (serving and training both call it).

        * ``bf16``/``fp16``: :attr:`bf16_flops` (the datasheets give FP16 = BF16 dense rates).
        * ``fp8``/``int8``: :attr:`fp8_flops`, W8A8 kernels running on the 8-bit tensor cores;
          :attr:`bf16_flops` where the catalog has no FP8 figure (A100, whose INT8 rate is not
          in the catalog: charged at bf16, a conservative ceiling).
        * ``int4``/``mxfp4`` (:data:`BF16_COMPUTE_FORMATS`): :attr:`bf16_flops` — weight-only
          W4A16 kernels (Marlin, AWQ) dequantize to bf16 before the matmul, and vLLM runs
          gpt-oss's MXFP4 experts the same way on GPUs without FP4 tensor cores.
        * ``fp32``: TF32, :data:`TF32_FRACTION_OF_BF16` × :attr:`bf16_flops` — the datasheets'
          dense TF32 rate is half the BF16 one: 494.7/989.4 (H100 SXM), 156/312 (A100),
          653.7/1307.4 (MI300X) TFLOP/s. PyTorch runs fp32 matmuls in TF32 with
          ``torch.backends.cuda.matmul.allow_tf32``; strict fp32 is slower still.

        Sources: the vendor datasheets in ``configs/hardware.yaml`` (each GPU's ``source``) and
        REFERENCE.md §6.
        """
        if dtype in ("bf16", "fp16") or dtype in BF16_COMPUTE_FORMATS:
            return self.bf16_flops
        if dtype in ("fp8", "int8"):
            return self.fp8_flops or self.bf16_flops
        if dtype == "fp32":
            return self.bf16_flops * TF32_FRACTION_OF_BF16
        raise EstimatorError("dtype", dtype,
                             "must be one of fp32, bf16, fp16, fp8, int8, int4, mxfp4")

    def to_dict(self) -> dict:
        d = dict(self.__dict__)
        if self.interconnect is not None:
            d["interconnect"] = dict(self.interconnect.__dict__)
        return d


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
            source=str(g.get("source", "")),
            measured=dict(g["measured"]) if isinstance(g.get("measured"), dict) else None,
            interconnect=_interconnect(g.get("interconnect")),
            cuda_total_memory_bytes=_cuda_total(g),
            fp4_flops=float(g["fp4_tflops"]) * 1e12 if g.get("fp4_tflops") else None)
    return out


def _cuda_total(g: dict) -> int | None:
    """``cuda_total_memory_bytes`` of a catalog entry, or of its ``measured`` block."""
    v = g.get("cuda_total_memory_bytes")
    if v is None and isinstance(g.get("measured"), dict):
        v = g["measured"].get("cuda_total_memory_bytes")
    return int(v) if v else None


def _interconnect(d: dict | None) -> Interconnect | None:
    if not isinstance(d, dict):
        return None
    return Interconnect(
        nvlink_domain=int(d["nvlink_domain"]), nvlink_bytes_s=float(d["nvlink_gbs"]) * 1e9,
        node_gpus=int(d["node_gpus"]), pcie_bytes_s=float(d["pcie_gbs"]) * 1e9,
        network_bytes_s=float(d["network_gbs"]) * 1e9, source=str(d.get("source", "")))


def get_gpu(gpu_id: str) -> GPU:
    cat = load_catalog()
    if gpu_id not in cat:
        raise EstimatorError("gpu", gpu_id, "unknown GPU; known: " + ", ".join(cat))
    return cat[gpu_id]
