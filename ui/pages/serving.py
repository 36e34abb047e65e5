"""Serving: latency and throughput by concurrency at the current layout, and the Pareto frontier
of tokens/s per GPU against tokens/s per user over layouts and concurrencies, with the TTFT and
TPOT SLOs as filters (``estimator.frontier``; the CLI's ``serve`` command)."""

from __future__ import annotations

import functools

import streamlit as st

from estimator.errors import EstimatorError
from estimator.frontier import pareto, render_md, serving_table
from ui import charts, widgets
from ui.state import require_report
from ui.text import md

ctx = require_report()
report = ctx.report
spec = report.model.spec
opts = report.options


@functools.lru_cache(maxsize=16)
def _table(s, o):
    d = o.to_dict()
    d.pop("concurrency", None)
    return serving_table(s, **d)


@functools.lru_cache(maxsize=16)
def _frontier(s, o, ttft: float, tpot: float):
    d = o.to_dict()
    for k in ("tp", "pp", "ep", "concurrency"):
        d.pop(k, None)
    return pareto(s, ttft_slo_s=ttft, tpot_slo_s=tpot, **d)


st.title("Serving", anchor=False)
lay = report.inference.lay
how = "chosen automatically" if (report.inference.layout_choice or {}).get("auto") else "as set"
st.caption(f"{md(report.model.display_name)} on {lay.gpus} × {md(report.gpu.name)} "
           f"(tp={lay.tp}, pp={lay.pp}, ep={lay.ep}: {how}); prompts of "
           f"{opts.input_len or opts.seq_len:,} tokens, {opts.output_len:,} generated. "
           "Closed-form: roofline step + TP/EP/PP communication (NCCL α–β, DeepEP figures), "
           "the busiest expert-parallel rank sets the step; ceilings, not measurements.")
try:
    rows = _table(spec, opts)
    st.markdown(render_md(rows))
except EstimatorError as e:
    st.error(widgets.md(str(e)), icon=":material/error:")

st.subheader("Pareto frontier", anchor=False)
c = st.columns(2)
ttft = c[0].number_input("TTFT SLO (ms, 0 = none)", 0.0, 1e6, 0.0, key="slo_ttft")
tpot = c[1].number_input("TPOT SLO (ms, 0 = none)", 0.0, 1e6, 0.0, key="slo_tpot")
try:
    res = _frontier(spec, opts, ttft / 1e3, tpot / 1e3)
    st.plotly_chart(charts.pareto_frontier(res["points"], res["frontier"]),
                    config=widgets.PLOTLY_CONFIG)
    if res["frontier"]:
        st.markdown(render_md(res["frontier"]))
    else:
        st.info("No searched point meets these SLOs.", icon=":material/info:")
    st.caption(res["method"])
except EstimatorError as e:
    st.error(widgets.md(str(e)), icon=":material/error:")
