"""Parallel layouts on real ``torch.distributed`` ranks: per-rank memory and collective bytes.

The single-process validation measures one model in one process; every figure that depends on
a parallel layout is measured here instead, on real ranks (gloo on CPU, NCCL when CUDA is
present), launched with ``torch.multiprocessing`` on a free port chosen at run time, under a
hard deadline (a rank that dies or never starts ends the run with one line, never a hang).

The subject is the validation's reference decoder (:mod:`.reference`, eager kernels), built
from the same spec on every rank with the same seed and then *sharded as the frameworks do*:

* ``tp`` — Megatron-LM tensor parallelism with sequence parallelism (Korthikanti et al. 2022
  §4.2.2): q/k/v, gate/up (and every expert's gate/up) column-parallel, o/down row-parallel,
  vocabulary-parallel embedding, lm_head and cross-entropy (``tensor_parallel/
  cross_entropy.py``); between blocks the residual stream is split over the TP ranks by token,
  all-gathered before each column-parallel GEMM (whose autograd Function saves the local shard
  and gathers again in the backward, Megatron's ``LinearWithGradAccumulationAndAsync
  Communication``) and reduce-scattered after each row-parallel one. MoE layers run Megatron's
  ``MoEAlltoAllTokenDispatcher`` with expert-TP = TP (:func:`tp_sp_moe`: token counts, copies
  and probabilities all-gathered over TP, every expert's TP half on all copies, outputs
  reduce-scattered back). The router and the norms are replicated; their gradients are
  all-reduced over TP once per step in one flat buffer (Megatron ``finalize_model_grads.
  _allreduce_non_tensor_model_parallel_grads``).
* ``ep`` — experts ``[r·E/ep, (r+1)·E/ep)`` on rank ``r``; Megatron's
  ``MoEAlltoAllTokenDispatcher``: the ``E`` token counts all-gathered, the copies and their
  router probabilities dispatched to their experts' ranks with ``all_to_all_single``, the
  experts scale their outputs by the probabilities, and the outputs come back in a third
  all-to-all; each rank records the copies it sent to and received from every rank per layer
  (``ep_routing``). The other parameters are data-parallel (gradients all-reduced); experts
  are not replicated (``edp = 1``).
* ``pp`` — contiguous stages (``training.stage_layer_range``), 1F1B (PipeDream-Flush) over
  ``grad_accum`` micro-batches with point-to-point ``isend``/``irecv``.
* ``zero1`` / ``zero2`` — a flat-buffer ZeRO (DeepSpeed ZeRO-1/2, Megatron's distributed
  optimizer): all parameters live in one flat buffer padded to a multiple of ``dp``; rank ``r``
  owns the contiguous slice ``[r·⌈N/dp⌉, (r+1)·⌈N/dp⌉)`` and keeps AdamW states for it only.
  Stage 1 keeps a full persistent gradient buffer and reduce-scatters it; stage 2 reduces each
  parameter's gradient as soon as it is ready to the ranks owning its pieces and keeps only
  its own shard. (``torch.distributed.optim.ZeroRedundancyOptimizer`` assigns *whole*
  parameters to ranks instead, so its per-rank bytes depend on the parameter sizes; the flat
  ``⌈N/dp⌉`` is the granularity the estimator models.)
* ``fsdp`` — PyTorch FSDP2 (``torch.distributed.fsdp.fully_shard``) on every block and the
  root: each parameter's dim 0 is split over the ``dp`` ranks (``torch.chunk``), padded to a
  multiple of ``dp`` in the sharded storage; ZeRO-3 in the estimator.

Each rank measures, for one training step (after a warm-up step that creates the optimizer
states): its parameters, gradients and AdamW moments (bytes of the distinct storages it holds),
the step's peak (``MemTracker``: exact tensor bytes) and every collective it issues
(:class:`CollectiveCounter`: operation, group size, payload bytes). For ``tp``/``ep``/``pp``
it also runs one decode step after a prefill: weights, KV-cache bytes and the decode step's
collectives. No estimate is computed here (:mod:`.dist_render` puts the estimator beside these
raw measurements, without torch).
"""

from __future__ import annotations

import contextlib
import datetime
import gc
import json
import math
import os
import platform
import socket
import tempfile
import threading
import time
import traceback
from dataclasses import asdict
from typing import Any

import torch
import torch.distributed as dist
import torch.nn.functional as F
from torch import nn
from torch.utils._python_dispatch import _disable_current_modes

from .. import __version__
from ..errors import EstimatorError
from .dist_layouts import LAYOUTS, WORKLOAD, DistLayout
from .reference import KVCache, RefDecoder, attend, build_reference, key_positions, rope

RAW_SCHEMA = "moe-estimator/distributed-raw/1"
#: Seconds a run may take before its ranks are killed (``--timeout``); ranks that cannot
#: rendezvous give up after :data:`INIT_TIMEOUT_S`.
DEFAULT_TIMEOUT_S = 300
INIT_TIMEOUT_S = 60


# ----------------------------------------------------------------------------------------------
# counting collectives
# ----------------------------------------------------------------------------------------------

#: torch.distributed entry points wrapped, with the name recorded and how the payload is read:
#: ``in`` = bytes of the tensor this rank contributes (all-reduce: the buffer; all-gather: the
#: local shard; reduce-scatter: the full input; all-to-all: everything it sends; send/broadcast:
#: the tensor), ``out`` = bytes received (recv).
_WRAPPED = {
    "all_reduce": ("all_reduce", 0), "all_gather_single": ("all_gather", 1),
    "all_gather_into_tensor": ("all_gather", 1), "_all_gather_base": ("all_gather", 1),
    "reduce_scatter_single": ("reduce_scatter", 1), "reduce_scatter_tensor": ("reduce_scatter", 1),
    "_reduce_scatter_base": ("reduce_scatter", 1), "all_to_all_single": ("all_to_all", 1),
    "send": ("send", 0), "isend": ("send", 0), "recv": ("recv", 0), "irecv": ("recv", 0),
    "broadcast": ("broadcast", 0), "reduce": ("reduce", 0),
}


class CollectiveCounter:
    """Wraps the ``torch.distributed`` collectives (module attributes of ``torch.distributed``
    and ``distributed_c10d``, so FSDP2's and our own calls are both seen) and records, for the
    outermost call only (``all_gather_into_tensor`` calls ``all_gather_single``): operation,
    group size, payload bytes and the current ``phase`` label."""

    def __init__(self) -> None:
        self.records: list[dict[str, Any]] = []
        self.phase = "setup"
        self.hide_backend_buffers = True
        self._local = threading.local()
        self._saved: list[tuple[Any, str, Any]] = []

    def install(self) -> None:
        from torch.distributed import distributed_c10d as c10d

        for name, (kind, arg) in _WRAPPED.items():
            for mod in (dist, c10d):
                fn = getattr(mod, name, None)
                if fn is None:
                    continue
                self._saved.append((mod, name, fn))
                setattr(mod, name, self._wrap(fn, kind, arg))

    def uninstall(self) -> None:
        for mod, name, fn in reversed(self._saved):
            setattr(mod, name, fn)
        self._saved.clear()

    def _wrap(self, fn, kind: str, arg: int):
        counter = self

        def wrapper(*args, **kwargs):
            depth = getattr(counter._local, "depth", 0)
            if depth == 0:
                t = args[arg] if len(args) > arg else kwargs.get(
                    "tensor", kwargs.get("input", kwargs.get("input_tensor")))
                group = kwargs.get("group", None)
                if group is None and kind in ("all_reduce", "broadcast", "reduce") \
                        and len(args) > 3:
                    group = args[3] if kind != "all_reduce" else args[2]
                counter.records.append({
                    "phase": counter.phase, "op": kind,
                    "group_size": dist.get_world_size(group),
                    "bytes": int(t.numel() * t.element_size()) if isinstance(t, torch.Tensor)
                    else 0})
            counter._local.depth = depth + 1
            try:
                if depth == 0 and counter.hide_backend_buffers:
                    # What the backend allocates inside the call (gloo's reduce-scatter copies its
                    # whole input) is not a framework tensor: NCCL keeps its buffers outside
                    # PyTorch's allocator, and the estimate leaves communication buffers out.
                    tensors = [a for a in (*args, *kwargs.values())
                               if isinstance(a, torch.Tensor)]
                    held = [t._use_count() for t in tensors]
                    with _disable_current_modes():
                        out = fn(*args, **kwargs)
                    if not kwargs.get("async_op"):
                        _await_backend_release(tensors, held)
                    return out
                return fn(*args, **kwargs)
            finally:
                counter._local.depth = depth

        return wrapper

    def summary(self, phase: str) -> dict[str, dict[str, int]]:
        """``{op: {"calls": n, "bytes": total}}`` of one phase."""
        out: dict[str, dict[str, int]] = {}
        for r in self.records:
            if r["phase"] == phase:
                s = out.setdefault(r["op"], {"calls": 0, "bytes": 0, "group_size":
                                             r["group_size"]})
                s["calls"] += 1
                s["bytes"] += r["bytes"]
        return out


COUNTER = CollectiveCounter()

#: Longest wait for gloo's worker thread to let go of a finished collective's tensors. Long:
#: under CI load (other test processes, other users, 4 ranks on 2 cores) a descheduled worker
#: thread must not let the step go on with a buffer still held (a 1 s limit could, silently
#: moving the peak); normally the wait is microseconds, and a run still stuck ends at the
#: launcher's deadline. Give-ups are counted (``backend_release_waits``) and fail the tests.
RELEASE_WAIT_S = 30.0


def _await_backend_release(tensors: list[torch.Tensor], held: list[int]) -> None:
    """Wait until the backend holds none of a finished synchronous collective's tensors.

    gloo runs each collective on a worker thread that marks the work complete (waking the
    caller) and only then, after re-taking its queue lock, drops the work object and with it
    the references to the input and output tensors (``ProcessGroupGloo::runLoop``:
    ``AsyncWork::execute(work); lock.lock(); workInProgress_[workerIndex].reset();``). With more
    ranks than cores (4 ranks × a main and 2 gloo threads on 2 cores) that thread can be
    descheduled in between, and a buffer the framework has already dropped (an all-to-all's
    send and receive buffers, FSDP2's unsharded parameters) then stays alive into the next
    operators: a rank's measured peak rose by such buffers in some runs (ep2: one dispatch's
    256 + 199 rows, 232,960 B; fsdp-dp4: 1,946,624 B). The step's tensors should not depend on
    thread scheduling, so the caller waits (``Tensor._use_count`` back to its value before
    the call) before going on."""
    deadline = time.monotonic() + RELEASE_WAIT_S
    waited = False
    while any(t._use_count() > n for t, n in zip(tensors, held)):
        waited = True
        if time.monotonic() > deadline:
            RELEASE_WAITS["timeouts"] += 1
            return
        time.sleep(0.0001)
    RELEASE_WAITS["waited"] += waited


#: Collectives after which the caller had to wait for gloo's worker (and waits given up).
RELEASE_WAITS = {"waited": 0, "timeouts": 0}


# ----------------------------------------------------------------------------------------------
# autograd-aware collectives (one group: the whole world of the layout)
# ----------------------------------------------------------------------------------------------

def _world() -> int:
    return dist.get_world_size()


def gather0(x: torch.Tensor) -> torch.Tensor:
    """All-gather along dim 0 (no autograd)."""
    out = x.new_empty((x.shape[0] * _world(), *x.shape[1:]))
    dist.all_gather_single(out, x.contiguous())
    return out


def reduce_scatter0(x: torch.Tensor) -> torch.Tensor:
    """Reduce-scatter (sum) along dim 0 (no autograd)."""
    out = x.new_empty((x.shape[0] // _world(), *x.shape[1:]))
    dist.reduce_scatter_single(out, x.contiguous())
    return out


class Gather0(torch.autograd.Function):
    """Forward all-gather along dim 0, backward reduce-scatter (Megatron
    ``gather_from_sequence_parallel_region``)."""

    @staticmethod
    def forward(ctx, x):
        return gather0(x)

    @staticmethod
    def backward(ctx, g):
        return reduce_scatter0(g)


class ReduceScatter0(torch.autograd.Function):
    """Forward reduce-scatter along dim 0, backward all-gather (Megatron
    ``reduce_scatter_to_sequence_parallel_region``)."""

    @staticmethod
    def forward(ctx, x):
        return reduce_scatter0(x)

    @staticmethod
    def backward(ctx, g):
        return gather0(g)


class AllReduce(torch.autograd.Function):
    """Forward all-reduce (sum), backward identity (Megatron ``reduce_from_tensor_model_
    parallel_region``); used without sequence parallelism (decode)."""

    @staticmethod
    def forward(ctx, x):
        x = x.clone()
        dist.all_reduce(x)
        return x

    @staticmethod
    def backward(ctx, g):
        return g


class SPColumnLinear(torch.autograd.Function):
    """Column-parallel linears sharing one sequence-parallel input: the local token shard
    ``x`` is all-gathered, multiplied by each weight, and only ``x`` is saved; the backward
    gathers it again for the weight gradients and reduce-scatters the input gradient (Megatron
    ``LinearWithGradAccumulationAndAsyncCommunication`` with ``sequence_parallel=True``). One
    gather serves q/k/v (Megatron's fused QKV linear) or gate/up."""

    @staticmethod
    def forward(ctx, x, *weights):
        full = gather0(x)
        ctx.save_for_backward(x, *weights)
        return tuple(full @ w.t() for w in weights)

    @staticmethod
    def backward(ctx, *grads):
        x, *weights = ctx.saved_tensors
        full = gather0(x)
        gx = None
        gws = []
        for g, w in zip(grads, weights):
            gws.append(g.t() @ full)
            gx = g @ w if gx is None else gx.add_(g @ w)
        del full
        return (reduce_scatter0(gx), *gws)


class AllToAll(torch.autograd.Function):
    """``all_to_all_single`` with split sizes along dim 0; the backward sends gradients back."""

    @staticmethod
    def forward(ctx, x, send: list[int], recv: list[int]):
        ctx.send, ctx.recv = send, recv
        out = x.new_empty((sum(recv), *x.shape[1:]))
        dist.all_to_all_single(out, x.contiguous(), recv, send)
        return out

    @staticmethod
    def backward(ctx, g):
        out = g.new_empty((sum(ctx.send), *g.shape[1:]))
        dist.all_to_all_single(out, g.contiguous(), ctx.send, ctx.recv)
        return out, None, None


class VocabParallelCrossEntropy(torch.autograd.Function):
    """Megatron ``tensor_parallel/cross_entropy.py::_VocabParallelCrossEntropy`` on fp32 logits
    ``(T, V/tp)``: all-reduce of the row max, of the target logit and of the exp-sum; the
    softmax is computed in place and saved with the target mask (``T·V/tp`` fp32 + ``T``
    bool + the int64 local targets). Returns per-token losses."""

    @staticmethod
    def forward(ctx, logits, target, vstart):
        vl = logits.shape[-1]
        m = logits.max(dim=-1).values
        dist.all_reduce(m, op=dist.ReduceOp.MAX)
        z = logits - m.unsqueeze(-1)
        mask = (target < vstart) | (target >= vstart + vl)
        t_local = (target - vstart).masked_fill(mask, 0)
        pred = z.gather(-1, t_local.unsqueeze(-1)).squeeze(-1).masked_fill(mask, 0.0)
        dist.all_reduce(pred)
        z.exp_()
        denom = z.sum(dim=-1)
        dist.all_reduce(denom)
        loss = torch.log(denom) - pred
        z.div_(denom.unsqueeze(-1))
        ctx.save_for_backward(z, mask, t_local)
        return loss

    @staticmethod
    def backward(ctx, g):
        softmax, mask, t_local = ctx.saved_tensors
        grad = softmax
        rows = torch.arange(grad.shape[0])
        grad[rows, t_local] -= (~mask).to(grad.dtype)
        grad.mul_(g.unsqueeze(-1))
        return grad, None, None


# ----------------------------------------------------------------------------------------------
# sharding the reference decoder
# ----------------------------------------------------------------------------------------------

def _keep_rows(lin: nn.Linear, lo: int, hi: int) -> None:
    with torch.no_grad():
        lin.weight = nn.Parameter(lin.weight[lo:hi].clone())
        if lin.bias is not None:
            lin.bias = nn.Parameter(lin.bias[lo:hi].clone())
        lin.out_features = hi - lo


def _keep_cols(lin: nn.Linear, lo: int, hi: int) -> None:
    with torch.no_grad():
        lin.weight = nn.Parameter(lin.weight[:, lo:hi].clone())
        lin.in_features = hi - lo


def _split_mlp(mlp: nn.Module, rank: int, n: int) -> None:
    f = mlp.up_proj.out_features
    lo, hi = rank * f // n, (rank + 1) * f // n
    for lin in (mlp.gate_proj, mlp.up_proj):
        if lin is not None:
            _keep_rows(lin, lo, hi)
    _keep_cols(mlp.down_proj, lo, hi)


def check_layout_supported(spec, layout: DistLayout) -> None:
    """What the sharded reference implements; anything else is refused naming the feature."""
    if spec.mla is not None or spec.moa is not None:
        raise EstimatorError("model", spec.name, "the distributed validation shards standard "
                             "attention only (not MLA or MoA)")
    bad = [n for n, v in (("fused_qkv", spec.fused_qkv), ("qk_norm", spec.qk_norm == "full"),
                          ("shared_expert_gate", spec.shared_expert_gate),
                          ("attention_sinks", spec.attention_sinks),
                          ("biases", spec.attention_bias or spec.attention_out_bias
                           or spec.ffn_bias or spec.expert_bias or spec.lm_head_bias),
                          ("tie_word_embeddings", spec.tie_word_embeddings and layout.tp > 1),
                          ("sliding_window", bool(spec.sliding_window_layers)))
           if v]
    if bad and layout.tp > 1:
        raise EstimatorError("model", spec.name, f"tensor parallelism of {bad[0]} is not "
                             "implemented by the distributed validation")


def shard_tp(model: RefDecoder, rank: int, tp: int) -> None:
    """Megatron's TP split of the reference decoder in place (module docstring)."""
    spec = model.spec
    V, h = spec.vocab_size, spec.hidden_size
    vl = V // tp
    with torch.no_grad():
        model.embed.weight = nn.Parameter(model.embed.weight[rank * vl:(rank + 1) * vl].clone())
    model.vstart = rank * vl
    _keep_rows(model.lm_head, rank * vl, (rank + 1) * vl)
    for blk in model.blocks:
        at = blk.attn
        a_l, g_l, d = at.a // tp, at.g // tp, at.d
        _keep_rows(at.q_proj, rank * a_l * d, (rank + 1) * a_l * d)
        _keep_rows(at.k_proj, rank * g_l * d, (rank + 1) * g_l * d)
        _keep_rows(at.v_proj, rank * g_l * d, (rank + 1) * g_l * d)
        _keep_cols(at.o_proj, rank * a_l * d, (rank + 1) * a_l * d)
        at.a, at.g = a_l, g_l
        ffn = blk.ffn
        if hasattr(ffn, "experts"):
            for ex in ffn.experts:
                _split_mlp(ex, rank, tp)
            if ffn.shared is not None:
                _split_mlp(ffn.shared, rank, tp)
        else:
            _split_mlp(ffn, rank, tp)
    del h


def _attention_core(at, q, k, v, pos, cache, b, s):
    """The part of ``reference.Attention.forward`` after the projections."""
    d = at.d
    q, k, v = (t.reshape(b, s, -1, d).transpose(1, 2) for t in (q, k, v))
    if at.qk_norm == "head":
        q, k = at.q_norm(q), at.k_norm(k)
    q, k = rope(q, pos), rope(k, pos)
    if cache is not None:
        k, v = cache.update(at.layer, (k, v), at.window)
    return attend(q, k, v, pos, key_positions(pos, k.shape[2]), at.window, at.sinks,
                  1.0 / math.sqrt(d))


def _mlp_partial(mlp, x_local, sp: bool) -> torch.Tensor:
    """A TP-split MLP's partial output on all tokens (before the row-parallel reduction)."""
    ws = [w for w in (mlp.gate_proj, mlp.up_proj) if w is not None]
    if sp:
        outs = SPColumnLinear.apply(x_local, *[w.weight for w in ws])
    else:
        outs = tuple(F.linear(x_local, w.weight) for w in ws)
    act = F.silu(outs[0]) * outs[1] if len(outs) == 2 else F.gelu(outs[0])
    return mlp.down_proj(act)


def _experts(moe, x: torch.Tensor, idx: torch.Tensor, weights: torch.Tensor,
             experts: range) -> torch.Tensor:
    """The reference ``MoE.forward`` expert loop over ``experts`` (token order kept)."""
    k = moe.k
    flat = idx.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    counts = torch.bincount(flat, minlength=len(moe.experts)).tolist()
    out = torch.zeros_like(x)
    start = 0
    for e, n in enumerate(counts):
        sel, start = order[start:start + n], start + n
        if n and e in experts:
            tok, slot = sel // k, sel % k
            out.index_put_((tok,), weights[tok, slot, None] * moe.experts[e](x[tok]),
                           accumulate=True)
    return out


def _route(moe, x):
    logits = moe.router(x)
    _, idx = torch.topk(logits, moe.k, dim=-1)
    return idx, F.softmax(logits.gather(-1, idx), dim=-1)


def tp_block(blk, x, pos, cache, b, s, sp: bool):
    """One block under TP; ``x`` is the local token shard ``(T/tp, h)`` with ``sp``, else all
    tokens ``(T, h)``."""
    at = blk.attn
    xn = blk.input_norm(x)
    if sp:
        q, k, v = SPColumnLinear.apply(xn, at.q_proj.weight, at.k_proj.weight, at.v_proj.weight)
    else:
        q, k, v = (F.linear(xn, w.weight) for w in (at.q_proj, at.k_proj, at.v_proj))
    y = _attention_core(at, q, k, v, pos, cache, b, s).reshape(b * s, -1)
    o = at.o_proj(y)
    x = x + (ReduceScatter0.apply(o) if sp else AllReduce.apply(o))
    xn = blk.post_attn_norm(x)
    ffn = blk.ffn
    if hasattr(ffn, "experts") and sp:
        if ffn.shared is not None:
            raise EstimatorError("model", "shared experts", "TP+SP of shared experts is not "
                                 "implemented by the distributed validation")
        return x + tp_sp_moe(ffn, xn)
    if hasattr(ffn, "experts"):
        idx, w = _route(ffn, xn)
        out = _experts(ffn, xn, idx, w, range(len(ffn.experts)))
        if ffn.shared is not None:
            out = out + _mlp_partial(ffn.shared, xn, False)
    else:
        out = _mlp_partial(ffn, xn, sp)
    return x + (ReduceScatter0.apply(out) if sp else AllReduce.apply(out))


def tp_sp_moe(moe, x: torch.Tensor) -> torch.Tensor:
    """An MoE layer under TP + SP as Megatron-Core's ``MoEAlltoAllTokenDispatcher`` runs it
    with ``ep = 1`` and expert-TP = TP (``token_dispatcher.py``): the router sees the rank's
    sequence shard ``x`` (``T/tp`` tokens); ``preprocess`` all-gathers the ``E`` int64 token
    counts over the TP×EP group; ``permute`` sorts the ``T/tp·k`` copies (and their
    probabilities) by expert; ``dispatch_postprocess`` all-gathers copies and probabilities over
    expert-TP; ``sort_chunks_by_idxs`` groups them by expert; each expert (its TP half) runs on
    its chunk and the probabilities scale its output (Megatron scales inside the expert's
    activation, equal for a bias-free down projection); ``combine_preprocess`` reduce-scatters
    the outputs back to the copies' ranks, and ``unpermute`` sums each token's copies. Returns
    the layer output on the local shard."""
    tp = _world()
    idx, probs = _route(moe, x)
    E, k = len(moe.experts), moe.k
    flat = idx.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    counts = torch.bincount(flat, minlength=E)
    all_counts = gather0(counts.unsqueeze(0))  # (tp, E): copies per expert from each rank
    tok = order // k
    rows = Gather0.apply(x[tok])  # (tp·T/tp·k, h), rank-major, each rank's rows by expert
    p_rows = Gather0.apply(probs.reshape(-1)[order])
    starts = torch.cumsum(all_counts.reshape(-1), 0) - all_counts.reshape(-1)
    perm = torch.cat([torch.arange(int(starts[r * E + e]), int(starts[r * E + e])
                                   + int(all_counts[r, e])) for e in range(E) for r in range(tp)]
                     + [torch.zeros(0, dtype=torch.long)])
    sizes = all_counts.sum(0).tolist()
    chunks = torch.split(rows.index_select(0, perm), sizes)
    p_chunks = torch.split(p_rows.index_select(0, perm), sizes)
    outs = [p[:, None] * moe.experts[e](c) for e, (c, p) in enumerate(zip(chunks, p_chunks))
            if c.shape[0]]
    ys = torch.cat(outs).index_select(0, torch.argsort(perm))
    back = ReduceScatter0.apply(ys)  # this rank's T/tp·k copies, partial sums added over TP
    return torch.zeros_like(x).index_put_((tok,), back, accumulate=True)


def tp_forward(model: RefDecoder, ids: torch.Tensor, sp: bool,
               cache: KVCache | None = None, last_only: bool = False) -> torch.Tensor:
    """Local logits ``(tokens, V/tp)``: every position (training) or the last (decode)."""
    b, s = ids.shape
    start = cache.seen if cache is not None else 0
    pos = torch.arange(start, start + s)
    vl = model.embed.weight.shape[0]
    flat = ids.reshape(-1)
    mask = (flat < model.vstart) | (flat >= model.vstart + vl)
    x = model.embed((flat - model.vstart).masked_fill(mask, 0))
    x = x.masked_fill(mask.unsqueeze(-1), 0.0)
    x = ReduceScatter0.apply(x) if sp else AllReduce.apply(x)
    for blk in model.blocks:
        x = tp_block(blk, x, pos, cache, b, s, sp)
    if cache is not None:
        cache.seen += s
    xn = model.norm(x)
    if sp:
        (logits,) = SPColumnLinear.apply(xn, model.lm_head.weight)
        return logits
    if last_only:
        xn = xn.view(b, s, -1)[:, -1]
    return F.linear(xn, model.lm_head.weight)


def ep_moe(moe, x: torch.Tensor, rank: int, ep: int) -> torch.Tensor:
    """Expert-parallel MoE: route locally, ``all_to_all`` the token copies to the ranks owning
    their experts, run the local experts, ``all_to_all`` the outputs back, combine."""
    shape = x.shape
    x = x.reshape(-1, shape[-1])
    idx, weights = _route(moe, x)
    E, k = len(moe.experts), moe.k
    per = E // ep
    flat = idx.reshape(-1)
    order = torch.sort(flat, stable=True).indices
    counts = torch.bincount(flat, minlength=E)
    # Megatron preprocess: the E counts all-gathered over the TP×EP group; this rank's column
    all_counts = gather0(counts.unsqueeze(0))  # (ep, E)
    send = counts.view(ep, per).sum(1).tolist()
    rc = all_counts[:, rank * per:(rank + 1) * per]  # (ep, E/ep): copies from each rank
    recv = rc.sum(1).tolist()
    tok = order // k
    got = AllToAll.apply(x[tok], send, recv)  # (source rank, local expert)-major
    # dispatch_all_to_all sends the permuted probabilities beside the tokens
    p_got = AllToAll.apply(weights.reshape(-1)[order], send, recv)
    # Megatron's dispatcher sorts the received chunks by local expert (sort_chunks_by_idxs) and
    # SequentialMLP runs each expert on its split (torch.split / torch.cat)
    starts = torch.cumsum(rc.reshape(-1), 0) - rc.reshape(-1)
    perm = torch.cat([torch.arange(int(starts[src * per + j]), int(starts[src * per + j])
                                   + int(rc[src, j])) for j in range(per) for src in range(ep)]
                     + [torch.zeros(0, dtype=torch.long)])
    sizes = rc.sum(0).tolist()
    chunks = torch.split(got.index_select(0, perm), sizes)
    p_chunks = torch.split(p_got.index_select(0, perm), sizes)
    # the experts scale their outputs by the probabilities (Megatron: inside the activation)
    outs = [p[:, None] * moe.experts[rank * per + j](c)
            for j, (c, p) in enumerate(zip(chunks, p_chunks)) if c.shape[0]]
    ys = torch.cat(outs) if outs else got[:0]
    back = AllToAll.apply(ys.index_select(0, torch.argsort(perm)), recv, send)
    # unpermute: sum each token's copies (index_put_ saves only the indices; index_add would
    # keep ``back`` for its backward)
    out = torch.zeros_like(x).index_put_((tok,), back, accumulate=True)
    moe.last_received = int(sum(recv))
    moe.last_routing = ([int(v) for v in send], [int(v) for v in recv])
    return out.view(shape)


def shard_ep(model: RefDecoder, rank: int, ep: int) -> None:
    """Keep experts ``[r·E/ep, (r+1)·E/ep)``; the others become empty placeholders."""
    for moe in model.moe_layers():
        per = len(moe.experts) // ep
        for e in range(len(moe.experts)):
            if not rank * per <= e < (rank + 1) * per:
                moe.experts[e] = nn.Identity()
        moe.ep_rank, moe.ep = rank, ep
        moe.forward = (lambda m: (lambda x: ep_moe(m, x, m.ep_rank, m.ep)))(moe)


def is_expert_param(name: str) -> bool:
    return ".experts." in name


def stage_modules(model: RefDecoder, stage: int, pp: int) -> tuple[int, int]:
    """Keep stage ``stage``'s layers (``training.stage_layer_range``), the embedding on the
    first stage, the final norm and lm_head on the last; drop the rest."""
    from ..training import stage_layer_range

    lo, hi = stage_layer_range(len(model.blocks), pp, stage)
    model.blocks = nn.ModuleList(model.blocks[lo:hi])
    if stage != 0:
        model.embed = None
    if stage != pp - 1:
        model.norm = model.lm_head = None
    return lo, hi


def stage_forward(model: RefDecoder, x: torch.Tensor, pos: torch.Tensor,
                  cache: KVCache | None = None) -> torch.Tensor:
    if model.embed is not None:
        x = model.embed(x)
    for blk in model.blocks:
        x = blk(x, pos, cache)
    if model.lm_head is not None:
        x = model.lm_head(model.norm(x))
    return x


# ----------------------------------------------------------------------------------------------
# flat ZeRO-1/2
# ----------------------------------------------------------------------------------------------

class FlatZero:
    """ZeRO-1/2 over one flat fp32 buffer (module docstring). ``stage`` 1: a persistent full
    gradient buffer, reduce-scattered in place after the backward; 2: per-parameter
    post-accumulate hooks reduce each gradient's pieces to their owners (``dist.reduce``, as
    DeepSpeed's stage 2 does per partition) and free it, so only the ``⌈N/dp⌉`` shard of
    gradients persists. AdamW (fused) runs on the owned slice; the updated slices are then
    all-gathered into every rank's buffer."""

    def __init__(self, model: nn.Module, stage: int):
        self.stage, self.dp, self.rank = stage, _world(), dist.get_rank()
        params = list(model.parameters())
        self.params = params
        n = sum(p.numel() for p in params)
        self.shard = -(-n // self.dp)
        self.flat = torch.zeros(self.shard * self.dp)
        self.offsets = []
        o = 0
        for p in params:
            self.flat[o:o + p.numel()].copy_(p.data.reshape(-1))
            p.data = self.flat[o:o + p.numel()].view_as(p)
            self.offsets.append(o)
            o += p.numel()
        lo = self.rank * self.shard
        self.lo = lo
        self.owned = nn.Parameter(self.flat[lo:lo + self.shard])
        if stage == 1:
            self.grad_flat = torch.zeros_like(self.flat)
            for p, o in zip(params, self.offsets):
                p.grad = self.grad_flat[o:o + p.numel()].view_as(p)
            self.owned.grad = self.grad_flat[lo:lo + self.shard]
        else:
            self.owned.grad = torch.zeros(self.shard)
            for p, o in zip(params, self.offsets):
                p.register_post_accumulate_grad_hook(self._hook(o))
        try:
            self.opt = torch.optim.AdamW([self.owned], lr=1e-4, fused=True)
        except (RuntimeError, ValueError):
            self.opt = torch.optim.AdamW([self.owned], lr=1e-4)

    def _hook(self, o: int):
        def hook(p: torch.Tensor) -> None:
            g = p.grad.reshape(-1)
            n = g.numel()
            for r in range(self.dp):
                a, b = max(o, r * self.shard), min(o + n, (r + 1) * self.shard)
                if a < b:
                    piece = g[a - o:b - o]
                    dist.reduce(piece, dst=r)
                    if r == self.rank:
                        self.owned.grad[a - self.lo:b - self.lo].add_(piece)
            p.grad = None
        return hook

    def step(self) -> None:
        # Both collectives run in place, as Megatron's distributed optimizer and NCCL's in-place
        # mode do (output = input + rank·shard): no extra buffer.
        if self.stage == 1:
            dist.reduce_scatter_single(self.grad_flat[self.lo:self.lo + self.shard],
                                       self.grad_flat)
        self.owned.grad.div_(self.dp)
        self.opt.step()
        dist.all_gather_single(self.flat, self.flat[self.lo:self.lo + self.shard])

    def buffers(self) -> list[torch.Tensor]:
        """The flat parameter buffer and the gradient buffer (full or shard), for MemTracker."""
        return [self.flat, self.grad_flat if self.stage == 1 else self.owned.grad]

    def zero_grad(self) -> None:
        if self.stage == 1:
            self.grad_flat.zero_()
        else:
            self.owned.grad.zero_()

    def states(self) -> dict[str, int]:
        grads = (self.grad_flat if self.stage == 1 else self.owned.grad)
        return {"parameters": _nbytes([self.flat]), "gradients": _nbytes([grads]),
                "optimizer_moments": _moment_bytes(self.opt)}


# ----------------------------------------------------------------------------------------------
# measuring
# ----------------------------------------------------------------------------------------------

def _local(t: torch.Tensor) -> torch.Tensor:
    return t.to_local() if hasattr(t, "to_local") else t


def _nbytes(tensors) -> int:
    """Bytes of the distinct storages behind ``tensors`` (views and DTensor shards resolved:
    FSDP2's padded shard storage, a gradient bucket shared by several parameters once)."""
    seen, total = set(), 0
    for t in tensors:
        if t is None:
            continue
        st = _local(t).untyped_storage()
        if st.data_ptr() not in seen:
            seen.add(st.data_ptr())
            total += st.nbytes()
    return total


def _moment_bytes(opt: torch.optim.Optimizer) -> int:
    return _nbytes(v for s in opt.state.values() for k, v in s.items()
                   if k != "step" and isinstance(v, torch.Tensor))


def _optimizer(params) -> torch.optim.Optimizer:
    try:
        return torch.optim.AdamW(params, lr=1e-4, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=1e-4)


def _inputs(vocab: int, batch: int, seq: int, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    ids = torch.randint(0, vocab, (batch, seq + 1), generator=g)
    return ids[:, :-1].contiguous(), ids[:, 1:].contiguous()


class _Train:
    """One layout's training step on this rank: ``step()`` runs forward, backward and the
    optimizer (zeroing gradients in place afterwards); ``states()`` reads the bytes held."""

    def __init__(self, spec, layout: DistLayout, rank: int, w: dict[str, int]):
        self.layout, self.rank, self.w = layout, rank, w
        model = build_reference(spec, kernels="eager")
        self.spec = spec
        self.zero = None
        L = layout
        dp_rank = rank if L.tp == 1 and L.pp == 1 else 0
        self.batches = [_inputs(spec.vocab_size, w["micro_batch"], w["seq_len"],
                                seed=100 + 17 * dp_rank + mb) for mb in range(L.grad_accum)]
        self.replicated: list[nn.Parameter] = []
        if L.tp > 1:
            shard_tp(model, rank, L.tp)
            # norms and routers see only this rank's tokens: their gradients are summed over TP
            self.replicated = [p for n, p in model.named_parameters()
                               if "norm" in n or "router" in n]
        elif L.ep > 1:
            shard_ep(model, rank, L.ep)
        elif L.pp > 1:
            stage_modules(model, rank, L.pp)
        self.model = model
        if L.fsdp:
            from torch.distributed.fsdp import fully_shard

            for blk in model.blocks:
                fully_shard(blk)
            fully_shard(model)
        if L.zero in (1, 2) and not L.fsdp:
            self.zero = FlatZero(model, L.zero)
        else:
            for p in model.parameters():
                p.grad = torch.zeros_like(p)  # persistent gradient buffers
            self.opt = _optimizer(model.parameters())
        if L.ep > 1:
            self.dp_params = [p for n, p in model.named_parameters() if not is_expert_param(n)]

    def loss_of(self, logits, targets):
        if self.layout.tp > 1:
            return VocabParallelCrossEntropy.apply(
                logits, targets.reshape(-1), self.model.vstart).mean()
        return self.model.loss(logits, targets)

    def step(self, mark=None) -> None:
        L, m = self.layout, self.model
        if L.pp > 1:
            self._pipeline_step(mark)
        else:
            ids, tgt = self.batches[0]
            if L.tp > 1:
                loss = self.loss_of(tp_forward(m, ids, sp=True), tgt)
            else:
                loss = self.loss_of(m(ids), tgt)
            if mark:
                mark("forward")
            loss.backward()
            del loss
        if mark:
            mark("backward")
        self._sync_grads()
        if self.zero is not None:
            self.zero.step()
            self.zero.zero_grad()
        else:
            self.opt.step()
            self.opt.zero_grad(set_to_none=False)
        if mark:
            mark("step")

    def _sync_grads(self) -> None:
        L = self.layout
        if L.tp > 1:  # Megatron finalize_model_grads: one flat all-reduce over TP
            grads = [p.grad for p in self.replicated]
            flat = torch.cat([g.reshape(-1) for g in grads])
            dist.all_reduce(flat)
            o = 0
            for g in grads:
                g.copy_(flat[o:o + g.numel()].view_as(g))
                o += g.numel()
            del flat
        elif L.ep > 1:  # data-parallel non-expert parameters (DDP's all-reduce, averaged)
            for p in self.dp_params:
                dist.all_reduce(p.grad)
                p.grad.div_(L.world)
        elif L.pp > 1 and L.world > L.pp:
            raise EstimatorError("layout", L.name, "pp with data parallelism not implemented")

    def _pipeline_step(self, mark) -> None:
        """1F1B over ``grad_accum`` micro-batches between stage ``rank`` and its neighbours."""
        L, m, r = self.layout, self.model, self.rank
        first, last = r == 0, r == L.pp - 1
        n = L.grad_accum
        w = self.w
        shape = (w["micro_batch"], w["seq_len"], self.spec.hidden_size)
        pos = torch.arange(w["seq_len"])
        warm = min(L.pp - 1 - r, n)
        inputs, outputs, pending = {}, {}, []

        def fwd(i):
            ids, tgt = self.batches[i]
            if first:
                x = ids
            else:
                x = torch.empty(shape)
                dist.recv(x, src=r - 1)
                x.requires_grad_(True)
            out = stage_forward(m, x, pos)
            if last:
                out = self.loss_of(out, tgt) / n
            else:
                pending.append(dist.isend(out.detach(), dst=r + 1))
            inputs[i], outputs[i] = x, out

        def bwd(i):
            out = outputs.pop(i)
            x = inputs.pop(i)
            if last:
                out.backward()
            else:
                g = torch.empty(shape)
                dist.recv(g, src=r + 1)
                out.backward(g)
            del out
            if not first:
                pending.append(dist.isend(x.grad, dst=r - 1))

        for i in range(warm):
            fwd(i)
        for i in range(n - warm):
            fwd(warm + i)
            if mark and i == 0:
                mark("forward")
            bwd(i)
        for i in range(n - warm, n):
            bwd(i)
        for p in pending:
            p.wait()

    def states(self) -> dict[str, int]:
        if self.zero is not None:
            return self.zero.states()
        ps = list(self.model.parameters())
        return {"parameters": _nbytes(ps), "gradients": _nbytes(p.grad for p in ps),
                "optimizer_moments": _moment_bytes(self.opt)}


def _mem_tracker():
    """:func:`.profile._mem_tracker` (global peak only) without the per-module hooks: a pipeline
    stage runs its blocks once per micro-batch and an EP rank runs each local expert once per
    source rank, which MemTracker's module statistics refuse ("multiple iterative calls"). The
    global peak is updated at every operator (``__torch_dispatch__``), not by those hooks; the
    parameters and optimizer states are registered with ``track_external``."""
    from .profile import _mem_tracker as mt

    tracker = mt()
    for hook in ("_pre_fw_hook", "_post_fw_hook", "_pre_bw_hook", "_post_bw_hook"):
        setattr(tracker, hook, lambda *a, **k: None)
    return tracker


def measure_training(spec, layout: DistLayout, rank: int, w: dict[str, int]) -> dict[str, Any]:
    """Warm-up step, then one measured step under MemTracker; bytes and collectives."""
    from .profile import _snap

    tr = _Train(spec, layout, rank, w)
    COUNTER.phase = "warmup"
    tr.step()
    states = tr.states()
    gc.collect()
    mt = _mem_tracker()
    tracked = [tr.model] + ([tr.zero.opt, *tr.zero.buffers()] if tr.zero else [tr.opt])
    mt.track_external(*tracked)
    device = torch.device("cpu")
    points, peaks = {}, []

    def mark(name):
        points[name] = _snap(mt, device)["total"]
        if os.environ.get("MOE_DIST_DEBUG"):
            print(layout.name, rank, name, _snap(mt, device), "PEAK", _snap(mt, device, "peak"),
                  flush=True)
        peaks.append((name, _snap(mt, device, "peak")["total"]))

    COUNTER.phase = "train"
    RELEASE_WAITS.update(waited=0, timeouts=0)
    # no cyclic collection inside the measured step: tensors are freed by reference counting
    # alone, at the same points on every run (a collection at a random moment moved the peak)
    gc.disable()
    with mt, contextlib.suppress(Warning):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tr.step(mark)
    gc.enable()
    mt.reset_mod_stats()
    peak = _snap(mt, device, "peak")
    phase = next((n for n, v in peaks if v == peak["total"]), "step")
    out = {"states": states, "states_after": tr.states(), "peak": peak["total"],
           "peak_phase": phase, "at": points, "collectives": COUNTER.summary("train"),
           "backend_release_waits": dict(RELEASE_WAITS)}
    moes = tr.model.moe_layers() if tr.model.blocks is not None else []
    got = [getattr(moe, "last_received", None) for moe in moes]
    if any(g is not None for g in got):
        out["expert_copies_received"] = got
        out["ep_routing"] = [list(moe.last_routing) for moe in moes]
    del tr
    gc.collect()
    return out


def measure_decode(spec, layout: DistLayout, rank: int, w: dict[str, int]) -> dict[str, Any]:
    """Prefill ``batch × prompt`` tokens, then one decode step (no_grad): this rank's weights,
    KV-cache bytes after the step, and the decode step's collectives."""
    L = layout
    model = build_reference(spec, kernels="eager")
    b, s = w["decode_batch"], w["prompt"]
    g = torch.Generator().manual_seed(7)
    ids = torch.randint(0, spec.vocab_size, (b, s + 1), generator=g)
    if L.ep > 1:  # data-parallel attention (vLLM/SGLang DP-attention): b/ep sequences each
        shard_ep(model, rank, L.ep)
        per = -(-b // L.ep)
        ids = ids[rank * per:(rank + 1) * per]
    elif L.tp > 1:
        shard_tp(model, rank, L.tp)
    elif L.pp > 1:
        stage_modules(model, rank, L.pp)
    weights = _nbytes(model.parameters()) + sum(
        t.numel() * t.element_size() for t in model.buffers())
    cache = KVCache(len(model.blocks))
    if L.pp > 1:
        lo = model.blocks[0].attn.layer
        for blk in model.blocks:  # the cache is indexed by the stage's own layer order
            blk.attn.layer -= lo

    def run(tok):
        if L.tp > 1:
            return tp_forward(model, tok, sp=False, cache=cache, last_only=True)
        if L.pp > 1:
            pos = torch.arange(cache.seen, cache.seen + tok.shape[1])
            x = tok
            if rank > 0:
                x = torch.empty(tok.shape[0], tok.shape[1], spec.hidden_size)
                dist.recv(x, src=rank - 1)
            out = stage_forward(model, x, pos, cache)
            cache.seen += tok.shape[1]
            if rank < L.pp - 1:
                dist.send(out, dst=rank + 1)
            return out
        return model(tok, cache, last_only=True)

    with torch.no_grad():
        COUNTER.phase = "prefill"
        run(ids[:, :s])
        COUNTER.phase = "decode"
        run(ids[:, s:s + 1])
    return {"weights": weights, "kv_cache": cache.nbytes(), "sequences": int(ids.shape[0]),
            "collectives": COUNTER.summary("decode")}


# ----------------------------------------------------------------------------------------------
# the ranks and the launcher
# ----------------------------------------------------------------------------------------------

def _backend() -> str:
    return "nccl" if torch.cuda.is_available() and dist.is_nccl_available() else "gloo"


def _rank_main(rank: int, world: int, port: int, names: list[str], cfg: dict[str, Any],
               w: dict[str, int], outdir: str) -> None:
    """Entry point of one rank: measure every layout of this world size, write rank{r}.json."""
    torch.set_num_threads(1)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    result: dict[str, Any] = {"rank": rank, "layouts": {}}
    try:
        from ..hf import spec_from_hf_config

        spec = spec_from_hf_config(cfg)
        dist.init_process_group("gloo", init_method=f"tcp://127.0.0.1:{port}", rank=rank,
                                world_size=world,
                                timeout=datetime.timedelta(seconds=INIT_TIMEOUT_S))
        COUNTER.install()
        for name in names:
            layout = LAYOUTS[name]
            t0 = time.perf_counter()
            COUNTER.records.clear()
            rec = {"training": measure_training(spec, layout, rank, w)}
            if layout.decode:
                COUNTER.records.clear()
                rec["decode"] = measure_decode(spec, layout, rank, w)
            rec["seconds"] = round(time.perf_counter() - t0, 2)
            result["layouts"][name] = rec
            dist.barrier()
        COUNTER.uninstall()
        dist.destroy_process_group()
    except Exception as e:  # noqa: BLE001  (reported by the launcher in one line)
        result["error"] = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        result["traceback"] = traceback.format_exc()
    with open(os.path.join(outdir, f"rank{rank}.json"), "w", encoding="utf-8") as f:
        json.dump(result, f)
    # Leave without the interpreter's teardown: gloo's threads can abort it ("terminate called
    # without an active exception", SIGABRT) after the result is safely written.
    os._exit(1 if "error" in result else 0)


def _cpu() -> str:
    from .compare import cpu_model

    return cpu_model() or platform.machine()


def free_port() -> int:
    """A TCP port nobody listens on now (bound and released; the rendezvous binds it next)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_in_use(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        try:
            s.bind(("127.0.0.1", port))
        except OSError:
            return True
    return False


def launch(world: int, names: list[str], cfg: dict[str, Any], w: dict[str, int],
           timeout_s: float = DEFAULT_TIMEOUT_S, port: int | None = None) -> list[dict]:
    """Run ``world`` ranks (``torch.multiprocessing``, spawn) over the layouts ``names``; one
    result per rank. Raises :class:`EstimatorError` with one line when the ranks cannot start
    (no gloo, port in use), a rank fails or dies, or the run passes ``timeout_s``."""
    import torch.multiprocessing as mp

    if not dist.is_available() or not dist.is_gloo_available():
        raise EstimatorError("backend", "gloo", "this PyTorch build has no gloo backend "
                             "(torch.distributed.is_gloo_available() is False)")
    if port is None:
        port = free_port()
    elif port_in_use(port):
        raise EstimatorError("port", port, "is in use on 127.0.0.1; pick another or omit "
                             "--port to choose a free one")
    with tempfile.TemporaryDirectory(prefix="moe-dist-") as outdir:
        ctx = mp.start_processes(_rank_main, args=(world, port, names, cfg, w, outdir),
                                 nprocs=world, join=False, start_method="spawn")
        deadline = time.monotonic() + timeout_s
        failed: str | None = None
        try:
            while True:
                try:
                    if ctx.join(timeout=1.0):
                        break
                except Exception as e:  # noqa: BLE001  (a rank exited non-zero or by signal)
                    failed = str(e).strip().splitlines()[0] if str(e).strip() else repr(e)
                    break
                if time.monotonic() > deadline:
                    failed = (f"ranks still running after {timeout_s:.0f} s (timeout); "
                              "killed")
                    break
        finally:
            for p in ctx.processes:
                if p.is_alive():
                    p.terminate()
            for p in ctx.processes:
                p.join(5)
                if p.is_alive():
                    p.kill()
        results = []
        for r in range(world):
            path = os.path.join(outdir, f"rank{r}.json")
            if os.path.exists(path):
                with open(path, encoding="utf-8") as f:
                    results.append(json.load(f))
        errors = [(r["rank"], r["error"]) for r in results if "error" in r]
        if errors:
            rank, msg = errors[0]
            if "Address already in use" in msg or "EADDRINUSE" in msg:
                msg = f"port {port} in use: {msg}"
            raise EstimatorError("distributed", f"rank {rank}", msg)
        if failed or len(results) < world:
            missing = sorted(set(range(world)) - {r["rank"] for r in results})
            raise EstimatorError("distributed", f"world size {world}",
                                 (failed or "a rank exited") +
                                 (f"; no result from rank(s) {missing}" if missing else ""))
    return sorted(results, key=lambda r: r["rank"])


def run(names: list[str] | None = None, model: str = "mixtral-8x7b",
        timeout_s: float = DEFAULT_TIMEOUT_S, port: int | None = None,
        world_size: int | None = None) -> dict[str, Any]:
    """Measure ``names`` (default :data:`~.dist_layouts.DEFAULT`) on ``model`` shrunk; the raw
    record :mod:`.dist_render` turns into rows. ``world_size`` keeps the layouts of that size."""
    from ..presets import load_model
    from .budget import planned
    from .dist_layouts import DEFAULT, check_names

    names = check_names(names or list(DEFAULT), world_size)
    spec, cfg = planned(load_model(model), True)
    if cfg is None:
        raise EstimatorError("model", model, "needs a transformers config.json to shrink")
    for n in names:
        check_layout_supported(spec, LAYOUTS[n])
    t0 = time.perf_counter()
    ranks: dict[str, list[dict]] = {}
    deadline = time.monotonic() + timeout_s
    # one fresh set of ranks per layout: nothing a previous layout left in a process (FSDP2
    # state, cached buffers) can move the next one's peak (it did: +1.9 MB on one rank)
    for name in names:
        world = LAYOUTS[name].world
        left = deadline - time.monotonic()
        if left <= 0:
            raise EstimatorError("distributed", name,
                                 f"not started: the {timeout_s:.0f} s timeout was used up")
        for res in launch(world, [name], cfg, WORKLOAD, left, port):
            for n, rec in res["layouts"].items():
                ranks.setdefault(n, []).append({"rank": res["rank"], **rec})
    return {
        "schema": RAW_SCHEMA, "model": model, "config": cfg, "workload": dict(WORKLOAD),
        "layouts": {n: {"layout": asdict(LAYOUTS[n]), "ranks": ranks[n]} for n in names},
        "date": datetime.date.today().isoformat(), "torch": torch.__version__,
        "backend": "gloo", "estimator": __version__, "cpu": _cpu(),
        "cores": os.cpu_count(), "elapsed_s": round(time.perf_counter() - t0, 1),
    }
