"""Fused-kernel versions of six eager ops, as custom autograd Functions.

Production training stacks (Megatron-LM with Transformer Engine, apex, Liger kernels) fuse
these ops so that backward keeps fewer tensors than plain autograd does. The reference model
uses them in ``kernels="fused"`` mode so its saved-tensor set is the one
:mod:`estimator.training` describes (``activation_framework="megatron"``); ``kernels="eager"``
keeps the plain PyTorch ops (``activation_framework="pytorch_eager"``). Each Function says
what it saves; the math is the textbook derivative.

* :class:`RMSNormFn` — saves the input and the per-row ``rstd`` (TE/apex fused RMSNorm);
  eager autograd also keeps ``x·rstd`` (one more ``T·h``).
* :class:`SwiGLUFn` — saves ``gate`` and ``up`` (Megatron ``bias_swiglu``), and its backward
  allocates only the two gradients, as the fused kernel does; eager also keeps ``silu(gate)``
  (one more ``T·f``).
* :class:`RoPEFn` — saves nothing but positions (TE ``fused_apply_rotary_pos_emb``); eager keeps
  the ``cos``/``sin`` tables of each call.
* :class:`MaskedSoftmaxFn` — scaled causal/sliding-window softmax (with optional gpt-oss sinks)
  that saves only its output and computes its gradient in place (Megatron
  ``FusedScaleMaskSoftmax``); eager ``masked_fill`` also keeps a boolean ``s×s`` mask per layer.
* :class:`LinearFn` — ``x @ Wᵀ + b`` saving ``x``; the weight gradient is accumulated into the
  persistent ``.grad`` inside the GEMM (``addmm(out=grad)``), as Megatron's
  ``gradient_accumulation_fusion`` does into ``main_grad``; autograd instead computes each weight
  gradient into a fresh buffer and then adds it (one weight-sized transient, largest at the
  lm_head: ``V·h``).
* :class:`CrossEntropyFn` — Megatron's vocab cross-entropy: softmax computed in place on the
  fp32 logits and saved, gradient computed in place in it (``tensor_parallel/cross_entropy.py``);
  ``F.cross_entropy`` keeps the log-softmax and allocates two more ``T×V`` tensors at the start
  of backward.
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
        # Two T×f buffers, the two gradients (Megatron's fused swiglu_back writes only those):
        # d/dgate = up·(σ + silu·(1 − σ)), d/dup = silu, with σ = sigmoid(gate), silu = gate·σ.
        gate, up = ctx.saved_tensors
        g_gate = torch.sigmoid(gate)
        g_up = gate * g_gate  # silu(gate)
        g_gate.addcmul_(g_gate, g_up, value=-1.0).add_(g_up)  # σ − σ·silu + silu
        g_gate.mul_(up).mul_(gy)
        return g_gate, g_up.mul_(gy)


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
    """``softmax(scale · scores masked by hidden)`` over the last dim; ``sinks`` (one logit per row
    group, broadcast to ``scores[..., :1]``) join the softmax and are dropped from the output.
    Saves only its output; the backward works in place in the incoming gradient, as Megatron's
    fused scale-mask-softmax kernels do (``scaled_masked_softmax_cuda`` backward writes the
    input gradient over the output gradient), so it allocates no ``s×s`` tensor of its own."""

    @staticmethod
    def forward(ctx, scores, hidden, sinks, scale):
        # scale and mask in place in the scores (nothing saves them), as the fused kernel reads
        # them once: the raw scores and the probabilities are the only s×s tensors
        s = scores.mul_(scale).masked_fill_(hidden, float("-inf"))
        if sinks is not None:
            s = torch.cat([s, sinks.expand(*scores.shape[:-1], 1)], -1)
        probs = torch.softmax(s, dim=-1)
        ctx.has_sinks = sinks is not None
        ctx.sink_shape = None if sinks is None else sinks.shape
        ctx.scale = scale
        ctx.save_for_backward(probs)
        return probs[..., :scores.shape[-1]] if sinks is not None else probs

    @staticmethod
    def backward(ctx, gp):
        (probs,) = ctx.saved_tensors
        if ctx.has_sinks:  # the sink's output gradient is 0 (it is dropped from the output)
            gp = torch.cat([gp, gp.new_zeros(*gp.shape[:-1], 1)], -1)
        else:
            gp = gp.contiguous()
        # gs = probs · (gp − Σ gp·probs), in place in gp: gp·probs, then −= probs · rowsum
        gp.mul_(probs)
        row = gp.sum(-1, keepdim=True)
        gp.addcmul_(probs, row.expand_as(probs), value=-1.0)
        if not ctx.has_sinks:
            return gp.mul_(ctx.scale), None, None, None
        g_sink = gp[..., -1:]
        dims = [i for i, n in enumerate(ctx.sink_shape) if n == 1 and g_sink.shape[i] != 1]
        g_sink = g_sink.sum(dims, keepdim=True) if dims else g_sink
        return gp[..., :-1].mul_(ctx.scale), None, g_sink, None


class LinearFn(torch.autograd.Function):
    """``linear(x, weight, bias)``; backward accumulates the weight gradient into ``weight.grad``
    in the GEMM itself (returns ``None`` for it); the bias gradient (``out_features`` values)
    goes through autograd as usual."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        ctx.save_for_backward(x, weight)
        ctx.has_bias = bias is not None
        return torch.nn.functional.linear(x, weight, bias)

    @staticmethod
    def backward(ctx, gy):
        x, weight = ctx.saved_tensors
        g2, x2 = gy.reshape(-1, gy.shape[-1]), x.reshape(-1, x.shape[-1])
        if weight.grad is None:
            weight.grad = torch.zeros_like(weight)
        torch.addmm(weight.grad, g2.t(), x2, out=weight.grad)  # FlopCounterMode counts addmm
        gx = gy @ weight if ctx.needs_input_grad[0] else None
        return gx, None, (g2.sum(0) if ctx.has_bias else None)


class CrossEntropyFn(torch.autograd.Function):
    """Mean token cross-entropy of ``logits (N, V)`` against ``target (N,)``, as Megatron's
    ``_VocabParallelCrossEntropy`` (``tensor_parallel/cross_entropy.py``, one rank): ``.float()``,
    then max-subtraction, exp and normalisation in place on that fp32 tensor, which is saved as
    the softmax; the gradient is computed in place in it. From 16-bit logits ``.float()`` is a
    copy; from fp32 logits it is the logits themselves (nothing else saves them: the lm_head's
    backward needs its input and weight, not its output), so no second ``N×V`` tensor exists."""

    @staticmethod
    def forward(ctx, logits, target):
        # detach(): fp32 logits are worked on in place (same storage, as Megatron does) without
        # autograd's view bookkeeping (the logits may be a view made inside another Function)
        sm = logits.detach().float()
        sm -= sm.max(-1, keepdim=True).values
        n = target.shape[0]
        predicted = sm[torch.arange(n, device=sm.device), target]  # a copy (advanced indexing)
        sm.exp_()
        sum_exp = sm.sum(-1)
        loss = (torch.log(sum_exp) - predicted).mean()
        sm.div_(sum_exp.unsqueeze(-1))
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
