"""Validate: estimates against measurements (``estimator.validation``; the only torch page).

Shows the committed estimate-vs-measured table from ``docs/validation/`` and can run a quick CPU
check of a shrunken copy of the current model. torch is imported only when that button is
pressed, never by the rest of the app; runs are capped in size and serialised so a public server
cannot be exhausted.
"""

from __future__ import annotations

import importlib.util
import json
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import streamlit as st

from estimator.errors import EstimatorError
from estimator.validation import budget
from ui import charts, widgets
from ui.state import LOG, context

VALIDATION_DIR = Path(__file__).resolve().parents[2] / "docs" / "validation"
MAX_VALIDATE_PARAMS = 20_000_000  # the shrunken model: seconds on one CPU core, ~100 MB RAM
_LOCK = threading.Lock()  # one validation at a time per server process


def _as_rows(result: Any) -> list[dict[str, Any]]:
    """Rows from whatever the validation returns (list of dicts, objects with to_dict, or a
    dict with ``rows``)."""
    if hasattr(result, "to_dict"):
        result = result.to_dict()
    if isinstance(result, Mapping):
        result = result.get("rows", [result])
    out = []
    for r in result or []:
        if hasattr(r, "to_dict"):
            r = r.to_dict()
        if isinstance(r, Mapping):
            out.append(dict(r))
    return out


def _display(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the table: exact values with thousands separators, the error in percent."""
    out = []
    for r in rows:
        d = dict(r)
        for k in ("estimate", "estimated", "measured"):
            v = d.get(k)
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                d[k] = f"{v:,}" if isinstance(v, int) or float(v).is_integer() else f"{v:,.6g}"
        rel = r.get("rel_error")
        try:
            d["rel_error"] = f"{100 * float(rel):+.3f}%"
        except (TypeError, ValueError):
            pass
        if "passed" in d:
            d["passed"] = "✅" if str(d["passed"]).lower() in ("true", "1") else "❌"
        out.append(d)
    return out


def _parity_points(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    pts = []
    for r in rows:
        try:
            est = float(r.get("estimate", r.get("estimated")))
            meas = float(r.get("measured"))
        except (TypeError, ValueError):
            continue
        if est > 0 and meas > 0:
            pts.append({"estimated": est, "measured": meas,
                        "quantity": r.get("quantity") or r.get("metric") or "",
                        "label": " · ".join(str(r[k]) for k in ("model", "implementation",
                                                                "quantity", "metric")
                                            if r.get(k))})
    return pts


st.title("Validate", anchor=False)
st.markdown("Each estimate is checked against an independent measurement: parameters against "
            "PyTorch models built on the meta device, FLOPs against "
            "`torch.utils.flop_counter.FlopCounterMode`, memory against PyTorch's allocator "
            "and `MemTracker`, KV-cache bytes against real cache tensors.")

#: The committed result files, one tab each: (tab title, file, what it is).
COMMITTED = (("CPU", "cpu.md", "Shrunk presets on the CPU: parameters, FLOPs, KV cache and "
              "training memory against transformers, FlopCounterMode and MemTracker."),
             ("GPU memory", "cuda.md", "On an NVIDIA H200: weights, KV cache, prefill/decode "
              "and training-step peaks against the CUDA caching allocator."),
             ("GPU speed", "cuda-speed.md", "On an NVIDIA H200: prefill, decode and "
              "training-step times (CUDA events) against the roofline and its calibration."),
             ("Distributed (CPU)", "distributed-cpu.md", "Real torch.distributed ranks (gloo) "
              "running the reference MoE sharded as TP+SP, EP, PP, ZeRO-1/2 and FSDP2: each "
              "rank's parameters, gradients, optimizer states, peak, KV cache and collective "
              "bytes against the estimate for the same layout."))

st.subheader("Committed results", divider="gray")
present = [(t, VALIDATION_DIR / f, d) for t, f, d in COMMITTED if (VALIDATION_DIR / f).is_file()]
if not present:
    st.info("No committed validation table yet (docs/validation/). Run "
            "`python -m estimator validate` to produce one.", icon=":material/info:")
for tab, (title, f, what) in zip(st.tabs([t for t, _, _ in present]) if present else [],
                                  present):
    with tab:
        st.caption(f"{what} From `docs/validation/{f.name}`.")
        # our own committed Markdown (no user input): rendered as the table it is
        st.markdown(f.read_text(encoding="utf-8"))
        data = f.with_suffix(".json")
        if data.is_file() and title == "Distributed (CPU)":
            rows = json.loads(data.read_text(encoding="utf-8")).get("rows", [])
            pts = _parity_points([{**r, "model": r.get("layout"),
                                   "implementation": f"rank {r.get('rank')}"}
                                  for r in rows if r.get("estimate") is not None])
            if pts:
                st.plotly_chart(charts.parity(pts, title="Estimated vs measured, per rank"),
                                config=widgets.PLOTLY_CONFIG)
        if data.is_file() and title == "GPU memory":
            rows = json.loads(data.read_text(encoding="utf-8")).get("rows", [])
            pts = _parity_points([r for r in rows if r.get("bar_applies")])
            if pts:
                st.plotly_chart(charts.parity(pts, title="Estimated vs measured (GPU)"),
                                config=widgets.PLOTLY_CONFIG)

st.subheader("Check the current model", divider="gray")
ctx = context()
if ctx.model is None:
    st.info("Load a valid model in the sidebar first.", icon=":material/info:")
    st.stop()
have_torch = importlib.util.find_spec("torch") is not None
st.markdown(f"Builds a shrunken copy of **{widgets.md(ctx.model.display_name)}** (same family "
            f"and structure, at most {MAX_VALIDATE_PARAMS / 1e6:.0f}M parameters), runs it on "
            "the CPU and compares the measured numbers with the estimator's for that copy.")
if not have_torch:
    st.warning("torch is not installed on this server, so measurements cannot run here "
               "(the committed results above and every other page work without it). To "
               "enable them, install the CPU build of PyTorch (about 200 MB; the default "
               "Linux wheel from PyPI is the CUDA build, several GB) and restart the app: "
               "`pip install torch==2.13.0 --index-url https://download.pytorch.org/whl/cpu`",
               icon=":material/warning:")
    st.stop()

# What the run would build and what it would cost, estimated before anything is built
# (torch-free): above the budget, the check is not offered, and the page says why.
try:
    planned = budget.plan(ctx.model.spec, quick=True, max_params=MAX_VALIDATE_PARAMS)
except EstimatorError as e:
    st.info("This comparison is not available because "
            + widgets.md(getattr(e, "problem", str(e))),
            icon=":material/info:")
    st.stop()
st.caption(f"The run would build {planned['params']:,} parameters"
           f"{' (shrunk copy)' if planned['shrunk'] else ''}: about "
           f"{planned['bytes'] / 2**20:,.0f} MiB and {planned['seconds']:,.0f} s on one CPU core "
           f"(budget {budget.MEMORY_BUDGET_BYTES / 2**30:.0f} GiB, {budget.TIME_BUDGET_S:.0f} s).")

if st.button("Run a quick CPU validation", icon=":material/play_arrow:", key="val_run",
             type="primary"):
    if not _LOCK.acquire(blocking=False):
        st.warning("Another validation is running on this server; try again in a minute.")
        st.stop()
    try:
        with st.spinner("Building and measuring the shrunken model on the CPU…"):
            validation = importlib.import_module("estimator.validation")
            result = validation.validate_spec(ctx.model.spec, quick=True,
                                              max_params=MAX_VALIDATE_PARAMS)
        summary = result.get("summary") if isinstance(result, Mapping) else None
        st.session_state["val_result"] = (ctx.model.spec, _as_rows(result), summary,
                                          result.get("elapsed_s") if summary else None)
    except EstimatorError as e:  # the model the run derives, not the user's input
        st.info("This comparison is not available because "
                + widgets.md(getattr(e, "problem", str(e))), icon=":material/info:")
    except Exception:  # noqa: BLE001 - log the traceback server-side, show one line
        LOG.exception("validation failed")
        st.error("The validation run failed; the details were logged on the server.",
                 icon=":material/error:")
    finally:
        _LOCK.release()

res = st.session_state.get("val_result")
if res and res[0] == ctx.model.spec:
    _, rows, summary, elapsed = res
    if isinstance(summary, Mapping):
        ok = summary.get("failed") == 0
        (st.success if ok else st.warning)(
            f"{summary.get('passed')} of {summary.get('rows')} checks within their bar"
            + (f" ({elapsed} s)" if elapsed is not None else ""),
            icon=":material/check_circle:" if ok else ":material/warning:")
    st.dataframe(_display(rows), hide_index=True)
    pts = _parity_points(rows)
    if pts:
        st.plotly_chart(charts.parity(pts, title="This model (shrunken): estimated vs measured"),
                        config=widgets.PLOTLY_CONFIG)
    st.caption(f"{len(rows)} checks · exact units (parameters, bytes, FLOPs); rel_error = "
               "(estimate − measured) / measured.")
