"""The frame around every page: the sidebar title and the error guard.

No stack trace ever reaches the screen: an unexpected exception is logged server-side (with
its traceback) and the page shows one line. Input errors are ``EstimatorError`` and are shown
as such, naming the field. Streamlit's own control flow (``st.stop``/``st.rerun``) derives from
``BaseException`` and passes through.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

import streamlit as st

import estimator
from estimator.errors import EstimatorError

from .state import LOG
from .text import md

T = TypeVar("T")


# Constant layout CSS (no user strings). The top padding clears the fixed top bar (3.75rem,
# navigation included): at 2.2rem the first error box was half hidden under it.
_CSS = """<style>
[data-testid="stMainBlockContainer"] {padding-top: 4.5rem; max-width: 1400px;}
[data-testid="stMetricValue"] {font-size: 1.9rem;}
</style>"""


def header() -> None:
    st.html(_CSS)
    with st.sidebar:
        st.markdown(f"### MoE cost estimator  \n:gray[v{estimator.__version__} · dense and "
                    "Mixture-of-Experts transformers]")


def guarded(fn: Callable[[], T]) -> T | None:
    try:
        return fn()
    except EstimatorError as e:
        st.error(md(str(e)), icon=":material/error:")
    except Exception:  # noqa: BLE001 - the guard: log the traceback, show one line
        LOG.exception("page failed")
        st.error("Something went wrong while rendering this page. The details were logged on "
                 "the server; the share link below the estimate reproduces it.",
                 icon=":material/error:")
    return None
