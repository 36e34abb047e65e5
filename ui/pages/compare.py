"""Compare: the model against its dense equivalents and against other models, side by side.

Every row is ``estimator.sweep.headline_of(estimate(model, options))`` under the same options
(GPU, parallelism, workload) as the main estimate; ratios are against the current model.
"""

from __future__ import annotations

from typing import Any

import streamlit as st

import estimator
from estimator.errors import EstimatorError
from estimator.presets import load_model
from estimator.sweep import headline_of
from ui import charts, fmt, widgets
from ui.sidebar import preset_names
from ui.state import require_report
from ui.text import html_text

ctx = require_report()
report = ctx.report
d = report.to_dict()
name = d["model"]["display_name"]
this = headline_of(report)

st.title("Compare", anchor=False)
st.caption(f"{widgets.md(name)} against dense models and other presets, all under the same "
           f"options ({widgets.md(report.gpu.name)}, batch {report.options.batch}, context "
           f"{report.options.seq_len:,}, {report.options.num_gpus} GPUs for training). "
           "Ratios are against the current model.")

# --- dense equivalents ----------------------------------------------------------------------
st.subheader("Against its dense equivalents", divider="gray")
dvm = d.get("dense_vs_moe") or {}
rows = dvm.get("rows") or []
if not d["model"]["is_moe"]:
    st.info("This model is dense; dense equivalents are defined for Mixture-of-Experts models. "
            "Pick an MoE preset (e.g. Mixtral-8x7B) or compare with other models below.",
            icon=":material/info:")
elif len(rows) < 2:
    st.info("Dense equivalents are not available for this model.", icon=":material/info:")
else:
    labelled = []
    for r in rows:
        lab = r.get("label", "")
        if lab == "this model":
            labelled.append((f"{name} (this model)", r))
        else:
            lab_text = {"same-total": "dense, same total params",
                        "same-active": "dense, same active params"}.get(lab, lab)
            if r.get("not_available"):
                labelled.append((lab_text, r))
                continue
            labelled.append((f"{lab_text} (FFN width {fmt.exact(r.get('intermediate_size'))})",
                             r))
    st.dataframe(widgets.headline_table(labelled, this), hide_index=True)
    st.caption(f"Method: {dvm.get('method', '')}. Residual (dense total − target) is at most "
               "one FFN column per layer.")
    for lab, r in labelled:
        if r.get("not_available"):  # beside the comparison, never as the user's error
            st.info(f"{widgets.md(lab)}: {widgets.md(r['not_available'])}",
                    icon=":material/info:")
    labelled = [(n, r) for n, r in labelled if not r.get("not_available")]
    left, right = st.columns(2)
    names = [html_text(n.split(" (")[0]) for n, _ in labelled]  # plotly renders HTML
    with left:
        st.plotly_chart(charts.breakdown_bar(
            {n: r.get("inference_bytes_per_gpu") for n, (_, r) in zip(names, labelled)},
            "bytes", title="Inference memory per GPU — follows total parameters"),
            config=widgets.PLOTLY_CONFIG)
    with right:
        st.plotly_chart(charts.breakdown_bar(
            {n: r.get("forward_flops_per_token") for n, (_, r) in zip(names, labelled)},
            "gflops", title="Forward FLOPs per token — follows active parameters"),
            config=widgets.PLOTLY_CONFIG)
    comp = dvm.get("compute_optimal_dense")
    if comp:
        st.caption(f"Training compute of this run would buy a Chinchilla-optimal dense model of "
                   f"{fmt.params(comp.get('params'))} parameters on "
                   f"{fmt.params(comp.get('tokens'))} tokens ({comp.get('convention', '')}).")

# --- other models ---------------------------------------------------------------------------
st.subheader("Against other models", divider="gray")
names_by_slug = preset_names()
current_slug = report.model.origin.removeprefix("preset:") if report.model.origin.startswith(
    "preset:") else None
choices = [s for s in names_by_slug if s != current_slug]
default = [s for s in ("mistral-7b", "llama-3-70b", "qwen3-30b-a3b", "deepseek-v3")
           if s in choices][:3]
picked = st.multiselect("Presets", choices, default=default, format_func=names_by_slug.get,
                        key="cmp_presets", max_selections=8)
custom = st.session_state.get("_custom")
use_custom = False
if custom is not None and custom is not report.model:
    use_custom = st.checkbox(f"Include your uploaded config ({widgets.md(custom.display_name)})",
                             value=True, key="cmp_custom")


def _row(model: Any) -> dict[str, Any]:
    try:
        return headline_of(estimator.estimate(model, options=report.options))
    except EstimatorError as e:
        return {"error": str(e)}


others: list[tuple[str, dict[str, Any]]] = [(f"{name} (this model)", this)]
for slug in picked:
    try:
        m = load_model(slug)
    except EstimatorError as e:
        others.append((slug, {"error": str(e)}))
        continue
    others.append((m.display_name, _row(m)))
if use_custom:
    others.append((f"{custom.display_name} (uploaded)", _row(custom)))

st.dataframe(widgets.headline_table(others, this), hide_index=True)
points = []
for n, r in others:
    if r.get("error") or fmt.num(r.get("inference_bytes_per_gpu")) is None:
        continue
    points.append({"x": fmt.to_gib(r["inference_bytes_per_gpu"]),
                   "y": (fmt.num(r.get("forward_flops_per_token")) or 0) / 1e9,
                   "group": "current" if n.endswith("(this model)") else "other",
                   "name": html_text(n.removesuffix(" (this model)")),
                   "label": f"{html_text(n)}: {fmt.gib(r['inference_bytes_per_gpu'])}, "
                            f"{fmt.flops(r.get('forward_flops_per_token'))}/token"})
if points:
    st.plotly_chart(charts.scatter(
        points, x="x", y="y", color="group", hover="label",
        x_title="inference memory per GPU (GiB = 2³⁰ bytes)",
        y_title="forward GFLOP per token", title="Memory vs compute", label="name",
        vline=(f"1 × {report.gpu.name}", fmt.to_gib(report.gpu.memory_bytes))),
        config=widgets.PLOTLY_CONFIG)
