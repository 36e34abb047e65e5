"""GPU validation: CUDA allocator peaks (memory) and CUDA-event timings (speed) of real models.

GPU time is scarce, so a run is split in two halves:

* **measure** (:func:`measure_memory`, :func:`measure_speed`) runs on the device and records raw
  measurements only — the shrunk models' ``config.json``, the workload, tensor bytes, allocator
  peaks, timings, routing counts — with the hardware and versions. No estimate is computed
  there.
* **render** (:func:`render_memory`, :func:`render_speed`) puts the estimator's figure beside
  each measurement, on any machine: rows with ``estimate``, ``measured``, ``rel_error``, the
  bar and whether it applies. The committed ``docs/validation/cuda*.json`` are rendered from the
  committed raw files, and ``tests/test_gpu_results.py`` re-renders them with the current
  estimator, so a change that breaks agreement with the measured GPU fails on a CPU machine.

On CPU (``--device cpu``, the dry run) the same code runs; peaks come from
:class:`torch.distributed._tools.mem_tracker.MemTracker` (exact tensor bytes) instead of the
caching allocator, and timings from ``time.perf_counter``.

Memory conventions (REFERENCE.md §5): a peak is ``torch.cuda.max_memory_allocated()`` over the
measured region after ``reset_peak_memory_stats()``, everything the process holds included
(weights, cache, optimizer states, cuBLAS workspaces); the CUDA context is outside it.
``max_memory_reserved()`` (the allocator's segments) is recorded beside it, informational.

    python -m estimator.validation.gpu memory --device cuda --out DIR
    python -m estimator.validation.gpu speed --device cuda --out DIR
    python -m estimator.validation.gpu render DIR/cuda-memory-raw.json --out docs/validation
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import platform
import sys
import time
from statistics import median
from typing import Any

from .. import __version__

MEMORY_SCHEMA = "moe-estimator/cuda-memory-raw/1"
SPEED_SCHEMA = "moe-estimator/cuda-speed-raw/1"
#: Models of the memory run: dense GQA, Mixtral-style, shared expert + gate, MLA + shared
#: experts, gpt-oss (sliding window, sinks, biases).
MEMORY_MODELS = ("llama-3-8b", "mixtral-8x7b", "qwen1.5-moe-a2.7b", "deepseek-v2-lite",
                 "gpt-oss-20b")
DTYPES = ("fp32", "bf16")
#: Inference: ``batch`` sequences of ``seq_len`` prompt tokens, then one decode step.
#: Training: ``train_batch × train_seq_len`` tokens per step.
MEMORY_WORKLOAD = {"batch": 4, "seq_len": 1024, "train_batch": 4, "train_seq_len": 1024}
CPU_WORKLOAD = {"batch": 2, "seq_len": 64, "train_batch": 2, "train_seq_len": 64}
PEAK_BAR = 0.05  # peaks within 5% (the bar); tensor bytes exact


def _torch():
    import torch
    return torch


def environment(device: str) -> dict[str, Any]:
    torch = _torch()
    env = {"date": datetime.date.today().isoformat(), "torch": torch.__version__,
           "python": platform.python_version(), "estimator": __version__,
           "device_type": device}
    try:
        import transformers
        env["transformers"] = transformers.__version__
    except ImportError:
        env["transformers"] = None
    if device == "cuda":
        p = torch.cuda.get_device_properties(0)
        env.update(device=torch.cuda.get_device_name(0), cuda=torch.version.cuda,
                   capability=f"{p.major}.{p.minor}", total_memory=p.total_memory,
                   multiprocessors=p.multi_processor_count,
                   cublas_workspace_config=os.environ.get("CUBLAS_WORKSPACE_CONFIG"))
        free, total = torch.cuda.mem_get_info()
        env.update(mem_get_info_free=free, mem_get_info_total=total)
    else:
        from .compare import cpu_model
        env["device"] = cpu_model()
    return env


# ----------------------------------------------------------------------------------------------
# peak meters
# ----------------------------------------------------------------------------------------------

class Meter:
    """Peak bytes over a region: CUDA caching-allocator statistics, or MemTracker on CPU.

    ``region(*tracked)`` yields a dict filled on exit with ``max_allocated`` (CUDA:
    ``max_memory_allocated``; CPU: MemTracker's peak of the tracked modules/optimizers plus the
    tensors created inside, plus ``untracked`` bytes the caller says are live), ``max_reserved``
    (CUDA only) and ``allocated_before``."""

    def __init__(self, device: str):
        self.device = device
        self.torch = _torch()

    def allocated(self) -> int:
        t = self.torch
        return int(t.cuda.memory_allocated()) if self.device == "cuda" else 0

    @contextlib.contextmanager
    def region(self, *tracked, untracked: int = 0):
        t = self.torch
        out: dict[str, int] = {}
        if self.device == "cuda":
            t.cuda.synchronize()
            t.cuda.reset_peak_memory_stats()
            out["allocated_before"] = int(t.cuda.memory_allocated())
            yield out
            t.cuda.synchronize()
            out["max_allocated"] = int(t.cuda.max_memory_allocated())
            out["max_reserved"] = int(t.cuda.max_memory_reserved())
            # bytes the tensors asked for, before the allocator's 512-byte rounding
            out["max_requested"] = int(t.cuda.memory_stats().get("requested_bytes.all.peak", 0))
            out["allocated_after"] = int(t.cuda.memory_allocated())
            return
        from .profile import _mem_tracker, _snap
        mt = _mem_tracker()
        mt.track_external(*(o for x in tracked for o in getattr(x, "opts", [x])))
        with mt:
            out["allocated_before"] = _snap(mt, t.device("cpu"))["total"] + untracked
            yield out
        out["max_allocated"] = _snap(mt, t.device("cpu"), "peak")["total"] + untracked
        out["max_reserved"] = 0


def _sync(device: str) -> None:
    if device == "cuda":
        _torch().cuda.synchronize()


def workspace_probe(device: str, backward: bool) -> dict[str, int]:
    """Allocator bytes that appear with a thread's first GEMM: cuBLAS/cuBLASLt workspaces,
    which PyTorch allocates through the caching allocator (``CublasHandlePool.cpp``, one per
    handle and stream). ``backward=False``: the main thread's first fp32 and bf16 GEMMs (run
    first in the process); ``True``: the first backward (autograd's device thread has its own
    handle)."""
    torch = _torch()
    if device != "cuda":
        return {}
    n = 256
    x = torch.randn(n, n, device="cuda")
    torch.cuda.synchronize()
    if not backward:
        a1 = torch.cuda.memory_allocated()
        y = x @ x
        torch.cuda.synchronize()
        a2 = torch.cuda.memory_allocated()
        xb = x.to(torch.bfloat16)
        a3 = torch.cuda.memory_allocated()
        yb = xb @ xb
        torch.cuda.synchronize()
        a4 = torch.cuda.memory_allocated()
        del y, yb
        return {"first_fp32_gemm": a2 - a1 - n * n * 4, "first_bf16_gemm": a4 - a3 - n * n * 2}
    w = torch.randn(n, n, device="cuda", requires_grad=True)
    a5 = torch.cuda.memory_allocated()
    (x @ w).sum().backward()
    torch.cuda.synchronize()
    a6 = torch.cuda.memory_allocated()
    return {"first_backward": a6 - a5 - w.grad.numel() * 4}


# ----------------------------------------------------------------------------------------------
# memory: measure
# ----------------------------------------------------------------------------------------------

class MixedPrecisionAdamW:
    """bf16 weights and gradients, an fp32 master copy and fp32 AdamW moments: 2 + 2 + 4 + 8 =
    16 bytes per parameter (ZeRO paper, arXiv 1910.02054 §3.1; the estimator's ``adam_bytes=16``
    with ``master_weights=True``). The master is kept as chunks of at most :data:`CHUNK`
    elements (leaf views of one fp32 copy per tensor), each with its own fused AdamW; a step
    upcasts one chunk of the bf16 gradient at a time — the bounded flat buckets DeepSpeed and
    Megatron's distributed optimizer work in — so the step adds at most ``4·CHUNK`` bytes, the
    "a fused optimizer step adds nothing" the estimator assumes, to within 16 MiB."""

    CHUNK = 2**22

    def __init__(self, model):
        self.params = list(model.parameters())
        self.master = [p.detach().float().clone() for p in self.params]
        self.chunks: list[tuple[Any, int, int, Any]] = []  # (param, start, end, optimizer)
        for p, m in zip(self.params, self.master):
            flat = m.view(-1)
            for a in range(0, flat.numel(), self.CHUNK):
                b = min(a + self.CHUNK, flat.numel())
                leaf = flat[a:b].detach().requires_grad_(True)
                self.chunks.append((p, a, b, _adamw([leaf])))
        self.opts = [c[3] for c in self.chunks]
        self.state = {}
        self.param_groups = self.opts[0].param_groups

    def step(self) -> None:
        torch = _torch()
        with torch.no_grad():
            for p, a, b, o in self.chunks:
                if p.grad is None:
                    continue
                leaf = o.param_groups[0]["params"][0]
                leaf.grad = p.grad.view(-1)[a:b].float()
                o.step()
                leaf.grad = None
                p.view(-1)[a:b].copy_(leaf)
        self.state = {o.param_groups[0]["params"][0]: o.state[o.param_groups[0]["params"][0]]
                      for o in self.opts}

    def zero_grad(self, set_to_none: bool = False) -> None:
        for p in self.params:
            if p.grad is not None:
                if set_to_none:
                    p.grad = None
                else:
                    p.grad.zero_()

    def master_bytes(self) -> int:
        return sum(m.numel() * m.element_size() for m in self.master)


def _adamw(params):
    torch = _torch()
    try:
        return torch.optim.AdamW(params, lr=1e-4, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=1e-4)


def _states(model, opt) -> dict[str, int]:
    from .profile import model_states
    st = model_states(model, opt)
    st["master"] = opt.master_bytes() if isinstance(opt, MixedPrecisionAdamW) else 0
    return st


def _memory_subject(name: str):
    from ..hf import spec_from_hf_config
    from ..presets import load_model
    from .shrink import shrink_hf_config

    cfg = shrink_hf_config(load_model(name).hf_config, "medium")
    return cfg, spec_from_hf_config(cfg, name=name)


def _tdtype(dtype: str):
    torch = _torch()
    return {"fp32": torch.float32, "bf16": torch.bfloat16}[dtype]


def measure_inference_memory(name: str, dtype: str, device: str, w: dict[str, int]
                             ) -> dict[str, Any]:
    """Weights, the KV cache after a prefill of ``batch × seq_len`` tokens, the prefill peak
    and one decode step's peak, engine-style (SDPA attention, fused-MoE buffers, last-position
    logits, a preallocated cache)."""
    torch = _torch()
    from .profile import make_inputs
    from .reference import StaticKVCache, build_reference

    cfg, spec = _memory_subject(name)
    meter = Meter(device)
    rec: dict[str, Any] = {"model": name, "dtype": dtype, "hf_config": cfg, "workload": w}
    base = meter.allocated()
    model = build_reference(spec, device=device, dtype=_tdtype(dtype)).eval()
    model.set_inference_kernels(True)
    _sync(device)
    rec["weights_tensor_bytes"] = sum(p.numel() * p.element_size() for p in model.parameters())
    rec["weights_allocated"] = meter.allocated() - base
    b, s = w["batch"], w["seq_len"]
    ids, _ = make_inputs(spec.vocab_size, b, s + 1, device)
    L = len(model.blocks)
    with torch.no_grad():  # warm-up: kernels, workspaces, allocator segments
        model(ids[:, :s], StaticKVCache(L, s + 1), last_only=True)
        _free(device)
        cache = StaticKVCache(L, s + 1)
        with meter.region(model) as pre:
            model(ids[:, :s], cache, last_only=True)
        rec["prefill"] = pre
        rec["kv_tensor_bytes"] = cache.nbytes()
        rec["kv_allocated_bytes"] = sum(t.numel() * t.element_size()
                                        for layer in cache.layers if layer for t in layer)
        with meter.region(model, untracked=rec["kv_allocated_bytes"]) as dec:
            model(ids[:, s:s + 1], cache, last_only=True)
        rec["decode"] = dec
        rec["kv_tensor_bytes_after_decode"] = cache.nbytes()
    del cache, model
    _free(device)
    return rec


def measure_training_memory(rec: dict[str, Any], device: str) -> None:
    """One training step after two warm-up steps, recompute none / full; into ``rec``."""
    torch = _torch()
    from .profile import make_inputs, make_optimizer, reference_call, train_step
    from .reference import build_reference

    name, dtype, w = rec["model"], rec["dtype"], rec["workload"]
    _, spec = _memory_subject(name)
    meter = Meter(device)
    tb, ts = w["train_batch"], w["train_seq_len"]
    tids, tt = make_inputs(spec.vocab_size, tb, ts, device, seed=2,
                         head_vocab=spec.head_vocab_size)
    rec["training"] = {}
    for recompute in ("none", "full"):
        model = build_reference(spec, device=device, dtype=_tdtype(dtype), kernels="fused")
        model.recompute = recompute == "full"
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        opt = make_optimizer(model) if dtype == "fp32" else MixedPrecisionAdamW(model)
        train_step(model, opt, tids, tt, reference_call)  # warm-up: optimizer states exist
        train_step(model, opt, tids, tt, reference_call)
        _sync(device)
        # CPU only: MemTracker does not register parameters that are leaf views of another
        # tensor (the master chunks), so the fp32 master copy is added as live untracked bytes
        hidden = (opt.master_bytes() if isinstance(opt, MixedPrecisionAdamW)
                  and device != "cuda" else 0)
        with meter.region(model, opt, untracked=hidden) as st:
            train_step(model, opt, tids, tt, reference_call)
        st["states"] = _states(model, opt)
        rec["training"][recompute] = st
        del model, opt
        _free(device)


def _free(device: str) -> None:
    import gc
    gc.collect()
    if device == "cuda":
        _torch().cuda.empty_cache()


def measure_memory(models=MEMORY_MODELS, dtypes=DTYPES, device: str = "cuda",
                   workload: dict[str, int] | None = None) -> dict[str, Any]:
    """Every inference measurement first (the process has run no backward yet, so only the
    main thread's cuBLAS workspace exists, as in a serving process), then the backward probe,
    then every training measurement."""
    w = workload or (MEMORY_WORKLOAD if device == "cuda" else CPU_WORKLOAD)
    t0 = time.perf_counter()
    probe = workspace_probe(device, backward=False)
    out: dict[str, Any] = {"schema": MEMORY_SCHEMA, **environment(device),
                           "workspace_probe": probe, "records": [], "errors": []}
    for name in models:
        for dtype in dtypes:
            t1 = time.perf_counter()
            try:
                out["records"].append(measure_inference_memory(name, dtype, device, w))
            except Exception as e:  # noqa: BLE001 - one failure must not lose the others
                out["errors"].append({"model": name, "dtype": dtype, "phase": "inference",
                                      "error": f"{type(e).__name__}: {e}"})
            print(f"inference memory {name} {dtype}: {time.perf_counter() - t1:.1f} s",
                  file=sys.stderr, flush=True)
    out["workspace_probe"].update(workspace_probe(device, backward=True))
    for rec in out["records"]:
        t1 = time.perf_counter()
        try:
            measure_training_memory(rec, device)
        except Exception as e:  # noqa: BLE001
            out["errors"].append({"model": rec["model"], "dtype": rec["dtype"],
                                  "phase": "training", "error": f"{type(e).__name__}: {e}"})
        print(f"training memory {rec['model']} {rec['dtype']}: "
              f"{time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)
    out["elapsed_s"] = round(time.perf_counter() - t0, 2)
    return out


# ----------------------------------------------------------------------------------------------
# memory: render (estimate beside measurement; runs anywhere, no torch)
# ----------------------------------------------------------------------------------------------

def mem_row(model: str, dtype: str, quantity: str, estimate: int, measured: int, bar: str,
            note: str = "", **extra: Any) -> dict[str, Any]:
    """One comparison: ``rel_error = (estimate − measured) / measured``. ``bar``: ``exact``
    (equal integers), ``5%`` or ``info`` (recorded, no bar applies)."""
    rel = (estimate - measured) / measured if measured else 0.0
    applies = bar != "info"
    passed = (estimate == measured if bar == "exact" else abs(rel) <= PEAK_BAR) if applies \
        else None
    return {"model": model, "dtype": dtype, "quantity": quantity, "estimate": int(estimate),
            "measured": int(measured), "rel_error": rel, "bar": bar, "bar_applies": applies,
            "passed": passed, "note": note, **extra}


def memory_estimates(rec: dict[str, Any], gpu_id: str = "h200") -> dict[str, Any]:
    """The estimator's figures for one raw record (see :func:`measure_memory`)."""
    from .. import memory, training
    from ..hardware import get_gpu
    from ..hf import spec_from_hf_config
    from ..options import make_options

    spec = spec_from_hf_config(rec["hf_config"], name=rec["model"])
    dtype, w = rec["dtype"], rec["workload"]
    b, s = w["batch"], w["seq_len"]
    gpu = get_gpu(gpu_id)
    weights = sum(memory.weight_bytes(spec, dtype, vision=False).values())
    lay = memory.layout(spec, 1, 1, 1)
    am = memory.activation_model(spec, lay, memory.activation_bytes(dtype))
    kv = memory.kv_cache_bytes(spec, b, s, dtype, "engine")
    kv1 = memory.kv_cache_bytes(spec, b, s + 1, dtype, "engine")
    ws = memory.cublas_workspace_bytes(memory.CUBLAS_WORKSPACES_INFERENCE)
    out = {"weights": weights, "kv": kv, "kv_after_decode": kv1,
           "prefill_activations": am.peak(b * s, b), "decode_activations": am.peak(b, b),
           "workspace": ws}
    out["prefill_peak"] = weights + kv + out["prefill_activations"] + ws
    out["decode_peak"] = weights + kv1 + out["decode_activations"] + ws
    for recompute in ("none", "full"):
        opts = make_options(batch=w["train_batch"], seq_len=w["train_seq_len"], dtype=dtype,
                            micro_batch=w["train_batch"], num_gpus=1, gpu=gpu_id,
                            flash_attention=False, recompute=recompute,
                            activation_framework="megatron")
        tm = training.compute_memory(spec, opts, gpu)
        g = tm.to_dict()["per_gpu"]
        out[f"train_{recompute}"] = {
            "peak": tm.peak, "peak_moment": tm.worst.peak_moment,
            "weights": g["weights"], "master": g["master_weights"], "gradients": g["gradients"],
            "optimizer": g["optimizer"]}
    return out


def render_memory(raw: dict[str, Any]) -> dict[str, Any]:
    """Rows for every raw record: weights, KV cache, prefill and decode peaks, training states and
    training-step peaks (recompute none/full), allocated and reserved."""
    rows: list[dict[str, Any]] = []
    for rec in raw["records"]:
        e = memory_estimates(rec)
        m, dt = rec["model"], rec["dtype"]
        rows.append(mem_row(m, dt, "weights (tensor bytes)", e["weights"],
                            rec["weights_tensor_bytes"], "exact"))
        rows.append(mem_row(m, dt, "KV cache after prefill (tensor bytes)", e["kv"],
                            rec["kv_tensor_bytes"], "exact"))
        rows.append(mem_row(m, dt, "KV cache after one decode step (tensor bytes)",
                            e["kv_after_decode"], rec["kv_tensor_bytes_after_decode"], "exact"))
        sinks = rec["hf_config"].get("model_type") == "gpt_oss"
        for phase, label in (("prefill", "prefill peak"), ("decode", "decode-step peak")):
            note = ""
            if phase == "prefill" and sinks:
                note = ("attention with sinks runs as explicit matmuls (SDPA has no sinks), so "
                        "the s×s scores are live; the estimate assumes a fused kernel")
            elif phase == "prefill" and dt == "fp32":
                note = ("fp32 prefill: PyTorch's SDPA has no fused kernel for fp32 with grouped "
                        "K/V heads and falls back to the math kernel (s×s scores, repeated K/V "
                        "live); the estimate assumes a fused kernel, as engines serving 16-bit "
                        "weights run")
            rows.append(mem_row(m, dt, f"{label} (max_memory_allocated)", e[f"{phase}_peak"],
                                rec[phase]["max_allocated"], "info" if note else "5%", note,
                                activations_estimate=e[f"{phase}_activations"]))
            if rec[phase].get("max_reserved"):
                rows.append(mem_row(m, dt, f"{label} (max_memory_reserved)", e[f"{phase}_peak"],
                                    rec[phase]["max_reserved"], "info",
                                    "allocator segments, informational"))
        for recompute, st in rec["training"].items():
            t = e[f"train_{recompute}"]
            states = st["states"]
            tag = "" if recompute == "none" else ", full recompute"
            if recompute == "none":
                rows.append(mem_row(m, dt, "training weights + master (tensor bytes)",
                                    t["weights"] + t["master"],
                                    states["parameters"] + states["master"], "exact"))
                rows.append(mem_row(m, dt, "training gradients (tensor bytes)", t["gradients"],
                                    states["gradients"], "exact"))
                rows.append(mem_row(m, dt, "AdamW moments (tensor bytes)", t["optimizer"],
                                    states["optimizer_moments"], "exact",
                                    "scalar step counters (4 B per tensor) not included"))
            rows.append(mem_row(m, dt, f"training-step peak{tag} (max_memory_allocated)",
                                t["peak"], st["max_allocated"], "5%",
                                "activation_framework='megatron', flash_attention=False "
                                "(the reference's fused kernels)"))
            if st.get("max_reserved"):
                rows.append(mem_row(m, dt, f"training-step peak{tag} (max_memory_reserved)",
                                    t["peak"], st["max_reserved"], "info",
                                    "allocator segments, informational"))
    keys = ("device", "torch", "cuda", "date", "capability", "transformers", "python")
    applied = [r for r in rows if r["bar_applies"]]
    return {"schema": "moe-estimator/cuda-memory/1", **{k: raw.get(k) for k in keys},
            "device_type": raw.get("device_type"), "workload": raw["records"][0]["workload"]
            if raw["records"] else {}, "workspace_probe": raw.get("workspace_probe", {}),
            "errors": raw.get("errors", []), "rows": rows,
            "summary": {"rows": len(rows), "bar_applies": len(applied),
                        "passed": sum(1 for r in applied if r["passed"]),
                        "failed": [f"{r['model']} {r['dtype']} {r['quantity']}"
                                   for r in applied if not r["passed"]]}}


# ----------------------------------------------------------------------------------------------
# speed: measure
# ----------------------------------------------------------------------------------------------

#: Prefill lengths (batch 1), decode batches (context ``DECODE_CONTEXT`` tokens each).
PREFILL_SEQS = (512, 1024, 2048, 4096, 8192)
DECODE_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
DECODE_CONTEXT = 512
TRAIN_TOKENS = ((4, 1024), (4, 2048))  # micro-batch × sequence of the training timings


def _timed(fn, device: str, reps: int, warmup: int = 1) -> list[float]:
    """Seconds per call of ``fn``: CUDA events around each call after ``warmup`` calls (the
    GPU's own clock, no host overhead outside the region), or ``perf_counter`` on CPU."""
    torch = _torch()
    for _ in range(warmup):
        fn()
    out = []
    for _ in range(reps):
        if device == "cuda":
            a, b = torch.cuda.Event(enable_timing=True), torch.cuda.Event(enable_timing=True)
            a.record()
            fn()
            b.record()
            b.synchronize()
            out.append(a.elapsed_time(b) / 1e3)
        else:
            t = time.perf_counter()
            fn()
            out.append(time.perf_counter() - t)
    return out


def speed_configs(device: str) -> dict[str, dict[str, Any]]:
    """The timed models: real layer widths on CUDA (a 4-layer Mixtral-8x7B stack, a 4-layer
    Qwen3-30B-A3B stack; training: a medium-shrunk Mixtral and a 4-layer Mixtral at h = 2048),
    the small shrunk copies on CPU (the dry run)."""
    from ..presets import load_model
    from .shrink import shrink_hf_config

    mix = dict(load_model("mixtral-8x7b").hf_config)
    qwen = dict(load_model("qwen3-30b-a3b").hf_config)
    if device == "cuda":
        return {
            "mixtral-8x7b-4L": {**mix, "num_hidden_layers": 4},
            "qwen3-30b-a3b-4L": {**qwen, "num_hidden_layers": 4},
            "train:mixtral-medium": shrink_hf_config(mix, "medium"),
            "train:mixtral-h2048-4L": {**mix, "num_hidden_layers": 4, "hidden_size": 2048,
                                       "intermediate_size": 7168, "num_attention_heads": 16,
                                       "num_key_value_heads": 4},
        }
    small_mix, small_qwen = shrink_hf_config(mix), shrink_hf_config(qwen)
    return {"mixtral-8x7b-4L": small_mix, "qwen3-30b-a3b-4L": small_qwen,
            "train:mixtral-medium": small_mix, "train:mixtral-h2048-4L": small_mix}


def probe_hardware(device: str) -> dict[str, float]:
    """Achieved ceilings: a large bf16 GEMM (TFLOP/s) and a large device-to-device copy
    (TB/s, read + write counted), each the median of 10 after warm-up."""
    torch = _torch()
    if device != "cuda":
        return {}
    n = 8192
    a = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    b = torch.randn(n, n, device="cuda", dtype=torch.bfloat16)
    t = median(_timed(lambda a=a, b=b: a @ b, device, 10, 3))
    x = torch.empty(2**30, device="cuda", dtype=torch.uint8)  # 1 GiB
    y = torch.empty_like(x)
    tc = median(_timed(lambda x=x, y=y: y.copy_(x), device, 10, 3))
    del a, b, x, y
    return {"gemm_bf16_8192_tflops": 2 * n**3 / t / 1e12, "gemm_bf16_8192_s": t,
            "copy_1gib_tbs": 2 * 2**30 / tc / 1e12, "copy_1gib_s": tc}


#: GEMM rows swept by :func:`probe_kernels` against a Mixtral expert's up-projection
#: (4096 × 14336, bf16): from one decode token to a long prefill.
GEMM_ROWS = (1, 8, 32, 128, 512, 2048, 8192, 32768)
ATTENTION_SEQS = (1024, 4096, 16384)


def probe_kernels(device: str) -> dict[str, Any]:
    """What the kernels achieve, by size: bf16 GEMMs ``(M × 4096) · (4096 × 14336)`` for
    :data:`GEMM_ROWS` (TFLOP/s, and the weight bytes read per second — the small-M side is
    bandwidth-bound), and causal FlashAttention (SDPA, 32 query / 8 K/V heads of 128, batch 1)
    at :data:`ATTENTION_SEQS` (TFLOP/s counting the causal half, ``2·a·s²·d``)."""
    torch = _torch()
    import torch.nn.functional as F
    if device != "cuda":
        return {}
    K, N = 4096, 14336
    w = torch.randn(N, K, device="cuda", dtype=torch.bfloat16)
    gemm = []
    for m in GEMM_ROWS:
        x = torch.randn(m, K, device="cuda", dtype=torch.bfloat16)
        t = median(_timed(lambda x=x, w=w: F.linear(x, w), device, 10, 3))
        gemm.append({"m": m, "k": K, "n": N, "seconds": t, "tflops": 2 * m * K * N / t / 1e12,
                     "weight_tbs": K * N * 2 / t / 1e12})
        del x
    attn = []
    a, g, d = 32, 8, 128
    for s in ATTENTION_SEQS:
        q = torch.randn(1, a, s, d, device="cuda", dtype=torch.bfloat16)
        k = torch.randn(1, g, s, d, device="cuda", dtype=torch.bfloat16)
        v = torch.randn_like(k)
        t = median(_timed(lambda q=q, k=k, v=v: F.scaled_dot_product_attention(
            q, k, v, is_causal=True, enable_gqa=True), device, 10, 3))
        attn.append({"seq": s, "heads": a, "kv_heads": g, "head_dim": d, "seconds": t,
                     "tflops_causal": 2 * a * s * s * d / t / 1e12})
        del q, k, v
    del w
    return {"gemm_bf16": gemm, "sdpa_causal_bf16": attn}


def measure_speed(device: str = "cuda", reps: int = 11) -> dict[str, Any]:
    """Prefill, decode and training-step times (see module docstring), raw."""
    torch = _torch()
    from ..hf import spec_from_hf_config
    from .profile import make_inputs
    from .reference import Attention, StaticKVCache, build_reference

    t0 = time.perf_counter()
    out: dict[str, Any] = {"schema": SPEED_SCHEMA, **environment(device),
                           "hardware_probe": probe_hardware(device),
                           "kernel_probe": probe_kernels(device), "records": [],
                           "errors": []}
    cfgs = speed_configs(device)
    dt = torch.bfloat16 if device == "cuda" else torch.float32
    dtype = "bf16" if device == "cuda" else "fp32"
    for label, cfg in cfgs.items():
        if label.startswith("train:"):
            continue
        t1 = time.perf_counter()
        try:
            spec = spec_from_hf_config(cfg, name=label)
            model = build_reference(spec, device=device, dtype=dt).eval()
            model.set_inference_kernels(True)
            L = len(model.blocks)
            with torch.no_grad():
                for s in PREFILL_SEQS if device == "cuda" else (64, 128):
                    ids, _ = make_inputs(spec.vocab_size, 1, s, device)
                    ts = _timed(lambda ids=ids, m=model: m(ids, last_only=True), device, reps,
                                warmup=3)
                    out["records"].append({"kind": "prefill", "model": label, "hf_config": cfg,
                                           "dtype": dtype, "batch": 1, "seq": s, "times_s": ts,
                                           "median_s": median(ts)})
                ctx = DECODE_CONTEXT if device == "cuda" else 32
                for b in DECODE_BATCHES if device == "cuda" else (1, 4, 16):
                    cache = StaticKVCache(L, ctx + 1)
                    for blk in model.blocks:  # random keys/values of ctx past tokens
                        at = blk.attn
                        if isinstance(at, Attention):
                            shape = (b, at.g, ctx, at.d)
                            cache.update(at.layer, (torch.randn(shape, device=device, dtype=dt),
                                                    torch.randn(shape, device=device, dtype=dt)),
                                         None)
                    cache.seen = ctx
                    ids, _ = make_inputs(spec.vocab_size, b, 1, device, seed=b)
                    distinct: list[float] = []

                    def step(ids=ids, cache=cache, distinct=distinct, m=model, ctx=ctx):
                        cache.rewind(ctx)
                        m(ids, cache, last_only=True)
                        moe = m.moe_layers()
                        distinct.append(sum(sum(1 for c in x.last_tokens_per_expert if c)
                                            for x in moe) / max(len(moe), 1))

                    ts = _timed(step, device, reps, warmup=3)
                    out["records"].append({"kind": "decode", "model": label, "hf_config": cfg,
                                           "dtype": dtype, "batch": b, "seq": ctx,
                                           "times_s": ts, "median_s": median(ts),
                                           "distinct_experts_per_layer": distinct[3:]})
                    del cache
            del model
            _free(device)
        except Exception as e:  # noqa: BLE001
            out["errors"].append({"model": label, "error": f"{type(e).__name__}: {e}"})
        print(f"speed {label}: {time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)
    for label, cfg in cfgs.items():
        if not label.startswith("train:"):
            continue
        t1 = time.perf_counter()
        try:
            for b, sq in TRAIN_TOKENS if device == "cuda" else ((2, 32), (2, 64)):
                out["records"].append(_time_training(label, cfg, device, dt, dtype, reps, b, sq))
                _free(device)
        except Exception as e:  # noqa: BLE001
            out["errors"].append({"model": label, "error": f"{type(e).__name__}: {e}"})
        _free(device)
        print(f"speed {label}: {time.perf_counter() - t1:.1f} s", file=sys.stderr, flush=True)
    out["elapsed_s"] = round(time.perf_counter() - t0, 2)
    return out


def _time_training(label: str, cfg: dict, device: str, dt, dtype: str, reps: int, b: int,
                   s: int) -> dict:
    """Forward + backward, and the optimizer step, timed apart: bf16 weights and gradients,
    fused AdamW (states in the weights' dtype), SDPA attention, plain PyTorch ops."""
    torch = _torch()
    import torch.nn.functional as F

    from ..hf import spec_from_hf_config
    from .profile import make_inputs
    from .reference import build_reference

    spec = spec_from_hf_config(cfg, name=label)
    model = build_reference(spec, device=device, dtype=dt)
    model.set_inference_kernels(True)  # SDPA attention; the MoE layout only applies in no_grad
    ids, tgt = make_inputs(spec.vocab_size, b, s, device, seed=3,
                           head_vocab=spec.head_vocab_size)
    for p in model.parameters():
        p.grad = torch.zeros_like(p)
    try:
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    except (RuntimeError, ValueError):
        opt = torch.optim.AdamW(model.parameters(), lr=1e-4)

    def fwd_bwd():
        logits = model(ids)
        F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), tgt.reshape(-1)).backward()

    fb = _timed(fwd_bwd, device, reps, warmup=3)
    st = _timed(opt.step, device, reps, warmup=1)
    return {"kind": "train", "model": label, "hf_config": cfg, "dtype": dtype, "batch": b,
            "seq": s, "fwd_bwd_times_s": fb, "fwd_bwd_median_s": median(fb),
            "optimizer_times_s": st, "optimizer_median_s": median(st),
            "params": sum(p.numel() for p in model.parameters())}


# ----------------------------------------------------------------------------------------------
# speed: render and calibrate
# ----------------------------------------------------------------------------------------------

SPEED_BAR = 0.25  # calibrated model within 25% of each measured time
TRAIN_LAUNCH_FACTOR = 3  # forward + backward (two GEMMs per forward GEMM) launches


def speed_estimates(rec: dict[str, Any], gpu_id: str = "h200") -> dict[str, float]:
    """The estimator's figures for one timing record, with its default ``mfu``/``mbu``, and
    the operands the calibration fits on (FLOPs, bytes read, distinct experts, layers)."""
    from .. import flops, serving, steptime, training
    from ..hardware import get_gpu
    from ..hf import spec_from_hf_config
    from ..options import make_options

    spec = spec_from_hf_config(rec["hf_config"], name=rec["model"])
    gpu = get_gpu(gpu_id)
    dtype, b, s = rec["dtype"], rec["batch"], rec["seq"]
    L = spec.num_hidden_layers
    n_moe = len(spec.moe_layers) if spec.is_moe else 0
    if rec["kind"] == "train":
        opts = make_options(batch=b, seq_len=s, micro_batch=b, dtype=dtype, gpu=gpu_id,
                            num_gpus=1, attention_flops="causal")
        f = flops.training_flops(spec, b, s, "causal", "none")
        peak = gpu.peak_flops(dtype)
        mfu = opts.mfu or steptime.step_time(spec, opts, gpu).mfu  # 0 = the predicted MFU
        return {"estimate_s": training.training_seconds(f, 1, peak, mfu), "flops": f,
                "peak": peak,
                "mfu_default": mfu, "layers": L, "moe_layers": n_moe,
                "num_experts": spec.num_experts}
    opts = make_options(batch=b, seq_len=s, dtype=dtype, kv_dtype=dtype, gpu=gpu_id,
                        attention_flops="causal")
    rep = serving.compute(spec, opts, gpu)
    if rec["kind"] == "prefill":
        return {"estimate_s": rep.prefill_s, "flops": rep.prefill_flops,
                "bytes": rep.prefill_bytes, "peak": rep.peak_flops, "mfu_default": opts.mfu,
                "layers": L, "moe_layers": n_moe,
                "expected_distinct_experts": serving.expected_distinct_experts(
                    spec.num_experts, spec.num_experts_per_tok, b * s)}
    point = next(d for d in rep.decode if d.batch == b)
    return {"estimate_s": point.step_s, "bytes": point.bytes_read,
            "expected_distinct_experts": point.experts_touched_per_layer,
            "bandwidth": rep.bandwidth, "mbu_default": opts.mbu, "layers": L,
            "moe_layers": n_moe}


def _lstsq(X: list[list[float]], y: list[float]) -> list[float]:
    """Least squares of ``y ≈ X·β`` by the normal equations and Gauss-Jordan elimination with
    partial pivoting (a handful of parameters; no numpy in the estimator)."""
    n = len(X[0])
    A = [[sum(r[i] * r[j] for r in X) for j in range(n)] for i in range(n)]
    c = [sum(r[i] * t for r, t in zip(X, y)) for i in range(n)]
    for i in range(n):
        piv = max(range(i, n), key=lambda r: abs(A[r][i]))
        A[i], A[piv], c[i], c[piv] = A[piv], A[i], c[piv], c[i]
        for r in range(n):
            if r != i and A[i][i]:
                f = A[r][i] / A[i][i]
                A[r] = [a - f * b for a, b in zip(A[r], A[i])]
                c[r] -= f * c[i]
    return [c[i] / A[i][i] if A[i][i] else 0.0 for i in range(n)]


def calibrate(rows: list[dict[str, Any]], probe: dict[str, float],
              bandwidth: float) -> dict[str, Any]:
    """Few named parameters, each physical, fitted by relative least squares:

    * ``mbu`` — achieved fraction of the datasheet bandwidth, *measured* (not fitted) by the
      1 GiB device-to-device copy of :func:`probe_hardware`;
    * inference (prefill and decode rows together): ``t = FLOPs / (peak · mfu_prefill)``
      (prefill) or ``bytes / (bandwidth · mbu)`` (decode) ``+ L · layer_overhead_s +
      L_moe · E_b · expert_overhead_s``, where ``E_b`` is the *expected* number of distinct
      experts the step's tokens touch (``E·(1−(1−k/E)^T)``): launch and host time per layer and
      per touched expert of an eager implementation, so the calibrated model predicts from the
      spec alone;
    * training (forward + backward): ``t = FLOPs / (peak · mfu_train) +
      TRAIN_LAUNCH_FACTOR · (L · layer_overhead_s + L_moe · E · expert_overhead_s)`` — the
      backward launches two GEMMs per forward GEMM, so the inference overheads are reused ×3
      and only ``mfu_train`` is fitted.
    """
    out: dict[str, Any] = {}
    mbu = probe.get("copy_1gib_tbs", 0) * 1e12 / bandwidth if probe else 0.0
    out["mbu"] = mbu or None
    inf = [r for r in rows if r["kind"] in ("prefill", "decode")]
    if inf and mbu:
        X, y = [], []
        for r in inf:
            mem = r["bytes"] / (bandwidth * mbu) if r["kind"] == "decode" else 0.0
            comp = r["flops"] / r["peak"] if r["kind"] == "prefill" else 0.0
            X.append([comp, r["layers"], r["moe_layers"] * r["expected_distinct_experts"]])
            y.append(r["measured_s"] - mem)
            r["_mem"] = mem
        # fit on the time left after the measured-bandwidth term, weighted by the full time
        w = [r["measured_s"] for r in inf]
        inv_mfu, layer, expert = _lstsq_w(X, y, w)
        out.update(mfu_prefill=1 / inv_mfu if inv_mfu > 0 else None,
                   layer_overhead_s=layer, expert_overhead_s=expert)
        for r, x in zip(inf, X):
            r["calibrated_s"] = r.pop("_mem") + x[0] * inv_mfu + x[1] * layer + x[2] * expert
    tr = [r for r in rows if r["quantity"] == "train_fwd_bwd_s"]
    if tr and "layer_overhead_s" in out:
        over = [TRAIN_LAUNCH_FACTOR * (r["layers"] * out["layer_overhead_s"] + r["moe_layers"]
                                       * r["num_experts"] * out["expert_overhead_s"])
                for r in tr]
        (inv,) = _lstsq_w([[r["flops"] / r["peak"]] for r in tr],
                          [r["measured_s"] - o for r, o in zip(tr, over)],
                          [r["measured_s"] for r in tr])
        out["mfu_train"] = 1 / inv if inv > 0 else None
        for r, o in zip(tr, over):
            r["calibrated_s"] = r["flops"] / r["peak"] * inv + o
    for r in rows:
        if "calibrated_s" in r:
            r["calibrated_rel_error"] = (r["calibrated_s"] - r["measured_s"]) / r["measured_s"]
            r["passed"] = abs(r["calibrated_rel_error"]) <= SPEED_BAR
    out["residuals"] = {q: max((abs(r["calibrated_rel_error"]) for r in rows
                                if r["quantity"] == q and "calibrated_rel_error" in r),
                               default=None)
                        for q in ("prefill_s", "decode_step_s", "train_fwd_bwd_s")}
    return out


def _lstsq_w(X: list[list[float]], y: list[float], w: list[float]) -> list[float]:
    """Least squares of ``y ≈ X·β`` with each row divided by ``w`` (relative errors of the
    measured times, so short and long steps weigh alike)."""
    return _lstsq([[v / wi for v in x] for x, wi in zip(X, w)], [yi / wi for yi, wi in zip(y, w)])


def render_speed(raw: dict[str, Any], gpu_id: str = "h200") -> dict[str, Any]:
    """Rows (``prefill_s``, ``decode_step_s``, ``train_fwd_bwd_s``, ``optimizer_step_s``): the
    estimator's default roofline beside each median time, then the calibrated model's."""
    rows: list[dict[str, Any]] = []
    for rec in raw["records"]:
        e = speed_estimates(rec, gpu_id)
        base = {"model": rec["model"], "kind": rec["kind"], "batch": rec["batch"],
                "seq": rec["seq"], "dtype": rec["dtype"]}
        if rec["kind"] == "train":
            measured = rec["fwd_bwd_median_s"]
            q = "train_fwd_bwd_s"
        else:
            measured = rec["median_s"]
            q = "prefill_s" if rec["kind"] == "prefill" else "decode_step_s"
        row = {**base, "quantity": q, "estimate": e["estimate_s"], "measured": measured,
               "rel_error": (e["estimate_s"] - measured) / measured, "bar_applies": True,
               "measured_s": measured, "layers": e["layers"]}
        if rec["kind"] == "decode":
            dist = rec["distinct_experts_per_layer"]
            row.update(bytes=e["bytes"], bandwidth_peak=e["bandwidth"] / e["mbu_default"],
                       moe_layers=e["moe_layers"],
                       expected_distinct_experts=e["expected_distinct_experts"],
                       measured_distinct_experts=sum(dist) / len(dist) if dist else None)
        else:
            row.update(flops=e["flops"], peak=e["peak"], moe_layers=e["moe_layers"])
            if rec["kind"] == "prefill":
                row["expected_distinct_experts"] = e["expected_distinct_experts"]
            else:
                row["num_experts"] = e["num_experts"]
        rows.append(row)
        if rec["kind"] == "train":
            rows.append({**base, "quantity": "optimizer_step_s", "estimate": None,
                         "measured": rec["optimizer_median_s"], "rel_error": None,
                         "bar_applies": False, "passed": None,
                         "note": "not modelled by the estimator (a memory-bound pass over "
                                 "weights, gradients and two moments)"})
    from ..hardware import get_gpu
    cal = calibrate(rows, raw.get("hardware_probe") or {}, get_gpu(gpu_id).bandwidth_bytes_s)
    keys = ("device", "torch", "cuda", "date", "capability", "transformers", "python")
    return {"schema": "moe-estimator/cuda-speed/1", **{k: raw.get(k) for k in keys},
            "hardware_probe": raw.get("hardware_probe", {}),
            "kernel_probe": raw.get("kernel_probe", {}), "errors": raw.get("errors", []),
            "calibration": cal, "bar": f"calibrated model within {SPEED_BAR:.0%}",
            "repetitions": max((len(r.get("times_s") or r.get("fwd_bwd_times_s") or [])
                                for r in raw["records"]), default=0),
            "rows": rows}


# ----------------------------------------------------------------------------------------------
# command line
# ----------------------------------------------------------------------------------------------

def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m estimator.validation.gpu")
    sub = p.add_subparsers(dest="cmd", required=True)
    for name in ("memory", "speed"):
        q = sub.add_parser(name, help=f"measure {name} (raw JSON; no estimates)")
        q.add_argument("--device", choices=("cpu", "cuda"), default="cuda")
        q.add_argument("--out", required=True, help="output folder")
        if name == "memory":
            q.add_argument("--models", default=",".join(MEMORY_MODELS))
    r = sub.add_parser("render", help="estimates beside a raw file's measurements")
    r.add_argument("raw", nargs="+")
    r.add_argument("--out", required=True, help="output folder")
    args = p.parse_args(argv)
    os.makedirs(args.out, exist_ok=True)
    if args.cmd in ("memory", "speed"):
        torch = _torch()
        if args.device == "cuda" and not torch.cuda.is_available():
            print("error: device=cuda: CUDA is not available", file=sys.stderr)
            return 2
        raw = (measure_memory(models=tuple(args.models.split(",")), device=args.device)
               if args.cmd == "memory" else measure_speed(args.device))
        path = os.path.join(args.out, f"cuda-{args.cmd}-raw.json")
        with open(path, "w", encoding="utf-8") as f:
            json.dump(raw, f, indent=1)
        print(f"wrote {path}: {len(raw['records'])} records, {len(raw['errors'])} errors "
              f"in {raw['elapsed_s']} s")
        return 0 if not raw["errors"] else 1
    return render_files(args.raw, args.out)


def render_files(paths: list[str], out_dir: str) -> int:
    """Render each raw file (memory or speed, told apart by its schema) into ``out_dir`` as
    ``cuda.json`` + ``cuda.md`` (memory) or ``cuda-speed.json`` + ``cuda-speed.md`` (speed)."""
    status = 0
    raws = []
    for path in paths:
        with open(path, encoding="utf-8") as f:
            raws.append((path, json.load(f)))
    speed_runs = [(p, r) for p, r in raws if r.get("schema") == SPEED_SCHEMA]
    for path, raw in raws:
        if raw.get("schema") == MEMORY_SCHEMA:
            rep, stem, md = render_memory(raw), "cuda", memory_markdown
            status |= bool(rep["summary"]["failed"])
        elif raw.get("schema") == SPEED_SCHEMA:
            if (path, raw) != speed_runs[-1]:
                continue  # earlier runs appear in the last one's run-to-run table
            rep, stem, md = render_speed(raw), "cuda-speed", speed_markdown
            rep["runs"] = [run_summary(p, r) for p, r in speed_runs]
        else:
            print(f"error: {path}: not a raw GPU measurement file", file=sys.stderr)
            return 2
        rep["raw_file"] = os.path.relpath(path, out_dir)
        with open(os.path.join(out_dir, f"{stem}.json"), "w", encoding="utf-8") as f:
            json.dump(rep, f, indent=1)
            f.write("\n")
        with open(os.path.join(out_dir, f"{stem}.md"), "w", encoding="utf-8") as f:
            f.write(md(rep) + "\n")
        print(f"wrote {stem}.json and {stem}.md in {out_dir}")
    return status


def run_summary(path: str, raw: dict[str, Any]) -> dict[str, Any]:
    """One speed run's calibration, its hardware probe and its largest residuals."""
    r = render_speed(raw)
    return {"raw_file": path, "hardware_probe": r["hardware_probe"],
            "calibration": {k: v for k, v in r["calibration"].items() if k != "residuals"},
            "residuals": r["calibration"]["residuals"]}


def _env_line(rep: dict[str, Any]) -> str:
    return (f"{rep.get('device')} (compute capability {rep.get('capability')}), torch "
            f"{rep.get('torch')}, CUDA {rep.get('cuda')}, Python {rep.get('python')}, measured "
            f"{rep.get('date')}")


def _mib(v: int) -> str:
    return f"{v:,} ({v / 2**20:,.1f} MiB)"


def memory_markdown(rep: dict[str, Any]) -> str:
    from .cli import Footnotes

    s, w = rep["summary"], rep["workload"]
    lines = [
        "# CUDA memory: estimator vs the caching allocator",
        "",
        f"{_env_line(rep)}. Raw measurements: `{rep.get('raw_file', '')}`; estimates rendered "
        "by `python -m estimator.validation.gpu render` with the current estimator.",
        "",
        f"Models: the presets shrunk to GPU size (`shrink` size `medium`: head width 128, "
        f"h = 512–1024, 2 layers of each kind). Inference: batch {w.get('batch')} × "
        f"{w.get('seq_len')} prompt tokens, SDPA attention (except layers with sinks), "
        "fused-MoE buffer layout, last-position logits, then one decode step. Training: "
        f"{w.get('train_batch')} × {w.get('train_seq_len')} tokens, fused kernels (Megatron "
        "saved-tensor set), explicit attention; fp32 = fp32 weights/grads/AdamW, bf16 = bf16 "
        "weights and grads + fp32 master and moments (16 B/param); one step after two warm-up "
        "steps.",
        "",
        f"**{s['passed']} of {s['bar_applies']} rows with a bar within it** (exact for tensor "
        "bytes, 5% for peaks); informational rows (reserved memory, a kernel the estimate does "
        "not describe) carry no bar.",
        "",
        "| model | dtype | quantity | estimate (B) | measured (B) | error | bar | ok |",
        "|---|---|---|--:|--:|--:|:-:|:-:|",
    ]
    notes = Footnotes()
    for r in rep["rows"]:
        err = "0 (equal)" if r["estimate"] == r["measured"] else f"{100 * r['rel_error']:+.2f}%"
        ok = "—" if r["passed"] is None else ("✓" if r["passed"] else "✗")
        lines.append(f"| {r['model']} | {r['dtype']} | {r['quantity']}{notes.mark(r['note'])} | "
                     f"{_mib(r['estimate'])} | {_mib(r['measured'])} | {err} | {r['bar']} | "
                     f"{ok} |")
    lines += notes.lines()
    probe = rep.get("workspace_probe") or {}
    if probe:
        lines += ["", "Allocator bytes held after the first GEMM / backward of the process "
                  "(cuBLAS workspaces, allocated through the caching allocator): "
                  + ", ".join(f"{k} {v:,} B" for k, v in probe.items()) + "."]
    if rep.get("errors"):
        lines += ["", "Errors during the run:", ""]
        lines += [f"- {e['model']} {e.get('dtype', '')}: {e['error']}" for e in rep["errors"]]
    return "\n".join(lines)


def speed_markdown(rep: dict[str, Any]) -> str:
    cal, hw = rep["calibration"], rep.get("hardware_probe") or {}
    lines = [
        "# CUDA speed: measured times vs the roofline, and the calibrated model",
        "",
        f"{_env_line(rep)}. Raw measurements: `{rep.get('raw_file', '')}`.",
        "",
        f"Timed with CUDA events, median of {rep.get('repetitions')} after warm-up, bf16, the "
        "reference decoder "
        "(eager PyTorch, SDPA attention, fused-MoE buffer layout with one GEMM pair per "
        "touched expert). `estimate` = the estimator's default roofline (mfu 0.4, mbu 0.8, "
        "causal attention FLOPs); `calibrated` = the model below with the fitted parameters.",
        "",
    ]
    if hw:
        lines += [f"Achieved ceilings: bf16 GEMM 8192³ {hw['gemm_bf16_8192_tflops']:.0f} "
                  f"TFLOP/s; 1 GiB device copy {hw['copy_1gib_tbs']:.2f} TB/s (read + write).",
                  ""]
    kp = rep.get("kernel_probe") or {}
    if kp.get("gemm_bf16"):
        peak = 989.0
        lines += ["Achieved by size (bf16 GEMM `(M × 4096)·(4096 × 14336)`; fraction of the "
                  f"{peak:.0f} TFLOP/s datasheet peak; weight bytes read per second):", "",
                  "| M | TFLOP/s | of peak | weights TB/s |", "|--:|--:|--:|--:|"]
        lines += [f"| {r['m']} | {r['tflops']:.1f} | {r['tflops'] / peak:.1%} | "
                  f"{r['weight_tbs']:.2f} |" for r in kp["gemm_bf16"]]
        lines += ["", "Causal FlashAttention (SDPA, 32/8 heads × 128, batch 1; FLOPs of the "
                  "causal half): " + ", ".join(
                      f"s = {r['seq']}: {r['tflops_causal']:.0f} TFLOP/s"
                      for r in kp.get("sdpa_causal_bf16", [])) + ".", ""]
    fit = {k: v for k, v in cal.items() if k != "residuals"}
    lines += ["Fitted parameters: " + ", ".join(
        f"`{k}` = {v:.4g}" if isinstance(v, float) else f"`{k}` = {v}" for k, v in fit.items())
        + ".", "",
        "Largest |residual| of the calibrated model: " + ", ".join(
            f"{k} {100 * v:.1f}%" for k, v in cal["residuals"].items() if v is not None)
        + f" (bar: {rep['bar']}).", "",
        "| model | quantity | batch | seq | distinct experts/layer (measured / expected) | "
        "measured (ms) | estimate (ms) | error | calibrated (ms) | residual |",
        "|---|---|--:|--:|--:|--:|--:|--:|--:|--:|"]
    for r in rep["rows"]:
        ex = ""
        if r.get("expected_distinct_experts") is not None and r.get(
                "measured_distinct_experts") is not None:
            ex = f"{r['measured_distinct_experts']:.2f} / {r['expected_distinct_experts']:.2f}"
        est = "—" if r["estimate"] is None else f"{1e3 * r['estimate']:.3f}"
        err = "—" if r["rel_error"] is None else f"{100 * r['rel_error']:+.1f}%"
        calv = "—" if r.get("calibrated_s") is None else f"{1e3 * r['calibrated_s']:.3f}"
        res = ("—" if r.get("calibrated_rel_error") is None
               else f"{100 * r['calibrated_rel_error']:+.1f}%")
        lines.append(f"| {r['model']} | {r['quantity']} | {r['batch']} | {r['seq']} | {ex} | "
                     f"{1e3 * r['measured']:.3f} | {est} | {err} | {calv} | {res} |")
    runs = rep.get("runs") or []
    if len(runs) > 1:
        keys = [k for k in runs[-1]["calibration"]]
        lines += ["", "Run to run (each run a separate machine lease; the table above is the "
                  "last). GPU-bound figures repeat; the eager model's host overheads do not:", "",
                  "| run | GEMM TFLOP/s | copy TB/s | " + " | ".join(keys)
                  + " | max residual prefill / decode / train |",
                  "|---|--:|--:|" + "--:|" * len(keys) + ":-:|"]
        for run in runs:
            hw, c, res = run["hardware_probe"], run["calibration"], run["residuals"]
            vals = [f"{c[k]:.3g}" if isinstance(c.get(k), float) else str(c.get(k))
                    for k in keys]
            r3 = " / ".join("—" if res.get(q) is None else f"{100 * res[q]:.0f}%"
                            for q in ("prefill_s", "decode_step_s", "train_fwd_bwd_s"))
            lines.append(f"| `{run['raw_file']}` | {hw.get('gemm_bf16_8192_tflops', 0):.0f} | "
                         f"{hw.get('copy_1gib_tbs', 0):.2f} | " + " | ".join(vals)
                         + f" | {r3} |")
    if rep.get("errors"):
        lines += ["", "Errors during the run:", ""]
        lines += [f"- {e['model']}: {e['error']}" for e in rep["errors"]]
    return "\n".join(lines)


if __name__ == "__main__":
    raise SystemExit(main())
