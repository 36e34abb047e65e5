"""Estimate vs measurement, row by row, for shrunk real architectures.

For each model (a preset slug, shrunk by :mod:`estimator.validation.shrink`, or a user's spec)
two implementations are measured (:mod:`estimator.validation.profile`):

* ``reference`` — our eager PyTorch decoder (:mod:`estimator.validation.reference`), built from
  the same :class:`~estimator.spec.ModelSpec` the estimator reads;
* ``transformers`` — Hugging Face's own model class for the family (when transformers is
  installed), eager attention and eager experts.

and each measurement is put next to the estimator's figure for the same workload and
conventions. Bars (never widened to pass):

* ``exact``: parameters, weight bytes, KV-cache bytes, training gradients and optimizer states;
* ``0.5%``: forward FLOPs and one training step's FLOPs (full-attention convention);
* ``10%``: training-step peak memory and the saved activations (reference model only): the
  fused-kernel reference against ``activation_framework="megatron"``, the same model with plain
  PyTorch ops (``reference-eager``) against ``activation_framework="pytorch_eager"``.

Training memory is measured in fp32 (weights, gradients and AdamW moments in fp32 =
16 bytes/parameter, 4-byte activations), batch ``micro_batch``, persistent gradient buffers
(``zero_grad(set_to_none=False)``, as DDP/FSDP/Megatron keep them), eager attention (the
``s×s`` probabilities are saved, so the estimator runs with ``flash_attention=False``).
"""

from __future__ import annotations

import contextlib
import datetime
import platform
import time
from typing import Any

import torch

from .. import __version__, flops, memory, training
from ..errors import EstimatorError
from ..hardware import get_gpu
from ..hf import spec_from_hf_config
from ..options import make_options
from ..params import count_params
from ..presets import Model, load_model
from ..spec import ModelSpec
from . import budget
from . import profile as P
from .budget import FULL, QUICK, Workload  # noqa: F401  (re-exported)
from .reference import build_reference

SCHEMA = "moe-estimator/validation/1"
#: Largest model (parameters) we instantiate for real; bigger ones are refused, not attempted.
MAX_PARAMS = 200_000_000
#: Bars: relative tolerance of each kind (0 = exact integer equality).
BARS = {"exact": 0.0, "0.5%": 0.005, "10%": 0.10}
EXACT_BAR = "exact"

#: Default models: dense GQA, Mixtral-like, shared experts + gate, MLA + shared experts,
#: fine-grained many-expert (two of them: 128 and 256 experts), gpt-oss (sinks, sliding window,
#: biases), Llama-4 (chunked attention, interleaved MoE, shared expert).
DEFAULT_MODELS = ("llama-3-8b", "mixtral-8x7b", "qwen1.5-moe-a2.7b", "deepseek-v2-lite",
                  "qwen3-30b-a3b", "gpt-oss-20b", "deepseek-v3", "llama-4-maverick")
QUICK_MODELS = ("llama-3-8b", "mixtral-8x7b", "deepseek-v2-lite", "gpt-oss-20b")
#: The estimator's ``activation_framework`` that describes each kernel set of the reference.
FRAMEWORK_OF_KERNELS = {"fused": "megatron", "eager": "pytorch_eager"}


# Workload shapes (QUICK, FULL) live in budget.py, torch-free, so the app can cost a run.


# ----------------------------------------------------------------------------------------------
# rows
# ----------------------------------------------------------------------------------------------

def row(model: str, impl: str, quantity: str, unit: str, estimate: int | float,
        measured: int | float, bar: str, note: str = "") -> dict[str, Any]:
    """One comparison. ``rel_error = (estimate − measured) / measured``; ``passed`` against the
    bar (exact: equal integers)."""
    rel = (estimate - measured) / measured if measured else (0.0 if estimate == measured
                                                            else float("inf"))
    passed = estimate == measured if bar == EXACT_BAR else abs(rel) <= BARS[bar]
    return {"model": model, "implementation": impl, "quantity": quantity, "unit": unit,
            "estimate": estimate, "measured": measured, "rel_error": rel, "bar": bar,
            "passed": bool(passed), "note": note}


# ----------------------------------------------------------------------------------------------
# subjects
# ----------------------------------------------------------------------------------------------

def _weight_rows(name: str, impl: str, spec, model) -> list[dict]:
    """Parameters and fp32 weight bytes: exact for every implementation. The models measured
    are language models (a wrapper's vision tower is not built), so weights leave it out."""
    return [row(name, impl, "parameters", "params", count_params(spec).total,
                P.param_count(model), "exact"),
            row(name, impl, "inference weights (fp32)", "bytes",
                sum(memory.weight_bytes(spec, "fp32", vision=False).values()),
                P.weights_bytes(model) + P.buffer_bytes(model), "exact")]


def transformers_version() -> str | None:
    try:
        import transformers
    except ImportError:
        return None
    return transformers.__version__


def _hf_model(cfg: dict[str, Any], device: str):
    import warnings

    import transformers
    from transformers import AutoConfig, AutoModelForCausalLM

    transformers.logging.set_verbosity_error()
    c = dict(cfg["text_config"] if cfg["model_type"] == "llama4" else cfg)
    mt = c.pop("model_type")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        hf_cfg = AutoConfig.for_model(mt, **c)
        torch.manual_seed(0)
        model = AutoModelForCausalLM.from_config(hf_cfg, attn_implementation="eager",
                                                 experts_implementation="eager",
                                                 dtype=torch.float32)
    return model.to(device).eval()


def _implementation_extra(model, flop_counts: dict[str, int]) -> tuple[int, str]:
    """Measured FLOPs transformers' code spends beyond what the model defines (REFERENCE §5):
    ``Llama4TextExperts`` runs every expert on every token (routing weights zero the unused),
    so ``(E − k)/E`` of its measured FLOPs are removed. Returns (FLOPs, note)."""
    extra, note = 0, ""
    root = type(model).__name__
    for name, mod in model.named_modules():
        if type(mod).__name__ == "Llama4TextMoe":
            key = f"{root}.{name}.experts"
            E, k = mod.num_experts, mod.top_k
            extra += flop_counts.get(key, 0) * (E - k) // E
            note = ("transformers' Llama4TextExperts multiplies all E experts by every token; "
                    "the measured count minus (E-k)/E of its expert FLOPs is shown")
    return extra, note


# ----------------------------------------------------------------------------------------------
# one model
# ----------------------------------------------------------------------------------------------

def _opts(w: Workload, **kw):
    return make_options(batch=kw.pop("batch", w.batch), seq_len=kw.pop("seq_len", w.seq_len),
                        dtype="fp32", kv_dtype="fp32", num_gpus=1, **kw)


def validate_reference(name: str, spec: ModelSpec, w: Workload, device: str,
                       eager: bool = True) -> tuple[list[dict], dict]:
    """Rows for our reference model of ``spec`` (fused kernels, compared with the estimator's
    ``activation_framework="megatron"``; see the module docstring for the bars), plus, if
    ``eager``, the training-memory rows of the same model with plain eager PyTorch kernels (what
    a straightforward PyTorch training loop holds), compared with ``"pytorch_eager"``."""
    rows: list[dict] = []
    impl = "reference"
    model = build_reference(spec, device=device, kernels="fused")
    call = P.reference_call
    ids, targets = P.make_inputs(spec.vocab_size, w.batch, w.seq_len, device,
                                 head_vocab=spec.head_vocab_size)
    rows += _weight_rows(name, impl, spec, model)
    kv = P.kv_cache_reference(model, ids)
    rows.append(row(name, impl, "KV cache (fp32)", "bytes",
                    memory.kv_cache_bytes(spec, w.batch, w.seq_len, "fp32", "engine"),
                    kv["bytes"], "exact",
                    "MLA: compressed latent (engine layout)" if spec.mla else ""))
    rows.append(row(name, impl, "forward FLOPs", "FLOP",
                    flops.forward_flops(spec, w.batch, w.seq_len, "full").total,
                    P.forward_flops(model, ids, call)["total"], "0.5%"))
    tb, ts = w.train_batch, w.train_seq_len
    tids, ttargets = P.make_inputs(spec.vocab_size, tb, ts, device, seed=2,
                                     head_vocab=spec.head_vocab_size)
    rows.append(row(name, impl, "training-step FLOPs", "FLOP",
                    flops.training_flops(spec, tb, ts, "full", "none"),
                    P.train_flops(model, tids, ttargets, call)["total"], "0.5%"))
    opts = _opts(w, batch=tb, seq_len=ts, micro_batch=tb, flash_attention=False)
    gpu = get_gpu(opts.gpu)
    est = training.compute_memory(spec, opts, gpu)
    e = est.to_dict()
    g = e["per_gpu"]
    mem = P.training_memory(model, tids, ttargets, call)
    states = mem["states"]
    rows.append(row(name, impl, "training weights", "bytes", g["weights"] + g["master_weights"],
                    states["parameters"], "exact"))
    rows.append(row(name, impl, "training gradients", "bytes", g["gradients"],
                    states["gradients"], "exact"))
    rows.append(row(name, impl, "optimizer states (AdamW moments)", "bytes", g["optimizer"],
                    states["optimizer_moments"], "exact",
                    "AdamW's scalar step counters (4 B per parameter tensor) not included"))
    info: dict[str, Any] = {"kv_cache": kv}
    # each kernel set is compared with the estimator's description of the same framework
    for kernels in ("fused", "eager") if eager else ("fused",):
        framework = FRAMEWORK_OF_KERNELS[kernels]
        if kernels == "eager":
            model = build_reference(spec, device=device, kernels="eager")
            mem = P.training_memory(model, tids, ttargets, call)
            est = training.compute_memory(spec, opts.replace(activation_framework=framework),
                                          gpu)
            e = est.to_dict()
            g = e["per_gpu"]
        saved_est = g["activations"] + e["activation_breakdown"]["logits_saved"]
        label = impl if kernels == "fused" else "reference-eager"
        what = ("fused kernels (kernels.py)" if kernels == "fused"
                else "plain eager PyTorch autograd")
        rows.append(row(name, label, "saved activations after forward", "bytes", saved_est,
                        mem["after_forward"]["activations"], "10%",
                        f"measured: {what}; estimate: activation_framework='{framework}', "
                        "activations + saved fp32 loss tensor"))
        rows.append(row(name, label, "training-step peak", "bytes", est.tensor_peak,
                        mem["peak"]["total"], "10%",
                        f"activation_framework='{framework}'; measured peak during the "
                        f"{mem['peak_phase']}"))
        if "cuda_max_allocated" in mem:
            rows.append(row(name, label, "training-step peak (CUDA max_memory_allocated)",
                            "bytes", est.peak, mem["cuda_max_allocated"], "10%",
                            "torch.cuda.max_memory_allocated over one step after a warm-up "
                            "step; the CUDA context is outside it"))
        info[f"training_memory_{kernels}"] = mem
        info[f"estimate_training_{kernels}"] = {
            "activation_framework": framework, "peak": est.tensor_peak,
            "peak_moment": e["peak_moment"], "per_gpu": g,
            "activation_breakdown": e["activation_breakdown"]}
    if eager:  # informational: inference forward peak (eager, all-position logits)
        info["forward_memory"] = P.forward_memory(model, ids, call)
        info["estimate_inference_activations"] = memory.compute(
            spec, opts.replace(batch=w.batch, seq_len=w.seq_len), get_gpu(opts.gpu)
        ).to_dict()["activations_breakdown"]
    return rows, info


def validate_transformers(name: str, cfg: dict[str, Any], w: Workload, device: str,
                          kv_layout: str = "engine", memory_info: bool = False
                          ) -> tuple[list[dict], dict]:
    """Rows for transformers' own model class of the shrunk config ``cfg`` (MLA: transformers
    5.x caches the compressed latent, the ``engine`` layout). ``memory_info`` adds, as
    information only, the training-step memory of transformers' eager code."""
    rows: list[dict] = []
    impl = "transformers"
    spec = spec_from_hf_config(cfg, name=name)
    model = _hf_model(cfg, device)
    ids, targets = P.make_inputs(spec.vocab_size, w.batch, w.seq_len, device,
                                 head_vocab=spec.head_vocab_size)
    rows += _weight_rows(name, impl, spec, model)
    kv = P.kv_cache_hf(model, ids)
    rows.append(row(name, impl, "KV cache (fp32)", "bytes",
                    memory.kv_cache_bytes(spec, w.batch, w.seq_len, "fp32", kv_layout),
                    kv["bytes"], "exact"))
    fwd = P.forward_flops(model, ids, P.hf_call)
    extra, note = _implementation_extra(model, fwd["by_module"])
    rows.append(row(name, impl, "forward FLOPs", "FLOP",
                    flops.forward_flops(spec, w.batch, w.seq_len, "full").total,
                    fwd["total"] - extra, "0.5%", note))
    tb, ts = w.train_batch, w.train_seq_len
    tids, ttargets = P.make_inputs(spec.vocab_size, tb, ts, device, seed=2,
                                     head_vocab=spec.head_vocab_size)
    tr = P.train_flops(model, tids, ttargets, P.hf_call)
    extra, note = _implementation_extra(model, tr["by_module"])
    rows.append(row(name, impl, "training-step FLOPs", "FLOP",
                    flops.training_flops(spec, tb, ts, "full", "none"), tr["total"] - extra,
                    "0.5%", note))
    info: dict[str, Any] = {"kv_cache": kv}
    if memory_info:  # informational: what transformers' eager code keeps for backward
        mem = P.training_memory(model, tids, ttargets, P.hf_call)
        opts = _opts(w, batch=tb, seq_len=ts, micro_batch=tb, flash_attention=False)
        measured = mem["after_forward"]["activations"]
        info["training_memory"] = mem
        for framework in ("megatron", "pytorch_eager"):
            e = training.compute_memory(spec, opts.replace(activation_framework=framework),
                                        get_gpu(opts.gpu)).to_dict()
            saved_est = e["per_gpu"]["activations"] + e["activation_breakdown"]["logits_saved"]
            key = ("saved_activations_vs_estimate" if framework == "megatron"
                   else "saved_activations_vs_pytorch_eager_estimate")
            info[key] = {"measured": measured, "estimate": saved_est,
                         "ratio": measured / saved_est}
    return rows, info


# ----------------------------------------------------------------------------------------------
# entry points
# ----------------------------------------------------------------------------------------------

def _check_device(device: str) -> None:
    if device not in ("cpu", "cuda"):
        raise EstimatorError("device", device, "must be 'cpu' or 'cuda'")
    if device == "cuda" and not torch.cuda.is_available():
        raise EstimatorError("device", "cuda", "CUDA is not available on this machine "
                             f"(torch {torch.__version__})")


def check_size(spec: ModelSpec, max_params: int) -> int:
    """Refuse to instantiate ``spec`` above ``max_params`` (one line, before any allocation).

    The count is :func:`estimator.count_params`, which equals the meta-device count of both
    the reference model and transformers' class for every preset (the ``parameters`` rows)."""
    n = count_params(spec).total
    if n > max_params:
        raise EstimatorError("model", spec.name,
                             f"{n:,} parameters exceeds the {max_params:,}-parameter cap for "
                             "real instantiation (validate the shrunk copy instead)")
    return n


def _environment(device: str) -> dict[str, Any]:
    env = {"torch": torch.__version__, "transformers": transformers_version(),
           "estimator": __version__, "python": platform.python_version(),
           "device": device, "cpu": cpu_model(), "threads": torch.get_num_threads()}
    if device == "cuda":
        env["gpu"] = torch.cuda.get_device_name(0)
    return env


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _summary(rows: list[dict]) -> dict[str, Any]:
    failed = [r for r in rows if not r["passed"]]
    return {"rows": len(rows), "passed": len(rows) - len(failed), "failed": len(failed),
            "exact_failed": sum(1 for r in failed if r["bar"] == EXACT_BAR),
            "worst_by_quantity": _worst(rows)}


def _worst(rows: list[dict]) -> dict[str, float]:
    """Largest |rel_error| per ``implementation: quantity``."""
    out: dict[str, float] = {}
    for r in rows:
        q = f"{r['implementation']}: {r['quantity']}"
        out[q] = max(out.get(q, 0.0), abs(r["rel_error"]))
    return out


def validate_model(source: Any, w: Workload, device: str = "cpu", shrink: bool = True,
                   max_params: int = MAX_PARAMS, implementations=("reference", "transformers"),
                   eager: bool = True) -> tuple[list[dict], dict]:
    """Rows for one model (a preset slug, file, dict, :class:`Model` or spec)."""
    m: Model = load_model(source)
    name = m.spec.name
    spec, hf_cfg = budget.planned(m, shrink)
    check_size(spec, max_params)
    use_ref = "reference" in implementations and spec.moa is None
    use_hf = ("transformers" in implementations and hf_cfg is not None
              and transformers_version() is not None)
    budget.check(spec, w, max(1, use_ref + use_hf))  # memory and time, before building
    rows: list[dict] = []
    info: dict[str, Any] = {"spec": _spec_summary(spec), "shrunk": shrink}
    if use_ref:
        r, i = validate_reference(name, spec, w, device, eager)
        rows += r
        info["reference"] = i
    if use_hf:
        r, i = validate_transformers(name, hf_cfg, w, device, memory_info=eager)
        rows += r
        info["transformers"] = i
    return rows, info


def _spec_summary(s: ModelSpec) -> dict[str, Any]:
    return {"model_type": s.model_type, "layers": s.num_hidden_layers, "hidden": s.hidden_size,
            "heads": s.num_attention_heads, "kv_heads": s.num_key_value_heads,
            "head_dim": s.head_dim, "vocab": s.vocab_size, "experts": s.num_experts,
            "top_k": s.num_experts_per_tok, "moe_layers": list(s.moe_layers),
            "sliding_window": s.sliding_window,
            "sliding_window_layers": list(s.sliding_window_layers),
            "mla": bool(s.mla), "params": count_params(s).total}


@contextlib.contextmanager
def _threads(n: int | None):
    """Run with ``n`` intra-op threads (the shrunk models' matmuls are tiny: one thread is
    faster than two and leaves the other core to whoever shares the machine)."""
    if n is None:
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def _report(models: list[str], rows: list[dict], info: dict, w: Workload, quick: bool,
            device: str, t0: float) -> dict[str, Any]:
    return {
        "schema": SCHEMA,
        "date": datetime.date.today().isoformat(),
        **_environment(device),
        "quick": quick,
        "workload": w.to_dict(),
        "conventions": conventions(),
        "models": models,
        "rows": rows,
        "summary": _summary(rows),
        "info": info,
        "elapsed_s": round(time.perf_counter() - t0, 2),
    }


def run_validation(models=None, quick: bool = True, device: str = "cpu", shrink: bool = True,
                   max_params: int = MAX_PARAMS, implementations=("reference", "transformers"),
                   threads: int | None = 1) -> dict[str, Any]:
    """Validate ``models`` (default :data:`QUICK_MODELS` / :data:`DEFAULT_MODELS`) and return the
    JSON report: ``rows`` plus workload, environment and a summary. ``quick`` uses the smaller
    workload and skips the eager-kernel training-memory rows."""
    _check_device(device)
    w = QUICK if quick else FULL
    models = [str(m) for m in (models or (QUICK_MODELS if quick else DEFAULT_MODELS))]
    t0 = time.perf_counter()
    rows: list[dict] = []
    info: dict[str, Any] = {}
    with _threads(threads if device == "cpu" else None):
        for src in models:
            r, i = validate_model(src, w, device, shrink, max_params, implementations,
                                  eager=not quick)
            rows += r
            info[src] = i
    return _report(models, rows, info, w, quick, device, t0)


def validate_spec(spec: Any, quick: bool = True, max_params: int = 20_000_000,
                  device: str = "cpu", threads: int | None = 1) -> dict[str, Any]:
    """Validate the user's current model (the app's Validate page): as-is when it has at most
    ``max_params`` parameters, else a shrunk copy with the same structure; refused (an
    :class:`EstimatorError` naming the size) if even that is above the cap."""
    _check_device(device)
    m = load_model(spec)
    shrink = count_params(m.spec).total > max_params
    w = QUICK if quick else FULL
    t0 = time.perf_counter()
    with _threads(threads if device == "cpu" else None):
        rows, info = validate_model(m, w, device, shrink, max_params, eager=not quick)
    return _report([m.spec.name], rows, {m.spec.name: info}, w, quick, device, t0)


def conventions() -> dict[str, str]:
    return {
        "implementations": "reference = our PyTorch decoder built from the spec, with fused "
                           "RMSNorm/SwiGLU/RoPE/softmax/cross-entropy/linear autograd Functions "
                           "(Megatron's kernels: compared with activation_framework='megatron'); "
                           "reference-eager = the same model with plain PyTorch ops (training "
                           "memory rows only, compared with activation_framework="
                           "'pytorch_eager'); transformers = Hugging Face's own class, eager "
                           "attention and eager experts",
        "rel_error": "(estimate - measured) / measured",
        "bars": "exact: equal integers; 0.5%: |rel_error| <= 0.005; 10%: |rel_error| <= 0.10",
        "models": "preset configs shrunk to laptop size with the same structure (E, k, shared "
                  "experts, MLA rank ratios, layer kinds); see estimator/validation/shrink.py",
        "flops": "torch.utils.flop_counter.FlopCounterMode (matmuls only); estimator "
                 "attention_flops='full', logits on every position",
        "kv_cache": "sum of numel x element_size of the cached tensors after a prefill; "
                    "MLA in the compressed-latent (engine) layout",
        "training_memory": "reference model only, fp32, AdamW, persistent gradient buffers, "
                           "eager attention (flash_attention=False), one micro-batch; the "
                           "estimator with activation_framework='megatron' (reference) or "
                           "'pytorch_eager' (reference-eager); CPU: MemTracker (exact tensor "
                           "bytes); CUDA: also max_memory_allocated",
        "units": "params: count; bytes: bytes (MiB = 2^20 bytes where shown); FLOP: count",
    }
