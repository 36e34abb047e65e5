"""Fused-kernel versions of four eager ops, as custom autograd Functions.

Production training stacks (Megatron-LM with Transformer Engine, apex, Liger kernels) fuse
these ops so that backward keeps fewer tensors than plain autograd does. The reference model
uses them in ``kernels="fused"`` mode so its saved-tensor set is the one
:mod:`estimator.training` describes (``ACTIVATION_FRAMEWORK``); ``kernels="eager"`` keeps the
plain PyTorch ops. Each Function says what it saves; the math is the textbook derivative.

* :class:`RMSNormFn` — saves the input and the per-row ``rstd`` (TE/apex fused RMSNorm);
  eager autograd also keeps ``x·rstd`` (one more ``T·h``).
* :class:`SwiGLUFn` — saves ``gate`` and ``up`` (Megatron ``bias_swiglu``); eager also keeps
  ``silu(gate)`` (one more ``T·f``).
* :class:`RoPEFn` — saves nothing but positions (TE ``fused_apply_rotary_pos_emb``); eager keeps
  the ``cos``/``sin`` tables of each call.
* :class:`MaskedSoftmaxFn` — causal/sliding-window softmax (with optional gpt-oss sinks) that
  saves only its output (Megatron ``FusedScaleMaskSoftmax``); eager ``masked_fill`` also keeps
  a boolean ``s×s`` mask per layer.
* :class:`CrossEntropyFn` — Megatron's vocab cross-entropy: fp32 softmax saved, gradient
  computed in place in it (``tensor_parallel/cross_entropy.py``); ``F.cross_entropy`` keeps the
  log-softmax and allocates two more ``T×V`` tensors at the start of backward.
"""

from __future__ import annotations

import torch

NORM_EPS = 1e-5


def rotate_half(x: torch.Tensor) -> torch.Tensor:
    half = x.shape[-1] // 2
    return torch.cat([-x[..., half:2 * half], x[..., :half]], -1)


def rope_tables(pos: torch.Tensor, d: int, theta: float, dtype: torch.dtype
                ) -> tuple[torch.Tensor, torch.Tensor]:
    """``cos``/``sin`` of shape ``(seq, 2·(d//2))`` for positions ``pos`` (rotate-half layout)."""
    half = d // 2
    inv = theta ** (-torch.arange(half, device=pos.device, dtype=torch.float32) / half)
    ang = pos.to(torch.float32)[:, None] * inv[None, :]
    cos, sin = ang.cos().to(dtype), ang.sin().to(dtype)
    return torch.cat([cos, cos], -1), torch.cat([sin, sin], -1)


class RMSNormFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, weight):
        rstd = torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS)
        ctx.save_for_backward(x, rstd, weight)
        return x * rstd * weight

    @staticmethod
    def backward(ctx, gy):
        x, rstd, weight = ctx.saved_tensors
        xhat = x * rstd
        gw = (gy * xhat).reshape(-1, x.shape[-1]).sum(0)
        gxhat = gy * weight
        gx = rstd * (gxhat - xhat * (gxhat * xhat).mean(-1, keepdim=True))
        return gx, gw


class SwiGLUFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, gate, up):
        ctx.save_for_backward(gate, up)
        return torch.nn.functional.silu(gate) * up

    @staticmethod
    def backward(ctx, gy):
        gate, up = ctx.saved_tensors
        sig = torch.sigmoid(gate)
        silu = gate * sig
        return gy * up * sig * (1 + gate * (1 - sig)), gy * silu


class RoPEFn(torch.autograd.Function):
    @staticmethod
    def forward(ctx, x, pos, theta):
        d = x.shape[-1]
        ctx.save_for_backward(pos)
        ctx.theta = theta
        cos, sin = rope_tables(pos, d, theta, x.dtype)
        n = cos.shape[-1]
        y = x[..., :n] * cos + rotate_half(x[..., :n]) * sin
        return torch.cat([y, x[..., n:]], -1) if n != d else y

    @staticmethod
    def backward(ctx, gy):
        (pos,) = ctx.saved_tensors
        d = gy.shape[-1]
        cos, sin = rope_tables(pos, d, ctx.theta, gy.dtype)
        n = cos.shape[-1]
        half = n // 2
        g = gy[..., :n]
        # y = x·cos + R(x)·sin with R(x) = [−x2, x1]; Rᵀ(g) = [g2, −g1]
        gx = g * cos + torch.cat([g[..., half:], -g[..., :half]], -1) * sin
        return (torch.cat([gx, gy[..., n:]], -1) if n != d else gx), None, None


class MaskedSoftmaxFn(torch.autograd.Function):
    """``softmax(scores masked by hidden)`` over the last dim; ``sinks`` (one logit per row group,
    broadcast to ``scores[..., :1]``) join the softmax and are dropped from the output."""

    @staticmethod
    def forward(ctx, scores, hidden, sinks):
        s = scores.masked_fill(hidden, float("-inf"))
        if sinks is not None:
            s = torch.cat([s, sinks.expand(*scores.shape[:-1], 1)], -1)
        probs = torch.softmax(s, dim=-1)
        ctx.has_sinks = sinks is not None
        ctx.sink_shape = None if sinks is None else sinks.shape
        ctx.save_for_backward(probs)
        return probs[..., :scores.shape[-1]] if sinks is not None else probs

    @staticmethod
    def backward(ctx, gp):
        (probs,) = ctx.saved_tensors
        if ctx.has_sinks:
            gp = torch.cat([gp, gp.new_zeros(*gp.shape[:-1], 1)], -1)
        gs = probs * (gp - (gp * probs).sum(-1, keepdim=True))
        if not ctx.has_sinks:
            return gs, None, None
        g_sink = gs[..., -1:]
        dims = [i for i, n in enumerate(ctx.sink_shape) if n == 1 and g_sink.shape[i] != 1]
        g_sink = g_sink.sum(dims, keepdim=True) if dims else g_sink
        return gs[..., :-1], None, g_sink


class CrossEntropyFn(torch.autograd.Function):
    """Mean token cross-entropy of ``logits (N, V)`` against ``target (N,)``, Megatron-style."""

    @staticmethod
    def forward(ctx, logits, target):
        lf = logits.float()
        sm = lf - lf.max(-1, keepdim=True).values  # a new fp32 tensor (logits untouched)
        sm.exp_()
        sm.div_(sm.sum(-1, keepdim=True))
        n = target.shape[0]
        loss = -torch.log(sm[torch.arange(n, device=sm.device), target]).mean()
        ctx.save_for_backward(sm, target)
        ctx.in_dtype = logits.dtype
        return loss

    @staticmethod
    def backward(ctx, g):
        sm, target = ctx.saved_tensors
        n = target.shape[0]
        sm[torch.arange(n, device=sm.device), target] -= 1.0  # in place, as Megatron does
        sm.mul_(g / n)
        return sm.to(ctx.in_dtype), None
