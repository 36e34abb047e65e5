"""The parallel layouts the distributed validation runs, and the estimator options of each.

Torch-free: the CLI checks ``--layouts`` and the renderer (:mod:`.dist_render`) builds the
estimate's options from these without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import EstimatorError


@dataclass(frozen=True)
class DistLayout:
    """One layout: ``world`` ranks = ``tp·pp·dp``; ``ep`` splits experts over the data-parallel
    ranks; ``zero`` 1/2 = flat-buffer ZeRO, ``fsdp`` = FSDP2 ``fully_shard`` (ZeRO-3);
    ``grad_accum`` micro-batches per step (1F1B for ``pp``); ``decode``: also a decode step."""

    name: str
    world: int
    tp: int = 1
    pp: int = 1
    ep: int = 1
    zero: int = 0
    fsdp: bool = False
    grad_accum: int = 1
    decode: bool = False

    def options(self, w: dict[str, int]) -> dict[str, Any]:
        """The estimator options of this layout's training step (``estimate(**options)``)."""
        return dict(tp=self.tp, pp=self.pp, ep=self.ep, num_gpus=self.world,
                    zero=3 if self.fsdp else self.zero, grad_accum=self.grad_accum,
                    micro_batch=w["micro_batch"], seq_len=w["seq_len"], batch=w["micro_batch"],
                    dtype="fp32", kv_dtype="fp32", flash_attention=False,
                    activation_framework="pytorch_eager")

    def decode_options(self, w: dict[str, int]) -> dict[str, Any]:
        """The estimator options of the decode step: ``batch`` sequences whose context is the
        prompt plus the decoded token."""
        return dict(tp=self.tp, pp=self.pp, ep=self.ep, num_gpus=self.world,
                    batch=w["decode_batch"], seq_len=w["prompt"] + 1, dtype="fp32",
                    kv_dtype="fp32")


LAYOUTS = {lay.name: lay for lay in (
    DistLayout("tp2", 2, tp=2, decode=True),
    DistLayout("ep2", 2, ep=2, decode=True),
    DistLayout("pp2", 2, pp=2, grad_accum=2, decode=True),
    DistLayout("zero1-dp2", 2, zero=1),
    DistLayout("zero2-dp2", 2, zero=2),
    DistLayout("fsdp-dp2", 2, fsdp=True),
    DistLayout("ep4", 4, ep=4, decode=True),
    DistLayout("zero1-dp4", 4, zero=1),
    DistLayout("fsdp-dp4", 4, fsdp=True),
)}
#: ``validate --distributed`` without ``--layouts``: every layout (world sizes 2 and 4).
DEFAULT = tuple(LAYOUTS)
#: The tests' default run: world size 2, a few layouts.
QUICK = ("tp2", "ep2", "fsdp-dp2")
#: Training: ``micro_batch × seq_len`` tokens per rank and micro-batch. Decode: ``decode_batch``
#: sequences of ``prompt`` tokens prefilled, then one token each.
WORKLOAD = {"micro_batch": 2, "seq_len": 64, "decode_batch": 4, "prompt": 24}


def check_names(names: list[str], world_size: int | None = None) -> list[str]:
    """Known layout names (an unknown one is an error naming it), those of ``world_size``."""
    for n in names:
        if n not in LAYOUTS:
            raise EstimatorError("layouts", n, "unknown layout; known: " + ", ".join(LAYOUTS))
    if world_size is not None:
        names = [n for n in names if LAYOUTS[n].world == world_size]
        if not names:
            raise EstimatorError("world-size", world_size, "no layout of this size; sizes: "
                                 + ", ".join(sorted({str(v.world) for v in LAYOUTS.values()})))
    return list(dict.fromkeys(names))
