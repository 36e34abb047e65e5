"""Serving latency (estimator/latency.py): communication bytes against hand counts, the
expert-imbalance model against a Monte-Carlo of routing, DeepEP's published latencies, and the
auto layout."""

from __future__ import annotations

import math
import random

import pytest

import estimator
from estimator import comm, latency, memory
from estimator.hardware import get_gpu


def test_comm_bytes_hand_count_mixtral_tp2():
    # Mixtral-8x7B, tp=2: per layer two all-reduces of tokens x 4096 bf16 values.
    # 16 tokens: 16 * 4096 * 2 bytes = 131,072 bytes each, 262,144 per layer; a rank sends
    # 2(n-1)/n = 1x the payload per all-reduce at n = 2.
    b = latency.comm_bytes_per_layer(4096, 16, 2, tp=2, ep=2, dp_attn=1, top_k=2,
                                     moe_layer=True)
    assert b == {"tp_all_reduce": 262_144, "ep_dispatch": 0, "ep_combine": 0}
    assert comm.sent_bytes(comm.ALL_REDUCE, 131_072, 2) == 131_072
    s = estimator.load_model("mixtral-8x7b").spec
    lay = memory.layout(s, 2, 1, 2)
    t = latency.comm_time_per_step(s, lay, get_gpu("h100-sxm"), 16, 2)
    # 32 layers x 2 all-reduces x (8.4 us + 2 steps x 3.4 us + 131,072 B / 450 GB/s)
    one = 8.4e-6 + 2 * 3.4e-6 + 131_072 / 450e9
    assert t["tp_all_reduce"] == pytest.approx(64 * one)
    assert t["ep_all_to_all"] == 0 and t["pp_send"] == 0


def test_comm_bytes_hand_count_deepseek_v3_wide_ep():
    # DeepSeek-V3 with tp=8, ep=32 (4 attention groups): 128 tokens per group dispatch each
    # token to 8 experts: 128 * 8 * 7168 values, bf16 = 14,680,064 bytes each way per MoE layer.
    b = latency.comm_bytes_per_layer(7168, 128, 2, tp=8, ep=32, dp_attn=4, top_k=8,
                                     moe_layer=True)
    assert b["ep_dispatch"] == b["ep_combine"] == 128 * 8 * 7168 * 2 == 14_680_064
    assert b["tp_all_reduce"] == 2 * 128 * 7168 * 2
    s = estimator.load_model("deepseek-v3").spec
    lay = memory.layout(s, 8, 1, 32)
    assert lay.dp_attn == 4 and lay.gpus == 32
    t = latency.comm_time_per_step(s, lay, get_gpu("h800"), 8 * 128, 2)
    # 1,024 tokens per attention group, 128 per TP rank; 58 MoE layers, dispatch + combine
    # over the network (32 GPUs > one 8-GPU NVLink domain)
    want = 58 * (latency.ep_all_to_all_time(14_680_064, 32, "network", 50e9, "ep_dispatch")
                 + latency.ep_all_to_all_time(14_680_064, 32, "network", 50e9, "ep_combine"))
    assert s.num_moe_layers == 58
    assert t["ep_all_to_all"] == pytest.approx(want)


@pytest.mark.parametrize("ep", [8, 16, 32, 64, 128, 256])
def test_deepep_low_latency_figures(ep):
    """DeepEP README (low-latency kernels, H800 + CX7): 128 tokens, hidden 7168, top-8, FP8
    dispatch (7168 bytes + 56 fp32 scales per message) and BF16 combine. The model divides
    bytes by the README's own "RDMA bandwidth" column, so this checks the message byte count
    against DeepEP's (both columns of its table, within 10%), not an independent timing."""
    msgs = 128 * 8
    dispatch = latency.ep_all_to_all_time(msgs * (7168 + 4 * 7168 // 128), ep, "network", 50e9,
                                          "ep_dispatch")
    combine = latency.ep_all_to_all_time(msgs * 7168 * 2, ep, "network", 50e9, "ep_combine")
    d_us, c_us = latency.DEEPEP_LL_LATENCY_US[ep]
    assert abs(dispatch * 1e6 / d_us - 1) < 0.10
    assert abs(combine * 1e6 / c_us - 1) < 0.10


def _monte_carlo_max_load(E, k, ep, tokens, alpha, trials, rng):
    """Mean over trials of the busiest rank's token-expert pairs over the mean: each token
    draws k distinct experts with probability ~ i^-alpha (Gumbel top-k = sampling without
    replacement), experts ranked by popularity dealt round-robin to the ranks."""
    logw = [-alpha * math.log(i + 1) for i in range(E)]
    tot = 0.0
    for _ in range(trials):
        load = [0] * ep
        for _ in range(tokens):
            keys = sorted(range(E), key=lambda i: logw[i] - math.log(-math.log(rng.random())),
                          reverse=True)[:k]
            for i in keys:
                load[i % ep] += 1
        tot += max(load)
    return tot / trials / (tokens * k / ep)


@pytest.mark.parametrize("E,k,ep,tokens,alpha", [
    (8, 2, 2, 64, 0.0), (8, 2, 4, 64, 0.0), (64, 6, 8, 32, 0.0), (64, 6, 8, 32, 0.6),
    (32, 4, 8, 64, 1.0), (128, 8, 16, 16, 0.0)])
def test_imbalance_against_monte_carlo(E, k, ep, tokens, alpha):
    mc = _monte_carlo_max_load(E, k, ep, tokens, alpha, 150, random.Random(7))
    model = latency.busiest_rank_load_factor(E, k, ep, tokens, alpha)
    assert abs(model / mc - 1) < 0.08, (model, mc)


def test_imbalance_monotone_and_uniform_limits():
    assert latency.busiest_rank_load_factor(64, 6, 1, 100) == 1.0
    a0 = latency.busiest_rank_load_factor(64, 6, 8, 256, 0.0)
    a1 = latency.busiest_rank_load_factor(64, 6, 8, 256, 1.0)
    assert 1.0 < a0 < a1
    pi = latency.inclusion_probabilities(latency.expert_popularity(64, 0.0), 6)
    assert all(x == pytest.approx(6 / 64) for x in pi)
    pi = latency.inclusion_probabilities(latency.expert_popularity(16, 2.0), 4)
    assert sum(pi) == pytest.approx(4) and max(pi) <= 1.0


def test_speculative_tokens_per_step():
    # Leviathan et al. eq. 1; DeepSeek-V3 MTP: one draft at 0.85 -> 1.85 tokens per step
    assert latency.tokens_per_step(1, 0.85) == pytest.approx(1.85)
    assert latency.tokens_per_step(0, 0.9) == 1.0
    assert latency.tokens_per_step(3, 0.5) == pytest.approx(1 + 0.5 + 0.25 + 0.125)


def test_latency_section_behaves():
    base = estimator.estimate("mixtral-8x7b", concurrency=16).serving.latency
    more = estimator.estimate("mixtral-8x7b", concurrency=64).serving.latency
    assert more["tokens_per_s_per_gpu"] > base["tokens_per_s_per_gpu"]
    assert more["tokens_per_s_per_user"] < base["tokens_per_s_per_user"]
    mtp = estimator.estimate("mixtral-8x7b", concurrency=16, spec_draft_tokens=1)
    assert mtp.serving.latency["tpot_s"] < base["tpot_s"]
    skew = estimator.estimate("mixtral-8x7b", concurrency=16, expert_imbalance=1.5)
    assert skew.serving.latency["decode_step"]["load_factor"] > base["decode_step"]["load_factor"]
    cost = base["cost_per_million_tokens_usd"]
    assert cost == pytest.approx(base["gpus"] * 3.5 / (base["tokens_per_s"] * 3600) * 1e6)
    open_loop = estimator.estimate("mixtral-8x7b", request_rate=2.0).serving.latency
    assert open_loop["concurrency"] >= 1 and open_loop["ttft_s"] >= open_loop["prefill_s"]
    dis = estimator.estimate("mixtral-8x7b", request_rate=2.0, disaggregated=True)
    assert dis.serving.latency["prefill_replicas"] >= 1


def test_default_layout_is_auto_and_fits():
    r = estimator.estimate("deepseek-v3")
    d = r.to_dict(compare=False)["memory"]["inference"]
    assert d["fits"] and d["layout"]["auto"]
    assert d["parallel"]["tp"] * d["parallel"]["pp"] * d["parallel"]["attention_dp"] \
        == d["gpus"] == d["layout"]["gpus"]
    # cheapest: the layout one step smaller does not fit
    small = estimator.estimate("mixtral-8x7b")
    assert small.inference.lay.gpus == 2  # bf16 Mixtral needs two 80 GB GPUs (vLLM docs)
    one = estimator.estimate("mixtral-8x7b", tp=1, pp=1, ep=1)
    assert not one.inference.fits
    explicit = estimator.estimate("mixtral-8x7b", tp=4, pp=1, ep=1)
    assert explicit.inference.lay.tp == 4 and not explicit.inference.layout_choice["auto"]


def test_serve_cli_and_frontier(capsys):
    from estimator.cli import main

    assert main(["serve", "mixtral-8x7b", "--format", "md"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("| concurrency | GPUs |") and out.count("\n") == 2 + 5
    from estimator.frontier import pareto

    res = pareto("mixtral-8x7b", concurrencies=(1, 16), max_gpus=4, tpot_slo_s=1.0)
    front = res["frontier"]
    assert front and all(p in res["meets_slo"] for p in front)
    for p in front:  # nothing searched dominates a frontier point
        assert not any(q["tokens_per_s_per_gpu"] > p["tokens_per_s_per_gpu"]
                       and q["tokens_per_s_per_user"] > p["tokens_per_s_per_user"]
                       for q in res["meets_slo"])
    assert main(["serve", "mixtral-8x7b", "--tp", "3"]) == 2  # 32 heads: refused, one line
