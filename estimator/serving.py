"""Serving speed: prefill time, decode step time per batch size, tokens per second.

A roofline model (Williams et al. 2009, "Roofline", CACM 52(4)) applied per step, with the
utilization factors ``mfu`` (compute) and ``mbu`` (memory bandwidth) of the options:

* **Prefill** of ``batch × seq_len`` tokens: ``max(FLOPs / (peak × mfu × GPUs),
  bytes / (bandwidth × mbu))`` — compute-bound except for very short prompts. FLOPs come from
  :func:`estimator.flops.forward_flops` (logits on the last position only).
* **Decode**, one token for each of ``b`` sequences: bandwidth-bound time = bytes read /
  (bandwidth × mbu), where bytes read = dense (non-expert) weights + per MoE layer the
  *expected distinct experts touched* by ``b`` tokens (:func:`expected_distinct_experts`) — with
  expert parallelism, those on the *busiest* rank, which every MoE layer waits for
  (:func:`expected_busiest_rank_experts`) — + the KV cache of ``b`` sequences at ``seq_len`` of
  context; compute time = ``b`` ×
  :func:`estimator.flops.decode_flops_per_token` / (peak × mfu × GPUs). The step takes the larger
  (REFERENCE.md §4). Tools that read only active parameters are right at ``b = 1``; tools that
  read every expert only at large ``b``.

Per GPU: the bytes one GPU of each pipeline stage reads under the tp/ep/pp split of
:mod:`estimator.memory`; stages run one after another for a batch (no overlap of micro-batches),
so a step is the sum of the stages' times. Communication (all-reduce, all-to-all), kernel
launch gaps and scheduling are not modelled: every figure is a ceiling.
"""

from __future__ import annotations

import functools
import math
import operator
from dataclasses import dataclass, field
from typing import Any

from . import memory, mixers, steptime
from ._frozen import direct_init, fresh, maximum, minimum
from .flops import FlopReport, _forward, decode_flops_per_token, per_token_flops
from .memory import Layout, StageModel
from .spec import ModelSpec

#: Batches the decode table always shows (plus ``opts.batch``).
DECODE_BATCHES = (1, 2, 4, 8, 16, 32, 64, 128, 256)
#: Largest batch the compute-bound search looks at.
MAX_BATCH_SEARCH = 2**20


def expected_distinct_experts(num_experts: int, top_k: int, tokens: int) -> float:
    """Expected number of distinct experts ``b = tokens`` tokens touch in one MoE layer:
    ``E·(1 − (1 − k/E)^b)``.

    Derivation (uniform, independent top-k routing): a token picks ``k`` distinct experts of
    ``E`` uniformly, so it misses a given expert with probability ``C(E−1, k)/C(E, k) = 1 − k/E``;
    ``b`` independent tokens all miss it with ``(1 − k/E)^b``; by linearity of expectation over
    the ``E`` experts the count follows (REFERENCE.md §4: Mixtral 2 at b=1, 7.2 at b=8, ~8 at
    b=32). Real routers are not uniform; skewed routing touches fewer distinct experts, so at
    mid-size batches this tends to overstate the expert bytes a step reads.
    """
    if num_experts <= 0 or top_k <= 0:
        return 0.0
    return num_experts * (1.0 - (1.0 - top_k / num_experts) ** tokens)


# ----------------------------------------------------------------------------------------------
# experts read by the busiest expert-parallel rank
# ----------------------------------------------------------------------------------------------

#: Largest expert count for which :func:`expected_busiest_rank_experts` is computed exactly
#: (every preset has at most 512 routed experts).
BUSIEST_EXACT_MAX_EXPERTS = 2048
#: Probabilities below this are dropped from the ends of the distinct-expert distribution as it
#: is stepped token by token (mass lost: under E · tokens · 1e-30, nothing).
OCCUPANCY_PRUNE = 1e-30
#: The token-by-token distribution is stepped while ``x = E·(1 − k/E)^b`` (the expected number
#: of untouched experts, bounded above) exceeds this; from there on the untouched-experts series
#: of :func:`expected_busiest_rank_experts` has terms below ``x^n/n!``: no cancellation.
SERIES_FROM_UNTOUCHED = 1.0
#: Terms of that series below this are dropped (alternating and decreasing: the error is below
#: the first term dropped).
SERIES_EPS = 1e-20


def expert_rank_sizes(num_experts: int, ep: int) -> tuple[int, int, int]:
    """How vLLM spreads ``E`` routed experts over ``ep`` ranks
    (``vllm/model_executor/layers/fused_moe/layer.py::determine_expert_map``): ``E // ep`` each,
    one more on the first ``E % ep`` ranks. Returns ``(E // ep, E % ep, ep − E % ep)``: the base
    size, the number of ranks holding one more, the number holding the base."""
    base, rem = divmod(num_experts, ep)
    return base, rem, ep - rem


@functools.lru_cache(maxsize=256)
def busiest_rank_given_distinct(num_experts: int, ep: int) -> tuple[float, ...]:
    """``M[j]`` = expected largest number of touched experts on one of the ``ep`` ranks, when
    ``j`` distinct experts of ``E`` are touched (``j = 0..E``).

    Exact: routing is exchangeable over experts, so given ``j`` distinct experts touched the
    touched set is a uniform ``j``-subset. The ``j``-subsets with at most ``c`` experts on every
    rank number ``N_c(j) = [x^j] Π_r Σ_{i≤c} C(m_r, i)·x^i`` (rank sizes ``m_r`` from
    :func:`expert_rank_sizes`), so ``P(max ≤ c | j) = N_c(j)/C(E, j)`` and
    ``M[j] = Σ_{c=0}^{m_max−1} (1 − N_c(j)/C(E, j))``. The polynomial products are exact
    integers, taken as one big-integer power (Kronecker substitution: every coefficient is below
    ``2^E``, so slots of ``E + 1`` bits never carry).
    """
    E = num_experts
    base, n_big, n_small = expert_rank_sizes(E, ep)
    m_max = base + (1 if n_big else 0)
    slot = E // 8 + 1  # bytes per coefficient: 8·slot ≥ E + 1 bits
    shift = 8 * slot
    binom = [math.comb(E, j) for j in range(E + 1)]
    out = [0.0] * (E + 1)

    def encode(m: int, c: int) -> int:
        return sum(math.comb(m, i) << (i * shift) for i in range(min(c, m) + 1))

    for c in range(m_max):
        x = pow(encode(base + 1, c), n_big) * pow(encode(base, c), n_small)
        buf = x.to_bytes((E + 1) * slot, "little")
        top = n_big * min(c, base + 1) + n_small * min(c, base)  # N_c(j) = 0 beyond
        for j in range(c + 1, E + 1):  # j ≤ c: every j-subset qualifies, the term is 0
            n_c = int.from_bytes(buf[j * slot:(j + 1) * slot], "little") if j <= top else 0
            out[j] += 1.0 - n_c / binom[j]
    return tuple(out)


class _Occupancy:
    """Distribution of the number of distinct experts ``b`` tokens touch, ``b = 0, 1, 2, …``,
    stepped token by token and kept (one per ``(E, k)``, see :func:`_occupancy`).

    A token picks ``k`` of ``E`` uniformly; with ``j`` already touched it overlaps them in ``o``
    experts with the hypergeometric probability ``C(j, o)·C(E−j, k−o)/C(E, k)`` and adds
    ``k − o`` new ones. Every term is a nonnegative float: no cancellation.
    """

    def __init__(self, E: int, k: int):
        ck = math.comb(E, k)
        self.k = k
        self.step = [[math.comb(j, o) * math.comb(E - j, k - o) / ck for j in range(E + 1)]
                     for o in range(k + 1)]
        self.dists: list[tuple[int, list[float]]] = [(0, [1.0])]  # (lowest j, P(j), ...)

    def at(self, tokens: int) -> tuple[int, list[float]]:
        while len(self.dists) <= tokens:
            lo, p = self.dists[-1]
            n, k = len(p), self.k
            new = [0.0] * (n + k)
            for o, h in enumerate(self.step):
                add = k - o
                new[add:add + n] = map(operator.add, new[add:add + n],
                                       map(operator.mul, p, h[lo:lo + n]))
            first = 0
            while new[first] < OCCUPANCY_PRUNE:
                first += 1
            last = len(new)
            while new[last - 1] < OCCUPANCY_PRUNE:
                last -= 1
            self.dists.append((lo + first, new[first:last]))
        return self.dists[tokens]


@functools.lru_cache(maxsize=64)
def _occupancy(E: int, k: int) -> _Occupancy:
    return _Occupancy(E, k)


@functools.lru_cache(maxsize=4096)
def expected_busiest_rank_experts(num_experts: int, top_k: int, ep: int, tokens: int) -> float:
    """Expected number of distinct experts the *busiest* of ``ep`` expert-parallel ranks
    touches in one MoE layer when ``b = tokens`` tokens each pick ``k`` of ``E`` experts
    uniformly and independently. Each MoE layer waits for its slowest rank (the all-to-all
    combine), so this, not the average ``E[distinct]/ep``, sets a memory-bound step.

    ``ep = 1``: :func:`expected_distinct_experts` (closed form). ``ep > 1``: exact,
    ``Σ_j P(j distinct) · M[j]`` with ``M`` from :func:`busiest_rank_given_distinct` and
    ``P(j distinct)`` either stepped token by token (:class:`_Occupancy`) or, once the expected
    untouched count bound ``x = E·(1 − k/E)^b`` is at most :data:`SERIES_FROM_UNTOUCHED`, from
    the untouched-experts series ``P(U = u) = Σ_{v≥u} (−1)^{v−u}·C(E, v)·C(v, u)·
    (C(E−v, k)/C(E, k))^b`` (inclusion–exclusion over the untouched set; consecutive terms
    shrink by at least ``x/(v+1−u)``, so it is summed until a term drops below
    :data:`SERIES_EPS`). Cached per ``(E, k, ep, b)``; tested against a Monte-Carlo simulation
    of the maximum. Mixtral (E=8, k=2) at ep=8, b=1: 1 (two experts on two ranks).
    """
    E, k = num_experts, top_k
    if E <= 0 or k <= 0 or tokens <= 0:
        return 0.0
    if ep <= 1:
        return expected_distinct_experts(E, k, tokens)
    if E > BUSIEST_EXACT_MAX_EXPERTS:
        # the exact sum costs O(E²) big-integer work: above this size the busiest rank is
        # taken at the per-rank mean of distinct experts, its share of E (a lower bound)
        return min(-(-E // ep), expected_distinct_experts(E, k, tokens) * -(-E // ep) / E)
    M = busiest_rank_given_distinct(E, ep)
    if E * (1.0 - k / E) ** tokens > SERIES_FROM_UNTOUCHED:
        lo, p = _occupancy(E, k).at(tokens)  # renormalized: rounding and pruned tails
        return math.fsum(map(operator.mul, p, M[lo:lo + len(p)])) / math.fsum(p)
    log_ck = math.log(math.comb(E, k))
    log_r = [(math.log(math.comb(E - v, k)) - log_ck) * tokens if E - v >= k else None
             for v in range(E + 1)]

    def term(v: int, u: int) -> float:
        if log_r[v] is None:
            return 0.0
        return math.exp(math.log(math.comb(E, v) * math.comb(v, u)) + log_r[v])

    total = 0.0
    for u in range(E + 1):
        first = term(u, u)
        if first < SERIES_EPS:
            break
        p_u, sign = 0.0, 1.0
        for v in range(u, E + 1):
            t = term(v, u) if v > u else first
            if t < SERIES_EPS:
                break
            p_u += sign * t
            sign = -sign
        total += p_u * M[E - u]
    return total


# ----------------------------------------------------------------------------------------------
# bytes read per step
# ----------------------------------------------------------------------------------------------

def touched_fraction(num_experts: int, top_k: int, tokens: int, ep: int = 1) -> float:
    """Share of the routed experts one GPU holds that its MoE layer reads for ``tokens`` tokens,
    on the busiest expert-parallel rank: :func:`expected_busiest_rank_experts` / ``⌈E/ep⌉``
    (the experts the busiest GPU holds, :func:`estimator.memory.layer_params`). ``ep = 1``:
    :func:`expected_distinct_experts` / ``E``."""
    if num_experts <= 0:
        return 0.0
    if ep <= 1:  # the closed form, without the cache lookup (searches probe many batches)
        return expected_distinct_experts(num_experts, top_k, tokens) / num_experts
    held = -(-num_experts // ep)
    return expected_busiest_rank_experts(num_experts, top_k, ep, tokens) / held


@dataclass(frozen=True)
class DecodeReads:
    """What one GPU reads per decode step, summed over the pipeline stages (bytes), split by
    how it depends on the batch (see :func:`decode_reads`)."""

    dense: int  # every weight but routed/attention experts and a gathered embedding table
    routed: int  # all routed experts held (read in the share touched)
    attn_experts: int  # JetMoE attention experts held (likewise)
    embedding_row: int  # one row of a gathered embedding table
    kv_per_sequence: int  # KV cache of one sequence at the context (what a prefill writes)
    kv_read_per_sequence: int  # what a decode step reads of it (DSA: top-k latents only)
    num_experts: int
    top_k: int
    attn_experts_total: int
    attn_top_k: int
    dp_attn: int
    vocab_per_gpu: int
    ep: int  # expert-parallel ranks: each MoE layer waits for the busiest

    def bytes_at(self, batch: int, routed_fraction: float | None = None) -> float:
        """Bytes read for one step of ``batch`` sequences (module docstring);
        ``routed_fraction``: :func:`touched_fraction` at ``batch`` when the caller has it."""
        b_group = -(-batch // self.dp_attn)
        out = self.dense + minimum(b_group, self.vocab_per_gpu) * self.embedding_row
        out = out + b_group * self.kv_read_per_sequence
        if self.routed:
            if routed_fraction is None:
                routed_fraction = touched_fraction(self.num_experts, self.top_k, batch, self.ep)
            out = out + self.routed * routed_fraction
        if self.attn_experts:
            out = out + self.attn_experts * touched_fraction(self.attn_experts_total,
                                                              self.attn_top_k, b_group)
        return out


def decode_reads(s: ModelSpec, lay: Layout, dtype: str, models: tuple[StageModel, ...],
                 seq_len: int, kv_layout: str = "engine") -> DecodeReads:
    """Bytes one GPU reads per decode step at ``seq_len`` of context, per pipeline stage summed.

    ``dense`` weights once; routed experts × :func:`touched_fraction` of the *whole* batch (all
    tokens reach every expert-parallel GPU, whatever attention group they come from) on the
    busiest expert-parallel rank; JetMoE's
    attention experts likewise over the group's tokens; ``min(b, V/tp)`` rows of the input
    embedding (a gather; a tied table is read whole as the lm_head at ``pp=1``); the KV cache of
    the attention group's sequences (:meth:`~estimator.memory.StageModel.kv`). Activations (a
    few MB) are not counted.

    DeepSeek Sparse Attention (``MLA.index_topk``), ``kv_layout="engine"``: the lightning
    indexer scores every cached token (its fp8 keys are read whole) and the sparse MLA kernel
    gathers only the ``index_topk`` selected latents (DeepSeek-V3.2-Exp ``inference/model.py``
    ``MLA.forward``: ``index_mask`` over ``topk_indices``; vLLM's FlashMLA-sparse backend reads
    the latents at ``topk_indices``), so a decode step reads ``Di_bytes · ctx + latent_bytes ·
    min(ctx, index_topk)`` per layer. transformers applies the top-k as a mask over the whole
    cache (``kv_layout="transformers"``): everything is read.
    """
    fmts = memory.weight_formats(dtype)
    dense = routed = attn_exp = row = kv = kv_read = 0
    g_l = -(-s.num_key_value_heads // lay.tp)
    for m in models:
        w = m.weights
        a = 0
        if s.moa is not None:
            lo, hi = m.layers
            a = memory.tensor_bytes(
                (hi - lo) * s.moa.num_experts * 2 * s.hidden_size * s.head_dim * g_l,
                fmts["matrices"])
        gathered = 0 if (s.tie_word_embeddings and lay.pp == 1) else w["embedding"]
        # the vision tower is not read by a text decode step
        dense += sum(w.values()) - w["routed_experts"] - w["vision"] - gathered - a
        routed += w["routed_experts"]
        attn_exp += a
        if gathered:
            row += memory.tensor_bytes(s.hidden_size, fmts["other"])
        kv += m.kv(1, seq_len)
        kv_read += m.kv(1, seq_len) - _unselected_latent_bytes(s, m, seq_len, kv_layout)
    return DecodeReads(
        dense=dense, routed=routed, attn_experts=attn_exp, embedding_row=row,
        kv_per_sequence=kv, kv_read_per_sequence=kv_read,
        num_experts=s.num_experts if s.is_moe else 0,
        top_k=s.num_experts_per_tok, attn_experts_total=s.moa.num_experts if s.moa else 0,
        attn_top_k=s.moa.top_k if s.moa else 0, dp_attn=lay.dp_attn,
        vocab_per_gpu=-(-s.vocab_size // lay.tp), ep=lay.ep)


def _unselected_latent_bytes(s: ModelSpec, m: StageModel, seq_len: int, kv_layout: str) -> int:
    """DSA with an engine's sparse kernel: the latent bytes of the cached tokens the indexer did
    not select (``max(0, ctx − index_topk)`` per layer; :func:`decode_reads`). 0 otherwise."""
    mla = s.mla
    if mla is None or not mla.index_n_heads or kv_layout != "engine" or not m.kv_full:
        return 0
    lo, hi = m.layers
    n = memory.hybrid_counts(s, lo, hi)[0] if s.is_hybrid else hi - lo
    n -= mixers.shared_indexer_layers(s, lo, hi)  # HY-V4: layers that share a top-k hold no keys
    latent = m.kv_full - n * mixers.indexer_key_bytes_per_token(mla, kv_layout, 0)
    return latent * max(0, seq_len - mla.index_topk)


def prefill_bytes(reads: DecodeReads, batch: int, seq_len: int) -> float:
    """Bytes one GPU moves in a prefill of ``batch × seq_len`` tokens: every dense weight once,
    the experts the ``batch·seq_len`` tokens touch (:func:`touched_fraction`), the embedding
    rows, and the KV cache written (its bytes at ``seq_len``). Activations are not counted."""
    tokens = batch * seq_len
    b_group = -(-batch // reads.dp_attn)
    out = reads.dense + minimum(b_group * seq_len, reads.vocab_per_gpu) * reads.embedding_row
    out = out + b_group * reads.kv_per_sequence
    if reads.routed:
        out = out + reads.routed * touched_fraction(reads.num_experts, reads.top_k, tokens,
                                                    reads.ep)
    if reads.attn_experts:
        out = out + reads.attn_experts * touched_fraction(reads.attn_experts_total,
                                                          reads.attn_top_k, b_group * seq_len)
    return out


# ----------------------------------------------------------------------------------------------
# the report section
# ----------------------------------------------------------------------------------------------

@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class DecodePoint:
    """One decode step of ``batch`` sequences (one new token each)."""

    batch: int
    experts_touched_per_layer: float  # distinct experts of the layer, all ranks together
    experts_read_per_gpu_per_layer: float  # ... on the busiest expert-parallel rank
    bytes_read: float  # per GPU, summed over pipeline stages
    memory_time_s: float
    compute_time_s: float
    fits_in_memory: bool
    gpus: int

    @property
    def step_s(self) -> float:
        return maximum(self.memory_time_s, self.compute_time_s)

    @property
    def bound(self) -> str:
        return "compute" if self.compute_time_s >= self.memory_time_s else "memory"

    @property
    def tokens_per_s(self) -> float:
        return self.batch / self.step_s

    def to_dict(self) -> dict[str, Any]:
        step = self.step_s  # the properties' values, each read once (ten rows per report)
        tokens_per_s = self.batch / step  # self.tokens_per_s
        return {"batch": self.batch,
                "experts_touched_per_layer": self.experts_touched_per_layer,
                "experts_read_per_gpu_per_layer": self.experts_read_per_gpu_per_layer,
                "bytes_read": self.bytes_read, "memory_time_s": self.memory_time_s,
                "compute_time_s": self.compute_time_s, "step_s": step,
                "bound": self.bound, "tokens_per_s": tokens_per_s,
                "tokens_per_s_per_user": 1.0 / step,
                "tokens_per_s_per_gpu": tokens_per_s / self.gpus,
                "fits_in_memory": self.fits_in_memory}


@direct_init  # performance plumbing: see estimator/_frozen.py
@dataclass(frozen=True)
class ServingReport:
    """Prefill and decode speed of ``model`` under ``opts`` on ``gpu`` (module docstring)."""

    batch: int
    seq_len: int
    gpus: int
    prefill_flops: int
    prefill_bytes: float
    prefill_compute_s: float
    prefill_memory_s: float
    decode: tuple[DecodePoint, ...]
    compute_bound_from_batch: int | None
    peak_flops: float
    bandwidth: float
    mfu: float
    mbu: float
    max_batch: int
    notes: tuple[str, ...] = field(default=())
    #: TTFT/TPOT/throughput under load with communication (estimator.latency)
    latency: dict | None = field(default=None, compare=False)

    @property
    def prefill_s(self) -> float:
        return max(self.prefill_compute_s, self.prefill_memory_s)

    def to_dict(self) -> dict[str, Any]:
        tokens = self.batch * self.seq_len
        return {
            "prefill": {
                "batch": self.batch, "seq_len": self.seq_len, "tokens": tokens,
                "flops": self.prefill_flops, "bytes_read": self.prefill_bytes,
                "compute_time_s": self.prefill_compute_s,
                "memory_time_s": self.prefill_memory_s, "seconds": self.prefill_s,
                "bound": "compute" if self.prefill_compute_s >= self.prefill_memory_s
                else "memory",
                "tokens_per_s": tokens / self.prefill_s,
                "tokens_per_s_per_gpu": tokens / self.prefill_s / self.gpus,
            },
            "decode": [p.to_dict() for p in self.decode],
            "decode_context": self.seq_len,
            "compute_bound_from_batch": self.compute_bound_from_batch,
            "max_batch_in_memory": self.max_batch,
            "gpus": self.gpus,
            "peak_flops_per_gpu": self.peak_flops,
            "bandwidth_per_gpu": self.bandwidth,
            "mfu": self.mfu,
            "mbu": self.mbu,
            "assumptions": assumptions(),
            "notes": list(self.notes),
            # the section is remembered per workload (report.py): fresh containers
            "latency": fresh(self.latency),
            "cost_per_million_tokens_usd": fresh((self.latency or {}).get(
                "cost_per_million_tokens_usd")),
        }


def assumptions() -> dict[str, str]:
    """What the serving figures assume (shown with every report; a fresh dict)."""
    return dict(_ASSUMPTIONS)


_ASSUMPTIONS: dict[str, str] = {
    "model": "roofline per step: time = max(FLOPs / (peak x mfu x GPUs per stage), "
             "bytes / (bandwidth x mbu)); pipeline stages run in sequence (no micro-batch "
             "overlap); communication, launch gaps and scheduling not modelled: ceilings",
    "prefill": "batch x seq_len tokens in one pass; FLOPs from flops.forward_flops with the "
               "attention_flops convention (use 'causal' for block-skipping flash kernels) "
               "and logits on the last position; bytes = every weight once (experts: the "
               "share touched) + the KV cache written",
    "decode": "one new token per sequence, every sequence at seq_len tokens of context (the "
              "end of its window: an upper bound on KV reads); bytes = dense weights + "
              "per MoE layer the experts the busiest GPU reads (uniform independent "
              "routing: E·(1-(1-k/E)^b) distinct experts at ep=1; at ep>1 the expected "
              "maximum over the ep ranks of the distinct local experts touched, since every "
              "MoE layer waits for its busiest expert-parallel rank: the busiest rank sets "
              "the step) + the KV cache of the batch; FLOPs from "
              "flops.decode_flops_per_token",
    "peak": "GPU.peak_flops(dtype): bf16/fp16: bf16 peak; fp8/int8: fp8 peak (bf16 where "
            "the GPU has none); int4/mxfp4: bf16 (weight-only kernels dequantize); fp32: "
            "TF32 = half the bf16 peak (datasheets)",
    "per_gpu": "tokens_per_s_per_gpu divides by every GPU of the replica",
    "compute_bound_from_batch": "smallest batch whose compute time reaches its memory time "
                                "at this context (null: never below 2^20 — KV reads grow as "
                                "fast as compute)",
}


def serving_mfu(opts, gpu) -> float:
    """The compute utilization serving divides by: ``opts.mfu`` when given; ``mfu`` 0 =
    predict: the measured GEMM efficiency at one prompt's rows
    (:func:`estimator.steptime.gemm_efficiency`; per prompt, so the decode curve over batch
    sizes keeps one compute rate)."""
    return opts.mfu or steptime.gemm_efficiency(gpu, opts.seq_len)


class Roofline:
    """The rates and bytes one layout's serving figures divide (see :func:`compute`)."""

    __slots__ = ("s", "lay", "opts", "reads", "peak", "mfu", "flops_rate", "bw", "tok_flops")

    def __init__(self, s: ModelSpec, opts, gpu, lay: Layout, models: tuple[StageModel, ...],
                 flops_report: FlopReport | None):
        self.s, self.lay, self.opts = s, lay, opts
        self.reads = decode_reads(s, lay, opts.dtype, models, opts.seq_len, opts.kv_cache)
        self.peak = gpu.peak_flops(opts.dtype)
        self.mfu = serving_mfu(opts, gpu)
        self.flops_rate = self.peak * self.mfu * lay.group
        self.bw = gpu.bandwidth_bytes_s * opts.mbu
        if flops_report is not None and flops_report.mla_layout == opts.kv_cache:
            self.tok_flops = flops_report.decode.total  # decode_flops(s, seq, kv_cache) there
        else:
            self.tok_flops = decode_flops_per_token(s, opts.seq_len, opts.kv_cache)

    def decode_point(self, b: int, max_b: int) -> DecodePoint:
        """One decode step of ``b`` sequences (``max_b``: the largest batch that fits)."""
        s, lay = self.s, self.lay
        E, k, ep = s.num_experts, s.num_experts_per_tok, lay.ep
        if s.is_moe:
            touched = expected_distinct_experts(E, k, b)
            busiest = touched if ep == 1 else expected_busiest_rank_experts(E, k, ep, b)
            # = touched_fraction(E, k, b, ep), from the counts just computed
            bytes_read = self.reads.bytes_at(b, busiest / -(-E // ep))
        else:
            touched = busiest = 0.0
            bytes_read = self.reads.bytes_at(b, None)
        # positional, in field order (batch, experts touched, experts on the busiest rank,
        # bytes, memory s, compute s, fits, gpus): ten rows per report, and matching eight
        # keywords costs as much as the row's math
        return DecodePoint(b, touched, busiest, bytes_read, bytes_read / self.bw,
                           b * self.tok_flops / self.flops_rate, b <= max_b, lay.gpus)

    def prefill(self, b: int) -> tuple[int, float]:
        """(FLOPs, bytes) of the prefill of ``b`` sequences in one pass."""
        o = self.opts
        # forward_flops without re-checking the validated options' batch and seq_len
        fwd = _forward(self.s, per_token_flops(self.s), b, o.seq_len, o.attention_flops,
                       "last").total
        return fwd, prefill_bytes(self.reads, b, o.seq_len)


def roofline(s: ModelSpec, opts, gpu, lay: Layout, models: tuple[StageModel, ...],
             flops_report: FlopReport | None = None) -> Roofline:
    """:class:`Roofline` of ``s`` under ``opts`` on ``gpu`` at the split ``lay``."""
    return Roofline(s, opts, gpu, lay, models, flops_report)


def speed_at(s: ModelSpec, opts, gpu, lay: Layout, models: tuple[StageModel, ...],
             flops_report: FlopReport | None = None) -> dict[str, float]:
    """Prefill seconds and decode tokens/s at ``opts.batch`` (:func:`compute`'s figures at that
    batch alone, without the decode table and the searches)."""
    rf = roofline(s, opts, gpu, lay, models, flops_report)
    fwd, pre_bytes = rf.prefill(opts.batch)
    point = rf.decode_point(opts.batch, 0)
    return {"prefill_seconds": maximum(fwd / rf.flops_rate, pre_bytes / rf.bw),
            "decode_tokens_per_s": point.tokens_per_s,
            "decode_tokens_per_s_per_user": 1.0 / point.step_s}


def compute(model, opts, gpu, inference: memory.InferenceMemory | None = None,
            flops_report: FlopReport | None = None) -> ServingReport:
    """The serving section for ``model`` under ``opts`` on ``gpu``.

    ``inference`` and ``flops_report``: the inference-memory and FLOPs sections of the same
    model, options and GPU, when the caller has them (``report.estimate``): the layout, stage
    models and ``max_batch``, and the decode FLOPs, are read from them rather than recomputed
    — the same values this function would compute.
    """
    s: ModelSpec = model.spec if hasattr(model, "spec") else model
    mem = gpu.memory_bytes
    seq = opts.seq_len
    if not (opts.tp and opts.pp and opts.ep):  # auto layout: the one inference memory picks
        if inference is not None and inference.stage_models:
            from .autolayout import with_layout

            lay_ = inference.lay
            opts = with_layout(opts, lay_.tp, lay_.pp, lay_.ep)
        else:
            from .autolayout import resolve

            opts, _ = resolve(model, opts, gpu)
    if inference is not None and inference.stage_models:
        lay, models, max_b = inference.lay, inference.stage_models, inference.max_batch
    else:
        lay, models = memory.stages_for(s, opts, gpu)
        max_b = memory.max_batch(models, lay, seq, mem)
    rf = roofline(s, opts, gpu, lay, models, flops_report)
    reads, flops_rate, bw, tok_flops = rf.reads, rf.flops_rate, rf.bw, rf.tok_flops

    def mem_time(b: int) -> float:
        return reads.bytes_at(b) / bw

    def comp_time(b: int) -> float:
        return b * tok_flops / flops_rate

    points = [rf.decode_point(b, max_b) for b in sorted(set(DECODE_BATCHES) | {opts.batch})]

    # prefill: the whole batch in one pass
    b = opts.batch
    fwd, pre_bytes = rf.prefill(b)

    notes = []
    if s.mla is not None:
        notes.append("MLA decode FLOPs follow kv_cache: 'engine' = absorbed MLA (DeepSeek-V2 "
                     "§2.1.2; attention over the latent, kv_b_proj folded into the q/o "
                     "projections, as vLLM/SGLang run it); 'transformers' = kv_b_proj re-applied "
                     "to every cached latent at every step, as transformers 5.x runs it")
    if lay.pp > 1:
        notes.append(f"pp={lay.pp}: stages run in sequence for a batch; with {lay.pp} "
                     "micro-batches in flight throughput can be up to pp times higher")
    from . import latency as _latency

    lat = _latency.compute(s, opts, gpu, lay, reads, tok_flops,
                           opts.price_per_gpu_hour or gpu.price_per_hour_usd, max_b)
    return ServingReport(
        latency=lat,
        batch=b, seq_len=seq, gpus=lay.gpus, prefill_flops=fwd, prefill_bytes=pre_bytes,
        prefill_compute_s=fwd / flops_rate, prefill_memory_s=pre_bytes / bw,
        decode=tuple(points),
        # one attention group: KV reads grow linearly in b, the comparison is monotone
        compute_bound_from_batch=compute_bound_from_batch(mem_time, comp_time,
                                                          monotone=lay.dp_attn == 1),
        peak_flops=rf.peak, bandwidth=gpu.bandwidth_bytes_s, mfu=rf.mfu, mbu=opts.mbu,
        max_batch=max_b, notes=tuple(notes))


def compute_bound_from_batch(mem_time, comp_time, limit: int = MAX_BATCH_SEARCH,
                             monotone: bool = False) -> int | None:
    """Smallest batch ``b`` with ``comp_time(b) ≥ mem_time(b)``, or None below ``limit``.

    ``comp_time`` is linear in ``b``; ``mem_time`` is a constant plus a concave (experts
    touched) plus a linear (KV) term, so their difference is convex and negative at ``b = 0``:
    once compute catches up it stays ahead, and doubling then bisection finds the crossing.
    (With ``ep > 1`` the busiest rank's expert count can grow faster at its first few batches
    than at ``b = 1`` — small ``k/E`` — but a step there reads far more than it computes: the
    crossing lies where the count is concave.)

    ``monotone=True`` when the caller knows that holds exactly (the KV reads of a single
    attention group grow by the same amount every step; with several groups they grow by
    ``⌈b/groups⌉`` steps, which can make the comparison flip back near the crossing): the
    doubling is then decided by its last probe alone and the search starts where the straight
    line through the gaps at the far end of the range (every expert touched, ``mem_time``
    linear) crosses zero — the same answer in a handful of probes.
    """
    def cb(b: int) -> bool:
        return comp_time(b) >= mem_time(b)

    if monotone:
        return _compute_bound_monotone(cb, mem_time, comp_time, limit)
    if cb(1):
        return 1
    hi = 2
    while not cb(hi):
        if hi >= limit:
            return None
        hi *= 2
    lo = hi // 2
    return _first_true(cb, lo, hi)


def _first_true(cb, lo: int, hi: int) -> int:
    """Bisection: the smallest ``b`` in ``(lo, hi]`` with ``cb(b)``, given ``not cb(lo)`` and
    ``cb(hi)``."""
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if cb(mid):
            hi = mid
        else:
            lo = mid
    return hi


def _compute_bound_monotone(cb, mem_time, comp_time, limit: int) -> int | None:
    """:func:`compute_bound_from_batch` for a monotone ``cb``."""
    reach = 2  # the doubling's last probe: the first power of two >= limit
    while reach < limit:
        reach *= 2
    c, m = comp_time(reach), mem_time(reach)
    if c < m:  # not compute-bound at the far end: nowhere below it either
        return None
    half = reach // 2
    slope = (c - m - (comp_time(half) - mem_time(half))) / (reach - half)
    guess = reach - (c - m) / slope if slope > 0 else half
    b = math.ceil(min(max(guess, 1), reach))  # clamped first: the guess may overflow to -inf
    lo, hi, step = 0, reach, 1  # invariant: not cb(lo) (0: below every batch, never probed), cb(hi)
    if cb(b):  # gallop down to a memory-bound batch
        hi = b
        while (b := hi - step) > lo:
            if not cb(b):
                lo = b
                break
            hi, step = b, step * 2
    else:  # gallop up to a compute-bound one
        lo = b
        while (b := lo + step) < hi:
            if cb(b):
                hi = b
                break
            lo, step = b, step * 2
    return _first_true(cb, lo, hi)


FORMULAS = [expected_distinct_experts, expert_rank_sizes, busiest_rank_given_distinct,
            expected_busiest_rank_experts, touched_fraction, decode_reads,
            prefill_bytes, compute_bound_from_batch]

__all__ = [f.__name__ for f in FORMULAS] + ["DecodePoint", "DecodeReads", "ServingReport",
                                            "compute", "assumptions"]
