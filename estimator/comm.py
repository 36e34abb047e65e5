"""Collective communication: the bytes each rank sends, and how long that takes.

The one place for the volume and the time of every collective that the training step-time
model and the serving latency model charge. Both describe a collective by its *payload* (the
bytes of the tensor each rank hands to it, what ``torch.distributed`` is called with) and the
number of ranks; the bytes on the wire and the time follow from here.

* **Volumes** follow NCCL's ring algorithms, as nccl-tests' ``doc/PERFORMANCE.md`` derives its
  "bus bandwidth": each rank sends ``2(n−1)/n`` of the buffer in an all-reduce (a
  reduce-scatter then an all-gather), ``(n−1)/n`` of the full buffer in an all-gather or a
  reduce-scatter, ``(n−1)/n`` of its send buffer in an even all-to-all (the ``1/n`` addressed to
  itself stays local), the whole message in a point-to-point send.
* **Time** is the α–β model of NCCL's own tuner (``src/graph/tuning.cc``, v2.28.7,
  ``ncclTunerConstantsDefaults``, Ring/Simple protocol): a base latency per collective
  (8.4 µs) plus a hardware latency per ring step (NVLink 3.4 µs, PCI 5.7 µs, network 14.0 µs)
  times the number of steps, plus the bytes each rank sends over the link's bandwidth.
  ``efficiency`` scales the datasheet bandwidth to what the kernels achieve (a caller's named,
  sourced constant: e.g. DeepEP's README measures 153-158 GB/s of the H800's 160 GB/s NVLink).
"""

from __future__ import annotations

from fractions import Fraction

from .errors import EstimatorError

ALL_REDUCE = "all_reduce"
ALL_GATHER = "all_gather"
REDUCE_SCATTER = "reduce_scatter"
ALL_TO_ALL = "all_to_all"
SEND_RECV = "send_recv"
COLLECTIVES = (ALL_REDUCE, ALL_GATHER, REDUCE_SCATTER, ALL_TO_ALL, SEND_RECV)

#: NCCL tuner base latency of one Ring/Simple collective, seconds (tuning.cc v2.28.7,
#: ``baseLatencies[Ring][Simple]`` = 8.4 µs).
NCCL_BASE_LATENCY_S = 8.4e-6
#: NCCL tuner hardware latency per ring step, seconds (tuning.cc v2.28.7,
#: ``hwLatencies[NVLINK|PCI|NET][Ring][Simple]`` = 3.4, 5.7, 14.0 µs).
NCCL_STEP_LATENCY_S = {"local": 0.0, "nvlink": 3.4e-6, "pcie": 5.7e-6, "network": 14.0e-6}


def _check(op: str, ranks: int) -> None:
    if op not in COLLECTIVES:
        raise EstimatorError("collective", op, "must be one of " + ", ".join(COLLECTIVES))
    if not isinstance(ranks, int) or ranks < 1:
        raise EstimatorError("ranks", ranks, "must be a whole number >= 1")


def wire_fraction(op: str, ranks: int) -> Fraction:
    """Bytes each rank sends per payload byte, for ``ranks`` ranks (exact).

    nccl-tests ``doc/PERFORMANCE.md``: all-reduce ``2(n−1)/n``; all-gather and reduce-scatter
    ``(n−1)/n`` of the full (gathered / pre-scatter) buffer; all-to-all ``(n−1)/n`` of the
    rank's even send buffer; a send moves its whole message. One rank sends nothing.
    """
    _check(op, ranks)
    if op == SEND_RECV:
        return Fraction(1)
    if ranks == 1:
        return Fraction(0)
    share = Fraction(ranks - 1, ranks)
    return 2 * share if op == ALL_REDUCE else share


def sent_bytes(op: str, payload_bytes: int, ranks: int) -> Fraction:
    """Bytes one rank puts on the wire for a collective with ``payload_bytes`` per rank
    (:func:`wire_fraction` × payload; exact, may be fractional per rank)."""
    return wire_fraction(op, ranks) * payload_bytes


def ring_steps(op: str, ranks: int) -> int:
    """Sequential steps of NCCL's ring: ``2(n−1)`` for all-reduce, ``n−1`` for all-gather,
    reduce-scatter and (pairwise) all-to-all, 1 for a send (tuning.cc: ``nsteps``)."""
    _check(op, ranks)
    if op == SEND_RECV:
        return 1
    return 2 * (ranks - 1) if op == ALL_REDUCE else ranks - 1


def collective_time(op: str, payload_bytes: int, ranks: int, link: str, bytes_s: float,
                    efficiency: float = 1.0) -> float:
    """Seconds for one collective: NCCL's α–β model (tuning.cc v2.28.7, Ring/Simple).

    ``NCCL_BASE_LATENCY_S + ring_steps · NCCL_STEP_LATENCY_S[link] + sent_bytes / (bytes_s ·
    efficiency)``; ``link`` is ``Interconnect.link(ranks)`` and ``bytes_s`` its per-GPU,
    per-direction bandwidth. Zero when nothing crosses a link (one rank, or ``local``).
    """
    if link not in NCCL_STEP_LATENCY_S:
        raise EstimatorError("link", link, "must be one of " + ", ".join(NCCL_STEP_LATENCY_S))
    if ranks == 1 and op != SEND_RECV or link == "local":
        return 0.0
    if bytes_s <= 0 or efficiency <= 0:
        raise EstimatorError("bandwidth", bytes_s * efficiency, "must be > 0 for a "
                             f"collective over {link}")
    return (NCCL_BASE_LATENCY_S + ring_steps(op, ranks) * NCCL_STEP_LATENCY_S[link]
            + float(sent_bytes(op, payload_bytes, ranks)) / (bytes_s * efficiency))
