"""Serving latency and throughput under load: TTFT, TPOT, tokens/s per GPU and per user, cost per
million tokens — closed form, on top of the roofline of :mod:`estimator.serving`.

Per decode step of ``b`` sequences on one replica (one token each, or ``tokens_per_step`` with
speculative decoding):

* **compute / memory**: the roofline step of :mod:`estimator.serving` (bytes read: dense weights
  + the experts the busiest expert-parallel rank touches + KV; FLOPs / (peak × mfu)), with the
  routed-expert FLOPs scaled by the load of the busiest expert-parallel rank
  (:func:`busiest_rank_load_factor`; uniform routing: 1) and by the tokens verified per step.
* **communication** from byte counts (:func:`comm_bytes_per_layer`) over the topology
  (``Interconnect.link`` of the group's span) with the α–β time of :mod:`estimator.comm` (NCCL's
  tuner constants): two TP all-reduces per layer (attention and FFN/MoE output; vLLM
  ``RowParallelLinear`` and ``FusedMoE`` reduce), with expert parallelism wider than TP a
  dispatch and a combine all-to-all per MoE layer (DeepEP; bf16 tokens each way, the busiest
  rank receiving its share), and a point-to-point send of the hidden states at each pipeline
  boundary. Communication is added to the step (not overlapped: a ceiling on speed).

TTFT = queueing (M/D/1 on the prefill work, ``request_rate``) + the prefill of one request of
``input_len`` tokens + its communication. TPOT = the step at the running batch; without
disaggregation the decode replica also runs the prefills, so TPOT is divided by the share of
time left (``1 − ρ_prefill``). The running batch is ``concurrency`` (closed loop) or, for an
open-loop ``request_rate``, Little's law ``c = λ·(TTFT + output_len·TPOT)`` solved by fixed-point
iteration. Prefill/decode disaggregation (``disaggregated``): prefills run on separate replicas
of the same layout (as many as keep them below full load), the KV cache of each request crosses
the network once.
"""

from __future__ import annotations

import functools
import math
from collections import Counter
from statistics import NormalDist
from typing import Any

from . import comm
from ._frozen import remembered
from .flops import forward_flops
from .memory import activation_bytes

#: DeepEP's normal (intranode) kernels: 153 GB/s dispatch, 158 GB/s combine over the H800's
#: NVLink, nominal 200 GB/s each way (deepseek-ai/DeepEP README, "Normal kernels with NVLink and
#: RDMA forwarding") → efficiency 153/200 on an NVLink all-to-all.
DEEPEP_NVLINK_EFFICIENCY = 153 / 200
#: DeepEP's low-latency kernels (pure RDMA, H800 + CX7 400 Gb/s ≈ 50 GB/s NIC; 128 tokens,
#: hidden 7168, top-8, FP8 dispatch / BF16 combine): (dispatch, combine) "RDMA bandwidth" in
#: GB/s by EP size, as the README tabulates it (bytes of every token-expert message over the
#: latency). Used for EP spans beyond one NVLink domain, scaled by the GPU's NIC over 50 GB/s.
DEEPEP_LL_GBS = {8: (98, 127), 16: (63, 74), 32: (48, 53), 64: (43, 46), 128: (39, 39),
                 256: (39, 40)}
DEEPEP_LL_NIC_BYTES_S = 50e9
#: ... and the latencies it measured (µs), kept to check the model against (tests).
DEEPEP_LL_LATENCY_US = {8: (77, 114), 16: (118, 195), 32: (155, 273), 64: (173, 314),
                        128: (192, 369), 256: (194, 360)}
#: Fixed-point iterations of Little's law for an open-loop request rate (converges in a few;
#: bounded so estimate() stays closed-form).
LITTLE_ITERATIONS = 30
#: Bisection steps for the successive-sampling constant (to double precision).
IMBALANCE_BISECTIONS = 60
#: Midpoints of the expected-maximum integral (cached per (E, k, ep, tokens, alpha)).
IMBALANCE_GRID = 400


# ----------------------------------------------------------------------------------------------
# expert load imbalance
# ----------------------------------------------------------------------------------------------

def expert_popularity(num_experts: int, alpha: float) -> list[float]:
    """Routing probabilities of the ``E`` experts, power law ``p_i ∝ i^−α`` (``i = 1…E``,
    ``α = 0``: uniform), normalised to 1."""
    w = [(i + 1) ** -alpha for i in range(num_experts)]
    t = math.fsum(w)
    return [x / t for x in w]


def inclusion_probabilities(p: list[float], top_k: int) -> list[float]:
    """Probability that a token's top-``k`` (``k`` distinct experts drawn without replacement
    with weights ``p``) includes each expert: Hájek's successive-sampling approximation
    ``π_i = 1 − exp(−λ·p_i)`` with ``λ`` set so that ``Σ π_i = k`` (exact for uniform routing,
    where it gives ``k/E``; checked against a Monte-Carlo of sampling without replacement in
    tests/test_latency.py)."""
    k = min(top_k, len(p))
    if k <= 0:
        return [0.0] * len(p)
    if len(set(p)) == 1:
        return [k / len(p)] * len(p)
    lo, hi = 0.0, 1.0
    while math.fsum(1.0 - math.exp(-hi * q) for q in p) < k:
        hi *= 2.0
    for _ in range(IMBALANCE_BISECTIONS):
        mid = (lo + hi) / 2.0
        if math.fsum(1.0 - math.exp(-mid * q) for q in p) < k:
            lo = mid
        else:
            hi = mid
    lam = (lo + hi) / 2.0
    return [1.0 - math.exp(-lam * q) for q in p]


@functools.lru_cache(maxsize=4096)
def busiest_rank_load_factor(num_experts: int, top_k: int, ep: int, tokens: int,
                             alpha: float = 0.0) -> float:
    """Expected token-expert pairs on the busiest of ``ep`` ranks over the mean ``tokens·k/ep``.

    Experts ranked by popularity (:func:`expert_popularity`) are dealt to the ranks
    round-robin (rank ``r`` holds ranks ``r, r+ep, …``: a placement that spreads the popular
    experts, as a load balancer would start). Rank ``r`` receives ``X_r = Σ_{i∈S_r}
    Binomial(b, π_i)`` pairs (:func:`inclusion_probabilities`), mean ``μ_r``, variance
    ``σ_r²``; with the ranks taken as independent normals, ``E[max_r X_r] = ∫_0^∞ (1 − Π_r
    Φ((x − μ_r)/σ_r)) dx``, integrated on :data:`IMBALANCE_GRID` points (checked against a
    Monte-Carlo of routing in tests/test_latency.py). ``ep = 1``: 1.
    """
    if ep <= 1 or num_experts <= 0 or tokens <= 0:
        return 1.0
    k = min(top_k, num_experts)
    mean = tokens * k / ep
    if alpha == 0:  # uniform: π = k/E; ranks hold E // ep or one more (vLLM's expert map)
        q = k / num_experts
        base, n_big, n_small = divmod(num_experts, ep) + (ep - num_experts % ep,)
        groups = [(n, tokens * m * q, tokens * m * q * (1.0 - q))
                  for n, m in ((n_big, base + 1), (n_small, base)) if n and m]
    else:
        pi = inclusion_probabilities(expert_popularity(num_experts, alpha), top_k)
        used = min(ep, num_experts)  # ranks past the E-th hold no expert
        mu = [0.0] * used
        var = [0.0] * used
        for i, q in enumerate(pi):
            mu[i % ep] += tokens * q
            var[i % ep] += tokens * q * (1.0 - q)
        # ranks with the same load enter the integral once, raised to their count, and the
        # ep − E ranks with no expert are one group: the grid loop costs O(min(ep, E)), not
        # O(ep) (ep = 2,397,929 took minutes)
        same = Counter(zip(mu, var))
        if ep > used:
            same[(0.0, 0.0)] += ep - used
        groups = [(n, m, v) for (m, v), n in same.items()]
    groups = [(n, m, math.sqrt(v) or 1e-12) for n, m, v in groups]
    if len(groups) == 1:
        # identical ranks: the expected maximum of n i.i.d. normals, μ + σ·z with Blom's
        # z = Φ⁻¹((n − 0.375)/(n + 0.25))
        n, m, s = groups[0]
        return (m + s * NormalDist().inv_cdf((n - 0.375) / (n + 0.25))) / mean
    top = max(m + 8.0 * s for _, m, s in groups)
    dx = top / IMBALANCE_GRID
    area = 0.0
    for j in range(IMBALANCE_GRID):
        x = (j + 0.5) * dx
        cdf = 1.0
        for n, m, s in groups:
            cdf *= (0.5 * (1.0 + math.erf((x - m) / (s * math.sqrt(2.0))))) ** n
        area += (1.0 - cdf) * dx
    return area / mean


# ----------------------------------------------------------------------------------------------
# communication
# ----------------------------------------------------------------------------------------------

def comm_bytes_per_layer(h: int, tokens: int, act_bytes: int, tp: int, ep: int, dp_attn: int,
                         top_k: int, moe_layer: bool) -> dict[str, int]:
    """Payload bytes one GPU hands to each collective of one layer for ``tokens`` tokens of its
    attention group (exact integers; the wire share is :func:`estimator.comm.sent_bytes`).

    ``tp_all_reduce``: the ``tokens × h`` output of attention and of the FFN/MoE, twice per
    layer when ``tp > 1`` (vLLM ``RowParallelLinear`` / ``FusedMoE`` reduce). ``ep_dispatch`` /
    ``ep_combine`` (only when experts are spread over more GPUs than one TP group,
    ``dp_attn > 1``): every token to its ``k`` experts and back, ``tokens·k·h`` elements each
    way in the activation dtype (DeepEP counts every token-expert message, the ones to experts
    on the sender's own GPU included).
    """
    out = {"tp_all_reduce": 2 * tokens * h * act_bytes if tp > 1 else 0,
           "ep_dispatch": 0, "ep_combine": 0}
    if moe_layer and ep > 1 and dp_attn > 1:
        out["ep_dispatch"] = out["ep_combine"] = tokens * top_k * h * act_bytes
    return out


@functools.lru_cache(maxsize=4096)
def _coll(op: str, payload: int, ranks: int, link: str, bw: float, eff: float = 1.0) -> float:
    return comm.collective_time(op, payload, ranks, link, bw, eff)


def _link(ic, span: int) -> tuple[str, float]:
    if ic is None:
        return "local", float("inf")
    link = ic.link(span)
    return link, ic.bytes_s(link)


def comm_time_per_step(s, lay, gpu, tokens: int, act_bytes: int, load_factor: float = 1.0
                       ) -> dict[str, float]:
    """Seconds of communication in one forward of ``tokens`` tokens per attention group, over
    all layers and stages: TP all-reduces (NCCL ring over the TP span), EP all-to-alls
    (DeepEP efficiency on the link of the EP span; the busiest rank's ``load_factor``), PP
    sends at each of the ``pp − 1`` boundaries. The EP messages of a GPU are its ``1/tp`` share
    of the group's tokens (the group's TP ranks split the dispatch)."""
    ic = gpu.interconnect
    h, L = s.hidden_size, s.num_hidden_layers
    n_moe = s.num_moe_layers if s.is_moe else 0
    out = {"tp_all_reduce": 0.0, "ep_all_to_all": 0.0, "pp_send": 0.0}
    if lay.tp > 1:
        link, bw = _link(ic, lay.tp)
        per = _coll(comm.ALL_REDUCE, tokens * h * act_bytes, lay.tp, link, bw)
        out["tp_all_reduce"] = 2 * L * per
    if n_moe and lay.ep > 1 and lay.dp_attn > 1:
        # each TP rank of an attention group dispatches its 1/tp share of the group's tokens
        b = comm_bytes_per_layer(h, -(-tokens // lay.tp), act_bytes, lay.tp, lay.ep,
                                 lay.dp_attn, s.num_experts_per_tok, True)
        link, bw = _link(ic, lay.group)
        out["ep_all_to_all"] = n_moe * sum(
            ep_all_to_all_time(int(b[kind] * load_factor), lay.ep, link, bw, kind)
            for kind in ("ep_dispatch", "ep_combine"))
    if lay.pp > 1:
        link, bw = _link(ic, lay.gpus)
        out["pp_send"] = (lay.pp - 1) * _coll(
            comm.SEND_RECV, tokens * h * act_bytes, 2, link, bw)
    return out


def ep_all_to_all_time(message_bytes: int, ep: int, link: str, bw: float,
                       kind: str = "ep_dispatch") -> float:
    """Seconds for one DeepEP dispatch or combine whose token-expert messages total
    ``message_bytes`` on the busiest rank. Over NVLink: one NCCL base + one hop of hardware
    latency (:data:`estimator.comm.NCCL_STEP_LATENCY_S`: the kernels write to every peer
    directly, not around a ring) + the bytes at :data:`DEEPEP_NVLINK_EFFICIENCY` of the link.
    Across nodes: the bytes over the low-latency kernels' measured figure at this EP size
    (:data:`DEEPEP_LL_GBS`, scaled by the NIC), which is bytes over measured latency, so the
    latency is in it (at small messages this understates the fixed cost)."""
    if ep <= 1 or link == "local":
        return 0.0
    if link == "network":
        key = max([e for e in DEEPEP_LL_GBS if e <= ep] or [min(DEEPEP_LL_GBS)])
        gbs = DEEPEP_LL_GBS[key][0 if kind == "ep_dispatch" else 1]
        # the README's bandwidth is message bytes over the measured latency: latency included
        return message_bytes / (gbs * 1e9 * bw / DEEPEP_LL_NIC_BYTES_S)
    return (comm.NCCL_BASE_LATENCY_S + comm.NCCL_STEP_LATENCY_S[link]
            + message_bytes / (bw * DEEPEP_NVLINK_EFFICIENCY))


# ----------------------------------------------------------------------------------------------
# speculative decoding
# ----------------------------------------------------------------------------------------------

def tokens_per_step(draft_tokens: int, acceptance: float) -> float:
    """Expected tokens emitted per verification step with ``draft_tokens`` drafted and each
    accepted with probability ``acceptance`` (Leviathan et al. 2023, arXiv 2211.17192, eq. 1):
    ``(1 − α^(d+1)) / (1 − α)``; no drafting: 1. DeepSeek-V3 §5.4.3 reports 85-90% acceptance
    of its one MTP token (≈ 1.85 tokens per step)."""
    if draft_tokens <= 0:
        return 1.0
    if acceptance >= 1.0:
        return float(draft_tokens + 1)
    return (1.0 - acceptance ** (draft_tokens + 1)) / (1.0 - acceptance)


# ----------------------------------------------------------------------------------------------
# the section
# ----------------------------------------------------------------------------------------------

#: (spec, options, GPU id, layout, reads, ...) -> section, cached: a deterministic function of
#: these, so a repeated estimate reuses it (callers get a copy).
_CACHE: dict = {}
_CACHE_MAX = 1024


def compute(s, opts, gpu, lay, reads, tok_flops: float, price_per_hour: float,
            max_batch: int) -> dict[str, Any]:
    """The ``serving.latency`` section (module docstring). ``reads``: :class:`~estimator.serving.
    DecodeReads` of the layout; ``tok_flops``: decode FLOPs per token at the context."""
    key = (s, opts, gpu.id, gpu.memory_bytes, lay, reads, tok_flops, price_per_hour, max_batch)
    hit = remembered(_CACHE, key, _CACHE_MAX, lambda: _compute(
        s, opts, gpu, lay, reads, tok_flops, price_per_hour, max_batch))
    out = dict(hit)
    out["decode_step"] = dict(hit["decode_step"])
    out["notes"] = list(hit["notes"])
    return out


def _compute(s, opts, gpu, lay, reads, tok_flops: float, price_per_hour: float,
             max_batch: int) -> dict[str, Any]:
    from .serving import expected_busiest_rank_experts, expected_distinct_experts, serving_mfu

    ab = activation_bytes(opts.dtype)
    peak = gpu.peak_flops(opts.dtype)
    flops_rate = peak * serving_mfu(opts, gpu) * lay.group
    bw = gpu.bandwidth_bytes_s * opts.mbu
    inp = opts.input_len or opts.seq_len
    out_len = opts.output_len
    alpha = opts.expert_imbalance
    d = opts.spec_draft_tokens
    per_step = tokens_per_step(d, opts.spec_acceptance)
    verify = d + 1  # tokens each sequence runs through the model per step
    E, k = s.num_experts, s.num_experts_per_tok
    routed_share = 0.0
    if s.is_moe and tok_flops:  # the routed experts' share of the decode FLOPs per token
        routed_share = min(1.0, 2 * s.num_moe_layers * k * _n_mats(s) * s.hidden_size
                           * s.moe_intermediate_size / tok_flops)

    def step(b: int) -> dict[str, float]:
        b_group = -(-b // lay.dp_attn)
        tokens = b * verify
        lf = busiest_rank_load_factor(E, k, lay.ep, tokens, alpha) if s.is_moe else 1.0
        if s.is_moe:
            held = -(-E // lay.ep)
            busy = (expected_distinct_experts(E, k, tokens) if lay.ep == 1
                    else expected_busiest_rank_experts(E, k, lay.ep, tokens))
            mem = reads.bytes_at(b, busy / held) / bw
        else:
            mem = reads.bytes_at(b) / bw
        comp = tokens * tok_flops * (1.0 + routed_share * (lf - 1.0)) / flops_rate
        c = comm_time_per_step(s, lay, gpu, b_group * verify, ab, lf)
        total = max(mem, comp) + sum(c.values())
        return {"step_s": total, "memory_s": mem, "compute_s": comp, "comm_s": sum(c.values()),
                "load_factor": lf, **{f"comm_{n}_s": v for n, v in c.items()}}

    # prefill of one request
    pf = forward_flops(s, 1, inp, opts.attention_flops, lm_head="last").total
    pc = comm_time_per_step(s, lay, gpu, inp, ab,
                            busiest_rank_load_factor(E, k, lay.ep, inp, alpha)
                            if s.is_moe else 1.0)
    prefill_s = max(pf / flops_rate, reads.dense / bw) + sum(pc.values())

    lam = opts.request_rate
    conc = opts.concurrency or opts.batch
    if lam > 0:  # open loop: Little's law fixed point
        c = 1
        for _ in range(LITTLE_ITERATIONS):
            st = step(max(c, 1))
            rho_p = 0.0 if opts.disaggregated else min(lam * prefill_s, 0.999)
            tpot = st["step_s"] / per_step / (1.0 - rho_p)
            c_new = max(1, math.ceil(lam * (prefill_s + out_len * tpot)))
            if c_new == c:
                break
            c = min(c_new, 10**7)
        conc = c
    st = step(conc)
    if lam <= 0:
        # closed loop: the engine spends R·prefill_s on prefills and R·out/c decode steps per
        # second (c sequences advance per step): R = 1 / (prefill_s + out·step / c)
        rate = 1.0 / (prefill_s + out_len * st["step_s"] / per_step / conc)
        rho = rate * prefill_s
        if opts.disaggregated:  # prefills elsewhere: the decode replica only decodes
            rate = conc / (out_len * st["step_s"] / per_step)
            rho = rate * prefill_s
    else:
        rate = lam
        rho = lam * prefill_s
    notes = []
    prefill_replicas = 0
    if opts.disaggregated:
        prefill_replicas = max(1, math.ceil(rho / 0.9)) if rho > 0 else 1
        rho_q = rho / prefill_replicas
        tpot = st["step_s"] / per_step
        kv_bytes = reads.kv_per_sequence * lay.pp * inp / max(opts.seq_len, 1)
        ic = gpu.interconnect
        kv_s = kv_bytes / ic.network_bytes_s if ic and ic.network_bytes_s else 0.0
    else:
        rho_q = rho
        tpot = st["step_s"] / per_step / max(1.0 - min(rho, 0.999), 1e-3)
        kv_s = 0.0
    if rho_q >= 1.0:
        notes.append(f"prefill load {rho_q:.2f} >= 1: requests queue without bound at this "
                     "rate; TTFT shown without queueing")
        wait = 0.0
    else:
        wait = rho_q * prefill_s / (2.0 * (1.0 - rho_q))  # M/D/1 mean wait
    ttft = wait + prefill_s + kv_s
    gpus = lay.gpus * (1 + prefill_replicas)
    tps = conc / tpot
    price = price_per_hour
    cost = gpus * price / (tps * 3600.0) * 1e6 if tps > 0 else None
    if conc > max_batch:
        notes.append(f"concurrency {conc} exceeds the {max_batch} sequences that fit in memory "
                     "at seq_len: the engine would queue or preempt")
    return {
        "concurrency": conc, "request_rate": lam, "input_len": inp, "output_len": out_len,
        "ttft_s": ttft, "ttft_queue_s": wait, "prefill_s": prefill_s,
        "prefill_comm_s": sum(pc.values()), "kv_transfer_s": kv_s,
        "tpot_s": tpot, "itl_s": tpot, "decode_step": st,
        "tokens_per_step": per_step, "tokens_per_s": tps,
        "tokens_per_s_per_user": 1.0 / tpot, "tokens_per_s_per_gpu": tps / gpus,
        "requests_per_s": rate, "prefill_load": rho, "gpus": gpus,
        "prefill_replicas": prefill_replicas, "expert_imbalance_alpha": alpha,
        "cost_per_million_tokens_usd": cost, "price_per_gpu_hour": price,
        "notes": notes,
        "method": "step = max(compute, memory) + TP all-reduce + EP all-to-all + PP send "
                  "(NCCL alpha-beta, DeepEP efficiency), not overlapped; busiest EP rank's "
                  "load sets the MoE compute; TTFT = M/D/1 queue + one prefill; TPOT stretched "
                  "by the prefill share unless disaggregated; cost = GPUs x $/h / output "
                  "tokens per hour",
    }


def _n_mats(s) -> int:
    return 3 if s.gated_ffn else 2


__all__ = ["busiest_rank_load_factor", "comm_bytes_per_layer", "comm_time_per_step",
           "ep_all_to_all_time",
           "compute", "expert_popularity", "inclusion_probabilities", "tokens_per_step"]
