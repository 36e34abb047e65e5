"""Collective volumes against a simulation of the algorithms themselves: a ring all-reduce,
all-gather and reduce-scatter run chunk by chunk, and an all-to-all that delivers each block,
counting what every rank sends. NCCL's tuner constants are checked against their source text."""

from __future__ import annotations

import pytest

from estimator import comm
from estimator.errors import EstimatorError
from estimator.hardware import load_catalog


def _simulate_ring(op: str, n: int, payload: int) -> list[int]:
    """Run a ring over ``n`` ranks on a payload cut into ``n`` chunks (``payload`` divisible by
    n) and count the bytes each rank sends. Reduce-scatter: n−1 steps, each rank forwards one
    partial chunk to its right neighbour; all-gather: n−1 steps forwarding finished chunks;
    all-reduce: both phases."""
    chunk = payload // n
    sent = [0] * n
    # partial[r][c] = set of ranks whose contribution to chunk c rank r holds
    partial = [[{r} for _ in range(n)] for r in range(n)]
    phases = {"reduce_scatter": ["rs"], "all_gather": ["ag"], "all_reduce": ["rs", "ag"]}[op]
    have = [[c == r for c in range(n)] for r in range(n)]  # all-gather: finished chunks held
    for phase in phases:
        if phase == "ag" and op == "all_reduce":
            # after reduce-scatter rank r owns the fully reduced chunk (r + 1) % n
            have = [[all(len(partial[r][c]) == n for _ in [0]) for c in range(n)]
                    for r in range(n)]
        for step in range(n - 1):
            msgs = []
            for r in range(n):
                c = (r - step) % n if phase == "rs" else (r + 1 - step) % n \
                    if op == "all_reduce" else (r - step) % n
                msgs.append((r, (r + 1) % n, c))
            for src, dst, c in msgs:
                sent[src] += chunk
                if phase == "rs":
                    partial[dst][c] = partial[dst][c] | partial[src][c]
                else:
                    assert have[src][c]
                    have[dst][c] = True
        if phase == "rs":
            assert all(len(partial[r][(r + 1) % n]) == n for r in range(n))
    if "ag" in phases:
        assert all(all(row) for row in have)
    return sent


@pytest.mark.parametrize("op", ["all_reduce", "all_gather", "reduce_scatter"])
@pytest.mark.parametrize("n", [2, 3, 4, 8])
def test_ring_volumes_equal_a_simulated_ring(op, n):
    payload = 840 * n
    sent = _simulate_ring(op, n, payload)
    assert len(set(sent)) == 1
    assert comm.sent_bytes(op, payload, n) == sent[0]
    assert comm.ring_steps(op, n) == (2 if op == "all_reduce" else 1) * (n - 1)


@pytest.mark.parametrize("n", [1, 2, 4, 8])
def test_all_to_all_sends_all_but_its_own_block(n):
    payload = 96 * n  # each rank's send buffer: n blocks, block j addressed to rank j
    sent = [sum(payload // n for j in range(n) if j != r) for r in range(n)]
    assert all(comm.sent_bytes("all_to_all", payload, n) == s for s in sent)


def test_one_rank_sends_nothing_and_costs_nothing():
    assert comm.sent_bytes("all_reduce", 10**9, 1) == 0
    assert comm.collective_time("all_reduce", 10**9, 1, "local", float("inf")) == 0.0


def test_time_is_nccls_alpha_beta():
    # tuning.cc v2.28.7, Ring/Simple: base 8.4 us, NVLink 3.4 us per step (quoted in the module)
    t = comm.collective_time("all_reduce", 8 * 2**20, 8, "nvlink", 450e9)
    assert t == pytest.approx(8.4e-6 + 14 * 3.4e-6 + 2 * 7 / 8 * 8 * 2**20 / 450e9)


def test_bad_collective_names_the_field():
    with pytest.raises(EstimatorError, match="collective"):
        comm.sent_bytes("broadcastish", 1, 2)
    with pytest.raises(EstimatorError, match="link"):
        comm.collective_time("all_reduce", 1, 2, "carrier-pigeon", 1.0)


def test_every_catalog_gpu_has_a_sourced_interconnect():
    for gpu in load_catalog().values():
        ic = gpu.interconnect
        assert ic is not None and ic.source, gpu.id
        assert ic.link(1) == "local"
        assert ic.link(ic.node_gpus * 2) == "network"
        if ic.nvlink_domain > 1:
            assert ic.link(ic.nvlink_domain) == "nvlink"


def test_h800_is_the_deepseek_v3_cluster():
    # DeepSeek-V3 report section 3.1/3.2.2: 8 GPUs per node on NVLink, IB 50 GB/s per GPU,
    # Table 1: $2 per H800 GPU-hour.
    g = load_catalog()["h800"]
    assert g.interconnect.nvlink_domain == 8 and g.interconnect.network_bytes_s == 50e9
    assert g.price_per_hour_usd == 2.0
