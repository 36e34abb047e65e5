"""A compact, readable PyTorch decoder built from a :class:`~estimator.spec.ModelSpec`.

This is the measurement subject of the validation loop: the same spec the estimator reads is
instantiated as a real ``nn.Module``, and parameters, FLOPs, KV-cache bytes and training memory
are *measured* on it (:mod:`estimator.validation.profile`). It is written to be read top to
bottom, nanoGPT-style, and to be countable:

* attention is explicit matmuls (``q @ kᵀ``, ``p @ v``): CPU ``scaled_dot_product_attention`` has
  no FLOP formula registered, so :class:`~torch.utils.flop_counter.FlopCounterMode` would count 0
  (REFERENCE.md §5). GQA/MQA query heads are grouped onto their shared K/V head with a reshape,
  never by materialising repeated K/V (what FlashAttention-style kernels do);
* experts are per-expert ``nn.Linear`` modules run on the tokens routed to them (the
  megablocks / mistral-inference ``MoeLayer`` shape), so FLOPs follow ``k``, not ``E``;
* MLA follows ``modeling_deepseek_v3.DeepseekV3Attention`` (decompressed attention), and its KV
  cache holds the compressed latent, as serving engines keep it (DeepSeek-V2 §2.1.2);
* ``kernels="fused"`` swaps in :mod:`~estimator.validation.kernels`' autograd Functions (norms,
  SwiGLU, RoPE, scale-mask-softmax, cross-entropy and linear layers that save and allocate what
  Megatron/Transformer Engine do); ``kernels="eager"`` is plain PyTorch. The two training-memory
  measurements are compared with the estimator's ``activation_framework`` ``"megatron"`` and
  ``"pytorch_eager"``.

Every parameter the estimator counts is instantiated here and nothing else, so
``sum(p.numel())`` equals ``count_params(spec).total`` exactly (tests/test_validation.py).
Not implemented: JetMoE's mixture-of-attention heads (``spec.moa``) and multi-token-prediction
modules (outside the main model; ``count_params`` reports them separately as ``mtp``).
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
import torch.utils.checkpoint
from torch import nn

from ..errors import EstimatorError
from ..spec import ModelSpec
from .kernels import (
    CrossEntropyFn,
    LinearFn,
    MaskedSoftmaxFn,
    RMSNormFn,
    RoPEFn,
    SwiGLUFn,
    rope_tables,
)

#: ``eager``: plain PyTorch ops, autograd saves what it saves. ``fused``: RMSNorm, SwiGLU, RoPE,
#: masked softmax and cross-entropy as fused autograd Functions that save the minimal set, and
#: linear layers that accumulate their weight gradient in place
#: (:mod:`estimator.validation.kernels`), as Megatron/Transformer Engine do.
KERNELS = ("eager", "fused")

NORM_EPS = 1e-5
ROPE_THETA = 10_000.0


def check_supported(spec: ModelSpec) -> None:
    """Raise :class:`EstimatorError` for spec features this reference model does not build."""
    if spec.moa is not None:
        raise EstimatorError("moa", spec.moa, "mixture-of-attention (JetMoE) is not implemented "
                             "by the reference model; validate it with the transformers model")


# ----------------------------------------------------------------------------------------------
# building blocks
# ----------------------------------------------------------------------------------------------

class Linear(nn.Linear):
    """``nn.Linear``; with ``fused=True`` (while training) :class:`~.kernels.LinearFn`, which
    accumulates the weight gradient straight into ``.grad`` as Megatron's
    ``gradient_accumulation_fusion`` does, instead of autograd's fresh buffer + add."""

    def __init__(self, in_features: int, out_features: int, bias: bool = True,
                 fused: bool = False):
        super().__init__(in_features, out_features, bias=bias)
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused and torch.is_grad_enabled() and self.weight.requires_grad:
            return LinearFn.apply(x, self.weight, self.bias)
        return super().forward(x)


class RMSNorm(nn.Module):
    """RMSNorm (Zhang & Sennrich 2019): ``x / rms(x) · w``; ``width`` parameters."""

    def __init__(self, width: int, fused: bool = False):
        super().__init__()
        self.weight = nn.Parameter(torch.ones(width))
        self.fused = fused

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.fused:
            return RMSNormFn.apply(x, self.weight)
        return x * torch.rsqrt(x.pow(2).mean(-1, keepdim=True) + NORM_EPS) * self.weight


def make_norm(spec: ModelSpec, width: int, fused: bool = False) -> nn.Module:
    """The spec's norm over ``width`` features (parameter count = ``params.norm_params``).
    LayerNorm uses torch's native kernel (it saves input, mean and rstd: already fused)."""
    if spec.norm_type == "layernorm" or not spec.norm_weight:  # no weight: OLMo-1
        return nn.LayerNorm(width, eps=NORM_EPS, elementwise_affine=spec.norm_weight,
                            bias=spec.norm_bias and spec.norm_weight)
    return RMSNorm(width, fused)


def rope(x: torch.Tensor, pos: torch.Tensor, fused: bool = False) -> torch.Tensor:
    """Rotary embedding (Su et al. 2021, rotate-half layout as in transformers) over the last dim.

    ``x`` is ``(..., seq, d)``; ``pos`` the absolute positions ``(seq,)``. An odd last feature
    is not rotated.
    """
    d = x.shape[-1]
    if d < 2:
        return x
    if fused:
        return RoPEFn.apply(x, pos, ROPE_THETA)
    cos, sin = rope_tables(pos, d, ROPE_THETA, x.dtype)
    n = cos.shape[-1]
    half = n // 2
    rot = torch.cat([-x[..., half:n], x[..., :half]], -1)
    if n != d:
        return torch.cat([x[..., :n] * cos + rot * sin, x[..., n:]], -1)
    return x * cos + rot * sin


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, q_pos: torch.Tensor,
           k_pos: torch.Tensor, window: int | None, sinks: torch.Tensor | None,
           scale: float, fused: bool = False, sdpa: bool = False) -> torch.Tensor:
    """Causal (optionally sliding-window) softmax attention, written as two matmuls.

    ``q`` is ``(b, a, s_q, d)``, ``k`` ``(b, g, s_k, d)``, ``v`` ``(b, g, s_k, d_v)``, ``a = g·r``:
    query head ``i`` reads K/V head ``i // r`` (transformers' ``repeat_kv`` order). The ``r``
    query heads of a group are stacked along the sequence axis so each matmul sees the shared
    K/V once.
    A key at position ``j`` is visible to a query at ``i`` iff ``j ≤ i`` and ``i − j < window``.
    ``sinks`` (gpt-oss) are one learned logit per query head that joins the softmax and is then
    dropped. Returns ``(b, s_q, a·d_v)``.

    ``sdpa``: ``F.scaled_dot_product_attention`` instead (FlashAttention / memory-efficient
    kernels on CUDA: no ``s×s`` score tensor, what serving engines run); not for sinks, which
    SDPA has no argument for (those layers stay explicit).
    """
    b, a, sq, d = q.shape
    g, sk, dv = k.shape[1], k.shape[2], v.shape[-1]
    r = a // g
    if sdpa and sinks is None:
        if window is None and sq == 1:  # one decode query sees every cached key: the r query
            # heads of a group ride on the sequence axis against their one K/V head (no mask,
            # no repeated K/V, any dtype: what paged decode kernels do)
            out = F.scaled_dot_product_attention(q.reshape(b, g, r, d), k, v, scale=scale)
            return out.reshape(b, a, 1, dv).transpose(1, 2).reshape(b, sq, a * dv)
        elif window is None and sq == sk:
            out = F.scaled_dot_product_attention(q, k, v, is_causal=True, scale=scale,
                                                 enable_gqa=r > 1)
        else:  # decode against a cache, or a window: an explicit (s_q × s_k) visibility mask
            visible = k_pos[None, :] <= q_pos[:, None]
            if window is not None:
                visible &= k_pos[None, :] > (q_pos - window)[:, None]
            out = F.scaled_dot_product_attention(q, k, v, attn_mask=visible, scale=scale,
                                                 enable_gqa=r > 1)
        return out.transpose(1, 2).reshape(b, sq, a * dv)
    scores = q.reshape(b, g, r * sq, d) @ k.transpose(-1, -2)  # (b, g, r·s_q, s_k)
    scores = scores.view(b, g, r, sq, sk)
    # bool masks built by comparison (no s×s integer tensor): key after the query, or at least
    # ``window`` positions behind it
    hidden = k_pos[None, :] > q_pos[:, None]
    if window is not None:
        hidden |= k_pos[None, :] <= (q_pos - window)[:, None]
    if fused:  # scale, mask and softmax in one Function (Megatron FusedScaleMaskSoftmax)
        sink = None if sinks is None else sinks.view(1, g, r, 1, 1).to(scores.dtype)
        probs = MaskedSoftmaxFn.apply(scores, hidden, sink, scale)
        out = probs.reshape(b, g, r * sq, sk) @ v
        return out.view(b, a, sq, dv).transpose(1, 2).reshape(b, sq, a * dv)
    scores = (scores * scale).masked_fill(hidden, float("-inf"))
    if sinks is not None:
        sink = sinks.view(1, g, r, 1, 1).to(scores.dtype).expand(b, g, r, sq, 1)
        probs = F.softmax(torch.cat([scores, sink], -1), dim=-1)[..., :sk]
    else:
        probs = F.softmax(scores, dim=-1)
    out = probs.reshape(b, g, r * sq, sk) @ v  # (b, g, r·s_q, d_v)
    return out.view(b, a, sq, dv).transpose(1, 2).reshape(b, sq, a * dv)


def key_positions(pos: torch.Tensor, n_keys: int) -> torch.Tensor:
    """Positions of the ``n_keys`` most recent keys, ending at the last query position."""
    end = int(pos[-1]) + 1
    return torch.arange(end - n_keys, end, device=pos.device)


class KVCache:
    """The simplest KV cache: per layer, a tuple of tensors concatenated along the sequence.

    Sliding-window layers keep only the last ``window − 1`` positions — exactly what the next
    query needs (it sees itself plus ``window − 1`` predecessors) and what transformers'
    ``DynamicSlidingWindowLayer`` keeps. Kept tensors are copied so their storage is what they
    show (``nbytes`` below is then also the memory held).
    """

    def __init__(self, num_layers: int):
        self.layers: list[tuple[torch.Tensor, ...] | None] = [None] * num_layers
        self.seen = 0  # positions processed so far (advanced by the model after each forward)

    def update(self, i: int, new: tuple[torch.Tensor, ...], window: int | None,
               seq_dim: int = -2) -> tuple[torch.Tensor, ...]:
        """Append ``new`` to layer ``i``; return the full (past + new) tensors for attention."""
        old = self.layers[i]
        full = new if old is None else tuple(torch.cat([o, n], seq_dim) for o, n in zip(old, new))
        keep = full
        if window is not None and full[0].shape[seq_dim] > window - 1:
            keep = tuple(t.narrow(seq_dim, t.shape[seq_dim] - (window - 1), window - 1).clone()
                         for t in full)
        self.layers[i] = tuple(t.detach() for t in keep)
        return full

    def nbytes(self) -> int:
        """Bytes of every cached tensor (``numel × element_size``)."""
        return sum(t.numel() * t.element_size() for layer in self.layers if layer for t in layer)


class StaticKVCache(KVCache):
    """A preallocated cache (what engines keep): each layer's tensors are written in place at
    the next positions and attention reads a view of the filled part, so a decode step does not
    copy the cache as :class:`KVCache`'s concatenation does.
    Sliding-window layers are left to ``KVCache.update`` (they keep their last ``window − 1``
    positions, a copy of at most a window). ``rewind(n)`` forgets everything after position
    ``n``."""

    def __init__(self, num_layers: int, capacity: int):
        super().__init__(num_layers)
        self.filled = [0] * num_layers
        self.windowed = [False] * num_layers
        self.capacity = capacity

    def update(self, i: int, new: tuple, window: int | None, seq_dim: int = -2) -> tuple:
        if window is not None:
            self.windowed[i] = True
            full = super().update(i, new, window, seq_dim)
            self.filled[i] = self.layers[i][0].shape[seq_dim]
            return full
        if self.layers[i] is None:
            shapes = [list(t.shape) for t in new]
            for sh in shapes:
                sh[seq_dim] = self.capacity
            self.layers[i] = tuple(t.new_empty(sh) for t, sh in zip(new, shapes))
        n, start = new[0].shape[seq_dim], self.filled[i]
        for buf, t in zip(self.layers[i], new):
            buf.narrow(seq_dim, start, n).copy_(t)
        self.filled[i] = start + n
        return tuple(buf.narrow(seq_dim, 0, start + n) for buf in self.layers[i])

    def nbytes(self) -> int:
        """Bytes of the filled part (what the positions seen so far occupy)."""
        total = 0
        for layer, f, w in zip(self.layers, self.filled, self.windowed):
            for t in layer or ():
                total += (t.numel() * t.element_size() if w
                          else t.numel() * t.element_size() // self.capacity * f)
        return total

    def rewind(self, n: int) -> None:
        self.filled = [n] * len(self.filled)
        self.seen = n


class Attention(nn.Module):
    """MHA/GQA/MQA attention (``modeling_llama.LlamaAttention`` shapes) plus the spec's options:
    q/k/v and output biases, a fused QKV matrix (DBRX), q/k norms, attention sinks, sliding
    window. Count: :func:`estimator.params.attention_params`."""

    def __init__(self, spec: ModelSpec, layer: int, fused: bool = False):
        super().__init__()
        self.fused = fused
        h, a, g, d = spec.hidden_size, spec.num_attention_heads, spec.num_key_value_heads, \
            spec.head_dim
        self.a, self.g, self.d = a, g, d
        self.layer = layer
        self.window = spec.sliding_window if layer in spec.sliding_window_layers else None
        if spec.fused_qkv:
            self.wqkv = Linear(h, (a + 2 * g) * d, bias=spec.attention_bias, fused=fused)
        else:
            self.q_proj = Linear(h, a * d, bias=spec.attention_bias, fused=fused)
            self.k_proj = Linear(h, g * d, bias=spec.attention_bias, fused=fused)
            self.v_proj = Linear(h, g * d, bias=spec.attention_bias, fused=fused)
        self.o_proj = Linear(a * d, h, bias=spec.attention_out_bias, fused=fused)
        self.qk_norm = spec.qk_norm
        if spec.qk_norm == "head":
            self.q_norm, self.k_norm = RMSNorm(d, fused), RMSNorm(d, fused)
        elif spec.qk_norm == "full":
            self.q_norm, self.k_norm = RMSNorm(a * d, fused), RMSNorm(g * d, fused)
        self.sinks = nn.Parameter(torch.zeros(a)) if spec.attention_sinks else None
        self.sdpa = False  # set by RefDecoder.set_inference_kernels

    def forward(self, x: torch.Tensor, pos: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        b, s, _ = x.shape
        a, g, d = self.a, self.g, self.d
        if hasattr(self, "wqkv"):
            q, k, v = self.wqkv(x).split([a * d, g * d, g * d], -1)
        else:
            q, k, v = self.q_proj(x), self.k_proj(x), self.v_proj(x)
        if self.qk_norm == "full":
            q, k = self.q_norm(q), self.k_norm(k)
        q, k, v = (t.view(b, s, -1, d).transpose(1, 2) for t in (q, k, v))
        if self.qk_norm == "head":
            q, k = self.q_norm(q), self.k_norm(k)
        q, k = rope(q, pos, self.fused), rope(k, pos, self.fused)
        if cache is not None:
            k, v = cache.update(self.layer, (k, v), self.window)
        y = attend(q, k, v, pos, key_positions(pos, k.shape[2]), self.window, self.sinks,
                   1.0 / math.sqrt(d), self.fused, self.sdpa)
        return self.o_proj(y)


class MLAttention(nn.Module):
    """Multi-head latent attention (DeepSeek-V2 arXiv 2405.04434 §2.1;
    ``modeling_deepseek_v3.DeepseekV3Attention``). The cache holds the normalised latent
    ``c_kv`` (kv_lora_rank) and the shared rotary key ``k_pe`` (qk_rope_head_dim) per token."""

    def __init__(self, spec: ModelSpec, layer: int, fused: bool = False):
        super().__init__()
        self.fused = fused
        m, h, a = spec.mla, spec.hidden_size, spec.num_attention_heads
        self.m, self.a, self.layer = m, a, layer
        self.window = spec.sliding_window if layer in spec.sliding_window_layers else None
        if m.q_lora_rank is None:
            self.q_proj = Linear(h, a * m.qk_head_dim, bias=False, fused=fused)
        else:
            self.q_a_proj = Linear(h, m.q_lora_rank, bias=spec.attention_bias, fused=fused)
            self.q_a_layernorm = RMSNorm(m.q_lora_rank, fused)
            self.q_b_proj = Linear(m.q_lora_rank, a * m.qk_head_dim, bias=False, fused=fused)
        self.kv_a_proj_with_mqa = Linear(h, m.kv_lora_rank + m.qk_rope_head_dim,
                                            bias=spec.attention_bias, fused=fused)
        self.kv_a_layernorm = RMSNorm(m.kv_lora_rank, fused)
        self.kv_b_proj = Linear(m.kv_lora_rank, a * (m.qk_nope_head_dim + m.v_head_dim),
                                   bias=False, fused=fused)
        self.o_proj = Linear(a * m.v_head_dim, h, bias=spec.attention_out_bias, fused=fused)
        self.sdpa = False  # set by RefDecoder.set_inference_kernels

    def forward(self, x: torch.Tensor, pos: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        b, s, _ = x.shape
        m, a = self.m, self.a
        q = self.q_proj(x) if hasattr(self, "q_proj") else \
            self.q_b_proj(self.q_a_layernorm(self.q_a_proj(x)))
        q = q.view(b, s, a, m.qk_head_dim).transpose(1, 2)
        q_nope, q_pe = q.split([m.qk_nope_head_dim, m.qk_rope_head_dim], -1)
        c_kv, k_pe = self.kv_a_proj_with_mqa(x).split([m.kv_lora_rank, m.qk_rope_head_dim], -1)
        c_kv = self.kv_a_layernorm(c_kv)
        k_pe = rope(k_pe, pos, self.fused)  # (b, s, rope): one rotary key shared by all heads
        if cache is not None:
            c_kv, k_pe = cache.update(self.layer, (c_kv, k_pe), self.window)
        sk = c_kv.shape[1]
        kv = self.kv_b_proj(c_kv).view(b, sk, a, m.qk_nope_head_dim + m.v_head_dim)
        k_nope, v = kv.transpose(1, 2).split([m.qk_nope_head_dim, m.v_head_dim], -1)
        k = torch.cat([k_nope, k_pe[:, None].expand(b, a, sk, m.qk_rope_head_dim)], -1)
        q = torch.cat([q_nope, rope(q_pe, pos, self.fused)], -1)
        y = attend(q, k, v, pos, key_positions(pos, sk), self.window, None,
                   1.0 / math.sqrt(m.qk_head_dim), self.fused, self.sdpa)
        return self.o_proj(y)


class MLP(nn.Module):
    """Gated (SwiGLU: ``down(silu(gate(x)) · up(x))``) or plain (``down(gelu(up(x)))``) FFN.
    Count: :func:`estimator.params.mlp_params`."""

    def __init__(self, h: int, f: int, gated: bool, bias: bool, fused: bool = False):
        super().__init__()
        self.fused = fused
        self.gate_proj = Linear(h, f, bias=bias, fused=fused) if gated else None
        self.up_proj = Linear(h, f, bias=bias, fused=fused)
        self.down_proj = Linear(f, h, bias=bias, fused=fused)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.gate_proj is not None:
            if self.fused:
                return self.down_proj(SwiGLUFn.apply(self.gate_proj(x), self.up_proj(x)))
            return self.down_proj(F.silu(self.gate_proj(x)) * self.up_proj(x))
        return self.down_proj(F.gelu(self.up_proj(x)))


class MoE(nn.Module):
    """Top-k routed experts (+ shared experts), the megablocks / mistral-inference ``MoeLayer``.

    Router logits → top-k → softmax over the k chosen (Mixtral); each expert runs only on its
    tokens. Dropless unless ``capacity_factor > 0``: then an expert keeps at most
    ``ceil(T·k/E · CF)`` assignments, in token order, and drops the rest (Megatron
    ``moe_utils.get_capacity``; no padding). Shared experts (one MLP of width ``f_sh``) see every
    token, optionally scaled by ``sigmoid(shared_expert_gate(x))`` (qwen2_moe).
    Count: ``E·expert_params + router_params + shared_expert_params`` (+ ``h`` output bias).
    """

    def __init__(self, spec: ModelSpec, capacity_factor: float = 0.0, fused: bool = False):
        super().__init__()
        h, E = spec.hidden_size, spec.num_experts
        self.k, self.capacity_factor = spec.num_experts_per_tok, capacity_factor
        self.router = Linear(h, E, bias=spec.router_bias, fused=fused)
        if spec.router_score_correction_bias:  # a checkpoint buffer, not a parameter (DSv3)
            self.register_buffer("e_score_correction_bias", torch.zeros(E))
        self.experts = nn.ModuleList(
            MLP(h, spec.moe_intermediate_size, spec.gated_ffn, spec.expert_bias, fused)
            for _ in range(E))
        self.shared = (MLP(h, spec.shared_expert_intermediate_size, spec.gated_ffn, False, fused)
                       if spec.num_shared_experts else None)
        self.shared_gate = (Linear(h, 1, bias=False, fused=fused) if spec.shared_expert_gate
                            else None)
        self.out_bias = nn.Parameter(torch.zeros(h)) if spec.moe_output_bias else None
        self.last_tokens_per_expert: list[int] = []
        self.engine = False  # set by RefDecoder.set_inference_kernels

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        shape = x.shape
        x = x.reshape(-1, shape[-1])  # (T, h)
        logits = self.router(x)
        select = logits
        if hasattr(self, "e_score_correction_bias"):
            select = logits + self.e_score_correction_bias
        _, idx = torch.topk(select, self.k, dim=-1)
        weights = F.softmax(logits.gather(-1, idx), dim=-1)
        if self.engine and not torch.is_grad_enabled() and self.capacity_factor == 0:
            out = self._experts_engine(x, idx, weights)
            return self._shared_and_bias(x, out).view(shape)
        cap = (math.ceil(x.shape[0] * self.k / len(self.experts) * self.capacity_factor)
               if self.capacity_factor > 0 else None)
        # Group the T·k (token, slot) assignments by expert once (a stable sort keeps token
        # order within an expert, so capacity drops the latest tokens, as Megatron does).
        flat = idx.reshape(-1)
        order = torch.sort(flat, stable=True).indices
        counts = torch.bincount(flat, minlength=len(self.experts)).tolist()
        out = torch.zeros_like(x)
        self.last_tokens_per_expert = []
        start = 0
        for e, n in enumerate(counts):
            sel, start = order[start:start + n], start + n
            if cap is not None:
                sel = sel[:cap]
            self.last_tokens_per_expert.append(int(sel.numel()))
            if sel.numel():
                tok, slot = sel // self.k, sel % self.k
                expert = self.experts[e]
                # index_put_ saves only the indices for backward (index_add_ would also keep
                # the source: k·h more per token), as mistral-inference's ``results[idx] +=``
                out.index_put_((tok,), weights[tok, slot, None] * expert(x[tok]), accumulate=True)
        return self._shared_and_bias(x, out).view(shape)

    def _shared_and_bias(self, x: torch.Tensor, out: torch.Tensor) -> torch.Tensor:
        if self.shared is not None:
            sh = self.shared(x)
            out = out + (torch.sigmoid(self.shared_gate(x)) * sh if self.shared_gate is not None
                         else sh)
        if self.out_bias is not None:
            out = out + self.out_bias
        return out

    def _experts_engine(self, x: torch.Tensor, idx: torch.Tensor,
                        weights: torch.Tensor) -> torch.Tensor:
        """Inference routed experts laid out as a fused-MoE engine holds them (vLLM
        ``fused_moe``'s intermediate caches): all ``P = T·k`` token-expert pairs at once — the
        dispatched tokens ``P×h``, gate and up ``P×f`` each, ``silu(gate)·up`` ``P×f`` and the
        expert outputs ``P×h`` — each expert's GEMMs writing its rows of those buffers. Same
        result as the per-expert loop; what :func:`estimator.memory.activation_model` counts
        for the ``moe`` phase."""
        k = self.k
        flat = idx.reshape(-1)
        order = torch.sort(flat, stable=True).indices
        counts = torch.bincount(flat, minlength=len(self.experts)).tolist()
        self.last_tokens_per_expert = counts
        tok = order // k
        xs = x[tok]  # (P, h) dispatched tokens
        first = self.experts[0]
        f = first.up_proj.out_features
        up = x.new_empty(len(order), f)
        gate = x.new_empty(len(order), f) if first.gate_proj is not None else None
        ys = x.new_empty(len(order), x.shape[1])
        spans, start = [], 0
        for e, n in enumerate(counts):
            spans.append((e, start, start + n))
            start += n
        for e, a, b in spans:
            if b > a:
                ex = self.experts[e]
                torch.matmul(xs[a:b], ex.up_proj.weight.t(), out=up[a:b])
                if gate is not None:
                    torch.matmul(xs[a:b], ex.gate_proj.weight.t(), out=gate[a:b])
                if ex.up_proj.bias is not None:
                    up[a:b] += ex.up_proj.bias
                    if gate is not None:
                        gate[a:b] += ex.gate_proj.bias
        act = F.silu(gate).mul_(up) if gate is not None else F.gelu(up)
        for e, a, b in spans:
            if b > a:
                ex = self.experts[e]
                torch.matmul(act[a:b], ex.down_proj.weight.t(), out=ys[a:b])
                if ex.down_proj.bias is not None:
                    ys[a:b] += ex.down_proj.bias
        del xs, up, gate, act
        ys.mul_(weights.reshape(-1)[order, None])
        return torch.zeros_like(x).index_add_(0, tok, ys)


class Block(nn.Module):
    """Pre-norm decoder block: ``x + attn(norm(x))``, then ``x + ffn(norm(x))``."""

    def __init__(self, spec: ModelSpec, layer: int, capacity_factor: float = 0.0,
                 fused: bool = False):
        super().__init__()
        self.input_norm = make_norm(spec, spec.hidden_size, fused)
        attn = MLAttention if spec.mla is not None else Attention
        self.attn = attn(spec, layer, fused)
        self.post_attn_norm = make_norm(spec, spec.hidden_size, fused)
        if spec.is_moe_layer(layer):
            self.ffn = MoE(spec, capacity_factor, fused)
        else:
            self.ffn = MLP(spec.hidden_size, spec.intermediate_size, spec.gated_ffn, spec.ffn_bias,
                           fused)

    def forward(self, x: torch.Tensor, pos: torch.Tensor, cache: KVCache | None) -> torch.Tensor:
        x = x + self.attn(self.input_norm(x), pos, cache)
        return x + self.ffn(self.post_attn_norm(x))


class RefDecoder(nn.Module):
    """Embedding → ``L`` blocks → final norm → lm_head (tied to the embedding if the spec says)."""

    def __init__(self, spec: ModelSpec, capacity_factor: float = 0.0, kernels: str = "eager"):
        super().__init__()
        check_supported(spec)
        if kernels not in KERNELS:
            raise EstimatorError("kernels", kernels, "must be 'eager' or 'fused'")
        self.spec, self.kernels = spec, kernels
        self.recompute = False  # full activation recomputation: each block checkpointed
        fused = kernels == "fused"
        h, V = spec.hidden_size, spec.vocab_size
        self.embed = nn.Embedding(V, h)
        self.blocks = nn.ModuleList(Block(spec, i, capacity_factor, fused)
                                    for i in range(spec.num_hidden_layers))
        self.norm = make_norm(spec, h, fused)
        # a pruned head (Apertus-1.5's output_vocab_size) has fewer rows than the embedding
        self.lm_head = Linear(h, spec.head_vocab_size,
                              bias=spec.lm_head_bias and not spec.tie_word_embeddings, fused=fused)
        if spec.tie_word_embeddings:
            self.lm_head.weight = self.embed.weight

    def forward(self, ids: torch.Tensor, cache: KVCache | None = None,
                last_only: bool = False) -> torch.Tensor:
        """Logits for every position, or (``last_only``) for the last one, as engines and
        ``generate()`` compute them at prefill."""
        start = cache.seen if cache is not None else 0
        pos = torch.arange(start, start + ids.shape[1], device=ids.device)
        x = self.embed(ids)
        for blk in self.blocks:
            if self.recompute and torch.is_grad_enabled():
                # full recomputation (Korthikanti et al. 2022 §4): keep each block's input only
                x = torch.utils.checkpoint.checkpoint(blk, x, pos, None, use_reentrant=False)
            else:
                x = blk(x, pos, cache)
        if cache is not None:
            cache.seen += ids.shape[1]
        if last_only:
            x = x[:, -1:]
        return self.lm_head(self.norm(x))

    def set_inference_kernels(self, engine: bool = True) -> RefDecoder:
        """``engine=True``: SDPA attention (except layers with sinks) and the fused-MoE layout
        of routed experts under ``no_grad`` — the inference kernels an engine runs, whose live
        tensors :func:`estimator.memory.activation_model` describes. Training is unaffected
        except for attention (SDPA there too), so set it only for inference measurements."""
        for mod in self.modules():
            if isinstance(mod, (Attention, MLAttention)):
                mod.sdpa = engine
            elif isinstance(mod, MoE):
                mod.engine = engine
        return self

    def loss(self, logits: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
        """Mean next-token cross-entropy: ``F.cross_entropy`` (eager) or Megatron's in-place
        vocab cross-entropy (fused), both on fp32 logits."""
        flat, tgt = logits.reshape(-1, logits.shape[-1]), targets.reshape(-1)
        if self.kernels == "fused":
            return CrossEntropyFn.apply(flat, tgt)
        return F.cross_entropy(flat.float(), tgt)

    def moe_layers(self) -> list[MoE]:
        return [b.ffn for b in self.blocks if isinstance(b.ffn, MoE)]


def build_reference(spec: ModelSpec, device: str | torch.device = "cpu",
                    dtype: torch.dtype = torch.float32, capacity_factor: float = 0.0,
                    seed: int = 0, kernels: str = "eager") -> RefDecoder:
    """Instantiate :class:`RefDecoder` for ``spec`` (``device="meta"`` allocates nothing).

    Weights are small random normals (std 0.02, as GPT-2/transformers initialise), so routing is
    non-degenerate; values do not affect any measured quantity except which experts are chosen.
    """
    check_supported(spec)
    with torch.device(device):
        torch.manual_seed(seed)
        model = RefDecoder(spec, capacity_factor, kernels)
    if str(device) != "meta":
        with torch.no_grad():
            for name, p in model.named_parameters():
                if name.endswith("weight") and p.dim() >= 2:
                    p.normal_(0.0, 0.02)
    return model.to(dtype)


def param_count(model: nn.Module) -> int:
    """``sum(p.numel())`` over unique parameters (a tied matrix counts once)."""
    return sum(p.numel() for p in model.parameters())
