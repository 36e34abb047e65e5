"""What a checkpoint holds, from its safetensors headers: exact bytes and elements per dtype.

A ``.safetensors`` file starts with 8 bytes (little-endian u64 ``N``), then ``N`` bytes of JSON:
``{"name": {"dtype": "F8_E4M3", "shape": [7168, 2048], "data_offsets": [begin, end]}, ...,
"__metadata__": {...}}``, then the tensor data (https://github.com/huggingface/safetensors,
"Format"). Only the header is read, never the tensors, so a 600 GB checkpoint is summarised in
milliseconds. Quantized checkpoints store exactly what they are: FP8 weights with their block
scales (DeepSeek-V3, Qwen3-FP8), AWQ/GPTQ int4 packed eight to an I32 with F16 scales and packed
zeros, MXFP4 blocks (U8) with E8M0 scales (gpt-oss); the byte count per dtype is therefore the
weights' exact size in memory, whatever the quantization scheme.

Headers are read defensively: the length is bounded (safetensors' own limit, 100 MB) and must fit
in the file, every entry needs a known dtype, an integer shape and offsets inside the data whose
span equals the shape's size.
"""

from __future__ import annotations

import json
import math
import os
import struct
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import EstimatorError

#: safetensors' MAX_HEADER_SIZE: a longer header is refused by the library itself.
MAX_HEADER_BYTES = 100_000_000

#: Bits per element of every safetensors dtype (safetensors ``Dtype``).
DTYPE_BITS = {
    "BOOL": 8, "U8": 8, "I8": 8, "F8_E5M2": 8, "F8_E4M3": 8, "F8_E8M0": 8,
    "I16": 16, "U16": 16, "F16": 16, "BF16": 16,
    "I32": 32, "U32": 32, "F32": 32, "C64": 64,
    "I64": 64, "U64": 64, "F64": 64,
    "F4": 4, "F6_E2M3": 6, "F6_E3M2": 6,
}


@dataclass(frozen=True)
class CheckpointBytes:
    """Exact bytes and elements per safetensors dtype, summed over a checkpoint's files."""

    files: tuple[str, ...]
    tensors: int
    bytes_by_dtype: Mapping[str, int] = field(default_factory=dict)
    elements_by_dtype: Mapping[str, int] = field(default_factory=dict)

    @property
    def total_bytes(self) -> int:
        return sum(self.bytes_by_dtype.values())

    def to_dict(self) -> dict[str, Any]:
        return {"files": list(self.files), "tensors": self.tensors,
                "total_bytes": self.total_bytes,
                "bytes_by_dtype": dict(self.bytes_by_dtype),
                "elements_by_dtype": dict(self.elements_by_dtype),
                "method": "sum of data_offsets spans in the safetensors headers (tensors not "
                          "read)"}


def read_header(path: str | os.PathLike) -> dict[str, Any]:
    """The JSON header of one ``.safetensors`` file, checked; tensors are not read."""
    p = Path(path)
    where = str(p)
    try:
        size = p.stat().st_size
        with p.open("rb") as f:
            head = f.read(8)
            if len(head) < 8:
                raise EstimatorError("file", where, "not a safetensors file (shorter than 8 bytes)")
            (n,) = struct.unpack("<Q", head)
            if n > MAX_HEADER_BYTES or n > size - 8:
                raise EstimatorError("file", where, f"not a safetensors file (header length {n:,}"
                                     f" for a {size:,}-byte file)")
            raw = f.read(n)
    except FileNotFoundError:
        raise EstimatorError("file", where, "not found") from None
    except IsADirectoryError:
        raise EstimatorError("file", where, "is a directory") from None
    except OSError as e:
        raise EstimatorError("file", where, f"unreadable: {e.strerror}") from None
    try:
        header = json.loads(raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise EstimatorError("file", where, "safetensors header is not valid JSON") from None
    except RecursionError:  # "[[[[..." thousands deep: a real header nests three levels
        raise EstimatorError("file", where, "safetensors header is nested too deeply") from None
    if not isinstance(header, dict):
        raise EstimatorError("file", where, "safetensors header is not a JSON object")
    data_bytes = size - 8 - n
    for name, t in header.items():
        if name == "__metadata__":
            continue
        _check_entry(where, name, t, data_bytes)
    return header


def _check_entry(where: str, name: str, t: Any, data_bytes: int) -> None:
    if not isinstance(t, dict):
        raise EstimatorError(f"{where}: {name}", t, "not a tensor entry")
    dtype, shape, off = t.get("dtype"), t.get("shape"), t.get("data_offsets")
    if not isinstance(dtype, str) or dtype not in DTYPE_BITS:  # a list is unhashable
        raise EstimatorError(f"{where}: {name}.dtype", dtype, "unknown safetensors dtype")
    if not isinstance(shape, list) or not all(type(d) is int and d >= 0 for d in shape):
        raise EstimatorError(f"{where}: {name}.shape", shape, "must be a list of sizes")
    if not (isinstance(off, list) and len(off) == 2 and all(type(o) is int for o in off)
            and 0 <= off[0] <= off[1] <= data_bytes):
        raise EstimatorError(f"{where}: {name}.data_offsets", off,
                             f"must be [begin, end] within the {data_bytes:,} data bytes")
    expected = math.ceil(math.prod(shape) * DTYPE_BITS[dtype] / 8)
    if off[1] - off[0] != expected:
        raise EstimatorError(f"{where}: {name}", off,
                             f"spans {off[1] - off[0]:,} bytes; {dtype}{shape} needs "
                             f"{expected:,}")


def safetensors_files(source: str | os.PathLike) -> list[Path]:
    """The ``.safetensors`` files of a file, a checkpoint folder or a cached Hub model id."""
    s = str(source)
    p = Path(s)
    if p.is_file():
        return [p]
    if not p.exists():
        from .hub import is_repo_id, snapshot

        if is_repo_id(s):
            p = snapshot(s)[0]
        else:
            raise EstimatorError("checkpoint", s, "not found (a .safetensors file, a folder "
                                                  "or a cached Hugging Face model id)")
    files = sorted(p.glob("*.safetensors"))
    if not files:
        raise EstimatorError("checkpoint", s, "holds no .safetensors files")
    missing = sorted(f.name for f in files if not f.is_file())  # a snapshot's dangling link
    index = p / "model.safetensors.index.json"
    if index.is_file():  # sharded: every shard the index names must be here
        try:
            if index.stat().st_size > MAX_HEADER_BYTES:
                raise ValueError("too large")
            shards = set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values())
        except (OSError, ValueError, KeyError, TypeError, AttributeError, RecursionError):
            raise EstimatorError("checkpoint", str(index), "unreadable shard index") from None
        for n in shards:  # a shard is a file in this folder: never a path out of it
            if not isinstance(n, str) or not n or Path(n).name != n or n in (".", ".."):
                raise EstimatorError("checkpoint", str(index),
                                     f"shard {n!r} is not a file name in the folder")
        missing += sorted(n for n in shards if not (p / n).is_file())
    if missing:
        raise EstimatorError("checkpoint", s, f"incomplete: {len(missing)} shard(s) missing, "
                                              f"e.g. {missing[0]}")
    return files


def checkpoint_bytes(source: str | os.PathLike) -> CheckpointBytes:
    """Exact bytes per dtype of a checkpoint (a file, a folder or a cached Hub id)."""
    files = safetensors_files(source)
    by_bytes: dict[str, int] = {}
    by_elems: dict[str, int] = {}
    tensors = 0
    for f in files:
        for name, t in read_header(f).items():
            if name == "__metadata__":
                continue
            tensors += 1
            dt = t["dtype"]
            by_bytes[dt] = by_bytes.get(dt, 0) + t["data_offsets"][1] - t["data_offsets"][0]
            by_elems[dt] = by_elems.get(dt, 0) + math.prod(t["shape"])
    return CheckpointBytes(files=tuple(f.name for f in files), tensors=tensors,
                           bytes_by_dtype=dict(sorted(by_bytes.items())),
                           elements_by_dtype=dict(sorted(by_elems.items())))


def report_section(ck: CheckpointBytes | EstimatorError, estimated_weights: int,
                   dtype: str) -> dict[str, Any]:
    """The report's ``checkpoint`` section: the checkpoint's exact weights beside the
    estimate the rest of the report uses (``memory.inference.weights`` for ``dtype``)."""
    if isinstance(ck, EstimatorError):
        return {"not_applicable": str(ck)}
    return {**ck.to_dict(), "weights": ck.total_bytes, "estimated_weights": estimated_weights,
            "estimated_minus_checkpoint": estimated_weights - ck.total_bytes,
            "note": f"weights = every byte the checkpoint's tensors occupy (safetensors "
                    f"headers: quantized weights with their scales and zeros as stored); "
                    f"estimated_weights = memory.inference.weights for dtype={dtype}, which "
                    f"the memory figures use"}
