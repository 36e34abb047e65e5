"""MoE cost estimator — Streamlit entry: page config, the shared sidebar, the page router.

Run: ``streamlit run app.py``. Every number on screen comes from ``estimator.estimate()`` (the
same report the CLI prints); ``ui/`` only lays it out. torch is imported only by the Validate
page.
"""

from __future__ import annotations

import time

import streamlit as st

from ui import frame, sidebar
from ui.state import CTX_KEY, Context, show_problems

# An emoji favicon is an inline data: URL; a ":material/...:" one is fetched from
# fonts.gstatic.com, an outbound request on every page load (issue 10: none at all).
st.set_page_config(page_title="MoE cost estimator", page_icon="🧮",
                   layout="wide", initial_sidebar_state="expanded")

PAGES = [
    st.Page("ui/pages/estimate.py", title="Estimate", icon=":material/calculate:", default=True),
    st.Page("ui/pages/compare.py", title="Compare", icon=":material/compare_arrows:"),
    st.Page("ui/pages/explore.py", title="Explore", icon=":material/grid_on:"),
    st.Page("ui/pages/reduce.py", title="Reduce cost", icon=":material/savings:"),
    st.Page("ui/pages/serving.py", title="Serving", icon=":material/speed:"),
    st.Page("ui/pages/validate.py", title="Validate", icon=":material/verified:"),
    st.Page("ui/pages/methods.py", title="Methods", icon=":material/menu_book:"),
]

_t0, _c0 = time.perf_counter(), time.thread_time()
page = st.navigation(PAGES, position="top")
frame.header()
ctx = frame.guarded(sidebar.render) or Context(errors=["The inputs could not be read."])
st.session_state[CTX_KEY] = ctx
show_problems(ctx)
frame.guarded(page.run)
# measured rerun time (script body): wall time, and the CPU time of the script's thread (what the
# speed tests read: on a shared machine the wall time adds the time other processes hold the core)
st.session_state["_run_ms"] = (time.perf_counter() - _t0) * 1e3
st.session_state["_run_cpu_ms"] = (time.thread_time() - _c0) * 1e3
