"""``estimate()``: one call, one report object; the CLI, the app and every export render it.

Data flows one way (STYLE.md): model → spec → ``estimate(model, **options)`` → :class:`Report`
→ (UI, CLI, exports). The report holds exact integers (parameters, bytes, FLOPs); units are
applied only when rendering.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from . import __version__, flops, memory, serving, training
from .hardware import GPU, get_gpu
from .options import Options, make_options
from .params import ParamCounts, count_params
from .presets import Model, load_model


@dataclass(frozen=True)
class Report:
    model: Model
    options: Options
    gpu: GPU
    params: ParamCounts
    flops: Any
    inference: Any
    training_memory: Any
    training: Any
    serving: Any

    def sections(self) -> dict[str, Any]:
        """The numeric sections only (cheap; what sweeps read)."""
        return {"params": self.params.to_dict(), "flops": self.flops.to_dict(),
                "memory": {"inference": self.inference.to_dict(),
                           "training": self.training_memory.to_dict()},
                "training": self.training.to_dict(), "serving": self.serving.to_dict()}

    def conventions(self) -> dict[str, str]:
        """Which convention every number uses (also in each section)."""
        o = self.options
        return {
            "active_params": "with_embedding (see params.active_by_convention for the others)",
            "flops_per_mac": "2",
            "attention_flops": o.attention_flops,
            "adam_bytes_per_param": str(o.adam_bytes),
            "kv_cache_layout": o.kv_cache,
            "units": "exact integers: parameters, bytes, FLOPs; GiB = 2^30 bytes when shown",
        }

    def to_dict(self, compare: bool = True) -> dict[str, Any]:
        s = self.model.spec
        out = {
            "schema": "moe-estimator/report/1",
            "version": __version__,
            "model": {
                "name": s.name, "display_name": self.model.display_name,
                "model_type": s.model_type, "origin": self.model.origin,
                "source": self.model.source, "published": dict(self.model.published),
                "is_moe": s.is_moe, "notes": list(s.notes),
            },
            "architecture": s.to_dict(),
            "options": self.options.to_dict(),
            "gpu": self.gpu.to_dict(),
            "params": self.params.to_dict(),
            "flops": self.flops.to_dict(),
            "memory": {
                "inference": self.inference.to_dict(),
                "training": self.training_memory.to_dict(),
            },
            "training": self.training.to_dict(),
            "serving": self.serving.to_dict(),
            "conventions": self.conventions(),
        }
        if compare:
            from .compare import side_by_side

            out["dense_vs_moe"] = side_by_side(self)
        return out


def estimate(model: Any, **options: Any) -> Report:
    """Everything the estimator knows about ``model`` under ``options`` (see estimator.options)."""
    m = load_model(model)
    opts = options.pop("options", None) or make_options(**options)
    if options and not isinstance(opts, Options):
        raise TypeError("pass either options=Options(...) or keywords")
    gpu = get_gpu(opts.gpu)
    return Report(
        model=m, options=opts, gpu=gpu, params=count_params(m.spec),
        flops=flops.compute(m, opts, gpu),
        inference=memory.compute(m, opts, gpu),
        training_memory=training.compute_memory(m, opts, gpu)
        if hasattr(training, "compute_memory") else training.compute(m, opts, gpu),
        training=training.compute(m, opts, gpu),
        serving=serving.compute(m, opts, gpu),
    )


def timed_estimate(model: Any, n: int = 1000, **options: Any) -> float:
    """Mean seconds per ``estimate()`` call (the model loaded once, as the app does)."""
    m = load_model(model)
    t = time.perf_counter()
    for _ in range(n):
        estimate(m, **options)
    return (time.perf_counter() - t) / n
