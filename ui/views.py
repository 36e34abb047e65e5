"""Report → curves and figures, shared by the Estimate page and the HTML export.

Curves are made by calling ``estimate()`` again at other workload points (it takes tens of
microseconds), never by rescaling numbers here: the estimator owns every formula.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from estimator.errors import EstimatorError
from estimator.report import Report, estimate

from . import charts, fmt

MAX_CONTEXT_POINTS = 2**20
MEM_COMPONENTS = ("weights", "kv_cache", "state", "activations", "overhead")


def vary(report: Report, field: str, values: Sequence[Any]) -> list[tuple[Any, Report | None]]:
    """The report's model under its options with ``field`` set to each of ``values``."""
    out = []
    for v in values:
        try:
            out.append((v, estimate(report.model, options=report.options.replace(**{field: v}))))
        except (EstimatorError, ValueError):
            out.append((v, None))
    return out


def _powers(lo: int, hi: int, extra: int) -> list[int]:
    xs, x = set(), lo
    while x <= hi:
        xs.add(x)
        x *= 2
    xs.add(extra)
    return sorted(xs)


def context_grid(report: Report) -> list[int]:
    s, o = report.model.spec, report.options
    top = max(s.max_position_embeddings or 131072, o.seq_len)
    return _powers(512, min(top, MAX_CONTEXT_POINTS), o.seq_len)


def batch_grid(report: Report) -> list[int]:
    return _powers(1, 256, report.options.batch)


def inference_parts(mi: Mapping[str, Any]) -> tuple[dict[str, float], str]:
    """Inference-memory components and what they describe ('per GPU' or 'whole model')."""
    pg = mi.get("per_gpu")
    if isinstance(pg, Mapping):
        parts = fmt.numeric_parts({k: pg.get(k) for k in MEM_COMPONENTS})
        if parts:
            return parts, "busiest GPU"
    return fmt.numeric_parts({k: mi.get(k) for k in MEM_COMPONENTS}), "whole model"


def inference_total_per_gpu(mi: Mapping[str, Any]) -> float | None:
    pg = mi.get("per_gpu")
    return fmt.num(pg) if pg is not None else fmt.num(mi.get("total"))


def training_parts(mt: Mapping[str, Any]) -> dict[str, float]:
    """The parts of the training peak on the busiest GPU (``peak_parts`` sum to ``peak``)."""
    parts = fmt.numeric_parts(mt.get("peak_parts"))
    if parts:
        return parts
    return fmt.numeric_parts(mt.get("per_gpu"), skip=("total", "peak", "model_states"))


def memory_curve(report: Report, field: str, values: Sequence[int]) -> dict[str, list]:
    """Stacked inference-memory components at each point of ``field``."""
    series: dict[str, list] = {}
    rows = vary(report, field, values)
    for i, (_, r) in enumerate(rows):
        parts = inference_parts(r.inference.to_dict())[0] if r is not None else {}
        for k, v in parts.items():
            series.setdefault(k, [None] * len(rows))[i] = v
    return series


def decode_rows(report: Report) -> list[Mapping[str, Any]]:
    rows = report.serving.to_dict().get("decode")
    return [r for r in rows if isinstance(r, Mapping)] if isinstance(rows, list) else []


def capacity(report: Report) -> list[tuple[str, float]]:
    g = report.gpu
    return [(f"1 × {g.name} ({fmt.gib(g.memory_bytes, 0)})", g.memory_bytes)]


def figures(report: Report) -> dict[str, Any]:
    """The charts of the Estimate page, titled, for the HTML export."""
    d = report.sections()
    p = d["params"]
    figs: dict[str, Any] = {}
    figs["Parameters: stored vs used per token"] = charts.total_vs_active(
        p["total"], p["active_by_convention"]["with_embedding"], p["routed_inactive_per_token"])
    figs["Parameters by component"] = charts.breakdown_bar(p["breakdown"], "params")
    mi = d["memory"]["inference"]
    parts, scope = inference_parts(mi)
    if parts:
        figs[f"Inference memory ({scope})"] = charts.breakdown_bar(parts, "bytes")
        xs = context_grid(report)
        series = memory_curve(report, "seq_len", xs)
        if series:
            figs["Inference memory vs context length"] = charts.stacked_memory(
                xs, series, x_title="context length (tokens per sequence)",
                capacities=capacity(report), marker=report.options.seq_len)
        xs = batch_grid(report)
        series = memory_curve(report, "batch", xs)
        if series:
            figs["Inference memory vs batch"] = charts.stacked_memory(
                xs, series, x_title="batch (sequences)", capacities=capacity(report),
                marker=report.options.batch)
    tparts = training_parts(d["memory"]["training"])
    if tparts:
        figs["Training memory per GPU"] = charts.breakdown_bar(tparts, "bytes")
    fb = fmt.numeric_parts(d["flops"].get("breakdown"))
    if fb:
        figs["Forward FLOPs by component (one batch)"] = charts.breakdown_bar(fb, "flops")
    dec = decode_rows(report)
    if dec:
        figs["Decode throughput vs batch"] = decode_figure(dec)
    return figs


def decode_figure(rows: Sequence[Mapping[str, Any]]) -> Any:
    xs = [r.get("batch") for r in rows]
    series = {
        "tokens/s (all users, per replica)": [fmt.num(r.get("tokens_per_s")) for r in rows],
        "tokens/s per user": [fmt.num(r.get("tokens_per_s_per_user")) for r in rows],
    }
    return charts.lines(xs, series, x_title="batch (concurrent sequences)",
                        y_title="tokens / s (log scale)", log_y=True, hover_unit="tok/s",
                        title="Decode throughput vs batch")
