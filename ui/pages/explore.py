"""Explore: design-space sweeps around the current model (``estimator.sweep``).

Two architecture axes form a grid; each point is a full ``estimate()`` under the sidebar's
options, so the heatmap and the memory-vs-compute scatter use exactly the report's numbers.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

from estimator.errors import EstimatorError
from estimator.presets import Model
from estimator.sweep import sweep
from ui import charts, fmt, widgets
from ui.state import require_report

MAX_VALUES = 10  # per axis: 100 points, each tens of microseconds
SHARED = "num_shared_experts"

ctx = require_report()
report = ctx.report
s, opts = report.model.spec, report.options

st.title("Explore", anchor=False)
st.caption("Sweep two architecture choices around the current model; everything else (trunk, "
           "workload, GPU, parallelism) stays as in the sidebar. Each cell is a full estimate.")


def _around(v: int, factors: tuple[float, ...], lo: int = 1) -> list[int]:
    return sorted({max(lo, round(v * f)) for f in factors})


f_e = s.moe_intermediate_size or s.intermediate_size or 1
AXES: dict[str, tuple[str, list[int]]] = {
    "num_experts": ("routed experts E", sorted({4, 8, 16, 32, 64, max(s.num_experts, 1)})),
    "num_experts_per_tok": ("experts per token k", sorted({1, 2, 4, 8,
                                                           max(s.num_experts_per_tok, 1)})),
    "moe_intermediate_size": ("expert width f_e", _around(f_e, (0.25, 0.5, 1, 2))),
    SHARED: ("shared experts", sorted({0, 1, 2, s.num_shared_experts})),
    "num_hidden_layers": ("layers L", _around(s.num_hidden_layers, (0.5, 0.75, 1, 1.25, 1.5))),
}
METRICS = {
    "inference_bytes_per_gpu": ("inference memory per GPU", "GiB", fmt.gib, fmt.GIB),
    "forward_flops_per_token": ("forward FLOPs per token", "GFLOP", fmt.flops, 1e9),
    "active_params": ("active parameters per token", "B params", fmt.params, 1e9),
    "total_params": ("total parameters", "B params", fmt.params, 1e9),
    "training_peak_bytes_per_gpu": ("training peak memory per GPU", "GiB", fmt.gib, fmt.GIB),
    "training_cost_usd": ("training cost", "$", fmt.usd, 1.0),
}

if not s.is_moe:
    st.info("This is a dense model: the expert axes turn it into an MoE only where the "
            "architecture allows. Pick an MoE preset for the full picture.",
            icon=":material/info:")

c = st.columns([1, 1, 1])
x_field = c[0].selectbox("Horizontal axis", list(AXES), index=0, key="ex_x",
                         format_func=lambda k: AXES[k][0])
y_choices = [k for k in AXES if k != x_field]
y_field = c[1].selectbox("Vertical axis", y_choices, index=0, key="ex_y",
                         format_func=lambda k: AXES[k][0])
metric = c[2].selectbox("Colour by", list(METRICS), key="ex_metric",
                        format_func=lambda k: METRICS[k][0])


def _values(field: str, col: Any) -> list[int]:
    text = col.text_input(f"{AXES[field][0]} values", ", ".join(map(str, AXES[field][1])),
                          key=f"ex_vals_{field}", max_chars=200,
                          help=f"comma-separated integers for `{field}` (at most {MAX_VALUES})")
    try:
        vals = sorted({int(v) for v in text.replace(" ", "").split(",") if v})
    except ValueError:
        raise EstimatorError(field, text, "expected comma-separated integers") from None
    if not vals or len(vals) > MAX_VALUES or min(vals) < 0:
        raise EstimatorError(field, text, f"give 1 to {MAX_VALUES} non-negative integers")
    return vals


c = st.columns(2)
try:
    xs, ys = _values(x_field, c[0]), _values(y_field, c[1])
except EstimatorError as e:
    st.error(widgets.md(e), icon=":material/error:")
    st.stop()


def _with_shared(n: int) -> Model:
    """The model with ``n`` shared experts, each as wide as the current one (or as a routed
    expert when it has none): a spec edit, counted by the estimator like any other model."""
    unit = (s.shared_expert_intermediate_size // s.num_shared_experts if s.num_shared_experts
            else s.moe_intermediate_size)
    spec = s.replace(num_shared_experts=n, shared_expert_intermediate_size=n * unit,
                     shared_expert_gate=s.shared_expert_gate and n > 0)
    return Model(spec=spec, display_name=report.model.display_name, origin=report.model.origin)


def run_sweep() -> list[dict[str, Any]]:
    o = opts.to_dict()
    if SHARED in (x_field, y_field):
        other, other_vals = (y_field, ys) if x_field == SHARED else (x_field, xs)
        n_vals = xs if x_field == SHARED else ys
        rows = []
        for n in n_vals:
            try:
                base = _with_shared(n)
            except EstimatorError as e:
                rows += [{SHARED: n, other: v, "error": str(e)} for v in other_vals]
                continue
            for r in sweep(base, {other: other_vals}, **o):
                r[SHARED] = n
                rows.append(r)
        return rows
    return sweep(report.model, {x_field: xs, y_field: ys}, **o)


rows = run_sweep()
by_point = {(r[x_field], r[y_field]): r for r in rows}
label, unit, show, scale = METRICS[metric]
z, text = [], []
for yv in ys:
    zr, tr = [], []
    for xv in xs:
        r = by_point.get((xv, yv), {})
        v = fmt.num(r.get(metric)) if not r.get("error") else None
        zr.append(None if v is None else v / scale)
        tr.append(show(v) if v is not None else ("invalid" if r.get("error") else "—"))
    z.append(zr)
    text.append(tr)

st.plotly_chart(charts.heatmap(xs, ys, z, x_title=x_field, y_title=y_field, z_title=unit,
                               text=text, title=f"{label[0].upper()}{label[1:]} ({unit})"),
                config=widgets.PLOTLY_CONFIG)
bad = [r for r in rows if r.get("error")]
if bad:
    with st.expander(f"{len(bad)} grid point(s) are not valid models"):
        st.dataframe([{x_field: r[x_field], y_field: r[y_field], "why": r["error"]}
                      for r in bad], hide_index=True)

# --- memory vs compute ----------------------------------------------------------------------
st.subheader("Memory vs compute", divider="gray")
cur = (getattr(s, x_field, None), getattr(s, y_field, None))
points = []
for r in rows:
    mem, fl = fmt.num(r.get("inference_bytes_per_gpu")), fmt.num(r.get("forward_flops_per_token"))
    if r.get("error") or mem is None or fl is None:
        continue
    fits = r.get("inference_fits")
    group = ("current" if (r[x_field], r[y_field]) == cur else
             "fits" if fits else "does not fit" if fits is False else "unknown")
    points.append({"x": mem / fmt.GIB, "y": fl / 1e9, "group": group,
                   "label": f"{x_field}={r[x_field]}, {y_field}={r[y_field]}<br>"
                            f"{fmt.gib(mem)} per GPU, {fmt.flops(fl)}/token, "
                            f"{fmt.params(r.get('total_params'))} total / "
                            f"{fmt.params(r.get('active_params'))} active"})
n_split = opts.tp * opts.pp
if points:
    st.plotly_chart(charts.scatter(
        points, x="x", y="y", color="group", hover="label",
        x_title="inference memory per GPU (GiB = 2³⁰ bytes)", y_title="forward GFLOP per token",
        title=f"Each point is one design; the line is one {report.gpu.name} "
              f"(model split over tp·pp = {n_split} GPU{'s' if n_split > 1 else ''})",
        vline=(f"fits on {n_split} × {report.gpu.name}", report.gpu.memory_bytes / fmt.GIB)),
        config=widgets.PLOTLY_CONFIG)
    st.caption("Memory follows total parameters (every expert is resident); compute follows "
               "active parameters. Designs left of the line fit the chosen GPUs at this batch "
               "and context; change tp/pp, dtype or GPU in the sidebar to move the line.")
elif bad and len(bad) == len(rows):  # every point invalid: say why, not "not reported yet"
    st.warning("No grid point is a valid model, so there is nothing to plot. The first: "
               + widgets.md(bad[0]["error"]), icon=":material/warning:")
else:
    widgets.pending("inference memory")

with st.expander("Sweep rows (exact values)"):
    st.dataframe(rows, hide_index=True)

# --- design space (vectorized) --------------------------------------------------------------
st.subheader("Design space", divider="gray")
st.caption("Up to 1,000,000 designs at once: experts × top-k × expert width × batch, each the "
           "same headline figures as a full estimate (estimator.sweep.columns evaluates the "
           "report's own formulas over numpy arrays). Filter by what fits and what you can "
           "afford; the Pareto frontier keeps the designs no other beats on memory per GPU, "
           "FLOPs per token and decode tokens/s together.")

MAX_DESIGNS = 1_000_000
DS_AXES = {  # grid field: (label, default values text)
    "num_experts": ("routed experts E", f"{max(1, s.num_experts // 2)}:{max(8, 4 * s.num_experts)}"
                                        f":{max(1, s.num_experts // 2)}"),
    "num_experts_per_tok": ("experts per token k", f"1:{max(8, s.num_experts_per_tok)}:1"),
    "moe_intermediate_size": ("expert width f_e", ", ".join(map(str, _around(f_e, (0.5, 1, 2))))),
    "batch": ("batch", f"1, 8, 64, {opts.batch}"),
}


def _parse_values(field: str, text: str) -> list[int]:
    """``"a, b, c"`` or ``"start:stop:step"`` (inclusive) → sorted distinct integers."""
    t = text.replace(" ", "")
    try:
        if ":" in t:
            a, b, *step = (int(x) for x in t.split(":"))
            vals = range(a, b + 1, step[0] if step else 1)
            if len(vals) > 10_000:
                raise EstimatorError(field, text, "at most 10,000 values per field")
            vals = list(vals)
        else:
            vals = [int(v) for v in t.split(",") if v]
    except ValueError:
        raise EstimatorError(field, text, "expected integers: a, b, c or start:stop:step") from None
    vals = sorted(set(vals))
    if not vals or min(vals) < 0:
        raise EstimatorError(field, text, "give at least one non-negative integer")
    return vals


@st.cache_resource(max_entries=4, show_spinner="Evaluating the design space…")
def _design_space(key: str, _model: Model, grid: dict, options: dict) -> dict:  # noqa: ARG001
    """All columns of the grid (``key`` identifies model, grid and options for the cache)."""
    import numpy as np

    from estimator.sweep import columns

    chunks = list(columns(_model, grid, speed=True, **options))
    return {c: np.concatenate([ch[c] for ch in chunks]) for c in chunks[0]}


@st.cache_resource(max_entries=8)
def _front(key: str, _mem, _fl, _tps):  # noqa: ARG001
    from estimator.vector import pareto_front

    return pareto_front(_mem, _fl, _tps)


with st.form("ds_form", border=False):
    c = st.columns(4)
    texts_in = {f: c[i].text_input(DS_AXES[f][0], DS_AXES[f][1], key=f"ds_{f}", max_chars=200,
                                   help="comma-separated integers, or start:stop:step")
                for i, f in enumerate(DS_AXES)}
    from estimator.hardware import load_catalog

    catalog = load_catalog()
    c = st.columns(4)
    gpu_id = c[0].selectbox("GPU type", list(catalog), key="ds_gpu",
                            index=list(catalog).index(opts.gpu) if opts.gpu in catalog else 0,
                            format_func=lambda g: catalog[g].name)
    n_gpus = c[1].selectbox("fits on N GPUs", [1, 2, 4, 8, 16, 32, 64, 128], index=0,
                            key="ds_n", help="tp = min(N, 8), pp = N / tp, ep = 1")
    max_active = c[2].number_input("active ≤ (B params, 0 = any)", min_value=0.0, value=0.0,
                                   key="ds_active")
    budget = c[3].number_input("training budget ≤ ($, 0 = any)", min_value=0.0, value=0.0,
                               key="ds_budget")
    st.form_submit_button("Evaluate", type="primary")

try:
    ds_grid = {f: _parse_values(f, texts_in[f]) for f in DS_AXES}
    n_points = 1
    for v in ds_grid.values():
        n_points *= len(v)
    if n_points > MAX_DESIGNS:
        raise EstimatorError("design space", f"{n_points:,} designs",
                             f"at most {MAX_DESIGNS:,} (narrow a range)")
    tp = min(n_gpus, 8)
    ds_opts = {**opts.to_dict(), "gpu": gpu_id, "tp": tp, "pp": n_gpus // tp, "ep": 1}
    key = f"{report.model.origin}|{hash(s)}|{ds_grid}|{sorted(ds_opts.items())}"
    cols = _design_space(key, report.model, ds_grid, ds_opts)
except EstimatorError as e:
    st.error(widgets.md(e), icon=":material/error:")
    st.stop()

import numpy as np  # noqa: E402  (after the cached sweep imported it)

ok = cols["error"] == ""
fits = ok & (cols["inference_fits"] == True)  # noqa: E712  (object column: None where invalid)
keep = fits.copy()
if max_active > 0:
    keep &= np.where(ok, cols["active_params"], np.inf).astype(float) <= max_active * 1e9
if budget > 0:
    cost = np.array([np.inf if v is None else v for v in cols["training_cost_usd"]], dtype=float)
    keep &= cost <= budget
idx = np.flatnonzero(keep)
mem = cols["inference_bytes_per_gpu"][idx].astype(float)
fl = cols["forward_flops_per_token"][idx].astype(float)
tps = cols["decode_tokens_per_s"][idx].astype(float)
front = idx[_front(f"{key}|{max_active}|{budget}", mem, fl, tps)] if len(idx) else idx

c = st.columns(4)
c[0].metric("Designs", f"{len(ok):,}", help=f"{int((~ok).sum()):,} not valid models")
c[1].metric(f"Fit on {n_gpus} × {catalog[gpu_id].name}", f"{int(fits.sum()):,}")
c[2].metric("Within the filters", f"{len(idx):,}")
c[3].metric("Pareto frontier", f"{len(front):,}")

if len(idx):
    rng = np.random.default_rng(0)
    rest = np.setdiff1d(idx, front)
    sample = rng.choice(rest, size=min(2000, len(rest)), replace=False) if len(rest) else rest
    fields = list(DS_AXES)

    def _pt(i: int, group: str) -> dict[str, Any]:
        desc = ", ".join(f"{f}={cols[f][i]}" for f in fields)
        return {"x": float(cols["inference_bytes_per_gpu"][i]) / fmt.GIB,
                "y": float(cols["forward_flops_per_token"][i]) / 1e9, "group": group,
                "label": f"{desc}<br>{fmt.gib(cols['inference_bytes_per_gpu'][i])} per GPU, "
                         f"{fmt.flops(cols['forward_flops_per_token'][i])}/token, "
                         f"{fmt.rate(cols['decode_tokens_per_s'][i])}"}

    pts = [_pt(i, "within the filters") for i in sample.tolist()]
    pts += [_pt(i, "Pareto frontier") for i in front.tolist()[:2000]]
    st.plotly_chart(charts.scatter(
        pts, x="x", y="y", color="group", hover="label",
        x_title="inference memory per GPU (GiB = 2³⁰ bytes)", y_title="forward GFLOP per token",
        title=f"Designs that fit on {n_gpus} × {catalog[gpu_id].name} (a sample of at most "
              "2,000, and the frontier)"), config=widgets.PLOTLY_CONFIG)
    order = front[np.argsort(-cols["decode_tokens_per_s"][front].astype(float))][:50]
    st.dataframe([{**{f: int(cols[f][i]) for f in fields},
                   "memory per GPU": fmt.gib(cols["inference_bytes_per_gpu"][i]),
                   "FLOPs per token": fmt.flops(cols["forward_flops_per_token"][i]),
                   "decode tok/s": fmt.rate(cols["decode_tokens_per_s"][i]),
                   "active": fmt.params(cols["active_params"][i]),
                   "total": fmt.params(cols["total_params"][i]),
                   "training cost": fmt.usd(cols["training_cost_usd"][i])} for i in order],
                 hide_index=True)
    st.caption("The frontier's 50 fastest designs at this batch (decode tokens/s, roofline). "
               "Memory and speed are at the layout tp = min(N, 8), pp = N / tp, experts split "
               "by tp; training cost under the sidebar's training options.")
else:
    st.warning("No design fits and passes the filters: widen the ranges, add GPUs or relax "
               "a filter.", icon=":material/warning:")
