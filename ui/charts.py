"""Plotly figures built from report values (the page and the HTML export share them).

Each builder takes numbers already computed by the estimator and only draws them: unit
conversion (bytes → GiB = 2^30, parameters → B = 10^9) happens here, at the edge, with the unit
in every axis title.
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence
from typing import Any

import plotly.graph_objects as go

from . import fmt

PALETTE = ["#4C6EF5", "#12B886", "#FAB005", "#FA5252", "#7950F2", "#15AABF", "#FD7E14",
           "#82C91E", "#E64980", "#868E96"]
ACTIVE, INACTIVE, CAPACITY = "#4C6EF5", "#C5CEF9", "#FA5252"
FONT = "Inter, -apple-system, Segoe UI, Roboto, Helvetica, Arial, sans-serif"


def _layout(fig: go.Figure, *, title: str | None = None, height: int = 340,
            x_title: str | None = None, y_title: str | None = None,
            legend: bool = True) -> go.Figure:
    fig.update_layout(
        title=dict(text=title, x=0, xanchor="left", font=dict(size=15)) if title else None,
        height=height, margin=dict(l=10, r=10, t=48 if title else 16, b=10),
        font=dict(family=FONT, size=12), showlegend=legend,
        legend=dict(orientation="h", yanchor="bottom", y=1.0, xanchor="right", x=1),
        hoverlabel=dict(font_family=FONT))
    if x_title is not None:
        fig.update_xaxes(title_text=x_title)
    if y_title is not None:
        fig.update_yaxes(title_text=y_title)
    return fig


def safe(text: Any, br: bool = False) -> str:
    """A user string as plotly text: its HTML-like tags (<a href>, <b>) are escaped; ``br``
    keeps the line breaks the caller put in with ``<br>``."""
    parts = str(text).split("<br>") if br else [str(text)]
    return "<br>".join(html.escape(x, quote=False) for x in parts)


def _tick(x: Any) -> str:
    v = fmt.num(x)
    if v is None:
        return str(x)
    for scale, suffix in ((2**20, "M"), (2**10, "K")):
        if v >= scale and v % scale == 0:
            return f"{int(v // scale)}{suffix}"
    return f"{v:g}"


def _log_x(fig: go.Figure, xs: Sequence[Any]) -> None:
    """Log x axis with ticks at the sampled points (512, 1K, 2K … in powers of two)."""
    vals = sorted({x for x in xs if fmt.num(x) and fmt.num(x) > 0})
    if not vals:
        return
    lo, hi = math.log10(vals[0]), math.log10(vals[-1])
    if len(vals) > 12:  # keep every other power of two
        vals = vals[::2]
    pad = 0.03 * max(hi - lo, 0.3)  # so the first and last tick labels are drawn
    fig.update_xaxes(type="log", tickvals=vals, ticktext=[_tick(v) for v in vals],
                     range=[lo - pad, hi + pad])


def _nonzero(parts: Mapping[str, Any]) -> list[tuple[str, float]]:
    out = []
    for k, v in parts.items():
        x = fmt.num(v)
        if x:
            out.append((k, x))
    return out


def breakdown_bar(parts: Mapping[str, Any], unit: str, *, title: str | None = None,
                  height: int | None = None) -> go.Figure:
    """Horizontal bars, largest first. ``unit``: 'params' (B), 'bytes' (GiB), 'flops' (TFLOP),
    'gflops' (GFLOP)."""
    scale, axis, fmt_one = {
        "params": (1e9, "parameters (B = 10⁹)", fmt.params),
        "bytes": (fmt.GIB, "GiB (2³⁰ bytes)", fmt.gib),
        "flops": (1e12, "TFLOP (10¹² FLOPs)", fmt.flops),
        "gflops": (1e9, "GFLOP (10⁹ FLOPs)", fmt.flops),
    }[unit]
    rows = sorted(_nonzero(parts), key=lambda kv: kv[1])
    fig = go.Figure(go.Bar(
        x=[v / scale for _, v in rows], y=[safe(fmt.label(k)) for k, _ in rows], orientation="h",
        marker_color=PALETTE[0], text=[fmt_one(v) for _, v in rows], textposition="auto",
        hovertemplate="%{y}: %{text}<extra></extra>"))
    return _layout(fig, title=title, height=height or max(200, 44 * len(rows) + 80),
                   x_title=axis, legend=False)


def step_bar(parts: Mapping[str, Any], *, title: str | None = None) -> go.Figure:
    """One optimizer step as a single stacked bar of seconds (compute, exposed communication by
    kind, bubble, optimizer), in the order the report gives them."""
    fig = go.Figure()
    for i, (k, v) in enumerate(_nonzero(parts)):
        fig.add_trace(go.Bar(x=[v], y=["step"], orientation="h", name=safe(fmt.label(k)),
                             marker_color=PALETTE[i % len(PALETTE)],
                             hovertemplate=f"{safe(fmt.label(k))}: %{{x:.4g}} s<extra></extra>"))
    fig.update_layout(barmode="stack")
    fig.update_yaxes(showticklabels=False)
    return _layout(fig, title=title, height=200, x_title="seconds per optimizer step")


def total_vs_active(total: Any, active: Any, inactive: Any, *,
                    title: str | None = None) -> go.Figure:
    """One stacked bar: parameters a token uses + routed-expert parameters it skips = total."""
    fig = go.Figure()
    fig.add_bar(y=["parameters"], x=[(fmt.num(active) or 0) / 1e9], orientation="h",
                name=f"active per token · {fmt.params(active)}", marker_color=ACTIVE,
                hovertemplate="active: %{x:.2f} B<extra></extra>")
    fig.add_bar(y=["parameters"], x=[(fmt.num(inactive) or 0) / 1e9], orientation="h",
                name=f"resident, not used by the token · {fmt.params(inactive)}",
                marker_color=INACTIVE, hovertemplate="inactive: %{x:.2f} B<extra></extra>")
    fig.update_layout(barmode="stack")
    fig.update_yaxes(showticklabels=False)
    fig = _layout(fig, title=title or f"{fmt.params(total)} stored, {fmt.params(active)} used "
                                       "per token", height=190, x_title="")
    fig.update_xaxes(ticksuffix="B")
    fig.update_layout(legend=dict(orientation="h", yanchor="top", y=-0.35, xanchor="left", x=0),
                      margin=dict(b=40))
    return fig


def capacity_lines(fig: go.Figure, capacities: Sequence[tuple[str, float]]) -> go.Figure:
    for i, (name, cap_bytes) in enumerate(capacities):
        fig.add_hline(y=cap_bytes / fmt.GIB, line_dash="dash" if i else "solid",
                      line_color=CAPACITY, opacity=0.8 if i == 0 else 0.45, line_width=1.5,
                      annotation_text=name, annotation_position="top left",
                      annotation_font_color=CAPACITY)
    return fig


def stacked_memory(xs: Sequence[Any], series: Mapping[str, Sequence[float | None]], *,
                   x_title: str, title: str | None = None, log_x: bool = True,
                   capacities: Sequence[tuple[str, float]] = (),
                   marker: Any = None) -> go.Figure:
    """Stacked areas of memory components (bytes) against ``xs``, with GPU capacity lines."""
    fig = go.Figure()
    for i, (name, ys) in enumerate(series.items()):
        fig.add_scatter(x=list(xs), y=[None if y is None else y / fmt.GIB for y in ys],
                        name=fmt.label(name), stackgroup="mem", mode="lines",
                        line=dict(width=0.5, color=PALETTE[i % len(PALETTE)]),
                        hovertemplate=f"{fmt.label(name)}: %{{y:.1f}} GiB<extra></extra>")
    capacity_lines(fig, capacities)
    if marker is not None:
        fig.add_vline(x=marker, line_dash="dot", line_color="#495057", opacity=0.6,
                      annotation_text="current", annotation_position="top right")
    if log_x:
        _log_x(fig, xs)
    fig.update_layout(legend_traceorder="normal")
    return _layout(fig, title=title, x_title=x_title, y_title="GiB per GPU (2³⁰ bytes)")


def lines(xs: Sequence[Any], series: Mapping[str, Sequence[float | None]], *, x_title: str,
          y_title: str, title: str | None = None, log_x: bool = True, log_y: bool = False,
          hover_unit: str = "") -> go.Figure:
    fig = go.Figure()
    for i, (name, ys) in enumerate(series.items()):
        fig.add_scatter(x=list(xs), y=list(ys), name=name, mode="lines+markers",
                        line=dict(color=PALETTE[i % len(PALETTE)], width=2),
                        hovertemplate=f"{name}: %{{y:,.1f}} {hover_unit}<extra></extra>")
    if log_x:
        _log_x(fig, xs)
    if log_y:
        fig.update_yaxes(type="log", dtick=1, tickformat=",")  # ticks at powers of ten
    return _layout(fig, title=title, x_title=x_title, y_title=y_title)


def heatmap(xs: Sequence[Any], ys: Sequence[Any], z: Sequence[Sequence[float | None]], *,
            x_title: str, y_title: str, z_title: str, text: Sequence[Sequence[str]],
            title: str | None = None) -> go.Figure:
    fig = go.Figure(go.Heatmap(
        x=[str(x) for x in xs], y=[str(y) for y in ys], z=z, text=text,
        texttemplate="%{text}", colorscale="Blues", colorbar=dict(title=z_title),
        hovertemplate=f"{x_title}=%{{x}}, {y_title}=%{{y}}: %{{text}}<extra></extra>"))
    fig.update_xaxes(type="category")
    fig.update_yaxes(type="category")
    return _layout(fig, title=title, x_title=x_title, y_title=y_title, legend=False,
                   height=380)


def scatter(points: Sequence[Mapping[str, Any]], *, x: str, y: str, color: str,
            x_title: str, y_title: str, hover: str, title: str | None = None,
            vline: tuple[str, float] | None = None, label: str | None = None) -> go.Figure:
    """Points grouped by ``color`` (e.g. fits / does not fit)."""
    fig = go.Figure()
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in points:
        groups.setdefault(str(p[color]), []).append(p)
    colors = {"fits": "#12B886", "does not fit": "#FA5252", "current": "#212529"}
    for i, (name, ps) in enumerate(groups.items()):
        fig.add_scatter(x=[p[x] for p in ps], y=[p[y] for p in ps], name=name,
                        mode="markers+text" if label else "markers",
                        textposition="top center",
                        text=[safe(p[label]) for p in ps] if label else None,
                        marker=dict(size=11 if name == "current" else 8,
                                    symbol="star" if name == "current" else "circle",
                                    color=colors.get(name, PALETTE[i % len(PALETTE)]),
                                    line=dict(width=0.5, color="white")),
                        hovertext=[safe(p[hover], br=True) for p in ps],
                        hovertemplate="%{hovertext}<extra></extra>")
    if vline is not None:
        fig.add_vline(x=vline[1], line_color=CAPACITY, line_dash="dash",
                      annotation_text=vline[0], annotation_position="top right",
                      annotation_font_color=CAPACITY)
    return _layout(fig, title=title, x_title=x_title, y_title=y_title, height=420)


def parity(points: Sequence[Mapping[str, Any]], *, title: str | None = None) -> go.Figure:
    """Estimated vs measured, log-log, with the y = x line."""
    fig = go.Figure()
    groups: dict[str, list[Mapping[str, Any]]] = {}
    for p in points:
        groups.setdefault(str(p.get("quantity", "")), []).append(p)
    lo, hi = None, None
    for i, (name, ps) in enumerate(groups.items()):
        xs = [p["measured"] for p in ps]
        ys = [p["estimated"] for p in ps]
        for v in xs + ys:
            if v and v > 0:
                lo = v if lo is None else min(lo, v)
                hi = v if hi is None else max(hi, v)
        fig.add_scatter(x=xs, y=ys, mode="markers", name=name,
                        marker=dict(size=8, color=PALETTE[i % len(PALETTE)]),
                        text=[safe(p.get("label", "")) for p in ps],
                        hovertemplate="%{text}<br>measured %{x:.4g}<br>estimated %{y:.4g}"
                                      "<extra></extra>")
    if lo and hi:
        fig.add_scatter(x=[lo, hi], y=[lo, hi], mode="lines", name="estimate = measured",
                        line=dict(color="#868E96", dash="dash", width=1))
    fig.update_xaxes(type="log")
    fig.update_yaxes(type="log")
    return _layout(fig, title=title, x_title="measured", y_title="estimated", height=420)


def pareto_frontier(points: Sequence[Mapping[str, Any]], frontier: Sequence[Mapping[str, Any]],
                    *, title: str | None = None) -> go.Figure:
    """tokens/s per user (x) against tokens/s per GPU (y): every point searched, and the
    non-dominated ones joined (estimator.frontier.pareto)."""
    fig = go.Figure()
    label = [safe(f"{p['gpus']} GPUs, tp={p['tp']} pp={p['pp']} ep={p['ep']}, "
                  f"concurrency {p['concurrency']}") for p in points]
    fig.add_trace(go.Scatter(x=[p["tokens_per_s_per_user"] for p in points],
                             y=[p["tokens_per_s_per_gpu"] for p in points], mode="markers",
                             name="searched", text=label, hoverinfo="text+x+y",
                             marker=dict(color=INACTIVE, size=8)))
    fig.add_trace(go.Scatter(x=[p["tokens_per_s_per_user"] for p in frontier],
                             y=[p["tokens_per_s_per_gpu"] for p in frontier],
                             mode="lines+markers", name="Pareto frontier (meets the SLOs)",
                             marker=dict(color=ACTIVE, size=10), line=dict(color=ACTIVE)))
    return _layout(fig, title=title, x_title="tokens/s per user", y_title="tokens/s per GPU")
