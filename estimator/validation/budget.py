"""What a validation run will cost, estimated before anything is built (no torch here).

A measurement instantiates the model for real, so a spec that is small in parameters can still
be huge in what it allocates (10⁶ query heads: a b·a·s² score tensor of tens of GB) or in how
long it runs (10⁵ experts or layers: one Python module each). Before building, :func:`cost`
asks the estimator itself what the model the run would build needs — training-step memory with
the reference's eager attention and PyTorch saved tensors, FLOPs of the measured passes — plus
the per-module time measured on this project's 2-core machine, and :func:`check` refuses a run
above :data:`MEMORY_BUDGET_BYTES` or :data:`TIME_BUDGET_S`, naming what is too large.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import EstimatorError
from ..hf import spec_from_hf_config
from ..params import count_params
from ..presets import Model, load_model
from ..spec import ModelSpec
from .shrink import HF_FAMILIES, shrink_hf_config, shrink_spec

GIB = 2**30
#: A run may use this much memory: safe beside the app server on a 2-core, 24 GiB machine.
MEMORY_BUDGET_BYTES = 4 * GIB
#: ... and run this long (the Validate page holds one lock while it runs).
TIME_BUDGET_S = 60.0
#: Measured (reference decoder, one thread, quick workload): 2,000 experts of width 8 took
#: 7.5 s and 8,000 took 17 s → ~2.5 ms per expert module; 200 layers of 8 experts took 18.6 s
#: → ~90 ms per layer. Dense arithmetic of small fp32 matmuls on one core: ≥ 2 GFLOP/s.
SECONDS_PER_EXPERT = 0.0025
SECONDS_PER_LAYER = 0.09
FLOP_PER_S = 2e9
STARTUP_S = 1.0
#: Allocator slack, the FlopCounterMode/MemTracker bookkeeping and the optimizer step's
#: temporaries on top of the estimator's training peak.
MEMORY_SLACK = 2
#: Forward and training passes a run makes on each implementation (FLOP count, KV cache,
#: warm-up and measured training step).
PASSES = 4


@dataclass(frozen=True)
class Workload:
    """Token shapes of the measurements: inference (FLOPs, KV cache) and one training step."""

    batch: int
    seq_len: int
    train_batch: int
    train_seq_len: int

    def to_dict(self) -> dict[str, int]:
        return {"batch": self.batch, "seq_len": self.seq_len, "train_micro_batch":
                self.train_batch, "train_seq_len": self.train_seq_len}


#: ``seq_len`` exceeds the shrunk sliding window (16) so window caps are exercised; the training
#: step is long enough that activations are a real share of the peak.
FULL = Workload(batch=2, seq_len=32, train_batch=4, train_seq_len=128)
QUICK = Workload(batch=1, seq_len=24, train_batch=2, train_seq_len=64)


def planned(m: Model, shrink: bool) -> tuple[ModelSpec, dict[str, Any] | None]:
    """The spec a run builds for ``m`` (shrunk or not) and the transformers config, if any."""
    if m.hf_config is not None and m.hf_config.get("model_type") in HF_FAMILIES:
        hf_cfg = shrink_hf_config(m.hf_config) if shrink else dict(m.hf_config)
        return spec_from_hf_config(hf_cfg, name=m.spec.name), hf_cfg
    return (shrink_spec(m.spec) if shrink else m.spec), None


def cost(spec: ModelSpec, w: Workload, implementations: int = 2) -> dict[str, Any]:
    """Estimated peak memory (bytes) and time (s) of measuring ``spec`` under ``w``."""
    from ..report import estimate

    r = estimate(spec, batch=w.train_batch, seq_len=w.train_seq_len, dtype="fp32",
                 kv_dtype="fp32", flash_attention=False, activation_framework="pytorch_eager",
                 master_weights=False, micro_batch=w.train_batch)
    peak = r.training_memory.peak or r.inference.per_gpu.total
    tokens = w.train_batch * w.train_seq_len
    flops_ = (r.flops.training_per_token * tokens
              + r.flops.forward_per_token * w.batch * w.seq_len)
    experts = spec.num_moe_layers * (spec.num_experts + (spec.moa.num_experts if spec.moa
                                                         else 0))
    seconds = STARTUP_S + implementations * (PASSES * flops_ / FLOP_PER_S
                                             + experts * SECONDS_PER_EXPERT
                                             + spec.num_hidden_layers * SECONDS_PER_LAYER)
    return {"params": count_params(spec).total, "bytes": MEMORY_SLACK * peak,
            "seconds": seconds, "expert_modules": experts, "layers": spec.num_hidden_layers}


def check(spec: ModelSpec, w: Workload, implementations: int = 2) -> dict[str, Any]:
    """:func:`cost`, or an :class:`EstimatorError` saying which budget the run would exceed."""
    c = cost(spec, w, implementations)
    built = (f"{c['layers']:,} layers, {c['expert_modules']:,} expert modules, "
             f"{spec.num_attention_heads:,} heads, hidden {spec.hidden_size:,}")
    if c["bytes"] > MEMORY_BUDGET_BYTES:
        raise EstimatorError("validation", spec.name,
                             f"building it would need about {c['bytes'] / GIB:,.1f} GiB "
                             f"(budget {MEMORY_BUDGET_BYTES / GIB:.0f} GiB): {built}")
    if c["seconds"] > TIME_BUDGET_S:
        raise EstimatorError("validation", spec.name,
                             f"measuring it would take about {c['seconds']:,.0f} s (budget "
                             f"{TIME_BUDGET_S:.0f} s): {built}")
    return c


def plan(source: Any, quick: bool = True, max_params: int = 20_000_000,
         implementations: int = 2) -> dict[str, Any]:
    """What :func:`estimator.validation.validate_spec` would build for ``source`` and its cost
    (the Validate page shows it before the button); raises like :func:`check`."""
    m = load_model(source)
    shrink = count_params(m.spec).total > max_params
    if m.spec.is_hybrid:  # the reference decoder cannot build hybrid mixers: say so here
        raise EstimatorError("validation", m.spec.name, "hybrid models (linear attention, "
                             "Mamba, short conv) are not validated yet: the reference decoder "
                             "has no such mixers (tests/test_hybrids.py checks them against "
                             "transformers instead)")
    spec, hf_cfg = planned(m, shrink)
    impls = implementations if hf_cfg is not None else 1
    return {"spec": spec, "shrunk": shrink, **check(spec, QUICK if quick else FULL, impls)}


__all__ = ["FULL", "QUICK", "Workload", "check", "cost", "plan", "planned"]
