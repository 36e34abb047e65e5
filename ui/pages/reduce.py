"""Reduce cost: cheaper ways to run the same model, side by side (``estimator.what_if``).

One table (every row the same figures), one chart (memory per GPU against decode tokens/s, with
the GPU's capacity as a line), the conventions and quality evidence of each row, and the rows as
CSV / JSON / Markdown downloads rendered by ``estimator.whatif.render`` (the CLI's output).
"""

from __future__ import annotations

import functools
from typing import Any

import streamlit as st

from estimator.errors import EstimatorError
from estimator.whatif import DEFAULT_QUANTS, render, what_if
from ui import charts, fmt, widgets
from ui.state import require_report
from ui.text import html_text, md

ctx = require_report()
report = ctx.report
spec = report.model.spec
opts = report.options
name = report.model.display_name


@functools.lru_cache(maxsize=16)
def _what_if(s, opts, wi: tuple) -> dict[str, Any]:
    """One what-if table per (spec, options, choices): reruns that change nothing reuse it."""
    return what_if(s, **opts.to_dict(), **dict(wi))


st.title("Reduce cost", anchor=False)
st.caption(f"Cheaper ways to run {md(name)} on {md(report.gpu.name)} (batch {opts.batch}, "
           f"context {opts.seq_len:,}): each row on the fewest GPUs that hold it. Quality is "
           "never estimated: each row quotes what its source reports, or says nothing is "
           "published.")

cols = st.columns(4)
with cols[0]:
    quants = st.multiselect("Weight formats", list(DEFAULT_QUANTS) + ["fp8-block128", "nf4-dq",
                                                                      "int4-g64", "int4-g32"],
                            default=[q for q in DEFAULT_QUANTS
                                     if spec.is_moe or q != "mxfp4"], key="wi_quant")
choices: dict[str, Any] = {"quant": tuple(quants)}
if spec.is_moe:
    E = spec.num_experts
    with cols[1]:
        choices["prune_experts"] = int(st.number_input(
            "Experts kept per layer", 1, E, max(1, E // 2), key="wi_prune"))
    with cols[2]:
        choices["offload_cache_experts"] = int(st.number_input(
            "Offload: experts cached per layer", 0, E, E // 2, key="wi_cache"))
with cols[3]:
    choices["lora_rank"] = int(st.number_input("LoRA rank", 1, 1024, 16, key="wi_rank"))

try:
    key = tuple(sorted(choices.items()))
    try:
        result = _what_if(spec, opts, key)
    except TypeError:  # an unhashable spec (notes as a list): computed without the cache
        result = _what_if.__wrapped__(spec, opts, key)
except EstimatorError as e:
    st.error(md(str(e)), icon=":material/error:")
    st.stop()

rows = result["rows"]
table = [{
    "variant": r["name"], "kind": r["kind"],
    "params": fmt.params(r["params_total"]),
    "weights": fmt.gib(r["weights_bytes"]),
    "per GPU": fmt.gib(r["per_gpu_bytes"]),
    "GPUs": r["gpus"] if r["gpus"] is not None else "does not fit",
    "decode tok/s": round(r["decode_tokens_per_s"], 1),
    "prefill tok/s": round(r["prefill_tokens_per_s"]),
    "$ / M tokens": (None if r["cost_per_million_tokens_usd"] is None
                     else round(r["cost_per_million_tokens_usd"], 2)),
    "fine-tune peak": (fmt.gib(r["training_peak_bytes_per_gpu"])
                       if r.get("training_peak_bytes_per_gpu") is not None else "—"),
} for r in rows]
st.dataframe(table, hide_index=True)
st.caption("GiB = 2³⁰ bytes. " + md(result["method"]))

points = [{"x": fmt.to_gib(r["per_gpu_bytes"]), "y": r["decode_tokens_per_s"],
           "group": r["kind"], "name": html_text(r["name"]),
           "label": f"{html_text(r['name'])}: {fmt.gib(r['per_gpu_bytes'])} per GPU on "
                    f"{r['gpus'] or 'no'} GPU(s), {r['decode_tokens_per_s']:.1f} tok/s"}
          for r in rows]
st.plotly_chart(charts.scatter(
    points, x="x", y="y", color="group", hover="label",
    x_title="memory per GPU (GiB = 2³⁰ bytes)", y_title="decode tokens/s (whole replica)",
    title="Memory per GPU vs decode speed", label="name",
    vline=(f"1 × {report.gpu.name}", fmt.to_gib(report.gpu.memory_bytes))),
    config=widgets.PLOTLY_CONFIG)

with st.expander("Conventions and quality evidence of each row"):
    for r in rows:
        src = f" Source: {md(r['source'])}." if r["source"] else ""
        st.markdown(f"**{md(r['name'])}** — {md(r['conventions'])}. Quality: "
                    f"{md(r['quality_note'])}.{src}")

dl = st.columns(3)
for col, (label, f, mime) in zip(dl, (("CSV", "csv", "text/csv"),
                                      ("JSON", "json", "application/json"),
                                      ("Markdown", "md", "text/markdown"))):
    with col:
        st.download_button(f"Download {label}", render(result, f), file_name=f"whatif.{f}",
                           mime=mime, key=f"wi_dl_{f}")
