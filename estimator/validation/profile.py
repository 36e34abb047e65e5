"""Measurements on a real ``nn.Module``: parameters, FLOPs, KV cache, memory (REFERENCE.md §5).

Every function here measures; none of them calls the estimator. Conventions:

* **Parameters**: ``sum(p.numel())`` over unique parameters (meta device works).
* **FLOPs**: :class:`torch.utils.flop_counter.FlopCounterMode` — matmuls (and registered
  attention kernels) at dispatch; element-wise work counts 0; no causal discount. Forward FLOPs
  are counted with parameters frozen rather than under ``torch.no_grad()`` (DBRX's experts view
  their weights inside ``no_grad`` and the counter's module tracker then fails; torch 2.13).
  A training step = forward + cross-entropy + ``backward()``; the optimizer step is element-wise.
* **KV cache**: bytes of the cached key/value tensors after a prefill (``numel × element size``);
  ``storage_bytes`` also reports the storage those tensors keep alive (a slice of a longer
  tensor keeps the whole tensor).
* **Memory on CPU**: ``torch.distributed._tools.mem_tracker.MemTracker`` (private API, checked
  with torch 2.13) attributes every live tensor storage to Parameter / Buffer / Gradient /
  Activation (created in forward) / Temp (created in backward) / Optstate (created in the
  optimizer step, its temporaries included) and records the peak. Byte counts are exact
  ``numel × element size``: no allocator rounding or fragmentation on CPU.
* **Memory on CUDA**: additionally ``torch.cuda.max_memory_allocated()`` /
  ``max_memory_reserved()`` over one step after a warm-up step (the CUDA context is outside
  both). Guarded by ``torch.cuda.is_available()``.

The training step measured (:func:`train_step`): fused AdamW, persistent gradient buffers
(``zero_grad(set_to_none=False)``), cross-entropy on logits of every position; logits are not
kept past the loss (a loop that keeps ``outputs.logits`` alive through backward holds ``b·s·V``
more elements).
"""

from __future__ import annotations

import contextlib
import warnings
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from .reference import KVCache, RefDecoder

Call = Callable[[nn.Module, torch.Tensor], torch.Tensor]  # (model, ids) -> logits

#: MemTracker's category names → ours.
CATEGORIES = {"Parameter": "parameters", "Buffer": "buffers", "Gradient": "gradients",
              "Optstate": "optimizer", "Activation": "activations", "Temp": "temporaries",
              "Other": "other", "Total": "total"}


def reference_call(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    return model(ids)


def hf_call(model: nn.Module, ids: torch.Tensor) -> torch.Tensor:
    return model(input_ids=ids, use_cache=False).logits


def make_inputs(vocab: int, batch: int, seq_len: int, device: str = "cpu",
                seed: int = 1, head_vocab: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Random token ids and next-token targets, shape ``(batch, seq_len)``; with ``head_vocab``
    (a pruned lm_head, :attr:`~estimator.spec.ModelSpec.head_vocab_size`) the targets are
    folded into the head's ``[0, head_vocab)``."""
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq_len + 1), generator=g)
    targets = ids[:, 1:] % head_vocab if head_vocab else ids[:, 1:]
    return ids[:, :-1].contiguous().to(device), targets.contiguous().to(device)


# ----------------------------------------------------------------------------------------------
# parameters and weights
# ----------------------------------------------------------------------------------------------

def param_count(model: nn.Module) -> int:
    """Unique parameters (a tied embedding/lm_head matrix counts once)."""
    return sum(p.numel() for p in model.parameters())


def weights_bytes(model: nn.Module) -> int:
    """Bytes of every unique parameter in its dtype (``numel × element_size``)."""
    return sum(p.numel() * p.element_size() for p in model.parameters())


def buffer_bytes(model: nn.Module) -> int:
    """Bytes of registered buffers that a checkpoint stores (persistent ones)."""
    total = 0
    for mod in model.modules():
        for name, b in mod.named_buffers(recurse=False):
            if name not in mod._non_persistent_buffers_set:
                total += b.numel() * b.element_size()
    return total


# ----------------------------------------------------------------------------------------------
# FLOPs
# ----------------------------------------------------------------------------------------------

def _loss(model: nn.Module, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """The reference model's own loss (eager or fused cross-entropy); else ``F.cross_entropy``
    on fp32 logits."""
    if isinstance(model, RefDecoder):
        return model.loss(logits, targets)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1))


@contextlib.contextmanager
def _frozen(model: nn.Module):
    flags = [p.requires_grad for p in model.parameters()]
    model.requires_grad_(False)
    try:
        yield
    finally:
        for p, f in zip(model.parameters(), flags):
            p.requires_grad_(f)


def forward_flops(model: nn.Module, ids: torch.Tensor, call: Call) -> dict[str, Any]:
    """FLOPs of one forward over ``ids`` (logits on every position). Returns ``total`` and
    ``by_module`` (FlopCounterMode's per-module totals, fully qualified names)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with _frozen(model), counter:
        call(model, ids)
    return {"total": counter.get_total_flops(), "by_module": _by_module(counter)}


def train_flops(model: nn.Module, ids: torch.Tensor, targets: torch.Tensor,
                call: Call) -> dict[str, Any]:
    """FLOPs of forward + cross-entropy + backward (one training step's matmuls)."""
    from torch.utils.flop_counter import FlopCounterMode

    counter = FlopCounterMode(display=False)
    with counter:
        _loss(model, call(model, ids), targets).backward()
    model.zero_grad(set_to_none=True)
    return {"total": counter.get_total_flops(), "by_module": _by_module(counter)}


def _by_module(counter) -> dict[str, int]:
    return {name: sum(ops.values()) for name, ops in counter.get_flop_counts().items()}


# ----------------------------------------------------------------------------------------------
# KV cache
# ----------------------------------------------------------------------------------------------

def _storage_bytes(tensors) -> int:
    seen, total = set(), 0
    for t in tensors:
        st = t.untyped_storage()
        key = st.data_ptr()
        if key not in seen:
            seen.add(key)
            total += st.nbytes()
    return total


def kv_cache_reference(model: RefDecoder, ids: torch.Tensor) -> dict[str, Any]:
    """Prefill ``ids`` through the reference model's :class:`KVCache`; bytes it holds."""
    cache = KVCache(len(model.blocks))
    with torch.no_grad():
        model(ids, cache)
    tensors = [t for layer in cache.layers if layer for t in layer]
    per_layer = [sum(t.numel() * t.element_size() for t in layer) for layer in cache.layers]
    return {"bytes": cache.nbytes(), "storage_bytes": _storage_bytes(tensors),
            "per_layer": per_layer, "tokens": ids.numel()}


def kv_cache_hf(model: nn.Module, ids: torch.Tensor) -> dict[str, Any]:
    """Prefill ``ids`` with ``use_cache=True``; bytes of the cache's key/value tensors."""
    with _frozen(model), torch.no_grad():
        out = model(input_ids=ids, use_cache=True)
    cache = out.past_key_values
    tensors, per_layer, kinds = [], [], []
    for layer in cache.layers:
        kv = [t for t in (getattr(layer, "keys", None), getattr(layer, "values", None))
              if isinstance(t, torch.Tensor)]
        tensors += kv
        per_layer.append(sum(t.numel() * t.element_size() for t in kv))
        kinds.append(type(layer).__name__)
    return {"bytes": sum(per_layer), "storage_bytes": _storage_bytes(tensors),
            "per_layer": per_layer, "layer_kinds": kinds, "tokens": ids.numel()}


# ----------------------------------------------------------------------------------------------
# memory
# ----------------------------------------------------------------------------------------------

def _mem_tracker():
    """A ``MemTracker`` that records the global peak only.

    The stock tracker also refreshes a per-module peak snapshot for every active module on
    every operator (``_update_peak_stats`` loops over all modules seen): O(ops × modules), a
    minute for a shrunk 128-expert model. We read only the global peak, so that loop is
    replaced by its global half, unchanged (torch 2.13 ``mem_tracker.py``).
    """
    from torch.distributed._tools import mem_tracker as mtmod

    class GlobalPeakTracker(mtmod.MemTracker):
        def _update_peak_stats(self, peak_state) -> None:  # noqa: ARG002
            for dev, dev_snap in self._curr_mem_snap.items():
                if self._peak_mem.get(dev, 0) < dev_snap[mtmod._TOTAL_KEY]:
                    self._peak_mem[dev] = dev_snap[mtmod._TOTAL_KEY]
                    self._peak_mem_snap[dev] = dict(dev_snap)

    return GlobalPeakTracker()


def _snap(mt, device: torch.device, kind: str = "current") -> dict[str, int]:
    snap = mt.get_tracker_snapshot(kind)
    dev = next((d for d in snap if torch.device(d).type == device.type), None)
    raw = snap.get(dev, {}) if dev is not None else {}
    out = {v: 0 for v in CATEGORIES.values()}
    for k, v in raw.items():
        out[CATEGORIES.get(str(getattr(k, "value", k)), str(k))] = int(v)
    return out


def forward_memory(model: nn.Module, ids: torch.Tensor, call: Call) -> dict[str, int]:
    """Peak tracked memory of one inference forward (``no_grad``), by category."""
    device = ids.device
    mt = _mem_tracker()
    mt.track_external(model)
    with torch.no_grad(), mt:
        logits = call(model, ids)
        del logits
    return _snap(mt, device, "peak")


def _autocast(device: torch.device, dtype: torch.dtype | None):
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)


def train_step(model: nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor,
               targets: torch.Tensor, call: Call, autocast_dtype: torch.dtype | None = None,
               checkpoint: Callable[[str], None] | None = None) -> None:
    """One optimizer step; ``checkpoint(name)`` is called after the forward (``"forward"``),
    the backward (``"backward"``) and the optimizer step (``"step"``). Gradients are zeroed in
    place (``set_to_none=False``): persistent gradient buffers, as DDP/FSDP/Megatron keep."""
    with _autocast(ids.device, autocast_dtype):
        loss = _loss(model, call(model, ids), targets)
    if checkpoint:
        checkpoint("forward")
    loss.backward()
    del loss
    if checkpoint:
        checkpoint("backward")
    opt.step()
    opt.zero_grad(set_to_none=False)
    if checkpoint:
        checkpoint("step")


def make_optimizer(model: nn.Module) -> torch.optim.Optimizer:
    """AdamW, fused implementation (``fused=True``: no per-parameter temporaries at the step, the
    convention :mod:`estimator.training` states); two states per parameter in the parameter's
    dtype, ``exp_avg`` and ``exp_avg_sq``, plus a scalar ``step``. Falls back to torch's default
    implementation where the fused kernel is unavailable."""
    try:
        return torch.optim.AdamW(model.parameters(), lr=1e-4, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(model.parameters(), lr=1e-4)


def model_states(model: nn.Module, opt: torch.optim.Optimizer) -> dict[str, int]:
    """Bytes of parameters, gradients and optimizer states, read from the tensors themselves."""
    params = list(model.parameters())
    moments = steps = 0
    for st in opt.state.values():
        for key, t in st.items():
            if isinstance(t, torch.Tensor):
                if key == "step":
                    steps += t.numel() * t.element_size()
                else:
                    moments += t.numel() * t.element_size()
    return {"parameters": sum(p.numel() * p.element_size() for p in params),
            "gradients": sum(p.grad.numel() * p.grad.element_size() for p in params
                             if p.grad is not None),
            "optimizer_moments": moments, "optimizer_step_counters": steps}


def training_memory(model: nn.Module, ids: torch.Tensor, targets: torch.Tensor, call: Call,
                    autocast_dtype: torch.dtype | None = None) -> dict[str, Any]:
    """Memory of the second training step (the first creates the optimizer states), by category.

    Every parameter gets a zero gradient before the first step, so gradients and AdamW states
    exist for all of them, including experts no token was routed to. Returns ``peak`` (the
    MemTracker snapshot at the step's peak), ``peak_phase`` (forward / backward / optimizer
    step), ``after_forward`` (live memory once the loss is computed: activations = the
    saved-tensor set plus the loss), ``after_backward``, ``after_step``, ``states`` (from the
    tensors: :func:`model_states`) and, on CUDA, the allocator's peaks.
    """
    device = ids.device
    for p in model.parameters():
        if p.requires_grad and p.grad is None:
            p.grad = torch.zeros_like(p)
    opt = make_optimizer(model)
    train_step(model, opt, ids, targets, call, autocast_dtype)  # warm-up: optimizer states
    mt = _mem_tracker()
    mt.track_external(model, opt)
    points: dict[str, dict[str, int]] = {}
    peaks: list[tuple[str, int]] = []

    def checkpoint(name: str) -> None:
        points[name] = _snap(mt, device)
        peaks.append((name, _snap(mt, device, "peak")["total"]))

    with mt, warnings.catch_warnings():
        # MemTracker's gradient hook is also called with the ``None`` that a fused linear
        # (kernels.LinearFn) returns for a weight gradient it accumulated into ``.grad`` itself;
        # the ``.grad`` tensors are tracked already, so the warning it prints is noise.
        warnings.filterwarnings("ignore", message="Expected a tensor or a traceable wrapper")
        train_step(model, opt, ids, targets, call, autocast_dtype, checkpoint)
    mt.reset_mod_stats()
    peak = _snap(mt, device, "peak")
    phase = next(name for name, value in peaks if value == peak["total"])
    out: dict[str, Any] = {"peak": peak, "peak_phase": {"forward": "forward",
                                                        "backward": "backward",
                                                        "step": "optimizer step"}[phase],
                           **{f"after_{k}": v for k, v in points.items()},
                           "states": model_states(model, opt),
                           "optimizer_impl": _optimizer_impl(opt)}
    if device.type == "cuda":
        out.update(cuda_step_peak(model, opt, ids, targets, call, autocast_dtype))
    return out


def _optimizer_impl(opt: torch.optim.Optimizer) -> str:
    g = opt.param_groups[0]
    if g.get("fused"):
        return "fused"
    if g.get("foreach") or (g.get("foreach") is None and all(
            p.is_cuda for p in g["params"])):
        return "foreach"
    return "for-loop"


def cuda_step_peak(model: nn.Module, opt: torch.optim.Optimizer, ids: torch.Tensor,
                   targets: torch.Tensor, call: Call,
                   autocast_dtype: torch.dtype | None = None) -> dict[str, int]:
    """``max_memory_allocated`` / ``max_memory_reserved`` over one step after a warm-up."""
    if not torch.cuda.is_available():
        return {}
    train_step(model, opt, ids, targets, call, autocast_dtype)
    torch.cuda.synchronize()
    torch.cuda.reset_peak_memory_stats()
    base = torch.cuda.memory_allocated()
    train_step(model, opt, ids, targets, call, autocast_dtype)
    torch.cuda.synchronize()
    return {"cuda_max_allocated": int(torch.cuda.max_memory_allocated()),
            "cuda_max_reserved": int(torch.cuda.max_memory_reserved()),
            "cuda_allocated_between_steps": int(base)}


# ----------------------------------------------------------------------------------------------
# diagnosis: which tensors autograd saved
# ----------------------------------------------------------------------------------------------

def saved_tensors(loss: torch.Tensor, model: nn.Module | None = None) -> list[dict[str, Any]]:
    """Every tensor storage the autograd graph of ``loss`` keeps for backward, once each.

    Walks ``loss.grad_fn`` and reads each node's ``_saved_*`` tensors (custom Functions: their
    ``saved_tensors``); tensors sharing storage with ``model``'s parameters (a transposed
    weight) are excluded. Returns one entry per storage: the first op that saved it (``op``),
    its ``shape``, ``dtype`` and ``bytes`` (the storage's size, so a view of a larger tensor is
    charged the larger tensor). Used to explain activation differences tensor by tensor.
    """
    seen_nodes, out = set(), []
    seen_storages = {p.untyped_storage().data_ptr() for p in model.parameters()} if model else set()
    stack = [loss.grad_fn]
    while stack:
        fn = stack.pop()
        if fn is None or fn in seen_nodes:
            continue
        seen_nodes.add(fn)
        attrs = [a for a in dir(fn) if a.startswith("_saved_")]
        if isinstance(fn, torch.autograd.function.BackwardCFunction):
            attrs.append("saved_tensors")  # custom autograd Functions (kernels.py)
        for attr in attrs:
            try:
                value = getattr(fn, attr)
            except Exception:  # noqa: BLE001  (some saved values cannot be unpacked)
                continue
            for t in value if isinstance(value, (tuple, list)) else (value,):
                if not isinstance(t, torch.Tensor) or isinstance(t, nn.Parameter):
                    continue
                st = t.untyped_storage()
                if st.data_ptr() in seen_storages or st.nbytes() == 0:
                    continue
                seen_storages.add(st.data_ptr())
                out.append({"op": fn.name(), "attr": attr, "shape": tuple(t.shape),
                            "dtype": str(t.dtype).replace("torch.", ""), "bytes": st.nbytes()})
        stack.extend(nxt for nxt, _ in fn.next_functions if nxt is not None)
    return out
